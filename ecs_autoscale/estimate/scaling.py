"""Who changes the task and instance counts, and when: this stack's rules and the original stack's.

`DesignScaling` takes every number from `ScalingDesign` (the object `infra/scaling.py` and the fleet
are built from), so a changed cooldown, step, threshold or idle window changes the estimate the same
way it changes the deployment, and it evaluates the same scale-out expression as the deployed alarm
(videos waiting or in progress minus tasks asked for). The ECS capacity provider's own behaviour
(owned by ECS, not by this stack) comes from named assumptions.
"""
from __future__ import annotations

import math
from typing import Optional

from ..scaling_design import ScalingDesign
from .assumptions import Assumptions
from .model import MetricHistory, Simulation, reservation_percent


class ApplicationAutoScaling:
    """Step scaling of the service's desired count with Application Auto Scaling's cooldown rule:
    during a scale-out cooldown, the capacity the initiating activity added counts toward the next
    step, so a repeated alarm only adds the difference (AAS StepScalingPolicyConfiguration.Cooldown)."""

    def __init__(self, cooldown_s: float) -> None:
        self.cooldown_s = cooldown_s
        self.cooldown_until = -math.inf
        self.base = 0

    def step_out(self, sim: Simulation, add: int, reason: str) -> None:
        if sim.now < self.cooldown_until:
            target = max(sim.desired, self.base + add)
        else:
            self.base = sim.desired
            target = sim.desired + add
        target = min(target, sim.fleet_size)
        if target > sim.desired:
            if sim.now >= self.cooldown_until:
                self.cooldown_until = sim.now + self.cooldown_s
            sim.set_desired(target, reason)


class DesignScaling:
    """This stack: queue alarms from `ScalingDesign`, instances from the ECS capacity provider."""

    label = "this stack"

    def __init__(self, design: ScalingDesign, assumptions: Assumptions) -> None:
        self.design = design
        self.a = assumptions
        self.period_samples = max(1, round(design.metric_period_seconds / 60))
        self.service = ApplicationAutoScaling(design.scale_out_cooldown_seconds)
        self.launching = 0
        self.next_scale_out = 0.0
        self.next_scale_in = 0.0

    def step_for(self, uncovered: int) -> int:
        """Tasks to add for an alarm datapoint of `uncovered` videos (lower bound inclusive, upper
        exclusive, both relative to the alarm threshold)."""
        breach = uncovered - self.design.scale_out_threshold
        for lower, upper, add in self.design.step_adjustments:
            if lower <= breach and (upper is None or breach < upper):
                return add
        return 0

    def uncovered(self, h: MetricHistory, end: int, published: int) -> Optional[int]:
        """The scale-out alarm's datapoint for the period ending at SQS sample `end`:
        visible + in_flight - desired (infra/scaling.py UNCOVERED_BACKLOG). The desired count comes from
        the newest Container Insights sample published by now (`published`), repeated over a minute
        it has not published yet (FILL REPEAT); 0 before any. None: no SQS data (not breaching)."""
        if h.sample(end).missing:
            return None
        k = self.period_samples
        desired_at = min(end, published)
        desired = h.maximum("desired", desired_at, k) if desired_at >= 0 else 0
        return h.maximum("visible", end, k) + h.maximum("in_flight", end, k) - desired

    def _scale_out_datapoint(self, sim: Simulation) -> Optional[int]:
        """The newest datapoint when each of the last evaluation periods breaches, else None."""
        h = sim.history
        i = h.latest(sim.now, self.a.sqs_metric_delay_s)
        published = h.latest(sim.now, self.a.container_insights_delay_s)
        values = [self.uncovered(h, i - period * self.period_samples, published)
                  for period in range(self.design.scale_out_evaluation_periods)]
        if all(v is not None and v >= self.design.scale_out_threshold for v in values):
            return values[0]
        return None

    def on_tick(self, sim: Simulation) -> None:
        h = sim.history
        i = h.latest(sim.now, self.a.sqs_metric_delay_s)
        idle_samples = self.design.scale_in_evaluation_periods * self.period_samples
        uncovered = self._scale_out_datapoint(sim)
        if h.run("idle", i) >= idle_samples:
            if sim.desired:
                sim.after(self.a.scaling_action_s, sim.set_desired, 0,
                          f"queue idle for {self.design.scale_in_idle_minutes} min")
        elif uncovered is not None:
            add = self.step_for(uncovered)
            if add:
                videos = f"{uncovered} video{'s' if uncovered != 1 else ''} without a task"
                sim.after(self.a.scaling_action_s, self.service.step_out, sim, add,
                          f"scale-out alarm ({videos}, step +{add})")
        self._capacity_provider(sim)

    # --- ECS managed scaling of the Auto Scaling group -----------------------------------------------
    def _capacity_provider(self, sim: Simulation) -> None:
        h = sim.history
        j = h.latest(sim.now, self.a.capacity_metric_delay_s)
        target = self.design.capacity_target_percent
        group = len(sim.alive) + self.launching  # booting instances count as capacity (warm-up)
        wanted = math.ceil(sim.needed_instances() * 100 / target)
        if reservation_percent(h.sample(j)) > target:
            if sim.now >= self.next_scale_out and wanted > group:
                minimum = self.design.capacity_minimum_step
                if self.a.cp_multi_az_rule:
                    count = minimum
                else:
                    count = min(self.design.max_instance_step, max(minimum, wanted - group))
                count = min(count, sim.fleet_size - group)
                if count > 0:
                    self.launching += count
                    self.next_scale_out = sim.now + self.a.cp_scale_out_interval_s
                    sim.after(self.a.asg_action_s, self._launch, sim, count)
        elif h.run("below_target", j) >= self.a.cp_scale_in_datapoints and sim.now >= self.next_scale_in:
            if len(sim.alive) > wanted:
                count = min(len(sim.alive) - wanted, max(1, math.floor(len(sim.alive) * self.a.cp_scale_in_fraction)))
                self.next_scale_in = sim.now + self.a.cp_scale_in_interval_s
                sim.after(self.a.asg_action_s, self._scale_in, sim, count)

    def _launch(self, sim: Simulation, count: int) -> None:
        self.launching -= count
        sim.launch(count, "capacity provider")

    def _scale_in(self, sim: Simulation, count: int) -> None:
        # managed termination protection: only instances without a task may go
        sim.terminate(sim.idle_instances()[:count], f"capacity provider ({int(self.a.cp_scale_in_datapoints)} min "
                                                     "below target)")

    def settled(self, sim: Simulation) -> bool:
        return sim.desired == 0 and not sim.alive and not self.launching


class OriginalScaling:
    """The original stack (original-stack.md): tasks +1 per 5-minute-average alarm with a 5-minute
    cooldown, instances +1 per alarm with a 5-minute warm-up, one instance removed per ASG cooldown
    once no message was visible for 180 minutes. Windows are sliding; CloudWatch aligns the 3-hour
    period to the clock, so the real scale-in comes 0-3 h later still."""

    label = "original stack"
    ALARM_THRESHOLD = 1
    """Both of its queue alarms compare with 1 visible message."""
    AVERAGE_SAMPLES = 5
    TASK_COOLDOWN_S = 300
    INSTANCE_WARMUP_S = 300
    SCALE_IN_WINDOW_SAMPLES = 180
    SCALE_IN_COOLDOWN_S = 300
    """Auto Scaling group default cooldown between the -1 instance steps."""

    def __init__(self, assumptions: Assumptions) -> None:
        self.a = assumptions
        self.service = ApplicationAutoScaling(self.TASK_COOLDOWN_S)
        self.launching = 0
        self.next_launch = 0.0
        self.next_scale_in = 0.0

    def on_tick(self, sim: Simulation) -> None:
        h = sim.history
        i = h.latest(sim.now, self.a.sqs_metric_delay_s)
        if h.sample(i).missing:
            return
        if h.mean_visible(i, self.AVERAGE_SAMPLES) >= self.ALARM_THRESHOLD:
            sim.after(self.a.scaling_action_s, self.service.step_out, sim, 1, "5-min average alarm (+1 task)")
            if sim.now >= self.next_launch and len(sim.alive) + self.launching < sim.fleet_size:
                self.launching += 1
                self.next_launch = sim.now + self.INSTANCE_WARMUP_S
                sim.after(self.a.asg_action_s, self._launch, sim)
        elif h.run("no_visible", i) >= self.SCALE_IN_WINDOW_SAMPLES and sim.now >= self.next_scale_in and sim.alive:
            self.next_scale_in = sim.now + self.SCALE_IN_COOLDOWN_S
            sim.after(self.a.asg_action_s, self._remove_one, sim)

    def _launch(self, sim: Simulation) -> None:
        self.launching -= 1
        sim.launch(1, "queue alarm")

    def _remove_one(self, sim: Simulation) -> None:
        # nothing protects a running task here: an idle instance goes first, else any instance
        victims = sim.idle_instances() or sorted(sim.alive.values(), key=lambda inst: inst.id)
        sim.terminate(victims[:1], "180 min without a visible message")

    def settled(self, sim: Simulation) -> bool:
        return not sim.alive and not self.launching
