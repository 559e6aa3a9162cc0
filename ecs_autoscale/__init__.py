"""ecs-autoscale: one YAML per ML model -> an elastic GPU video-processing stack on AWS, as Terraform."""

__version__ = "0.1.0"
