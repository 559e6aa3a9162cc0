"""The queue keep-alive: an EventBridge Scheduler schedule that tags the video queue every hour.

CloudWatch considers an SQS queue active for up to six hours if it contains any messages or if any
action accesses it; once inactive, its metrics arrive up to 15 minutes late when it wakes (SQS Developer
Guide, "Monitoring Amazon SQS queues using CloudWatch"). A lab submits every few days, so the backstop
alarm (backstop_alarms.py), the only path for videos queued by another client such as `deepsea-ai
ecsprocess`, would start the first instance ~15 minutes late. The schedule calls TagQueue every
`ScalingDesign.queue_keepalive_minutes` through Scheduler's universal target with the tag the queue already
carries (queues.py declares it): an action on the queue, no message received or sent, no attribute or tag
changed (no drift in `terraform plan`). ~730 calls a month, inside Scheduler's and SQS's free tiers.

Not GetQueueAttributes, the obvious read: EventBridge Scheduler refuses read-only API actions as universal
targets, every action whose name begins with get, describe, list, receive, ... (EventBridge Scheduler User
Guide, "Using universal targets", Unsupported actions): CreateSchedule fails and so would the deploy. The
emulator enforces that rule (emulator/rules.py).

Least privilege: the role Scheduler assumes (only for this account: aws:SourceAccount, as the Scheduler User
Guide's execution-role page recommends) may tag this queue with this one tag key, nothing else.
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

# Scheduler's universal target for SQS TagQueue: arn:aws:scheduler:::aws-sdk:<service>:<apiAction>.
TAG_QUEUE_TARGET = "arn:aws:scheduler:::aws-sdk:sqs:tagQueue"


@dataclass(frozen=True)
class QueueKeepAliveProps:
    name: str
    """The schedule's name and its role's (naming.StackNames.queue_keepalive)."""
    queue_name: str
    queue_url: str
    every_minutes: int
    """ScalingDesign.queue_keepalive_minutes: well under the six hours after which a queue is inactive."""
    tag: tuple[str, str]
    """(key, value) the queue already carries (VideoQueuesProps.video_queue_tags) and the schedule sets again."""


def keepalive_statements(account: AccountContext, queue_name: str, tag_key: str) -> list[Statement]:
    return [
        Statement(
            "TagVideoQueue",
            ["sqs:TagQueue"],
            [account.arn("sqs", queue_name)],
            condition={"ForAllValues:StringEquals": {"aws:TagKeys": [tag_key]}},
        )
    ]


class QueueKeepAlive(Component):
    def __init__(self, scope: Scope, id: str, props: QueueKeepAliveProps, account: AccountContext) -> None:
        super().__init__(scope, id)
        self.role, policy = self.role_with_policy(
            "role",
            name=props.name,
            trust=assume_role_policy(
                "scheduler", condition={"StringEquals": {"aws:SourceAccount": account.account_id}}
            ),
            policy_name="tag-video-queue",
            statements=keepalive_statements(account, props.queue_name, props.tag[0]),
        )
        self.schedule = SchedulerSchedule(
            self.stack,
            self.child_id("schedule"),
            name=props.name,
            description=f"Keeps {props.queue_name} active so its CloudWatch metrics never resume 15 minutes late",
            schedule_expression=f"rate({props.every_minutes} minutes)",
            flexible_time_window=SchedulerScheduleFlexibleTimeWindow(mode="OFF"),
            target=SchedulerScheduleTarget(
                arn=TAG_QUEUE_TARGET,
                role_arn=self.role.arn,
                input=json.dumps({"QueueUrl": props.queue_url, "Tags": dict([props.tag])}),
                # A missed call is harmless: the next one comes within the hour, hours before inactivity.
                retry_policy=SchedulerScheduleTargetRetryPolicy(maximum_retry_attempts=0),
            ),
            # The role must hold its permission before the first invocation.
            depends_on=[policy],
        )
