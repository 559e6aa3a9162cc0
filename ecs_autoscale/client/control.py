"""Emergency stop and resume of a stack, keeping every queued video.

Why each step of `stop` (order matters):
1. Record the current settings in STACK_DIR/stopped.json first (kept by a repeated `stop`), so an
   interrupted stop can still be resumed exactly.
2. Suspend the service's scalable target (dynamic in/out and scheduled scaling): the queue alarms stay
   in ALARM while videos wait, and would otherwise raise the task count again right away.
3. Service desired count 0; clear ECS task scale-in protection (the worker sets it while it processes a
   video, and ECS never stops a protected task on scale-in), then stop each task. A stopped worker's
   video message is not deleted: it becomes visible again when its visibility timeout ends (the
   reference worker releases it at once on SIGTERM).
4. Auto Scaling group max 0 (and min/desired 0): ECS managed scaling can then launch nothing. With
   managed termination protection, instances that ran tasks are protected from scale-in, so a lower
   desired count alone would leave them running; their protection is cleared, then the desired count
   is set to 0 again so the group terminates them (managed draining lets ECS drain them first).
Queues are never touched: nothing is received, moved to the dead queue or deleted (the original
`ecsshutdown` moved queued videos to the dead queue and deleted results).

`resume` restores exactly what stopped.json recorded: group min/max/desired, service desired count and
the scalable target's previous suspended state (scaling the user had suspended stays suspended).
A `deploy` while stopped would also re-enable scaling (Terraform manages max_size and suspended_state):
resume first.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Optional

from . import JobsError
from .aws import error_code
from .ledger import utc_now
from .stack_info import StackInfo
from ..fileio import atomic_write_json

STOP_RECORD = "stopped.json"
ALL_SUSPENDED = {"DynamicScalingInSuspended": True, "DynamicScalingOutSuspended": True,
                 "ScheduledScalingSuspended": True}
NOTHING_SUSPENDED = {k: False for k in ALL_SUSPENDED}
DIMENSION = "ecs:service:DesiredCount"


def stop_record_path(stack_dir: Path) -> Path:
    return Path(stack_dir) / STOP_RECORD


def read_stop_record(stack_dir: Path) -> Optional[dict]:
    path = stop_record_path(stack_dir)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise JobsError(f"{path}: unreadable ({exc}); it records the settings `resume` restores - fix or "
                        "remove it (resume then falls back to the stack's defaults)") from None


def _current_settings(aws, info: StackInfo) -> dict:
    from .status import fleet_state, scaling_state, service_state

    fleet = fleet_state(aws("autoscaling"), info)
    if fleet is None:
        raise JobsError(f"Auto Scaling group {info.autoscaling_group_name} not found in {info.region} "
                        "(is the stack deployed? `ecs-autoscale outputs` refreshes outputs.json)")
    target = scaling_state(aws("application-autoscaling"), info)
    return {
        "stack_name": info.stack_name,
        "service_desired": service_state(aws("ecs"), info)["desired"],
        "asg": {"min": fleet["min"], "max": fleet["max"], "desired": fleet["desired"]},
        "scalable_target": None if target is None else {"min": target["min"], "max": target["max"],
                                                         "suspended": target["suspended"]},
    }


def stop_stack(aws, info: StackInfo, stack_dir: Path, echo: Callable[[str], None] = lambda _: None) -> dict:
    """Bring tasks and instances to zero; returns the settings `resume` will restore."""
    previous = read_stop_record(stack_dir)
    if previous and previous.get("stack_name") != info.stack_name:
        raise JobsError(f"{stop_record_path(stack_dir)} belongs to stack {previous.get('stack_name')!r}, not "
                        f"{info.stack_name!r} (use this stack's own STACK_DIR)")
    if previous is None:
        record = {**_current_settings(aws, info), "stopped_at": utc_now()}
        atomic_write_json(stop_record_path(stack_dir), record)
    else:
        record = previous
        echo(f"Already stopped since {record['stopped_at']}: applying the stop again (the recorded settings "
             "are kept for `resume`).")

    aas, ecs, asg = aws("application-autoscaling"), aws("ecs"), aws("autoscaling")
    if record["scalable_target"] is not None:
        aas.register_scalable_target(ServiceNamespace="ecs", ResourceId=info.scalable_target_id,
                                     ScalableDimension=DIMENSION, SuspendedState=ALL_SUSPENDED)
        echo("Queue-driven task scaling suspended.")
    ecs.update_service(cluster=info.cluster_name, service=info.service_name, desiredCount=0)
    echo(f"Service {info.service_name}: desired tasks 0 (was {record['service_desired']}).")
    tasks = _service_tasks(ecs, info)
    if tasks:
        problem = _unprotect_tasks(ecs, info, tasks)
        if problem:
            echo(f"Could not clear task scale-in protection ({problem}); stopping the tasks anyway.")
        for task in tasks:
            ecs.stop_task(cluster=info.cluster_name, task=task, reason="ecs-autoscale stop (emergency stop)")
        echo(f"Stopped {len(tasks)} task(s); their videos return to the queue.")

    asg.update_auto_scaling_group(AutoScalingGroupName=info.autoscaling_group_name, MinSize=0, MaxSize=0,
                                  DesiredCapacity=0)
    instances = _group_instances(asg, info)
    protected = [i["InstanceId"] for i in instances if i.get("ProtectedFromScaleIn")]
    unprotect_instances(asg, info.autoscaling_group_name, protected)
    if protected:
        # The group only re-evaluates protected instances on its next change: ask again.
        asg.set_desired_capacity(AutoScalingGroupName=info.autoscaling_group_name, DesiredCapacity=0)
    echo(f"Auto Scaling group {info.autoscaling_group_name}: max 0 (was {record['asg']['max']}), "
         f"{len(instances)} instance(s) terminating" + (f", {len(protected)} unprotected first." if protected else "."))
    return record


def resume_stack(aws, info: StackInfo, stack_dir: Path,
                 echo: Callable[[str], None] = lambda _: None) -> Optional[dict]:
    """Undo `stop`: restore the recorded settings, then remove the record. None when not stopped."""
    record = read_stop_record(stack_dir)
    if record is None:
        record = _fallback_record(aws, info)
        if record is None:
            echo(f"{info.stack_name} is not stopped (instances allowed, task scaling active): nothing to resume.")
            return None
        echo("No stopped.json in STACK_DIR (stopped from elsewhere?): restoring the stack's defaults: "
             f"instances 0..{record['asg']['max']}, 0 tasks, queue-driven scaling on.")
    elif record.get("stack_name") != info.stack_name:
        raise JobsError(f"{stop_record_path(stack_dir)} belongs to stack {record.get('stack_name')!r}, not "
                        f"{info.stack_name!r} (use this stack's own STACK_DIR)")
    aas, ecs, asg = aws("application-autoscaling"), aws("ecs"), aws("autoscaling")
    g = record["asg"]
    asg.update_auto_scaling_group(AutoScalingGroupName=info.autoscaling_group_name, MinSize=g["min"],
                                  MaxSize=g["max"], DesiredCapacity=g["desired"])
    echo(f"Auto Scaling group {info.autoscaling_group_name}: min {g['min']}, max {g['max']}, desired {g['desired']}.")
    ecs.update_service(cluster=info.cluster_name, service=info.service_name, desiredCount=record["service_desired"])
    echo(f"Service {info.service_name}: desired tasks {record['service_desired']}.")
    target = record.get("scalable_target")
    if target is not None:
        aas.register_scalable_target(ServiceNamespace="ecs", ResourceId=info.scalable_target_id,
                                     ScalableDimension=DIMENSION, SuspendedState=target["suspended"])
        off = [k for k, v in target["suspended"].items() if v]
        echo("Queue-driven task scaling resumed." if not off else
             f"Task scaling restored as it was before the stop (still suspended: {', '.join(off)}).")
    stop_record_path(stack_dir).unlink(missing_ok=True)
    return record


def _fallback_record(aws, info: StackInfo) -> Optional[dict]:
    from .status import fleet_state, scaling_state

    target = scaling_state(aws("application-autoscaling"), info)
    fleet = fleet_state(aws("autoscaling"), info)
    if fleet is None:
        raise JobsError(f"Auto Scaling group {info.autoscaling_group_name} not found in {info.region}")
    if fleet["max"] > 0 and (target is None or not any(target["suspended"].values())):
        return None
    if target is None:
        raise JobsError(f"{info.stack_name}: no scalable target for {info.scalable_target_id}, so the fleet size "
                        "is unknown; redeploy with `ecs-autoscale deploy` to restore it")
    # One task per instance: the stack's instance maximum equals its task maximum (FleetSize).
    return {"stack_name": info.stack_name, "service_desired": 0,
            "asg": {"min": 0, "max": int(target["max"]), "desired": 0},
            "scalable_target": {"min": target["min"], "max": target["max"], "suspended": NOTHING_SUSPENDED}}


def _service_tasks(ecs, info: StackInfo) -> list[str]:
    tasks = []
    for status in ("RUNNING", "PENDING"):
        for page in ecs.get_paginator("list_tasks").paginate(cluster=info.cluster_name, serviceName=info.service_name,
                                                              desiredStatus=status):
            tasks += page.get("taskArns", [])
    return sorted(set(tasks))


def _unprotect_tasks(ecs, info: StackInfo, tasks: list[str]) -> str:
    """Clear scale-in protection; the problem met ('' if none). Best effort: StopTask ends a task
    whatever its protection (protection only blocks scale-in), so a failure here must not stop the stop."""
    problem = ""
    for start in range(0, len(tasks), 10):  # UpdateTaskProtection takes at most 10 tasks
        try:
            ecs.update_task_protection(cluster=info.cluster_name, tasks=tasks[start:start + 10],
                                       protectionEnabled=False)
        except Exception as exc:
            problem = error_code(exc) or type(exc).__name__
    return problem


def unprotect_instances(asg, group_name: str, instance_ids: list[str]) -> None:
    """Clear scale-in protection (set by ECS managed termination protection) so the group may terminate
    them; SetInstanceProtection takes at most 50 instances per call."""
    for start in range(0, len(instance_ids), 50):
        asg.set_instance_protection(AutoScalingGroupName=group_name, InstanceIds=instance_ids[start:start + 50],
                                    ProtectedFromScaleIn=False)


def _group_instances(asg, info: StackInfo) -> list[dict]:
    groups = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[info.autoscaling_group_name])["AutoScalingGroups"]
    return groups[0].get("Instances", []) if groups else []
