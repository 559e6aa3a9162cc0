"""The queue keep-alive: an EventBridge Scheduler schedule that reads the video queue's attributes.

CloudWatch considers an SQS queue active for up to six hours after it held a message or any action
accessed it; once inactive, its metrics resume up to 15 minutes late when a message arrives (SQS
Developer Guide, "Available CloudWatch metrics for Amazon SQS"). A lab submits every few days, so the
backstop alarm (infra/scaling.py), the only path for videos queued by another client such as
`deepsea-ai ecsprocess`, would start the first instance ~15 minutes late. The schedule calls
GetQueueAttributes every `ScalingDesign.queue_keepalive_minutes` through Scheduler's universal target
(EventBridge Scheduler User Guide, "Using universal targets"): nothing is received, so no video's
receive count moves; ~730 calls a month cost nothing within Scheduler's and SQS's free tiers.

Least privilege: the role Scheduler assumes (only for this account: aws:SourceAccount, as the
Scheduler User Guide's execution-role page recommends) may call sqs:GetQueueAttributes on this queue.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from cdktf_cdktf_provider_aws.scheduler_schedule import (
    SchedulerSchedule,
    SchedulerScheduleFlexibleTimeWindow,
    SchedulerScheduleTarget,
    SchedulerScheduleTargetRetryPolicy,
)

from ..policy import Statement, assume_role_policy
from .account import AccountContext
from .component import Component, Scope

# Scheduler's universal target for SQS GetQueueAttributes: arn:aws:scheduler:::aws-sdk:<service>:<apiAction>.
GET_QUEUE_ATTRIBUTES_TARGET = "arn:aws:scheduler:::aws-sdk:sqs:getQueueAttributes"


@dataclass(frozen=True)
class QueueKeepAliveProps:
    name: str
    """The schedule's name and its role's (naming.StackNames.queue_keepalive)."""
    queue_name: str
    queue_url: str
    every_minutes: int
    """ScalingDesign.queue_keepalive_minutes: well under the six hours after which a queue is inactive."""


def keepalive_statements(account: AccountContext, queue_name: str) -> list[Statement]:
    return [Statement("ReadVideoQueueAttributes", ["sqs:GetQueueAttributes"], [account.arn("sqs", queue_name)])]


class QueueKeepAlive(Component):
    def __init__(self, scope: Scope, id: str, props: QueueKeepAliveProps, account: AccountContext) -> None:
        super().__init__(scope, id)
        self.role, policy = self.role_with_policy(
            "role",
            name=props.name,
            trust=assume_role_policy(
                "scheduler", condition={"StringEquals": {"aws:SourceAccount": account.account_id}}
            ),
            policy_name="read-video-queue",
            statements=keepalive_statements(account, props.queue_name),
        )
        self.schedule = SchedulerSchedule(
            self.stack,
            self.child_id("schedule"),
            name=props.name,
            description=f"Keeps {props.queue_name} active so its CloudWatch metrics never resume 15 minutes late",
            schedule_expression=f"rate({props.every_minutes} minutes)",
            flexible_time_window=SchedulerScheduleFlexibleTimeWindow(mode="OFF"),
            target=SchedulerScheduleTarget(
                arn=GET_QUEUE_ATTRIBUTES_TARGET,
                role_arn=self.role.arn,
                input=json.dumps({"QueueUrl": props.queue_url, "AttributeNames": ["ApproximateNumberOfMessages"]}),
                # A missed call is harmless: the next one comes within the hour, hours before inactivity.
                retry_policy=SchedulerScheduleTargetRetryPolicy(maximum_retry_attempts=0),
            ),
            # The role must hold its permission before the first invocation.
            depends_on=[policy],
        )
