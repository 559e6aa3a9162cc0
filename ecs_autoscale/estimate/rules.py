"""Who changes the group's and the service's capacity, and when: this stack's rules and the original's.

`DesignScaling` takes every number from `ScalingDesign` (the object the constructs and the instance
agent's user data are built from) and evaluates the same expressions as the deployed alarms, so a
changed step, window or delay changes the estimate the same way it changes the deployment. How fast
AWS reacts comes from named assumptions (`assumptions.py`); the AWS rules each mechanism depends on
are listed, with their sources, by `ecs-autoscale estimate --list-assumptions`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ..model.scaling_design import ScalingDesign
from .assumptions import Assumptions
from .model import Instance, MetricHistory, Sample, Simulation, Video

SENDERS = ("ecs-autoscale", "other")
"""Who queues the videos: `ecs-autoscale submit` (sizes the group itself) or any other client
(deepsea-ai ecsprocess, scripts: only the backstop alarm sees those videos)."""


class StepScaling:
    """A step policy with Auto Scaling's warm-up rule: while what an activity added is still warming
    up, a repeated alarm in the same step adds nothing and a larger step adds only the difference
    (EC2 Auto Scaling User Guide, step scaling; Application Auto Scaling's cooldown works alike)."""

    def __init__(self, warmup_s: float, get: Callable[[Simulation], int], set_: Callable[[Simulation, int, str], None]):
        self.warmup_s = warmup_s
        self.get, self.set = get, set_
        self.window_until = -math.inf
        self.base = 0

    def step_out(self, sim: Simulation, add: int, reason: str) -> None:
        current = self.get(sim)
        if sim.now < self.window_until:
            target = max(current, self.base + add)
        else:
            self.base = current
            target = current + add
        if target > current:
            if sim.now >= self.window_until:
                self.window_until = sim.now + self.warmup_s
            self.set(sim, target, reason)


class DesignScaling:
    """This stack: the client (or the backstop alarm) sizes the group; agents on the instances
    scale in; daemon tasks follow instances."""

    def __init__(self, design: ScalingDesign, assumptions: Assumptions, sender: str = "ecs-autoscale") -> None:
        self.design = design
        self.a = assumptions
        self.sender = sender
        self.label = "this stack" if sender == "ecs-autoscale" else "this stack, other client"
        self.group = StepScaling(
            design.instance_warmup_seconds,
            lambda sim: sim.group_desired,
            lambda sim, n, why: sim.set_group_desired(n, why),
        )
        self.idle_since: dict[int, float | None] = {}
        self.halted = False

    # --- the daemon services ask for every slot of every registered instance ------------------------
    def on_tick(self, sim: Simulation) -> None:
        if sim.service_desired != self.design.max_tasks:
            sim.set_service_desired(self.design.max_tasks, "")
        self._backstop_scale_out(sim)
        self._backstop_idle(sim)
        self._stuck_guard(sim)

    # --- fast path: `submit` sets the group's size as it queues ----------------------------------
    def on_arrival(self, sim: Simulation, video: Video) -> None:
        if self.sender == "ecs-autoscale":
            sim.after(self.a.client_action_s, self._client_sizes_group, sim)

    def _client_sizes_group(self, sim: Simulation) -> None:
        """client/scaling.py: desired = max(current, instances for waiting + delayed + in flight)."""
        wanted = self.design.instances_for(sim.queued())
        if wanted > sim.group_desired:
            sim.set_group_desired(wanted, f"submit ({sim.queued()} video{'s' if sim.queued() != 1 else ''} queued)")

    # --- the backstop alarms (videos from other clients; agents that cannot act) ------------------
    def _datapoint(self, h: MetricHistory, j: int, sqs: int, asg: int) -> int:
        """The backstop alarm's expression for minute j, as CloudWatch computes it at this moment:
        visible + delayed + in_flight - tasks_per_instance * FILL(desired, REPEAT). A missing SQS
        datapoint (not landed yet, or an inactive queue) counts as 0 in metric math (CloudWatch User
        Guide, metric math), so such a minute reads as covered; FILL REPEAT carries the group's last
        published desired capacity over a minute it has not published yet."""
        s = h.sample(j)
        if j <= sqs and not s.missing and self.not_taken(s):
            return 0  # IF(not taken, 0, ...): what the stuck alarm stopped stays stopped
        queued = s.queued if j <= sqs and not s.missing else 0
        desired = h.sample(min(j, asg)).group_desired if asg >= 0 else 0
        return queued - self.design.tasks_per_instance * desired

    def not_taken(self, s: Sample) -> bool:
        """infra/scaling.py not_taken_condition: the oldest video waited long, none in flight or received."""
        return s.oldest_age >= self.design.not_taken_after_seconds and s.in_flight == 0 and s.received == 0

    def _backstop_scale_out(self, sim: Simulation) -> None:
        h = sim.history
        sqs = h.latest(sim.now, self.a.sqs_metric_delay_s)
        asg = h.latest(sim.now, self.a.asg_metric_delay_s)
        newest = max(sqs, asg)
        window = range(newest, max(-1, newest - self.design.scale_out_evaluation_periods), -1)
        breaching = [
            v for v in (self._datapoint(h, j, sqs, asg) for j in window) if v >= self.design.scale_out_threshold
        ]
        if len(breaching) >= self.design.scale_out_datapoints_to_alarm:
            add = self.step_for(breaching[0])
            if add:
                sim.after(
                    self.a.scaling_action_s,
                    self.group.step_out,
                    sim,
                    add,
                    f"scale-out alarm ({breaching[0]} uncovered video{'s' if breaching[0] != 1 else ''}, step +{add})",
                )

    def step_for(self, uncovered: int) -> int:
        breach = uncovered - self.design.scale_out_threshold
        for lower, upper, add in self.design.step_adjustments:
            if lower <= breach and (upper is None or breach < upper):
                return add
        return 0

    def _backstop_idle(self, sim: Simulation) -> None:
        h = sim.history
        i = min(h.latest(sim.now, self.a.sqs_metric_delay_s), h.latest(sim.now, self.a.asg_metric_delay_s))

        def idle(s: Sample) -> bool:  # FILL(queue metrics, 1): a missing SQS datapoint is never idle
            return s.group_desired > 0 and not s.missing and s.queued == 0

        if i >= 0 and h.run(i, idle, before_start=False) >= self.design.backstop_idle_periods:
            sim.after(
                self.a.scaling_action_s,
                sim.set_group_desired,
                0,
                f"backstop idle alarm ({self.design.backstop_idle_periods} idle min)",
            )

    def _stuck_guard(self, sim: Simulation) -> None:
        h = sim.history
        i = min(h.latest(sim.now, self.a.sqs_metric_delay_s), h.latest(sim.now, self.a.asg_metric_delay_s))

        def stuck(s: Sample) -> bool:
            return s.visible >= 1 and s.in_flight == 0 and s.in_service >= 1 and s.received == 0 and not s.missing

        if i >= 0 and h.run(i, stuck, before_start=False) >= self.design.stuck_periods and sim.group_desired:
            sim.after(
                self.a.scaling_action_s,
                sim.set_group_desired,
                0,
                f"stuck alarm (no video taken for {self.design.stuck_minutes} min)",
            )

    # --- the instance agent: live queue counts, drain, kill, terminate ----------------------------
    def on_registered(self, sim: Simulation, instance: Instance) -> None:
        self.idle_since[instance.id] = None
        sim.after(self.design.agent_poll_seconds, self._poll, sim, instance)

    def _live_count(self, sim: Simulation) -> int:
        """What GetQueueAttributes reports now: the queue as it was `sqs_count_lag_s` ago."""
        return sum(sim.waiting_and_in_flight(self.a.sqs_count_lag_s))

    def _crash_loop(self, sim: Simulation, instance: Instance) -> bool:
        """The agent's guard (instance_agent.halt_reason): enough worker exits on this instance while
        videos are visible (delayed ones do not count) and none is in flight."""
        recent = [t for t in instance.exits if sim.now - t <= self.design.crash_window_seconds]
        visible, _, in_flight = sim.queue_counts(self.a.sqs_count_lag_s)
        if len(recent) < self.design.crash_loop_exits or not visible or in_flight or self.halted:
            return False
        self.halted = True
        sim.group_max = 0
        sim.set_group_desired(
            0,
            f"agent halted the stack ({len(recent)} worker exits in "
            f"{self.design.crash_window_seconds // 60} min, videos waiting, none taken)",
        )
        return True

    def _poll(self, sim: Simulation, instance: Instance) -> None:
        if instance.state != "registered" or self._crash_loop(sim, instance):
            return
        if self._live_count(sim) > 0:
            self.idle_since[instance.id] = None
        elif (idle_since := self.idle_since[instance.id]) is None:
            self.idle_since[instance.id] = sim.now
        elif sim.now - idle_since >= self.design.scale_in_idle_seconds:
            sim.drain(instance)
            sim.after(self.design.agent_stop_seconds, self._kill_and_leave, sim, instance)
            return
        sim.after(self.design.agent_poll_seconds, self._poll, sim, instance)

    def _kill_and_leave(self, sim: Simulation, instance: Instance) -> None:
        if instance.state != "draining":
            return
        for task in instance.active_tasks():
            sim._stop_task(task, at_once=True)  # docker kill: a busy worker here would be a cut video
        if self._live_count(sim) > 0:
            self.idle_since[instance.id] = None
            sim.undrain(instance)
            sim.after(self.design.agent_poll_seconds, self._poll, sim, instance)
            return
        sim.after(self.a.asg_action_s, self._terminate_self, sim, instance)

    def _terminate_self(self, sim: Simulation, instance: Instance) -> None:
        if instance.alive:
            sim.group_desired = max(0, sim.group_desired - 1)
            sim.log(
                "capacity",
                f"agent: instance idle for {self.design.scale_in_idle_minutes} min, terminated "
                f"({sim.group_desired} left)",
            )
            sim.terminate(instance, "agent")

    def settled(self, sim: Simulation) -> bool:
        return sim.group_desired == 0 and not sim.alive()


class OriginalScaling:
    """The original stack (deepsea-ai CDK source, original-stack.md): tasks +1 per 5-minute-average
    alarm with a 5-minute cooldown and never scaled in; instances +1 per alarm with a 5-minute
    warm-up; -1 instance per minute once no message was visible for 180 minutes, but managed
    termination protection keeps every instance that holds a task, so a fleet that ran a job stays
    up until someone stops it. Empty instances go after ECS managed scaling's 15 low datapoints."""

    label = "original stack"
    ALARM_THRESHOLD = 1
    AVERAGE_SAMPLES = 5
    TASK_COOLDOWN_S = 300
    INSTANCE_WARMUP_S = 300
    SCALE_IN_WINDOW_SAMPLES = 180
    WATCH_AFTER_DONE_S = (180 + 15) * 60
    """How long after the last video the model keeps watching: the 180-minute alarm's window."""

    def __init__(self, assumptions: Assumptions) -> None:
        self.a = assumptions
        self.tasks = StepScaling(
            self.TASK_COOLDOWN_S, lambda sim: sim.service_desired, lambda sim, n, why: sim.set_service_desired(n, why)
        )
        self.group = StepScaling(
            self.INSTANCE_WARMUP_S, lambda sim: sim.group_desired, lambda sim, n, why: sim.set_group_desired(n, why)
        )
        self.next_empty_scale_in = 0.0
        self.done_at: float | None = None

    def on_arrival(self, sim: Simulation, video: Video) -> None:
        pass

    def on_registered(self, sim: Simulation, instance: Instance) -> None:
        pass

    def on_tick(self, sim: Simulation) -> None:
        for instance in sim.alive():  # managed termination protection follows the tasks
            instance.protected = bool(instance.active_tasks())
        h = sim.history
        i = h.latest(sim.now, self.a.sqs_metric_delay_s)
        if h.sample(i).missing:
            return
        if h.mean("visible", i, self.AVERAGE_SAMPLES) >= self.ALARM_THRESHOLD:
            sim.after(self.a.scaling_action_s, self.tasks.step_out, sim, 1, "5-min average alarm (+1 task)")
            sim.after(self.a.asg_action_s, self.group.step_out, sim, 1, "queue alarm (+1 instance)")
        elif (
            h.run(i, lambda s: s.visible == 0, before_start=True) >= self.SCALE_IN_WINDOW_SAMPLES and sim.group_desired
        ):
            # the alarm repeats every minute while in ALARM; protected instances stay
            sim.after(
                self.a.asg_action_s,
                sim.set_group_desired,
                sim.group_desired - 1,
                "180 min without a visible message (-1)",
            )
        self._empty_instances(sim)

    def _empty_instances(self, sim: Simulation) -> None:
        """ECS managed scaling removes instances without a task after 15 low datapoints."""
        h = sim.history
        j = h.latest(sim.now, self.a.capacity_metric_delay_s)
        low = h.run(j, lambda s: s.instances > s.tasks, before_start=False)
        empty = [i for i in sim.alive() if not i.active_tasks() and i.state == "registered"]
        if empty and low >= self.a.cp_scale_in_datapoints and sim.now >= self.next_empty_scale_in:
            count = max(1, math.floor(len(sim.alive()) * self.a.cp_scale_in_fraction))
            self.next_empty_scale_in = sim.now + self.a.cp_scale_in_interval_s
            for instance in empty[:count]:
                sim.group_desired = max(0, sim.group_desired - 1)
                sim.after(self.a.asg_action_s, sim.terminate, instance, "ECS managed scaling")
            sim.log(
                "capacity",
                f"ECS managed scaling ({int(self.a.cp_scale_in_datapoints)} min below target): "
                f"-{min(count, len(empty))} empty instance(s)",
            )

    def settled(self, sim: Simulation) -> bool:
        if not sim.alive():
            return True
        if self.done_at is None and not sim._unsettled_videos:
            self.done_at = sim.now
        return self.done_at is not None and sim.now >= self.done_at + self.WATCH_AFTER_DONE_S
