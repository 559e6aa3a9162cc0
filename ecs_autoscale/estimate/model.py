"""Discrete-event model of one stack processing one workload, to the second.

The world: the SQS video queue (visible and in-flight messages, receive counts, visibility timeout,
dead-letter queue after MaxReceiveCount receives), the ECS service (desired count; tasks waiting for
an instance, starting, idle, busy, stopping; one task per instance), EC2 instances (pending, booting,
registered, shutting down) and the per-minute CloudWatch samples every alarm reads. Who changes the
desired count and the instance count, and when, is a pluggable rule set (`scaling.py`): this stack's,
read from `ScalingDesign`, or the original stack's. Deterministic: same inputs, same timeline.

Not modelled: spot interruptions, EC2 capacity shortages, a worker that extends its visibility timeout
or protects its task from scale-in, upload time before a video is queued.
"""
from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass
from typing import Callable, Optional, Protocol

from .assumptions import Assumptions
from .workload import Workload

TICK_S = 60
"""SQS and the ECS capacity provider publish one datapoint a minute; alarms evaluate once a minute."""
MAX_SIMULATED_S = 400 * 24 * 3600
FOREVER = 10**9
"""Run length before the workload starts: the stack idled at zero for as long as any alarm looks back."""


class ModelError(RuntimeError):
    """The workload never settles (e.g. an impossible configuration); one line."""


@dataclass(eq=False)
class Video:
    id: int
    arrival: float
    state: str = "not yet sent"  # -> visible -> in_flight -> done | dead
    receives: int = 0
    received_at: float = 0.0
    first_start: Optional[float] = None
    finished: Optional[float] = None


@dataclass(eq=False)
class Instance:
    id: int
    launched: float
    billed_from: float
    registered: Optional[float] = None
    task: Optional["Task"] = None
    image_cached: bool = False
    ended: Optional[float] = None  # termination started: billing stops
    busy_s: float = 0.0


@dataclass(eq=False)
class Task:
    id: int
    state: str = "new"  # -> provisioning (waiting for an instance) -> starting -> idle <-> busy -> stopping -> stopped
    instance: Optional[Instance] = None
    video: Optional[Video] = None
    busy_since: float = 0.0
    attempt: int = 0


@dataclass(frozen=True)
class Sample:
    """One minute's datapoint of every metric an alarm reads."""

    visible: int = 0
    in_flight: int = 0
    desired: int = 0
    """The service's desired task count (Container Insights DesiredTaskCount)."""
    needed: int = 0
    """Instances needed (ECS 'M'): instances running a task plus tasks waiting for an instance."""
    instances: int = 0
    """Instances in the group (ECS 'N'), booting ones included."""
    missing: bool = False
    """SQS not publishing yet (an inactive queue waking up)."""


def reservation_percent(s: Sample) -> float:
    """ECS CapacityProviderReservation: M / N * 100, with ECS's 200 for 'tasks wait, no instance'."""
    if s.instances == 0:
        return 200.0 if s.needed > 0 else 100.0
    return 100.0 * s.needed / s.instances


class MetricHistory:
    """Per-minute samples plus run lengths, so 'the last N datapoints all breach' is O(1)."""

    RUNS = ("idle", "no_visible", "below_target")

    def __init__(self, target_percent: float) -> None:
        self.target_percent = target_percent
        self.samples: list[Sample] = []
        self._runs: dict[str, list[int]] = {name: [] for name in self.RUNS}
        self._visible_sum = [0]

    def add(self, s: Sample) -> None:
        checks = {
            # missing data counts as idle: the scale-in alarm treats missing data as breaching
            "idle": s.missing or s.visible + s.in_flight == 0,
            "no_visible": s.visible == 0,
            "below_target": reservation_percent(s) < self.target_percent,
        }
        for name, ok in checks.items():
            runs = self._runs[name]
            runs.append((self.run(name, len(runs) - 1) + 1) if ok else 0)
        self._visible_sum.append(self._visible_sum[-1] + s.visible)
        self.samples.append(s)

    def latest(self, now: float, delay: float) -> int:
        """Index of the newest sample an alarm can read at `now`; -1: only the idle time before t=0."""
        index = math.floor((now - delay) / TICK_S + 1e-9)
        return min(index, len(self.samples) - 1)

    def sample(self, i: int) -> Sample:
        return self.samples[i] if i >= 0 else Sample()

    def run(self, name: str, i: int) -> int:
        if i < 0:
            return FOREVER if name in ("idle", "no_visible") else 0
        return self._runs[name][i]

    def maximum(self, metric: str, i: int, count: int) -> int:
        """Maximum statistic of `metric` over the `count` samples ending at i (0 before t=0)."""
        return max((getattr(self.sample(j), metric) for j in range(i - count + 1, i + 1)), default=0)

    def mean_visible(self, i: int, count: int) -> float:
        """Average of the last `count` samples (before t=0 the queue was empty)."""
        if i < 0:
            return 0.0
        start = max(0, i - count + 1)
        return (self._visible_sum[i + 1] - self._visible_sum[start]) / count


class ScalingRules(Protocol):
    label: str

    def on_tick(self, sim: "Simulation") -> None: ...

    def settled(self, sim: "Simulation") -> bool: ...


@dataclass(frozen=True)
class LogEvent:
    t: float
    kind: str
    text: str


@dataclass(frozen=True)
class QueueSettings:
    visibility_timeout_s: float
    max_receive_count: int


@dataclass
class Outcome:
    """What one simulated run measured; times are seconds after the first video was queued."""

    label: str
    events: list[LogEvent]
    series: list[tuple[float, int, int, int, int, int]]
    """(t, visible, in flight, desired tasks, running tasks, instances) at every change."""
    first_task_running_s: Optional[float]
    all_done_s: float
    back_to_zero_s: Optional[float]
    instance_seconds: float
    busy_seconds: float
    peak_instances: int
    peak_tasks: int
    instances_launched: int
    videos_done: int
    videos_dead: int
    receives: int
    repeat_receives: int
    """Receives beyond each video's first: retries after a visibility timeout."""
    expired_receives: int
    interrupted: int
    wait_mean_s: float
    wait_max_s: float

    @property
    def idle_seconds(self) -> float:
        return max(0.0, self.instance_seconds - self.busy_seconds)


class Simulation:
    def __init__(self, workload: Workload, queue: QueueSettings, fleet_size: int, assumptions: Assumptions,
                 rules: ScalingRules, *, target_percent: float, stop_timeout_s: float) -> None:
        self.workload = workload
        self.queue = queue
        self.fleet_size = fleet_size
        self.a = assumptions
        self.rules = rules
        self.stop_timeout_s = stop_timeout_s
        self.now = 0.0
        self.history = MetricHistory(target_percent)
        self.videos = [Video(i + 1, t) for i, t in enumerate(workload.arrival_times())]
        self.visible: deque[Video] = deque()
        self.in_flight = 0
        self.desired = 0
        self.tasks: list[Task] = []
        self.provisioning: deque[Task] = deque()
        self.idle_tasks: deque[Task] = deque()
        self.task_counts = {"provisioning": 0, "starting": 0, "idle": 0, "busy": 0, "stopping": 0}
        self.alive: dict[int, Instance] = {}
        self.all_instances: list[Instance] = []
        self.events: list[LogEvent] = []
        self.series: list[tuple[float, int, int, int, int, int]] = []
        self._heap: list = []
        self._seq = 0
        self._unsettled_videos = len(self.videos)
        self.first_task_running: Optional[float] = None
        self.back_to_zero: Optional[float] = None
        self.expired_receives = 0
        self.interrupted = 0

    # --- event queue ----------------------------------------------------------------------------
    def at(self, t: float, fn: Callable, *args, first: bool = False) -> None:
        """Schedule fn(*args) at t; `first` runs before other events of the same instant (minute ticks
        sample the state as it was when the minute ended)."""
        self._seq += 1
        heapq.heappush(self._heap, (t, 0 if first else 1, self._seq, fn, args))

    def after(self, delay: float, fn: Callable, *args) -> None:
        self.at(self.now + delay, fn, *args)

    def log(self, kind: str, text: str) -> None:
        self.events.append(LogEvent(self.now, kind, text))

    def run(self) -> Outcome:
        self._schedule_arrivals()
        self.at(0.0, self._tick, first=True)
        while self._heap:
            t, _, _, fn, args = heapq.heappop(self._heap)
            if t > MAX_SIMULATED_S:
                raise ModelError(f"{self.rules.label}: the workload did not settle within "
                                 f"{MAX_SIMULATED_S // 86400} simulated days; check --minutes-per-video and TimeoutHours")
            self.now = t
            fn(*args)
            self._record()
        return self._outcome()

    def _schedule_arrivals(self) -> None:
        w = self.workload
        if w.spread_hours == 0:
            self.log("queue", f"{w.videos} video{'s' if w.videos > 1 else ''} queued")
        else:
            gap = w.spread_hours * 60 / w.videos
            self.log("queue", f"first of {w.videos} videos queued (one every {gap:.1f} min)")
        for video in self.videos:
            self.at(video.arrival, self._arrive, video)

    # --- metrics and scaling rules ---------------------------------------------------------------
    def needed_instances(self) -> int:
        c = self.task_counts
        return c["provisioning"] + c["starting"] + c["idle"] + c["busy"] + c["stopping"]

    def _tick(self) -> None:
        self.history.add(Sample(
            visible=len(self.visible), in_flight=self.in_flight, desired=self.desired, needed=self.needed_instances(),
            instances=len(self.alive), missing=self.now < self.a.sqs_inactive_wakeup_s))
        self.rules.on_tick(self)
        if self._unsettled_videos or not self.rules.settled(self):
            self.at(self.now + TICK_S, self._tick, first=True)

    # --- the ECS service -------------------------------------------------------------------------
    def set_desired(self, count: int, reason: str) -> None:
        count = max(0, min(count, self.fleet_size))
        if count == self.desired:
            return
        self.log("scale", f"{reason}: tasks {self.desired} -> {count}")
        self.desired = count
        self._reconcile()

    def _set_state(self, task: Task, state: str) -> None:
        if task.state in self.task_counts:
            self.task_counts[task.state] -= 1
        task.state = state
        if state in self.task_counts:
            self.task_counts[state] += 1

    def _reconcile(self) -> None:
        """ECS service scheduler: as many tasks as desired; stop the least useful ones first."""
        active = [t for t in self.tasks if t.state in ("provisioning", "starting", "idle", "busy")]
        for _ in range(self.desired - len(active)):
            task = Task(len(self.tasks) + 1)
            self.tasks.append(task)
            self._set_state(task, "provisioning")
            self.provisioning.append(task)
        if len(active) > self.desired:
            order = {"provisioning": 0, "starting": 1, "idle": 2, "busy": 3}
            for task in sorted(active, key=lambda t: (order[t.state], -t.id))[:len(active) - self.desired]:
                self._stop(task)
        self._place()

    def _stop(self, task: Task) -> None:
        if task.state == "provisioning":
            self.provisioning.remove(task)
            self._set_state(task, "stopped")
            return
        if task.state == "busy":
            self._abort_video(task)
        self._set_state(task, "stopping")
        # a worker running as PID 1 without a SIGTERM handler is killed only at the container's stopTimeout
        self.after(self.stop_timeout_s, self._task_stopped, task)

    def _abort_video(self, task: Task) -> None:
        """The video stays in flight until its visibility timeout, then another task retries it."""
        task.instance.busy_s += self.now - task.busy_since
        self.interrupted += 1
        self.log("video", f"video {task.video.id} interrupted mid-run; retried after the visibility timeout")
        task.video = None
        task.attempt += 1

    def _task_stopped(self, task: Task) -> None:
        self._set_state(task, "stopped")
        instance = task.instance
        if instance is not None and instance.task is task:
            instance.task = None
        self._place()

    def _place(self) -> None:
        """distinctInstance: one task per registered instance without a task."""
        if not self.provisioning:
            return
        for instance in sorted(self.alive.values(), key=lambda i: i.id):
            if not self.provisioning:
                break
            if instance.registered is None or instance.task is not None:
                continue
            task = self.provisioning.popleft()
            task.instance = instance
            instance.task = task
            self._set_state(task, "starting")
            pull = 0.0 if instance.image_cached else self.a.image_pull_s
            self.after(pull + self.a.task_start_s, self._task_ready, task)

    def _task_ready(self, task: Task) -> None:
        if task.state != "starting":
            return
        task.instance.image_cached = True
        if self.first_task_running is None:
            self.first_task_running = self.now
            self.log("task", "first task running")
        self._become_idle(task)

    def _become_idle(self, task: Task) -> None:
        self._set_state(task, "idle")
        self.idle_tasks.append(task)
        self._dispatch()

    # --- the queue and the worker ----------------------------------------------------------------
    def _arrive(self, video: Video) -> None:
        video.state = "visible"
        self.visible.append(video)
        if video is self.videos[-1] and self.workload.spread_hours:
            self.log("queue", "last video queued")
        self._dispatch()

    def _dispatch(self) -> None:
        """Idle workers long-poll the queue: a visible video is received at once."""
        while self.visible and self.idle_tasks:
            task = self.idle_tasks.popleft()
            if task.state != "idle":
                continue
            video = self.visible.popleft()
            video.state, video.received_at = "in_flight", self.now
            video.receives += 1
            self.in_flight += 1
            if video.first_start is None:
                video.first_start = self.now
            self._set_state(task, "busy")
            task.video, task.busy_since = video, self.now
            task.attempt += 1
            # finishing exactly at the timeout counts as in time: schedule it before the expiry
            self.after(self.workload.video_seconds, self._video_finished, task, task.attempt, video.receives)
            self.after(self.queue.visibility_timeout_s, self._visibility_expired, video, video.receives)

    def _video_finished(self, task: Task, attempt: int, receive: int) -> None:
        if task.state != "busy" or task.attempt != attempt:
            return  # the task was stopped mid-video
        video = task.video
        task.instance.busy_s += self.now - task.busy_since
        task.video = None
        # After its visibility timeout the message belongs to a later receive: this run's delete fails.
        if video.state == "in_flight" and video.receives == receive:
            self._settle(video, "done")
        self._become_idle(task)

    def _visibility_expired(self, video: Video, receive: int) -> None:
        if video.state != "in_flight" or video.receives != receive:
            return
        self.in_flight -= 1
        self.expired_receives += 1
        if video.receives >= self.queue.max_receive_count:
            video.state = "dead"
            video.finished = self.now
            self._unsettled_videos -= 1
            self.log("video", f"video {video.id} moved to the dead queue after {video.receives} receives")
            return
        video.state = "visible"
        self.visible.append(video)
        self.log("video", f"video {video.id} visible again after the visibility timeout (receive {receive})")
        self._dispatch()

    def _settle(self, video: Video, state: str) -> None:
        video.state, video.finished = state, self.now
        self.in_flight -= 1
        self._unsettled_videos -= 1
        if not self._unsettled_videos:
            self.log("video", "all videos done")

    # --- the Auto Scaling group ------------------------------------------------------------------
    def launch(self, count: int, reason: str) -> int:
        count = min(count, self.fleet_size - len(self.alive))
        for _ in range(max(0, count)):
            instance = Instance(len(self.all_instances) + 1, self.now, self.now + self.a.instance_pending_s)
            self.all_instances.append(instance)
            self.alive[instance.id] = instance
            self.after(self.a.instance_pending_s + self.a.instance_boot_s, self._registered, instance)
        if count > 0:
            self.log("capacity", f"{reason}: +{count} instance{'s' if count > 1 else ''} ({len(self.alive)} in group)")
        return max(0, count)

    def _registered(self, instance: Instance) -> None:
        if instance.ended is not None:
            return
        instance.registered = self.now
        self._place()

    def idle_instances(self) -> list[Instance]:
        """Instances without a task, registered ones first: the only ones managed termination
        protection lets the group remove."""
        free = [i for i in self.alive.values() if i.task is None]
        return sorted(free, key=lambda i: (i.registered is None, i.id))

    def terminate(self, instances: list[Instance], reason: str) -> None:
        for instance in instances:
            if instance.id not in self.alive:
                continue
            task = instance.task
            if task is not None and task.state not in ("stopped",):
                # only the original stack removes instances that still run a task
                if task.state == "busy":
                    self._abort_video(task)
                self._set_state(task, "stopped")
            instance.task = None
            instance.ended = self.now
            del self.alive[instance.id]
            self.after(self.a.instance_shutdown_s, self._instance_gone)
        if instances:
            self.log("capacity", f"{reason}: -{len(instances)} instance{'s' if len(instances) > 1 else ''} "
                                 f"({len(self.alive)} in group)")
        self._reconcile()

    def _instance_gone(self) -> None:
        if not self.alive and not any(i.ended is not None and i.ended + self.a.instance_shutdown_s > self.now
                                      for i in self.all_instances):
            self.back_to_zero = self.now
            self.log("capacity", "back to zero instances")

    # --- bookkeeping -----------------------------------------------------------------------------
    def _record(self) -> None:
        running = self.task_counts["idle"] + self.task_counts["busy"]
        point = (self.now, len(self.visible), self.in_flight, self.desired, running, len(self.alive))
        if self.series and self.series[-1][1:] == point[1:]:
            return
        if self.series and self.series[-1][0] == self.now:
            self.series[-1] = point
        else:
            self.series.append(point)

    def _outcome(self) -> Outcome:
        waits = [v.first_start - v.arrival for v in self.videos if v.first_start is not None]
        billed = sum(max(0.0, (i.ended if i.ended is not None else self.now) - i.billed_from)
                     for i in self.all_instances)
        if self.alive:
            self.back_to_zero = None
        return Outcome(
            label=self.rules.label, events=sorted(self.events, key=lambda e: e.t), series=self.series,
            first_task_running_s=self.first_task_running,
            all_done_s=max(v.finished for v in self.videos),
            back_to_zero_s=self.back_to_zero,
            instance_seconds=billed,
            busy_seconds=sum(i.busy_s for i in self.all_instances),
            peak_instances=max((p[5] for p in self.series), default=0),
            peak_tasks=max((p[4] for p in self.series), default=0),
            instances_launched=len(self.all_instances),
            videos_done=sum(v.state == "done" for v in self.videos),
            videos_dead=sum(v.state == "dead" for v in self.videos),
            receives=sum(v.receives for v in self.videos),
            repeat_receives=sum(max(0, v.receives - 1) for v in self.videos),
            expired_receives=self.expired_receives,
            interrupted=self.interrupted,
            wait_mean_s=sum(waits) / len(waits) if waits else 0.0,
            wait_max_s=max(waits, default=0.0),
        )
