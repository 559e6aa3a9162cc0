"""`--plot FILE.png`: queue depth, tasks and instances over time, one panel per simulated stack.

matplotlib (the `estimate` extra) is imported here only, with the Agg backend (no display needed).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ..errors import EcsAutoscaleError
from ..fileio import atomic_write
from . import Estimate
from .report import clock, usd


class PlotError(EcsAutoscaleError, RuntimeError):
    """The plot cannot be written; one line with the fix."""


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend, or one line saying how to install it (also used by report/plot.py)."""
    try:
        import matplotlib
    except ImportError:
        raise PlotError("--plot needs matplotlib: pip install 'ecs-autoscale[estimate]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _steps(series: Any, end: float, column: int, scale: float) -> tuple[list[float], list[float]]:
    xs = [p[0] / scale for p in series] + [end / scale]
    ys = [p[column] for p in series] + [series[-1][column]]
    return xs, ys


def render(e: Estimate) -> bytes:
    plt = pyplot()
    end = max(max(o.back_to_zero_s or o.all_done_s or 0, o.series[-1][0]) for o in e.outcomes)
    scale, unit = (3600.0, "hours") if end > 3 * 3600 else (60.0, "minutes")
    fig, axes = plt.subplots(len(e.outcomes), 1, figsize=(10, 3.8 * len(e.outcomes)), sharex=True, squeeze=False)
    for ax, outcome, cost in zip(axes[:, 0], e.outcomes, e.costs, strict=True):
        fleet = ax.twinx()
        for column, label, color, axis, style in (
            (1, "videos waiting (visible)", "tab:blue", ax, "-"),
            (2, "videos in progress (in flight)", "tab:cyan", ax, "-"),
            (3, "desired instances (group)", "tab:red", fleet, ":"),
            (4, "tasks running", "tab:orange", fleet, "-"),
            (5, "GPU instances", "tab:red", fleet, "-"),
        ):
            xs, ys = _steps(outcome.series, end, column, scale)
            axis.step(xs, ys, where="post", label=label, color=color, linestyle=style, linewidth=1.6)
        for t, label in (
            (outcome.first_task_running_s, "first task"),
            (outcome.all_done_s, "all done"),
            (outcome.back_to_zero_s, "zero instances"),
        ):
            if t is not None:
                ax.axvline(t / scale, color="grey", linestyle="--", linewidth=0.8)
                ax.annotate(
                    label,
                    (t / scale, 1.0),
                    xycoords=("data", "axes fraction"),
                    rotation=90,
                    va="top",
                    ha="right",
                    fontsize=8,
                    color="dimgrey",
                )
        ax.set_ylabel("videos")
        fleet.set_ylabel("tasks / instances")
        fleet.set_ylim(0, max(1, e.config.fleet_size) * 1.15)
        ax.set_ylim(bottom=0)
        zero = clock(outcome.back_to_zero_s) if outcome.back_to_zero_s is not None else "never"
        ax.set_title(
            f"{outcome.label}: first task {clock(outcome.first_task_running_s)}, all done "
            f"{clock(outcome.all_done_s)}, zero instances {zero}; "
            f"{cost.gpu_hours:.1f} GPU-h, {usd(cost.total_usd)}",
            fontsize=10,
        )
        ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    more_handles, more_labels = fleet.get_legend_handles_labels()
    fig.legend(handles + more_handles, labels + more_labels, loc="lower center", ncol=5, fontsize=8, frameon=False)
    axes[-1, 0].set_xlabel(f"{unit} after the first video is queued")
    fig.suptitle(f"{e.config.stack_name}: {e.workload.describe()}, FleetSize {e.config.fleet_size}", fontsize=11)
    fig.tight_layout(rect=(0, 0.05 / len(e.outcomes), 1, 1))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def write_plot(e: Estimate, path: Path) -> None:
    data = render(e)
    try:
        atomic_write(Path(path), data)
    except OSError as exc:
        raise PlotError(f"cannot write plot {path}: {exc.strerror or exc} (pick a writable FILE.png)") from None
