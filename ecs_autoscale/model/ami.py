"""The ECS GPU-optimized AMI the fleet launches, named once as a public SSM parameter.

The fleet (synthesis/constructs/fleet.py) resolves the parameter at plan time; `doctor` checks it resolves in the
stack's region; `validate` refuses an architecture with no GPU AMI. No cdktf here: `doctor` and
`validate` import this module.

Parameter paths: ECS Developer Guide, "Retrieving Amazon ECS-optimized Linux AMI metadata"
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/retrieve-ecs-optimized_AMI.html):
Amazon Linux 2023 (GPU) is `/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/<version>`; the
other AL2023 variants are `amazon-linux-2023/` (x86_64), `amazon-linux-2023/arm64/` and
`amazon-linux-2023/neuron/`, none of which carries an NVIDIA driver.
"""

from __future__ import annotations

AL2023_GPU_AMI_PARAMETER = "/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id"
"""Amazon Linux 2023 ECS GPU AMI (x86_64; NVIDIA driver and container toolkit preinstalled)."""

GPU_AMI_PARAMETER = AL2023_GPU_AMI_PARAMETER
"""What the stack launches: the AL2 ECS GPU AMI reached end of life on June 30, 2026. AL2023's
package mirrors are HTTPS (no port-80 egress), its GPU AMI enables ECS GPU support itself, and the
root volume is still raised at plan time to whatever snapshot size the AMI has (synthesis/constructs/fleet.py)."""

GPU_AMI_PARAMETERS: dict[str, str] = {"x86_64": GPU_AMI_PARAMETER}
"""Per CPU architecture. No arm64 entry: AWS publishes no ECS GPU-optimized AMI for arm64
(github.com/aws/amazon-ecs-ami issues 220 and 241; every GPU AMI release is x86_64 only), so a
Graviton GPU type (g5g) would boot an AMI without an NVIDIA driver and never place a GPU task."""


def gpu_ami_parameter(arch: str) -> str | None:
    """The GPU AMI parameter for `arch` ("x86_64" or "arm64"), None when AWS publishes none."""
    return GPU_AMI_PARAMETERS.get(arch)
