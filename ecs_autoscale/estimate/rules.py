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
from dataclasses import dataclass

from ..model.scaling_design import ScalingDesign
from ..synthesis.alarm_expressions import (
    IDLE_EXPRESSION,
    STUCK_EXPRESSION,
    not_taken_expression,
    uncovered_expression,
)
from .assumptions import Assumptions
from .metric_math import Expression, parse
from .model import Instance, Sample, Simulation, Video

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


@dataclass(frozen=True)
class Alarm:
    """A metric-math alarm: ALARM when `datapoints` of the last `evaluation` one-minute values of its
    expression are >= `threshold`; a missing value never breaches (treat_missing_data notBreaching)."""

    name: str
    expression: Expression
    datapoints: int
    evaluation: int
    threshold: float = 1

    def breaching(self, values: list[float | None]) -> list[float]:
        """The breaching values among `values` (newest first), if enough of them breach; else []."""
        breaching = [v for v in values if v is not None and v >= self.threshold]
        return breaching if len(breaching) >= self.datapoints else []


class AlarmEvaluator:
    """Evaluates alarms as CloudWatch does each minute, on the metrics landed so far. A minute whose
    metrics (and every earlier minute's) have all landed has a final value, computed once."""

    def __init__(self, sqs_delay_s: float, asg_delay_s: float) -> None:
        self.sqs_delay_s, self.asg_delay_s = sqs_delay_s, asg_delay_s
        self._final: dict[tuple[str, int], float | None] = {}

    def values(self, sim: Simulation, alarm: Alarm) -> list[float | None]:
        """The alarm's last `evaluation` datapoints, newest first."""
        view = sim.alarm_view(self.sqs_delay_s, self.asg_delay_s)
        out = []
        for minute in range(view.newest, view.newest - alarm.evaluation, -1):
            key = (alarm.name, minute)
            if key in self._final:
                out.append(self._final[key])
                continue
            value = alarm.expression.at(minute, view.metric)
            if view.settled(minute):
                self._final[key] = value
            out.append(value)
        return out

    def firing(self, sim: Simulation, alarm: Alarm) -> list[float]:
        return alarm.breaching(self.values(sim, alarm))


class DesignScaling:
    """This stack: the client (or the backstop alarm) sizes the group; the agent on each instance scales
    it in on its own workers' evidence; daemon tasks follow instances."""

    idle_expression = IDLE_EXPRESSION
    """The backstop idle alarm's expression (a test swaps in an older one)."""

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
        self.alarms = AlarmEvaluator(assumptions.sqs_metric_delay_s, assumptions.asg_metric_delay_s)
        self.scale_out = Alarm(
            "scale-out",
            parse(uncovered_expression(design.tasks_per_instance, design.not_taken_after_seconds)),
            design.scale_out_datapoints_to_alarm,
            design.scale_out_evaluation_periods,
            design.scale_out_threshold,
        )
        idle = design.backstop_idle_periods
        self.idle = Alarm("idle", parse(self.idle_expression), idle, idle)
        self.stuck = Alarm("stuck", parse(STUCK_EXPRESSION), design.stuck_periods, design.stuck_periods)
        self.not_taken_alarm = Alarm(
            "not-taken",
            parse(not_taken_expression(design.not_taken_after_seconds)),
            design.not_taken_datapoints_to_alarm,
            design.not_taken_evaluation_periods,
        )
        self.idle_since: dict[int, float | None] = {}
        self.hold_until = -math.inf
        """Agents do not scale in before this: `submit` recorded a video (submit_hold_seconds)."""
        self.polling: set[int] = set()
        self.halted = False
        self.turn_until = -math.inf
        """Until then an agent's own termination keeps the group busy: other agents' terminates wait their turn."""

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
            self.hold_until = max(
                self.hold_until, video.arrival + self.a.client_action_s + self.design.submit_hold_seconds
            )
            sim.after(self.a.client_action_s, self._client_sizes_group, sim)

    def _client_sizes_group(self, sim: Simulation) -> None:
        """client/group_sizing.py: desired = max(current, instances for waiting + delayed + in flight)."""
        wanted = self.design.instances_for(sim.queued())
        if wanted > sim.group_desired:
            sim.set_group_desired(wanted, f"submit ({sim.queued()} video{'s' if sim.queued() != 1 else ''} queued)")

    # --- the backstop alarms (videos from other clients; agents that cannot act) ------------------
    def not_taken(self, s: Sample) -> bool:
        """alarm_expressions.not_taken_condition on one sample's reported datapoints."""

        def reported(metric: str, _minute: int) -> float | None:
            return s.reported[metric]

        return bool(self.not_taken_alarm.expression.at(0, reported))

    def _backstop_scale_out(self, sim: Simulation) -> None:
        breaching = self.alarms.firing(sim, self.scale_out)
        if not breaching:
            return
        uncovered = int(breaching[0])
        add = self.step_for(uncovered)
        if add:
            sim.after(
                self.a.scaling_action_s,
                self.group.step_out,
                sim,
                add,
                f"scale-out alarm ({uncovered} uncovered video{'s' if uncovered != 1 else ''}, step +{add})",
            )

    def step_for(self, uncovered: int) -> int:
        breach = uncovered - self.design.scale_out_threshold
        for lower, upper, add in self.design.step_adjustments:
            if lower <= breach and (upper is None or breach < upper):
                return add
        return 0

    def _backstop_idle(self, sim: Simulation) -> None:
        if self.alarms.firing(sim, self.idle):
            sim.after(
                self.a.scaling_action_s,
                sim.set_group_desired,
                0,
                f"backstop idle alarm ({self.design.backstop_idle_periods} idle min)",
            )

    def _stuck_guard(self, sim: Simulation) -> None:
        if self.alarms.firing(sim, self.stuck) and sim.group_desired:
            sim.after(
                self.a.scaling_action_s,
                sim.set_group_desired,
                0,
                f"stuck alarm (no video taken for {self.design.stuck_minutes} min)",
            )

    # --- the instance agent: its own workers decide, the queue's counts only hold it back -------------
    def on_registered(self, sim: Simulation, instance: Instance) -> None:
        self.idle_since[instance.id] = None
        self._start_polling(sim, instance)

    def on_terminating(self, sim: Simulation, instance: Instance) -> None:
        """The group terminates this instance and its hook holds it: the agent lets it go once its workers
        are quiet (it also runs on an instance still booting: no workers there yet)."""
        self._start_polling(sim, instance)

    def _start_polling(self, sim: Simulation, instance: Instance) -> None:
        if instance.id not in self.polling:
            self.polling.add(instance.id)
            sim.after(self.design.agent_poll_seconds, self._poll, sim, instance)

    def _waiting(self, sim: Simulation) -> int:
        """Videos waiting or delayed, as GetQueueAttributes reports them: `sqs_count_lag_s` old."""
        _, waiting, _ = sim.queue_counts(self.a.sqs_count_lag_s)
        return waiting

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
        if instance.state == "terminating":
            self._poll_held(sim, instance)
        elif instance.state != "registered" or self._crash_loop(sim, instance):
            self.polling.discard(instance.id)
        elif self._idle_long_enough(sim, instance):
            self._quiet_look(sim, instance, self._leave)
        else:
            self._next_poll(sim, instance)

    def _next_poll(self, sim: Simulation, instance: Instance) -> None:
        sim.after(self.design.agent_poll_seconds, self._poll, sim, instance)

    def _idle_long_enough(self, sim: Simulation, instance: Instance) -> bool:
        """Its own idle clock: reset while any of its workers is busy or starting, or the (lagging) counts
        show videos waiting or delayed; in-flight videos of other instances do not hold it."""
        if instance.working() or self._waiting(sim) > 0:
            self.idle_since[instance.id] = None
            return False
        since = self.idle_since.get(instance.id)
        if since is None:
            self.idle_since[instance.id] = sim.now
            return False
        return sim.now - since >= self.design.scale_in_idle_seconds and sim.now >= self.hold_until

    def _poll_held(self, sim: Simulation, instance: Instance) -> None:
        """Terminating:Wait: heartbeat while a worker is busy; once all are quiet, leave as after idling. In a
        halted stack no worker holds a video (the halt needs videos waiting and none in flight), so a worker
        ECS keeps restarting does not hold the instance (instance_agent: a halt reason counts as quiet)."""
        if instance.working() and not self.halted:
            sim.heartbeat(instance)
            self._next_poll(sim, instance)
        else:
            self._quiet_look(sim, instance, self._complete_hook)

    def _quiet_look(self, sim: Simulation, instance: Instance, then: Callable[[Simulation, Instance], None]) -> None:
        """Watch the workers for `quiet_seconds` more: a receive in that window (its long poll's answer
        moves bytes) stops the kill; otherwise kill `agent_kill_gap_s` after the look."""
        sim.after(self.design.quiet_seconds, self._after_quiet_look, sim, instance, sim.now, then)

    def _after_quiet_look(
        self, sim: Simulation, instance: Instance, since: float, then: Callable[[Simulation, Instance], None]
    ) -> None:
        if instance.state not in ("registered", "terminating"):
            self.polling.discard(instance.id)
            return
        if any(task.received_at >= since for task in instance.tasks) or (instance.working() and not self.halted):
            self._next_poll(sim, instance)
            return
        sim.after(self.a.agent_kill_gap_s, self._kill, sim, instance, then)

    def _kill(self, sim: Simulation, instance: Instance, then: Callable[[Simulation, Instance], None]) -> None:
        """SIGKILL every worker (a worker that took a video inside the kill gap is a cut video), fence,
        drain; then the instance goes."""
        if instance.state not in ("registered", "terminating"):
            self.polling.discard(instance.id)
            return
        sim.kill_workers(instance)
        self.polling.discard(instance.id)
        sim.after(self.a.asg_action_s, then, sim, instance)

    def _leave(self, sim: Simulation, instance: Instance) -> None:
        """TerminateInstanceInAutoScalingGroup, desired capacity -1 (unless the group chose this instance
        meanwhile: then the agent completes its termination hook). While another agent's termination keeps
        the group busy (ScalingActivityInProgress) it waits its turn, billed."""
        if instance.state == "terminating":
            self._complete_hook(sim, instance)
        elif instance.alive and sim.now < self.turn_until:
            sim.at(self.turn_until, self._leave, sim, instance)
        elif instance.alive:
            self.turn_until = sim.now + self.a.terminate_turn_s
            sim.decrement_and_terminate(instance, "agent")
            sim.log(
                "capacity",
                f"agent: instance idle for {self.design.scale_in_idle_minutes} min, terminated "
                f"({sim.group_desired} left)",
            )

    def _complete_hook(self, sim: Simulation, instance: Instance) -> None:
        """CompleteLifecycleAction: the held instance terminates (the group already counted it out)."""
        if instance.state == "terminating":
            sim.terminate(instance, "lifecycle hook completed")

    def settled(self, sim: Simulation) -> bool:
        return sim.group_desired == 0 and not sim.alive()


class OriginalScaling:
    """The original stack (deepsea-ai's CDK source): tasks +1 per 5-minute-average
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

    def on_terminating(self, sim: Simulation, instance: Instance) -> None:
        pass  # no termination hook: the group terminates at once

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
