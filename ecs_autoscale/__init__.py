"""ecs-autoscale: one YAML per ML model -> an elastic GPU video-processing stack on AWS, as Terraform."""

import os as _os

__version__ = "0.1.0"
# jsii prints an end-of-life banner for Node 20 on every run unless told not to; users must never see it.
_os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
