"""Download a job's `.tracks.tar.gz` results into DEST, keeping the bucket's key layout.

DEST/<video prefix>/<stem>.tracks.tar.gz, so videos with the same name in different folders never
collide. A file already there with the same size is kept (re-runs download only what is new); one with
another size is never overwritten. Each download goes to a temporary file renamed at the end, so DEST
never holds half an archive.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import JobsError
from .job_state import job_reports, select_jobs
from .queues import queue_depth
from .stack_info import StackInfo
from .uploads import ByteProgress, remote_size, results_key

if TYPE_CHECKING:
    from ecs_autoscale.client.aws import AwsClients
    from ecs_autoscale.client.deepsea_cache import DeepseaCache


@dataclass
class DownloadReport:
    downloaded: list[tuple[str, Path]] = field(default_factory=list)
    present: list[tuple[str, Path]] = field(default_factory=list)
    conflicts: list[tuple[str, Path, str]] = field(default_factory=list)
    missing: list[tuple[str, str]] = field(default_factory=list)
    """(video, results key): reported done, but the object is not in the tracks bucket (deleted?)."""
    not_ready: dict[str, list[str]] = field(default_factory=dict)
    """state -> videos without results yet (queued, running, failed, ...)."""


def _local_path(dest: Path, key: str) -> Path:
    path = (dest / key).resolve()
    if dest.resolve() not in path.parents:
        raise JobsError(f"results key {key!r} points outside {dest} (refused)")
    return path


def _place(tmp: str, local: Path) -> bool:
    """Move the finished download into place without ever replacing a file; False if one is there."""
    try:
        os.link(tmp, local)  # fails if `local` exists, unlike rename
    except FileExistsError:
        return False
    except OSError:  # file system without hard links
        if local.exists():
            return False
        os.replace(tmp, local)
    return True


def download_results(
    aws: AwsClients,
    info: StackInfo,
    stack_dir: Path,
    job: str,
    dest: Path,
    progress: bool = True,
    deepsea: DeepseaCache | None = None,
) -> DownloadReport:
    from .deepsea_cache import sync_deepsea_jobs

    sync_deepsea_jobs(aws, info, stack_dir, deepsea, [job])  # a job sent by deepsea-ai's ecsprocess
    select_jobs(stack_dir, job)  # a clear error for an unknown job
    report = job_reports(aws, info, stack_dir, [job], queue_depth(aws("sqs"), info.video_queue_url))[job]
    s3 = aws("s3")
    out = DownloadReport()
    todo = []
    for video in report["videos"]:
        if video["state"] != "done":
            out.not_ready.setdefault(video["state"], []).append(video["video"])
            continue
        key = video["results"] or results_key(video["video"])
        size = remote_size(s3, info.tracks_bucket, key)
        if size is None:
            out.missing.append((video["video"], key))
            continue
        local = _local_path(Path(dest), key)
        if local.exists():
            if local.is_file() and local.stat().st_size == size:
                out.present.append((video["video"], local))
            else:
                out.conflicts.append(
                    (
                        video["video"],
                        local,
                        f"a different file is already there ({size} bytes in the bucket); move it away to download",
                    )
                )
            continue
        todo.append((video["video"], key, local, size))
    with ByteProgress(
        sum(t[3] for t in todo), f"Downloading {len(todo)} result(s)", enabled=progress and bool(todo)
    ) as bar:
        for video, key, local, _ in todo:
            local.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=local.parent, prefix=f".{local.name}.")
            os.close(fd)
            try:
                s3.download_file(info.tracks_bucket, key, tmp, Callback=bar)
                placed = _place(tmp, local)
            finally:
                Path(tmp).unlink(missing_ok=True)
            if placed:
                out.downloaded.append((video, local))
            else:
                out.conflicts.append((video, local, "a file appeared there during the download; kept it"))
    return out
