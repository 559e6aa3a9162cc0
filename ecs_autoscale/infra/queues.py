"""SQS: the video work queue, the track (results) queue and the dead-letter queue.

All FIFO with content-based deduplication (the ecsprocess client sends a MessageGroupId per video),
encrypted with SQS-managed keys, TLS-only, and kept 14 days (the SQS maximum) so a stopped stack never
loses a queued video.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from constructs import Construct
from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue
from cdktf_cdktf_provider_aws.sqs_queue_policy import SqsQueuePolicy
from cdktf_cdktf_provider_aws.sqs_queue_redrive_allow_policy import SqsQueueRedriveAllowPolicy

from .policy import deny_insecure_transport

RETENTION_SECONDS = 14 * 24 * 3600


@dataclass(frozen=True)
class VideoQueuesProps:
    video_queue_name: str
    track_queue_name: str
    dead_queue_name: str
    visibility_timeout_seconds: int
    """How long a received video stays hidden: TimeoutHours. The worker extends it while busy."""
    max_receive_count: int = 3
    """Receives of one message before it moves to the dead queue (the original used 600)."""


class VideoQueues(Construct):
    def __init__(self, scope: Construct, id: str, props: VideoQueuesProps) -> None:
        super().__init__(scope, id)
        self.dead = self._queue("dead", props.dead_queue_name, visibility=props.visibility_timeout_seconds)
        redrive = json.dumps({"deadLetterTargetArn": self.dead.arn, "maxReceiveCount": props.max_receive_count})
        self.video = self._queue("video", props.video_queue_name, props.visibility_timeout_seconds, redrive)
        # No redrive on the track queue: clients peek at results (`status`), and every peek counts as a
        # receive; a SUCCESS must never land in the dead queue, which the contract reads as FAILED.
        self.track = self._queue("track", props.track_queue_name, props.visibility_timeout_seconds)
        SqsQueueRedriveAllowPolicy(
            self, "dead_redrive_allow", queue_url=self.dead.url,
            redrive_allow_policy=json.dumps({"redrivePermission": "byQueue",
                                             "sourceQueueArns": [self.video.arn]}),
        )
        for name, queue in (("video", self.video), ("track", self.track), ("dead", self.dead)):
            SqsQueuePolicy(self, f"{name}_tls_only", queue_url=queue.url,
                           policy=deny_insecure_transport("sqs", [queue.arn]))

    def _queue(self, id: str, name: str, visibility: int, redrive: str | None = None) -> SqsQueue:
        return SqsQueue(
            self, id, name=name, fifo_queue=True, content_based_deduplication=True,
            visibility_timeout_seconds=visibility, message_retention_seconds=RETENTION_SECONDS,
            sqs_managed_sse_enabled=True, redrive_policy=redrive,
        )

    @property
    def all(self) -> list[SqsQueue]:
        return [self.video, self.track, self.dead]
