"""The job ledger: what was queued for each video of a job and what came of it, in STACK_DIR/jobs/.

Two files, so that recording a message costs the same at the 10,000th video as at the first:

  <job>.json      the snapshot, the format every earlier version wrote (and still the one to read):
                  {"format": 1, "job_name": "dive-1234", "stack_name": "Megadetector", "created_at": ..., "videos": {
                     "M3/dive-1234/clip.mov": {"source": "/Volumes/M3/dive-1234/clip.mov", "size": 123,
                        "state": "queued", "attempt": 1, "message_id": "...", "message_uuid": "...",
                        "message_group_id": "...", "deduplication_id": "...", "clean": "False", "args": "",
                        "sent_at": "2026-...Z", "results": null, "error": null, "finished_at": null,
                        "history": []}}}
  <job>.journal   what changed since the snapshot, appended one JSON line per change and fsync'd before the
                  call returns: {"meta": {...}} (top-level fields), {"put": KEY, "entry": {...}} (an entry
                  replaced whole), {"set": KEY, "fields": {...}} (fields of an entry updated).

Loading reads the snapshot, then replays the journal. Every journal starts with a header naming it (a
random id, {"meta": {..., "journal": ID}}); `save()` writes the snapshot with that id as "merged_journal",
then removes the journal. So a crash between the two leaves a journal the snapshot names, which loading
skips: replaying it would roll the newer snapshot back (an outcome recorded by `status`, DONE, back to
the QUEUED of the journal). The next append then starts a new journal (written whole and renamed over the
old one). A journal without an id (earlier versions) is replayed as before.

A crash in the middle of an append leaves a torn last line, which is ignored (and cut off before the next
append); the complete lines of an append that was not fsync'd yet say no more than what was about to
happen (SENDING: re-sent as is) or already had (QUEUED: SQS took it). Each step is durable before the next:
a journal's creation (its folder fsync'd) before its first send, the snapshot's rename (folder fsync'd)
before the journal's removal. `submit` saves once at the end of a run, `status` when it has recorded
outcomes, so after a command the snapshot alone is the whole record, as before. The old O(n^2): a
whole-file rewrite with fsync after every message (1,500 videos: 1.3 MB rewritten twice per video).

Writers hold the job's lock (`locked`: `submit`, and `status` or the deepsea-ai merge when no `submit`
runs) and load the ledger again once they have it; readers without it may see a moment-old record.

Both files are the owner's only (0600 in a 0700 folder, whatever the umask), like every record of a STACK_DIR:
they name the videos, their paths on disk and who sent them.

Crash safety of a send: an entry is recorded SENDING (appended, fsync'd) before its message goes out and
QUEUED once SQS accepted it, so an interrupted `submit` re-sends exactly the videos that are not QUEUED,
with the same body and deduplication id.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..fileio import PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, atomic_write, atomic_write_json
from ..stack_dir import JOBS_DIR, job_file_name, utc_now
from . import JobsError

FORMAT = 1
JOURNAL_SUFFIX = ".journal"
JOURNAL_ID = "journal"  # in a journal's header: its id
MERGED_JOURNAL = "merged_journal"  # in the snapshot: the id of the journal it holds (skipped if still there)
# SENDING: recorded just before the send, so a crash in between re-sends the very same message (same
# body and deduplication id) instead of a second job; QUEUED once SQS accepted it.
SENDING, QUEUED, DONE, FAILED = "sending", "queued", "done", "failed"
TAIL_BYTES = 1 << 16
HISTORY_FIELDS = ("attempt", "message_id", "sent_at", "state", "error", "results")


class JobLedger:
    def __init__(self, stack_dir: Path, job_name: str, data: dict | None = None) -> None:
        self.stack_dir = Path(stack_dir)
        self.job_name = job_name
        self.path = self.stack_dir / JOBS_DIR / job_file_name(job_name)
        self.journal = self.path.with_name(self.path.stem + JOURNAL_SUFFIX)
        self.data = data or {"format": FORMAT, "job_name": job_name, "created_at": utc_now(), "videos": {}}
        # The journal this ledger appends to: replayed at load or started here. None: the next append
        # starts a new one (none on disk, or one already merged into the snapshot, or torn in its header).
        self._journal_live = False
        self._journal_id: str | None = None  # None in a live journal of an earlier version

    # ---- reading ----------------------------------------------------------------------------------
    @classmethod
    def load(cls, stack_dir: Path, job_name: str) -> JobLedger:
        """The job's ledger; an empty one when the job was never submitted from this STACK_DIR."""
        ledger = cls(stack_dir, job_name)
        try:
            data = json.loads(ledger.path.read_text())
        except FileNotFoundError:
            data = None
        except (OSError, ValueError) as exc:
            raise JobsError(
                f"{ledger.path}: unreadable job ledger ({exc}); move it aside to start the job's "
                "record afresh (queued messages are not affected)"
            ) from None
        if data is not None:
            if data.get("job_name") != job_name or not isinstance(data.get("videos"), dict):
                raise JobsError(f"{ledger.path}: not the ledger of job {job_name!r} (move it aside)")
            ledger.data = data
        ledger._replay()
        return ledger

    def _replay(self) -> None:
        records = read_journal(self.journal)
        if not records:
            return
        journal_id = records[0].get("meta", {}).get(JOURNAL_ID)
        if journal_id is not None and journal_id == self.data.get(MERGED_JOURNAL):
            return  # the snapshot holds it already: a crash came between writing the snapshot and removing it
        for record in records:
            if "meta" in record:
                self.data.update({k: v for k, v in record["meta"].items() if k not in ("videos", JOURNAL_ID)})
            elif "put" in record:
                self.videos[record["put"]] = record["entry"]
            elif "set" in record:
                self.videos.setdefault(record["set"], {}).update(record["fields"])
        if self.data.get("job_name") != self.job_name:
            raise JobsError(f"{self.journal}: not the journal of job {self.job_name!r} (move it aside)")
        self._journal_live, self._journal_id = True, journal_id

    @property
    def exists(self) -> bool:
        return self.path.exists() or self.journal.exists()

    @property
    def videos(self) -> dict[str, dict]:
        return self.data["videos"]

    # ---- writing ----------------------------------------------------------------------------------
    def save(self) -> None:
        """The whole ledger as the snapshot, and no journal: O(videos), once per command.

        The snapshot names the journal it holds, so that journal is skipped should the process die
        before it is removed; the snapshot's rename is made durable (folder fsync) before the removal."""
        legacy = self._journal_live and self._journal_id is None
        if self._journal_id is not None:
            self.data[MERGED_JOURNAL] = self._journal_id
        atomic_write_json(self.path, self.data, private=True)
        _fsync_dir(self.path.parent)
        self.journal.unlink(missing_ok=True)
        if legacy:  # a journal without an id must not come back after a crash: it would be replayed
            _fsync_dir(self.path.parent)
        self._journal_live, self._journal_id = False, None

    def set_meta(self, **fields: Any) -> None:
        """Top-level fields (e.g. stack_name), journaled."""
        self.data.update(fields)
        self._append([{"meta": fields}])

    def begin_send(self, key: str, new_entry: Callable[[int], dict]) -> dict:
        """The entry to send for `key`, recorded (state SENDING) before anything is sent.

        An entry left in SENDING by an interrupted run is reused as is: same message_uuid, body and
        deduplication id, so SQS drops the repeat if the first send did get through (5-minute window).
        A FAILED entry (a retry) moves to `history` and the new attempt gets the next number.
        `new_entry(attempt)` builds a fresh entry.
        """
        return self.begin_sends([(key, new_entry)])[0]

    def begin_sends(self, items: Iterable[tuple[str, Callable[[int], dict]]]) -> list[dict]:
        """begin_send for several videos with one journal append (one fsync)."""
        entries, records = [], []
        for key, new_entry in items:
            previous = self.videos.get(key)
            if previous is not None and previous.get("state") == SENDING:
                entries.append(previous)
                continue
            entry = new_entry(int(previous.get("attempt", 1)) + 1 if previous else 1)
            entry.update(state=SENDING, results=None, error=None, finished_at=None)
            entry["history"] = (
                previous.get("history", []) + [{k: previous.get(k) for k in HISTORY_FIELDS}] if previous else []
            )
            self.videos[key] = entry
            entries.append(entry)
            records.append({"put": key, "entry": entry})
        self._append(records)
        return entries

    def mark_queued(self, key: str, message_id: str) -> None:
        self.mark_queued_many([(key, message_id)])

    def mark_queued_many(self, sent: Iterable[tuple[str, str]]) -> None:
        """Videos SQS accepted, (key, message id), with one journal append."""
        now = utc_now()
        records = []
        for key, message_id in sent:
            fields = {"state": QUEUED, "message_id": message_id, "sent_at": now}
            self.videos[key].update(fields)
            records.append({"set": key, "fields": fields})
        self._append(records)

    def record_outcome(
        self,
        key: str,
        state: str,
        results: str | None = None,
        error: str | None = None,
        message_uuid: str | None = None,
        finished_at: str | None = None,
    ) -> bool:
        """Store a seen outcome for the current attempt (in memory: `save()` keeps it); False when it
        belongs to another attempt or changes nothing. `finished_at`: when the worker finished (the
        results object's time, the failure message's send time), if known."""
        entry = self.videos.get(key)
        if entry is None or (message_uuid and entry.get("message_uuid") != message_uuid):
            return False
        finished_at = finished_at or entry.get("finished_at")
        new = (state, results, error, finished_at)
        changed = (entry.get("state"), entry.get("results"), entry.get("error"), entry.get("finished_at")) != new
        entry.update(
            state=state,
            results=results,
            error=error,
            finished_at=finished_at,
            seen_at=entry.get("seen_at") or utc_now(),
        )
        return changed

    def _append(self, records: list[dict]) -> None:
        """Append records to the journal and fsync them before returning (nothing when there are none)."""
        if not records:
            return
        if self._journal_live:
            try:
                fd = os.open(self.journal, os.O_RDWR | os.O_APPEND)
            except FileNotFoundError:
                self._journal_live = False  # removed behind our back: start a new one
            else:
                try:
                    _cut_torn_tail(fd)
                    os.write(fd, _lines(records))
                    os.fsync(fd)
                except OSError as exc:
                    raise OSError(exc.errno, exc.strerror, str(self.journal)) from exc
                finally:
                    os.close(fd)
                return
        # A new journal, written whole and renamed over whatever is there (one the snapshot holds, or one
        # torn in its header); its header names the job (list_jobs reads it) and the journal (save, load).
        journal_id = uuid.uuid4().hex
        header = {"format": FORMAT, "job_name": self.job_name, "created_at": self.data.get("created_at")}
        atomic_write(self.journal, _lines([{"meta": {**header, JOURNAL_ID: journal_id}}, *records]), private=True)
        _fsync_dir(self.journal.parent)  # the new file's name must survive a crash too
        self._journal_live, self._journal_id = True, journal_id

    @contextmanager
    def locked(self, wait: bool) -> Iterator[bool]:
        """Hold the job's lock (one `submit` per job at a time). wait=False yields False when busy."""
        self.path.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        fd = os.open(self.path.with_name(f".{self.path.name}.lock"), os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
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


def read_journal(path: Path) -> list[dict]:
    """The journal's complete records, in order; a torn last line (a crash mid-append) is left out."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    lines = raw.split(b"\n")
    complete, torn = lines[:-1], lines[-1]  # after the last newline: b"" or a torn line
    del torn
    records = []
    for number, line in enumerate(complete, 1):
        try:
            record = json.loads(line)
        except ValueError:
            raise JobsError(f"{path}:{number}: not a journal record; move the file aside") from None
        if isinstance(record, dict):
            records.append(record)
    return records


def _lines(records: list[dict]) -> bytes:
    return "".join(json.dumps(r, sort_keys=True, separators=(",", ":")) + "\n" for r in records).encode()


def _cut_torn_tail(fd: int) -> int:
    """Drop a torn last line (no newline) so the next record starts on a line of its own; the size left."""
    size = os.fstat(fd).st_size
    end = size
    while end > 0:
        start = max(0, end - TAIL_BYTES)
        chunk = os.pread(fd, end - start, start)
        if end == size and chunk.endswith(b"\n"):
            return size
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            keep = start + newline + 1
            break
        end = start
    else:
        keep = 0
    os.ftruncate(fd, keep)
    return keep


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def list_jobs(stack_dir: Path) -> list[str]:
    """Job names with a ledger in STACK_DIR/jobs (snapshot or journal), oldest first."""
    found: dict[str, str] = {}
    folder = Path(stack_dir) / JOBS_DIR
    for path in folder.glob("*.json"):
        try:
            data = json.loads(path.read_text())
            found.setdefault(data["job_name"], str(data.get("created_at", "")))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    for path in folder.glob(f"*{JOURNAL_SUFFIX}"):
        try:
            with path.open("rb") as handle:
                meta = json.loads(handle.readline())["meta"]
            found.setdefault(meta["job_name"], str(meta.get("created_at", "")))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return [name for name, _ in sorted(found.items(), key=lambda item: (item[1], item[0]))]
