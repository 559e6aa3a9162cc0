"""The emulator's AWS rules (ecs_autoscale/emulator/rules.py), one section per rule, against the session's
in-process emulator with plain boto3: each rule refuses or does what its AWS document says, and catches the
defect of issue 19 it was written for.

moto keeps one account per session: every name here starts with "rules-". Time is moved with the rules'
clock ($ECS_AUTOSCALE_EMULATOR_CLOCK_OFFSET, read at each request), never slept.
"""

from __future__ import annotations

import json
import uuid

import pytest
from botocore.exceptions import ClientError
from helpers import load_text, only_resource, seed_text, synth_in_memory

from ecs_autoscale.emulator import rules
from ecs_autoscale.emulator.clock import CLOCK_OFFSET_ENV

LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"


def refused(call, *args, **kwargs) -> dict:
    """The AWS error `call` answers (fails the test if it succeeds): {'Code', 'Message', 'Status'}."""
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    response = caught.value.response
    return {**response["Error"], "Status": response["ResponseMetadata"]["HTTPStatusCode"]}


def unique(prefix: str) -> str:
    return f"rules-{prefix}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def clock(monkeypatch):
    """`clock(seconds)` moves the rules' clock forward by `seconds` (cumulative)."""
    moved = [0.0]

    def forward(seconds: float) -> None:
        moved[0] += seconds
        monkeypatch.setenv(CLOCK_OFFSET_ENV, str(moved[0]))

    return forward


# --- the registry ------------------------------------------------------------------------------------------
def test_emulator_lists_its_rules(ecs_cli):
    listed = ecs_cli("emulator", "--list-rules").stdout.splitlines()
    assert listed == rules.listing()
    assert any(line.startswith("scheduler.universal-target-read-only: ") for line in listed)


# --- scheduler.universal-target-read-only -------------------------------------------------------------
KEEPALIVE_BEFORE_ISSUE_19 = "arn:aws:scheduler:::aws-sdk:sqs:getQueueAttributes"
"""The keep-alive's target in synthesis/constructs/keepalive.py before issue 19 (its defect 1)."""


@pytest.fixture(scope="module")
def scheduler_role(aws_client) -> str:
    return aws_client("iam").create_role(
        RoleName=unique("scheduler"),
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "scheduler.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )["Role"]["Arn"]


def schedule(aws_client, role: str, target: str, name: str | None = None, update: bool = False) -> dict:
    call = aws_client("scheduler").update_schedule if update else aws_client("scheduler").create_schedule
    return call(
        Name=name or unique("keepalive"),
        ScheduleExpression="rate(60 minutes)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": target, "RoleArn": role, "Input": json.dumps({"QueueUrl": "https://example/q"})},
    )


def test_scheduler_refuses_the_old_keepalive_target_and_accepts_tag_queue(aws_client, scheduler_role):
    error = refused(schedule, aws_client, scheduler_role, KEEPALIVE_BEFORE_ISSUE_19)
    assert (error["Code"], error["Status"]) == ("ValidationException", 400)
    assert error["Message"].startswith("Invalid request provided: getQueueAttributes API is not supported")
    assert rules.UNIVERSAL_TARGETS in error["Message"]

    name = unique("keepalive")
    assert schedule(aws_client, scheduler_role, "arn:aws:scheduler:::aws-sdk:sqs:tagQueue", name)["ScheduleArn"]
    # An update to a read-only action is refused too, and leaves the schedule as it was.
    error = refused(
        schedule, aws_client, scheduler_role, "arn:aws:scheduler:::aws-sdk:ecs:describeServices", name, True
    )
    assert error["Code"] == "ValidationException"
    target = aws_client("scheduler").get_schedule(Name=name)["Target"]["Arn"]
    assert target.endswith(":tagQueue")


def test_the_synthesized_keepalive_schedule_is_one_aws_accepts(aws_client, scheduler_role, tmp_path):
    """The seed stack's schedule as synthesized, sent as CreateSchedule: failed while the keep-alive targeted
    getQueueAttributes (issue 19, defect 1: every deploy would fail on AWS)."""
    doc = synth_in_memory(load_text(tmp_path, seed_text()))
    body = only_resource(doc, "aws_scheduler_schedule")
    target = body["target"]
    aws_client("scheduler").create_schedule(
        Name=unique("synthesized"),
        ScheduleExpression=body["schedule_expression"],
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": target["arn"], "RoleArn": scheduler_role, "Input": "{}"},
    )


# --- ecs.draining-stops-service-tasks ---------------------------------------------------------------------
@pytest.fixture
def daemon_cluster(aws_client):
    """A cluster with a DAEMON service (the stack's worker) and two registered container instances."""
    ecs, name = aws_client("ecs"), unique("ecs")
    ecs.create_cluster(clusterName=name)
    ecs.register_task_definition(
        family=name,
        requiresCompatibilities=["EC2"],
        containerDefinitions=[{"name": "worker", "image": "worker:1", "memoryReservation": 512}],
    )
    ecs.create_service(cluster=name, serviceName="worker", taskDefinition=name, schedulingStrategy="DAEMON")
    instances = aws_client("ec2").run_instances(ImageId="ami-12c6146b", MinCount=2, MaxCount=2)["Instances"]
    arns = [
        ecs.register_container_instance(
            cluster=name,
            instanceIdentityDocument=json.dumps(
                {"instanceId": i["InstanceId"], "region": "us-west-2", "accountId": rules.ACCOUNT}
            ),
        )["containerInstance"]["containerInstanceArn"]
        for i in instances
    ]
    return name, arns


def tasks_on(aws_client, cluster: str, instance: str) -> dict[str, dict]:
    ecs = aws_client("ecs")
    arns = ecs.list_tasks(cluster=cluster, containerInstance=instance)["taskArns"]
    return {t["taskArn"]: t for t in ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"]} if arns else {}


def test_draining_stops_the_daemon_task_but_not_a_standalone_one(aws_client, daemon_cluster):
    cluster, (drained, other) = daemon_cluster
    ecs = aws_client("ecs")
    placed = rules.run_daemon_scheduler(cluster)
    assert len(placed) == 2  # one worker per instance, as ECS's daemon scheduler places them
    standalone = ecs.start_task(cluster=cluster, taskDefinition=cluster, containerInstances=[drained])["tasks"][0]

    ecs.update_container_instances_state(cluster=cluster, containerInstances=[drained], status="DRAINING")

    on_drained = tasks_on(aws_client, cluster, drained)
    [worker] = [t for t in on_drained.values() if t["group"] == "service:worker"]
    # The agent's scale_in drains before it decides "not killing": by then the worker is already stopped.
    assert worker["lastStatus"] == "STOPPED" and worker["desiredStatus"] == "STOPPED"
    assert worker["stopCode"] == "ServiceSchedulerInitiated" and "DRAINING" in worker["stoppedReason"]
    assert on_drained[standalone["taskArn"]]["desiredStatus"] == "RUNNING"
    assert [t["desiredStatus"] for t in tasks_on(aws_client, cluster, other).values()] == ["RUNNING"]

    assert rules.run_daemon_scheduler(cluster) == []  # no task placed on a DRAINING instance
    ecs.update_container_instances_state(cluster=cluster, containerInstances=[drained], status="ACTIVE")
    [again] = rules.run_daemon_scheduler(cluster)  # ACTIVE again: a NEW worker, the old one stays stopped
    assert again != worker["taskArn"] and again in tasks_on(aws_client, cluster, drained)


# --- Auto Scaling: a group like the stack's -----------------------------------------------------------------
@pytest.fixture(scope="module")
def template(aws_client) -> str:
    """One launch template for the module (moto takes over a second to create one)."""
    return aws_client("ec2").create_launch_template(
        LaunchTemplateName=unique("gpu"), LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "g4dn.xlarge"}
    )["LaunchTemplate"]["LaunchTemplateId"]


@pytest.fixture(scope="module")
def subnets(aws_client) -> list[str]:
    """Two default subnets in two Availability Zones."""
    found = {s["AvailabilityZone"]: s["SubnetId"] for s in aws_client("ec2").describe_subnets()["Subnets"]}
    return [found[zone] for zone in sorted(found)[:2]]


def hook(name: str, transition: str, timeout: int = 900, result: str = "CONTINUE") -> dict:
    return {
        "LifecycleHookName": name,
        "LifecycleTransition": transition,
        "HeartbeatTimeout": timeout,
        "DefaultResult": result,
    }


def make_group(
    aws_client, template, subnets, *, hooks=(), desired=0, maximum=4, version="1", rebalance=False, **extra
) -> str:
    """A group over two zones; AZRebalance suspended unless `rebalance` (as the stack suspends it), so a test
    of another rule sees no rebalancing after its terminations."""
    name = unique("asg")
    aws_client("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName=name,
        MinSize=0,
        MaxSize=maximum,
        DesiredCapacity=desired,
        VPCZoneIdentifier=",".join(subnets),
        LaunchTemplate={"LaunchTemplateId": template, "Version": version},
        **({"LifecycleHookSpecificationList": list(hooks)} if hooks else {}),
        **extra,
    )
    if not rebalance:
        aws_client("autoscaling").suspend_processes(AutoScalingGroupName=name, ScalingProcesses=["AZRebalance"])
    return name


def group_of(aws_client, name: str) -> dict:
    return aws_client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]


def states(aws_client, name: str) -> dict[str, str]:
    return {i["InstanceId"]: i["LifecycleState"] for i in group_of(aws_client, name)["Instances"]}


def pool(aws_client, name: str) -> dict[str, dict]:
    found = aws_client("autoscaling").describe_warm_pool(AutoScalingGroupName=name)["Instances"]
    return {i["InstanceId"]: i for i in found}


def complete(aws_client, group: str, hook_name: str, instances, result: str = "CONTINUE") -> None:
    for instance in instances:
        aws_client("autoscaling").complete_lifecycle_action(
            AutoScalingGroupName=group, LifecycleHookName=hook_name, InstanceId=instance, LifecycleActionResult=result
        )


# --- autoscaling.lifecycle-hooks ----------------------------------------------------------------------------
def test_a_launch_hook_added_after_the_warm_pool_never_holds_its_first_instances(aws_client, template, subnets):
    """The current stack: group, warm pool, then the hook as a separate resource (issue 19, defect 5)."""
    asg = aws_client("autoscaling")
    late = make_group(aws_client, template, subnets)
    asg.put_warm_pool(AutoScalingGroupName=late, MaxGroupPreparedCapacity=2, PoolState="Stopped")
    asg.put_lifecycle_hook(AutoScalingGroupName=late, **hook("prepare", LAUNCHING))
    first = pool(aws_client, late)
    assert [i["LifecycleState"] for i in first.values()] == ["Warmed:Stopped"] * 2  # stopped unprepared
    error = refused(complete, aws_client, late, "prepare", list(first)[:1])  # the agent's pull-then-complete
    assert error["Code"] == "ValidationError" and error["Message"].startswith("No active Lifecycle Action found")

    # initial_lifecycle_hook (LifecycleHookSpecificationList): the hook exists before any instance launches.
    early = make_group(aws_client, template, subnets, hooks=[hook("prepare", LAUNCHING)])
    asg.put_warm_pool(AutoScalingGroupName=early, MaxGroupPreparedCapacity=2, PoolState="Stopped")
    waiting = pool(aws_client, early)
    assert [i["LifecycleState"] for i in waiting.values()] == ["Warmed:Pending:Wait"] * 2
    complete(aws_client, early, "prepare", waiting)
    assert [i["LifecycleState"] for i in pool(aws_client, early).values()] == ["Warmed:Stopped"] * 2
    ec2 = aws_client("ec2").describe_instances(InstanceIds=list(waiting))["Reservations"]
    assert {i["State"]["Name"] for r in ec2 for i in r["Instances"]} == {"stopped"}

    # Leaving the pool for the group passes the launch hook again (Pending:Wait), then InService.
    asg.set_desired_capacity(AutoScalingGroupName=early, DesiredCapacity=1)
    [(taken, state)] = states(aws_client, early).items()
    assert taken in waiting and state == "Pending:Wait"
    complete(aws_client, early, "prepare", [taken])
    assert states(aws_client, early) == {taken: "InService"}


def test_heartbeat_timeout_applies_the_default_result_and_a_heartbeat_extends_it(aws_client, template, subnets, clock):
    hooks = [hook("ready", LAUNCHING, timeout=600, result="ABANDON"), hook("drain", TERMINATING, timeout=300)]
    name = make_group(aws_client, template, subnets, hooks=hooks, desired=2)
    asg = aws_client("autoscaling")
    first, second = states(aws_client, name)
    assert set(states(aws_client, name).values()) == {"Pending:Wait"}
    clock(500)
    asg.record_lifecycle_action_heartbeat(AutoScalingGroupName=name, LifecycleHookName="ready", InstanceId=first)
    clock(200)  # 700 s: past the timeout of the silent one only
    now = states(aws_client, name)
    assert now[first] == "Pending:Wait" and second not in now  # ABANDON: terminated and replaced
    [replacement] = set(now) - {first}
    assert now[replacement] == "Pending:Wait"
    complete(aws_client, name, "ready", [first, replacement])

    # Scale in: the termination hook holds the instance until its timeout (DefaultResult CONTINUE).
    asg.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=1)
    [leaving] = [i for i, s in states(aws_client, name).items() if s == "Terminating:Wait"]
    clock(301)
    assert leaving not in states(aws_client, name)
    assert (
        aws_client("ec2").describe_instances(InstanceIds=[leaving])["Reservations"][0]["Instances"][0]["State"]["Name"]
        == "terminated"
    )


def test_termination_hook_holds_every_kind_of_termination_but_force_delete(aws_client, template, subnets):
    name = make_group(aws_client, template, subnets, hooks=[hook("drain", TERMINATING)], desired=3)
    asg = aws_client("autoscaling")
    one, two, three = states(aws_client, name)
    asg.terminate_instance_in_auto_scaling_group(InstanceId=one, ShouldDecrementDesiredCapacity=True)
    assert states(aws_client, name)[one] == "Terminating:Wait"
    complete(aws_client, name, "drain", [one])
    asg.update_auto_scaling_group(AutoScalingGroupName=name, MinSize=0, MaxSize=0)  # the agent's halt
    assert set(states(aws_client, name).values()) == {"Terminating:Wait"}
    assert group_of(aws_client, name)["DesiredCapacity"] == 0
    asg.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
    assert (
        aws_client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"] == []
    )
    reservations = aws_client("ec2").describe_instances(InstanceIds=[two, three])["Reservations"]
    assert {i["State"]["Name"] for r in reservations for i in r["Instances"]} == {"terminated"}
    # The group's hooks went with it: a new group of the same name starts without them.
    asg.create_auto_scaling_group(
        AutoScalingGroupName=name,
        MinSize=0,
        MaxSize=1,
        LaunchTemplate={"LaunchTemplateId": template, "Version": "1"},
        VPCZoneIdentifier=subnets[0],
    )
    assert asg.describe_lifecycle_hooks(AutoScalingGroupName=name)["LifecycleHooks"] == []


def test_heartbeat_timeout_outside_30_to_7200_seconds_is_refused(aws_client, template, subnets):
    name = make_group(aws_client, template, subnets)
    asg = aws_client("autoscaling")
    for seconds in (29, 7201):
        error = refused(asg.put_lifecycle_hook, AutoScalingGroupName=name, **hook("h", LAUNCHING, timeout=seconds))
        assert error["Code"] == "ValidationError" and "from 30 to 7200 seconds" in error["Message"]
    error = refused(make_group, aws_client, template, subnets, hooks=[hook("h", LAUNCHING, timeout=10)])
    assert error["Code"] == "ValidationError"


# --- autoscaling.warm-pool ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "min_size, prepared, maximum, desired, expected",
    [
        (0, 2, 4, 0, 2),  # the stack's warm pool after issue 19: MinSize 0, MaxGroupPreparedCapacity WarmPool
        (0, 2, 4, 1, 1),
        (0, 2, 4, 3, 0),
        (2, 2, 4, 3, 2),  # before: MinSize WarmPool refills beside a busy fleet (defect 7)
        (0, None, 4, 1, 3),  # no MaxGroupPreparedCapacity: MaxSize - DesiredCapacity
        (0, -1, 4, 0, 4),
    ],
)
def test_warm_pool_size_follows_the_documented_formula(
    aws_client, template, subnets, min_size, prepared, maximum, desired, expected
):
    name = make_group(aws_client, template, subnets, desired=desired, maximum=maximum)
    sizes = {"MinSize": min_size, **({} if prepared is None else {"MaxGroupPreparedCapacity": prepared})}
    aws_client("autoscaling").put_warm_pool(AutoScalingGroupName=name, **sizes)
    assert len(pool(aws_client, name)) == expected
    assert group_of(aws_client, name)["WarmPoolSize"] == expected
    assert len(states(aws_client, name)) == desired


def test_scale_out_takes_the_pool_and_scale_in_refills_it_with_new_instances(aws_client, template, subnets):
    name = make_group(aws_client, template, subnets)
    asg = aws_client("autoscaling")
    asg.put_warm_pool(AutoScalingGroupName=name, MinSize=0, MaxGroupPreparedCapacity=2)
    prepared = set(pool(aws_client, name))
    asg.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=3)
    in_service = set(states(aws_client, name))
    assert prepared < in_service and len(in_service) == 3 and pool(aws_client, name) == {}
    for instance in in_service:  # the agents' scale-in, one by one
        asg.terminate_instance_in_auto_scaling_group(InstanceId=instance, ShouldDecrementDesiredCapacity=True)
    refilled = pool(aws_client, name)
    assert len(refilled) == 2 and not set(refilled) & (prepared | in_service)  # new instances, no reuse
    assert states(aws_client, name) == {}


def test_pool_instances_keep_their_template_and_cannot_be_terminated(aws_client, template, subnets):
    ec2, asg = aws_client("ec2"), aws_client("autoscaling")
    own = ec2.create_launch_template(
        LaunchTemplateName=unique("pool"), LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "g4dn.xlarge"}
    )["LaunchTemplate"]["LaunchTemplateId"]
    name = make_group(aws_client, own, subnets)
    asg.put_warm_pool(AutoScalingGroupName=name, MaxGroupPreparedCapacity=1)
    [(stale, entry)] = pool(aws_client, name).items()
    ec2.create_launch_template_version(LaunchTemplateId=own, LaunchTemplateData={"ImageId": "ami-03cf127a"})
    asg.update_auto_scaling_group(AutoScalingGroupName=name, LaunchTemplate={"LaunchTemplateId": own, "Version": "2"})
    assert pool(aws_client, name)[stale]["LaunchTemplate"]["Version"] == "1"  # a redeploy leaves it stale
    asg.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=1)
    [(taken, in_service)] = [(i["InstanceId"], i) for i in group_of(aws_client, name)["Instances"]]
    assert taken == stale and in_service["LaunchTemplate"]["Version"] == "1"  # old image, into service (defect 6)

    asg.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=0)
    [fresh] = pool(aws_client, name)
    error = refused(asg.terminate_instance_in_auto_scaling_group, InstanceId=fresh, ShouldDecrementDesiredCapacity=True)
    assert error["Code"] == "ValidationError" and error["Status"] == 400
    assert error["Message"].startswith(rules.WARM_POOL_REFUSED)


def test_warm_pool_is_refused_for_a_mixed_instances_group(aws_client, template, subnets):
    name = unique("mixed")
    asg = aws_client("autoscaling")
    asg.create_auto_scaling_group(
        AutoScalingGroupName=name,
        MinSize=0,
        MaxSize=2,
        VPCZoneIdentifier=",".join(subnets),
        MixedInstancesPolicy={
            "LaunchTemplate": {
                "LaunchTemplateSpecification": {"LaunchTemplateId": template, "Version": "1"},
                "Overrides": [{"InstanceType": "g4dn.xlarge"}, {"InstanceType": "g5.xlarge"}],
            }
        },
    )
    error = refused(asg.put_warm_pool, AutoScalingGroupName=name, MaxGroupPreparedCapacity=1)
    assert error["Code"] == "ValidationError" and rules.MIXED_POOL_REFUSED in error["Message"]


# --- autoscaling.instance-refresh ---------------------------------------------------------------------------
def test_instance_refresh_replaces_in_service_then_stale_pool_instances(aws_client, subnets):
    ec2, asg = aws_client("ec2"), aws_client("autoscaling")
    own = ec2.create_launch_template(
        LaunchTemplateName=unique("refresh"),
        LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "g4dn.xlarge"},
    )["LaunchTemplate"]["LaunchTemplateId"]
    name = make_group(aws_client, own, subnets, hooks=[hook("drain", TERMINATING)], desired=1)
    asg.put_warm_pool(AutoScalingGroupName=name, MaxGroupPreparedCapacity=3)
    [old_live] = states(aws_client, name)
    old_pool = set(pool(aws_client, name))
    assert len(old_pool) == 2

    ec2.create_launch_template_version(LaunchTemplateId=own, LaunchTemplateData={"ImageId": "ami-03cf127a"})
    asg.update_auto_scaling_group(AutoScalingGroupName=name, LaunchTemplate={"LaunchTemplateId": own, "Version": "2"})
    refresh = asg.start_instance_refresh(
        AutoScalingGroupName=name, Strategy="Rolling", Preferences={"SkipMatching": True, "MinHealthyPercentage": 100}
    )["InstanceRefreshId"]

    # InService first, through the termination hook; the pool waits its turn.
    assert states(aws_client, name)[old_live] == "Terminating:Wait"
    assert set(pool(aws_client, name)) == old_pool
    error = refused(asg.start_instance_refresh, AutoScalingGroupName=name)
    assert (error["Code"], error["Status"]) == ("InstanceRefreshInProgress", 400)
    [running] = asg.describe_instance_refreshes(AutoScalingGroupName=name, InstanceRefreshIds=[refresh])[
        "InstanceRefreshes"
    ]
    assert (
        running["Status"] == "InProgress" and running["ProgressDetails"]["WarmPoolProgress"]["InstancesToUpdate"] == 2
    )

    complete(aws_client, name, "drain", [old_live])
    live = group_of(aws_client, name)["Instances"]
    assert [i["LaunchTemplate"]["Version"] for i in live] == ["2"] and live[0]["InstanceId"] != old_live
    # Then the pool: its stale instances go through the hook too, and new ones take their place.
    assert {i: p["LifecycleState"] for i, p in pool(aws_client, name).items() if i in old_pool} == dict.fromkeys(
        old_pool, "Warmed:Terminating:Wait"
    )
    # As on AWS, nothing releases them but a CompleteLifecycleAction (the stack's: `ecs-autoscale deploy`,
    # test_warm_pool_refresh.py) or the heartbeat timeout.
    complete(aws_client, name, "drain", old_pool)
    fresh = pool(aws_client, name)
    assert len(fresh) == 2 and not set(fresh) & old_pool
    assert {p["LaunchTemplate"]["Version"] for p in fresh.values()} == {"2"}
    [done] = asg.describe_instance_refreshes(AutoScalingGroupName=name)["InstanceRefreshes"]
    assert done["Status"] == "Successful" and done["PercentageComplete"] == 100 and done["InstancesToUpdate"] == 0

    # SkipMatching: nothing stale, nothing replaced; a refresh cancelled is Cancelled; none left to cancel.
    again = asg.start_instance_refresh(AutoScalingGroupName=name, Preferences={"SkipMatching": True})
    assert set(pool(aws_client, name)) == set(fresh)
    status = asg.describe_instance_refreshes(AutoScalingGroupName=name, InstanceRefreshIds=[again["InstanceRefreshId"]])
    assert status["InstanceRefreshes"][0]["Status"] == "Successful"
    error = refused(asg.cancel_instance_refresh, AutoScalingGroupName=name)
    assert (error["Code"], error["Status"]) == ("ActiveInstanceRefreshNotFound", 400)


def test_cancelling_a_refresh_that_waits_on_a_hook(aws_client, template, subnets):
    asg = aws_client("autoscaling")
    name = make_group(aws_client, template, subnets, hooks=[hook("drain", TERMINATING)], desired=1)
    started = asg.start_instance_refresh(AutoScalingGroupName=name)["InstanceRefreshId"]  # no SkipMatching: all
    assert asg.cancel_instance_refresh(AutoScalingGroupName=name)["InstanceRefreshId"] == started
    [cancelled] = asg.describe_instance_refreshes(AutoScalingGroupName=name)["InstanceRefreshes"]
    assert cancelled["Status"] == "Cancelled"


# --- autoscaling.az-rebalance -------------------------------------------------------------------------------
def zones(aws_client, name: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for instance in group_of(aws_client, name)["Instances"]:
        found.setdefault(instance["AvailabilityZone"], []).append(instance["InstanceId"])
    return found


@pytest.mark.parametrize("suspended", [False, True])
def test_agent_terminations_unbalance_the_group_and_it_rebalances_unless_suspended(
    aws_client, template, subnets, suspended
):
    name = make_group(aws_client, template, subnets, desired=4, rebalance=not suspended)
    asg = aws_client("autoscaling")
    before = zones(aws_client, name)
    assert sorted(len(v) for v in before.values()) == [2, 2]  # launches balance across the zones
    emptied, busy = sorted(before)
    for instance in before[emptied]:  # two idle agents in one zone terminate themselves
        asg.terminate_instance_in_auto_scaling_group(InstanceId=instance, ShouldDecrementDesiredCapacity=True)
    after = zones(aws_client, name)
    assert group_of(aws_client, name)["DesiredCapacity"] == 2
    if suspended:
        assert after == {busy: before[busy]}
    else:
        # A fresh instance in the emptied zone, and one of the busy zone's instances terminated for it.
        assert len(after[emptied]) == 1 and not set(after[emptied]) & set(before[emptied])
        assert len(after[busy]) == 1 and set(after[busy]) < set(before[busy])


# --- autoscaling.scaling-activity-in-progress ---------------------------------------------------------------
def test_concurrent_terminate_answers_scaling_activity_in_progress(aws_client, template, subnets):
    name = make_group(aws_client, template, subnets, hooks=[hook("drain", TERMINATING)], desired=2)
    asg = aws_client("autoscaling")
    first, second = states(aws_client, name)
    asg.terminate_instance_in_auto_scaling_group(InstanceId=first, ShouldDecrementDesiredCapacity=True)
    error = refused(
        asg.terminate_instance_in_auto_scaling_group, InstanceId=second, ShouldDecrementDesiredCapacity=True
    )
    assert (error["Code"], error["Status"], error["Type"]) == ("ScalingActivityInProgress", 400, "Sender")
    assert error["Message"] == "The operation can't be performed because there are scaling activities in progress."
    complete(aws_client, name, "drain", [first])
    asg.terminate_instance_in_auto_scaling_group(InstanceId=second, ShouldDecrementDesiredCapacity=True)
    assert states(aws_client, name) == {second: "Terminating:Wait"}


def test_injected_scaling_activity_answers_the_next_calls_only(aws_client, template, subnets):
    name = make_group(aws_client, template, subnets, desired=1)
    asg = aws_client("autoscaling")
    [instance] = states(aws_client, name)
    rules.scaling_activity_in_progress(name, calls=2)
    for _ in range(2):
        error = refused(
            asg.terminate_instance_in_auto_scaling_group, InstanceId=instance, ShouldDecrementDesiredCapacity=True
        )
        assert error["Code"] == "ScalingActivityInProgress"
    asg.terminate_instance_in_auto_scaling_group(InstanceId=instance, ShouldDecrementDesiredCapacity=True)
    assert states(aws_client, name) == {}


def test_a_terminate_through_the_rules_is_recorded_as_the_user_request_it_is(aws_client, template, subnets):
    """The rules replace TerminateInstanceInAutoScalingGroup before the patches wrap it, so patches.history
    still records it as AWS does ("in response to a user request")."""
    name = make_group(aws_client, template, subnets, desired=1)
    asg = aws_client("autoscaling")
    [instance] = states(aws_client, name)
    asg.terminate_instance_in_auto_scaling_group(InstanceId=instance, ShouldDecrementDesiredCapacity=True)
    activities = asg.describe_scaling_activities(AutoScalingGroupName=name)["Activities"]
    [terminated] = [a for a in activities if a["Description"] == f"Terminating EC2 instance: {instance}"]
    assert "in response to a user request" in terminated["Cause"]


# --- sqs.approximate-count-lag ------------------------------------------------------------------------------
def test_approximate_counts_lag_by_the_configured_seconds(aws_client, monkeypatch, clock):
    sqs = aws_client("sqs")
    counts = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]

    def read(url: str) -> tuple[int, ...]:
        found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=counts)["Attributes"]
        return tuple(int(found[c]) for c in counts)

    monkeypatch.setenv(rules.SQS_COUNT_LAG_ENV, "60")
    url = sqs.create_queue(QueueName=unique("videos"))["QueueUrl"]
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"video {i}")
    assert read(url) == (0, 0, 0)  # an agent looking now sees the queue as it was: empty
    clock(61)
    assert read(url) == (3, 0, 0)  # the sends, a minute late
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=600)
    assert read(url) == (3, 0, 0)  # the receive not yet
    clock(61)
    assert read(url) == (2, 1, 0)

    monkeypatch.delenv(rules.SQS_COUNT_LAG_ENV)  # the default: current counts
    sqs.send_message(QueueUrl=url, MessageBody="video 3")
    assert read(url) == (3, 1, 0)


# --- a moto gap the rules met (patches.py) -------------------------------------------------------------------
def test_a_group_launches_from_a_template_version_with_new_user_data(aws_client, subnets):
    """patches.ec2_launch_template_version_user_data: a redeploy's new template version carries user data."""
    ec2 = aws_client("ec2")
    own = ec2.create_launch_template(
        LaunchTemplateName=unique("userdata"),
        LaunchTemplateData={"ImageId": "ami-12c6146b", "UserData": "ZWNobyB2MQ=="},
    )["LaunchTemplate"]["LaunchTemplateId"]
    ec2.create_launch_template_version(LaunchTemplateId=own, LaunchTemplateData={"UserData": "ZWNobyB2Mg=="})
    name = make_group(aws_client, own, subnets, desired=1, version="2")
    [instance] = group_of(aws_client, name)["Instances"]
    assert instance["LaunchTemplate"]["Version"] == "2"
    attribute = ec2.describe_instance_attribute(InstanceId=instance["InstanceId"], Attribute="userData")
    assert attribute["UserData"]["Value"] == "ZWNobyB2Mg=="
