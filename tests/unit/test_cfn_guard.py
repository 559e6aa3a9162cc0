"""The lookup-name guard (deployment/cfn_guard.py) on each answer CloudFormation can give, without AWS: a
stack of the name that ecs-autoscale did not make (the original CDK stack) refuses the deploy; ours, none,
a denied read and CloudFormationLookup: false let it go on. Against the emulator: tests/emulator/test_migration.py."""

from __future__ import annotations

import pytest
from helpers import seed_text


class FakeTarget:
    """An AwsTarget whose CloudFormation answers DescribeStacks with `answer` (raised when an exception)."""

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
