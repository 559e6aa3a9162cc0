"""How `submit` puts a job's videos in the queue: uploads run ahead in parallel, messages go out in batches of
up to ten, and the ledger records each batch before and after its send.

What the one-video-at-a-time loop guaranteed, kept:
- messages go out in the order of the videos, each only after its own upload finished;
- a batch is recorded SENDING (one journal append, fsync'd: ledger.py) before its send and QUEUED after, so an
  interrupted run re-sends exactly the videos that are not QUEUED, with the same bodies and deduplication ids;
- the first video goes alone, so the group is sized right after it and workers start while the rest uploads;
- the first failure stops the run: the videos before it are queued, it and those after it are reported not
  queued (uploads already running finish; a re-run finds their objects and skips the upload). A video whose
  key already holds a different object is seen in the listing before anything uploads, and no upload after
  it starts.
What makes it fast: which videos are in the bucket is read with one listing per folder, not one HeadObject
per video; videos below the multipart threshold upload as one PutObject each, UPLOAD_WORKERS at a time
(boto3's low-level clients are thread safe); with a bandwidth cap, or any video at or above the threshold,
uploads go one at a time (the transfer manager parallelizes parts, and one cap holds for the whole run).
SendMessageBatch takes up to 10 messages of at most 1 MiB together, and sqs:SendMessage grants it (SQS
Developer Guide, "Amazon SQS batch actions",
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-batch-api.html). An entry a batch
does not take is sent alone, so its own error is the one reported.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from ..echo import Echo
from ..errors import error_code
from . import JobsError
from .group_sizing import SubmitScaler
from .ledger import JobLedger
from .messages import encode_body
from .network_retry import SEND_WINDOW_SECONDS, NetworkRetry
from .stack_info import StackInfo
from .uploads import (
    NOT_LOOKED_UP,
    ByteProgress,
    RewindableBytes,
    Video,
    ensure_uploaded,
    existing_sizes,
    single_request,
)

if TYPE_CHECKING:
    from ecs_autoscale.client.aws import AwsClients
    from ecs_autoscale.client.submit import SubmitReport

UPLOAD_WORKERS = 8
AHEAD = 4 * UPLOAD_WORKERS
"""Videos uploading or uploaded but not yet sent, at most."""
BATCH = 10
BATCH_BYTES = 900_000
"""Bodies per SendMessageBatch, below its 1 MiB total."""


class Stop(Exception):
    """The run stops at `video` (not queued), for `reason`."""

    def __init__(self, video: Video, reason: str, interrupted: bool = False) -> None:
        super().__init__(reason)
        self.video, self.reason, self.interrupted = video, reason, interrupted


def reason_of(exc: BaseException) -> str:
    """One line: a JobsError as written, AWS's answer in its own words, anything else with its type."""
    if isinstance(exc, JobsError):
        return str(exc)
    return " ".join(str(exc).split()) if error_code(exc) else f"{type(exc).__name__}: {exc}"


@dataclass
class SendPipeline:
    aws: AwsClients
    info: StackInfo
    ledger: JobLedger
    report: SubmitReport
    new_entry: Callable[[Video, int], dict]
    """The ledger entry (with the message body) of a video's attempt."""
    config: Any
    """boto3 TransferConfig (part size, bandwidth cap)."""
    retry: NetworkRetry
    tags: dict[str, str]
    echo: Echo
    progress: bool = True

    def run(self, todo: list[Video]) -> None:
        """Upload and queue `todo` in order; a failure is recorded in the report, never raised."""
        self.scaler = SubmitScaler(self.aws, self.info, self.ledger.stack_dir, self.echo)
        self.unqueued = deque(todo)
        parallel = all(single_request(v, self.config) for v in todo)
        try:
            listed = self.retry.run("listing the video bucket", lambda: self._listed(todo))
            with (
                ByteProgress(sum(v.size for v in todo), f"Uploading {len(todo)} video(s)", self.progress) as bar,
                ThreadPoolExecutor(max_workers=UPLOAD_WORKERS if parallel else 1) as pool,
            ):
                try:
                    self._flow(todo, listed, pool, bar)
                finally:
                    pool.shutdown(wait=True, cancel_futures=True)
        except KeyboardInterrupt:
            if not self.unqueued:
                raise  # everything was queued: the interrupt is the caller's
            self._stopped(Stop(self.unqueued[0], "interrupted", interrupted=True), todo)
        except Stop as stop:
            self._stopped(stop, todo)
        except Exception as exc:  # the listing, or AWS refusing the first batch: nothing more was sent
            self._stopped(Stop(self.unqueued[0], reason_of(exc)), todo)
        finally:
            self.scaler.finish()  # the submit marker: this run queued its last video

    def _stopped(self, stop: Stop, todo: list[Video]) -> None:
        self.report.failed = (stop.video, stop.reason)
        self.report.interrupted = stop.interrupted
        queued = {v.key for v in self.report.queued}
        after = todo[todo.index(stop.video) + 1 :]
        self.report.not_attempted = [v for v in after if v.key not in queued]

    def _listed(self, todo: list[Video]) -> dict[str, int | None]:
        """Size of the object at each video's key (None: none); NOT_LOOKED_UP for all when the bucket
        cannot be listed (AccessDenied: an older client policy), so each upload asks S3 itself."""
        try:
            found = existing_sizes(self.aws("s3"), self.info.video_bucket, [v.key for v in todo])
        except Exception as exc:
            if not error_code(exc):
                raise
            return {v.key: NOT_LOOKED_UP for v in todo}
        return {v.key: found.get(v.key) for v in todo}

    # ---- uploads ahead, sends in order -------------------------------------------------------------------
    def _flow(self, todo: list[Video], listed: dict[str, int | None], pool: ThreadPoolExecutor, bar: Any) -> None:
        # No upload starts after a video whose key holds another object: that video stops the run.
        last = next((i for i, v in enumerate(todo) if listed[v.key] not in (None, v.size, NOT_LOOKED_UP)), None)
        feed = iter(todo[: None if last is None else last + 1])
        running: deque[tuple[Video, Future[bool]]] = deque()
        batch: list[Video] = []

        def top_up() -> None:
            for video in feed:
                running.append((video, pool.submit(self._upload, video, listed[video.key], bar)))
                if len(running) >= AHEAD:
                    return

        top_up()
        while running:
            video, upload = running.popleft()
            try:
                if upload.result():
                    self.report.uploaded.append(video)
            except Exception as exc:
                self._send(batch)  # the videos before it still go
                raise Stop(video, reason_of(exc)) from None
            batch.append(video)
            top_up()
            first = not self.report.queued
            if first or len(batch) >= BATCH or not running or not running[0][1].done():
                self._send(batch)
                batch = []

    def _upload(self, video: Video, existing: int | None, bar: Any) -> bool:
        counted = RewindableBytes(bar)
        uploaded = self.retry.run(
            f"uploading {video.key}",
            lambda: ensure_uploaded(
                self.aws("s3"), self.info.video_bucket, video, self.config, counted, self.tags, existing
            ),
            on_retry=counted.rewind,
        )
        if not uploaded:
            bar(video.size)
        return uploaded

    # ---- sends ---------------------------------------------------------------------------------------------
    def _send(self, batch: list[Video]) -> None:
        """Queue `batch` (videos in order, uploaded): recorded SENDING, sent, recorded QUEUED."""
        if not batch:
            return
        entries = self.ledger.begin_sends([(v.key, partial(self.new_entry, v)) for v in batch])
        bodies = [encode_body(e["body"]) for e in entries]
        taken: dict[int, str] = {}
        if len(batch) > 1 and sum(len(b.encode()) for b in bodies) <= BATCH_BYTES:
            taken = self._send_batch(batch, entries, bodies)
        self._queued([(batch[i], taken[i]) for i in sorted(taken)])
        for i, (video, entry, body) in enumerate(zip(batch, entries, bodies, strict=True)):
            if i not in taken:
                self._queued([(video, self._send_one(video, entry, body))])
        self.scaler.queued(len(self.report.queued))

    def _send_batch(self, batch: list[Video], entries: list[dict], bodies: list[str]) -> dict[int, str]:
        """{index in batch: message id} of what one SendMessageBatch took."""
        sqs = self.aws("sqs")
        request = [
            {
                "Id": str(i),
                "MessageBody": body,
                "MessageGroupId": entry["message_group_id"],
                "MessageDeduplicationId": entry["deduplication_id"],
            }
            for i, (entry, body) in enumerate(zip(entries, bodies, strict=True))
        ]
        try:
            response = self.retry.run(
                f"queueing {batch[0].key} and {len(batch) - 1} more",
                lambda: sqs.send_message_batch(QueueUrl=self.info.video_queue_url, Entries=request),
                window_seconds=SEND_WINDOW_SECONDS,
            )
        except Exception as exc:
            raise Stop(batch[0], reason_of(exc)) from None
        return {int(s["Id"]): s["MessageId"] for s in response.get("Successful", [])}

    def _send_one(self, video: Video, entry: dict, body: str) -> str:
        sqs = self.aws("sqs")
        try:
            response = self.retry.run(
                f"queueing {video.key}",
                lambda: sqs.send_message(
                    QueueUrl=self.info.video_queue_url,
                    MessageBody=body,
                    MessageGroupId=entry["message_group_id"],
                    MessageDeduplicationId=entry["deduplication_id"],
                ),
                window_seconds=SEND_WINDOW_SECONDS,
            )
        except Exception as exc:
            raise Stop(video, reason_of(exc)) from None
        return str(response["MessageId"])

    def _queued(self, sent: list[tuple[Video, str]]) -> None:
        if not sent:
            return
        self.ledger.mark_queued_many([(v.key, message_id) for v, message_id in sent])
        for video, _ in sent:
            self.report.queued.append(video)
            if self.unqueued[0] is video:
                self.unqueued.popleft()
            else:  # a batch entry queued after an earlier one its batch did not take
                self.unqueued.remove(video)
            self.echo(f"queued  {video.key}")
