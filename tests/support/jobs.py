"""What the job tests share: deepsea-ai's video keys, the reference worker and a model that fails on
some videos, and the test's own reads of a queue (not the product's)."""

from __future__ import annotations

import os
import subprocess
import sys

from helpers import CLOSED_PORT_PROXY, REPO

WORKER = REPO / "examples" / "reference_worker.py"
# Fails on videos whose name contains "broken", like a model meeting a corrupt file.
FAILING_MODEL = (
    'sh -c \'case "$VIDEO_PATH" in *broken*) echo "decoder error: corrupt stream" >&2; exit 3;; esac; '
    'echo "{\\"tracks\\": []}" > "$OUTPUT_DIR/tracks.json"\''
)

# Expected keys are what deepsea-ai 1.25's own get_prefix gives (checked against it in
# tests/emulator/test_deepsea_ai.py), except for paths without a marker, where deepsea-ai's message key
# is the unusable `//clip.mp4`.
VIDEO_KEY_CASES = [
    ("/Volumes/M3/mezzanine/dive-1234/clip.mov", "M3/mezzanine/dive-1234/clip.mov"),
    ("/mnt/data/dive/clip.MP4", "data/dive/clip.MP4"),
    ("/Users/ann/Movies/clip.mkv", "ann/Movies/clip.mkv"),
    ("/home/alice/Volumes/M3/clip.mov", "M3/clip.mov"),  # Volumes/ is looked for before home/
    ("/Volumes/A/Volumes/B/clip.mov", "B/clip.mov"),  # after the LAST occurrence
    ("/Users/bob/myVolumes/x/clip.mov", "x/clip.mov"),  # a substring match
    ("/Volumes/clip.mov", "Volumes/clip.mov"),  # the marker is in the path, not in the folder
    ("/home/ann/mnt/clip.avi", "home/ann/mnt/clip.avi"),  # mnt/ before home/, and mnt is the folder itself
    ("/data/home/clip.mov", "data/home/clip.mov"),
]
NO_MARKER_CASES = [
    ("/data/videos/clip.mp4", "data/videos/clip.mp4"),  # no marker: the path after the root
    ("/data/homework/clip.mp4", "data/homework/clip.mp4"),  # `home/` is not in `homework/`
]


def depth(sqs, url: str) -> tuple[int, int]:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])


def peek(sqs, url: str) -> list[dict]:
    """Every message of a queue, released again at once (the test's own view, not the product's)."""
    held = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30, AttributeNames=["All"]
        ).get("Messages", [])
        if not batch:
            break
        held += batch
    for m in held:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
    return held


def worker_env(emulator: str, outputs: dict) -> dict:
    from ecs_autoscale.aws_target import emulator_env

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ECS_"))}
    env.update(emulator_env(emulator))
    env.update(
        {
            "HTTP_PROXY": CLOSED_PORT_PROXY,
            "HTTPS_PROXY": CLOSED_PORT_PROXY,
            "NO_PROXY": "127.0.0.1,localhost",
            "PROCESSOR": outputs["stack_name"],
            "VIDEO_QUEUE": outputs["video_queue_name"],
            "TRACK_QUEUE": outputs["track_queue_name"],
            "DEAD_QUEUE": outputs["dead_queue_name"],
            "VIDEO_BUCKET": outputs["video_bucket"],
            "TRACK_BUCKET": outputs["tracks_bucket"],
            "AWS_REGION": outputs["region"],
        }
    )
    return env


def run_worker(emulator: str, outputs: dict, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, str(WORKER), "--exit-when-idle", "--wait-seconds", "1", "--heartbeat-seconds", "1", *args],
        env=worker_env(emulator, outputs),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc
