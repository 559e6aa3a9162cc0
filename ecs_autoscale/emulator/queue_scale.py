"""The emulator's SQS stays fast as a queue fills (moto 5.2.5), so a benchmark of `submit` measures the
client, not moto.

The gap, measured (cProfile of moto's SendMessage to a FIFO queue, bench/bench_submit.py): each send cost
time linear in the messages already in the queue, 21 ms with 500 queued and 230 ms with 3,000, so n sends
cost O(n^2) (a plain loop of 3,000 sends with 4,000 messages queued ran over 25 minutes). Where the time went:

- moto's SendMessage path (`_validate_message`, `send_message`, `Queue.add_message`) reads
  `queue.attributes` four times, only for ContentBasedDeduplication; `attributes` computes every attribute,
  among them ApproximateNumberOfMessages, ...Delayed and ...NotVisible, one pass over all messages each;
- each of those passes asks every message `visible` / `delayed`, and each answer reads the clock through
  `unix_time_millis()` (a datetime subtraction): 2.6 million clock reads for 100 sends at 1,500 messages.

The fixes change no answer: on the SendMessage path `attributes` holds only the FIFO attributes (all that
path reads; GetQueueAttributes still computes every attribute), and the counts and `messages` read the
clock once per pass instead of once per message. A send now costs the same at 10,000 queued messages as at
none, apart from moto's own deduplication scan (a cheap comparison per message).
"""

from __future__ import annotations

import threading
import time
from typing import Any

_send_path = threading.local()


def _now_ms() -> float:
    """moto's `unix_time_millis()` (now - epoch, UTC) without building datetimes."""
    return time.time() * 1000.0


def _visible(message: Any, now: float) -> bool:
    return bool(now > message.visible_at)


def _delayed(message: Any, now: float) -> bool:
    return bool(now < message.delayed_until)


def sqs_counts_read_the_clock_once() -> None:
    """Queue.messages and the three ApproximateNumberOfMessages* counts: one clock read per pass, same
    rule as moto's Message.visible (now > visible_at) and Message.delayed (now < delayed_until)."""
    from moto.sqs.models import Queue

    def messages(self: Any) -> list[Any]:
        now = _now_ms()
        return [m for m in self._messages if _visible(m, now) and not _delayed(m, now)]

    def delayed(self: Any) -> int:
        now = _now_ms()
        return sum(1 for m in self._messages if _delayed(m, now))

    def not_visible(self: Any) -> int:
        now = _now_ms()
        return sum(1 for m in self._messages if not _visible(m, now))

    def waiting(self: Any) -> int:
        return len(self.messages)

    Queue.messages = property(messages)
    Queue.approximate_number_of_messages_delayed = property(delayed)
    Queue.approximate_number_of_messages_not_visible = property(not_visible)
    Queue.approximate_number_of_messages = property(waiting)


def sqs_send_skips_the_counts() -> None:
    """While SendMessage / SendMessageBatch run, `Queue.attributes` is the FIFO attributes only (moto's send
    path reads ContentBasedDeduplication and nothing else from it). Wraps the `attributes` property as
    patched before (patches.sqs_queue_attributes), so that patch still shapes every full answer."""
    from moto.core.utils import camelcase_to_underscores
    from moto.sqs.models import Queue, SQSBackend

    full = Queue.attributes.fget

    def attributes(self: Any) -> dict[str, Any]:
        if not getattr(_send_path, "depth", 0):
            return full(self)
        if not self.fifo_queue:
            return {}
        found = {name: getattr(self, camelcase_to_underscores(name)) for name in Queue.FIFO_ATTRIBUTES}
        return {name: str(value).lower() if isinstance(value, bool) else value for name, value in found.items()}

    def on_send_path(original: Any) -> Any:
        def send(self: Any, *args: Any, **kwargs: Any) -> Any:
            _send_path.depth = getattr(_send_path, "depth", 0) + 1
            try:
                return original(self, *args, **kwargs)
            finally:
                _send_path.depth -= 1

        return send

    Queue.attributes = property(attributes)
    for name in ("send_message", "send_message_batch"):
        setattr(SQSBackend, name, on_send_path(getattr(SQSBackend, name)))


PATCHES = (sqs_counts_read_the_clock_once, sqs_send_skips_the_counts)
