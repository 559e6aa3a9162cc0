"""The emulator rules' clock: real time plus an offset that tests move instead of sleeping.

Lifecycle-hook heartbeat timeouts (rules.py, autoscaling.lifecycle-hooks) and the SQS count history
(sqs.approximate-count-lag) read this clock, lazily, when a request arrives. A test that needs an hour to
pass sets $ECS_AUTOSCALE_EMULATOR_CLOCK_OFFSET to 3600 (read at every call, so it works while the emulator
runs in the test's own process). moto's own timers (message delays, visibility timeouts) keep real time.
"""

from __future__ import annotations

import os
import time

CLOCK_OFFSET_ENV = "ECS_AUTOSCALE_EMULATOR_CLOCK_OFFSET"
"""Seconds added to the real time (a float; negative moves the clock back)."""


def now() -> float:
    """Seconds since the epoch, as the rules see them."""
    return time.time() + offset()


def offset() -> float:
    raw = os.environ.get(CLOCK_OFFSET_ENV, "").strip()
    try:
        return float(raw) if raw else 0.0
    except ValueError:
        raise ValueError(f"${CLOCK_OFFSET_ENV}={raw!r} is not a number of seconds, e.g. 3600") from None
