"""The job ledger: STACK_DIR/jobs/<job>.json, what was queued for each video and what came of it.

Written atomically after every message sent, so an interrupted `submit` knows exactly which videos are
queued and a re-run sends only the others. `status` adds outcomes it has seen (done with the results
key, failed with the error) so they survive the messages being consumed by someone else.

    {"format": 1, "job_name": "dive-1234", "stack_name": "Megadetector", "videos": {
       "M3/dive-1234/clip.mov": {"source": "/Volumes/M3/dive-1234/clip.mov", "size": 123, "state": "queued",
          "attempt": 1, "message_id": "...", "message_uuid": "...", "message_group_id": "...",
          "deduplication_id": "...", "clean": "False", "args": "", "sent_at": "2026-...Z",
          "results": null, "error": null, "history": []}}}
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..fileio import atomic_write_json
from ..stack_dir import JOBS_DIR, job_file_name, utc_now
from . import JobsError

FORMAT = 1
# SENDING: recorded just before the send, so a crash in between re-sends the very same message (same
# body and deduplication id) instead of a second job; QUEUED once SQS accepted it.
SENDING, QUEUED, DONE, FAILED = "sending", "queued", "done", "failed"


class JobLedger:
    def __init__(self, stack_dir: Path, job_name: str, data: dict | None = None) -> None:
        self.stack_dir = Path(stack_dir)
        self.job_name = job_name
        self.path = self.stack_dir / JOBS_DIR / job_file_name(job_name)
        self.data = data or {"format": FORMAT, "job_name": job_name, "created_at": utc_now(), "videos": {}}

    # ---- reading ----------------------------------------------------------------------------------
    @classmethod
    def load(cls, stack_dir: Path, job_name: str) -> JobLedger:
        """The job's ledger; an empty one when the job was never submitted from this STACK_DIR."""
        ledger = cls(stack_dir, job_name)
        try:
            data = json.loads(ledger.path.read_text())
        except FileNotFoundError:
            return ledger
        except (OSError, ValueError) as exc:
            raise JobsError(
                f"{ledger.path}: unreadable job ledger ({exc}); move it aside to start the job's "
                "record afresh (queued messages are not affected)"
            ) from None
        if data.get("job_name") != job_name or not isinstance(data.get("videos"), dict):
            raise JobsError(f"{ledger.path}: not the ledger of job {job_name!r} (move it aside)")
        ledger.data = data
        return ledger

    @property
    def exists(self) -> bool:
        return self.path.exists()

    @property
    def videos(self) -> dict[str, dict]:
        return self.data["videos"]

    # ---- writing ----------------------------------------------------------------------------------
    def save(self) -> None:
        atomic_write_json(self.path, self.data)

    def begin_send(self, key: str, new_entry: Any) -> dict:
        """The entry to send for `key`, recorded (state SENDING) before anything is sent.

        An entry left in SENDING by an interrupted run is reused as is: same message_uuid, body and
        deduplication id, so SQS drops the repeat if the first send did get through (5-minute window).
        A FAILED entry (a retry) moves to `history` and the new attempt gets the next number.
        `new_entry(attempt)` builds a fresh entry.
        """
        previous = self.videos.get(key)
        if previous is not None and previous.get("state") == SENDING:
            return previous
        entry = new_entry(int(previous.get("attempt", 1)) + 1 if previous else 1)
        entry.update(state=SENDING, results=None, error=None)
        entry["history"] = (
            previous.get("history", [])
            + [{k: previous.get(k) for k in ("attempt", "message_id", "sent_at", "state", "error", "results")}]
            if previous
            else []
        )
        self.videos[key] = entry
        self.save()
        return entry

    def mark_queued(self, key: str, message_id: str) -> None:
        self.videos[key].update(state=QUEUED, message_id=message_id, sent_at=utc_now())
        self.save()

    def record_outcome(
        self,
        key: str,
        state: str,
        results: str | None = None,
        error: str | None = None,
        message_uuid: str | None = None,
    ) -> bool:
        """Store a seen outcome for the current attempt; False when it belongs to another attempt."""
        entry = self.videos.get(key)
        if entry is None or (message_uuid and entry.get("message_uuid") != message_uuid):
            return False
        changed = (entry.get("state"), entry.get("results"), entry.get("error")) != (state, results, error)
        entry.update(state=state, results=results, error=error, seen_at=entry.get("seen_at") or utc_now())
        return changed

    @contextmanager
    def locked(self, wait: bool) -> Iterator[bool]:
        """Hold the job's lock (one `submit` per job at a time). wait=False yields False when busy."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path.with_name(f".{self.path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def list_jobs(stack_dir: Path) -> list[str]:
    """Job names with a ledger in STACK_DIR/jobs, oldest first."""
    found = []
    for path in (Path(stack_dir) / JOBS_DIR).glob("*.json"):
        try:
            data = json.loads(path.read_text())
            found.append((str(data.get("created_at", "")), data["job_name"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return [name for _, name in sorted(found)]
