"""`submit`, `status`, `results`, `stop` and `resume`: the client side of a deployed stack (boto3)."""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .errors import Interrupted, UserError, endpoint_option, failures, profile_option

if TYPE_CHECKING:
    from ecs_autoscale.client.aws import AwsClients
    from ecs_autoscale.client.deepsea_cache import DeepseaCache
    from ecs_autoscale.client.stack_info import StackInfo
    from ecs_autoscale.client.submit import SubmitReport
    from ecs_autoscale.client.uploads import Video

STACK_DIR = click.argument("stack_dir", metavar="STACK_DIR", type=click.Path(file_okay=False, path_type=Path))


def stack_options(command: Callable[..., Any]) -> Any:
    """STACK_DIR resolution (outputs.json or --stack-name) and where AWS is (--endpoint-url, --profile)."""

    @endpoint_option()
    @profile_option
    @click.option(
        "--stack-name",
        metavar="NAME",
        help="Find the stack in AWS by its StackName (ECS service -> task definition) instead of "
        "STACK_DIR/outputs.json, e.g. for a stack deployed from another machine; STACK_DIR then "
        "only keeps this machine's job records.",
    )
    @click.option(
        "--region",
        metavar="REGION",
        help="Region to look for --stack-name in; default: AWS_REGION or the profile's region.",
    )
    @functools.wraps(command)
    def wrapper(
        *args: Any,
        stack_dir: Path,
        endpoint_url: str | None,
        profile: str | None,
        stack_name: str | None,
        region: str | None,
        **kwargs: Any,
    ) -> Any:
        with failures():
            aws, info = _connect(stack_dir, endpoint_url, profile, stack_name, region)
            return command(*args, stack_dir=stack_dir, aws=aws, info=info, **kwargs)

    return wrapper


def _connect(
    stack_dir: Path, endpoint_url: str | None, profile: str | None, stack_name: str | None, region: str | None
) -> Any:
    from ..client.aws import AwsClients, default_region
    from ..client.stack_info import discover_stack, load_stack_info

    if stack_name:
        region = region or default_region(profile)
        if not region:
            raise UserError("--stack-name needs a region: pass --region, set AWS_REGION or use a profile with one")
        aws = AwsClients(region, endpoint_url, profile)
        return aws, discover_stack(aws, stack_name)
    info = load_stack_info(stack_dir)
    return AwsClients(info.region, endpoint_url, profile), info


def deepsea_option(command: Callable[..., Any]) -> Any:
    """--deepsea-db: where deepsea-ai's job cache is, so jobs its `ecsprocess` sent are seen here."""
    from ..client.deepsea_cache import CACHE_ENV

    @click.option(
        "--deepsea-db",
        "deepsea_db",
        envvar=CACHE_ENV,
        metavar="PATH",
        help="deepsea-ai's job cache (sqlite_job_cache_*.db, or the folder holding it; several joined "
        "by ':'), so jobs sent by `deepsea-ai ecsprocess --cluster StackName` count here. "
        f"Default: the current folder, deepsea-ai's default job_db_path. Env: {CACHE_ENV}.",
    )
    @functools.wraps(command)
    def wrapper(*args: Any, deepsea_db: str | None, **kwargs: Any) -> Any:
        from ..client.deepsea_cache import DeepseaCache

        return command(*args, deepsea=DeepseaCache.from_option(deepsea_db), **kwargs)

    return wrapper


def _rate(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    from ..client.uploads import parse_rate

    try:
        return parse_rate(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


# ---- submit ------------------------------------------------------------------------------------------
@click.command()
@STACK_DIR
@click.argument("inputs", nargs=-1, required=True, metavar="VIDEO_OR_FOLDER...", type=click.Path(path_type=Path))
@click.option("--job", required=True, metavar="NAME", help="Job name: groups the videos for `status` and `results`.")
@click.option("--clean", is_flag=True, help="Let the worker delete each video from the video bucket once processed.")
@click.option(
    "--args",
    "extra_args",
    default="",
    metavar="'ARGS'",
    help="Extra model arguments, passed as the message's `args` string (e.g. '--conf-thres 0.3').",
)
@click.option("--dry-run", is_flag=True, help="List what would be uploaded and queued; nothing is uploaded or sent.")
@click.option("--retry-failed", is_flag=True, help="Queue again the job's videos whose processing failed.")
@click.option(
    "--part-size",
    type=click.IntRange(5, 5120),
    default=64,
    show_default=True,
    metavar="MB",
    help="Upload part size; larger videos upload in parallel parts of this size.",
)
@click.option(
    "-e",
    "--exclude",
    multiple=True,
    metavar="TEXT",
    help="Leave out videos whose path under the folder contains TEXT (repeatable), like deepsea-ai's "
    "--exclude; e.g. --exclude _proxy --exclude tmp/.",
)
@click.option(
    "--tag",
    "tag_values",
    multiple=True,
    metavar="KEY=VALUE",
    help="S3 object tag for every uploaded video (repeatable; at most 10 tags in all).",
)
@click.option(
    "--tags-from",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="CONFIG.ini",
    help="Tag uploads as deepsea-ai does from this config's [tags] section (organization, "
    "project_number, stage, application); --tag values win. Its [database] job_db_path is also "
    "searched for deepsea-ai's job cache (unless --deepsea-db is given).",
)
@click.option(
    "--max-upload-rate",
    callback=_rate,
    metavar="RATE",
    help="Cap the upload bandwidth, e.g. 20MB/s, 500KB/s or 100Mbit/s (a plain number is MB/s). Default: no cap.",
)
@click.option(
    "--retry-minutes",
    type=click.FloatRange(0, 24 * 60),
    default=30,
    show_default=True,
    metavar="MIN",
    help="Keep retrying a video's upload for this long while the network is down (0: never).",
)
@deepsea_option
@stack_options
def submit(
    stack_dir: Path,
    inputs: Sequence[Path],
    job: str,
    clean: bool,
    extra_args: str,
    dry_run: bool,
    retry_failed: bool,
    part_size: int,
    exclude: Sequence[str],
    tag_values: Sequence[str],
    tags_from: Path | None,
    max_upload_rate: int | None,
    retry_minutes: float,
    deepsea: DeepseaCache | None,
    aws: AwsClients,
    info: StackInfo,
) -> None:
    """Upload videos and queue one job message per video, like deepsea-ai's ecsprocess.

    Folders are searched recursively for .mov .avi .mp4 .mpg .mpeg .m4v .wmv .mkv files (any case;
    other and hidden files are ignored). Each video is uploaded to the stack's video bucket under the
    key deepsea-ai gives it: its folder after the last occurrence of the first of Volumes/, mnt/,
    Users/, home/ found in the path, plus its name (objects already there are not uploaded again),
    then gets one FIFO message with deepsea-ai's body, which the dettrack worker reads.

    GPU instances start with the first video: right after queuing it, submit sets the Auto Scaling
    group's desired capacity to the instances the queued videos need (videos / tasks per instance,
    at most FleetSize), and raises it again as more videos are queued; it never lowers it (idle
    instances remove themselves). A halted or stopped stack still gets the videos, which wait in the
    queue until `ecs-autoscale resume STACK_DIR`.

    Safe to re-run: STACK_DIR/jobs/<NAME>.json records every message sent, so a second run of the same
    command queues only the videos that are not queued yet (never a second job for one video); videos
    `deepsea-ai ecsprocess` queued for the same job (see --deepsea-db) count as queued. Network drops
    are ridden out (--retry-minutes). If a video fails part-way, the videos queued and not queued are
    listed, and the exit status is 1.

    \b
    Examples:
      ecs-autoscale submit stacks/megadetector /Volumes/M3/dive-1234/ --job dive-1234
      ecs-autoscale submit stacks/megadetector clip1.mov clip2.mp4 --job test --clean --dry-run
      ecs-autoscale submit stacks/megadetector /Volumes/M3/dive-1234/ --job dive-1234 \\
          --exclude _proxy --tags-from ~/deepsea/config.ini --max-upload-rate 50MB/s
    """
    from ..client.network_retry import NetworkRetry
    from ..client.submit import SubmitOptions, check_job_name, preview_submission, submit_videos

    check_job_name(job)
    tags = _upload_tags(aws, tag_values, tags_from, inputs)  # checked before anything is sent, dry run too
    retry = NetworkRetry(minutes=retry_minutes, echo=lambda line: click.echo(line, err=True))
    deepsea = deepsea.with_config(tags_from) if deepsea is not None else None
    options = SubmitOptions(tuple(exclude), tags, max_upload_rate, retry, deepsea)
    if dry_run:
        _show_dry_run(job, info, *preview_submission(aws, info, stack_dir, inputs, job, retry_failed, options))
        return
    report = submit_videos(
        aws, info, stack_dir, inputs, job, clean=clean, args=extra_args, retry_failed=retry_failed,
        part_size_mb=part_size, progress=True, echo=click.echo, options=options,
    )  # fmt: skip
    _show_submitted(stack_dir, job, report)


def _show_dry_run(job: str, info: StackInfo, report: SubmitReport, todo: list[Video]) -> None:
    for video in todo:
        click.echo(f"would queue  {video.key}  ({video.path}, {_size(video.size)})")
    for video, state in report.already:
        click.echo(f"already      {video.key}  ({state})")
    click.echo(
        f"Dry run, job {job}: {len(todo)} video(s) would be uploaded if missing and queued, "
        f"{len(report.already)} already queued, {len(report.ignored)} non-video file(s) ignored"
        + (f", {len(report.excluded)} excluded" if report.excluded else "")
        + f" (stack {info.stack_name}, bucket {info.video_bucket})."
    )


def _show_submitted(stack_dir: Path, job: str, report: SubmitReport) -> None:
    """The summary; a failure part-way lists what was not queued and exits 1 (130 when interrupted)."""
    for video, state in report.already:
        click.echo(f"already {video.key} ({state})")
    summary = (
        f"Job {job}: {len(report.queued)} video(s) queued now ({len(report.uploaded)} uploaded), "
        f"{len(report.already)} already queued before, {len(report.ignored)} non-video file(s) ignored"
        + (f", {len(report.excluded)} excluded." if report.excluded else ".")
    )
    if report.failed is None:
        click.echo(summary + f" Follow it with `ecs-autoscale status {stack_dir} --job {job}`.")
        return
    click.echo(summary)
    video, reason = report.failed
    click.echo(f"NOT queued {video.key}: {reason}", err=True)
    for other in report.not_attempted:
        click.echo(f"NOT queued {other.key} (not attempted)", err=True)
    message = (
        f"{len(report.not_queued)} of {len(report.found)} video(s) NOT queued (first: {video.key}); "
        "re-run the same command to queue only those"
    )
    raise (Interrupted if report.interrupted else UserError)(message)


def _upload_tags(aws: AwsClients, tag_values: Sequence[str], tags_from: Path | None, inputs: Sequence[Path]) -> dict:
    from ..client.messages import caller_user_name
    from ..client.object_tags import check_tags, deepsea_config_tags, parse_tag_options

    tags = {}
    if tags_from is not None:
        user = caller_user_name(aws("sts"))
        where = ", ".join(str(p) for p in inputs)
        tags = check_tags(
            deepsea_config_tags(tags_from, user, f"Video uploaded from {where} by user {user}"),
            f"--tags-from {tags_from}",
        )
    return check_tags({**tags, **parse_tag_options(tag_values)}, "--tag" if not tags_from else "tags")


# ---- status ------------------------------------------------------------------------------------------
@click.command()
@STACK_DIR
@click.option("--job", metavar="NAME", help="Only this job (default: every job submitted from STACK_DIR).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (with --watch: one per line).")
@click.option("--watch", is_flag=True, help="Refresh until Ctrl-C.")
@click.option(
    "--interval",
    type=click.IntRange(1, 3600),
    default=30,
    show_default=True,
    metavar="SECONDS",
    help="Refresh period of --watch.",
)
@deepsea_option
@stack_options
def status(
    stack_dir: Path,
    job: str | None,
    as_json: bool,
    watch: bool,
    interval: int,
    deepsea: DeepseaCache | None,
    aws: AwsClients,
    info: StackInfo,
) -> None:
    """Why nothing runs (if so), queues, workers, instances, alarms, and the state of each video.

    The first lines say why nothing processes videos when that is the case: the stack halted by an
    instance agent (workers kept failing: the reason and the fix), the videos-stuck alarm in ALARM, or a
    stop. Read-only: it changes nothing in AWS. Video states: done (results key shown), failed (error
    shown), queued / running / pending (queued or running: SQS cannot tell which without taking messages
    from the workers), unsent (a submit was interrupted; re-run it), unknown. Results are found in the
    tracks bucket and failures in the dead queue, which is only peeked (messages released at once):
    nothing is consumed, and the track and video queues are never read. Jobs sent by `deepsea-ai
    ecsprocess` are read from its job cache (--deepsea-db); dead-queue messages held by deepsea-ai's
    `monitor` are reported as held.

    \b
    Examples:
      ecs-autoscale status stacks/megadetector
      ecs-autoscale status stacks/megadetector --job dive-1234 --watch
      ecs-autoscale status stacks/megadetector --job dive-1234 --json | jq '.jobs[].counts'
    """
    from ..client.status import collect_status
    from ..client.status_text import format_status

    def show() -> None:
        current = collect_status(aws, info, stack_dir, job, deepsea=deepsea)
        if as_json:
            click.echo(json.dumps(current, indent=None if watch else 2, sort_keys=True))
        else:
            if watch and sys.stdout.isatty():
                click.clear()
            click.echo(format_status(current))

    try:
        show()
        while watch:
            time.sleep(interval)
            show()
    except KeyboardInterrupt:
        if not watch:
            raise
        # Ctrl-C is how --watch ends: a normal exit.


# ---- results -----------------------------------------------------------------------------------------
@click.command()
@STACK_DIR
@click.argument("dest", required=False, default=".", metavar="[DEST]", type=click.Path(file_okay=False, path_type=Path))
@click.option("--job", required=True, metavar="NAME", help="The job whose results to download.")
@deepsea_option
@stack_options
def results(
    stack_dir: Path, dest: Path, job: str, deepsea: DeepseaCache | None, aws: AwsClients, info: StackInfo
) -> None:
    """Download the .tracks.tar.gz results of a job's finished videos into DEST (default: here).

    Files keep the bucket's layout (DEST/<video folder>/<video>.tracks.tar.gz). Results already in
    DEST are not downloaded again and a different file is never overwritten, so re-run it as videos
    finish. Videos without results yet are counted by state.

    \b
    Example:
      ecs-autoscale results stacks/megadetector --job dive-1234 ./tracks/
    """
    from ..client.results import download_results

    report = download_results(aws, info, stack_dir, job, dest, progress=True, deepsea=deepsea)
    for _video, path in report.downloaded:
        click.echo(f"downloaded {path}")
    waiting = ", ".join(f"{len(v)} {state}" for state, v in sorted(report.not_ready.items()))
    click.echo(
        f"Job {job}: {len(report.downloaded)} result(s) downloaded, {len(report.present)} already in {dest}"
        + (f"; not ready: {waiting} (`ecs-autoscale status {stack_dir} --job {job}`)" if waiting else ".")
    )
    for video, key in report.missing:
        click.echo(f"missing {key}: {video} is done but its results are not in {info.tracks_bucket}", err=True)
    for _video, path, reason in report.conflicts:
        click.echo(f"kept {path}: {reason}", err=True)
    if report.conflicts or report.missing:
        raise UserError(f"{len(report.conflicts) + len(report.missing)} result(s) not downloaded (listed above)")


# ---- stop / resume -----------------------------------------------------------------------------------
@click.command()
@STACK_DIR
@stack_options
def stop(stack_dir: Path, aws: AwsClients, info: StackInfo) -> None:
    """Emergency stop: GPU instances and workers to zero, every queued video kept.

    Sets the Auto Scaling group to min 0, max 0, desired 0 (nothing can raise it again: not submit,
    not the stack's alarm), drains the cluster's instances and stops the running workers, whose
    videos go back to the queue. Queues are not touched: nothing is deleted or moved to the dead
    queue. STACK_DIR/stopped.json records the group's previous limits; `ecs-autoscale resume
    STACK_DIR` restores them. Running `stop` again is harmless; `deploy` is refused while stopped.

    \b
    Example:
      ecs-autoscale stop stacks/megadetector && ecs-autoscale status stacks/megadetector
    """
    from ..client.control import stop_stack
    from ..client.queues import queue_counts

    stop_stack(aws, info, stack_dir, echo=click.echo)
    counts = queue_counts(aws("sqs"), info.video_queue_url)
    click.echo(
        f"Stopped {info.stack_name}. Queued videos kept: {counts.waiting + counts.delayed} waiting, "
        f"{counts.in_flight} in flight (back in the queue when their visibility timeout ends). "
        f"Undo: ecs-autoscale resume {stack_dir}"
    )


@click.command()
@STACK_DIR
@stack_options
def resume(stack_dir: Path, aws: AwsClients, info: StackInfo) -> None:
    """Undo `stop`, or a halt by an instance agent: let the GPU fleet run again.

    Restores the group limits STACK_DIR/stopped.json recorded, or without that file (the stack was
    halted by an instance agent after repeated worker crashes, or stopped from another machine) the
    stack's defaults: instances 0..FleetSize. Then starts the instances the queued videos need and
    removes the `ecs-autoscale:halted` tag. Fix the cause of a halt first (`ecs-autoscale status`
    shows it: check the image, the model files and the log group), or the workers fail again. On a
    stack that is neither stopped nor halted it only launches what the queued videos need: that
    relaunches a fleet the videos-stuck alarm set to 0 (no alarm does, while the videos-not-taken
    alarm is in ALARM), once you have fixed the cause.

    \b
    Example:
      ecs-autoscale resume stacks/megadetector
    """
    from ..client.control import resume_stack

    if resume_stack(aws, info, stack_dir, echo=click.echo) is not None:
        click.echo(f"Resumed {info.stack_name}: follow it with `ecs-autoscale status {stack_dir}`.")
