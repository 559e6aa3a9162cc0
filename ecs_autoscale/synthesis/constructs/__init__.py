"""The CDKTF boundary: constructs, one module per concern, composed by `stack.VideoProcessingStack`.

Importing this package loads the provider bindings lazily and so starts jsii's Node kernel (see
`ecs_autoscale.synthesis.aws_bindings`): every module here defines cdktf constructs.
"""

from .. import aws_bindings

aws_bindings.install_lazy_package()  # before every cdktf / cdktf_cdktf_provider_aws import
