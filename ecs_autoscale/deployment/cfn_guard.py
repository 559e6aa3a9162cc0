"""Before planning: is the CloudFormation stack name StackName free for the deepsea-ai lookup stack?

The lookup stack (synthesis/constructs/lookup.py) is named StackName so that `deepsea-ai ecsprocess --cluster
StackName` keeps working. The original CDK stack of the same model has that very name (and its log
group /ecs/StackName is ours too): the migration case. Terraform would only find out half-way through
an apply (AlreadyExistsException after other resources were created), so `plan` and `deploy` ask
CloudFormation first and stop with one line naming the fix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import EcsAutoscaleError
from ..model.config import ModelConfig
from ..model.naming import STACK_TAG

if TYPE_CHECKING:
    from ecs_autoscale.aws_target import AwsTarget


class StackNameTaken(EcsAutoscaleError):
    """A CloudFormation stack named StackName exists that ecs-autoscale did not make."""


def check_lookup_name_free(target: AwsTarget, config: ModelConfig) -> str | None:
    """Raise StackNameTaken when a foreign CloudFormation stack holds the name; returns a note (or None)
    when the check could not be made and the apply will tell."""
    from botocore.exceptions import ClientError

    if not config.cloudformation_lookup:
        return None  # no CloudFormation stack to create (README: the log group is then Terraform's to report)
    name = config.names.lookup_stack
    try:
        stacks = target.client("cloudformation", config.region).describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        message = exc.response.get("Error", {}).get("Message", "")
        if code == "ValidationError" and "does not exist" in message:
            return None
        if code in ("AccessDenied", "AccessDeniedException"):
            return (
                f"note: cannot read CloudFormation stack {name!r} ({code}); deploying the deepsea-ai lookup "
                "stack needs cloudformation:DescribeStacks/CreateStack on it (or set CloudFormationLookup: false)"
            )
        raise
    live = [s for s in stacks if s.get("StackStatus") != "DELETE_COMPLETE"]
    if not live:
        return None
    stack = live[0]
    tags = {t.get("Key"): t.get("Value") for t in stack.get("Tags") or []}
    if tags.get(STACK_TAG) == config.stack_name:
        return None
    raise StackNameTaken(
        f"{config.region}: CloudFormation stack {name!r} ({stack.get('StackStatus')}) was not made by ecs-autoscale "
        f"- the original CDK stack of {name}? Drain and delete it first, keeping its buckets "
        "(docs/migrating.md: Coming from the CDK stack / deepsea-ai), or deploy under another StackName"
    )
