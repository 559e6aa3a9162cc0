"""The workload to estimate: how many videos, how long each takes on one GPU task, and when they arrive."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..errors import EcsAutoscaleError

WORKER_FAILURES = {
    "": "",
    "exit": "; every worker exits before taking a video",
    "hang": "; every worker hangs without taking a video",
}
SPREAD_RE = re.compile(r"^spread:(?P<hours>\d+(\.\d+)?)$")
MINUTES_RE = re.compile(r"^(?P<low>\d+(\.\d*)?|\.\d+)(\s*-\s*(?P<high>\d+(\.\d*)?|\.\d+))?$")
MAX_MINUTES = 100_000
GOLDEN_RATIO = (1 + math.sqrt(5)) / 2


class WorkloadError(EcsAutoscaleError, ValueError):
    """A workload the model cannot run; one line with the fix."""


@dataclass(frozen=True)
class Workload:
    """`videos` videos, queued at once or evenly over `spread_hours`.

    Lengths: every video takes `minutes_per_video`, or, with `longest_minutes`, lengths spread from
    `minutes_per_video` to `longest_minutes` in a mixed order: video i (in queue order, from 0) takes
    A + (B - A) * frac((i + 0.5) * phi) minutes, phi the golden ratio. The fractions fill [0, 1) evenly
    for any number of videos (a golden-ratio sequence: its mean is the midpoint), and neighbours in the
    queue differ, so long and short videos are mixed as a real folder's are. Deterministic: the same
    workload always has the same lengths."""

    videos: int
    minutes_per_video: float
    """Wall time of one video on one task, download and upload included (the shortest, with a range)."""
    spread_hours: float = 0.0
    """0: every video is queued at once (a `submit` of a folder); else evenly over this many hours."""
    workers_fail: str = ""
    """"exit": every worker exits before it takes a video (a bad image, an unreadable model object);
    "hang": every worker runs but never takes a video and never exits (no route to the model's
    bucket, a stuck download); "": workers work."""
    longest_minutes: float | None = None
    """With a range (`--minutes-per-video A-B`): the longest video's minutes; None: every video is equal."""

    def __post_init__(self) -> None:
        if self.videos < 1:
            raise WorkloadError("--videos must be at least 1")
        if not self.minutes_per_video > 0:
            raise WorkloadError("--minutes-per-video must be above 0")
        if self.longest_minutes is not None and not self.longest_minutes >= self.minutes_per_video:
            raise WorkloadError(
                f"--minutes-per-video {self.minutes_per_video:g}-{self.longest_minutes:g}: give the shorter "
                f"length first, e.g. {self.longest_minutes:g}-{self.minutes_per_video:g}"
            )
        if self.spread_hours < 0:
            raise WorkloadError("--arrival spread:HOURS needs HOURS >= 0")
        if self.workers_fail not in WORKER_FAILURES:
            raise WorkloadError(f"--workers-fail {self.workers_fail!r}: use exit or hang")

    @property
    def uneven(self) -> bool:
        return self.longest_minutes is not None and self.longest_minutes != self.minutes_per_video

    def durations_s(self) -> list[float]:
        """Each video's wall time in seconds, in queue order."""
        low = self.minutes_per_video * 60.0
        if not self.uneven:
            return [low] * self.videos
        assert self.longest_minutes is not None  # uneven
        span = self.longest_minutes * 60.0 - low
        return [low + span * (((i + 0.5) * GOLDEN_RATIO) % 1.0) for i in range(self.videos)]

    @property
    def longest_seconds(self) -> float:
        return max(self.durations_s())

    @property
    def total_seconds(self) -> float:
        return sum(self.durations_s())

    @property
    def minutes_text(self) -> str:
        """How `--minutes-per-video` was given: `20` or `5-40`."""
        if not self.uneven:
            return f"{self.minutes_per_video:g}"
        return f"{self.minutes_per_video:g}-{self.longest_minutes:g}"

    def arrival_times(self) -> list[float]:
        if self.spread_hours == 0 or self.videos == 1:
            return [0.0] * self.videos
        gap = self.spread_hours * 3600.0 / self.videos
        return [i * gap for i in range(self.videos)]

    def describe(self) -> str:
        arrival = "all queued at once" if self.spread_hours == 0 else f"arriving evenly over {self.spread_hours:g} h"
        count = f"{self.videos} video{'s' if self.videos != 1 else ''}"
        if self.uneven:
            mean = self.total_seconds / self.videos / 60
            length = f"{self.minutes_text} min (mixed lengths, mean {mean:.1f} min)"
        else:
            length = f"{self.minutes_text} min"
        return f"{count} x {length}, {arrival}" + WORKER_FAILURES[self.workers_fail]


def parse_arrival(text: str) -> float:
    """`burst` -> 0; `spread:HOURS` -> HOURS."""
    text = text.strip().lower()
    if text == "burst":
        return 0.0
    match = SPREAD_RE.match(text)
    if not match:
        raise WorkloadError(f"--arrival {text!r}: use burst or spread:HOURS, e.g. spread:8")
    return float(match["hours"])


def parse_minutes(text: str) -> tuple[float, float | None]:
    """`20` -> (20, None); `5-40` -> (5, 40): every video 20 min, or lengths spread from 5 to 40 min."""
    match = MINUTES_RE.match(text.strip())
    if not match:
        raise WorkloadError(f"--minutes-per-video {text!r}: use MINUTES or SHORTEST-LONGEST, e.g. 20 or 5-40")
    low = float(match["low"])
    high = float(match["high"]) if match["high"] is not None else None
    if max(low, high or 0) > MAX_MINUTES:
        raise WorkloadError(f"--minutes-per-video {text}: at most {MAX_MINUTES:,} minutes")
    return low, high
