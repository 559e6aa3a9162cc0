"""Discrete-event model of one stack processing one workload, to the second.

The world: the SQS video queue (visible and in-flight messages, receive counts, visibility timeout,
dead-letter queue after MaxReceiveCount receives; what SQS reports to CloudWatch each minute, which is
not every metric every minute), the Auto Scaling group (its desired capacity, a warm pool of stopped
instances refilled with new ones, instances pending, booting, registered, draining, held by a
termination lifecycle hook and shutting down, each with GPU slots and an image cache), the ECS service
placing tasks on free slots of registered instances, and the per-minute CloudWatch samples every alarm
reads. Who changes the service's desired count and the group's desired capacity, and when, is a
pluggable rule set (`rules.py`): this stack's, read from `ScalingDesign`, or the original stack's.
Deterministic: same inputs, same timeline.

Not modelled: spot interruptions, EC2 capacity shortages, upload time before a video is queued.
"""

from __future__ import annotations

import bisect
import functools
import heapq
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import EcsAutoscaleError
from .assumptions import Assumptions
from .workload import Workload

TICK_S = 60
"""SQS and Auto Scaling group metrics are one datapoint a minute; alarms evaluate once a minute."""
MAX_SIMULATED_S = 400 * 24 * 3600
FAILING_HORIZON_S = 24 * 3600
"""With workers that never take a video nothing settles: the model watches one day."""
ACTIVE_TASK_STATES = ("starting", "hung", "idle", "busy")
"""A task holding its slot: ECS starts no other there ("hung": running, never taking a video)."""
WORKING_TASK_STATES = ("starting", "busy")
"""What an instance agent counts as busy: a worker that holds a video, or one still starting (pulling its
image, downloading its model). "idle" and "hung" workers are quiet: a hung worker moves no bytes."""
FOREVER = 10**9
"""Run length before the workload starts: the stack idled at zero for as long as any alarm looks back."""


class ModelError(EcsAutoscaleError, RuntimeError):
    """The workload never settles (e.g. an impossible configuration); one line."""


@dataclass(eq=False)
class Video:
    id: int
    arrival: float
    seconds: float
    """Wall time on one task, download and upload included."""
    state: str = "not yet sent"  # -> delayed -> visible -> in_flight -> done | dead
    receives: int = 0
    first_start: float | None = None
    finished: float | None = None


@dataclass(eq=False)
class Instance:
    id: int
    slots: int
    """Tasks this instance runs at once (its GPUs // GpusPerTask)."""
    state: str = "pending"
    """warm (stopped in the pool) | preparing (a new pool instance booting and pulling, then stopped) |
    pending | booting | registered | draining (its agent killed its workers and leaves) | terminating
    (Terminating:Wait: the group terminates it, a lifecycle hook holds it until its agent finds its
    workers quiet) | ended"""
    registered: float | None = None
    image_ready: float | None = None
    """When the model image is in the instance's cache (None: not pulled, not being pulled)."""
    tasks: list[Any] = field(default_factory=list)
    exits: list[Any] = field(default_factory=list)
    """When this instance's workers exited on their own (a crash loop)."""
    billed: list[Any] = field(default_factory=list)
    """[start, end] intervals the instance was running (EC2 bills running instances only)."""
    busy_s: float = 0.0
    protected: bool = False
    """Managed termination protection of the original stack: an instance holding a task stays."""
    fenced: bool = False
    """Its agent killed its workers and cut them off the network: ECS places nothing more here."""
    hook_deadline: float = math.inf
    """Terminating:Wait ends (CONTINUE) at this time unless the agent records a heartbeat."""
    hook_cap: float = math.inf
    """The hook's global timeout: no heartbeat keeps the instance past it."""

    @property
    def alive(self) -> bool:
        """Pending or running: counted (and billed once running)."""
        return self.state not in ("warm", "ended")

    @property
    def in_group(self) -> bool:
        """Counts toward the group's desired capacity (not a pool instance, not held by a termination hook)."""
        return self.state in ("pending", "booting", "registered", "draining")

    def active_tasks(self) -> list[Task]:
        return [t for t in self.tasks if t.state in ACTIVE_TASK_STATES]

    def working(self) -> bool:
        """What the instance agent sees as busy: a worker holding a video or still starting."""
        return any(t.state in WORKING_TASK_STATES for t in self.tasks)


@dataclass(eq=False)
class Task:
    id: int
    instance: Instance
    state: str = "starting"  # -> idle <-> busy -> stopping -> stopped
    video: Video | None = None
    busy_since: float = 0.0
    attempt: int = 0
    received_at: float = -math.inf
    """When this worker last received a video (the agent's quiet look sees the bytes of that receive)."""


@dataclass(frozen=True)
class Sample:
    """One minute's datapoint of every metric an alarm reads: the true state of the queue and the group.
    What CloudWatch actually receives is `reported`."""

    visible: int = 0
    delayed: int = 0
    in_flight: int = 0
    received: int = 0
    """NumberOfMessagesReceived during the minute."""
    oldest_age: float = 0.0
    """ApproximateAgeOfOldestMessage: seconds since the oldest waiting video was sent (the alarms read it
    only with nothing in flight, when waiting videos are the only ones in the queue)."""
    group_desired: int = 0
    """GroupDesiredCapacity of the Auto Scaling group."""
    in_service: int = 0
    """GroupInServiceInstances: running instances, registered with ECS or still booting."""
    instances: int = 0
    tasks: int = 0
    """Instances with a task (the original's ECS managed scaling 'M')."""
    missing: bool = False
    """SQS publishes nothing: an inactive queue waking up."""

    @property
    def queued(self) -> int:
        """Videos waiting, delayed or in progress."""
        return self.visible + self.delayed + self.in_flight

    @functools.cached_property
    def reported(self) -> dict[str, float | None]:
        """The datapoints CloudWatch has for this minute, by the ids the alarms give them; None: no
        datapoint. SQS Developer Guide, "Available CloudWatch metrics for Amazon SQS", Reporting
        behavior column (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/
        sqs-available-cloudwatch-metrics.html): ApproximateNumberOfMessagesVisible and
        NumberOfMessagesReceived "if the queue is active", ApproximateNumberOfMessagesDelayed "if delayed
        messages exist", ApproximateNumberOfMessagesNotVisible "if in-flight messages exist",
        ApproximateAgeOfOldestMessage while the queue holds a message; nothing while the queue is
        inactive. The group metrics (enabled on the group) always have a datapoint."""
        sqs = not self.missing
        return {
            "visible": self.visible if sqs else None,
            "delayed": self.delayed if sqs and self.delayed else None,
            "in_flight": self.in_flight if sqs and self.in_flight else None,
            "age": self.oldest_age if sqs and self.queued else None,
            "received": self.received if sqs else None,
            "desired": self.group_desired,
            "in_service": self.in_service,
        }


SQS_METRIC_IDS = frozenset({"visible", "delayed", "in_flight", "age", "received"})
"""The alarm metric ids SQS publishes (the rest are the group's)."""


class MetricHistory:
    """Per-minute samples, read the way an alarm reads them: `delay` seconds after the minute."""

    def __init__(self, before: Sample | None = None) -> None:
        self.samples: list[Sample] = []
        self.before = before or Sample()
        """Every minute before t=0: the stack idled at zero."""

    def add(self, s: Sample) -> None:
        self.samples.append(s)

    def latest(self, now: float, delay: float) -> int:
        """Index of the newest sample an alarm can read at `now`; -1: only the idle time before t=0."""
        index = math.floor((now - delay) / TICK_S + 1e-9)
        return min(index, len(self.samples) - 1)

    def sample(self, i: int) -> Sample:
        return self.samples[i] if i >= 0 else self.before

    def run(self, i: int, breaching: Callable[[Sample], bool], before_start: bool) -> int:
        """How many datapoints up to i all breach (before t=0 the stack idled at zero forever)."""
        count = 0
        while i >= 0:
            if not breaching(self.samples[i]):
                return count
            count += 1
            i -= 1
        return FOREVER if before_start else count

    def mean(self, metric: str, i: int, count: int) -> float:
        """Average of the last `count` samples (before t=0 the queue was empty)."""
        values: list[float] = [getattr(self.sample(j), metric) for j in range(i - count + 1, i + 1)]
        return sum(values) / count


class AlarmView:
    """The metrics as CloudWatch holds them at one moment: SQS minutes up to `sqs_latest` and group
    minutes up to `asg_latest` have landed, later ones have no datapoint yet. The newest minute an
    alarm evaluates is the newest any of its metrics landed for."""

    def __init__(self, history: MetricHistory, sqs_latest: int, asg_latest: int) -> None:
        self.history = history
        self.sqs_latest, self.asg_latest = sqs_latest, asg_latest
        self.newest = max(sqs_latest, asg_latest)

    def metric(self, metric_id: str, minute: int) -> float | None:
        latest = self.sqs_latest if metric_id in SQS_METRIC_IDS else self.asg_latest
        if minute > latest:
            return None
        return self.history.sample(minute).reported[metric_id]

    def settled(self, minute: int) -> bool:
        """Every metric of this minute and of every minute before it has landed: its value is final."""
        return minute <= min(self.sqs_latest, self.asg_latest)


class ScalingRules(Protocol):
    label: str

    def on_tick(self, sim: Simulation) -> None: ...

    def on_arrival(self, sim: Simulation, video: Video) -> None: ...

    def on_registered(self, sim: Simulation, instance: Instance) -> None: ...

    def on_terminating(self, sim: Simulation, instance: Instance) -> None: ...

    def settled(self, sim: Simulation) -> bool: ...


@dataclass(frozen=True)
class LogEvent:
    t: float
    kind: str
    text: str


@dataclass(frozen=True)
class QueueSettings:
    visibility_timeout_s: float
    max_receive_count: int
    delay_s: float = 0.0
    """DelaySeconds of the queue: 0 for both stacks (this stack's agents never rely on a delay)."""
    kept_active: bool = False
    """A schedule touches the queue more often than every 6 hours (ScalingDesign.queue_keepalive_minutes):
    SQS never counts it inactive, so `sqs_inactive_wakeup_s` does not apply."""


@dataclass(frozen=True)
class FleetSettings:
    fleet_size: int
    tasks_per_instance: int = 1
    prepull: bool = False
    """The instance pulls the model image at boot, before ECS places a task (this stack's user data)."""
    warm_pool: int = 0
    """MaxGroupPreparedCapacity of the warm pool (MinSize 0): the pool holds warm_pool - desired instances."""
    stop_timeout_s: float = 60.0
    termination_heartbeat_s: float | None = None
    """Heartbeat timeout of the group's termination lifecycle hook; None: no hook (the original stack)."""

    @property
    def termination_hook_cap_s(self) -> float:
        """The hook's global timeout: 'The maximum is 172800 seconds (48 hours) or 100 times
        HeartbeatTimeout, whichever is smaller' (EC2 Auto Scaling API Reference, LifecycleHook,
        https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_LifecycleHook.html)."""
        beat = self.termination_heartbeat_s
        return math.inf if beat is None else min(48 * 3600, 100 * beat)


@dataclass
class Outcome:
    """What one simulated run measured; times are seconds after the first video was queued."""

    label: str
    events: list[LogEvent]
    series: list[tuple[float, int, int, int, int, int, int]]
    """(t, visible + delayed, in flight, group desired capacity, running tasks, instances, visible) at every
    change."""
    first_task_running_s: float | None
    first_video_started_s: float | None
    all_done_s: float | None
    """None: not every video was done or dead-lettered when the model stopped (workers that fail)."""
    back_to_zero_s: float | None
    """When the fleet last returned to zero instances (running or pending, pool preparations included);
    None: it does not return to zero by itself (see `still_running`)."""
    still_running: int
    """Instances still running when the model stopped looking (the original stack keeps them)."""
    horizon_s: float
    instance_seconds: float
    busy_seconds: float
    peak_instances: int
    """Most instances pending or running at once: in the group, held by a termination hook, or being
    prepared for the warm pool."""
    peak_running: int
    """Most instances running (billed) at once, warm-pool refills included."""
    peak_tasks: int
    instances_launched: int
    videos_done: int
    videos_dead: int
    receives: int
    repeat_receives: int
    """Receives beyond each video's first: retries after a visibility timeout."""
    expired_receives: int
    interrupted: int
    """Videos cut: their task was stopped mid-video."""
    wait_mean_s: float | None
    wait_max_s: float | None
    """None: no video started."""

    @property
    def idle_seconds(self) -> float:
        return max(0.0, self.instance_seconds - self.busy_seconds)


class Simulation:
    def __init__(
        self,
        workload: Workload,
        queue: QueueSettings,
        fleet: FleetSettings,
        assumptions: Assumptions,
        rules: ScalingRules,
    ) -> None:
        self.workload = workload
        self.queue = queue
        self.fleet = fleet
        self.a = assumptions
        self.rules = rules
        self.now = 0.0
        self.history = MetricHistory(Sample(missing=not queue.kept_active))
        self.videos = [
            Video(i + 1, t, s)
            for i, (t, s) in enumerate(zip(workload.arrival_times(), workload.durations_s(), strict=True))
        ]
        self.visible: deque[Video] = deque()
        self.delayed = 0
        self.in_flight = 0
        self.received_this_minute = 0
        self.service_desired = 0
        self.group_desired = 0
        self.group_max = fleet.fleet_size
        self.instances: list[Instance] = []
        self.tasks: list[Task] = []
        self.idle_tasks: deque[Task] = deque()
        self.events: list[LogEvent] = []
        self.series: list[tuple[float, int, int, int, int, int, int]] = []
        self._series_t: list[float] = []
        self._heap: list[Any] = []
        self._seq = 0
        self._placement_pending = False
        self._unsettled_videos = len(self.videos)
        self.first_task_running: float | None = None
        self.back_to_zero: float | None = None
        self.expired_receives = 0
        self.interrupted = 0
        for _ in range(fleet.warm_pool):
            self._new_instance("warm")  # prepared before the workload: not part of its bill

    # --- event queue ----------------------------------------------------------------------------
    def at(self, t: float, fn: Callable[..., Any], *args: Any, first: bool = False) -> None:
        """Schedule fn(*args) at t; `first` runs before other events of the same instant (minute ticks
        sample the state as it was when the minute ended)."""
        self._seq += 1
        heapq.heappush(self._heap, (t, 0 if first else 1, self._seq, fn, args))

    def after(self, delay: float, fn: Callable[..., Any], *args: Any) -> None:
        self.at(self.now + delay, fn, *args)

    def log(self, kind: str, text: str) -> None:
        self.events.append(LogEvent(self.now, kind, text))

    def run(self) -> Outcome:
        self._schedule_arrivals()
        self.at(0.0, self._tick, first=True)
        while self._heap:
            t, _, _, fn, args = heapq.heappop(self._heap)
            if self.workload.workers_fail and t > FAILING_HORIZON_S:
                break
            if t > MAX_SIMULATED_S:
                raise ModelError(
                    f"{self.rules.label}: the workload did not settle within "
                    f"{MAX_SIMULATED_S // 86400} simulated days; check --minutes-per-video and TimeoutHours"
                )
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

    # --- metrics ---------------------------------------------------------------------------------
    def alive(self) -> list[Instance]:
        return [i for i in self.instances if i.alive]

    def in_group(self) -> list[Instance]:
        """Instances that count toward the desired capacity."""
        return [i for i in self.instances if i.in_group]

    def warm_pool(self) -> list[Instance]:
        return [i for i in self.instances if i.state == "warm"]

    def queue_counts(self, lag_s: float) -> tuple[int, int, int]:
        """(visible, visible + delayed, in flight) as GetQueueAttributes reports them: `lag_s` seconds old."""
        k = bisect.bisect_right(self._series_t, self.now - lag_s) - 1
        return (self.series[k][6], self.series[k][1], self.series[k][2]) if k >= 0 else (0, 0, 0)

    def queued(self) -> int:
        """Videos waiting, delayed or in progress: what GetQueueAttributes reports."""
        return len(self.visible) + self.delayed + self.in_flight

    def alarm_view(self, sqs_delay_s: float, asg_delay_s: float) -> AlarmView:
        return AlarmView(
            self.history, self.history.latest(self.now, sqs_delay_s), self.history.latest(self.now, asg_delay_s)
        )

    def _tick(self) -> None:
        alive = self.alive()
        self.history.add(
            Sample(
                visible=len(self.visible),
                delayed=self.delayed,
                in_flight=self.in_flight,
                received=self.received_this_minute,
                oldest_age=self.now - min((v.arrival for v in self.visible), default=self.now),
                group_desired=self.group_desired,
                in_service=sum(i.state in ("booting", "registered", "draining") for i in alive),
                instances=len(alive),
                tasks=sum(bool(i.active_tasks()) for i in alive),
                missing=not self.queue.kept_active and self.now < self.a.sqs_inactive_wakeup_s,
            )
        )
        self.received_this_minute = 0
        self.rules.on_tick(self)
        watching = not (self.workload.workers_fail and self.now >= FAILING_HORIZON_S)
        if watching and (self._unsettled_videos or not self.rules.settled(self)):
            self.at(self.now + TICK_S, self._tick, first=True)

    # --- the Auto Scaling group ------------------------------------------------------------------
    def _new_instance(self, state: str) -> Instance:
        instance = Instance(len(self.instances) + 1, self.fleet.tasks_per_instance, state)
        if state == "warm":
            instance.image_ready = -math.inf  # prepared: pulled during its first boot, then stopped
        self.instances.append(instance)
        return instance

    def set_group_desired(self, count: int, reason: str) -> None:
        """SetDesiredCapacity / a scaling activity: launch or terminate to reach `count`. What the group
        terminates itself passes its termination lifecycle hook (`terminating`), if it has one."""
        count = max(0, min(count, self.group_max))
        if count == self.group_desired:
            return
        before, self.group_desired = self.group_desired, count
        members = self.in_group()
        # an instance whose agent is already leaving is not chosen: it goes by itself
        victims = sorted((i for i in members if i.state != "draining"), key=lambda i: (bool(i.active_tasks()), -i.id))
        excess = max(0, len(members) - count)
        removable = [v for v in victims if not v.protected][:excess]
        kept = excess - len(removable)
        self.log(
            "capacity",
            f"{reason}: instances {before} -> {count}"
            + (f" ({kept} protected instance{'s' if kept != 1 else ''} stay)" if kept else ""),
        )
        if count > len(members):
            self.after(self.a.asg_action_s, self._launch_missing)
        for instance in removable:
            self.after(self.a.asg_action_s, self._group_terminates, instance, reason)
        self.after(self.a.asg_action_s, self._refill_pool)

    def decrement_and_terminate(self, instance: Instance, reason: str) -> None:
        """TerminateInstanceInAutoScalingGroup with ShouldDecrementDesiredCapacity: the caller (an agent)
        has already stopped what runs there, so no lifecycle hook waits."""
        if not instance.alive:
            return
        self.group_desired = max(0, self.group_desired - 1)
        self.terminate(instance, reason)

    def _group_terminates(self, instance: Instance, reason: str) -> None:
        if not instance.in_group:
            return
        if self.fleet.termination_heartbeat_s is None:
            self.terminate(instance, reason)
            return
        # Terminating:Wait (EC2 Auto Scaling User Guide, lifecycle hooks,
        # https://docs.aws.amazon.com/autoscaling/ec2/userguide/lifecycle-hooks.html): the instance runs on
        # (and is billed) until its agent completes the action, a heartbeat times out, or the global timeout.
        instance.state = "terminating"
        instance.hook_cap = self.now + self.fleet.termination_hook_cap_s
        instance.hook_deadline = min(instance.hook_cap, self.now + self.fleet.termination_heartbeat_s)
        self.at(instance.hook_deadline, self._hook_timeout, instance)
        self.rules.on_terminating(self, instance)

    def heartbeat(self, instance: Instance) -> None:
        """RecordLifecycleActionHeartbeat: the hook waits another heartbeat timeout, up to its global timeout."""
        beat = self.fleet.termination_heartbeat_s
        if instance.state == "terminating" and beat is not None:
            instance.hook_deadline = min(instance.hook_cap, self.now + beat)

    def _hook_timeout(self, instance: Instance) -> None:
        if instance.state != "terminating":
            return
        if self.now < instance.hook_deadline:
            self.at(instance.hook_deadline, self._hook_timeout, instance)
            return
        self.log("capacity", f"termination hook timed out on instance {instance.id}: terminated")
        self.terminate(instance, "lifecycle hook timeout")

    def _launch_missing(self) -> None:
        for _ in range(self.group_desired - len(self.in_group())):
            pool = self.warm_pool()
            if pool:
                self._start_from_pool(pool[0])
            else:
                self._launch_new(self._new_instance("pending"))
        self._refill_pool()

    def _launch_new(self, instance: Instance) -> None:
        self.back_to_zero = None  # the fleet is up again: only its last return to zero counts
        instance.state = "pending"
        running = self.now + self.a.instance_pending_s
        instance.billed.append([running, None])
        if self.fleet.prepull:
            instance.image_ready = running + self.a.docker_ready_s + self.a.image_pull_s
        self.at(running, self._running, instance)
        self.at(running + self.a.instance_boot_s, self._registered, instance)

    def _start_from_pool(self, instance: Instance) -> None:
        self.back_to_zero = None
        instance.state = "pending"
        running = self.now + self.a.warm_start_s
        instance.billed.append([running, None])
        self.at(running, self._running, instance)
        self.at(running + self.a.warm_boot_s, self._registered, instance)

    def _refill_pool(self) -> None:
        """The warm pool holds MaxGroupPreparedCapacity - desired instances (MinSize 0), and MaxGroupPreparedCapacity
        bounds "the warm pool or in any state except Terminated" together (EC2 Auto Scaling API Reference,
        PutWarmPool, https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_PutWarmPool.html). Below
        that it launches NEW instances, prepares them (boot and image pull, billed) and stops them; so it
        refills only while the group runs fewer than WarmPool instances, and the group and the pool never
        run more than max(FleetSize, WarmPool) instances."""
        if not self.fleet.warm_pool:
            return
        others = sum(i.alive and i.state != "preparing" for i in self.instances)
        target = max(0, self.fleet.warm_pool - max(self.group_desired, others))
        pooled = sum(i.state in ("warm", "preparing") for i in self.instances)
        for _ in range(target - pooled):
            self.back_to_zero = None
            spare = self._new_instance("preparing")
            start = self.now + self.a.instance_pending_s
            ready = start + self.a.docker_ready_s + self.a.image_pull_s
            spare.billed.append([start, ready])
            spare.image_ready = ready
            self.at(ready, self._prepared, spare)

    def _prepared(self, instance: Instance) -> None:
        instance.state = "warm"
        if not self.alive():
            self._maybe_zero()

    def _running(self, instance: Instance) -> None:
        if instance.state == "pending":
            instance.state = "booting"

    def _registered(self, instance: Instance) -> None:
        if instance.state != "booting":
            return
        instance.state = "registered"
        instance.registered = self.now
        self.rules.on_registered(self, instance)
        self.request_placement()

    def terminate(self, instance: Instance, reason: str) -> None:
        """The instance leaves: its tasks end with it (a busy one cuts its video)."""
        if not instance.alive:
            return
        for task in instance.active_tasks():
            self._stop_task(task, at_once=True)
        instance.billed[-1][1] = self.now
        instance.state = "ended"
        instance.image_ready = None
        if not self.alive():
            self.after(self.a.instance_shutdown_s, self._maybe_zero)
        self.request_placement()
        self._refill_pool()

    def _maybe_zero(self) -> None:
        if not self.alive() and self.back_to_zero is None:
            self.back_to_zero = self.now
            self.log("capacity", "back to zero instances")

    def kill_workers(self, instance: Instance) -> None:
        """The agent's SIGKILL of every worker, then the fence and the drain: nothing more runs or is
        placed here. A worker that holds a video at this instant is a cut video."""
        for task in instance.active_tasks():
            self._stop_task(task, at_once=True)
        instance.fenced = True
        self.drain(instance)

    def drain(self, instance: Instance) -> None:
        """UpdateContainerInstancesState DRAINING: no new task is placed on it."""
        if instance.state == "registered":
            instance.state = "draining"

    def undrain(self, instance: Instance) -> None:
        if instance.state == "draining":
            instance.state = "registered"
            instance.fenced = False
            self.request_placement()

    # --- the ECS service -------------------------------------------------------------------------
    def set_service_desired(self, count: int, reason: str) -> None:
        count = max(0, min(count, self.fleet.fleet_size * self.fleet.tasks_per_instance))
        if count == self.service_desired:
            return
        if reason:
            self.log("scale", f"{reason}: tasks {self.service_desired} -> {count}")
        self.service_desired = count
        active = [t for t in self.tasks if t.state in ACTIVE_TASK_STATES]
        if len(active) > count:
            order = {"starting": 0, "hung": 1, "idle": 1, "busy": 2}
            for task in sorted(active, key=lambda t: (order[t.state], -t.id))[: len(active) - count]:
                self._stop_task(task)
        self.request_placement()

    def request_placement(self) -> None:
        """The service scheduler places waiting tasks a moment after capacity changes."""
        if not self._placement_pending:
            self._placement_pending = True
            self.after(self.a.placement_delay_s, self._place)

    def _place(self) -> None:
        """Tasks go to registered container instances (ACTIVE in ECS: also one the group holds in
        Terminating:Wait), never to a drained or fenced one."""
        self._placement_pending = False
        active = sum(t.state in ACTIVE_TASK_STATES for t in self.tasks)
        missing = self.service_desired - active
        for instance in sorted(self.alive(), key=lambda i: i.id):
            if missing <= 0:
                break
            if instance.registered is None or instance.state not in ("registered", "terminating") or instance.fenced:
                continue
            free = instance.slots - len(instance.active_tasks())
            for _ in range(min(free, missing)):
                self._start_task(instance)
                missing -= 1

    def _start_task(self, instance: Instance) -> None:
        task = Task(len(self.tasks) + 1, instance)
        self.tasks.append(task)
        instance.tasks.append(task)
        if instance.image_ready is None:
            instance.image_ready = self.now + self.a.image_pull_s  # the ECS agent pulls now
        ready = max(self.now, instance.image_ready) + self.a.task_start_s
        self.at(ready, self._task_ready, task)

    def _task_ready(self, task: Task) -> None:
        if task.state != "starting":
            return
        if self.workload.workers_fail == "hang":
            task.state = "hung"  # runs, never takes a video, never exits (e.g. no route to its model)
            return
        if self.workload.workers_fail:
            task.state = "stopped"  # exits before it takes a video; ECS starts it again
            task.instance.exits.append(self.now)
            self.request_placement()
            return
        if self.first_task_running is None:
            self.first_task_running = self.now
            self.log("task", "first task running")
        self._become_idle(task)

    def _become_idle(self, task: Task) -> None:
        task.state = "idle"
        self.idle_tasks.append(task)
        self._dispatch()

    def _stop_task(self, task: Task, at_once: bool = False) -> None:
        if task.state == "busy":
            self._abort_video(task)
        task.state = "stopping"
        if at_once:
            self._task_stopped(task)
        else:
            # a worker running as PID 1 without a SIGTERM handler is killed only at the container's stopTimeout
            self.after(self.fleet.stop_timeout_s, self._task_stopped, task)

    def _abort_video(self, task: Task) -> None:
        """The video stays in flight until its visibility timeout, then another task retries it."""
        task.instance.busy_s += self.now - task.busy_since
        self.interrupted += 1
        assert task.video is not None  # a busy task holds a video
        self.log("video", f"video {task.video.id} cut mid-run; retried after the visibility timeout")
        task.video = None
        task.attempt += 1

    def _task_stopped(self, task: Task) -> None:
        task.state = "stopped"
        self.request_placement()

    def busy_tasks(self, instance: Instance) -> int:
        return sum(t.state == "busy" for t in instance.tasks)

    # --- the queue and the worker ----------------------------------------------------------------
    def _arrive(self, video: Video) -> None:
        if self.queue.delay_s:
            video.state = "delayed"
            self.delayed += 1
            self.after(self.queue.delay_s, self._delay_over, video)
        else:
            self._make_visible(video)
        if video is self.videos[-1] and self.workload.spread_hours:
            self.log("queue", "last video queued")
        self.rules.on_arrival(self, video)

    def _delay_over(self, video: Video) -> None:
        self.delayed -= 1
        self._make_visible(video)

    def _make_visible(self, video: Video) -> None:
        video.state = "visible"
        self.visible.append(video)
        self._dispatch()

    def _dispatch(self) -> None:
        """Idle workers long-poll the queue: a visible video is received at once."""
        while self.visible and self.idle_tasks:
            task = self.idle_tasks.popleft()
            if task.state != "idle":
                continue
            video = self.visible.popleft()
            video.state = "in_flight"
            video.receives += 1
            self.in_flight += 1
            self.received_this_minute += 1
            if video.first_start is None:
                video.first_start = self.now
            task.state = "busy"
            task.video, task.busy_since, task.received_at = video, self.now, self.now
            task.attempt += 1
            # finishing exactly at the timeout counts as in time: schedule it before the expiry
            self.after(video.seconds, self._video_finished, task, task.attempt, video.receives)
            self.after(self.queue.visibility_timeout_s, self._visibility_expired, video, video.receives)

    def _video_finished(self, task: Task, attempt: int, receive: int) -> None:
        if task.state != "busy" or task.attempt != attempt:
            return  # the task was stopped mid-video
        video = task.video
        assert video is not None  # a busy task holds a video
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
        self.log("video", f"video {video.id} visible again after the visibility timeout (receive {receive})")
        self._make_visible(video)

    def _settle(self, video: Video, state: str) -> None:
        video.state, video.finished = state, self.now
        self.in_flight -= 1
        self._unsettled_videos -= 1
        if not self._unsettled_videos:
            self.log("video", "all videos done")

    # --- bookkeeping -----------------------------------------------------------------------------
    def _record(self) -> None:
        running = sum(t.state in ("idle", "busy") for t in self.tasks)
        point = (
            self.now,
            len(self.visible) + self.delayed,
            self.in_flight,
            self.group_desired,
            running,
            len(self.alive()),
            len(self.visible),
        )
        if self.series and self.series[-1][1:] == point[1:]:
            return
        if self.series and self.series[-1][0] == self.now:
            self.series[-1] = point
        else:
            self.series.append(point)
            self._series_t.append(self.now)

    def _peak_running(self) -> int:
        """Most billed intervals open at once (an interval ending as another starts does not overlap it)."""
        edges = sorted(
            (t, step)
            for i in self.instances
            for start, end in i.billed
            for t, step in ((start, 1), (end if end is not None else self.now, -1))
        )
        peak = running = 0
        for _, step in edges:
            running += step
            peak = max(peak, running)
        return peak

    def _outcome(self) -> Outcome:
        waits = [v.first_start - v.arrival for v in self.videos if v.first_start is not None]
        billed = sum((end if end is not None else self.now) - start for i in self.instances for start, end in i.billed)
        starts = [v.first_start for v in self.videos if v.first_start is not None]
        still = len(self.alive())
        return Outcome(
            label=self.rules.label,
            events=sorted(self.events, key=lambda e: e.t),
            series=self.series,
            first_task_running_s=self.first_task_running,
            first_video_started_s=min(starts) if starts else None,
            all_done_s=None if self._unsettled_videos else max(v.finished or 0.0 for v in self.videos),
            back_to_zero_s=None if still else self.back_to_zero,
            still_running=still,
            horizon_s=self.now,
            instance_seconds=billed,
            busy_seconds=sum(i.busy_s for i in self.instances),
            peak_instances=max((p[5] for p in self.series), default=0),
            peak_running=self._peak_running(),
            peak_tasks=max((p[4] for p in self.series), default=0),
            instances_launched=sum(bool(i.billed) for i in self.instances),
            videos_done=sum(v.state == "done" for v in self.videos),
            videos_dead=sum(v.state == "dead" for v in self.videos),
            receives=sum(v.receives for v in self.videos),
            repeat_receives=sum(max(0, v.receives - 1) for v in self.videos),
            expired_receives=self.expired_receives,
            interrupted=self.interrupted,
            wait_mean_s=sum(waits) / len(waits) if waits else None,
            wait_max_s=max(waits, default=None),
        )
