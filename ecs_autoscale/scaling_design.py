"""The scaling design as plain numbers: one source for the constructs and for `estimate`.

Free of cdktf, so the estimate model and `validate` can read it without loading jsii. Every number
the deployed stack fixes and the estimate simulates lives here, so the two can never disagree.
"""
from __future__ import annotations

from dataclasses import dataclass

from .config import ModelConfig


@dataclass(frozen=True)
class ScalingDesign:
    fleet_size: int
    """Upper bound of both the task count and the instance count (one task per GPU instance)."""
    metric_period_seconds: int = 60
    """Period of both queue alarms; SQS and Container Insights publish once a minute."""
    scale_out_threshold: int = 1
    """The scale-out alarm fires at this many uncovered videos: videos waiting or in progress
    (visible + in-flight) minus the tasks already asked for (the service's desired count). Counting
    asked-for tasks is what stops a repeated alarm from re-adding tasks that still wait for an
    instance; counting in-flight videos rather than running tasks keeps a started task that has not
    yet received its video, or a task still stopping after scale-in, from looking like demand."""
    scale_out_evaluation_periods: int = 1
    """Scale out on the first period with an uncovered video (the original averaged 5 minutes)."""
    scale_out_cooldown_seconds: int = 180
    """The alarm sees a new desired count about 2 minutes after the scaling action (the next 1-minute
    sample plus about 1 minute until CloudWatch has it); until then the expression still shows the
    old, larger uncovered backlog. 180 s covers that round trip with a minute to spare for Container
    Insights arriving later than SQS. Inside the cooldown a larger backlog still adds the difference
    (Application Auto Scaling counts the initiating step toward the next), so new videos are not
    ignored; a longer cooldown only delays the top-up step, a shorter one risks double-booking."""
    scale_out_steps: tuple[tuple[int, int], ...] = ((1, 1), (2, 2), (4, 4), (8, 8))
    """(uncovered videos at least, tasks to add): a step never adds more tasks than uncovered videos."""
    scale_in_idle_minutes: int = 15
    """Minutes visible + in-flight must stay at zero before tasks go to zero: never mid-video."""
    scale_in_cooldown_seconds: int = 60
    capacity_target_percent: int = 100
    """ECS managed scaling target capacity: instances follow tasks exactly."""
    capacity_minimum_step: int = 1
    """minimum_scaling_step_size of the capacity provider; a group spanning several Availability
    Zones or instance types scales out by exactly this many instances at a time."""
    max_instance_step: int = 10
    """maximum_scaling_step_size of the capacity provider."""
    instance_warmup_seconds: int = 300
    container_stop_timeout_seconds: int = 60
    """stopTimeout of the container (and ECS_CONTAINER_STOP_TIMEOUT): a worker running as PID 1
    without a SIGTERM handler is killed only then, so a stopped task frees its instance this late."""

    @property
    def step_adjustments(self) -> list[tuple[int, int | None, int]]:
        """(lower, upper, add) bounds relative to the alarm threshold (the expression value minus
        `scale_out_threshold`), capped at FleetSize; the last step is open-ended."""
        steps = [(at, min(add, self.fleet_size)) for at, add in self.scale_out_steps]
        kept: list[tuple[int, int]] = []
        for at, add in steps:
            if kept and kept[-1][1] == add:
                continue  # a step that adds no more than the previous one is redundant
            kept.append((at, add))
        threshold = self.scale_out_threshold
        out = []
        for i, (at, add) in enumerate(kept):
            upper = kept[i + 1][0] - threshold if i + 1 < len(kept) else None
            out.append((at - threshold, upper, add))
        return out

    @property
    def scale_in_evaluation_periods(self) -> int:
        return max(1, self.scale_in_idle_minutes * 60 // self.metric_period_seconds)


def design_for(config: ModelConfig) -> ScalingDesign:
    return ScalingDesign(
        fleet_size=config.fleet_size,
        scale_in_idle_minutes=config.scale_in_idle_minutes,
        max_instance_step=min(config.fleet_size, 10),
    )
