"""Client side of a deployed stack: submit videos, watch a job, fetch results, stop and resume.

Wire-compatible with the original `ecsprocess` client and the `dettrack` worker: same message body,
video key layout and results layout (see examples/reference_worker.py for the worker side). Every
module takes a `StackInfo` (stack_info.py) and an `AwsClients` (aws.py); nothing here prints except
through callbacks the CLI passes in, so the same functions serve scripts and tests.

STACK_DIR files written here (next to the lifecycle's outputs.json):
  jobs/<job>.json   the job ledger: what was queued for which video, and the outcome seen so far
  stopped.json      what `stop` changed, so `resume` restores exactly that
"""

from __future__ import annotations

from ..errors import EcsAutoscaleError


class JobsError(EcsAutoscaleError):
    """An expected failure the user can fix; the message is one line naming the thing and the fix."""
