"""The deepsea-ai lookup: a tiny CloudFormation stack named StackName, so an unmodified
`deepsea-ai ecsprocess --cluster StackName` finds this Terraform-built stack.

deepsea-ai (1.25) finds a stack by calling CloudFormation `ListStackResources(StackName=--cluster)`
and reading the environment of the first `AWS::ECS::TaskDefinition` listed: PROCESSOR, VIDEO_QUEUE,
TRACK_QUEUE, DEAD_QUEUE, VIDEO_BUCKET, TRACK_BUCKET. This stack holds exactly that and nothing else:
one task definition (own family `<StackName>-deepsea-ai-lookup`, so the worker's family and its
"latest revision" are untouched) whose single container carries the worker contract's environment.
It is never run (no service, no roles, no log configuration; a Docker label says so), and a task
definition costs nothing.

Least privilege: CloudFormation acts through its own service role, which may only register and tag
task definitions of the lookup family. DescribeTaskDefinition and DeregisterTaskDefinition have no
resource type and no condition key (Service Authorization Reference, Amazon ECS; extract in
security/service-authorization.json), so they are granted on "*": the role CAN read and deregister any
task definition of the account and region. What limits it is who can make CloudFormation use it: only
CloudFormation may assume it (trust policy), only for this account and this stack where CloudFormation
says which (aws:SourceAccount, aws:SourceArn: see `lookup_trust`), and only a principal allowed
iam:PassRole on this role can name it for a stack. The template has no IAM resource (no capabilities
needed) and passes no role to ECS (no iam:PassRole). Whoever deploys needs
cloudformation:CreateStack/UpdateStack/DeleteStack/DescribeStacks/GetTemplate on this one stack and
iam:PassRole on this one role; deepsea-ai users need cloudformation:ListStackResources on it and
ecs:DescribeTaskDefinition.

The stack name is the original CDK stack's name, on purpose: deepsea-ai users keep `--cluster
StackName`. `ecs-autoscale plan`/`deploy` refuse, with one line, while a CloudFormation stack of that
name exists that ecs-autoscale did not make (`ecs_autoscale/deployment/cfn_guard.py`; docs/migrating.md: Coming
from the CDK stack). `CloudFormationLookup: false` in the model file leaves this construct out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cdktf_cdktf_provider_aws.cloudformation_stack import CloudformationStack

from ..policy import Statement, assume_role_policy
from .account import AccountContext
from .component import Component, Scope

LOGICAL_ID = "WorkerContract"
# ECS needs a memory figure for an EC2 task definition; the record is never run, so any small one.
MEMORY_RESERVATION_MIB = 128
NEVER_RUN_LABEL = {"ecs-autoscale.purpose": "deepsea-ai lookup record of a Terraform-built stack; never run"}


@dataclass(frozen=True)
class LookupProps:
    stack_name: str
    """The CloudFormation stack name: StackName, what deepsea-ai users pass as --cluster."""
    family: str
    role_name: str
    container_image: str
    environment: dict[str, Any]
    """The worker contract's variables (service.py's contract_environment)."""


def lookup_template(props: LookupProps) -> dict[str, Any]:
    """The CloudFormation template: one AWS::ECS::TaskDefinition with the contract environment."""
    container = {
        "Name": props.stack_name,
        "Image": props.container_image,
        "Essential": True,
        "MemoryReservation": MEMORY_RESERVATION_MIB,
        "Environment": [{"Name": k, "Value": props.environment[k]} for k in sorted(props.environment)],
        "DockerLabels": NEVER_RUN_LABEL,
    }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": (
            f"ecs-autoscale: lets `deepsea-ai ecsprocess --cluster {props.stack_name}` find the "
            "queues and buckets of this Terraform-built stack. Holds one task definition that is "
            "never run. Managed by Terraform: do not edit or delete by hand."
        ),
        "Resources": {
            LOGICAL_ID: {
                "Type": "AWS::ECS::TaskDefinition",
                "Properties": {
                    "Family": props.family,
                    "RequiresCompatibilities": ["EC2"],
                    "NetworkMode": "bridge",
                    "ContainerDefinitions": [container],
                },
            }
        },
    }


def lookup_trust(account: AccountContext, stack_name: str) -> str:
    """CloudFormation only, for this account's stack `stack_name` only.

    AWS CloudFormation User Guide, "Cross-service confused deputy prevention"
    (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cross-service-confused-deputy-prevention.html):
    aws:SourceArn / aws:SourceAccount in the trust policy of a role CloudFormation assumes. The page's
    example is an extension's role; for a stack's service role AWS documents neither key as always
    present, so the conditions are `...IfExists`: they refuse another stack or account whenever
    CloudFormation names one, and cannot break the deploy if it names none (iam:PassRole then remains
    the guard). `stack/<StackName>/*`: the stack id follows the name and a `/`, so a stack named
    `<StackName>-x` does not match."""
    return assume_role_policy(
        "cloudformation",
        {
            "StringEqualsIfExists": {"aws:SourceAccount": account.account_id},
            "ArnLikeIfExists": {"aws:SourceArn": account.arn("cloudformation", f"stack/{stack_name}/*")},
        },
    )


def lookup_statements(account: AccountContext, family: str) -> list[Statement]:
    return [
        Statement(
            "RegisterLookupRecord",
            ["ecs:RegisterTaskDefinition", "ecs:TagResource", "ecs:UntagResource", "ecs:ListTagsForResource"],
            [account.arn("ecs", f"task-definition/{family}:*")],
        ),
        # No resource type and no condition key for these two (Service Authorization Reference, Amazon ECS):
        # CloudFormation reads the record and deregisters it on update and delete.
        Statement("ReadAndRetireRecord", ["ecs:DescribeTaskDefinition", "ecs:DeregisterTaskDefinition"], ["*"]),
    ]


class DeepseaAiLookup(Component):
    def __init__(self, scope: Scope, id: str, props: LookupProps, account: AccountContext) -> None:
        super().__init__(scope, id)
        self.role, policy = self.role_with_policy(
            "role",
            name=props.role_name,
            trust=lookup_trust(account, props.stack_name),
            policy_name="lookup-record",
            statements=lookup_statements(account, props.family),
        )
        self.cloudformation_stack = CloudformationStack(
            self.stack,
            self.child_id("stack"),
            name=props.stack_name,
            template_body=json.dumps(lookup_template(props), sort_keys=True),
            iam_role_arn=self.role.arn,
            # A failed create leaves nothing behind (not a ROLLBACK_COMPLETE stack blocking the name).
            on_failure="DELETE",
            # CloudFormation needs the role's permissions while it creates AND deletes the record:
            # destroy removes the stack before the policy.
            depends_on=[policy],
        )
