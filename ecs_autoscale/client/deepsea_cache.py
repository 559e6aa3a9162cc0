"""Jobs submitted by deepsea-ai's `ecsprocess`, read from its local job cache, become ledger entries here.

deepsea-ai (1.25) records every video it queues in a SQLite file `sqlite_job_cache_<account>.db` in its
`job_db_path` (config.ini `[database]`; the default `.` is the folder it ran in): table `job` (name,
engine = the --cluster value, job_type "ECS") and table `media` (name = the video key, status QUEUED /
SUCCESS / FAILED, metadata_b64 = base64 JSON holding the message's `message_uuid`, createdAt/updatedAt
in UTC). Its `monitor` writes SUCCESS/FAILED there from the track and dead messages it takes.

`sync_deepsea_jobs` copies the media of this stack's jobs (engine == StackName) into the job ledger
(STACK_DIR/jobs/<job>.json, entries marked "origin": "deepsea-ai"), so `status --job`, `results --job`
and `submit` see them: status and results match outcomes by message_uuid as for any job, and `submit`
of the same folder and job sends none of them again. Media created before this stack's video queue
existed went to an earlier stack (e.g. the original CDK stack of the same name) and are left out.
The cache is only read (read-only SQLite connection); deepsea-ai keeps owning it.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import JobsError
from .ledger import DONE, FAILED, QUEUED, SENDING, JobLedger
from .messages import decode_metadata

if TYPE_CHECKING:
    from ecs_autoscale.client.aws import AwsClients
    from ecs_autoscale.client.stack_info import StackInfo

CACHE_GLOB = "sqlite_job_cache_*.db"
CACHE_ENV = "ECS_AUTOSCALE_DEEPSEA_DB"
ORIGIN = "deepsea-ai"
CLOCK_SKEW = timedelta(minutes=5)
FAILED_IN_CACHE = (
    "reported FAILED in deepsea-ai's job cache (its `monitor` took the dead-queue message; "
    "deepsea-ai keeps no error text)"
)
_QUERY = """SELECT job.name, media.name, media.status, media.metadata_b64, media.createdAt, media.updatedAt
            FROM job JOIN media ON media.job_id = job.id
            WHERE job.engine = ? AND job.job_type = 'ECS' ORDER BY media.id"""


@dataclass(frozen=True)
class CachedVideo:
    job: str
    key: str
    status: str
    message_uuid: str | None
    queued_at: datetime | None
    """When deepsea-ai queued it (UTC): the media's update time while QUEUED, else its creation time."""
    source: str


@dataclass(frozen=True)
class DeepseaCache:
    """Where to look: explicit files or folders (--deepsea-db / ECS_AUTOSCALE_DEEPSEA_DB), else the
    current folder, deepsea-ai's default job_db_path."""

    locations: tuple[Path, ...] = ()

    @classmethod
    def from_option(cls, value: str | None) -> DeepseaCache:
        parts = [p for p in (value or "").split(os.pathsep) if p]
        return cls(tuple(Path(p) for p in parts))

    def with_config(self, config_ini: Path | None) -> DeepseaCache:
        """Also where deepsea-ai's CONFIG.ini puts its cache ([database] job_db_path, relative to the
        current folder as deepsea-ai reads it), unless --deepsea-db named the places. The same config
        that gives `submit --tags-from` its tags tells where ecsprocess recorded its jobs."""
        if config_ini is None or self.locations:
            return self
        from .object_tags import read_deepsea_config

        folder = read_deepsea_config(config_ini).get("database", "job_db_path", fallback=None)
        if not folder or not Path(folder).is_dir():
            return self
        return DeepseaCache(tuple(dict.fromkeys([Path.cwd().resolve(), Path(folder).resolve()])))

    def files(self) -> list[Path]:
        if not self.locations:
            return sorted(Path.cwd().glob(CACHE_GLOB))
        found = []
        for location in self.locations:
            if location.is_dir():
                found += sorted(location.glob(CACHE_GLOB))
            elif location.is_file():
                found.append(location)
            else:
                raise JobsError(
                    f"{location}: no deepsea-ai job cache there (--deepsea-db / {CACHE_ENV}: a "
                    f"{CACHE_GLOB} file or the folder holding it)"
                )
        return found

    def videos(self, engine: str) -> list[CachedVideo]:
        """Every cached video of `engine` (the --cluster deepsea-ai was given). A file found by default
        that is not a readable job cache is skipped; one named explicitly is an error."""
        out: list[CachedVideo] = []
        for path in self.files():
            try:
                rows = _read(path, engine)
            except sqlite3.Error as exc:
                if self.locations:
                    raise JobsError(
                        f"{path}: not a readable deepsea-ai job cache ({exc}); check --deepsea-db"
                    ) from None
                continue
            out += [_video(row, str(path)) for row in rows]
        return out


def _read(path: Path, engine: str) -> list[tuple]:
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    try:
        return connection.execute(_QUERY, (engine,)).fetchall()
    finally:
        connection.close()


def _video(row: tuple, source: str) -> CachedVideo:
    job, key, status, metadata_b64, created, updated = row
    status = str(status or "UNKNOWN").upper()
    uuid = decode_metadata(str(metadata_b64 or "")).get("message_uuid")
    times = [t for t in (_utc(created), _utc(updated) if status == "QUEUED" else None) if t]
    return CachedVideo(
        job=str(job),
        key=str(key),
        status=status,
        message_uuid=str(uuid) if uuid else None,
        queued_at=max(times) if times else None,
        source=source,
    )


def _utc(value: Any) -> datetime | None:
    """SQLite timestamps as deepsea-ai writes them (UTC, 'YYYY-MM-DD HH:MM:SS[.ffffff]')."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", ""))
    except ValueError:
        return None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def _stamp(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def queue_created(sqs: Any, queue_url: str) -> datetime | None:
    try:
        attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["CreatedTimestamp"])["Attributes"]
        return datetime.fromtimestamp(int(attrs["CreatedTimestamp"]), timezone.utc)
    except Exception:  # unreadable: keep every cached video rather than hide one
        return None


def sync_deepsea_jobs(
    aws: AwsClients, info: StackInfo, stack_dir: Path, cache: DeepseaCache | None, jobs: Sequence[str] | None = None
) -> list[str]:
    """Bring deepsea-ai's cached videos of this stack into the ledgers of `jobs` (all when None); the
    names of the jobs found in the cache."""
    if cache is None:
        return []
    videos = cache.videos(info.stack_name)
    if not videos:
        return []
    since = queue_created(aws("sqs"), info.video_queue_url)
    if since is not None:
        videos = [v for v in videos if v.queued_at is None or v.queued_at >= since - CLOCK_SKEW]
    by_job: dict[str, list[CachedVideo]] = {}
    for video in videos:
        if jobs is None or video.job in jobs:
            by_job.setdefault(video.job, []).append(video)
    for job, cached in by_job.items():
        merge_into_ledger(stack_dir, info.stack_name, job, cached)
    return sorted(by_job)


def merge_into_ledger(stack_dir: Path, stack_name: str, job: str, cached: Iterable[CachedVideo]) -> bool:
    """Add or update ledger entries from cached videos, under the job's lock; True when it changed.

    A video our own `submit` queued (entry without origin) is kept as is, except that an outcome the
    cache holds for the very same message (uuid) is recorded. When a `submit` holds the lock, nothing
    is written now (it is seen again next time).
    """
    ledger = JobLedger.load(stack_dir, job)
    with ledger.locked(wait=False) as ok:
        if not ok:
            return False
        ledger = JobLedger.load(stack_dir, job)
        changed = False
        for video in cached:
            changed |= _merge_one(ledger, video)
        if changed:
            ledger.data.setdefault("stack_name", stack_name)
            if not ledger.exists:
                first = min((v.queued_at for v in cached if v.queued_at), default=None)
                if first:
                    ledger.data["created_at"] = _stamp(first)
            ledger.save()
        return changed


def _outcome(video: CachedVideo) -> tuple[str, str | None, str | None]:
    from .uploads import results_key

    if video.status == "SUCCESS":
        return DONE, results_key(video.key), None
    if video.status == "FAILED":
        return FAILED, None, FAILED_IN_CACHE
    return QUEUED, None, None


def _merge_one(ledger: JobLedger, video: CachedVideo) -> bool:
    entry = ledger.videos.get(video.key)
    state, results, error = _outcome(video)
    if entry is not None and entry.get("message_uuid") == video.message_uuid:
        if entry.get("state") in (QUEUED, SENDING) and state in (DONE, FAILED):
            return ledger.record_outcome(
                video.key, state, results=results, error=error, message_uuid=video.message_uuid
            )
        return False
    if entry is not None and entry.get("origin") != ORIGIN:
        return False  # queued by our own submit: its record stays the reference
    history = []
    if entry is not None:  # deepsea-ai queued the video again: the new message is the current attempt
        history = entry.get("history", []) + [
            {k: entry.get(k) for k in ("attempt", "message_id", "sent_at", "state", "error", "results")}
        ]
    ledger.videos[video.key] = {
        "source": None,
        "size": None,
        "state": state,
        "attempt": len(history) + 1,
        "message_id": None,
        "message_uuid": video.message_uuid,
        "message_group_id": None,
        "deduplication_id": None,
        "clean": None,
        "args": None,
        "body": None,
        "sent_at": _stamp(video.queued_at),
        "results": results,
        "error": error,
        "history": history,
        "origin": ORIGIN,
        "cache": video.source,
    }
    return True
