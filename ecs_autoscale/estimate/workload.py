"""The workload to estimate: how many videos, how long each takes on one GPU task, and when they arrive."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import EcsAutoscaleError

WORKER_FAILURES = {
    "": "",
    "exit": "; every worker exits before taking a video",
    "hang": "; every worker hangs without taking a video",
}
SPREAD_RE = re.compile(r"^spread:(?P<hours>\d+(\.\d+)?)$")


class WorkloadError(EcsAutoscaleError, ValueError):
    """A workload the model cannot run; one line with the fix."""


@dataclass(frozen=True)
class Workload:
    videos: int
    minutes_per_video: float
    """Wall time of one video on one task, download and upload included."""
    spread_hours: float = 0.0
    """0: every video is queued at once (a `submit` of a folder); else evenly over this many hours."""
    workers_fail: str = ""
    """"exit": every worker exits before it takes a video (a bad image, an unreadable model object);
    "hang": every worker runs but never takes a video and never exits (no route to the model's
    bucket, a stuck download); "": workers work."""

    def __post_init__(self) -> None:
        if self.videos < 1:
            raise WorkloadError("--videos must be at least 1")
        if not self.minutes_per_video > 0:
            raise WorkloadError("--minutes-per-video must be above 0")
        if self.spread_hours < 0:
            raise WorkloadError("--arrival spread:HOURS needs HOURS >= 0")
        if self.workers_fail not in WORKER_FAILURES:
            raise WorkloadError(f"--workers-fail {self.workers_fail!r}: use exit or hang")

    @property
    def video_seconds(self) -> float:
        return self.minutes_per_video * 60.0

    def arrival_times(self) -> list[float]:
        if self.spread_hours == 0 or self.videos == 1:
            return [0.0] * self.videos
        gap = self.spread_hours * 3600.0 / self.videos
        return [i * gap for i in range(self.videos)]

    def describe(self) -> str:
        arrival = "all queued at once" if self.spread_hours == 0 else f"arriving evenly over {self.spread_hours:g} h"
        text = f"{self.videos} video{'s' if self.videos != 1 else ''} x {self.minutes_per_video:g} min, {arrival}"
        return text + WORKER_FAILURES[self.workers_fail]


def parse_arrival(text: str) -> float:
    """`burst` -> 0; `spread:HOURS` -> HOURS."""
    text = text.strip().lower()
    if text == "burst":
        return 0.0
    match = SPREAD_RE.match(text)
    if not match:
        raise WorkloadError(f"--arrival {text!r}: use burst or spread:HOURS, e.g. spread:8")
    return float(match["hours"])
