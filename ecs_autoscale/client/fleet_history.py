"""What AWS and the instance agents recorded about a stack's GPU instances, read after the fact for `report`.

- The group's scaling activities (kept six weeks): "Launching a new EC2 instance: i-..." (StartTime: the
  launch) and "Terminating EC2 instance: i-..." (StartTime: the termination starts, EndTime: terminated).
  EC2 Auto Scaling API Reference, DescribeScalingActivities:
  https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DescribeScalingActivities.html
- The instance agents' milestones: one JSON object per log event in the stack's log group, stream
  ecs-autoscale-agent/<instance id> (the contract: notes/milestones.md; the events: agent_started with the
  boot time, docker_up, pull_started / pull_finished, warmed, registered, first_task, idle, leaving, halted,
  each with the instance's type, lifecycle and EC2 pendingTime). Missing events are possible: an instance
  shows what it has.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

AGENT_STREAM_PREFIX = "ecs-autoscale-agent/"
"""The agents' log streams: ecs-autoscale-agent/<instance id> (notes/milestones.md)."""
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
        return [float(e["boot_time"]) for e in self.all("agent_started") if e.get("boot_time") is not None]

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


def read_milestones(logs: Any, log_group: str, since: float, until: float) -> dict[str, list[dict]]:
    """{instance id: its milestone events, in time order} from the agents' log streams."""
    found: dict[str, list[dict]] = {}
    pages = logs.get_paginator("filter_log_events").paginate(
        logGroupName=log_group,
        logStreamNamePrefix=AGENT_STREAM_PREFIX,
        startTime=int(since * 1000),
        endTime=int(until * 1000) + 1,
    )
    for page in pages:
        for event in page.get("events", []):
            if not str(event.get("logStreamName", "")).startswith(AGENT_STREAM_PREFIX):
                continue
            try:
                record = json.loads(event.get("message", ""))
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("event") and record.get("t") is not None:
                stream_id = str(event["logStreamName"])[len(AGENT_STREAM_PREFIX) :]
                found.setdefault(str(record.get("instance_id") or stream_id), []).append(record)
    for events in found.values():
        events.sort(key=lambda e: float(e["t"]))
    return found
