"""`ecs-autoscale estimate`: spin-up, spin-down and cost of a workload on a stack, before deploying it.

`run(config, workload)` simulates the stack the config deploys (scaling numbers from
`scaling_design.design_for(config)`, queue settings from the config) and, on request, the original
stack's scaling on the same workload. Pure python, no cdktf/jsii, deterministic.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..config import ModelConfig
from ..instance_types import InstanceTypeError, check_instance_types
from ..scaling_design import ScalingDesign, design_for
from .assumptions import Assumptions, Prices, load_prices
from .costs import CostLine, RunCost, idle_monthly, run_cost
from .model import MAX_SIMULATED_S, ModelError, Outcome, QueueSettings, Simulation
from .scaling import DesignScaling, OriginalScaling
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
    rounds = -(-workload.videos // design.fleet_size)
    needed = max(rounds * workload.video_seconds, workload.spread_hours * 3600)
    if needed > MAX_SIMULATED_S:
        raise WorkloadError(
            f"{workload.videos} videos x {workload.minutes_per_video:g} min need at least {needed / 86400:,.0f} days "
            f"on FleetSize {design.fleet_size}; the model covers {MAX_SIMULATED_S // 86400} days (estimate a part "
            "of the workload, or raise FleetSize)")


def simulate(config: ModelConfig, workload: Workload, rules, assumptions: Assumptions,
             design: ScalingDesign) -> Outcome:
    queue = QueueSettings(visibility_timeout_s=config.visibility_timeout_seconds,
                          max_receive_count=config.max_receive_count)
    return Simulation(workload, queue, design.fleet_size, assumptions, rules,
                      target_percent=design.capacity_target_percent,
                      stop_timeout_s=design.container_stop_timeout_seconds).run()


def run(config: ModelConfig, workload: Workload, assumptions: Optional[Assumptions] = None,
        prices: Optional[Prices] = None, compare_original: bool = False,
        design: Optional[ScalingDesign] = None) -> Estimate:
    """Simulate `workload` on the stack `config` deploys. `design` defaults to design_for(config), the
    object the constructs use; pass another only to explore a design change."""
    assumptions = assumptions or Assumptions()
    prices = prices or load_prices()
    design = design or design_for(config)
    check_fits(config, prices)
    check_length(workload, design)
    outcomes = [simulate(config, workload, DesignScaling(design, assumptions), assumptions, design)]
    if compare_original:
        outcomes.append(simulate(config, workload, OriginalScaling(assumptions), assumptions, design))
    estimate = Estimate(config=config, design=design, workload=workload, assumptions=assumptions, prices=prices,
                        outcomes=outcomes, costs=[run_cost(o, config, prices) for o in outcomes],
                        idle=idle_monthly(config, workload, assumptions, prices))
    _advise(estimate)
    return estimate


def _advise(e: Estimate) -> None:
    config, ours = e.config, e.outcomes[0]
    if e.workload.video_seconds > config.visibility_timeout_seconds:
        e.warnings.append(
            f"each video ({e.workload.minutes_per_video:g} min) outlasts TimeoutHours ({config.timeout_hours:g} h): "
            f"SQS hands it out again and after MaxReceiveCount ({config.max_receive_count}) receives moves it to "
            "the dead queue; raise TimeoutHours above the longest video")
    if ours.interrupted:
        e.warnings.append(
            f"{ours.interrupted} video(s) received in the minute or two before the idle alarm acted were stopped "
            f"mid-run (the alarm reads metrics {e.assumptions.sqs_metric_delay_s:g} s old) and retried only after "
            f"the {config.timeout_hours:g} h visibility timeout")
    if ours.videos_dead:
        e.warnings.append(f"{ours.videos_dead} video(s) ended in the dead queue")
    demand = max((p[1] + p[2] for p in ours.series), default=0)
    if ours.peak_tasks > demand:
        e.warnings.append(
            f"over-provisioned: up to {ours.peak_tasks} tasks for at most {demand} videos waiting or running; the "
            f"scale-out alarm still counted asked-for tasks as missing after its "
            f"{e.design.scale_out_cooldown_seconds} s cooldown (its desired-count datapoint lags "
            f"{e.assumptions.container_insights_delay_s:g} s + one period)")
    instance_type = config.instance_types[0]
    if e.prices.hourly(instance_type, config.spot) is None:
        market = "spot" if config.spot else "on_demand"
        e.warnings.append(f"no shipped {market.replace('_', '-')} price for {instance_type}: "
                          f"pass --assume price.{instance_type}.{market}=USD_PER_HOUR")
    if config.region != e.prices.region:
        e.notes.append(f"prices are {e.prices.region} list prices; Region is {config.region}: "
                       "override with --assume price.TYPE.on_demand=USD (or .spot)")
    if len(config.instance_types) > 1:
        e.notes.append(f"priced as {instance_type}, the first of InstanceTypes {', '.join(config.instance_types)}")
    if config.spot:
        e.notes.append("spot prices move hourly and spot interruptions are not modelled")
    if not e.assumptions.sqs_inactive_wakeup_s:
        e.notes.append("a queue idle for 6 h or more can publish its first metrics up to 15 min late "
                       "(--assume sqs_inactive_wakeup_s=900 for that worst case)")


__all__ = ["Assumptions", "Estimate", "ModelError", "Outcome", "Workload", "WorkloadError", "run", "load_prices"]
