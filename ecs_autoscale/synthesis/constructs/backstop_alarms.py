"""The backstop alarms on the Auto Scaling group, and the alerts topic.

The fast paths are elsewhere: `submit` sizes the group as it queues (client/group_sizing.py) and the agent
on each instance scales in (agent/instance_agent.py). These alarms catch what those cannot see, with
numbers from `ScalingDesign`:

- scale-out: videos queued by any other client. uncovered = visible + delayed + in_flight -
  tasks_per_instance x FILL(GroupDesiredCapacity, REPEAT); 1 breaching datapoint out of 3, because
  metric math counts a late SQS datapoint as 0 and would otherwise read "covered" while videos wait
  (CloudWatch User Guide, metric math and alarms). Steps add instances, never more than the
  uncovered videos need; the policy's instance warm-up keeps repeats from adding twice. It reads 0
  while videos are not taken (below): what the stuck alarm stopped stays stopped.
- backstop idle: agents that cannot act (no credentials, a broken boot). Sets the group to 0 after
  a longer idle window than the agents use, counting only minutes in which the group is above 0: the
  alarm invokes its action every minute while in ALARM, so once at 0 it must turn OK and stop, or it
  would undo the next `submit`. A missing `visible` datapoint (an inactive queue) is never idle; the delayed
  and in-flight counts are reported only while such messages exist, so their absence reads 0.
- stuck videos: videos wait, nothing is in flight, instances are in service and not one video was
  received for StuckMinutes: the workers cannot take videos. Sets the group to 0.
- videos not taken: the oldest video has waited StuckMinutes (ApproximateAgeOfOldestMessage) and
  none is in flight or received: stuck, halted, stopped, or no instance can launch (quota,
  capacity). Notifies the alerts topic when it starts and when videos are taken again; stays in
  ALARM while it lasts (`status` shows it), and holds the backstop scale-out at 0 meanwhile.
"""

from __future__ import annotations

import json

from cdktf_cdktf_provider_aws.autoscaling_group import AutoscalingGroup
from cdktf_cdktf_provider_aws.autoscaling_policy import AutoscalingPolicy, AutoscalingPolicyStepAdjustment
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import (
    CloudwatchMetricAlarm,
    CloudwatchMetricAlarmMetricQuery,
    CloudwatchMetricAlarmMetricQueryMetric,
)
from cdktf_cdktf_provider_aws.sns_topic import SnsTopic

from ...model.naming import ALARM_PURPOSES
from ...model.scaling_design import ScalingDesign
from ..alarm_expressions import (
    IDLE_EXPRESSION,
    SQS_METRICS,
    STUCK_EXPRESSION,
    not_taken_expression,
    uncovered_expression,
)
from .account import AccountContext
from .component import Component, Scope


def alerts_topic_policy(account: AccountContext, topic_name: str, alarm_prefix: str) -> str:
    """CloudWatch may publish for this stack's alarms only; nothing over plain HTTP.

    The alarms' exact ARNs (naming.ALARM_PURPOSES), not `alarm:<prefix>-*`: that pattern would also admit
    the alarms of a stack named `<prefix>-x`."""
    topic = account.arn("sns", topic_name)
    alarms = [account.arn("cloudwatch", f"alarm:{alarm_prefix}-{purpose}") for purpose in ALARM_PURPOSES]
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "StackAlarmsPublish",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudwatch.amazonaws.com"},
                    "Action": "sns:Publish",
                    "Resource": topic,
                    "Condition": {
                        "ArnEquals": {"aws:SourceArn": alarms},
                        "StringEquals": {"aws:SourceAccount": account.account_id},
                    },
                },
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "sns:Publish",
                    "Resource": topic,
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
            ],
        },
        indent=2,
        sort_keys=True,
    )


class QueueBackstopScaling(Component):
    def __init__(
        self,
        scope: Scope,
        id: str,
        *,
        design: ScalingDesign,
        group: AutoscalingGroup,
        asg_name: str,
        video_queue_name: str,
        alarm_prefix: str,
        topic_name: str,
        account: AccountContext,
    ) -> None:
        super().__init__(scope, id)
        self.design = design
        self.asg_name = asg_name
        self.queue_name = video_queue_name
        self.group = group
        self.alarm_prefix = alarm_prefix
        # Not encrypted: CloudWatch cannot publish to a topic encrypted with the AWS-managed SNS key,
        # and the messages carry only the stack's name and state (security/checkov-exceptions.yaml).
        self.topic = SnsTopic(
            self.stack,
            self.child_id("alerts"),
            name=topic_name,
            policy=alerts_topic_policy(account, topic_name, alarm_prefix),
        )
        scale_out = self._policy(
            "scale_out",
            f"{alarm_prefix}-add-instances",
            "ChangeInCapacity",
            [(lower, upper, add) for lower, upper, add in design.step_adjustments],
            warmup=design.instance_warmup_seconds,
        )
        to_zero = self._policy("to_zero", f"{alarm_prefix}-to-zero", "ExactCapacity", [(0, None, 0)])
        self.scale_out_alarm = self._alarm(
            "queue-has-videos",
            "Backstop for videos queued by other clients: videos waiting, delayed or in "
            "progress exceed the tasks the group's instances give. Adds GPU instances.",
            periods=(design.scale_out_datapoints_to_alarm, design.scale_out_evaluation_periods),
            threshold=design.scale_out_threshold,
            queries=[
                *self._queue_metrics(),
                *self._taken_metrics(),
                self._group_metric("desired", "GroupDesiredCapacity"),
                self._expression(
                    "uncovered",
                    uncovered_expression(design.tasks_per_instance, design.not_taken_after_seconds),
                    "Videos without a task",
                ),
            ],
            actions=[scale_out.arn],
        )
        idle_periods = design.backstop_idle_periods
        self.idle_alarm = self._alarm(
            "queue-idle",
            f"Backstop for the instance agents: instances up and no video waiting, delayed "
            f"or in progress for {idle_periods} min. Sets the group to 0.",
            periods=(idle_periods, idle_periods),
            queries=[
                *self._queue_metrics(),
                self._group_metric("desired", "GroupDesiredCapacity"),
                self._expression("idle", IDLE_EXPRESSION, "Instances up, queue empty"),
            ],
            actions=[to_zero.arn],
        )
        stuck = design.stuck_periods
        self.stuck_alarm = self._alarm(
            "videos-stuck",
            f"Videos wait, instances are in service, and no worker took a video for {stuck} min: "
            "the workers cannot take videos (bad image, unreadable model, no route out). "
            "Sets the group to 0 (the videos-not-taken alarm notifies). Check `ecs-autoscale "
            "status` and the log group.",
            periods=(stuck, stuck),
            queries=[
                self._sqs_metric("visible", SQS_METRICS["visible"]),
                self._sqs_metric("in_flight", SQS_METRICS["in_flight"]),
                self._received_metric(),
                self._group_metric("in_service", "GroupInServiceInstances"),
                self._expression("stuck", STUCK_EXPRESSION, "Videos wait and none is taken"),
            ],
            actions=[to_zero.arn],
        )
        waited = design.not_taken_after_seconds // 60
        self.not_taken_alarm = self._alarm(
            "videos-not-taken",
            f"The oldest video has waited {waited} min and no worker is taking one: workers that "
            "cannot take videos (bad image, unreadable model, no route out), a halted or stopped "
            "stack, or no instance can launch (vCPU quota, capacity). The backstop adds no "
            "instances meanwhile; fix the cause, then `ecs-autoscale resume STACK_DIR`. Check "
            "`ecs-autoscale status` and the log group.",
            periods=(design.not_taken_datapoints_to_alarm, design.not_taken_evaluation_periods),
            queries=[
                *self._taken_metrics(),
                self._sqs_metric("in_flight", SQS_METRICS["in_flight"]),
                self._expression("not_taken", not_taken_expression(design.not_taken_after_seconds), "Videos not taken"),
            ],
            actions=[self.topic.arn],
            ok_actions=[self.topic.arn],
        )

    def _alarm(
        self,
        purpose: str,
        description: str,
        *,
        periods: tuple[int, int],
        queries: list[CloudwatchMetricAlarmMetricQuery],
        actions: list[str],
        ok_actions: list[str] | None = None,
        threshold: int = 1,
    ) -> CloudwatchMetricAlarm:
        """`<prefix>-<purpose>` (naming.ALARM_PURPOSES): ALARM when `periods` = (M, N) of the last N
        one-minute values of the returned expression are >= `threshold`; a missing value never breaches."""
        if purpose not in ALARM_PURPOSES:  # the alerts topic and the client policy name exactly these
            raise ValueError(f"alarm purpose {purpose!r} is not in naming.ALARM_PURPOSES")
        datapoints, evaluation = periods
        return CloudwatchMetricAlarm(
            self.stack,
            self.child_id(purpose),
            alarm_name=f"{self.alarm_prefix}-{purpose}",
            alarm_description=description,
            evaluation_periods=evaluation,
            datapoints_to_alarm=datapoints,
            threshold=threshold,
            comparison_operator="GreaterThanOrEqualToThreshold",
            treat_missing_data="notBreaching",
            metric_query=queries,
            alarm_actions=actions,
            ok_actions=ok_actions,
        )

    def _sqs_metric(self, id: str, name: str, stat: str = "Maximum") -> CloudwatchMetricAlarmMetricQuery:
        return CloudwatchMetricAlarmMetricQuery(
            id=id,
            metric=CloudwatchMetricAlarmMetricQueryMetric(
                namespace="AWS/SQS",
                metric_name=name,
                dimensions={"QueueName": self.queue_name},
                period=self.design.metric_period_seconds,
                stat=stat,
            ),
        )

    def _queue_metrics(self) -> list[CloudwatchMetricAlarmMetricQuery]:
        return [self._sqs_metric(id, name) for id, name in SQS_METRICS.items()]

    def _taken_metrics(self) -> list[CloudwatchMetricAlarmMetricQuery]:
        """What `not_taken_condition` reads besides in_flight: the oldest video's age, receives."""
        return [self._sqs_metric("age", "ApproximateAgeOfOldestMessage"), self._received_metric()]

    def _received_metric(self) -> CloudwatchMetricAlarmMetricQuery:
        """Videos received by workers during the minute."""
        return self._sqs_metric("received", "NumberOfMessagesReceived", stat="Sum")

    def _group_metric(self, id: str, name: str) -> CloudwatchMetricAlarmMetricQuery:
        # Referencing the group's name orders the alarm after the group (its metrics exist from then).
        return CloudwatchMetricAlarmMetricQuery(
            id=id,
            metric=CloudwatchMetricAlarmMetricQueryMetric(
                namespace="AWS/AutoScaling",
                metric_name=name,
                dimensions={"AutoScalingGroupName": self.group.name},
                period=self.design.metric_period_seconds,
                stat="Maximum",
            ),
        )

    @staticmethod
    def _expression(id: str, expression: str, label: str) -> CloudwatchMetricAlarmMetricQuery:
        return CloudwatchMetricAlarmMetricQuery(id=id, expression=expression, label=label, return_data=True)

    def _policy(
        self,
        id: str,
        name: str,
        adjustment_type: str,
        steps: list[tuple[int | None, int | None, int]],
        warmup: int | None = None,
    ) -> AutoscalingPolicy:
        """A step-scaling policy on the group; steps are (lower, upper, adjustment) relative to the threshold."""
        return AutoscalingPolicy(
            self.stack,
            self.child_id(id),
            name=name,
            autoscaling_group_name=self.group.name,
            policy_type="StepScaling",
            adjustment_type=adjustment_type,
            metric_aggregation_type="Maximum",
            estimated_instance_warmup=warmup,
            step_adjustment=[
                AutoscalingPolicyStepAdjustment(
                    metric_interval_lower_bound=None if lower is None else str(lower),
                    metric_interval_upper_bound=None if upper is None else str(upper),
                    scaling_adjustment=adjustment,
                )
                for lower, upper, adjustment in steps
            ],
        )
