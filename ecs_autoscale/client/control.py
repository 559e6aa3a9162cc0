"""Emergency stop and resume of a stack, keeping every queued video.

The Auto Scaling group's desired capacity is the stack's one actuator and the workers are daemon tasks
that come and go with the instances (scaling_design.py), so stopping the stack is stopping its group.
Why each step of `stop` (order matters):
1. Record the group's min/max/desired in STACK_DIR/stopped.json first (kept by a repeated `stop`), so
   an interrupted stop can still be resumed exactly.
2. Group min 0, max 0, desired 0: the instances terminate, and nothing raises the group again: the
   fast path of `submit` and the backstop alarm stay within MaxSize, and `deploy` (which would restore
   MaxSize) is refused while stopped.json exists.
3. Clear the scale-in protection of any instance still protected. This stack protects none, but a
   group deployed by an older version (ECS managed termination protection) may still hold protected
   instances, which a lower desired capacity never terminates.
4. Drain the container instances (ECS then stops their service tasks itself), then stop any worker still
   running. Each worker gets SIGTERM now, not whenever its instance shuts down; draining first keeps the
   daemon scheduler from starting a worker again on an instance that is going away (it could take a video
   only to be cut, which counts toward MaxReceiveCount). A stopped worker's video message is not deleted: it is
   visible again when its visibility timeout ends, at once with the reference worker (it releases it
   on SIGTERM).
Queues are never touched: nothing is received, moved to the dead queue or deleted (the original
`ecsshutdown` moved queued videos to the dead queue and deleted results).

`resume` restores the recorded min/max/desired, raises the desired capacity to what the queue needs
(never lowers it: client/group_sizing.py) and removes the `ecs-autoscale:halted` tag. Without a record (the
instance agent halted the stack, or the record was lost) it sets min 0, max FleetSize (output
`fleet_size`), desired what the queue needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..echo import Echo, silent
from ..errors import error_code
from ..group import HALTED_TAG, Group, read_group, release_terminating, unprotect_instances
from ..stack_dir import StackDir, utc_now
from . import JobsError
from .group_sizing import raise_group
from .stack_info import StackInfo

if TYPE_CHECKING:
    from ecs_autoscale.client.aws import AwsClients

STOP_REASON = "ecs-autoscale stop (emergency stop)"


def _own_record(stack_dir: Path, info: StackInfo) -> dict | None:
    record = StackDir(stack_dir).read_stop_record()
    if record is not None and record.get("stack_name") != info.stack_name:
        raise JobsError(
            f"{StackDir(stack_dir).stop_record_file} belongs to stack {record.get('stack_name')!r}, not "
            f"{info.stack_name!r} (use this stack's own STACK_DIR)"
        )
    return record


def _group(aws: AwsClients, info: StackInfo) -> Group:
    group = read_group(aws("autoscaling"), info.autoscaling_group_name)
    if group is None:
        raise JobsError(
            f"Auto Scaling group {info.autoscaling_group_name} not found in {info.region} "
            "(is the stack deployed? `ecs-autoscale outputs` refreshes outputs.json)"
        )
    return group


# ---- stop ---------------------------------------------------------------------------------------------
def stop_stack(aws: AwsClients, info: StackInfo, stack_dir: Path, echo: Echo = silent) -> dict:
    """Bring instances and tasks to zero; returns the settings `resume` will restore."""
    record = _own_record(stack_dir, info)
    group = _group(aws, info)
    if record is None:
        # A group already at max 0 (halted by an agent, stopped elsewhere) has nothing worth restoring:
        # None makes `resume` restore the stack's defaults instead of 0.
        limits = None if group.stopped else {"min": group.min, "max": group.max, "desired": group.desired}
        record = {"stack_name": info.stack_name, "stopped_at": utc_now(), "asg": limits}
        StackDir(stack_dir).write_stop_record(record)
    else:
        echo(
            f"Already stopped since {record['stopped_at']}: applying the stop again (the recorded settings "
            "are kept for `resume`)."
        )
    asg = aws("autoscaling")
    asg.update_auto_scaling_group(AutoScalingGroupName=group.name, MinSize=0, MaxSize=0, DesiredCapacity=0)
    protected = [i["InstanceId"] for i in group.instances if i.get("ProtectedFromScaleIn")]
    if protected:
        unprotect_instances(asg, group.name, protected)
        # The group only re-evaluates protected instances on its next change: ask again.
        asg.set_desired_capacity(AutoScalingGroupName=group.name, DesiredCapacity=0)
    was = record["asg"]["max"] if record.get("asg") else "already 0"
    echo(
        f"Auto Scaling group {group.name}: min 0, max 0 (was {was}), desired 0; "
        f"{len(group.instances)} instance(s) terminating"
        + (f", {len(protected)} unprotected first." if protected else ".")
    )
    stopped = stop_worker_tasks(aws("ecs"), info, echo)
    if stopped:
        echo(f"Stopped {stopped} worker task(s); their videos return to the queue.")
    # The workers have their SIGTERM: instances waiting in the termination hook go now, not when their agents
    # find them quiet (an instance not yet waiting is released by its agent).
    now = read_group(asg, group.name)
    released = release_terminating(asg, now, info.names.termination_hook) if now is not None else []
    if released:
        echo(f"Released {len(released)} instance(s) from the termination hook: they terminate now.")
    return record


def stop_worker_tasks(ecs: Any, info: StackInfo, echo: Echo) -> int:
    """Drain the cluster's instances, then stop every task of the daemon services still running; returns the
    worker tasks that were running. ECS itself stops the service tasks of a DRAINING instance (ECS Developer
    Guide, "Draining Amazon ECS container instances"), so StopTask catches only those a failed drain left."""
    running = service_tasks(ecs, info)
    problem = _drain_instances(ecs, info.cluster_name)
    if problem:
        echo(f"Could not drain the container instances ({problem}); stopping the tasks anyway.")
    for task in service_tasks(ecs, info):
        ecs.stop_task(cluster=info.cluster_name, task=task, reason=STOP_REASON)
    return len(running)


def _drain_instances(ecs: Any, cluster: str) -> str:
    """Set ACTIVE container instances to DRAINING; the problem met ('' if none)."""
    try:
        arns = [
            arn
            for page in ecs.get_paginator("list_container_instances").paginate(cluster=cluster, status="ACTIVE")
            for arn in page.get("containerInstanceArns", [])
        ]
        for start in range(0, len(arns), 10):  # UpdateContainerInstancesState takes at most 10
            ecs.update_container_instances_state(
                cluster=cluster, containerInstances=arns[start : start + 10], status="DRAINING"
            )
    except Exception as exc:  # permissions, an instance deregistering meanwhile
        return error_code(exc) or type(exc).__name__
    return ""


def service_tasks(ecs: Any, info: StackInfo) -> list[str]:
    """ARNs of the tasks (running or starting) of every worker service."""
    tasks = []
    for service in info.services:
        for page in ecs.get_paginator("list_tasks").paginate(
            cluster=info.cluster_name, serviceName=service, desiredStatus="RUNNING"
        ):
            tasks += page.get("taskArns", [])
    return sorted(set(tasks))


# ---- resume -------------------------------------------------------------------------------------------
def resume_stack(aws: AwsClients, info: StackInfo, stack_dir: Path, echo: Echo = silent) -> dict | None:
    """Undo `stop` or an agent's halt, or relaunch a fleet the stuck alarm stopped; returns the group
    limits (and desired capacity) set, None when there was nothing to do."""
    record = _own_record(stack_dir, info)
    group = _group(aws, info)
    if record is None and group.halted is None and not group.stopped:
        return _relaunch(aws, info, group, echo)
    limits = _limits_to_restore(info, group, record, echo)
    asg = aws("autoscaling")
    asg.update_auto_scaling_group(
        AutoScalingGroupName=group.name, MinSize=limits["min"], MaxSize=limits["max"], DesiredCapacity=limits["desired"]
    )
    if group.halted is not None:
        # The agent's halt reason is kept in the output of this command, not on the group.
        asg.delete_tags(Tags=[{"ResourceId": group.name, "ResourceType": "auto-scaling-group", "Key": HALTED_TAG}])
        echo(f"Removed the halt of {group.halted!r}.")
    restored = Group(
        name=group.name,
        min=limits["min"],
        max=limits["max"],
        desired=limits["desired"],
        halted=None,
        instances=group.instances,
    )
    sizing = raise_group(aws, info, restored)
    echo(
        f"Auto Scaling group {group.name}: min {limits['min']}, max {limits['max']}, desired {sizing.after} "
        f"({sizing.videos} video(s) queued)."
    )
    StackDir(stack_dir).clear_stop_record()
    return {**limits, "desired": sizing.after}


def _relaunch(aws: AwsClients, info: StackInfo, group: Group, echo: Echo) -> dict | None:
    """Neither stopped nor halted: launch what the queued videos need. After the stuck alarm stopped
    the fleet, no alarm does (the backstop reads 0 while videos are not taken:
    synthesis/constructs/backstop_alarms.py)."""
    sizing = raise_group(aws, info, group)
    if sizing.after == group.desired:
        echo(
            f"{info.stack_name} is neither stopped nor halted (group {group.min}..{group.max}, desired "
            f"{group.desired}, {sizing.videos} video(s) queued): nothing to resume."
        )
        return None
    echo(
        f"{info.stack_name} is neither stopped nor halted; {sizing.videos} video(s) wait: Auto Scaling group "
        f"{group.name}: desired {group.desired} -> {sizing.after}."
    )
    return {"min": group.min, "max": group.max, "desired": sizing.after}


def _limits_to_restore(info: StackInfo, group: Group, record: dict | None, echo: Echo) -> dict:
    if record is not None and record.get("asg"):
        g = record["asg"]
        echo(
            f"Restoring what `stop` recorded at {record.get('stopped_at', '?')}: min {g['min']}, max {g['max']}, "
            f"desired {g['desired']}."
        )
        return {"min": int(g["min"]), "max": int(g["max"]), "desired": int(g["desired"])}
    fleet = info.fleet_size or (group.max if group.max > 0 else None)
    if not fleet:
        raise JobsError(
            f"{info.stack_name}: FleetSize unknown (outputs.json has no fleet_size and the group's "
            "maximum is 0): refresh outputs.json with `ecs-autoscale outputs CONFIG STACK_DIR`, then "
            "resume again"
        )
    why = (
        "halted by an instance agent"
        if group.halted is not None
        else "already at 0 when `stop` ran"
        if record is not None
        else "stopped without a record in STACK_DIR"
    )
    echo(f"{info.stack_name} was {why}: restoring the stack's defaults, instances 0..{fleet}.")
    return {"min": 0, "max": fleet, "desired": 0}
