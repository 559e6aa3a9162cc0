"""`report --plot FILE.png`: the job as measured (queue, tasks, instances over time) above what `estimate`
predicted for the same workload, on one time axis. matplotlib loads here only (the `estimate` extra)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ..estimate.plot import PlotError, pyplot
from ..estimate.report import clock, usd
from ..fileio import atomic_write


def _steps(points: list[tuple], end: float, column: int, scale: float) -> tuple[list[float], list[float]]:
    if not points:
        return [0.0, end / scale], [0.0, 0.0]
    return [p[0] / scale for p in points] + [end / scale], [p[column] for p in points] + [points[-1][column]]


def _panel(ax: Any, points: list[tuple], end: float, scale: float, columns: dict[str, int], title: str) -> Any:
    """Draw one run; returns the axis of the tasks and instances (its legend entries)."""
    fleet = ax.twinx()
    for label, color, axis, style in (
        ("videos waiting", "tab:blue", ax, "-"),
        ("videos in progress", "tab:cyan", ax, "-"),
        ("worker tasks", "tab:orange", fleet, "-"),
        ("GPU instances", "tab:red", fleet, "-"),
    ):
        xs, ys = _steps(points, end, columns[label], scale)
        axis.step(xs, ys, where="post", label=label, color=color, linestyle=style, linewidth=1.6)
    ax.set_ylabel("videos")
    fleet.set_ylabel("tasks / instances")
    ax.set_ylim(bottom=0)
    fleet.set_ylim(bottom=0)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    return fleet


def render(report: dict, estimate: Any = None) -> bytes:
    plt = pyplot()
    measured = [tuple(p) for p in report["series"]]
    outcome = estimate.outcomes[0] if estimate is not None else None
    predicted = [(p[0], p[1], p[2], p[4], p[5]) for p in outcome.series] if outcome is not None else []
    end = max([p[0] for p in measured + predicted] + [60.0])
    scale, unit = (3600.0, "hours") if end > 3 * 3600 else (60.0, "minutes")
    panels = 2 if outcome is not None else 1
    fig, axes = plt.subplots(panels, 1, figsize=(10, 3.8 * panels), sharex=True, squeeze=False)
    columns = {"videos waiting": 1, "videos in progress": 2, "worker tasks": 3, "GPU instances": 4}
    m = report["measured"]
    fleet = _panel(
        axes[0, 0],
        measured,
        end,
        scale,
        columns,
        f"measured: first task {clock(m['first_task_running_s'])}, all done {clock(m['all_done_s'])}, zero "
        f"instances {clock(m['back_to_zero_s'])}; {m['gpu_instance_hours']:.2f} GPU-h, {usd(m['instance_usd'])}",
    )
    if outcome is not None:
        e = report["estimate"]
        _panel(
            axes[1, 0],
            predicted,
            end,
            scale,
            columns,
            f"estimate: first task {clock(e['first_task_running_s'])}, all done {clock(e['all_done_s'])}, zero "
            f"instances {clock(e['back_to_zero_s'])}; {e['gpu_instance_hours']:.2f} GPU-h, {usd(e['instance_usd'])}",
        )
    handles, labels = axes[0, 0].get_legend_handles_labels()
    more_handles, more_labels = fleet.get_legend_handles_labels()
    fig.legend(handles + more_handles, labels + more_labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    axes[-1, 0].set_xlabel(f"{unit} after the first video was queued")
    fig.suptitle(f"{report['stack_name']}: job {report['job']}, {report['videos']['total']} video(s)", fontsize=11)
    fig.tight_layout(rect=(0, 0.05 / panels, 1, 1))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def write_plot(report: dict, estimate: Any, path: Path) -> None:
    data = render(report, estimate)
    try:
        atomic_write(Path(path), data)
    except OSError as exc:
        raise PlotError(f"cannot write plot {path}: {exc.strerror or exc} (pick a writable FILE.png)") from None
