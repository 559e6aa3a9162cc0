"""Riding out network drops during `submit`: retry an upload or a send while the network is down.

The AWS SDK already retries throttling and server errors a few times within seconds; a Wi-Fi drop or a
VPN reconnect lasts minutes. Only connection-level failures are retried here (no route, refused,
reset, timed out): an AWS answer such as AccessDenied fails at once. Waits grow 5, 10, 20, 40, 60, 60 ...
seconds until the deadline. An upload starts over (the partial multipart upload is aborted by the
transfer manager). A send is only repeated within SQS's 5-minute deduplication window of its first
attempt (same body and deduplication id), so a send that did get through is dropped by SQS, never
queued twice; past that window the video is reported not queued and a re-run sends it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ..echo import Echo, silent

T = TypeVar("T")
FIRST_WAIT_SECONDS = 5.0
MAX_WAIT_SECONDS = 60.0
SEND_WINDOW_SECONDS = 4 * 60  # inside SQS's 5-minute deduplication interval
_NETWORK_ERRORS = (
    "EndpointConnectionError",
    "ConnectionClosedError",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ProxyConnectionError",
    "ConnectionError",
    "SSLError",
    "HTTPClientError",
    "ConnectionResetError",
    "ConnectionRefusedError",
    "ConnectionAbortedError",
    "BrokenPipeError",
    "TimeoutError",
    "socket.timeout",
)


def is_network_error(exc: BaseException) -> bool:
    """A failure to reach AWS at all (as opposed to an answer from AWS), also when wrapped (S3's
    transfer manager re-raises upload failures as S3UploadFailedError)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if any(cls.__name__ in _NETWORK_ERRORS for cls in type(exc).__mro__):
            return True
        if type(exc).__name__ == "S3UploadFailedError" and any(n in str(exc) for n in _NETWORK_ERRORS[:5]):
            return True
        next_exc = exc.__cause__ or exc.__context__
        if next_exc is None:
            break
        exc = next_exc
    return False


@dataclass
class NetworkRetry:
    minutes: float = 30.0
    """How long to keep retrying one video's upload (0: never retry)."""
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    echo: Echo = silent

    def run(
        self,
        what: str,
        action: Callable[[], T],
        *,
        window_seconds: float | None = None,
        on_retry: Callable[[], None] = lambda: None,
    ) -> T:
        """`action()`, repeated after network failures until `minutes` (or `window_seconds`) have passed
        since the first attempt; the last failure is raised."""
        started = self.clock()
        limit = self.minutes * 60 if window_seconds is None else min(self.minutes * 60, window_seconds)
        wait = FIRST_WAIT_SECONDS
        while True:
            try:
                return action()
            except Exception as exc:
                if not is_network_error(exc):
                    raise
                left = limit - (self.clock() - started)
                if left <= 0:
                    raise
                pause = min(wait, left)
                self.echo(
                    f"network problem while {what} ({type(exc).__name__}); retrying in {pause:.0f} s "
                    f"(for up to {left / 60:.0f} more min)"
                )
                self.sleep(pause)
                on_retry()
                wait = min(wait * 2, MAX_WAIT_SECONDS)
