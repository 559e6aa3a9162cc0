"""Coming from the original CDK stack: its CloudFormation stack has the very name the deepsea-ai lookup stack
needs (StackName). `plan` and `deploy` must refuse with one line before anything is written, not fail
half-way through an apply (cfn_guard.py)."""

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


@pytest.mark.emulator
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


@pytest.mark.emulator
def test_without_the_lookup_the_name_is_not_checked(legacy_stack, ecs_cli, tmp_path):
    model = write_model(tmp_path, seed_text(StackName=legacy_stack, CloudFormationLookup="false"))
    planned = ecs_cli("plan", model, tmp_path / "stack")
    assert "aws_cloudformation_stack" not in (tmp_path / "stack" / "plans" / "review.txt").read_text()
    assert "Review " in planned.stdout


class FakeTarget:
    def __init__(self, answer) -> None:
        self.answer = answer

    def client(self, service, region):
        answer = self.answer

        class CloudFormation:
            def describe_stacks(self, StackName):
                if isinstance(answer, Exception):
                    raise answer
                return answer

        return CloudFormation()


def client_error(code: str, message: str):
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": message}}, "DescribeStacks")


def test_guard_outcomes(tmp_path):
    from helpers import load_text

    from ecs_autoscale.deployment.cfn_guard import StackNameTaken, check_lookup_name_free

    config = load_text(tmp_path, seed_text())
    absent = client_error("ValidationError", "Stack with id Megadetector does not exist")
    assert check_lookup_name_free(FakeTarget(absent), config) is None
    ours = {
        "Stacks": [
            {"StackStatus": "UPDATE_COMPLETE", "Tags": [{"Key": "ecs-autoscale:stack", "Value": "Megadetector"}]}
        ]
    }
    assert check_lookup_name_free(FakeTarget(ours), config) is None
    with pytest.raises(StackNameTaken, match="CREATE_COMPLETE"):
        check_lookup_name_free(FakeTarget({"Stacks": [{"StackStatus": "CREATE_COMPLETE"}]}), config)
    note = check_lookup_name_free(FakeTarget(client_error("AccessDenied", "no")), config)
    assert "cloudformation:DescribeStacks" in note and "CloudFormationLookup: false" in note
    with pytest.raises(Exception, match="Throttling"):
        check_lookup_name_free(FakeTarget(client_error("Throttling", "slow down")), config)
    off = load_text(tmp_path, seed_text(CloudFormationLookup="false"))
    assert check_lookup_name_free(FakeTarget(RuntimeError("never asked")), off) is None
