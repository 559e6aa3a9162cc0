"""Queue-driven step scaling of the service's task count; instances follow through the capacity provider.

Out: a metric-math alarm on the *uncovered backlog* adds tasks on the first 1-minute period with a
video no task has been asked for yet, more for a larger backlog:

    uncovered = visible + in_flight - desired

visible and in_flight are the video queue's ApproximateNumberOfMessages(Not)Visible: the videos
waiting or in progress, i.e. the tasks needed (one video per task). desired is the service's
DesiredTaskCount from Container Insights (enabled on the cluster): the tasks already asked for,
including those still waiting for an instance. A plain visible-message alarm re-fired after each
cooldown while its tasks were still waiting for instances and doubled the fleet; this one reaches
zero as soon as every video has a task, booted or not. Application Auto Scaling applies the step
bounds to the expression's value minus the threshold, like to a plain metric (the scale-in alarm
below is a metric-math alarm on a step policy too).

In: a metric-math alarm on visible + in-flight messages sets the count to zero only after the queue
has been completely idle for ScaleInIdleMinutes, so a running video is never cut. Never CPU-based.
"""
from __future__ import annotations

from cdktf_cdktf_provider_aws.appautoscaling_policy import (
    AppautoscalingPolicy, AppautoscalingPolicyStepScalingPolicyConfiguration,
    AppautoscalingPolicyStepScalingPolicyConfigurationStepAdjustment,
)
from cdktf_cdktf_provider_aws.appautoscaling_target import AppautoscalingTarget
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import (
    CloudwatchMetricAlarm, CloudwatchMetricAlarmMetricQuery, CloudwatchMetricAlarmMetricQueryMetric,
)
from cdktf_cdktf_provider_aws.ecs_service import EcsService

from ..scaling_design import ScalingDesign
from .component import Component, Scope

# Container Insights publishes the desired count once a minute, not at all for a long-idle service, and
# may land after the SQS datapoint of the same minute. REPEAT carries the last published value over a
# late minute (0 there would count every in-flight video as uncovered and double the fleet); the outer
# 0 covers a service with no datapoint in the alarm's window, which only happens at zero tasks.
UNCOVERED_BACKLOG = "visible + in_flight - FILL(FILL(desired, REPEAT), 0)"
PENDING_OR_RUNNING = "visible + in_flight"


class QueueDrivenScaling(Component):
    def __init__(self, scope: Scope, id: str, *, design: ScalingDesign, cluster_name: str,
                 service: EcsService, video_queue_name: str, alarm_prefix: str) -> None:
        super().__init__(scope, id)
        self.target = AppautoscalingTarget(
            self.stack, self.child_id("tasks"), service_namespace="ecs", scalable_dimension="ecs:service:DesiredCount",
            resource_id=f"service/{cluster_name}/{service.name}", min_capacity=0, max_capacity=design.fleet_size,
        )
        scale_out = self._step_policy(
            "scale_out", f"{alarm_prefix}-scale-out", "ChangeInCapacity", design.scale_out_cooldown_seconds,
            [(str(lower), None if upper is None else str(upper), add) for lower, upper, add in design.step_adjustments])
        scale_in = self._step_policy(
            "scale_in", f"{alarm_prefix}-scale-in-when-idle", "ExactCapacity", design.scale_in_cooldown_seconds,
            [(None, "0", 0)])
        period = design.metric_period_seconds

        def queue_metric(id: str, name: str) -> CloudwatchMetricAlarmMetricQuery:
            return CloudwatchMetricAlarmMetricQuery(id=id, metric=CloudwatchMetricAlarmMetricQueryMetric(
                namespace="AWS/SQS", metric_name=name, dimensions={"QueueName": video_queue_name},
                period=period, stat="Maximum"))

        # One datapoint a minute, so the statistic rarely matters; Maximum errs toward "already asked
        # for", never toward adding a task twice.
        desired_tasks = CloudwatchMetricAlarmMetricQuery(id="desired", metric=CloudwatchMetricAlarmMetricQueryMetric(
            namespace="ECS/ContainerInsights", metric_name="DesiredTaskCount",
            dimensions={"ClusterName": cluster_name, "ServiceName": service.name}, period=period, stat="Maximum"))
        self.scale_out_alarm = CloudwatchMetricAlarm(
            self.stack, self.child_id("queue_has_videos"), alarm_name=f"{alarm_prefix}-queue-has-videos",
            alarm_description=("Videos waiting or in progress exceed the tasks asked for: add GPU tasks "
                               "(instances follow)."),
            evaluation_periods=design.scale_out_evaluation_periods, threshold=design.scale_out_threshold,
            comparison_operator="GreaterThanOrEqualToThreshold",
            # No SQS datapoint (a queue waking up): nothing to scale on yet.
            treat_missing_data="notBreaching",
            metric_query=[
                queue_metric("visible", "ApproximateNumberOfMessagesVisible"),
                queue_metric("in_flight", "ApproximateNumberOfMessagesNotVisible"),
                desired_tasks,
                CloudwatchMetricAlarmMetricQuery(id="uncovered", expression=UNCOVERED_BACKLOG,
                                                 label="Videos without a task asked for", return_data=True),
            ],
            alarm_actions=[scale_out.arn],
        )
        evaluations = design.scale_in_evaluation_periods
        self.scale_in_alarm = CloudwatchMetricAlarm(
            self.stack, self.child_id("queue_idle"), alarm_name=f"{alarm_prefix}-queue-idle",
            alarm_description=(f"No video waiting or in progress for {design.scale_in_idle_minutes} min: "
                               "scale tasks to zero (instances follow)."),
            evaluation_periods=evaluations, datapoints_to_alarm=evaluations, threshold=0,
            comparison_operator="LessThanOrEqualToThreshold",
            # SQS stops publishing metrics for a long-idle queue: missing data means idle.
            treat_missing_data="breaching",
            metric_query=[
                queue_metric("visible", "ApproximateNumberOfMessagesVisible"),
                queue_metric("in_flight", "ApproximateNumberOfMessagesNotVisible"),
                CloudwatchMetricAlarmMetricQuery(id="pending", expression=PENDING_OR_RUNNING,
                                                 label="Videos waiting or in progress", return_data=True),
            ],
            alarm_actions=[scale_in.arn],
        )

    def _step_policy(self, id: str, name: str, adjustment_type: str, cooldown: int,
                     steps: list[tuple[str | None, str | None, int]]) -> AppautoscalingPolicy:
        """A step-scaling policy on the service's task count; steps are (lower, upper, adjustment)."""
        return AppautoscalingPolicy(
            self.stack, self.child_id(id), name=name, policy_type="StepScaling", service_namespace="ecs",
            scalable_dimension="ecs:service:DesiredCount", resource_id=self.target.resource_id,
            step_scaling_policy_configuration=AppautoscalingPolicyStepScalingPolicyConfiguration(
                adjustment_type=adjustment_type, metric_aggregation_type="Maximum", cooldown=cooldown,
                step_adjustment=[AppautoscalingPolicyStepScalingPolicyConfigurationStepAdjustment(
                    metric_interval_lower_bound=lower, metric_interval_upper_bound=upper,
                    scaling_adjustment=adjustment) for lower, upper, adjustment in steps],
            ),
            depends_on=[self.target],
        )
