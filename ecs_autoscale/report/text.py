"""Human-readable rendering of `report.as_json` (the --json output is the dict itself)."""

from __future__ import annotations

from typing import Any

from ..estimate.report import clock, usd

TIMELINE_HEAD = 24
TIMELINE_TAIL = 12
ROWS = (
    ("first task running", "first_task_running_s", "clock"),
    ("first video started", "first_video_started_s", "clock"),
    ("all videos done", "all_done_s", "clock"),
    ("back to zero instances", "back_to_zero_s", "clock"),
    ("peak instances", "peak_instances", "int"),
    ("instances launched", "instances_launched", "int"),
    ("GPU-instance hours", "gpu_instance_hours", "hours"),
    ("GPU instance cost", "instance_usd", "usd"),
    ("videos cut", "videos_cut", "int"),
)


def _value(value: Any, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "clock":
        return clock(value)
    if kind == "hours":
        return f"{value:.2f}"
    if kind == "usd":
        return usd(value)
    return str(value)


def minutes_text(minutes: float) -> str:
    """Minutes per video as the estimate takes them back: one decimal, more for a video under a minute."""
    return f"{minutes:.1f}" if minutes >= 1 else f"{minutes:.2g}"


def _ratio(value: Any) -> str:
    return "-" if value is None else f"{value:.2f}"


def _header(r: dict) -> list[str]:
    v = r["videos"]
    state = "finished" if r["finished"] else "still running (reported as far as it got)"
    minutes = r["minutes_per_video"]
    per_video = minutes_text(minutes["value"]) if minutes["value"] is not None else "-"
    return [
        f"Job {r['job']} on {r['stack_name']} ({r['region']}): {state}",
        f"Queued {r['first_queued_at']} to {r['last_queued_at']}; report at {r['generated_at']}",
        f"Videos: {v['total']}: {v['done']} done, {v['failed']} failed, {v['cut']} cut (received again after "
        f"their instance left mid-video), {v['unfinished']} unfinished",
        f"Minutes per video: {per_video} ({minutes['source']})",
    ]


def _timeline(r: dict) -> list[str]:
    events = [f"  {clock(e['after_s']):>9}  {e['what']}" for e in r["timeline"]]
    if len(events) > TIMELINE_HEAD + TIMELINE_TAIL + 1:
        hidden = len(events) - TIMELINE_HEAD - TIMELINE_TAIL
        events = [*events[:TIMELINE_HEAD], f"  {'...':>9}  {hidden} more (--json lists all)", *events[-TIMELINE_TAIL:]]
    return ["Timeline (after the first video was queued):", *events]


def _phases(r: dict) -> list[str]:
    if not r["phases"]:
        return ["Per phase: no instance milestones (see the notes)"]
    count = max(p["instances"] for p in r["phases"].values())
    lines = [f"Per phase over {count} instance(s), s   median      max   estimate assumes   measured/assumed"]
    for name, p in r["phases"].items():
        lines.append(f"  {name:<27}{p['median']:>9.1f}{p['max']:>9.1f}{p['assumed']:>19g}{_ratio(p['ratio']):>19}")
    return lines


def _comparison(r: dict) -> list[str]:
    measured, predicted, ratios = r["measured"], r["estimate"] or {}, r["ratios"] or {}
    lines = [f"{'':<26}{'measured':>12}{'estimate':>12}{'measured/estimate':>20}"]
    for label, key, kind in ROWS:
        lines.append(
            f"{label:<26}{_value(measured.get(key), kind):>12}{_value(predicted.get(key), kind):>12}"
            f"{_ratio(ratios.get(key)):>20}"
        )
    return lines


def _price(r: dict) -> str:
    p = r["price"]
    kinds = ", ".join(
        f"{i['instance_type']} {i['market']} at {usd(i['usd_per_hour']) + '/h' if i['usd_per_hour'] else 'no price'}"
        for i in p["instances"]
    )
    return (
        f"Priced: {kinds or 'no instance'}; {p['region']} list prices (on-demand as of {p['on_demand_as_of']}, "
        f"spot as of {p['spot_as_of']}), ecs_autoscale/data/prices.json"
    )


def format_report(r: dict, stack_dir: str, config: str | None) -> str:
    lines = _header(r) + [""] + _timeline(r) + [""] + _phases(r) + [""] + _comparison(r) + ["", _price(r)]
    if r["notes"]:
        lines += ["Notes:"] + [f"  - {note}" for note in r["notes"]]
    minutes = r["minutes_per_video"]["value"]
    if minutes is not None:
        lines += [
            "",
            "Re-plan on these numbers:",
            f"  ecs-autoscale report {stack_dir} --job {r['job']} --json > measured.json",
            f"  ecs-autoscale estimate {config or 'CONFIG.yaml'} --videos {r['videos']['total']} "
            f"--minutes-per-video {minutes_text(minutes)} --assume-from measured.json",
        ]
    return "\n".join(lines) + "\n"
