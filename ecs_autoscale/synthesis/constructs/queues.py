"""SQS: the video work queue, the track (results) queue and the dead-letter queue.

All FIFO with content-based deduplication (the ecsprocess client sends a MessageGroupId per video),
encrypted with SQS-managed keys, TLS-only, and kept 14 days (the SQS maximum) so a stopped stack never
loses a queued video.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue

from ..policy import deny_insecure_transport
from .account import AccountContext
from .component import Component, Scope

RETENTION_SECONDS = 14 * 24 * 3600


def _compact_json(value: dict[str, Any]) -> str:
    """SQS returns redrive attributes as compact JSON; writing them the same way keeps plans clean."""
    return json.dumps(value, separators=(",", ":"))


@dataclass(frozen=True)
class VideoQueuesProps:
    video_queue_name: str
    track_queue_name: str
    dead_queue_name: str
    visibility_timeout_seconds: int
    """How long a received video stays hidden: TimeoutHours. The worker extends it while busy."""
    max_receive_count: int = 3
    """Receives of one message before it moves to the dead queue (the original used 600)."""
    video_delay_seconds: int = 0
    """DelaySeconds of the video queue: 0, a new video is visible at once (the instance agents decide on
    what their own workers do, not on a delay)."""
    video_queue_tags: dict[str, str] = field(default_factory=dict)
    """Tags of the video queue beyond the provider's default tags (the keep-alive's tag)."""


class VideoQueues(Component):
    """Policies are inline attributes, with ARNs built from the known names rather than references:
    every separate queue resource (policy, redrive-allow) costs another ~30 s of the provider's
    attribute-propagation wait in a chain, and only the video queue's redrive truly needs the dead
    queue to exist first (SQS checks the target)."""

    def __init__(self, scope: Scope, id: str, props: VideoQueuesProps, account: AccountContext) -> None:
        super().__init__(scope, id)
        video_arn = account.arn("sqs", props.video_queue_name)
        self.dead = self._queue(
            "dead",
            props.dead_queue_name,
            props.visibility_timeout_seconds,
            account,
            redrive_allow=_compact_json({"redrivePermission": "byQueue", "sourceQueueArns": [video_arn]}),
        )
        redrive = _compact_json({"deadLetterTargetArn": self.dead.arn, "maxReceiveCount": props.max_receive_count})
        self.video = self._queue(
            "video",
            props.video_queue_name,
            props.visibility_timeout_seconds,
            account,
            redrive=redrive,
            delay=props.video_delay_seconds,
            tags=props.video_queue_tags,
        )
        # No redrive on the track queue: clients peek at results (`status`), and every peek counts as a
        # receive; a SUCCESS must never land in the dead queue, which the contract reads as FAILED.
        self.track = self._queue("track", props.track_queue_name, props.visibility_timeout_seconds, account)

    def _queue(
        self,
        id: str,
        name: str,
        visibility: int,
        account: AccountContext,
        redrive: str | None = None,
        redrive_allow: str | None = None,
        delay: int = 0,
        tags: dict[str, str] | None = None,
    ) -> SqsQueue:
        return SqsQueue(
            self.stack,
            self.child_id(id),
            name=name,
            fifo_queue=True,
            content_based_deduplication=True,
            delay_seconds=delay or None,
            visibility_timeout_seconds=visibility,
            message_retention_seconds=RETENTION_SECONDS,
            sqs_managed_sse_enabled=True,
            redrive_policy=redrive,
            redrive_allow_policy=redrive_allow,
            policy=deny_insecure_transport("sqs", [account.arn("sqs", name)]),
            tags=tags or None,
        )
