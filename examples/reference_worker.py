#!/usr/bin/env python3
"""Reference worker for an ecs-autoscale stack: the ecsprocess worker contract in plain boto3.

Use it as the template for a new model container, or to try a stack end to end without a GPU model.
It behaves like the `dettrack` worker of mbari/strongsort-yolov5, plus the two things that make
scale-in safe: ECS task scale-in protection and a visibility heartbeat.

Environment (set by the stack's task definition):
  PROCESSOR      StackName (informational)
  VIDEO_QUEUE    name of the FIFO queue of video jobs
  TRACK_QUEUE    name of the FIFO queue receiving SUCCESS messages
  DEAD_QUEUE     name of the FIFO queue receiving FAILED messages
  VIDEO_BUCKET   bucket holding the uploaded videos
  TRACK_BUCKET   bucket receiving the results
  AWS_REGION     region of all of them (AWS_ENDPOINT_URL, if set, points boto3 at an emulator)

For each message {"video": KEY, "clean": "True"|"False", "user_name", "metadata_b64", "job_name", "args"}:
  1. enable ECS task scale-in protection, so scale-in never stops a task in the middle of a video
     (task ARN from ECS_CONTAINER_METADATA_URI_V4; outside ECS this is skipped with a log line);
  2. extend the message's visibility from a heartbeat thread while busy, so no other worker gets it;
  3. download the video, run the model on it, pack the model's output folder as
     `<stem>.tracks.tar.gz` and upload it to TRACK_BUCKET under the video's prefix
     (videos/dive1/clip.mov -> videos/dive1/clip.tracks.tar.gz);
  4. send the message's own fields plus {"status": "SUCCESS", "results": KEY} to TRACK_QUEUE, or
     {"status": "FAILED", "error": TEXT} to DEAD_QUEUE when anything failed;
  5. on success with clean == "True", delete the video from VIDEO_BUCKET;
  6. delete the message, then drop the scale-in protection.
On SIGTERM (ECS stopping the task): the model is stopped, the message is made visible again at once
(so another worker takes the video without waiting for the visibility timeout) and the worker exits.

The model: by default a stub that writes a small JSON file (no GPU needed). `--model CMD` runs a
command instead; `{video}`, `{output}` and `{args}` in it are replaced by the local video path, the
folder to write results into and the message's "args" string, also given to the command as the
environment variables VIDEO_PATH, OUTPUT_DIR and MODEL_ARGS (safer inside `sh -c` scripts).

  python examples/reference_worker.py                       # serve forever
  python examples/reference_worker.py --once                # one video (or none), then exit
  python examples/reference_worker.py --max-messages 5 --exit-when-idle \\
      --model 'python detect.py --source {video} --out {output}'
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import shlex
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request
from pathlib import Path, PurePosixPath
from typing import Optional

import boto3

log = logging.getLogger("reference_worker")
CONTRACT = ("VIDEO_QUEUE", "TRACK_QUEUE", "DEAD_QUEUE", "VIDEO_BUCKET", "TRACK_BUCKET", "AWS_REGION")
RESULTS_SUFFIX = ".tracks.tar.gz"
MAX_VISIBILITY = 12 * 3600  # SQS ceiling for one message's visibility


class Stopping(Exception):
    """SIGTERM arrived: give the current video back to the queue and exit."""


def results_key(video_key: str) -> str:
    path = PurePosixPath(video_key)
    return str(path.with_name(path.stem + RESULTS_SUFFIX))


# ---- ECS task scale-in protection ------------------------------------------------------------------
class TaskProtection:
    """Scale-in protection of this task; a no-op outside ECS (no ECS_CONTAINER_METADATA_URI_V4)."""

    def __init__(self, ecs, minutes: int) -> None:
        self.ecs, self.minutes = ecs, max(1, min(2880, minutes))  # ECS accepts 1..2880 minutes
        self.cluster = self.task_arn = None
        uri = os.environ.get("ECS_CONTAINER_METADATA_URI_V4")
        if not uri:
            log.info("not running in ECS (no ECS_CONTAINER_METADATA_URI_V4): task scale-in protection skipped")
            return
        try:
            with urllib.request.urlopen(f"{uri}/task", timeout=5) as response:
                task = json.load(response)
            self.cluster, self.task_arn = task["Cluster"], task["TaskARN"]
        except Exception as exc:  # without protection the worker still works, scale-in is just less safe
            log.warning("cannot read the task metadata (%s): task scale-in protection skipped", exc)

    def set(self, enabled: bool) -> None:
        if not self.task_arn:
            return
        try:
            kwargs = {"expiresInMinutes": self.minutes} if enabled else {}
            self.ecs.update_task_protection(cluster=self.cluster, tasks=[self.task_arn],
                                            protectionEnabled=enabled, **kwargs)
            log.info("task scale-in protection %s", f"on for {self.minutes} min" if enabled else "off")
        except Exception as exc:
            log.warning("task scale-in protection not changed (%s)", exc)


# ---- visibility heartbeat ----------------------------------------------------------------------------
class Heartbeat(threading.Thread):
    """Keeps a received message invisible while it is processed: extends it at once, then every
    `every` seconds, by `extend` seconds (SQS stops at 12 h after the receive)."""

    def __init__(self, sqs, queue_url: str, receipt: str, every: float, extend: int) -> None:
        super().__init__(daemon=True)
        self.sqs, self.queue_url, self.receipt = sqs, queue_url, receipt
        self.every, self.extend = every, extend
        self.stopped = threading.Event()
        self.beats = 0
        self._beat()

    def _beat(self) -> None:
        try:
            self.sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=self.receipt,
                                               VisibilityTimeout=self.extend)
            self.beats += 1
            log.debug("visibility extended by %ss", self.extend)
        except Exception as exc:
            log.warning("could not extend the message's visibility (%s)", exc)

    def run(self) -> None:
        while not self.stopped.wait(self.every):
            self._beat()

    def stop(self) -> None:
        self.stopped.set()
        if self.is_alive():
            self.join()


# ---- the model ------------------------------------------------------------------------------------------
def run_model(command: Optional[str], video: Path, output: Path, args: str, timeout: float,
              stop_requested: threading.Event) -> None:
    """Fill `output` with the model's results for `video`; raises RuntimeError with the reason."""
    if command is None:
        stub = {"video": video.name, "bytes": video.stat().st_size, "processor": os.environ.get("PROCESSOR", ""),
                "args": args, "tracks": []}
        (output / f"{video.stem}.json").write_text(json.dumps(stub, indent=2))
        return
    replacements = {"{video}": str(video), "{output}": str(output), "{args}": args}
    argv = []
    for token in shlex.split(command):
        for placeholder, value in replacements.items():
            token = token.replace(placeholder, value)
        argv.append(token)
    env = {**os.environ, "VIDEO_PATH": str(video), "OUTPUT_DIR": str(output), "MODEL_ARGS": args}
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(argv, env=env, stdout=sys.stderr, stderr=errors)
        deadline = time.monotonic() + timeout
        while process.poll() is None:
            if stop_requested.is_set() or time.monotonic() > deadline:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                if stop_requested.is_set():
                    raise Stopping()
                raise RuntimeError(f"model timed out after {timeout / 3600:.1f} h")
            time.sleep(0.2)
        if process.returncode != 0:
            errors.seek(0)
            tail = errors.read()[-800:].decode(errors="replace").strip()
            raise RuntimeError(f"model exited with status {process.returncode}" + (f": {tail}" if tail else ""))


def parse_job(text: str) -> Optional[dict]:
    """The job message as a dict, None when it is not a JSON object with a "video"."""
    try:
        body = json.loads(text)
    except ValueError:
        return None
    return body if isinstance(body, dict) and body.get("video") else None


def pack(output: Path, archive: Path) -> None:
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(output.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(output)), recursive=False)


# ---- the worker ------------------------------------------------------------------------------------------
class Worker:
    def __init__(self, options: argparse.Namespace) -> None:
        missing = [name for name in CONTRACT if not os.environ.get(name)]
        if missing:
            raise SystemExit(f"reference_worker: missing environment variable(s) {', '.join(missing)} "
                             "(set by the stack's task definition)")
        self.options = options
        region = os.environ["AWS_REGION"]
        self.sqs = boto3.client("sqs", region_name=region)
        self.s3 = boto3.client("s3", region_name=region)
        self.video_bucket, self.track_bucket = os.environ["VIDEO_BUCKET"], os.environ["TRACK_BUCKET"]
        self.urls = {name: self.sqs.get_queue_url(QueueName=os.environ[name])["QueueUrl"]
                     for name in ("VIDEO_QUEUE", "TRACK_QUEUE", "DEAD_QUEUE")}
        visibility = int(self.sqs.get_queue_attributes(
            QueueUrl=self.urls["VIDEO_QUEUE"], AttributeNames=["VisibilityTimeout"])["Attributes"]["VisibilityTimeout"])
        self.extend = min(MAX_VISIBILITY, max(visibility, 60))
        self.every = options.heartbeat_seconds or max(1.0, self.extend / 3)
        self.protection = TaskProtection(boto3.client("ecs", region_name=region),
                                         math.ceil(options.timeout_hours * 60) + 10)
        self.stop_requested = threading.Event()

    def serve(self) -> int:
        """Process messages until told to stop; returns the number of messages handled."""
        handled = 0
        while not self.stop_requested.is_set():
            if self.options.max_messages and handled >= self.options.max_messages:
                break
            messages = self.sqs.receive_message(QueueUrl=self.urls["VIDEO_QUEUE"], MaxNumberOfMessages=1,
                                                WaitTimeSeconds=self.options.wait_seconds,
                                                AttributeNames=["All"]).get("Messages", [])
            if not messages:
                if self.options.exit_when_idle:
                    break
                continue
            if self.stop_requested.is_set():  # SIGTERM during the long poll: hand the video back
                self.sqs.change_message_visibility(QueueUrl=self.urls["VIDEO_QUEUE"],
                                                   ReceiptHandle=messages[0]["ReceiptHandle"], VisibilityTimeout=0)
                break
            try:
                self.handle(messages[0])
            except Stopping:
                break
            handled += 1
        log.info("exiting after %d message(s)", handled)
        return handled

    def handle(self, message: dict) -> None:
        receipt = message["ReceiptHandle"]
        group = message.get("Attributes", {}).get("MessageGroupId", "video")
        self.protection.set(True)
        heartbeat = Heartbeat(self.sqs, self.urls["VIDEO_QUEUE"], receipt, self.every, self.extend)
        heartbeat.start()
        try:
            try:
                body = parse_job(message["Body"])
                if body is None:
                    self.report({"body": message["Body"]}, group, error="unreadable job message (no 'video' field)")
                else:
                    self.process(body, group)
            finally:
                heartbeat.stop()  # before the release or delete below: no late beat on a finished message
        except Stopping:
            log.info("stopping: giving the video back to the queue")
            self.sqs.change_message_visibility(QueueUrl=self.urls["VIDEO_QUEUE"], ReceiptHandle=receipt,
                                               VisibilityTimeout=0)
            raise
        else:
            self.sqs.delete_message(QueueUrl=self.urls["VIDEO_QUEUE"], ReceiptHandle=receipt)
        finally:
            self.protection.set(False)  # only once the message is deleted or given back

    def process(self, body: dict, group: str) -> None:
        key = body["video"]
        log.info("processing s3://%s/%s (job %s)", self.video_bucket, key, body.get("job_name"))
        with tempfile.TemporaryDirectory(prefix="video-") as tmp:
            video = Path(tmp) / PurePosixPath(key).name
            output = Path(tmp) / "output"
            output.mkdir()
            try:
                self.s3.download_file(self.video_bucket, key, str(video))
                run_model(self.options.model, video, output, str(body.get("args") or ""),
                          self.options.timeout_hours * 3600, self.stop_requested)
                archive = Path(tmp) / (video.stem + RESULTS_SUFFIX)
                pack(output, archive)
                results = results_key(key)
                self.s3.upload_file(str(archive), self.track_bucket, results)
            except Stopping:
                raise
            except Exception as exc:
                log.error("failed %s: %s", key, exc)
                self.report(body, group, error=str(exc))
                return
        self.report(body, group, results=results)
        if str(body.get("clean")) == "True":
            self.s3.delete_object(Bucket=self.video_bucket, Key=key)
            log.info("deleted s3://%s/%s (clean)", self.video_bucket, key)

    def report(self, body: dict, group: str, results: Optional[str] = None, error: Optional[str] = None) -> None:
        """SUCCESS (with the results key) to the track queue, or FAILED (with the error) to the dead queue."""
        if error is None:
            outcome, queue = {**body, "status": "SUCCESS", "results": results}, "TRACK_QUEUE"
        else:
            outcome, queue = {**body, "status": "FAILED", "error": error}, "DEAD_QUEUE"
        text = json.dumps(outcome)
        self.sqs.send_message(QueueUrl=self.urls[queue], MessageBody=text, MessageGroupId=group,
                              MessageDeduplicationId=hashlib.sha256(text.encode()).hexdigest())
        log.info("%s %s -> %s", outcome["status"], body.get("video", "?"), os.environ[queue])


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=os.environ.get("MODEL_COMMAND"), metavar="CMD",
                        help="command run per video ({video} {output} {args}); default: a stub (env MODEL_COMMAND)")
    parser.add_argument("--once", action="store_true", help="handle at most one message, then exit")
    parser.add_argument("--max-messages", type=int, default=0, metavar="N", help="exit after N messages")
    parser.add_argument("--exit-when-idle", action="store_true", help="exit when the queue has nothing to give")
    parser.add_argument("--wait-seconds", type=int, default=20, choices=range(0, 21), metavar="0-20",
                        help="long-poll wait per receive (default 20)")
    parser.add_argument("--heartbeat-seconds", type=float, default=0, metavar="S",
                        help="visibility heartbeat period (default: a third of the queue's visibility timeout)")
    parser.add_argument("--timeout-hours", type=float, default=3.0, metavar="H",
                        help="hard limit per video, like dettrack (default 3)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging (every heartbeat)")
    options = parser.parse_args(argv)
    if options.once:
        options.max_messages, options.exit_when_idle = 1, True
    return options


def main(argv: Optional[list[str]] = None) -> int:
    options = parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    log.setLevel(logging.DEBUG if options.verbose else logging.INFO)
    worker = Worker(options)

    def on_sigterm(signum, frame) -> None:
        log.info("SIGTERM: finishing up")
        worker.stop_requested.set()

    signal.signal(signal.SIGTERM, on_sigterm)
    worker.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
