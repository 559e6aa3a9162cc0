"""What really happened to a job and what it cost, measured for `ecs-autoscale report` (report/ compares it
with `estimate`). This module reads and computes; it imports nothing of estimate/.

Read after the fact, from what AWS and the stack keep (nothing here changes anything):
- the job's ledger (job_state.py): when each video was queued, and when each finished (the results object's
  time, the failure message's send time);
- the Auto Scaling activity history (six weeks: EC2 Auto Scaling API Reference, DescribeScalingActivities,
  https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DescribeScalingActivities.html): when each
  instance was launched ("Launching a new EC2 instance: i-...") and when its termination started and ended
  ("Terminating EC2 instance: i-...");
- the instance agents' milestones in the stack's log group (kept for the group's retention, after the
  instances are gone; the contract is fleet_history.py's docstring): the instance's pending time, its boot,
  docker up, the image pull, ECS registration, the first worker task, idle, leaving (with the videos it cut).
A source that is missing or refused leaves its figures out, with one note saying why: `report` shows what it
has, and a job still running is reported as far as it got (open intervals end now).

Per-phase figures carry the names of `estimate --list-assumptions`, measured per instance:
  instance_pending_s   EC2 pending until running: the boot's start (now - uptime) - the IMDS pendingTime
  instance_boot_s      running until the ECS agent registered the instance
  docker_ready_s       running until docker first answered
  image_pull_s         the agent's pre-pull of the model image (its own duration)
  task_start_s         registered and image pulled until the first worker task RUNNING (ECS placement and
                       container start; the model download and GPU init that follow count in the video time)
  instance_shutdown_s  the termination activity, start to end
  warm_boot_s          a warm-pool instance's second boot until registered
as median and max over the job's instances. `--json` writes the medians under "assumptions", the form
`estimate --assume-from` reads, to plan the next job on these numbers.

GPU-instance hours are running time as EC2 bills it: from the boot (running) to the start of the
termination (shutting-down is not billed), at least one minute per start (EC2 User Guide, "Amazon EC2
instance state changes": pending, stopping, shutting-down and terminated are not billed; per-second billing
with a one-minute minimum), counted from the job's first message for an instance already running then.
Priced on-demand or spot as each instance was launched (its milestones say which), at the dated list
prices shipped in ecs_autoscale/data/prices.json (estimate/assumptions.py), named in the output.

Minutes per video (the estimate's main input) are reconstructed: the workers do not say when they start a
video, so each finish is paired with the task slot that was free longest (slots open at each instance's first
task, `tasks_per_instance` each) and the video that became visible first (queued + the queue's delay); a
video's time is its finish minus that start, and the median is taken. It is exact for similar videos in a
backlog and an upper bound otherwise; `--minutes-per-video` overrides it.
"""

from __future__ import annotations

import heapq
import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import error_code
from ..model.naming import StackNames
from . import JobsError
from .fleet_history import MIN_BILLED_S, PHASES, Instance, read_activities, read_milestones, t_of
from .job_state import JobState, parse_time, refreshed_jobs
from .ledger import DONE, FAILED

if TYPE_CHECKING:
    from ecs_autoscale.client.aws import AwsClients
    from ecs_autoscale.client.stack_info import StackInfo

LOOKBACK_S = 24 * 3600
"""Instances launched up to a day before the job's first message are looked at (one still running then counts)."""


# ---- the job's videos -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Videos:
    sent: list[float]
    """When each video was queued (sorted)."""
    finishes: list[tuple[float, str]]
    """(when, done|failed) of each finished video (sorted)."""
    total: int
    done: int
    failed: int

    @property
    def unfinished(self) -> int:
        return self.total - self.done - self.failed


def job_videos(job: JobState) -> Videos:
    sent, finishes = [], []
    for entry in job.videos.values():
        queued = parse_time(entry.get("sent_at"))
        if queued is not None:
            sent.append(queued.timestamp())
        finished = parse_time(entry.get("finished_at"))
        if finished is not None and entry.get("state") in (DONE, FAILED):
            finishes.append((finished.timestamp(), str(entry["state"])))
    states = [e.get("state") for e in job.videos.values()]
    return Videos(sorted(sent), sorted(finishes), len(states), states.count(DONE), states.count(FAILED))


def reconstruct_starts(videos: Videos, slots: list[float], delay_s: float) -> list[tuple[float, float, str]]:
    """(start, finish, state) of each finished video: the k-th finish paired with the slot free longest and
    the k-th video to become visible (see the module docstring). Without slots, a video starts when visible."""
    visible = [t + delay_s for t in videos.sent]
    free = list(slots)
    heapq.heapify(free)
    out = []
    for k, (finish, state) in enumerate(videos.finishes):
        start = visible[k] if k < len(visible) else visible[-1] if visible else finish
        if free:
            start = max(start, heapq.heappop(free))
            heapq.heappush(free, finish)
        out.append((min(start, finish), finish, state))
    return out


# ---- the report -----------------------------------------------------------------------------------------
@dataclass
class Measured:
    job: str
    stack_name: str
    region: str
    now: float
    t0: float
    """The job's first message: every "after" time counts from it."""
    videos: Videos
    instances: list[Instance]
    tasks_per_instance: int
    delay_s: float
    runs: list[tuple[float, float, str]]
    minutes_per_video: float | None
    minutes_source: str
    cut: int
    notes: list[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.videos.unfinished == 0 and self.videos.total > 0

    def after(self, moment: float | None) -> float | None:
        return None if moment is None else moment - self.t0

    @property
    def first_task_running_s(self) -> float | None:
        starts = [i.first_task for i in self.instances if i.first_task is not None]
        return self.after(min(starts)) if starts else None

    @property
    def first_video_started_s(self) -> float | None:
        return self.after(min(start for start, _, _ in self.runs)) if self.runs else None

    @property
    def all_done_s(self) -> float | None:
        return self.after(self.videos.finishes[-1][0]) if self.finished and self.videos.finishes else None

    @property
    def back_to_zero_s(self) -> float | None:
        if not self.finished or not self.instances:
            return None
        ends = [i.terminated or i.running_until for i in self.instances]
        return None if any(e is None for e in ends) else self.after(max(e for e in ends if e is not None))

    def intervals(self) -> list[tuple[float, float]]:
        return [(max(s, self.t0), e) for i in self.instances for s, e in i.billed_intervals(self.now) if e > self.t0]

    @property
    def peak_instances(self) -> int:
        changes = sorted([(s, 1) for s, _ in self.intervals()] + [(e, -1) for _, e in self.intervals()])
        running = peak = 0
        for _, step in changes:
            running += step
            peak = max(peak, running)
        return peak

    def billed_hours(self, instance: Instance) -> float:
        """Hours billed during the job: each start at least MIN_BILLED_S; an instance already running at the
        job's first message counts from then."""
        seconds = 0.0
        for start, end in instance.billed_intervals(self.now):
            if end > self.t0:
                seconds += max(MIN_BILLED_S, end - start) if start >= self.t0 else end - self.t0
        return seconds / 3600

    def phases(self) -> dict[str, dict[str, float | int]]:
        values: dict[str, list[float]] = {name: [] for name in PHASES}
        for instance in self.instances:
            for name, value in instance.phases().items():
                values[name].append(value)
        return {
            name: {"median": statistics.median(found), "max": max(found), "instances": len(found)}
            for name, found in values.items()
            if found
        }


def collect(
    aws: AwsClients,
    info: StackInfo,
    stack_dir: Path,
    job_name: str,
    minutes_per_video: float | None = None,
    now: float | None = None,
) -> Measured:
    """Everything `report` measured for one job (read-only)."""
    now = time.time() if now is None else now
    (job,), _ = refreshed_jobs(aws, info, stack_dir, [job_name])
    videos = job_videos(job)
    if not videos.sent:
        raise JobsError(f"job {job_name!r}: no video of it was queued yet (nothing to report)")
    t0 = videos.sent[0]
    notes: list[str] = []
    instances = _instances(aws, info, t0, now, notes)
    until = videos.finishes[-1][0] if videos.finishes and videos.unfinished == 0 else now
    mine = [
        i
        for i in instances.values()
        if (i.running_from or i.launched or now) <= until and (i.running_until is None or i.running_until > t0)
    ]
    delay = _queue_delay(aws, info, notes)
    slots = [
        max(i.first_task, t0) for i in mine if i.first_task is not None for _ in range(max(1, info.tasks_per_instance))
    ]
    runs = reconstruct_starts(videos, slots, delay)
    measured_minutes, source = _minutes(runs, slots, minutes_per_video)
    cut = sum(int(e.get("videos_cut") or 0) for i in mine for e in i.all("leaving"))
    _note_other_jobs(stack_dir, job_name, t0, until, notes)
    return Measured(
        job=job_name,
        stack_name=info.stack_name,
        region=info.region,
        now=now,
        t0=t0,
        videos=videos,
        instances=sorted(mine, key=lambda i: (i.running_from or i.launched or now, i.id)),
        tasks_per_instance=info.tasks_per_instance,
        delay_s=delay,
        runs=runs,
        minutes_per_video=measured_minutes,
        minutes_source=source,
        cut=cut,
        notes=notes,
    )


def _instances(aws: AwsClients, info: StackInfo, t0: float, now: float, notes: list[str]) -> dict[str, Instance]:
    since = t0 - LOOKBACK_S
    try:
        found = read_activities(aws("autoscaling"), info.autoscaling_group_name, since)
    except Exception as exc:
        found = {}
        notes.append(f"scaling activities not readable ({_why(exc)}): launch and termination times are missing")
    log_group = StackNames(info.stack_name).log_group
    try:
        milestones, skipped = read_milestones(aws("logs"), log_group, since, now)
    except Exception as exc:
        milestones, skipped = {}, 0
        notes.append(
            f"instance milestones in {log_group} not readable ({_why(exc)}): per-phase figures are missing "
            "(the client policy grants logs:FilterLogEvents on the log group)"
        )
    for instance_id, events in milestones.items():
        found.setdefault(instance_id, Instance(instance_id)).events = events
    if skipped:
        notes.append(
            f"{skipped} record(s) in {log_group} skipped: in a stream not named ecs-autoscale-agent/<instance id>, "
            "or naming another instance than their stream's (written by something other than that instance's agent)"
        )
    if found and not milestones:
        notes.append(f"no instance milestones in {log_group}: is the instance agent writing them?")
    return found


def _why(exc: Exception) -> str:
    code = error_code(exc)
    if not code:
        raise exc
    return code


def _queue_delay(aws: AwsClients, info: StackInfo, notes: list[str]) -> float:
    """The video queue's DelaySeconds: a video is visible to workers that long after it is queued."""
    try:
        attrs = aws("sqs").get_queue_attributes(QueueUrl=info.video_queue_url, AttributeNames=["DelaySeconds"])
        return float(attrs.get("Attributes", {}).get("DelaySeconds", 0))
    except Exception as exc:
        notes.append(f"the video queue's delay is not readable ({_why(exc)}): taken as 0")
        return 0.0


def _minutes(runs: list[tuple[float, float, str]], slots: list[float], given: float | None) -> tuple[float | None, str]:
    if given is not None:
        return given, "given with --minutes-per-video"
    durations = [finish - start for start, finish, state in runs if state == DONE]
    if not durations:
        return None, "no video done yet"
    how = "paired with the task slots free longest" if slots else "from visible to finished (no task milestones)"
    return statistics.median(durations) / 60, f"median of {len(durations)} done video(s), {how}"


def _note_other_jobs(stack_dir: Path, job_name: str, t0: float, until: float, notes: list[str]) -> None:
    from .ledger import list_jobs

    others = []
    for other in list_jobs(stack_dir):
        if other == job_name:
            continue
        sent = job_videos(JobState.load(stack_dir, other)).sent
        if any(t0 <= t <= until for t in sent):
            others.append(other)
    if others:
        notes.append(
            f"job(s) {', '.join(others)} queued videos on the same fleet meanwhile: instances, hours and cost "
            "are the fleet's over this job's time, shared with them"
        )


# ---- side by side with `estimate` ---------------------------------------------------------------------------
def measured_figures(m: Measured, prices: Any) -> dict[str, Any]:
    hours = [m.billed_hours(i) for i in m.instances]
    prices_found = [_price(prices, i) for i in m.instances]
    usd = [h * p for h, p in zip(hours, prices_found, strict=True) if p is not None]
    return {
        "first_task_running_s": m.first_task_running_s,
        "first_video_started_s": m.first_video_started_s,
        "all_done_s": m.all_done_s,
        "back_to_zero_s": m.back_to_zero_s,
        "peak_instances": m.peak_instances,
        "instances_launched": sum(1 for i in m.instances if (i.launched or i.running_from or 0) >= m.t0),
        "gpu_instance_hours": sum(hours),
        "instance_usd": sum(usd) if len(usd) == len(hours) else None,
        "videos_cut": m.cut,
        "minutes_per_video": m.minutes_per_video,
    }


def _price(prices: Any, instance: Instance) -> float | None:
    if instance.instance_type is None:
        return None
    hourly = prices.hourly(instance.instance_type, instance.lifecycle == "spot")
    return None if hourly is None else float(hourly)


def instance_json(m: Measured, i: Instance, prices: Any) -> dict[str, Any]:
    stamps = {name: iso(t_of(i.first(name))) for name in MILESTONES}
    return {
        "id": i.id,
        "instance_type": i.instance_type,
        "lifecycle": i.lifecycle,
        "launched": iso(i.launched),
        "running": iso(i.running_from),
        **stamps,
        "terminating": iso(i.terminating),
        "terminated": iso(i.terminated),
        "gpu_instance_hours": m.billed_hours(i),
        "usd_per_hour": _price(prices, i),
        "phases": i.phases(),
        "videos_cut": sum(int(e.get("videos_cut") or 0) for e in i.all("leaving")),
    }


MILESTONES = ("docker_up", "pull_finished", "registered", "first_task", "idle", "leaving")


def timeline(m: Measured) -> list[tuple[float, str]]:
    """(epoch, what) of the job, in time order."""
    out = [(m.t0, f"first of {m.videos.total} video(s) queued")]
    if len(m.videos.sent) > 1:
        out.append((m.videos.sent[-1], "last video queued"))
    for i in m.instances:
        out += _instance_lines(i)
    if m.runs:
        out.append((min(s for s, _, _ in m.runs), "first video started (reconstructed)"))
    if m.videos.finishes:
        out.append((m.videos.finishes[0][0], "first video finished"))
        if m.finished:
            out.append((m.videos.finishes[-1][0], "last video finished"))
    zero = m.back_to_zero_s
    if zero is not None:
        out.append((m.t0 + zero, "fleet back at zero instances"))
    return sorted(out, key=lambda item: item[0])


def _instance_lines(i: Instance) -> list[tuple[float, str]]:
    kind = " ".join(x for x in (i.instance_type, i.lifecycle) if x)
    out = []
    if i.launched is not None:
        out.append((i.launched, f"{i.id} launched" + (f" ({kind})" if kind else "")))
    for boot in i.boots():
        out.append((boot, f"{i.id} running (booting)"))
    labels = {
        "docker_up": "docker up",
        "pull_finished": "image pulled",
        "warmed": "warmed (stopped into the warm pool)",
        "registered": "registered with ECS",
        "first_task": "first worker task running",
        "idle": "workers idle",
        "leaving": "leaving",
        "halted": "halted the stack",
    }
    for name, label in labels.items():
        found = i.all(name)
        event = found[-1] if name in ("idle", "leaving") and found else i.first(name)  # the last idle counts
        if event is not None and t_of(event) is not None:
            detail = _detail(name, event)
            out.append((float(event["t"]), f"{i.id} {label}{detail}"))
    if i.terminated is not None:
        out.append((i.terminated, f"{i.id} terminated"))
    return out


def _detail(name: str, event: dict) -> str:
    if name == "pull_finished" and event.get("seconds") is not None:
        return f" ({float(event['seconds']):.0f} s{'' if event.get('ok', True) else ', FAILED'})"
    if name == "leaving":
        cut = int(event.get("videos_cut") or 0)
        return f" ({event.get('reason', '?')}{f', cut {cut} video(s)' if cut else ''})"
    if name == "halted":
        return f": {event.get('reason', '')}"
    return ""


def measured_series(m: Measured) -> list[tuple[float, int, int, int, int]]:
    """(seconds after t0, videos waiting, videos in progress, worker tasks, instances) at every change."""
    deltas: list[tuple[float, int, int, int, int]] = []
    for t in m.videos.sent:
        deltas.append((t, 1, 0, 0, 0))
    for start, finish, _ in m.runs:
        deltas += [(start, -1, 1, 0, 0), (finish, 0, -1, 0, 0)]
    for i in m.instances:
        end = i.running_until or m.now
        if i.first_task is not None:
            deltas += [(i.first_task, 0, 0, m.tasks_per_instance, 0), (end, 0, 0, -m.tasks_per_instance, 0)]
        for s, e in i.billed_intervals(m.now):
            deltas += [(s, 0, 0, 0, 1), (e, 0, 0, 0, -1)]
    series: list[tuple[float, int, int, int, int]] = []
    state = [0, 0, 0, 0]
    for t, *change in sorted(deltas, key=lambda d: d[0]):
        state = [max(0, a + b) for a, b in zip(state, change, strict=True)]
        point = (t - m.t0, state[0], state[1], state[2], state[3])
        if series and series[-1][0] == point[0]:
            series[-1] = point
        else:
            series.append(point)
    return series


def iso(moment: float | None) -> str | None:
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
