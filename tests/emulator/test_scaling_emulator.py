"""The scaling design as deployed: what the emulator holds after a real `ecs-autoscale deploy`.

moto runs no alarms and no tasks, so this checks the resources the design depends on, as AWS's APIs
report them after Terraform created them: the group's warm pool and its preparation hook, the group
metrics the alarms read, the alarms and their actions (the stuck alarm stops the group, the
not-taken alarm notifies the alerts topic), the queue's delay, the daemon services, and no capacity
provider. How they behave over time is `estimate`'s job (test_estimate.py).
"""

from __future__ import annotations

import json

import pytest
from helpers import seed_text, write_model

from ecs_autoscale.model.config import load_config
from ecs_autoscale.model.scaling_design import design_for

STACK = "WarmFleet"


@pytest.fixture(scope="module")
def warm_stack(ecs_cli, tmp_path_factory):
    folder = tmp_path_factory.mktemp("warm")
    model = write_model(
        folder,
        seed_text(StackName=STACK, TaskDefinition="warm-fleet", FleetSize="4", WarmPool="2", ScaleInIdleMinutes="6"),
    )
    stack_dir = folder / "stack"
    ecs_cli("deploy", model, stack_dir, "--auto-approve")
    return load_config(model), json.loads((stack_dir / "outputs.json").read_text())


def test_warm_pool_and_lifecycle_hooks_are_the_groups_own_from_its_creation(warm_stack, aws_client):
    config, outputs = warm_stack
    design = design_for(config)
    asg = aws_client("autoscaling")
    group_name = outputs["autoscaling_group_name"]
    pool = asg.describe_warm_pool(AutoScalingGroupName=group_name)["WarmPoolConfiguration"]
    # Refilled only below WarmPool: group and pool never run more than FleetSize (+1 being prepared).
    assert (pool["MinSize"], pool["MaxGroupPreparedCapacity"], pool["PoolState"]) == (0, 2, "Stopped")
    hooks = {
        h["LifecycleHookName"]: (h["LifecycleTransition"], h["DefaultResult"], h["HeartbeatTimeout"])
        for h in asg.describe_lifecycle_hooks(AutoScalingGroupName=group_name)["LifecycleHooks"]
    }
    assert hooks == {
        config.names.warm_pool_hook: (
            "autoscaling:EC2_INSTANCE_LAUNCHING",
            "CONTINUE",
            design.launch_heartbeat_seconds,
        ),
        config.names.termination_hook: (
            "autoscaling:EC2_INSTANCE_TERMINATING",
            "CONTINUE",
            design.termination_heartbeat_seconds,
        ),
    }
    [group] = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group_name])["AutoScalingGroups"]
    assert [p["ProcessName"] for p in group["SuspendedProcesses"]] == ["AZRebalance"]
    assert group["CapacityRebalance"] is False


def test_group_publishes_its_metrics_and_belongs_to_nobody_else(warm_stack, aws_client):
    _, outputs = warm_stack
    [group] = aws_client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[outputs["autoscaling_group_name"]]
    )["AutoScalingGroups"]
    assert {m["Metric"] for m in group["EnabledMetrics"]} >= {"GroupDesiredCapacity", "GroupInServiceInstances"}
    assert group["NewInstancesProtectedFromScaleIn"] is False
    assert (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]) == (0, 4, 0)
    ecs = aws_client("ecs")
    [cluster] = ecs.describe_clusters(clusters=[outputs["cluster_name"]])["clusters"]
    assert not cluster.get("capacityProviders")


def test_alarms_drive_the_group_and_the_not_taken_alarm_notifies_the_alerts_topic(warm_stack, aws_client):
    config, outputs = warm_stack
    design = design_for(config)
    alarms = {
        a["AlarmName"]: a for a in aws_client("cloudwatch").describe_alarms(AlarmNamePrefix=f"{STACK}-")["MetricAlarms"]
    }
    assert set(alarms) == {
        f"{STACK}-queue-has-videos",
        f"{STACK}-queue-idle",
        f"{STACK}-videos-stuck",
        f"{STACK}-videos-not-taken",
    }
    policies = {
        p["PolicyName"]: p
        for p in aws_client("autoscaling").describe_policies(AutoScalingGroupName=outputs["autoscaling_group_name"])[
            "ScalingPolicies"
        ]
    }
    add, to_zero = policies[f"{STACK}-add-instances"], policies[f"{STACK}-to-zero"]
    assert alarms[f"{STACK}-queue-has-videos"]["AlarmActions"] == [add["PolicyARN"]]
    assert (
        alarms[f"{STACK}-queue-has-videos"]["DatapointsToAlarm"],
        alarms[f"{STACK}-queue-has-videos"]["EvaluationPeriods"],
    ) == (1, 3)
    assert alarms[f"{STACK}-queue-idle"]["AlarmActions"] == [to_zero["PolicyARN"]]
    assert alarms[f"{STACK}-queue-idle"]["EvaluationPeriods"] == 6 + design.backstop_idle_extra_minutes
    stuck = alarms[f"{STACK}-videos-stuck"]
    assert (stuck["AlarmActions"], stuck["OKActions"]) == ([to_zero["PolicyARN"]], [])
    not_taken = alarms[f"{STACK}-videos-not-taken"]
    assert not_taken["AlarmActions"] == not_taken["OKActions"] == [outputs["alerts_topic_arn"]]
    assert (not_taken["DatapointsToAlarm"], not_taken["EvaluationPeriods"]) == (1, 3)
    uncovered = next(q for q in alarms[f"{STACK}-queue-has-videos"]["Metrics"] if q.get("ReturnData"))
    assert uncovered["Expression"].startswith(f"IF(FILL(age, 0) >= {design.not_taken_after_seconds} AND")
    assert [(s["ScalingAdjustment"]) for s in to_zero["StepAdjustments"]] == [0]
    assert to_zero["AdjustmentType"] == "ExactCapacity"
    steps = sorted(
        (s["MetricIntervalLowerBound"], s.get("MetricIntervalUpperBound"), s["ScalingAdjustment"])
        for s in add["StepAdjustments"]
    )  # a set in Terraform and AWS
    assert steps == [(float(lo), None if up is None else float(up), a) for lo, up, a in design.step_adjustments]


def test_alerts_topic_takes_this_stacks_alarms(warm_stack, aws_client):
    _, outputs = warm_stack
    attributes = aws_client("sns").get_topic_attributes(TopicArn=outputs["alerts_topic_arn"])["Attributes"]
    [allow] = [s for s in json.loads(attributes["Policy"])["Statement"] if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}


def test_video_queue_delays_no_video_and_the_services_are_daemons(warm_stack, aws_client):
    config, outputs = warm_stack
    attributes = aws_client("sqs").get_queue_attributes(
        QueueUrl=outputs["video_queue_url"], AttributeNames=["DelaySeconds"]
    )["Attributes"]
    assert int(attributes["DelaySeconds"]) == 0
    [service] = aws_client("ecs").describe_services(
        cluster=outputs["cluster_name"], services=outputs["service_names"].split(",")
    )["services"]
    assert service["schedulingStrategy"] == "DAEMON"
    assert outputs["tasks_per_instance"] == 1 and outputs["fleet_size"] == 4
