"""The one base of every expected failure: a problem the user can fix, said in one line.

`EcsAutoscaleError(problem, hint)` reads `problem (hint)`. The CLI turns it, and every other expected
failure (AWS, a full disk, Ctrl-C), into `ecs-autoscale: <line>` in one place: `cli/errors.py`'s
`failures()`. Library code raises these and never prints.
"""

from __future__ import annotations


class EcsAutoscaleError(Exception):
    """An expected failure: what went wrong (`problem`) and what to do about it (`hint`, may be empty)."""

    located = False
    """The line starts with its own location (`FILE:LINE:` of a model file), so the CLI shows it without
    its `ecs-autoscale:` prefix."""

    def __init__(self, problem: str, hint: str = "") -> None:
        super().__init__(problem)
        self.problem = problem
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.problem} ({self.hint})" if self.hint else self.problem


class Interrupted(EcsAutoscaleError):
    """Ctrl-C or SIGTERM, handled cleanly (e.g. Terraform stopped and saved its state): exit 130, like a shell.
    The one exception for an interruption: the CLI's `failures()` turns a bare KeyboardInterrupt into it too."""

    exit_code = 130

    def __init__(self, problem: str = "interrupted", hint: str = "") -> None:
        super().__init__(problem, hint)


class WriteFailed(EcsAutoscaleError):
    """STACK_DIR or an output folder could not be written (a full disk, a read-only folder)."""


DISK_ERRNOS = frozenset({"ENOSPC", "EDQUOT", "EROFS", "EACCES", "EPERM"})
DISK_HINT = "free some space or fix the permissions, then run the same command again"


def aws_errors() -> tuple[type[BaseException], ...]:
    """The exception classes of boto3, botocore and s3transfer (imported only when a failure is examined)."""
    try:
        from boto3.exceptions import Boto3Error
        from botocore.exceptions import BotoCoreError, ClientError
        from s3transfer.exceptions import RetriesExceededError, TransferNotDoneError
    except ImportError:  # no boto3 installed: nothing can have raised its errors
        return ()
    return (BotoCoreError, ClientError, Boto3Error, RetriesExceededError, TransferNotDoneError)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else)."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def aws_problem(exc: BaseException) -> str:
    """One line for an AWS failure, naming the likely fix."""
    from botocore import exceptions as aws

    if isinstance(exc, (aws.NoCredentialsError, aws.PartialCredentialsError)):
        return "AWS: no credentials (configure them, pass --profile, or --endpoint-url for the emulator)"
    if isinstance(exc, (aws.EndpointConnectionError, aws.ConnectTimeoutError, aws.ConnectionClosedError)):
        return f"AWS: cannot connect ({exc}); check your network or --endpoint-url (is the emulator running?)"
    if isinstance(exc, aws.ProfileNotFound):
        return f"AWS: {exc} (check --profile and ~/.aws/config)"
    text = " ".join(str(exc).split())
    return f"AWS: {text} (check credentials, region and --endpoint-url)"


def one_line(exc: BaseException) -> str | None:
    """The one-line message of an expected failure; None for a bug (which keeps its traceback)."""
    if isinstance(exc, (EcsAutoscaleError, TimeoutError)):
        return str(exc)
    if isinstance(exc, OSError) and exc.filename is not None and _errno_name(exc.errno) in DISK_ERRNOS:
        # atomic_write left the previous file whole.
        return f"cannot write {exc.filename}: {exc.strerror} ({DISK_HINT})"
    if isinstance(exc, aws_errors()):
        return aws_problem(exc)
    return None


def _errno_name(number: int | None) -> str:
    import errno

    return errno.errorcode.get(number or 0, "")
