"""What `doctor` reports: one finding per line, `ok|warn|FAIL  <check>: <finding> (<fix>)`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

OK, WARN, FAIL = "ok", "warn", "FAIL"


@dataclass(frozen=True)
class Finding:
    level: str
    """ok: ready; warn: works, but costs time or money, or could not be checked; FAIL: blocks the stack."""
    check: str
    finding: str
    fix: str = ""

    @property
    def blocking(self) -> bool:
        return self.level == FAIL

    def line(self) -> str:
        text = f"{self.check}: {self.finding}{f' ({self.fix})' if self.fix else ''}"
        return f"{self.level:<4}  {' '.join(text.split())}"  # one line, whatever AWS put in a message

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def ok(check: str, finding: str) -> Finding:
    return Finding(OK, check, finding)


def warn(check: str, finding: str, fix: str = "") -> Finding:
    return Finding(WARN, check, finding, fix)


def fail(check: str, finding: str, fix: str = "") -> Finding:
    return Finding(FAIL, check, finding, fix)


def aws_error(exc: Exception) -> tuple[str, str]:
    """(code, message) of a botocore ClientError; ("", text) for anything else."""
    error = getattr(exc, "response", {}).get("Error", {}) if hasattr(exc, "response") else {}
    return str(error.get("Code", "")), " ".join(str(error.get("Message") or exc).split())


DENIED = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "403", "Forbidden")
