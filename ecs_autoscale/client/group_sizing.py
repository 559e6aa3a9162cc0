"""The client's side of scaling: the group's state, and the fast path that sizes it as videos are queued.

The Auto Scaling group's desired capacity is the stack's one actuator (scaling_design.py). `submit`
knows how many videos it queues, so it raises the desired capacity itself rather than wait 1-3 minutes
for the backstop alarm's SQS metrics: every instance the videos need launches at once, while the other
videos still upload. `resume` uses the same function. The client only ever raises it: lowering is
the instance agents' job (each knows when its own worker is idle), and a client reading a lagging
count could otherwise cut a running video.

Counts: GetQueueAttributes is approximate and lags the sends by up to a minute (SQS API reference,
GetQueueAttributes), so the videos to cover are max(waiting + delayed + in flight, the videos this
run queued + in flight). SetDesiredCapacity with HonorCooldown=False: the cooldown belongs to the
alarm's step policy; a submit must not wait for it.

A halted group (tag `ecs-autoscale:halted` = "<UTC time> <reason>", put by the instance agent when
workers cannot take videos) or a stopped one (MaxSize 0: `ecs-autoscale stop`, the agent, an
operator) is never raised: `ecs-autoscale resume` is the one way back, after the cause is fixed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..echo import Echo
from ..errors import error_code
from ..group import Group, read_group
from ..stack_dir import StackDir
from .queues import queue_counts
from .stack_info import StackInfo

if TYPE_CHECKING:
    from ecs_autoscale.client.aws import AwsClients


def why_blocked(info: StackInfo, group: Group | None, stack_dir: Path | None = None) -> str | None:
    """Why nothing processes videos now (halted, stopped, no group), None when the group may grow."""
    if group is None:
        return f"its Auto Scaling group {info.autoscaling_group_name} does not exist (is the stack deployed?)"
    if group.halted is not None:
        return f"it was halted: {group.halted}"
    record = StackDir(stack_dir).read_stop_record() if stack_dir is not None else None
    if record is not None:
        return f"it is stopped since {record.get('stopped_at', '?')} (`ecs-autoscale stop`)"
    if group.stopped:
        return "its group's maximum is 0 (stopped)"
    return None


@dataclass(frozen=True)
class Sizing:
    group: str
    before: int
    after: int
    videos: int
    """Videos the size covers: max(live count, videos queued by this run + in flight)."""
    needed: int
    """Instances those videos need, before the FleetSize cap."""
    cap: int
    """The group's MaxSize (FleetSize) at the time."""

    def line(self) -> str:
        change = f"{self.before} -> {self.after}" if self.after != self.before else f"{self.after}, unchanged"
        capped = f"; FleetSize {self.cap} reached" if self.needed > self.cap else ""
        return f"GPU instances: {change} (for {self.videos} video(s){capped})."


def raise_group(aws: AwsClients, info: StackInfo, group: Group, queued_by_run: int = 0) -> Sizing:
    """Raise `group` (not halted, not stopped) to the instances the queue needs; never lowers it."""
    counts = queue_counts(aws("sqs"), info.video_queue_url)
    videos = max(counts.total, queued_by_run + counts.in_flight)
    needed = info.instances_for(videos, videos)  # uncapped: `videos` instances are always enough
    want = min(needed, group.max)
    if want > group.desired:
        aws("autoscaling").set_desired_capacity(
            AutoScalingGroupName=group.name, DesiredCapacity=want, HonorCooldown=False
        )
    return Sizing(
        group=group.name,
        before=group.desired,
        after=max(want, group.desired),
        videos=videos,
        needed=needed,
        cap=group.max,
    )


MARK_EVERY_SECONDS = 60
"""How often, at most, a long `submit` records that it is still queueing videos (the submit marker)."""


class SubmitScaler:
    """The fast path during `submit`: sizes the group right after the first video is queued, then only
    when the videos this run queued need more instances than already asked for (no AWS call per video
    otherwise). A problem is one line and never stops the submit: the videos are queued either way,
    and the backstop alarm adds instances within a few minutes.

    It also keeps the stack's submit marker (an SSM parameter, StackNames.submit_marker) at the time of the
    latest video queued, at most every MARK_EVERY_SECONDS and once more at the end: the instance agents
    hold their scale-in for ScalingDesign.submit_hold_seconds after it, so an agent whose lagging queue
    counts still read 0 does not terminate an instance this submit counted on."""

    def __init__(self, aws: AwsClients, info: StackInfo, stack_dir: Path, echo: Echo) -> None:
        self.aws, self.info, self.stack_dir, self.echo = aws, info, Path(stack_dir), echo
        self.asked: int | None = None
        """Desired capacity known to be asked for (None until the first call succeeds)."""
        self.cap: int | None = None
        self.done = False
        """Nothing more to do: halted, stopped, FleetSize reached, or not allowed to."""
        self.reported = False
        self.marked_at: float | None = None
        self.mark_failed = False

    def finish(self) -> None:
        """Call once the submit has queued its last video (or stopped): the marker says so."""
        if self.marked_at is not None:
            self._mark(force=True)

    def _mark(self, force: bool = False) -> None:
        now = time.time()
        if self.mark_failed or (not force and self.marked_at is not None and now - self.marked_at < MARK_EVERY_SECONDS):
            return
        self.marked_at = now
        try:
            self.aws("ssm").put_parameter(Name=self.info.names.submit_marker, Value=str(int(now)), Overwrite=True)
        except Exception as exc:  # the videos are queued either way
            self.mark_failed = True
            why = error_code(exc) or type(exc).__name__
            self.echo(
                f"Note: could not record this submit for the instance agents ({why}); an instance whose worker "
                "is idle may leave before it takes one of these videos."
            )

    def queued(self, videos: int) -> None:
        """Call after each video this run queued; `videos`: how many it has queued so far."""
        self._mark()
        if self.done or (
            self.asked is not None and self.cap is not None and self.info.instances_for(videos, self.cap) <= self.asked
        ):
            return
        try:
            group = read_group(self.aws("autoscaling"), self.info.autoscaling_group_name)
            blocked = why_blocked(self.info, group, self.stack_dir)
            if blocked:
                self.done = True
                self.echo(
                    f"Note: {self.info.stack_name} will not process these videos until "
                    f"`ecs-autoscale resume {self.stack_dir}`: {blocked}. They stay queued."
                )
                return
            assert group is not None  # why_blocked names a missing group
            sizing = raise_group(self.aws, self.info, group, queued_by_run=videos)
        except Exception as exc:  # AWS refused or unreachable: the submit itself goes on
            self._failed(exc)
            return
        if self.asked is None or sizing.after > self.asked:
            self.echo(sizing.line())
        self.asked, self.cap = sizing.after, sizing.cap
        self.done = sizing.after >= sizing.cap

    def _failed(self, exc: Exception) -> None:
        code = error_code(exc)
        if not self.reported:
            why = code or type(exc).__name__
            self.echo(
                f"GPU instances not raised ({why}: {' '.join(str(exc).split())[:200]}); the stack's alarm "
                "adds them within a few minutes."
            )
            self.reported = True
        # Without the permission (the client policy: docs/operations.md) asking again is pointless; other errors
        # (throttling, a scaling activity in progress) may pass by the next video.
        self.done = "AccessDenied" in code or "Unauthorized" in code
