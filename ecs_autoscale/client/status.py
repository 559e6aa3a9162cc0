"""What a stack is doing: why nothing runs (if so), queues, workers, instances, alarms, and each video of a job.

Read-only, and robust: a section AWS will not show (missing resource, no permission) is one line in
the output, never a failure of the whole command. The jobs' states come from job_state.py (which
documents them), the queue reads from queues.py: this module only gathers and presents.

Jobs sent by deepsea-ai's `ecsprocess` are read from its local job cache into the ledger first
(deepsea_cache.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import error_code
from ..group import read_group
from ..model.naming import ALARM_PURPOSES
from ..model.scaling_design import STUCK_MINUTES
from ..stack_dir import StackDir
from .job_state import job_reports, select_jobs
from .queues import queue_depth
from .stack_info import StackInfo

if TYPE_CHECKING:
    from ecs_autoscale.client.aws import AwsClients
    from ecs_autoscale.client.deepsea_cache import DeepseaCache


# ---- the stack ------------------------------------------------------------------------------------------
def tasks_state(ecs: Any, info: StackInfo) -> dict:
    """Worker tasks of the daemon services, summed, with the services ECS does not know."""
    names = list(info.services)
    found = {}
    for start in range(0, len(names), 10):  # DescribeServices takes at most 10
        for s in ecs.describe_services(cluster=info.cluster_name, services=names[start : start + 10]).get(
            "services", []
        ):
            found[s["serviceName"]] = s
    active = [found[n] for n in names if found.get(n, {}).get("status") == "ACTIVE"]
    return {
        "running": sum(s.get("runningCount", 0) for s in active),
        "pending": sum(s.get("pendingCount", 0) for s in active),
        "services": len(active),
        "missing": [n for n in names if n not in {s["serviceName"] for s in active}],
    }


def fleet_state(autoscaling: Any, info: StackInfo) -> dict | None:
    """The group's limits, halted tag, instances (with counts by lifecycle state) and warm pool."""
    group = read_group(autoscaling, info.autoscaling_group_name)
    if group is None:
        return None
    instances = [
        {
            "id": i["InstanceId"],
            "state": i["LifecycleState"],
            "health": i.get("HealthStatus"),
            "protected": bool(i.get("ProtectedFromScaleIn")),
            "type": i.get("InstanceType"),
            "zone": i.get("AvailabilityZone"),
        }
        for i in group.instances
    ]
    return {
        "min": group.min,
        "max": group.max,
        "desired": group.desired,
        "halted": group.halted,
        "by_state": _count(i["state"] for i in instances),
        "instances": instances,
        "warm_pool": _section(lambda: warm_pool_state(autoscaling, group.name)),
    }


def warm_pool_state(autoscaling: Any, group_name: str) -> dict | None:
    """None when the group has no warm pool."""
    pages = autoscaling.get_paginator("describe_warm_pool").paginate(AutoScalingGroupName=group_name)
    config, instances = None, []
    for page in pages:
        config = config or page.get("WarmPoolConfiguration")
        instances += page.get("Instances", [])
    if not config:
        return None
    return {
        "state": config.get("PoolState"),
        "min": config.get("MinSize", 0),
        "max_prepared": config.get("MaxGroupPreparedCapacity"),
        "by_state": _count(i.get("LifecycleState", "?") for i in instances),
    }


def alarm_states(cloudwatch: Any, info: StackInfo) -> dict:
    """{alarm name: {state, reason, since}} of the stack's alarms; a missing one is None."""
    names = [f"{info.alarm_prefix}-{purpose}" for purpose in ALARM_PURPOSES]
    found = {a["AlarmName"]: a for a in cloudwatch.describe_alarms(AlarmNames=names).get("MetricAlarms", [])}
    return {
        name: (
            {
                "state": found[name].get("StateValue"),
                "reason": found[name].get("StateReason", ""),
                "since": _iso(found[name].get("StateUpdatedTimestamp")),
            }
            if name in found
            else None
        )
        for name in names
    }


def recent_activities(autoscaling: Any, info: StackInfo, count: int = 5) -> list[dict]:
    """Latest scaling activities of the group, newest first."""
    activities = autoscaling.describe_scaling_activities(
        AutoScalingGroupName=info.autoscaling_group_name, MaxRecords=count
    )["Activities"]
    return [
        {
            "time": _iso(a.get("StartTime")),
            "status": a.get("StatusCode"),
            "description": a.get("Description", ""),
            "cause": a.get("Cause", ""),
        }
        for a in activities[:count]
    ]


def attention(info: StackInfo, stack_dir: Path, fleet: dict, alarms: dict, stopped: dict | None) -> list[str]:
    """Why nothing runs, with the fix: the lines `status` shows first."""
    lines = []
    if isinstance(fleet, dict) and fleet.get("halted") is not None:
        lines.append(
            f"HALTED by an instance agent: {fleet['halted']}. Workers could not take videos: check the "
            f"image and model files and the log group /ecs/{info.stack_name}, then "
            f"`ecs-autoscale resume {stack_dir}`."
        )
    states = alarms if isinstance(alarms, dict) else {}
    not_taken, stuck = (states.get(f"{info.alarm_prefix}-{p}") for p in ("videos-not-taken", "videos-stuck"))
    if isinstance(not_taken, dict) and not_taken.get("state") == "ALARM":
        lines.append(
            f"VIDEOS NOT TAKEN since {not_taken['since']}: the oldest video has waited {STUCK_MINUTES} min or "
            "more and no worker is taking one, so no alarm adds instances. Unless the stack is stopped or halted "
            f"(below), check the image and model files and the log group /ecs/{info.stack_name}, and the "
            f"GPU vCPU quota (`ecs-autoscale doctor CONFIG`); then `ecs-autoscale resume {stack_dir}` "
            "launches what the queued videos need."
        )
    if isinstance(stuck, dict) and stuck.get("state") == "ALARM":
        lines.append(
            f"VIDEOS STUCK since {stuck['since']}: {stuck['reason']} The alarm sets the group to 0: check "
            f"the image and model files and the log group /ecs/{info.stack_name}, then "
            f"`ecs-autoscale resume {stack_dir}`."
        )
    if stopped:
        lines.append(
            f"STOPPED since {stopped['since']} by `ecs-autoscale stop`; undo with `ecs-autoscale resume {stack_dir}`."
        )
    elif isinstance(fleet, dict) and fleet.get("max") == 0 and fleet.get("halted") is None:
        lines.append(
            f"STOPPED: the group's maximum is 0 (stopped from elsewhere?); `ecs-autoscale resume "
            f"{stack_dir}` sets it back to FleetSize."
        )
    return lines


def _count(states: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for state in states:
        counts[state] = counts.get(state, 0) + 1
    return counts


def _section(read: Any) -> Any:
    """What `read()` returns, or {"error": ...} when AWS refuses: status shows what it can."""
    try:
        return read()
    except Exception as exc:  # informational: never fail the whole status for one section
        return {"error": _why(exc)}


def _why(exc: Exception) -> str:
    return f"not readable ({error_code(exc) or type(exc).__name__})"


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value or "")


def collect_status(
    aws: AwsClients, info: StackInfo, stack_dir: Path, job: str | None = None, deepsea: DeepseaCache | None = None
) -> dict:
    """Everything `status` shows, as one JSON-ready dict (a section AWS refuses is {"error": ...};
    `deepsea`: a DeepseaCache to read jobs from)."""
    from .deepsea_cache import sync_deepsea_jobs

    sync_deepsea_jobs(aws, info, stack_dir, deepsea, None if job is None else [job])
    sqs = aws("sqs")
    queues = {
        "video": queue_depth(sqs, info.video_queue_url),
        "track": queue_depth(sqs, info.track_queue_url),
        "dead": queue_depth(sqs, info.dead_queue_url),
    }
    stop_record = StackDir(stack_dir).read_stop_record()
    stopped = {"since": stop_record.get("stopped_at", "?")} if stop_record else None
    fleet = _section(lambda: fleet_state(aws("autoscaling"), info))
    alarms = _section(lambda: alarm_states(aws("cloudwatch"), info))
    return {
        "stack_name": info.stack_name,
        "region": info.region,
        "time": _iso(datetime.now(timezone.utc)),
        "attention": attention(info, stack_dir, fleet, alarms, stopped),
        "stopped": stopped,
        "queues": queues,
        "tasks": _section(lambda: tasks_state(aws("ecs"), info)),
        "fleet": fleet,
        "alarms": alarms,
        "activities": _section(lambda: recent_activities(aws("autoscaling"), info)),
        "jobs": job_reports(aws, info, stack_dir, select_jobs(stack_dir, job), queues["video"]),
    }
