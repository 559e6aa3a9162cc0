"""Queue-driven step scaling of the service's task count; instances follow through the capacity provider.

Out: an alarm on the first visible video message (1-minute period) adds tasks, more for a larger
backlog. In: a metric-math alarm on visible + in-flight messages sets the count to zero only after the
queue has been completely idle for ScaleInIdleMinutes, so a running video is never cut. Never CPU-based.
"""
from __future__ import annotations

from constructs import Construct
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


class QueueDrivenScaling(Construct):
    def __init__(self, scope: Construct, id: str, *, design: ScalingDesign, cluster_name: str,
                 service: EcsService, video_queue_name: str, alarm_prefix: str) -> None:
        super().__init__(scope, id)
        self.target = AppautoscalingTarget(
            self, "tasks", service_namespace="ecs", scalable_dimension="ecs:service:DesiredCount",
            resource_id=f"service/{cluster_name}/{service.name}", min_capacity=0, max_capacity=design.fleet_size,
        )
        scale_out = AppautoscalingPolicy(
            self, "scale_out", name=f"{alarm_prefix}-scale-out", policy_type="StepScaling",
            service_namespace="ecs", scalable_dimension="ecs:service:DesiredCount",
            resource_id=self.target.resource_id,
            step_scaling_policy_configuration=AppautoscalingPolicyStepScalingPolicyConfiguration(
                adjustment_type="ChangeInCapacity", metric_aggregation_type="Maximum",
                cooldown=design.scale_out_cooldown_seconds,
                step_adjustment=[AppautoscalingPolicyStepScalingPolicyConfigurationStepAdjustment(
                    metric_interval_lower_bound=str(lower),
                    metric_interval_upper_bound=None if upper is None else str(upper),
                    scaling_adjustment=add) for lower, upper, add in design.step_adjustments],
            ),
            depends_on=[self.target],
        )
        scale_in = AppautoscalingPolicy(
            self, "scale_in", name=f"{alarm_prefix}-scale-in-when-idle", policy_type="StepScaling",
            service_namespace="ecs", scalable_dimension="ecs:service:DesiredCount",
            resource_id=self.target.resource_id,
            step_scaling_policy_configuration=AppautoscalingPolicyStepScalingPolicyConfiguration(
                adjustment_type="ExactCapacity", metric_aggregation_type="Maximum", cooldown=60,
                step_adjustment=[AppautoscalingPolicyStepScalingPolicyConfigurationStepAdjustment(
                    metric_interval_upper_bound="0", scaling_adjustment=0)],
            ),
            depends_on=[self.target],
        )
        period = design.metric_period_seconds
        self.scale_out_alarm = CloudwatchMetricAlarm(
            self, "queue_has_videos", alarm_name=f"{alarm_prefix}-queue-has-videos",
            alarm_description="A video waits in the queue: add GPU tasks (instances follow).",
            namespace="AWS/SQS", metric_name="ApproximateNumberOfMessagesVisible",
            dimensions={"QueueName": video_queue_name}, statistic="Maximum", period=period,
            evaluation_periods=design.scale_out_evaluation_periods, threshold=1,
            comparison_operator="GreaterThanOrEqualToThreshold", treat_missing_data="notBreaching",
            alarm_actions=[scale_out.arn],
        )
        evaluations = design.scale_in_evaluation_periods

        def queue_metric(id: str, name: str) -> CloudwatchMetricAlarmMetricQuery:
            return CloudwatchMetricAlarmMetricQuery(id=id, metric=CloudwatchMetricAlarmMetricQueryMetric(
                namespace="AWS/SQS", metric_name=name, dimensions={"QueueName": video_queue_name},
                period=period, stat="Maximum"))

        self.scale_in_alarm = CloudwatchMetricAlarm(
            self, "queue_idle", alarm_name=f"{alarm_prefix}-queue-idle",
            alarm_description=(f"No video waiting or in progress for {design.scale_in_idle_minutes} min: "
                               "scale tasks to zero (instances follow)."),
            evaluation_periods=evaluations, datapoints_to_alarm=evaluations, threshold=0,
            comparison_operator="LessThanOrEqualToThreshold",
            # SQS stops publishing metrics for a long-idle queue: missing data means idle.
            treat_missing_data="breaching",
            metric_query=[
                queue_metric("visible", "ApproximateNumberOfMessagesVisible"),
                queue_metric("in_flight", "ApproximateNumberOfMessagesNotVisible"),
                CloudwatchMetricAlarmMetricQuery(id="pending", expression="visible + in_flight",
                                                 label="Videos waiting or in progress", return_data=True),
            ],
            alarm_actions=[scale_in.arn],
        )
