"""The scaling design as plain numbers: one source for the constructs and for `estimate`.

Free of cdktf, so the estimate model and `validate` can read it without loading jsii.
"""
from __future__ import annotations

from dataclasses import dataclass

from .config import ModelConfig


@dataclass(frozen=True)
class ScalingDesign:
    fleet_size: int
    """Upper bound of both the task count and the instance count (one task per GPU instance)."""
    metric_period_seconds: int = 60
    """Period of both queue alarms; SQS publishes queue metrics once a minute."""
    scale_out_evaluation_periods: int = 1
    """Scale out on the first period with a visible message (the original averaged 5 minutes)."""
    scale_out_cooldown_seconds: int = 300
    """Roughly one GPU instance boot plus image pull: stops over-adding tasks while the first boot."""
    scale_out_steps: tuple[tuple[int, int], ...] = ((1, 1), (2, 2), (4, 4), (8, 8))
    """(visible messages at least, tasks to add): a larger backlog adds more tasks per alarm."""
    scale_in_idle_minutes: int = 15
    """Minutes visible + in-flight must stay at zero before tasks go to zero: never mid-video."""
    capacity_target_percent: int = 100
    """ECS managed scaling target: instances follow tasks exactly."""
    instance_warmup_seconds: int = 300
    max_instance_step: int = 10

    @property
    def step_adjustments(self) -> list[tuple[int, int | None, int]]:
        """(lower, upper, add) bounds relative to the alarm threshold of 1 visible message, capped at
        FleetSize; the last step is open-ended."""
        steps = [(at, min(add, self.fleet_size)) for at, add in self.scale_out_steps]
        kept: list[tuple[int, int]] = []
        for at, add in steps:
            if kept and kept[-1][1] == add:
                continue  # a step that adds no more than the previous one is redundant
            kept.append((at, add))
        threshold = 1
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
