"""What a failed Terraform run's line says to do (deployment/failure_advice.py): Terraform's own conditions,
the causes `ecs-autoscale doctor` checks, and otherwise the messages above and the logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecs_autoscale.deployment.failure_advice import advice, doctor_hint

STACK_DIR = Path("stacks/m")


@pytest.mark.parametrize(
    ("stderr", "hint"),
    [
        (
            "Error: creating IAM Role (x): operation error IAM: CreateRole, https response error StatusCode: 403, "
            "api error AccessDenied: User: arn:aws:iam::1:user/u is not authorized to perform: iam:CreateRole",
            "run `ecs-autoscale doctor m.yaml` to check the permissions",
        ),
        (
            "Error: reading SSM Parameter (/aws/service/ecs/x): ParameterNotFound:",
            "run `ecs-autoscale doctor m.yaml` to check the AMI",
        ),
        (
            "api error VcpuLimitExceeded: You have requested more vCPU capacity than your current vCPU limit",
            "run `ecs-autoscale doctor m.yaml` to check the GPU vCPU quota",
        ),
        (
            "Error: no valid credential sources for Terraform AWS Provider found.",
            "run `ecs-autoscale doctor m.yaml` to check the credentials",
        ),
        (
            "Error: InvalidParameterValue: The image id '[ami-1]' does not exist; Error: no matching EC2 Subnet found",
            "run `ecs-autoscale doctor m.yaml` to check the AMI and the network",
        ),
        ("Error: creating SQS Queue (q): QueueAlreadyExists", None),
    ],
)
def test_deploy_failures_with_a_doctor_cause_suggest_it(stderr, hint):
    assert doctor_hint(stderr, Path("m.yaml")) == hint


@pytest.mark.parametrize(
    ("stderr", "said"),
    [
        (
            "Error: Saved plan is stale",
            ": the stack changed after the plan was saved; run `ecs-autoscale plan` again and review it",
        ),
        (
            "Error: Error acquiring the state lock",
            ": another Terraform run holds the state lock (details above); wait for it, or if it died, run "
            "`terraform force-unlock LOCK_ID` in stacks/m/terraform",
        ),
        (
            "Error: Failed to install provider",
            ": hashicorp/aws could not be installed; offline, pass --provider-mirror DIR or set "
            "ECS_AUTOSCALE_PROVIDER_MIRROR",
        ),
        (
            "api error VcpuLimitExceeded: You have requested more vCPU capacity than your current vCPU limit",
            " (see the messages above; run `ecs-autoscale doctor m.yaml` to check the GPU vCPU quota; "
            "logs in stacks/m/logs)",
        ),
        ("Error: creating SQS Queue (q): QueueAlreadyExists", " (see the messages above; logs in stacks/m/logs)"),
    ],
)
def test_a_failed_run_says_what_to_do(stderr, said):
    assert advice(stderr, STACK_DIR, Path("m.yaml")) == said


def test_without_the_model_file_doctor_is_not_suggested():
    stderr = "api error VcpuLimitExceeded: You have requested more vCPU capacity than your current vCPU limit"
    assert advice(stderr, STACK_DIR) == " (see the messages above; logs in stacks/m/logs)"
