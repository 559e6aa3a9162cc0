"""How the emulator's request check words botocore's service models, as its tests expect it."""

from __future__ import annotations

import botocore.session


def _sqs_attribute_names() -> str:
    names = botocore.session.get_session().get_service_model("sqs").shape_for("QueueAttributeName").enum
    assert len(names) > 6
    return ", ".join(names[:6]) + f", ... ({len(names)} values)"  # a long enum: the first six and the count


SQS_ATTRIBUTE_NAMES = _sqs_attribute_names()
