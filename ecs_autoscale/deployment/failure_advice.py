"""What to do about a failed Terraform run, said in one place and appended to its one line
(`TerraformFailed.advice`): Terraform's own conditions (a stale saved plan, a held state lock, a provider
that could not be installed), then the causes `ecs-autoscale doctor` checks, matched on the provider's
error text (AWS error codes and the provider's own wording), one cause per doctor check; a failure
matching none is pointed to its messages and the logs.
"""

from __future__ import annotations

import re
from pathlib import Path

from .terraform import MIRROR_ENV

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


def advice(terraform_stderr: str, stack_dir: Path, config_path: Path | None = None) -> str:
    """The end of a failed run's line (its own messages were already shown above it): ": what to do", or
    " (see the messages above; ...)"; with `config_path`, a cause `doctor` checks suggests running it."""
    if "Saved plan is stale" in terraform_stderr:
        return ": the stack changed after the plan was saved; run `ecs-autoscale plan` again and review it"
    if "Error acquiring the state lock" in terraform_stderr:
        return (
            ": another Terraform run holds the state lock (details above); wait for it, or if it died, "
            f"run `terraform force-unlock LOCK_ID` in {stack_dir / 'terraform'}"
        )
    if (
        "Failed to query available provider packages" in terraform_stderr
        or "Failed to install provider" in terraform_stderr
    ):
        return f": hashicorp/aws could not be installed; offline, pass --provider-mirror DIR or set {MIRROR_ENV}"
    doctor = doctor_hint(terraform_stderr, config_path) if config_path is not None else None
    if doctor:
        return f" (see the messages above; {doctor}; logs in {stack_dir / 'logs'})"
    return f" (see the messages above; logs in {stack_dir / 'logs'})"
