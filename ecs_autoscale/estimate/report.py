"""The estimate as text (timeline, GPU hours and cost, idle monthly cost) and as JSON."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from . import Estimate
from .assumptions import Assumptions
from .costs import NO_CHARGE_AT_ZERO, NOT_COUNTED
from .model import Outcome

TIMELINE_HEAD = 14
TIMELINE_TAIL = 10


def clock(seconds: float | None) -> str:
    """Elapsed time as H:MM:SS (hours may exceed 24); '-' when it never happened."""
    if seconds is None:
        return "-"
    total = int(round(seconds))
    return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"


def usd(value: float | None) -> str:
    return "n/a" if value is None else f"${value:,.2f}"


def _header(e: Estimate) -> list[str]:
    c, d = e.config, e.design
    market = "spot" if c.spot else "on-demand"
    types = "/".join(c.instance_types)
    per_instance = (
        "one task per instance" if d.tasks_per_instance == 1 else f"{d.tasks_per_instance} tasks per instance"
    )
    sender = (
        "`submit` sizes the group as it queues"
        if e.sender == "ecs-autoscale"
        else "videos from another client: only the backstop alarm sees them"
    )
    pool = f", warm pool of {d.warm_pool_size}" if d.warm_pool_size else ""
    return [
        f"Estimate for {c.stack_name} ({c.region}): up to {c.fleet_size} x {types} {market}, {per_instance}{pool}",
        f"Workload: {e.workload.describe()}; TimeoutHours {c.timeout_hours:g}, MaxReceiveCount {c.max_receive_count}",
        f"Scaling: {sender}; backstop alarm +{'/+'.join(str(add) for _, _, add in d.step_adjustments)} instances "
        f"({d.scale_out_datapoints_to_alarm} of {d.scale_out_evaluation_periods} 1-min datapoints); each instance "
        f"leaves once its own workers idled {d.scale_in_idle_minutes} min and stayed quiet {d.quiet_seconds} s more "
        f"(its agent; not within {d.submit_hold_seconds} s of a submit); the group's own terminations wait for "
        "quiet workers (lifecycle hook)",
        "",
    ]


def _zero(o: Outcome) -> str:
    if o.back_to_zero_s is not None:
        return clock(o.back_to_zero_s)
    return f"never ({o.still_running} kept)"


def _summary(e: Estimate) -> list[str]:
    rows: list[tuple[str, list[str]]] = [
        ("first task running", [clock(o.first_task_running_s) for o in e.outcomes]),
        ("all videos done", [clock(o.all_done_s) for o in e.outcomes]),
        ("back to zero instances", [_zero(o) for o in e.outcomes]),
        (
            "  after the last video",
            [
                clock(o.back_to_zero_s - o.all_done_s)
                if o.back_to_zero_s is not None and o.all_done_s is not None
                else "-"
                for o in e.outcomes
            ],
        ),
        ("longest wait to start", [clock(o.wait_max_s) for o in e.outcomes]),
        ("peak tasks / instances", [f"{o.peak_tasks} / {o.peak_instances}" for o in e.outcomes]),
        ("GPU-instance hours", [f"{c.gpu_hours:.2f}" for c in e.costs]),
        ("  of which no video running", [f"{c.idle_gpu_hours:.2f}" for c in e.costs]),
        ("GPU instance cost", [usd(c.instance_usd) for c in e.costs]),
        ("  + root volumes (gp3)", [usd(c.ebs_usd) for c in e.costs]),
        ("repeat receives / dead-lettered", [f"{o.repeat_receives} / {o.videos_dead}" for o in e.outcomes]),
        ("videos cut mid-run", [str(o.interrupted) for o in e.outcomes]),
    ]
    label_width = max(len(label) for label, _ in rows) + 2
    widths = [max(len(o.label), *(len(values[i]) for _, values in rows)) + 2 for i, o in enumerate(e.outcomes)]
    lines = [" " * label_width + "".join(o.label.rjust(w) for o, w in zip(e.outcomes, widths, strict=True))]
    lines += [
        label.ljust(label_width) + "".join(v.rjust(w) for v, w in zip(values, widths, strict=True))
        for label, values in rows
    ]
    cost = e.costs[0]
    price = f"${cost.hourly_usd:g}/h" if cost.hourly_usd is not None else "no price"
    as_of = e.prices.spot_as_of if cost.market == "spot" else e.prices.on_demand_as_of
    lines.append(
        f"(times after the first video is queued; {cost.instance_type} {cost.market} at {price}, "
        f"{e.prices.region} prices of {as_of})"
    )
    for o in e.outcomes:
        if o.back_to_zero_s is None and o.still_running and o.all_done_s is not None:
            lines.append(
                f"({o.label}: {o.still_running} instance(s) still running {clock(o.horizon_s - o.all_done_s)} "
                "after the last video, counted up to then; they hold tasks that never scale in, so they "
                "run until stopped by hand)"
            )
        elif o.all_done_s is None:
            lines.append(
                f"({o.label}: videos still waiting when the model stopped at {clock(o.horizon_s)}"
                + (f", {o.still_running} instance(s) still running" if o.still_running else "")
                + ")"
            )
    return lines


def _timeline(outcome: Outcome) -> list[str]:
    events = [f"  {clock(ev.t):>9}  {ev.text}" for ev in outcome.events]
    if len(events) > TIMELINE_HEAD + TIMELINE_TAIL + 1:
        hidden = len(events) - TIMELINE_HEAD - TIMELINE_TAIL
        events = (
            events[:TIMELINE_HEAD]
            + [f"  {'...':>9}  {hidden} more events (--json lists all)"]
            + events[-TIMELINE_TAIL:]
        )
    return [f"Timeline ({outcome.label}):", *events]


def _idle(e: Estimate) -> list[str]:
    total = sum(line.usd_month for line in e.idle)
    lines = [f"Cost of the deployed stack while at zero: {usd(total)}/month"]
    width = max(len(line.item) for line in e.idle) + 2
    lines += [f"  {line.item.ljust(width)}{usd(line.usd_month):>8}  {line.note}" for line in e.idle]
    lines += [f"  no charge at zero: {NO_CHARGE_AT_ZERO}", f"  not counted: {NOT_COUNTED}"]
    return lines


def _assumption_line(e: Estimate) -> str:
    changed = [name for name in Assumptions.names() if getattr(e.assumptions, name) != getattr(Assumptions(), name)]
    changed_text = ", ".join(f"{n}={getattr(e.assumptions, n):g}" for n in changed)
    prices = ", ".join(n for n in e.prices.overridden if n.startswith("price."))
    overridden = "; ".join(part for part in (changed_text, prices) if part)
    return (
        "Assumptions: "
        + (f"overridden {overridden}; " if overridden else "defaults; ")
        + "list and sources: ecs-autoscale estimate --list-assumptions"
    )


def text(e: Estimate) -> str:
    lines = _header(e) + _summary(e)
    for outcome in e.outcomes:
        lines += [""] + _timeline(outcome)
    lines += [""] + _idle(e)
    if e.warnings:
        lines += ["", "Warnings:"] + [f"  ! {w}" for w in e.warnings]
    if e.notes:
        lines += ["", "Notes:"] + [f"  - {n}" for n in e.notes]
    lines += ["", _assumption_line(e)]
    return "\n".join(lines) + "\n"


def _outcome_json(o: Outcome, cost: Any) -> dict[str, Any]:
    return {
        "label": o.label,
        "first_task_running_s": o.first_task_running_s,
        "all_done_s": o.all_done_s,
        "back_to_zero_s": o.back_to_zero_s,
        "still_running": o.still_running,
        "horizon_s": o.horizon_s,
        "first_video_started_s": o.first_video_started_s,
        "wait_mean_s": o.wait_mean_s,
        "wait_max_s": o.wait_max_s,
        "peak_tasks": o.peak_tasks,
        "peak_instances": o.peak_instances,
        "peak_running": o.peak_running,
        "instances_launched": o.instances_launched,
        "videos_done": o.videos_done,
        "videos_dead": o.videos_dead,
        "receives": o.receives,
        "repeat_receives": o.repeat_receives,
        "expired_receives": o.expired_receives,
        "interrupted": o.interrupted,
        "gpu_instance_hours": cost.gpu_hours,
        "idle_gpu_instance_hours": cost.idle_gpu_hours,
        "instance_usd": cost.instance_usd,
        "ebs_usd": cost.ebs_usd,
        "total_usd": cost.total_usd,
        "events": [{"t": ev.t, "kind": ev.kind, "text": ev.text} for ev in o.events],
    }


def as_json(e: Estimate) -> dict[str, Any]:
    c = e.config
    cost = e.costs[0]
    return {
        "stack_name": c.stack_name,
        "region": c.region,
        "fleet_size": c.fleet_size,
        "instance_types": list(c.instance_types),
        "spot": c.spot,
        "workload": asdict(e.workload),
        "sender": e.sender,
        "design": asdict(e.design),
        "price": {
            "instance_type": cost.instance_type,
            "market": cost.market,
            "usd_per_hour": cost.hourly_usd,
            "region": e.prices.region,
            "on_demand_as_of": e.prices.on_demand_as_of,
            "spot_as_of": e.prices.spot_as_of,
        },
        "assumptions": asdict(e.assumptions),
        "runs": [_outcome_json(o, c_) for o, c_ in zip(e.outcomes, e.costs, strict=True)],
        "idle_monthly_usd": {line.item: line.usd_month for line in e.idle},
        "idle_monthly_total_usd": sum(line.usd_month for line in e.idle),
        "warnings": e.warnings,
        "notes": e.notes,
    }
