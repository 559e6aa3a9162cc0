"""The emulator's request check end to end: a real emulator on loopback records what AWS would reject and
still answers. The reader itself, on requests real boto3 clients write: tests/unit/test_request_check.py.
"""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from support.request_check import SQS_ATTRIBUTE_NAMES

from ecs_autoscale.emulator.request_log import RequestLog


@pytest.mark.emulator  # starts an emulator of its own (its own request log), not the session's fixture
def test_the_emulator_records_what_aws_would_reject_and_still_answers():
    """The end-to-end path (a real emulator on loopback, its own log so the session's stays clean):
    moto creates the queue, the log names the attribute AWS would refuse."""
    from ecs_autoscale.emulator.server import start_background

    log = RequestLog()
    url, stop = start_background(port=0, request_log=log)
    try:
        sqs = boto3.client(
            "sqs",
            endpoint_url=url,
            region_name="us-west-2",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(parameter_validation=False),
        )
        sqs.create_queue(QueueName="request-check", Attributes={"VisibiltyTimeout": "60"})
        assert sqs.get_queue_url(QueueName="request-check")["QueueUrl"]
    finally:
        stop()
    assert [line.split(": ", 2)[1:] for r in log.rejections for line in r.lines()] == [
        ["Attributes (key 'VisibiltyTimeout')", f"'VisibiltyTimeout' is not one of {SQS_ATTRIBUTE_NAMES}"]
    ]
    assert log.totals()["operations"] == ["sqs CreateQueue", "sqs GetQueueUrl"]
