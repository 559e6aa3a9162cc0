"""`ecs-autoscale estimate`: spin-up, spin-down and cost of a workload on a stack, before deploying it.

`run(config, workload)` simulates the stack the config deploys (scaling numbers from
`scaling_design.design_for(config)`, queue settings from the config) and, on request, the original
stack's scaling on the same workload. Pure python, no cdktf/jsii, deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..model.config import ModelConfig
from ..model.instance_types import InstanceTypeError, check_instance_types
from ..model.scaling_design import QUEUE_INACTIVE_AFTER_MINUTES, ScalingDesign, design_for
from .assumptions import Assumptions, Prices, load_prices
from .costs import CostLine, RunCost, idle_monthly, run_cost
from .model import MAX_SIMULATED_S, FleetSettings, ModelError, Outcome, QueueSettings, Simulation
from .rules import SENDERS, DesignScaling, OriginalScaling
from .workload import Workload, WorkloadError


@dataclass
class Estimate:
    config: ModelConfig
    design: ScalingDesign
    workload: Workload
    assumptions: Assumptions
    prices: Prices
    outcomes: list[Outcome]
    """This stack first; the original stack second when compared."""
    costs: list[RunCost]
    idle: list[CostLine]
    sender: str = "ecs-autoscale"
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def check_fits(config: ModelConfig, prices: Prices) -> None:
    """Refuse what can never run, rather than simulate a fleet that never starts a task. The GPUs come
    from the instance-type table `validate` uses (a config built in code skips `validate`)."""
    try:
        check_instance_types(config.instance_types, config.gpus_per_task)
    except InstanceTypeError as exc:
        raise WorkloadError(str(exc)) from None


def check_length(workload: Workload, design: ScalingDesign) -> None:
    """The model stops at MAX_SIMULATED_S; say so before simulating a workload that cannot fit."""
    needed = max(workload.longest_seconds, workload.total_seconds / design.max_tasks, workload.spread_hours * 3600)
    if needed > MAX_SIMULATED_S:
        raise WorkloadError(
            f"{workload.videos} videos x {workload.minutes_text} min need at least {needed / 86400:,.0f} days "
            f"on FleetSize {design.fleet_size}; the model covers {MAX_SIMULATED_S // 86400} days (estimate a part "
            "of the workload, or raise FleetSize)"
        )


def simulate(
    config: ModelConfig,
    workload: Workload,
    rules: Any,
    assumptions: Assumptions,
    design: ScalingDesign,
    original: bool = False,
) -> Outcome:
    queue = QueueSettings(
        visibility_timeout_s=config.visibility_timeout_seconds,
        max_receive_count=config.max_receive_count,
        kept_active=not original and design.queue_keepalive_minutes < QUEUE_INACTIVE_AFTER_MINUTES,
    )
    fleet = FleetSettings(
        fleet_size=design.fleet_size,
        tasks_per_instance=1 if original else design.tasks_per_instance,
        prepull=not original,
        warm_pool=0 if original else design.warm_pool_size,
        stop_timeout_s=design.container_stop_timeout_seconds,
        termination_heartbeat_s=None if original else design.termination_heartbeat_seconds,
    )
    return Simulation(workload, queue, fleet, assumptions, rules).run()


def run(
    config: ModelConfig,
    workload: Workload,
    assumptions: Assumptions | None = None,
    prices: Prices | None = None,
    compare_original: bool = False,
    design: ScalingDesign | None = None,
    sender: str = "ecs-autoscale",
) -> Estimate:
    """Simulate `workload` on the stack `config` deploys. `design` defaults to design_for(config), the
    object the constructs use; pass another only to explore a design change. `sender`: who queues the
    videos, `ecs-autoscale` (submit sizes the group) or `other` (only the backstop alarm sees them)."""
    assumptions = assumptions or Assumptions()
    prices = prices or load_prices()
    design = design or design_for(config)
    if sender not in SENDERS:
        raise WorkloadError(f"--sender {sender}: use one of {', '.join(SENDERS)}")
    check_fits(config, prices)
    check_length(workload, design)
    outcomes = [simulate(config, workload, DesignScaling(design, assumptions, sender), assumptions, design)]
    if compare_original:
        outcomes.append(simulate(config, workload, OriginalScaling(assumptions), assumptions, design, original=True))
    estimate = Estimate(
        config=config,
        design=design,
        workload=workload,
        assumptions=assumptions,
        prices=prices,
        outcomes=outcomes,
        costs=[run_cost(o, config, prices) for o in outcomes],
        idle=idle_monthly(config, workload, assumptions, prices, design),
        sender=sender,
    )
    _advise(estimate)
    return estimate


def _advise(e: Estimate) -> None:
    config, ours = e.config, e.outcomes[0]
    if e.workload.longest_seconds > config.visibility_timeout_seconds:
        which = "each video" if not e.workload.uneven else "the longest videos"
        e.warnings.append(
            f"{which} ({e.workload.longest_seconds / 60:g} min) outlast{'s' if not e.workload.uneven else ''} "
            f"TimeoutHours ({config.timeout_hours:g} h): "
            f"SQS hands it out again and after MaxReceiveCount ({config.max_receive_count}) receives moves it to "
            "the dead queue; raise TimeoutHours above the longest video"
        )
    if ours.interrupted:
        e.warnings.append(
            f"{ours.interrupted} video(s) were cut mid-run and retried only after the {config.timeout_hours:g} h "
            "visibility timeout"
        )
    if ours.videos_dead:
        e.warnings.append(f"{ours.videos_dead} video(s) ended in the dead queue")
    instance_type = config.instance_types[0]
    if e.prices.hourly(instance_type, config.spot) is None:
        market = "spot" if config.spot else "on_demand"
        e.warnings.append(
            f"no shipped {market.replace('_', '-')} price for {instance_type}: "
            f"pass --assume price.{instance_type}.{market}=USD_PER_HOUR"
        )
    if config.region != e.prices.region:
        e.notes.append(
            f"prices are {e.prices.region} list prices; Region is {config.region}: "
            "override with --assume price.TYPE.on_demand=USD (or .spot)"
        )
    if len(config.instance_types) > 1:
        e.notes.append(f"priced as {instance_type}, the first of InstanceTypes {', '.join(config.instance_types)}")
    if config.spot:
        e.notes.append("spot prices move hourly and spot interruptions are not modelled")
    if e.assumptions.sqs_inactive_wakeup_s and len(e.outcomes) > 1:
        e.notes.append(
            f"the queues are assumed idle for 6 h or more: the original's CloudWatch metrics resume "
            f"{e.assumptions.sqs_inactive_wakeup_s:g} s late (--assume sqs_inactive_wakeup_s=0 for a queue in "
            "use); this stack's keep-alive schedule never lets its queue go inactive"
        )


__all__ = ["Assumptions", "Estimate", "ModelError", "Outcome", "Workload", "WorkloadError", "run", "load_prices"]
