"""A redeploy that changes the launch template, with a warm pool: the instance refresh replaces the stale
pool instances, and `ecs-autoscale deploy` itself lets them go.

They are Stopped, so no agent runs on them to complete the termination hook: AWS holds each in
Warmed:Terminating:Wait until the hook's heartbeat timeout (30 minutes; the emulator's
autoscaling.lifecycle-hooks rule does the same). Nobody completes a hook by hand here: the first pool's
launch hook times out (DefaultResult CONTINUE) on the emulator's clock, as with no agent.
"""

from __future__ import annotations

import json

from helpers import seed_text, write_model

from ecs_autoscale.emulator.clock import CLOCK_OFFSET_ENV
from ecs_autoscale.model.config import load_config
from ecs_autoscale.model.scaling_design import design_for

STACK = "PoolRefresh"


def model_text(idle_minutes: int, stack: str = STACK) -> str:
    # ScaleInIdleMinutes reaches the agent's settings in the user data: a new launch template version.
    return seed_text(
        StackName=stack, TaskDefinition=stack.lower(), FleetSize="3", WarmPool="2", ScaleInIdleMinutes=idle_minutes
    )


def pool_of(asg, group: str) -> dict[str, dict]:
    return {i["InstanceId"]: i for i in asg.describe_warm_pool(AutoScalingGroupName=group)["Instances"]}


def test_redeploy_with_a_new_launch_template_lets_the_stale_warm_pool_go_at_once(
    ecs_cli, aws_client, tmp_path, monkeypatch
):
    model = write_model(tmp_path, model_text(6))
    stack_dir = tmp_path / "stack"
    ecs_cli("deploy", model, stack_dir, "--auto-approve")
    group = json.loads((stack_dir / "outputs.json").read_text())["autoscaling_group_name"]
    asg = aws_client("autoscaling")

    def pool() -> dict[str, dict]:
        return pool_of(asg, group)

    monkeypatch.setenv(CLOCK_OFFSET_ENV, str(design_for(load_config(model)).launch_heartbeat_seconds + 1))
    first = pool()
    assert [i["LifecycleState"] for i in first.values()] == ["Warmed:Stopped"] * 2
    assert {i["LaunchTemplate"]["Version"] for i in first.values()} == {"1"}

    write_model(tmp_path, model_text(7))
    redeployed = ecs_cli("deploy", model, stack_dir, "--auto-approve")

    [refresh] = asg.describe_instance_refreshes(AutoScalingGroupName=group)["InstanceRefreshes"]
    assert refresh["Preferences"]["SkipMatching"] is True
    fresh = pool()
    assert not set(fresh) & set(first), f"stale pool instances still there: {fresh}"
    reservations = aws_client("ec2").describe_instances(InstanceIds=list(first))["Reservations"]
    assert {i["State"]["Name"] for r in reservations for i in r["Instances"]} == {"terminated"}
    assert len(fresh) == 2 and {i["LaunchTemplate"]["Version"] for i in fresh.values()} == {"2"}
    assert f"Released 2 stale warm-pool instance(s) from the termination hook {STACK}-drain-workers" in (
        redeployed.stdout
    )


def test_with_a_busy_instance_to_replace_first_deploy_says_so_and_the_next_deploy_releases_the_pool(
    ecs_cli, aws_client, tmp_path, monkeypatch
):
    stack = "PoolRefreshBusy"
    model = write_model(tmp_path, model_text(6, stack))
    stack_dir = tmp_path / "stack"
    ecs_cli("deploy", model, stack_dir, "--auto-approve")
    group = json.loads((stack_dir / "outputs.json").read_text())["autoscaling_group_name"]
    asg = aws_client("autoscaling")
    hook_timeout = design_for(load_config(model)).launch_heartbeat_seconds + 1
    monkeypatch.setenv(CLOCK_OFFSET_ENV, str(hook_timeout))
    assert len(pool_of(asg, group)) == 2
    asg.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=1)  # a submit: one leaves the pool
    monkeypatch.setenv(CLOCK_OFFSET_ENV, str(2 * hook_timeout))  # its launch hook times out: InService
    [(busy, state)] = [
        (i["InstanceId"], i["LifecycleState"])
        for i in asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"][0]["Instances"]
    ]
    [stale] = pool_of(asg, group)
    assert state == "InService"

    write_model(tmp_path, model_text(7, stack))
    redeployed = ecs_cli("deploy", model, stack_dir, "--auto-approve")
    # The refresh drains the busy instance first (its agent completes the hook when its workers are quiet).
    assert "replaces 1 instance(s) in service first" in redeployed.stdout
    assert pool_of(asg, group)[stale]["LifecycleState"] == "Warmed:Stopped"
    asg.complete_lifecycle_action(  # the busy instance's agent, once its workers are quiet
        AutoScalingGroupName=group,
        LifecycleHookName=f"{stack}-drain-workers",
        InstanceId=busy,
        LifecycleActionResult="CONTINUE",
    )
    monkeypatch.setenv(CLOCK_OFFSET_ENV, str(3 * hook_timeout))  # its replacement's launch hook times out
    assert pool_of(asg, group)[stale]["LifecycleState"] == "Warmed:Terminating:Wait"

    again = ecs_cli("deploy", model, stack_dir, "--auto-approve")
    assert f"Released 1 stale warm-pool instance(s) from the termination hook {stack}-drain-workers" in again.stdout
    assert stale not in pool_of(asg, group)
