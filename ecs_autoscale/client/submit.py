"""Submit: upload each video, then queue one job message for it, recording every send in the ledger.

Videos are queued in order, each after its upload (send_pipeline.py: uploads run ahead in parallel,
messages go in batches), so workers start on the first video while the others upload (the group is sized
right after the first send, and again whenever the videos queued so far need more instances:
group_sizing.py), and a failure part-way leaves an exact record: what is queued is in the ledger, what is
not is reported, and a re-run sends only the missing videos. Never a duplicate job for one video: videos in
the ledger are skipped; a send interrupted before it was recorded is repeated with the same body and
deduplication id, which SQS drops within its 5-minute window if the first one got through. Videos that
deepsea-ai's `ecsprocess` queued for the same job (its local job cache, deepsea_cache.py) are in the ledger
too, so they are not queued again either.

`SubmitOptions` carries what deepsea-ai users have on uploads: --exclude, S3 object tags, a bandwidth
cap, and retries through network drops (network_retry.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..echo import Echo, silent
from . import JobsError
from .job_state import needs_send, refreshed_jobs
from .ledger import JobLedger
from .messages import caller_user_name, deduplication_id, job_body, message_group_id, new_message_uuid
from .network_retry import NetworkRetry
from .send_pipeline import SendPipeline
from .stack_info import StackInfo
from .uploads import DEFAULT_PART_SIZE_MB, Video, collect_videos, transfer_config

if TYPE_CHECKING:
    from ecs_autoscale.client.aws import AwsClients
    from ecs_autoscale.client.deepsea_cache import DeepseaCache

JOB_NAME_MAX = 256


@dataclass
class SubmitOptions:
    exclude: tuple[str, ...] = ()
    """Leave out videos whose path under the input folder contains one of these strings."""
    tags: dict[str, str] = field(default_factory=dict)
    """S3 object tags for every video uploaded (object_tags.py)."""
    max_bandwidth: int | None = None
    """Upload cap in bytes per second (None: none)."""
    retry: NetworkRetry = field(default_factory=NetworkRetry)
    deepsea: DeepseaCache | None = None
    """Jobs deepsea-ai queued count as queued."""


@dataclass
class SubmitReport:
    job: str
    found: list[Video] = field(default_factory=list)
    ignored: list[Path] = field(default_factory=list)
    """Non-video files met in folders."""
    excluded: list[Path] = field(default_factory=list)
    """Videos left out by --exclude."""
    already: list[tuple[Video, str]] = field(default_factory=list)
    """(video, state in the ledger): queued by an earlier run, not sent again."""
    queued: list[Video] = field(default_factory=list)
    uploaded: list[Video] = field(default_factory=list)
    failed: tuple[Video, str] | None = None
    not_attempted: list[Video] = field(default_factory=list)
    interrupted: bool = False

    @property
    def not_queued(self) -> list[Video]:
        return ([self.failed[0]] if self.failed else []) + self.not_attempted


def check_job_name(job: str) -> str:
    if not job or not job.strip():
        raise JobsError("--job: empty (name the job, e.g. --job dive-1234)")
    if len(job) > JOB_NAME_MAX or any(ord(c) < 32 for c in job):
        raise JobsError(f"--job: at most {JOB_NAME_MAX} printable characters")
    return job


def plan_submission(
    stack_dir: Path, inputs: Sequence[Path], job: str, retry_failed: bool, exclude: Sequence[str] = ()
) -> tuple[SubmitReport, JobLedger, list[Video]]:
    """Which videos this run would send (no AWS call): (report so far, ledger, videos to send)."""
    check_job_name(job)
    skipped: list[Path] = []
    videos, ignored = collect_videos(inputs, exclude, skipped)
    if not videos:
        left_out = f"; {len(skipped)} excluded by --exclude" if skipped else ""
        raise JobsError(
            f"no videos in {', '.join(map(str, inputs))} (accepted suffixes: .mov .avi .mp4 .mpg .mpeg "
            f".m4v .wmv .mkv, any case{left_out})"
        )
    ledger = JobLedger.load(stack_dir, job)
    report = SubmitReport(job=job, found=videos, ignored=ignored, excluded=skipped)
    todo = []
    for video in videos:
        state = ledger.videos.get(video.key, {}).get("state")
        if needs_send(state, retry_failed):
            todo.append(video)
        else:
            report.already.append((video, str(state)))
    return report, ledger, todo


def preview_submission(
    aws: AwsClients,
    info: StackInfo,
    stack_dir: Path,
    inputs: Sequence[Path],
    job: str,
    retry_failed: bool,
    options: SubmitOptions,
) -> tuple[SubmitReport, list[Video]]:
    """What `submit` would upload and queue (after reading deepsea-ai's jobs); nothing is sent."""
    from .deepsea_cache import sync_deepsea_jobs

    sync_deepsea_jobs(aws, info, stack_dir, options.deepsea, [job])
    report, _, todo = plan_submission(stack_dir, inputs, job, retry_failed, options.exclude)
    return report, todo


def submit_videos(
    aws: AwsClients,
    info: StackInfo,
    stack_dir: Path,
    inputs: Sequence[Path],
    job: str,
    *,
    clean: bool = False,
    args: str = "",
    retry_failed: bool = False,
    part_size_mb: int = DEFAULT_PART_SIZE_MB,
    progress: bool = True,
    echo: Echo = silent,
    options: SubmitOptions | None = None,
) -> SubmitReport:
    from .deepsea_cache import sync_deepsea_jobs

    options = options or SubmitOptions()
    check_job_name(job)
    sync_deepsea_jobs(aws, info, stack_dir, options.deepsea, [job])
    if retry_failed and JobLedger.load(stack_dir, job).exists:  # failures are only known once looked up
        refreshed_jobs(aws, info, stack_dir, [job])
    report, ledger, todo = plan_submission(stack_dir, inputs, job, retry_failed, options.exclude)
    if not todo:
        return report
    with ledger.locked(wait=False) as ok:
        if not ok:
            raise JobsError(
                f"job {job!r} is being submitted by another process right now; wait for it (a re-run "
                "afterwards sends only what is still missing)"
            )
        ledger = JobLedger.load(stack_dir, job)  # the other process may have finished just before
        todo = [v for v in todo if needs_send(ledger.videos.get(v.key, {}).get("state"), retry_failed)]
        user_name = options.retry.run("asking AWS who you are", lambda: caller_user_name(aws("sts")))
        if ledger.data.get("stack_name") != info.stack_name:
            ledger.set_meta(stack_name=info.stack_name)
        try:
            SendPipeline(
                aws,
                info,
                ledger,
                report,
                new_entry=lambda video, attempt: _new_entry(video, job, attempt, clean, args, user_name),
                config=transfer_config(part_size_mb, options.max_bandwidth),
                retry=options.retry,
                tags=options.tags,
                echo=echo,
                progress=progress,
            ).run(todo)
        finally:
            _compact(ledger)
    return report


def _compact(ledger: JobLedger) -> None:
    """The ledger as one snapshot again (once per run: linear). The journal already holds every send, so
    a snapshot that cannot be written (a full disk) loses nothing: the journal stays."""
    try:
        ledger.save()
    except OSError:
        pass


def _new_entry(video: Video, job: str, attempt: int, clean: bool, args: str, user_name: str) -> dict:
    message_uuid = new_message_uuid()
    body = job_body(video.key, job, clean, user_name, args, message_uuid)
    return {
        "source": str(video.path),
        "size": video.size,
        "attempt": attempt,
        "message_uuid": message_uuid,
        "message_group_id": message_group_id(video.name),
        "deduplication_id": deduplication_id(job, video.key, attempt),
        "clean": body["clean"],
        "args": args,
        "body": body,
        "message_id": None,
        "sent_at": None,
    }
