"""CDKTF constructs, one module per concern, composed by `ecs_autoscale.stack.VideoProcessingStack`.

Importing this package loads the provider bindings lazily (see `ecs_autoscale.aws_bindings`).
"""

from .. import aws_bindings  # noqa: F401  (must precede every cdktf_cdktf_provider_aws import)
