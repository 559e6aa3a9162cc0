"""Human-readable rendering of `status.collect_status` (the --json output is the dict itself)."""
from __future__ import annotations

MAX_VIDEO_LINES = 50


def format_status(status: dict, job_detail: bool = True) -> str:
    lines = [f"Stack {status['stack_name']} ({status['region']}) at {status['time']}"]
    if status.get("stopped"):
        lines.append(f"  STOPPED since {status['stopped']['since']} by `ecs-autoscale stop`; "
                     "undo with `ecs-autoscale resume`")
    q = status["queues"]
    lines.append("Queues            waiting  in flight")
    for name in ("video", "track", "dead"):
        lines.append(f"  {name:<15} {q[name]['visible']:>7}  {q[name]['in_flight']:>9}")
    s = status["service"]
    scaling = status.get("task_scaling")
    if scaling is None:
        scaling_text = "no scalable target"
    elif any(scaling["suspended"].values()):
        scaling_text = "queue-driven scaling SUSPENDED"
    else:
        scaling_text = f"queue-driven scaling on, {scaling['min']}..{scaling['max']} tasks"
    lines.append(f"Tasks             desired {s['desired']}, running {s['running']}, pending {s['pending']} "
                 f"({scaling_text})")
    f = status.get("fleet")
    if f is None:
        lines.append("Instances         Auto Scaling group not found")
    else:
        lines.append(f"Instances         desired {f['desired']} (min {f['min']}, max {f['max']}), "
                     f"{len(f['instances'])} in the group")
        for i in f["instances"]:
            lines.append(f"  {i['id']}  {i['state']:<12} {i['health'] or '':<10} {i['type'] or '':<13} "
                         f"{'protected' if i['protected'] else 'unprotected'}")
    if status["activities"]:
        lines.append("Latest scaling activity")
        for a in status["activities"]:
            what = f"{a['time'] or '-':<20} {a['what']:<9} {a['status'] or '':<11} {a['description']}"
            lines.append(f"  {what.rstrip()}")
    jobs = status.get("jobs") or {}
    if not jobs:
        lines.append("No job submitted from this STACK_DIR yet (`ecs-autoscale submit`).")
    for report in jobs.values():
        counts = ", ".join(f"{n} {state}" for state, n in report["counts"].items() if n)
        lines.append(f"Job {report['job']}: {report['total']} video(s): {counts or 'none'}")
        if report.get("note"):
            lines.append(f"  note: {report['note']}")
        if job_detail:
            lines += _video_lines(report)
    return "\n".join(lines)


def _video_lines(report: dict) -> list[str]:
    lines = []
    # Problems first, then work in progress, then what is done.
    order = {"failed": 0, "unknown": 1, "unsent": 2, "running": 3, "pending": 4, "queued": 5, "done": 6}
    videos = sorted(report["videos"], key=lambda v: (order.get(v["state"], 9), v["video"]))
    for video in videos[:MAX_VIDEO_LINES]:
        detail = ""
        if video["state"] == "done":
            detail = f" -> {video['results']}"
        elif video["state"] == "failed":
            detail = f": {video['error']}"
        lines.append(f"  {video['state']:<8} {video['video']}{detail}")
    if len(videos) > MAX_VIDEO_LINES:
        lines.append(f"  ... {len(videos) - MAX_VIDEO_LINES} more (all of them with --json)")
    return lines
