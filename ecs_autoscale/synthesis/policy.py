"""IAM policy documents as plain, deterministic JSON strings.

Statements are built from (actions, resources) pairs so tests can audit them; `"*"` as an action is
never produced, and `"*"` as a resource only for actions that AWS documents as taking no resource.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# Condition keys of autoscaling:UpdateAutoScalingGroup that name what a request changes besides the sizes
# (Service Authorization Reference, Amazon EC2 Auto Scaling; security/service-authorization.json): a
# `Null: true` on each refuses a request that sets subnets, a launch configuration or instance types. Neither
# the agent's halt nor the client's stop and resume sends them (MinSize, MaxSize, DesiredCapacity only).
UNCHANGED_GROUP_SETTINGS = (
    "autoscaling:VPCZoneIdentifiers",
    "autoscaling:LaunchConfigurationName",
    "autoscaling:InstanceTypes",
)

ASSUME_ROLE_SERVICES = {
    "ecs-tasks": "ecs-tasks.amazonaws.com",
    "ec2": "ec2.amazonaws.com",
    "scheduler": "scheduler.amazonaws.com",
}


@dataclass(frozen=True)
class Statement:
    sid: str
    actions: Sequence[str]
    resources: Sequence[str]
    effect: str = "Allow"
    condition: dict[str, Any] = field(default_factory=dict)

    def render(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "Sid": self.sid,
            "Effect": self.effect,
            "Action": sorted(self.actions),
            "Resource": list(self.resources),
        }
        if self.condition:
            doc["Condition"] = self.condition
        return doc


def policy_document(statements: Sequence[Statement]) -> str:
    return json.dumps(
        {"Version": "2012-10-17", "Statement": [s.render() for s in statements]}, indent=2, sort_keys=True
    )


def assume_role_policy(service: str, condition: dict[str, Any] | None = None) -> str:
    statement = {"Effect": "Allow", "Principal": {"Service": ASSUME_ROLE_SERVICES[service]}, "Action": "sts:AssumeRole"}
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]}, indent=2, sort_keys=True)


def deny_insecure_transport(service: str, resources: Sequence[str]) -> str:
    """Resource policy of a bucket or queue that denies every request not made over TLS.

    A Deny of `<service>:*` is the AWS-documented TLS-only pattern; it grants nothing.
    """
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": f"{service}:*",
                    "Resource": list(resources),
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        },
        indent=2,
        sort_keys=True,
    )
