"""The deepsea-ai lookup: a tiny CloudFormation stack named StackName, so an unmodified
`deepsea-ai ecsprocess --cluster StackName` finds this Terraform-built stack.

deepsea-ai (1.25) finds a stack by calling CloudFormation `ListStackResources(StackName=--cluster)`
and reading the environment of the first `AWS::ECS::TaskDefinition` listed: PROCESSOR, VIDEO_QUEUE,
TRACK_QUEUE, DEAD_QUEUE, VIDEO_BUCKET, TRACK_BUCKET. This stack holds exactly that and nothing else:
one task definition (own family `<StackName>-deepsea-ai-lookup`, so the worker's family and its
"latest revision" are untouched) whose single container carries the worker contract's environment.
It is never run (no service, no roles, no log configuration; a Docker label says so), and a task
definition costs nothing.

Least privilege: no standing role. The stack names no service role, so CloudFormation acts with the
credentials of whoever runs `deploy`/`destroy` (AWS CloudFormation User Guide, "CloudFormation service
role": without one, CloudFormation uses a temporary session made from the caller's credentials), who
already registers the worker's task definition. A service role could not be narrower than "any task
definition of the account": ecs:DescribeTaskDefinition and ecs:DeregisterTaskDefinition have no
resource type and no condition key (Service Authorization Reference, Amazon ECS; extract in
security/service-authorization.json), and such a role would stay in the account, usable by anyone
allowed to pass it. The template has no IAM resource (no capabilities needed) and passes no role to
ECS. Whoever deploys needs cloudformation:CreateStack/UpdateStack/DeleteStack/DescribeStacks/GetTemplate
on this one stack; deepsea-ai users need cloudformation:ListStackResources on it and
ecs:DescribeTaskDefinition.

Earlier versions made the stack with a service role (`<StackName>-cfn-lookup`). CloudFormation keeps
using a stack's role for every later operation when an update names none (UpdateStack/CreateChangeSet
RoleARN, CloudFormation API Reference), so removing the role from an existing stack would leave it
bound to a deleted role. `timeout_in_minutes` forces Terraform to replace such a stack instead: the
AWS provider marks it ForceNew, Terraform deletes the old stack (with its role, still there: the stack
is destroyed before the policy it depended on) and creates the new one with the deployer's credentials.
The timeout itself bounds a create of one task definition, which takes seconds.

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

from .component import Component, Scope

LOGICAL_ID = "WorkerContract"
# ECS needs a memory figure for an EC2 task definition; the record is never run, so any small one.
MEMORY_RESERVATION_MIB = 128
# CreateStack TimeoutInMinutes: the record takes seconds; see the module docstring for the replacement.
CREATE_TIMEOUT_MINUTES = 10
NEVER_RUN_LABEL = {"ecs-autoscale.purpose": "deepsea-ai lookup record of a Terraform-built stack; never run"}


@dataclass(frozen=True)
class LookupProps:
    stack_name: str
    """The CloudFormation stack name: StackName, what deepsea-ai users pass as --cluster."""
    family: str
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


class DeepseaAiLookup(Component):
    def __init__(self, scope: Scope, id: str, props: LookupProps) -> None:
        super().__init__(scope, id)
        self.cloudformation_stack = CloudformationStack(
            self.stack,
            self.child_id("stack"),
            name=props.stack_name,
            template_body=json.dumps(lookup_template(props), sort_keys=True),
            # A failed create leaves nothing behind (not a ROLLBACK_COMPLETE stack blocking the name).
            on_failure="DELETE",
            # ForceNew: replaces a stack an earlier version bound to its service role (module docstring).
            timeout_in_minutes=CREATE_TIMEOUT_MINUTES,
        )
