"""`ecs-autoscale report`: a job as measured (client/measure.py) side by side with what `estimate` predicts for
the same workload (the job's video count, its measured minutes per video, the submit's spread over time), and
the ratio measured/estimate of each figure: where the model is wrong for this account.

The JSON (`report --json`) holds everything; its "assumptions" object (each measured phase's median, under
the name `estimate --list-assumptions` gives it) is the form `estimate --assume-from FILE` reads, so the loop
is plan (`estimate`) -> run (`submit`) -> measure (`report`) -> re-plan (`estimate --assume-from`).
text.py renders it, plot.py draws the measured run above the predicted one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..client.measure import Measured, instance_json, iso, measured_figures, measured_series, timeline
from ..estimate import run
from ..estimate.assumptions import Assumptions
from ..estimate.workload import Workload, WorkloadError

if TYPE_CHECKING:
    from ecs_autoscale.model.config import ModelConfig


def estimate_for(m: Measured, config: ModelConfig, prices: Any) -> tuple[Any, list[str]]:
    """`estimate`'s run of the same workload (video count, measured minutes per video, the submit's spread),
    or None with the reason."""
    if config.stack_name != m.stack_name:
        return None, [f"the model file is {config.stack_name}'s, not {m.stack_name}'s: no estimate to compare"]
    if not m.minutes_per_video:
        return None, ["no minutes per video yet (no video done): pass --minutes-per-video to compare"]
    spread = (m.videos.sent[-1] - m.videos.sent[0]) / 3600
    try:
        workload = Workload(m.videos.total, m.minutes_per_video, spread if spread >= 0.01 else 0.0)
        return run(config, workload, prices=prices), []
    except WorkloadError as exc:
        return None, [f"no estimate: {exc}"]


def predicted_figures(estimate: Any) -> dict[str, Any]:
    outcome, cost = estimate.outcomes[0], estimate.costs[0]
    return {
        "first_task_running_s": outcome.first_task_running_s,
        "first_video_started_s": outcome.first_video_started_s,
        "all_done_s": outcome.all_done_s,
        "back_to_zero_s": outcome.back_to_zero_s,
        "peak_instances": outcome.peak_instances,
        "instances_launched": outcome.instances_launched,
        "gpu_instance_hours": cost.gpu_hours,
        "instance_usd": cost.instance_usd,
        "videos_cut": outcome.interrupted,
        "minutes_per_video": estimate.workload.minutes_per_video,
    }


def ratio(measured: Any, predicted: Any) -> float | None:
    if not isinstance(measured, (int, float)) or not isinstance(predicted, (int, float)) or not predicted:
        return None
    return float(measured) / float(predicted)


def as_json(m: Measured, prices: Any, estimate: Any = None, estimate_notes: Iterable[str] = ()) -> dict[str, Any]:
    """The report as one JSON object; "assumptions" is the form `estimate --assume-from` reads."""
    measured = measured_figures(m, prices)
    predicted = predicted_figures(estimate) if estimate is not None else None
    phases = m.phases()
    defaults = Assumptions()
    used = estimate.assumptions if estimate is not None else defaults
    return {
        "job": m.job,
        "stack_name": m.stack_name,
        "region": m.region,
        "generated_at": iso(m.now),
        "finished": m.finished,
        "first_queued_at": iso(m.t0),
        "last_queued_at": iso(m.videos.sent[-1]),
        "videos": {
            "total": m.videos.total,
            "done": m.videos.done,
            "failed": m.videos.failed,
            "cut": m.cut,
            "unfinished": m.videos.unfinished,
        },
        "minutes_per_video": {"value": m.minutes_per_video, "source": m.minutes_source},
        "queue_delay_s": m.delay_s,
        "instances": [instance_json(m, i, prices) for i in m.instances],
        "timeline": [{"after_s": t - m.t0, "at": iso(t), "what": what} for t, what in timeline(m)],
        "phases": {
            name: {**values, "assumed": getattr(used, name), "ratio": ratio(values["median"], getattr(used, name))}
            for name, values in phases.items()
        },
        "measured": measured,
        "estimate": predicted,
        "ratios": {k: ratio(measured[k], predicted[k]) for k in measured} if predicted else None,
        "price": price_source(prices, m),
        "assumptions": {name: round(float(values["median"]), 1) for name, values in phases.items()},
        "notes": [*m.notes, *estimate_notes],
        "series": measured_series(m),
    }


def price_source(prices: Any, m: Measured) -> dict[str, Any]:
    kinds = sorted({(i.instance_type or "?", i.lifecycle or "?") for i in m.instances})
    return {
        "instances": [
            {"instance_type": t, "market": market, "usd_per_hour": prices.hourly(t, market == "spot")}
            for t, market in kinds
        ],
        "region": prices.region,
        "on_demand_as_of": prices.on_demand_as_of,
        "spot_as_of": prices.spot_as_of,
        "source": "ecs_autoscale/data/prices.json: list prices, sources in `ecs-autoscale estimate --list-assumptions`",
    }
