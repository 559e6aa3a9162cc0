"""Terraform failures whose cause `doctor` checks, so `deploy` and `plan` can point to it.

Matched on the provider's error text (AWS error codes and the provider's own wording), one cause per
doctor check; a failure matching none gets no suggestion.
"""

from __future__ import annotations

import re
from pathlib import Path

CAUSES = (
    (
        "the credentials",
        re.compile(
            r"InvalidClientTokenId|ExpiredToken|SignatureDoesNotMatch|no valid credential "
            r"sources|failed to refresh cached credentials|NoCredentialProviders"
        ),
    ),
    ("the permissions", re.compile(r"not authorized to perform|AccessDenied|UnauthorizedOperation")),
    (
        "the GPU vCPU quota",
        re.compile(r"VcpuLimitExceeded|MaxSpotInstanceCountExceeded|vCPU limit|InstanceLimitExceeded"),
    ),
    (
        "the instance types",
        re.compile(
            r"Unsupported(Operation)?\b.*instance type|InvalidInstanceType|"
            r"instance type .* is not supported",
            re.IGNORECASE,
        ),
    ),
    ("the AMI", re.compile(r"InvalidAMIID|ParameterNotFound|InvalidParameterValue.*(\bAMI\b|\bami-|image)")),
    (
        "the network",
        re.compile(
            r"no matching EC2 (VPC|Subnet) found|InvalidSubnet|InvalidVpcID|VPCIdNotSpecified|"
            r"No default VPC|no default VPC in|have no route out|give instances no public"
        ),
    ),
)


def doctor_hint(terraform_stderr: str, config_path: Path) -> str | None:
    """ "run `ecs-autoscale doctor CONFIG` to check ..." when the failure has a cause doctor checks."""
    causes = [what for what, pattern in CAUSES if pattern.search(terraform_stderr)]
    if not causes:
        return None
    listed = causes[0] if len(causes) == 1 else f"{', '.join(causes[:-1])} and {causes[-1]}"
    return f"run `ecs-autoscale doctor {config_path}` to check {listed}"
