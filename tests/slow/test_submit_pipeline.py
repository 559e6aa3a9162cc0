"""`submit`'s pipeline (parallel uploads, batched sends, the journal) keeps the one-at-a-time guarantees:
messages in order, each video once, and an interrupted run re-sends exactly the videos not queued, with the
same messages (moto in-process: SQS deduplicates a repeated FIFO send as AWS does)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # moto in-process

REGION = "us-west-2"


@pytest.fixture
def stack(monkeypatch, tmp_path):
    for name in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    from ecs_autoscale.emulator import patches

    patches.apply_all()
    from moto import mock_aws

    from ecs_autoscale.client.aws import AwsClients
    from ecs_autoscale.client.stack_info import StackInfo

    with mock_aws():
        aws = AwsClients(REGION)
        aws("s3").create_bucket(Bucket="s-video", CreateBucketConfiguration={"LocationConstraint": REGION})
        url = aws("sqs").create_queue(QueueName="S-video.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        info = StackInfo(
            stack_name="S",
            region=REGION,
            video_queue_name="S-video.fifo",
            video_queue_url=url,
            track_queue_name="S-track.fifo",
            track_queue_url="-",
            dead_queue_name="S-dead.fifo",
            dead_queue_url="-",
            video_bucket="s-video",
            tracks_bucket="s-tracks",
            cluster_name="S",
            service_name="S",
            autoscaling_group_name="S-gpu-fleet",
        )
        yield aws, info, tmp_path


def videos(root: Path, count: int) -> Path:
    folder = root / "Volumes" / "dive"
    folder.mkdir(parents=True)
    for n in range(count):
        (folder / f"clip-{n:03d}.mp4").write_bytes(os.urandom(100 + n))
    return folder


def queued_bodies(aws, info) -> list[dict]:
    sqs, bodies = aws("sqs"), []
    while True:
        batch = sqs.receive_message(QueueUrl=info.video_queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return bodies
        bodies += [json.loads(m["Body"]) for m in batch]


def submit(aws, info, stack_dir, folder, lines):
    from ecs_autoscale.client.network_retry import NetworkRetry
    from ecs_autoscale.client.submit import SubmitOptions, submit_videos

    options = SubmitOptions(retry=NetworkRetry(minutes=0))
    return submit_videos(aws, info, stack_dir, [folder], "dive", progress=False, echo=lines.append, options=options)


def test_an_interrupted_submit_resends_exactly_the_videos_not_queued(stack):
    from ecs_autoscale.client.ledger import QUEUED, SENDING, JobLedger

    aws, info, tmp_path = stack
    folder = videos(tmp_path, 45)
    sqs = aws("sqs")
    real_batch, calls = sqs.send_message_batch, []

    def crash_after_the_third_batch_went_out(**kwargs):
        response = real_batch(**kwargs)
        calls.append(len(kwargs["Entries"]))
        if len(calls) == 3:
            raise KeyboardInterrupt  # SQS took the batch; the ledger never heard
        return response

    sqs.send_message_batch = crash_after_the_third_batch_went_out
    lines: list[str] = []
    first = submit(aws, info, tmp_path / "stack", folder, lines)
    assert first.interrupted and first.failed[1] == "interrupted"
    ledger = JobLedger.load(tmp_path / "stack", "dive")
    states = [ledger.videos.get(f"dive/clip-{n:03d}.mp4", {}).get("state") for n in range(45)]
    queued = states.count(QUEUED)
    assert queued == len(first.queued) == 1 + sum(calls[:2])  # the first video goes alone, then batches
    assert states[:queued] == [QUEUED] * queued  # in order
    assert states[queued : queued + calls[2]] == [SENDING] * calls[2]
    assert {v.key for v in first.not_queued} == {f"dive/clip-{n:03d}.mp4" for n in range(queued, 45)}
    sending = {k: e["message_uuid"] for k, e in ledger.videos.items() if e["state"] == SENDING}

    sqs.send_message_batch = real_batch
    second = submit(aws, info, tmp_path / "stack", folder, lines)
    assert second.failed is None and len(second.already) == queued and len(second.queued) == 45 - queued
    bodies = queued_bodies(aws, info)
    assert sorted(b["video"] for b in bodies) == [f"dive/clip-{n:03d}.mp4" for n in range(45)]  # each once
    ledger = JobLedger.load(tmp_path / "stack", "dive")
    assert {k: ledger.videos[k]["message_uuid"] for k in sending} == sending  # the very same messages again
    assert not ledger.journal.exists() and ledger.path.exists()  # compacted at the end of the run
    assert [line for line in lines if line.startswith("queued  ")][0] == "queued  dive/clip-000.mp4"


def test_a_key_holding_another_object_stops_the_uploads_there(stack):
    aws, info, tmp_path = stack
    folder = videos(tmp_path, 30)
    aws("s3").put_object(Bucket="s-video", Key="dive/clip-012.mp4", Body=b"someone else's")
    report = submit(aws, info, tmp_path / "stack", folder, [])
    assert [v.key for v in report.queued] == [f"dive/clip-{n:03d}.mp4" for n in range(12)]
    assert report.failed[0].key == "dive/clip-012.mp4" and "already holds a different object" in report.failed[1]
    listed = aws("s3").list_objects_v2(Bucket="s-video")["Contents"]
    assert len(listed) == 13  # nothing after the conflict was uploaded
