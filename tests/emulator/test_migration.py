"""Coming from the original CDK stack: its CloudFormation stack has the very name the deepsea-ai lookup stack
needs (StackName). `plan` and `deploy` must refuse with one line before anything is written, not fail
half-way through an apply (cfn_guard.py). The guard on every answer, without AWS: tests/unit/test_cfn_guard.py."""

from __future__ import annotations

import json

import pytest
from helpers import seed_text, write_model

LEGACY = "LegacyCdkStack"
# What the original CDK stack looks like to CloudFormation: a stack named StackName, not tagged by us.
LEGACY_TEMPLATE = {
    "Resources": {"dsai": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": f"/ecs/{LEGACY}"}}}
}


@pytest.fixture(scope="module")
def legacy_stack(aws_client):
    cf = aws_client("cloudformation")
    cf.create_stack(StackName=LEGACY, TemplateBody=json.dumps(LEGACY_TEMPLATE))
    yield LEGACY
    cf.delete_stack(StackName=LEGACY)


@pytest.mark.parametrize("command", [["plan"], ["deploy", "--auto-approve"]])
def test_an_existing_cdk_stack_of_the_same_name_is_one_line_and_nothing_is_written(
    legacy_stack, ecs_cli, tmp_path, command
):
    model = write_model(tmp_path, seed_text(StackName=legacy_stack))
    stack_dir = tmp_path / "stack"
    proc = ecs_cli(command[0], model, stack_dir, *command[1:], check=False)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"CloudFormation stack '{legacy_stack}'" in lines[0] and "not made by ecs-autoscale" in lines[0]
    assert "Coming from the CDK stack" in lines[0]
    assert not stack_dir.exists()


def test_without_the_lookup_the_name_is_not_checked(legacy_stack, ecs_cli, tmp_path):
    model = write_model(tmp_path, seed_text(StackName=legacy_stack, CloudFormationLookup="false"))
    planned = ecs_cli("plan", model, tmp_path / "stack")
    assert "aws_cloudformation_stack" not in (tmp_path / "stack" / "plans" / "review.txt").read_text()
    assert "Review " in planned.stdout
