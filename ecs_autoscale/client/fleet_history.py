"""What AWS and the instance agents recorded about a stack's GPU instances, read after the fact for `report`.

- The group's scaling activities (kept six weeks): "Launching a new EC2 instance: i-..." (StartTime: the
  launch) and "Terminating EC2 instance: i-..." (StartTime: the termination starts, EndTime: terminated).
  EC2 Auto Scaling API Reference, DescribeScalingActivities:
  https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DescribeScalingActivities.html
- The instance agents' milestones, under the contract below. Missing events are possible: an instance shows
  what it has.

The milestone contract (this docstring is where it is kept; the agent's `Agent.milestone` writes it)
-------------------------------------------------------------------------------------------------------
Writer: the instance agent (ecs_autoscale/agent/instance_agent.py), one per GPU instance, best effort (a
record it cannot write is logged on the instance and skipped: never in the way of scaling). The instance
role may only create log streams and put events in the stack's log group.
Reader: `ecs-autoscale report` (read_milestones below, then Instance, then client/measure.py), with
logs:FilterLogEvents on that log group (the client policy), after the instance is gone, for the log group's
retention.
Where: log group /ecs/<StackName> (StackNames.log_group), stream `ecs-autoscale-agent/<instance id>`
(AGENT_STREAM_PREFIX + the id the instance's identity document gives). One JSON object per log event; the
event's timestamp is the record's `t` in milliseconds.
Every record: `event` (below), `t` (epoch seconds when written), and the instance's facts from IMDS:
`instance_id`, `instance_type`, `lifecycle` ("on-demand" or "spot": meta-data/instance-life-cycle) and
`pending_time` (epoch seconds: the identity document's pendingTime, when EC2 put it in pending).
The events, in the order an instance meets them, with their own fields:
  agent_started  the agent (re)started: `boot_time` (epoch seconds: now - /proc/uptime; null if unreadable),
                 `target_state` (IMDS autoscaling/target-lifecycle-state, or null). Once per agent start: a
                 warm-pool instance has two boots, a restarted agent two records of the same boot.
  docker_up      docker first answered `docker info`.
  pull_started   the pre-pull of the model image began: `image`.
  pull_finished  it ended: `image`, `seconds` (its duration), `ok` (docker pull's exit was 0).
  warmed         a warm-pool instance is prepared and leaves to the pool (stopped) until the group needs it.
  registered     the ECS agent reports the container instance: `container_instance_arn`. Once per start.
  first_task     a worker task of the stack's families is RUNNING here: `task_arn`. Once per start.
  idle           the workers were found quiet just before leaving: `since` (epoch seconds the idle clock
                 started; null if it was not running, e.g. the group sent the instance away).
  leaving        the instance is released: `reason` ("idle": the agent terminated it, desired capacity -1;
                 "group": the group terminates it and the agent completed the termination hook),
                 `videos_cut` (busy workers it left behind; report sums it as videos cut).
  halted         the agent halted the stack (workers cannot take videos): `reason`.
Trust: any holder of the instance role can write any stream of the log group, so the reader takes the
instance id from the stream name only, skips streams not named `ecs-autoscale-agent/i-<hex>`, and skips
records whose own `instance_id` names another instance (read_milestones counts what it skipped). A record
of an instance about itself is still only as true as that instance.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

AGENT_STREAM_PREFIX = "ecs-autoscale-agent/"
"""The agents' log streams: ecs-autoscale-agent/<instance id> (the milestone contract above)."""
SAME_BOOT_S = 5.0
"""Boot times closer than this are one boot: a stop and start of an instance takes longer."""
MIN_BILLED_S = 60
"""EC2 bills a Linux instance per second with a one-minute minimum each time it starts."""
PHASES = (
    "instance_pending_s",
    "instance_boot_s",
    "docker_ready_s",
    "image_pull_s",
    "task_start_s",
    "instance_shutdown_s",
    "warm_boot_s",
)
_INSTANCE_ID = re.compile(r"\b(i-[0-9a-f]{8,17})\b")
_AGENT_STREAM = re.compile(re.escape(AGENT_STREAM_PREFIX) + r"(i-[0-9a-f]{8,17})")


@dataclass
class Instance:
    """One GPU instance: its activities and milestones (epoch seconds)."""

    id: str
    launched: float | None = None
    terminating: float | None = None
    """The termination activity's start: EC2 stops billing at shutting-down."""
    terminated: float | None = None
    events: list[dict] = field(default_factory=list)

    def first(self, name: str) -> dict | None:
        return next((e for e in self.events if e.get("event") == name), None)

    def all(self, name: str) -> list[dict]:
        return [e for e in self.events if e.get("event") == name]

    def value(self, name: str) -> Any:
        return next((e[name] for e in self.events if e.get(name) is not None), None)

    @property
    def instance_type(self) -> str | None:
        value = self.value("instance_type")
        return str(value) if value else None

    @property
    def lifecycle(self) -> str | None:
        value = self.value("lifecycle")
        return str(value) if value else None

    def boots(self) -> list[float]:
        """Each boot once: a restarted agent records the boot it runs in again (now - uptime, to within the
        clock's jitter)."""
        found: list[float] = []
        for boot in sorted(float(e["boot_time"]) for e in self.all("agent_started") if _number(e.get("boot_time"))):
            if not found or boot - found[-1] > SAME_BOOT_S:
                found.append(boot)
        return found

    @property
    def first_task(self) -> float | None:
        return t_of(self.first("first_task"))

    @property
    def running_from(self) -> float | None:
        """When EC2 started billing: the first boot; the launch activity when the agent never wrote."""
        boots = self.boots()
        return min(boots) if boots else self.launched

    @property
    def running_until(self) -> float | None:
        """None: still running. The termination's start, else the agent's `leaving` (no activity seen)."""
        if self.terminating is not None:
            return self.terminating
        leaving = self.all("leaving")
        return t_of(leaving[-1]) if leaving else None

    def billed_intervals(self, now: float) -> list[tuple[float, float]]:
        """Running intervals (a warm-pool instance runs twice: prepared, then stopped, then started)."""
        start = self.running_from
        if start is None:
            return []
        end = self.running_until or now
        warmed = t_of(self.first("warmed"))
        boots = sorted(self.boots())
        if warmed is not None and len(boots) > 1 and boots[0] <= warmed <= boots[1]:
            return [(boots[0], warmed), (boots[1], max(boots[1], end))]
        return [(start, max(start, end))]

    def phases(self) -> dict[str, float]:
        boots = sorted(self.boots())
        found: dict[str, float] = {}
        pending = self.value("pending_time")
        registered = t_of(self.first("registered"))
        docker = t_of(self.first("docker_up"))
        pulled = self.first("pull_finished")
        if boots and pending is not None:
            found["instance_pending_s"] = boots[0] - float(pending)
        if boots and registered is not None and not self.first("warmed"):
            found["instance_boot_s"] = registered - boots[0]
        if boots and docker is not None:
            found["docker_ready_s"] = docker - boots[0]
        if pulled and pulled.get("ok") and pulled.get("seconds") is not None:
            found["image_pull_s"] = float(pulled["seconds"])
        ready = max(x for x in (registered, t_of(pulled)) if x is not None) if registered is not None else None
        if ready is not None and self.first_task is not None:
            found["task_start_s"] = self.first_task - ready
        if self.terminating is not None and self.terminated is not None:
            found["instance_shutdown_s"] = self.terminated - self.terminating
        if self.first("warmed") and len(boots) > 1 and registered is not None:
            found["warm_boot_s"] = registered - boots[1]
        return {name: max(0.0, value) for name, value in found.items()}


def t_of(event: dict | None) -> float | None:
    return float(event["t"]) if event and event.get("t") is not None else None


def _epoch(moment: Any) -> float | None:
    return moment.timestamp() if isinstance(moment, datetime) else None


def read_activities(autoscaling: Any, group: str, since: float) -> dict[str, Instance]:
    """Instances launched or terminated since `since`, from the group's activity history (newest first)."""
    found: dict[str, Instance] = {}
    for page in autoscaling.get_paginator("describe_scaling_activities").paginate(AutoScalingGroupName=group):
        activities = page.get("Activities", [])
        for activity in activities:
            _record_activity(found, activity)
        if activities and all((_epoch(a.get("StartTime")) or 0) < since for a in activities):
            break  # older than the job: the rest is older still
    return found


def _record_activity(found: dict[str, Instance], activity: dict) -> None:
    description = str(activity.get("Description", ""))
    match = _INSTANCE_ID.search(description)
    if not match:
        return
    instance = found.setdefault(match[1], Instance(match[1]))
    start, end = _epoch(activity.get("StartTime")), _epoch(activity.get("EndTime"))
    if description.startswith("Launching") and "into warm pool" not in description:
        instance.launched = start if instance.launched is None else min(instance.launched, start or instance.launched)
    elif description.startswith("Terminating"):
        instance.terminating, instance.terminated = start, end


def read_milestones(logs: Any, log_group: str, since: float, until: float) -> tuple[dict[str, list[dict]], int]:
    """({instance id: its milestone events, in time order}, records skipped) from the agents' log streams.

    The instance is the one the stream is named after (see the contract's Trust): a stream not named
    ecs-autoscale-agent/i-<hex>, and a record whose `instance_id` names another instance, are skipped and
    counted; a record that is not a milestone (not JSON, no event or time) is skipped silently."""
    found: dict[str, list[dict]] = {}
    skipped = 0
    pages = logs.get_paginator("filter_log_events").paginate(
        logGroupName=log_group,
        logStreamNamePrefix=AGENT_STREAM_PREFIX,
        startTime=int(since * 1000),
        endTime=int(until * 1000) + 1,
    )
    for page in pages:
        for event in page.get("events", []):
            stream = _AGENT_STREAM.fullmatch(str(event.get("logStreamName", "")))
            try:
                record = json.loads(event.get("message", ""))
            except ValueError:
                continue
            if not isinstance(record, dict) or not record.get("event") or not _number(record.get("t")):
                continue
            if stream is None or record.get("instance_id") not in (None, stream[1]):
                skipped += 1
                continue
            found.setdefault(stream[1], []).append(record)
    for events in found.values():
        events.sort(key=lambda e: float(e["t"]))
    return found, skipped


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
