"""The emulator's record of every AWS request it received that AWS itself would reject.

moto accepts much that AWS refuses (names too long, unknown enum values, missing members), so a
deployment that works on the emulator may fail on a real account. `RequestLog.wrap(app)` puts a WSGI
middleware in front of moto that reads each request by its protocol (wire.py) and checks it against
botocore's service model (model_check.py) before moto answers; the answer itself is not changed.
Tests fail on any `Rejection` (tests/conftest.py); `ecs-autoscale emulator` could log them too.

A request that cannot be read is a rejection ("unreadable"), never skipped. Only a request that did
not arrive whole (the client's connection broke mid-body) and moto's own `/moto-api` are left out.
"""

from __future__ import annotations

import io
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .model_check import Problem, verdict
from .wire import HttpRequest, Unparseable, agent_of, parse, request_from_wsgi


@dataclass(frozen=True)
class Rejection:
    service: str
    operation: str
    agent: str
    problems: tuple[Problem, ...]

    def lines(self) -> list[str]:
        return [
            f"{self.service} {self.operation} (from {self.agent}): {member}: {text}"
            if member
            else f"{self.service} {self.operation} (from {self.agent}): {text}"
            for member, text in self.problems
        ]


class RequestLog:
    """Thread-safe: moto's server answers each request in its own thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rejections: list[Rejection] = []
        self._reported = 0
        self.operations: Counter[tuple[str, str]] = Counter()
        self.seconds = 0.0
        """Time spent reading and checking requests (the check's cost, added to each response)."""

    def record(self, request: HttpRequest) -> Rejection | None:
        """Check one request; return (and keep) its rejection, or None if AWS would accept it."""
        start = time.perf_counter()
        agent = agent_of(request)
        try:
            call, found = verdict(parse(request))
            service, operation, problems = call.service, call.operation, tuple(found)
        except Unparseable as exc:
            service, operation, problems = "?", f"{request.method} {request.path}", (("", f"unreadable: {exc}"),)
        except Exception as exc:  # a gap in the checker must fail loudly too, never pass a request
            service, operation = "?", f"{request.method} {request.path}"
            problems = (("", f"request check failed: {type(exc).__name__}: {exc}"),)
        rejection = Rejection(service, operation, agent, problems) if problems else None
        with self._lock:
            self.operations[(service, operation)] += 1
            self.seconds += time.perf_counter() - start
            if rejection:
                self._rejections.append(rejection)
        return rejection

    @property
    def rejections(self) -> list[Rejection]:
        with self._lock:
            return list(self._rejections)

    def take_unreported(self) -> list[Rejection]:
        """Rejections not returned by an earlier call (a test's teardown reports those of its test)."""
        with self._lock:
            new, self._reported = self._rejections[self._reported :], len(self._rejections)
            return new

    def totals(self) -> dict:
        """What was checked, as plain data (pytest-xdist workers send it to the controller)."""
        with self._lock:
            return {
                "requests": sum(self.operations.values()),
                "rejected": len(self._rejections),
                "seconds": self.seconds,
                "operations": sorted(f"{s} {o}" for s, o in self.operations),
            }

    def wrap(self, app: Callable) -> Callable:
        """WSGI middleware: record each request, then let `app` (moto) answer it unchanged."""

        def middleware(environ: dict, start_response: Callable) -> Iterable[bytes]:
            if not environ.get("PATH_INFO", "").startswith("/moto-api"):
                body, whole = _read_body(environ)
                environ["wsgi.input"] = io.BytesIO(body)
                if whole:
                    self.record(request_from_wsgi(environ, body))
            return app(environ, start_response)

        return middleware


def _read_body(environ: dict[str, Any]) -> tuple[bytes, bool]:
    """The request body, and whether all of it arrived."""
    stream = environ["wsgi.input"]
    if environ.get("wsgi.input_terminated"):  # chunked: werkzeug's stream ends with the body
        try:
            return stream.read(), True
        except OSError:
            return b"", False
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = stream.read(length) if length else b""
    return body, len(body) == length


def report(rejections: Iterable[Rejection]) -> str:
    """One line per problem (repeats counted once), for a test failure."""
    counts = Counter(line for r in rejections for line in r.lines())
    lines = [line if n == 1 else f"{line} [{n} requests]" for line, n in counts.items()]
    return "\n".join(
        ["AWS would reject these requests the emulator accepted (service operation (sender): member: problem):", *lines]
    )


def summary(totals: Iterable[dict]) -> str:
    """One line for the end of a test run, over the logs of all workers."""
    totals = list(totals)
    operations = {op for t in totals for op in t["operations"]}
    return (
        f"AWS request check: {sum(t['requests'] for t in totals)} requests ({len(operations)} operations) "
        f"checked against botocore's service models, {sum(t['rejected'] for t in totals)} rejected, "
        f"{sum(t['seconds'] for t in totals):.1f} s spent checking"
    )
