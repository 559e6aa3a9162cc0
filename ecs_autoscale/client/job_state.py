"""A job's state: what its ledger says was queued, and the outcomes seen for it. The one module `submit`,
`status`, `results` and `report` read a job through; `status` only presents what it returns.

Per-video state, from the most to the least certain source:
  done      the worker's `<stem>.tracks.tar.gz` is in the tracks bucket under the video's prefix (written
            after the message was sent), or a SUCCESS message for it sits in the dead queue;
  failed    a FAILED message for it (with "error") is in the dead queue, or its own video message was
            moved there after too many receives without a result;
  queued / running / pending
            no outcome yet: `queued` when no video is in flight, `running` when none is waiting, and
            `pending` (queued or running) when both exist - SQS cannot tell which message a worker holds
            without taking messages from the workers, which this never does;
  unsent    `submit` stopped between recording and sending; re-run it;
  unknown   no outcome and nothing left in the video queue (e.g. a consumer deleted the result message
            and the results are not at the expected key).
Outcomes seen are kept in the job ledger (with when the worker finished: the results object's time, the
failure message's send time), so they survive the messages being consumed later.

deepsea-ai's `monitor` receives track and dead messages and never releases them: results are still found
in the tracks bucket, and when dead-queue messages are held by another reader the report says so
(`held_dead_messages`): their videos show `unknown` until the messages' visibility timeout ends. The
queues are read without stealing (queues.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from . import JobsError
from .ledger import DONE, FAILED, QUEUED, SENDING, JobLedger, list_jobs
from .messages import message_uuid_of, parse_body
from .queues import peek_messages, queue_depth
from .stack_info import StackInfo
from .uploads import results_key

if TYPE_CHECKING:
    from ecs_autoscale.client.aws import AwsClients

# Results older than the send (minus this allowance for clock skew) belong to an earlier run.
CLOCK_SKEW = timedelta(minutes=5)
STATES = ("done", "failed", "running", "pending", "queued", "unsent", "unknown")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

REDRIVEN_ERROR = (
    "the video message went to the dead queue after repeated receives without a result "
    "(worker crashed, was stopped or timed out)"
)


def needs_send(state: str | None, retry_failed: bool) -> bool:
    """Whether `submit` sends a video in this ledger state: never one queued or finished (no duplicate
    job), again one left SENDING (same message: SQS drops a repeat), a failed one with --retry-failed."""
    return state is None or state == SENDING or (retry_failed and state == FAILED)


def stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime(TIME_FORMAT)


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=timezone.utc)


# ---- outcomes ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    state: str
    results: str | None
    error: str | None
    finished_at: str | None = None


def dead_outcomes(messages: Iterable[dict]) -> dict[str, Outcome]:
    """{message_uuid: outcome} of dead-queue messages (a worker echoes the job's metadata_b64, so the uuid
    ties an outcome to one attempt of one video); finished_at: the message's SentTimestamp."""
    by_uuid: dict[str, Outcome] = {}
    for message in messages:
        body = parse_body(message.get("Body", ""))
        if not body or "video" not in body:
            continue
        sent = message.get("Attributes", {}).get("SentTimestamp")
        finished = stamp(datetime.fromtimestamp(int(sent) / 1000, timezone.utc)) if str(sent or "").isdigit() else None
        status = str(body.get("status", "")).upper()
        if status == "SUCCESS":
            outcome = Outcome(DONE, body.get("results"), None, finished)
        elif status == "FAILED":
            error = str(body.get("error") or "the worker reported FAILED without an error")
            outcome = Outcome(FAILED, None, error, finished)
        else:  # the video message itself, redriven: no worker finished it
            outcome = Outcome(FAILED, None, REDRIVEN_ERROR, None)
        uuid = message_uuid_of(body)
        if uuid:
            by_uuid[uuid] = outcome
    return by_uuid


def fresh_results(s3: Any, bucket: str, entries: dict[str, dict]) -> dict[str, tuple[str, str]]:
    """{video key: (results key, its time)} for videos whose results object exists and is newer than their
    send. One listing per folder of videos (not one request per video), folder level only."""
    wanted: dict[str, dict[str, tuple[str, datetime | None]]] = {}
    for key, entry in entries.items():
        rkey = results_key(key)
        folder = str(PurePosixPath(rkey).parent)
        prefix = "" if folder == "." else folder + "/"
        wanted.setdefault(prefix, {})[rkey] = (key, parse_time(entry.get("sent_at")))
    found = {}
    paginator = s3.get_paginator("list_objects_v2")
    for prefix, targets in wanted.items():
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
            for obj in page.get("Contents", []):
                if obj["Key"] in targets:
                    video, sent = targets[obj["Key"]]
                    if sent is None or obj["LastModified"] >= sent - CLOCK_SKEW:
                        found[video] = (obj["Key"], stamp(obj["LastModified"]))
    return found


def waiting_state(video_queue: dict) -> str:
    visible = video_queue["visible"] + video_queue.get("delayed", 0)
    in_flight = video_queue["in_flight"]
    if visible and in_flight:
        return "pending"
    if in_flight:
        return "running"
    if visible:
        return "queued"
    return "unknown"


# ---- one job ------------------------------------------------------------------------------------------
class JobState:
    """One job: its ledger, and `refresh` to record the outcomes seen since (kept by `save_outcomes`)."""

    def __init__(self, ledger: JobLedger) -> None:
        self.ledger = ledger

    @classmethod
    def load(cls, stack_dir: Path, job: str) -> JobState:
        return cls(JobLedger.load(stack_dir, job))

    @property
    def job(self) -> str:
        return self.ledger.job_name

    @property
    def videos(self) -> dict[str, dict]:
        return self.ledger.videos

    def unresolved(self) -> dict[str, dict]:
        return {k: e for k, e in self.videos.items() if e.get("state") not in (DONE, FAILED)}

    def refresh(self, s3: Any, tracks_bucket: str, dead: dict[str, Outcome]) -> bool:
        """Record outcomes from the tracks bucket and dead-queue messages; True when something changed.
        Also dates done videos recorded without their finish time (ledgers of earlier versions)."""
        changed = False
        pending = {
            k: e
            for k, e in self.videos.items()
            if e.get("state") == QUEUED or (e.get("state") == DONE and not e.get("finished_at") and e.get("results"))
        }
        if pending:
            for video, (rkey, finished) in fresh_results(s3, tracks_bucket, pending).items():
                if self.videos[video].get("state") == DONE and self.videos[video].get("results") != rkey:
                    continue
                changed |= self.ledger.record_outcome(video, DONE, results=rkey, finished_at=finished)
        for key, entry in self.unresolved().items():
            outcome = dead.get(entry.get("message_uuid") or "") if entry.get("state") == QUEUED else None
            if outcome:
                changed |= self.ledger.record_outcome(
                    key,
                    outcome.state,
                    results=outcome.results or (results_key(key) if outcome.state == DONE else None),
                    error=outcome.error,
                    finished_at=outcome.finished_at,
                )
        return changed

    def save_outcomes(self) -> None:
        """Merge the outcomes seen into the ledger on disk under its lock; a `submit` in progress owns the
        file, so outcomes are then simply seen again next time."""
        with self.ledger.locked(wait=False) as ok:
            if not ok:
                return
            current = JobLedger.load(self.ledger.stack_dir, self.job)
            for key, entry in self.videos.items():
                if entry.get("state") in (DONE, FAILED):
                    current.record_outcome(
                        key,
                        entry["state"],
                        entry.get("results"),
                        entry.get("error"),
                        message_uuid=entry.get("message_uuid"),
                        finished_at=entry.get("finished_at"),
                    )
            current.save()

    def report(self, video_queue: dict) -> dict:
        videos = []
        for key, entry in sorted(self.videos.items()):
            state = entry.get("state")
            if state == SENDING:
                shown = "unsent"
            elif state in (DONE, FAILED):
                shown = state
            else:
                shown = waiting_state(video_queue)
            videos.append(
                {
                    "video": key,
                    "state": shown,
                    "results": entry.get("results"),
                    "error": entry.get("error"),
                    "source": entry.get("source"),
                    "attempt": entry.get("attempt", 1),
                    "sent_at": entry.get("sent_at"),
                    "finished_at": entry.get("finished_at"),
                }
            )
        counts = {s: 0 for s in STATES}
        for v in videos:
            counts[v["state"]] += 1
        return {"job": self.job, "total": len(videos), "counts": counts, "videos": videos}


# ---- jobs, refreshed ------------------------------------------------------------------------------------
def refreshed_jobs(
    aws: AwsClients, info: StackInfo, stack_dir: Path, job_names: list[str]
) -> tuple[list[JobState], int]:
    """(the named jobs with the outcomes seen now recorded and kept, dead-queue messages held by another
    reader)."""
    jobs = [JobState.load(stack_dir, name) for name in job_names]
    dead: dict[str, Outcome] = {}
    held = 0
    if any(job.unresolved() for job in jobs):
        # Dead-queue messages in flight before our peek are held by another reader (deepsea-ai's
        # `monitor` never releases them): a peek cannot see them.
        held = queue_depth(aws("sqs"), info.dead_queue_url)["in_flight"]
        try:
            messages, _ = peek_messages(aws("sqs"), info.dead_queue_url)
        except JobsError:  # a dead queue with a redrive policy (not ours): failures show up as `unknown`
            messages = []
        dead = dead_outcomes(messages)
    for job in jobs:
        if job.refresh(aws("s3"), info.tracks_bucket, dead):
            job.save_outcomes()
    return jobs, held


def job_reports(aws: AwsClients, info: StackInfo, stack_dir: Path, job_names: list[str], video_queue: dict) -> dict:
    """{job: report} for the named jobs, refreshing (and keeping) their outcomes."""
    jobs, held = refreshed_jobs(aws, info, stack_dir, job_names)
    reports = {}
    for job in jobs:
        report = job.report(video_queue)
        if held and report["counts"]["unknown"]:
            report["held_dead_messages"] = held
            report["note"] = (
                f"{held} dead-queue message(s) are held by another reader (e.g. deepsea-ai monitor): "
                "failures among the unknown videos show again when their visibility timeout ends"
            )
        reports[job.job] = report
    return reports


def select_jobs(stack_dir: Path, job: str | None) -> list[str]:
    known = list_jobs(stack_dir)
    if job is None:
        return known
    if job not in known:
        hint = f"known jobs: {', '.join(known)}" if known else "no job was submitted from this STACK_DIR"
        raise JobsError(
            f"job {job!r}: no ledger in {Path(stack_dir) / 'jobs'} and not in a deepsea-ai job cache "
            f"({hint}; a job sent by deepsea-ai: point --deepsea-db at its sqlite_job_cache_*.db)"
        )
    return [job]
