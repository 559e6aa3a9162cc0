"""The scaling design as plain numbers: one source for the constructs, the instance agent and `estimate`.

Free of cdktf, so the estimate model and `validate` can read it without loading jsii. Every number
the deployed stack fixes and the estimate simulates lives here, so the two can never disagree.

How the stack scales (docs/scaling.md has the figures):

- One actuator: the Auto Scaling group's desired capacity. The workers are DAEMON services, one per
  GPU slot of an instance, so tasks follow instances: a registered instance gets its tasks at once,
  a terminated one takes its tasks with it. No ECS capacity provider: its managed
  scaling adds one instance per warm-up in a multi-AZ group, waits for a CapacityProviderReservation
  alarm and takes 15 minutes to scale in (ECS Developer Guide, managed scaling behavior).
- Out, fast path: `ecs-autoscale submit` sets the group's desired capacity itself as soon as a
  video is queued (it knows how many videos wait), so the whole fleet launches at once.
- Out, backstop: a CloudWatch alarm for videos queued by any other client (deepsea-ai ecsprocess,
  scripts): uncovered videos = waiting + delayed + in progress - tasks the group's desired capacity
  gives, 1 datapoint out of 3 (a late SQS datapoint cannot hold it OK), step scaling on the group.
  A schedule tags the video queue every `queue_keepalive_minutes` (any action on a queue keeps it
  active: SQS Developer Guide), so SQS never counts it inactive and its metrics never wake up 15
  minutes late: the alarm is as quick after days of silence as on a queue in use.
- In, per instance: an agent on every instance watches its own workers (the containers' network
  bytes and CPU, the GPUs, ECS task protection when a worker sets it) and the queue's live counts
  every `agent_poll_seconds`. Once its workers have been idle and nothing waited or was delayed for
  `scale_in_idle_minutes`, and no `submit` queued a video in the last `submit_hold_seconds`, it
  looks at its workers once more for `quiet_seconds`: not one byte in or out, CPU and GPUs idle.
  Only then it kills them (SIGKILL, right after that look's final counter read), fences the
  containers off the network (a restarted worker cannot take a video), drains its container instance (ECS stops the
  daemon tasks on a DRAINING instance: ECS Developer Guide, "Draining Amazon ECS container
  instances") and terminates the instance, desired capacity -1, completing its own termination hook
  at once (agents leaving together take turns: ScalingActivityInProgress). A worker that holds a video moves
  bytes (the download, the upload) or the GPU; the queue's counts, which lag by at least a minute
  (SQS API reference, GetQueueAttributes), never decide a kill. Each instance leaves when its own
  work is done: uneven video lengths do not keep the fleet up for the longest video.
- In, group-initiated: a termination lifecycle hook holds every instance the group itself
  terminates (a backstop alarm, an instance refresh, a stop) in Terminating:Wait until its agent
  finds its workers quiet (heartbeats while they are busy, up to `termination_heartbeat_seconds`
  each); AZ rebalancing is suspended (it launches and terminates instances of its own accord after
  an agent terminates its instance: EC2 Auto Scaling User Guide, rebalancing activities) and Spot
  capacity rebalancing is off. A real Spot interruption (two minutes' notice) still ends its video:
  the video returns after its visibility timeout (TimeoutHours).
- In, backstop: if agents cannot act, a CloudWatch alarm sets the group to 0 after a longer idle
  window; it only looks at windows where the group is above 0, so it never repeats itself.
- Guard: a worker that never takes a video (bad image, unreadable model) is stopped by the agent
  after `crash_loop_exits` exits, and by an alarm after `stuck_minutes` without a receive.
- Not taken: once the oldest video has waited `stuck_minutes` and none is in flight or received, the
  backstop scale-out reads 0 uncovered videos, so a fleet the stuck alarm stopped is not launched
  again a minute later (a 30-minute relaunch cycle for workers that hang without exiting); an alarm
  on the same condition notifies, and `resume` relaunches once the cause is fixed.
- Warm pool: `warm_pool_size` stopped, prepared instances (image pulled) while the group is idle;
  the pool only refills while the group runs fewer instances than that (MaxGroupPreparedCapacity =
  WarmPool, MinSize 0: EC2 Auto Scaling User Guide, warm pools), so at most FleetSize instances run
  at once, plus one being prepared for the pool while another shuts down (`peak_instances`). Its
  launch hook is declared with the group, so the first pool instances are prepared too; an instance
  refresh after a launch template change replaces stale pool instances.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the client reads STUCK_MINUTES without loading pydantic
    from .config import ModelConfig

QUEUE_INACTIVE_AFTER_MINUTES = 6 * 60
"""CloudWatch counts an SQS queue inactive six hours after its last message or action (SQS Developer
Guide, 'Available CloudWatch metrics for Amazon SQS')."""


SERVICE_THROTTLE_MAX_MINUTES = 27
"""ECS spaces the restarts of a service's tasks that repeatedly fail to start (PENDING straight to STOPPED),
daemon services' tasks included, increasingly, up to this many minutes apart; earlier editions of the page
said 15. Stated once: docs/scaling.md, synthesis/constructs/service.py and `--list-assumptions` say it from
here (tests/unit/test_estimate.py)."""
SERVICE_THROTTLE_SOURCE = (
    'ECS Developer Guide, "Amazon ECS service throttle logic", '
    "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-throttle-logic.html"
)


STUCK_MINUTES = 30
"""Minutes without a video taken before the stuck alarm stops the fleet and the not-taken alarm notifies."""


@dataclass(frozen=True, kw_only=True)
class ScalingDesign:
    """The four numbers a model file sets have no default here: `design_for` passes them from the config, whose
    Fields hold their defaults (and document them for README)."""

    fleet_size: int
    """Maximum number of GPU instances (FleetSize)."""
    tasks_per_instance: int
    """GPUs of the instance type // GpusPerTask: the service places tasks by free GPUs."""
    metric_period_seconds: int = 60
    """Period of every alarm; SQS and Auto Scaling group metrics are published once a minute."""
    agent_poll_seconds: int = 15
    """How often the instance agent looks at its workers and the queue's live counts."""
    scale_in_idle_minutes: int
    """Minutes an instance's workers stay idle, with nothing waiting or delayed in the queue, before it leaves
    (ScaleInIdleMinutes)."""
    quiet_seconds: int = 3
    """The agent's last look before it kills its workers: not one byte in or out of any worker, CPU and
    GPUs idle, for this long. A worker's long poll that ends (with or without a video) moves bytes, so
    a poll that returns a video in this window stops the kill. Its slow checks (GPUs, task protection)
    come before its final read of the counters, and the SIGKILL follows that read at once, well under a
    millisecond later (the residual the estimate counts, with a long poll's answer in flight:
    `agent_kill_gap_s`)."""
    busy_bytes_per_poll: int = 64 * 1024
    """Bytes in + out of a worker's container during one poll above which it counts as busy (an idle
    worker's long polls move a few kB a minute; a video's download or upload moves megabytes)."""
    busy_cpu_fraction: float = 0.05
    """CPU (cores) of a worker's container, averaged over a poll, above which it counts as busy."""
    busy_gpu_percent: int = 5
    """GPU utilization (nvidia-smi) of any of the instance's GPUs above which its workers count as busy."""
    submit_hold_seconds: int = 120
    """After `submit` queued a video (it records the time in the stack's SSM parameter), agents do not
    leave for this long: an agent whose lagging counts still read 0 would otherwise terminate an
    instance the submit counted on. An idle worker receives a visible video within a long poll."""
    termination_heartbeat_seconds: int = 1800
    """Heartbeat timeout of the termination lifecycle hook: the agent of a busy instance the group
    terminates records a heartbeat well within it; an agent that died lets the instance go after it
    (CONTINUE). The wait lasts at most 48 h or 100 heartbeats (EC2 Auto Scaling User Guide, lifecycle
    hooks)."""
    launch_heartbeat_seconds: int = 900
    """Heartbeat timeout of the warm pool's launch hook: time to boot and pull the image."""
    scale_out_threshold: int = 1
    """The backstop alarm fires at this many uncovered videos."""
    scale_out_evaluation_periods: int = 3
    scale_out_datapoints_to_alarm: int = 1
    """1 out of 3: metric math treats a missing SQS datapoint as 0, so the newest datapoint of a
    1-out-of-1 alarm can read 'covered' while videos wait (CloudWatch User Guide, metric math
    alarms and missing data); an M-out-of-N alarm is the documented way around it."""
    instance_warmup_seconds: int = 300
    """Step-scaling warm-up: while launched instances warm up, repeated alarm invocations in the
    same step add nothing (EC2 Auto Scaling User Guide, step scaling instance warm-up); covers the
    3-minute window in which the alarm still sees datapoints from before its own scale-out."""
    queue_keepalive_minutes: int = 60
    """How often a schedule tags the video queue (TagQueue, the tag it already has: nothing changes).
    CloudWatch considers a queue active for up to six hours if it contains any messages or if any
    action accesses it, and its metrics arrive up to 15 minutes late after it was inactive (SQS
    Developer Guide, "Monitoring Amazon SQS queues using CloudWatch"). Once an hour keeps it active
    with five hours to spare, for ~730 requests a month. Not GetQueueAttributes: EventBridge Scheduler
    refuses read-only actions as universal targets (Scheduler User Guide, "Using universal targets")."""
    backstop_idle_extra_minutes: int = 10
    """The backstop scale-in alarm waits this much longer than the agents."""
    stuck_minutes: int = STUCK_MINUTES
    """Videos waiting, instances in service, and not one video received for this long: the stack
    cannot take videos. The alarm notifies and sets the group to 0."""
    not_taken_evaluation_periods: int = 3
    not_taken_datapoints_to_alarm: int = 1
    """The not-taken alarm: ALARM at once (1 datapoint), OK only after 3 clean minutes (no flapping
    notifications while a video is sometimes taken and returned)."""
    crash_loop_exits: int = 3
    """Worker exits on one instance within `crash_window_seconds`, while videos wait and none is in
    progress, before its agent halts the stack (group max 0, reason tagged on the group, notification)."""
    crash_window_seconds: int = 900
    register_timeout_seconds: int = 600
    """An instance in service this long without joining the cluster (no route out, a broken boot) halts
    the stack like a crash loop, while videos wait and none is in flight (the instance agent; not
    simulated by `estimate`, whose instances always join)."""
    warm_pool_size: int
    """Stopped, prepared instances kept in the group's warm pool (WarmPool)."""
    container_stop_timeout_seconds: int = 60
    """stopTimeout of the container (and ECS_CONTAINER_STOP_TIMEOUT)."""

    @property
    def max_tasks(self) -> int:
        return self.fleet_size * self.tasks_per_instance

    @property
    def pool_spare_instances(self) -> int:
        """Instances beyond FleetSize that can run at once: with a warm pool, one being prepared for the pool
        while the instance it replaces still shuts down (the pool refills only while the group runs fewer than
        WarmPool <= FleetSize, so group and pool together never need more than FleetSize otherwise)."""
        return 1 if self.warm_pool_size else 0

    @property
    def peak_instances(self) -> int:
        """The most GPU instances that can run at once: what the vCPU quota must cover (`doctor`)."""
        return self.fleet_size + self.pool_spare_instances

    def instances_for(self, videos: int) -> int:
        """Instances that give every one of `videos` a task, capped at FleetSize."""
        return instances_needed(videos, self.tasks_per_instance, self.fleet_size)

    @property
    def step_adjustments(self) -> list[tuple[int, int | None, int]]:
        """(lower, upper, instances to add) of the backstop scale-out policy; bounds are uncovered
        videos relative to the alarm threshold (Auto Scaling applies the bounds to the metric value
        minus the threshold). A step never adds more instances than its uncovered videos need;
        the last step is open-ended."""
        adds, k = [], 1
        while k < self.fleet_size:
            adds.append(k)
            k *= 2
        adds.append(self.fleet_size)
        out = []
        for i, add in enumerate(adds):
            lower = (add - 1) * self.tasks_per_instance + 1 - self.scale_out_threshold
            upper = (
                (adds[i + 1] - 1) * self.tasks_per_instance + 1 - self.scale_out_threshold
                if i + 1 < len(adds)
                else None
            )
            out.append((lower, upper, add))
        return out

    @property
    def scale_in_idle_seconds(self) -> int:
        return self.scale_in_idle_minutes * 60

    @property
    def backstop_idle_periods(self) -> int:
        return (self.scale_in_idle_minutes + self.backstop_idle_extra_minutes) * 60 // self.metric_period_seconds

    @property
    def stuck_periods(self) -> int:
        return self.stuck_minutes * 60 // self.metric_period_seconds

    @property
    def not_taken_after_seconds(self) -> int:
        """ApproximateAgeOfOldestMessage from which videos count as not taken (with none in flight
        or received). The backstop scale-out breaches on 1 of its last `scale_out_evaluation_periods`
        datapoints, so when the stuck alarm stops the fleet (after `stuck_minutes` of instances in
        service taking nothing), every datapoint in that window must already read "not taken", the
        oldest of them included: the threshold is that many minutes, less one, before the stuck
        alarm's own. Otherwise the backstop launches the stopped fleet again once (estimate
        `--workers-fail hang`: stopped at 0:32:50, relaunched, stopped again at 1:05:18)."""
        return (self.stuck_minutes - self.scale_out_evaluation_periods + 1) * 60


def instances_needed(videos: int, tasks_per_instance: int, cap: int) -> int:
    """Instances that give every one of `videos` a task, at most `cap`: how `submit` and `resume` size
    the group (client/stack_info.py) and what `estimate` simulates."""
    return min(cap, math.ceil(max(0, videos) / max(1, tasks_per_instance)))


def tasks_per_instance(config: ModelConfig) -> int:
    """Tasks one instance runs: its GPUs // GpusPerTask (every InstanceTypes entry has the same
    GPU count: `validate` refuses a mix)."""
    from .instance_types import lookup

    known = lookup(config.instance_types[0])
    gpus = known.gpus if known is not None else config.gpus_per_task
    return max(1, gpus // config.gpus_per_task)


def design_for(config: ModelConfig) -> ScalingDesign:
    return ScalingDesign(
        fleet_size=config.fleet_size,
        tasks_per_instance=tasks_per_instance(config),
        scale_in_idle_minutes=config.scale_in_idle_minutes,
        warm_pool_size=config.warm_pool,
    )
