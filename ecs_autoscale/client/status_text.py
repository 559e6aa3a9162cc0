"""Human-readable rendering of `status.collect_status` (the --json output is the dict itself)."""

from __future__ import annotations

from typing import Any

from ..group import POOL_TERMINATING

MAX_VIDEO_LINES = 50


def format_status(status: dict, job_detail: bool = True) -> str:
    lines = [f"Stack {status['stack_name']} ({status['region']}) at {status['time']}"]
    lines += [f"  {line}" for line in status.get("attention", [])]
    q = status["queues"]
    lines.append("Queues            waiting  delayed  in flight")
    for name in ("video", "track", "dead"):
        lines.append(f"  {name:<15} {q[name]['visible']:>7}  {q[name].get('delayed', 0):>7}  {q[name]['in_flight']:>9}")
    lines += _tasks_lines(status.get("tasks"))
    lines += _fleet_lines(status.get("fleet"))
    lines += _alarm_lines(status.get("alarms"))
    activities = status.get("activities")
    if isinstance(activities, dict):
        lines.append(f"Latest scaling activity: {activities['error']}")
    elif activities:
        lines.append("Latest scaling activity")
        for a in activities:
            lines.append(f"  {a['time'] or '-':<20} {a['status'] or '':<11} {a['description']}".rstrip())
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


def _tasks_lines(tasks: Any) -> list[str]:
    if tasks is None or "error" in tasks:
        return [f"Workers           {(tasks or {}).get('error', 'unknown')}"]
    line = (
        f"Workers           running {tasks['running']}, pending {tasks['pending']} "
        f"(daemon tasks: one per GPU slot of each instance, {tasks['services']} service(s))"
    )
    if tasks["missing"]:
        line += f"; service(s) not found: {', '.join(tasks['missing'])}"
    return [line]


def _fleet_lines(fleet: Any) -> list[str]:
    if fleet is None:
        return ["Instances         Auto Scaling group not found"]
    if "error" in fleet:
        return [f"Instances         {fleet['error']}"]
    states = ", ".join(f"{n} {state}" for state, n in sorted(fleet["by_state"].items())) or "none"
    lines = [f"Instances         desired {fleet['desired']} (min {fleet['min']}, max {fleet['max']}): {states}"]
    for i in fleet["instances"]:
        protected = "protected from scale-in" if i["protected"] else ""
        lines.append(
            f"  {i['id']}  {i['state']:<12} {i['health'] or '':<10} {i['type'] or '':<13} {protected}".rstrip()
        )
    pool = fleet.get("warm_pool")
    if isinstance(pool, dict) and "error" in pool:
        lines.append(f"  warm pool: {pool['error']}")
    elif pool:
        pooled = ", ".join(f"{n} {state}" for state, n in sorted(pool["by_state"].items())) or "empty"
        lines.append(f"  warm pool ({pool['state']}, min {pool['min']}): {pooled}")
        if pool["by_state"].get(POOL_TERMINATING):
            lines.append(
                f"    {POOL_TERMINATING}: replaced by an instance refresh, held by the termination hook until its "
                "timeout (stopped: no agent completes it); `ecs-autoscale deploy` releases them"
            )
    return lines


def _alarm_lines(alarms: Any) -> list[str]:
    if isinstance(alarms, dict) and "error" in alarms:
        return [f"Alarms            {alarms['error']}"]
    lines = ["Alarms"]
    for name, alarm in (alarms or {}).items():
        lines.append(f"  {name:<40} {alarm['state'] if alarm else 'not found'}")
    return lines


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
