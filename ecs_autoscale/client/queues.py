"""Reading the stack's queues without taking work from anyone: approximate counts, and a peek.

Counts: GetQueueAttributes is approximate and lags the sends by up to a minute (SQS API reference,
GetQueueAttributes). The peek (dead queue only) receives with a short visibility and releases every
message at once (visibility 0), and refuses a queue with a redrive policy, where each receive counts toward
moving the message to a dead-letter queue. The video queue is never received from (that would take work
from the workers), the track queue neither (it belongs to the results consumer: ecsprocess / deepsea-ai).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import JobsError

PEEK_HOLD_SECONDS = 30
PEEK_MAX_MESSAGES = 2000


@dataclass(frozen=True)
class QueueCounts:
    waiting: int
    delayed: int
    in_flight: int

    @property
    def total(self) -> int:
        return self.waiting + self.delayed + self.in_flight


def queue_counts(sqs: Any, url: str) -> QueueCounts:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesDelayed",
            "ApproximateNumberOfMessagesNotVisible",
        ],
    ).get("Attributes", {})
    return QueueCounts(
        waiting=int(attrs.get("ApproximateNumberOfMessages", 0)),
        delayed=int(attrs.get("ApproximateNumberOfMessagesDelayed", 0)),
        in_flight=int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
    )


def queue_depth(sqs: Any, url: str) -> dict:
    """Videos waiting (visible), delayed (sent with a delay by some client) and in flight."""
    counts = queue_counts(sqs, url)
    return {"visible": counts.waiting, "delayed": counts.delayed, "in_flight": counts.in_flight}


def peek_messages(sqs: Any, url: str, max_messages: int = PEEK_MAX_MESSAGES) -> tuple[list[dict], bool]:
    """(messages, complete) of a queue without consuming them: receive with a short visibility, then
    release everything at once. Refuses (JobsError) a queue with a redrive policy.

    FIFO order means only the first message of each message group is visible while it is held; our
    messages use one group per video, so every video's message is seen.
    """
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"]).get("Attributes", {})
    if attrs.get("RedrivePolicy"):
        raise JobsError(f"{url}: has a redrive policy; peeking would count as deliveries (not done)")
    held: list[dict] = []
    complete = False
    try:
        while len(held) < max_messages:
            batch = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=PEEK_HOLD_SECONDS,
                WaitTimeSeconds=1,
                AttributeNames=["All"],
            ).get("Messages", [])
            if not batch:
                complete = True
                break
            held.extend(batch)
    finally:
        release(sqs, url, held)
    return held, complete


def release(sqs: Any, url: str, messages: list[dict]) -> None:
    """Make received messages visible again at once."""
    for start in range(0, len(messages), 10):
        chunk = messages[start : start + 10]
        sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0} for i, m in enumerate(chunk)
            ],
        )
