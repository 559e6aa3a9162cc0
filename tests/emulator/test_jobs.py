"""Video jobs end to end: submit -> reference worker -> results -> status, plus stop/resume, against
one real deployment (`ecs-autoscale deploy`, real Terraform) on the moto emulator.

The stack's StackName has dashes on purpose (the original `ecsshutdown` broke on them). Each test uses
its own job name and video folder, so the tests share the deployment but not their videos. What needs no
AWS at all (key layout, message format, ledger naming) is in tests/unit/test_job_formats.py.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import signal
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path

import pytest
from helpers import CLI, seed_text, write_model
from support.jobs import FAILING_MODEL, WORKER, depth, peek, run_worker, worker_env

STACK_NAME = "Jobs-Test-Stack"
FLEET_SIZE, TASKS_PER_INSTANCE = 3, 4
BODY_KEYS = {"video", "clean", "user_name", "metadata_b64", "job_name", "args"}


# ---- the deployed stack ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stack_dir(tmp_path_factory, ecs_cli) -> Path:
    """One real deployment of the seed model (dashed StackName) for the whole file."""
    folder = tmp_path_factory.mktemp("jobs")
    # 4 GPUs per instance: 4 daemon services, 4 videos per instance when `submit` sizes the group.
    model = write_model(folder, seed_text(StackName=STACK_NAME, FleetSize=FLEET_SIZE, InstanceTypes="[g4dn.12xlarge]"))
    target = folder / "stack"
    ecs_cli("deploy", model, target, "--auto-approve", timeout=1200)
    outputs = json.loads((target / "outputs.json").read_text())
    assert outputs["stack_name"] == STACK_NAME and outputs["tasks_per_instance"] == TASKS_PER_INSTANCE
    return target


@pytest.fixture(scope="module")
def outputs(stack_dir) -> dict:
    return json.loads((stack_dir / "outputs.json").read_text())


@pytest.fixture(scope="module")
def sqs(aws_client):
    return aws_client("sqs")


@pytest.fixture(scope="module")
def s3(aws_client):
    return aws_client("s3")


def make_videos(root: Path, spec: dict[str, int]) -> Path:
    """Files under root/Volumes/<...> (so keys start after Volumes/); spec: relative path -> size."""
    for rel, size in spec.items():
        path = root / "Volumes" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))
    return root / "Volumes"


def status_json(ecs_cli, stack_dir: Path, job: str | None = None) -> dict:
    return json.loads(ecs_cli("status", stack_dir, "--json", *(["--job", job] if job else [])).stdout)


# ---- submit -> worker -> results -> status ----------------------------------------------------------------
DIVE = {  # relative path under Volumes/ -> size; c.mkv is above the 5 MiB part size: multipart upload
    "M3/dive-1/a.mov": 2000,
    "M3/dive-1/b.MP4": 3000,
    "M3/dive-1/sub/c.mkv": 6 * 1024 * 1024 + 17,
    "M3/dive-1/broken.avi": 1000,
    "M3/dive-1/notes.txt": 10,
    "M3/dive-1/clip.mov.json": 10,
    "M3/dive-1/._a.mov": 10,
}
DIVE_VIDEOS = {"M3/dive-1/a.mov", "M3/dive-1/b.MP4", "M3/dive-1/sub/c.mkv", "M3/dive-1/broken.avi"}


@pytest.fixture(scope="module")
def dive(tmp_path_factory, stack_dir, ecs_cli, outputs, sqs):
    folder = make_videos(tmp_path_factory.mktemp("dive"), DIVE) / "M3" / "dive-1"
    before = depth(sqs, outputs["video_queue_url"])
    began = time.time()
    first = ecs_cli("submit", stack_dir, folder, "--job", "dive-1", "--part-size", "5", "--args", "--conf 0.3")
    return {
        "folder": folder,
        "first": first,
        "before": before,
        "after": depth(sqs, outputs["video_queue_url"]),
        "began": began,
        "ended": time.time(),
    }


def test_submit_queues_exactly_the_videos_with_ecsprocess_bodies(dive, outputs, sqs, s3, stack_dir):
    assert dive["after"][0] - dive["before"][0] == len(DIVE_VIDEOS)
    assert "4 video(s) queued now (4 uploaded)" in dive["first"].stdout
    assert "2 non-video file(s) ignored" in dive["first"].stdout
    messages = [m for m in peek(sqs, outputs["video_queue_url"]) if json.loads(m["Body"]).get("job_name") == "dive-1"]
    bodies = {json.loads(m["Body"])["video"]: (json.loads(m["Body"]), m) for m in messages}
    assert set(bodies) == DIVE_VIDEOS
    for key, (body, message) in bodies.items():
        assert set(body) == BODY_KEYS
        assert body["clean"] == "False" and body["job_name"] == "dive-1" and body["args"] == "--conf 0.3"
        assert body["user_name"]
        metadata = json.loads(base64.b64decode(body["metadata_b64"]))
        assert uuid.UUID(metadata["message_uuid"]).version == 4
        assert re.fullmatch(r"\d{8}T\d{6}-" + re.escape(Path(key).name), message["Attributes"]["MessageGroupId"])
        head = s3.head_object(Bucket=outputs["video_bucket"], Key=key)
        assert head["ContentLength"] == DIVE[key]
    ledger = json.loads((stack_dir / "jobs" / "dive-1.json").read_text())
    assert {k for k, v in ledger["videos"].items() if v["state"] == "queued"} == DIVE_VIDEOS


def group_of(aws_client, outputs: dict) -> dict:
    return aws_client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[outputs["autoscaling_group_name"]]
    )["AutoScalingGroups"][0]


def test_submit_records_when_it_queued_so_agents_hold_their_scale_in(dive, aws_client, outputs):
    """Issue 19 item 10: the stack's SSM parameter holds the time of this submit's last video, which the
    instance agents read before they leave (agent tests: test_a_recent_submit_holds_an_idle_instance)."""
    from ecs_autoscale.model.naming import StackNames

    name = StackNames(outputs["stack_name"]).submit_marker
    marked = int(aws_client("ssm").get_parameter(Name=name)["Parameter"]["Value"])
    assert int(dive["began"]) <= marked <= dive["ended"]


def test_submit_starts_the_instances_its_videos_need_with_the_first_video(dive, aws_client, outputs):
    # 4 videos, 4 workers per instance: one instance, asked for right after the first video was queued.
    assert group_of(aws_client, outputs)["DesiredCapacity"] == 1
    lines = dive["first"].stdout.splitlines()
    sized = [i for i, line in enumerate(lines) if line.startswith("GPU instances:")]
    assert [lines[i] for i in sized] == ["GPU instances: 0 -> 1 (for 1 video(s))."]
    assert lines[sized[0] - 1].startswith("queued  ") and sum(1 for x in lines[: sized[0]] if "queued  " in x) == 1


def test_second_submit_of_the_same_folder_queues_nothing_new(dive, ecs_cli, stack_dir, outputs, sqs):
    again = ecs_cli("submit", stack_dir, dive["folder"], "--job", "dive-1")
    assert "0 video(s) queued now (0 uploaded), 4 already queued before" in again.stdout
    assert depth(sqs, outputs["video_queue_url"]) == dive["after"]


@pytest.fixture(scope="module")
def processed(dive, emulator, outputs):
    return run_worker(emulator, outputs, "--model", FAILING_MODEL)


def test_reference_worker_processes_the_job(processed, outputs, sqs):
    assert processed.stderr.count("SUCCESS ") == 3 and processed.stderr.count("FAILED ") == 1
    assert depth(sqs, outputs["video_queue_url"]) == (0, 0)
    track = [json.loads(m["Body"]) for m in peek(sqs, outputs["track_queue_url"])]
    mine = {b["video"]: b for b in track if b.get("job_name") == "dive-1"}
    assert set(mine) == DIVE_VIDEOS - {"M3/dive-1/broken.avi"}
    assert mine["M3/dive-1/sub/c.mkv"]["results"] == "M3/dive-1/sub/c.tracks.tar.gz"
    assert all(set(b) == BODY_KEYS | {"status", "results"} and b["status"] == "SUCCESS" for b in mine.values())


def test_results_downloads_one_archive_per_finished_video(processed, ecs_cli, stack_dir, tmp_path):
    proc = ecs_cli("results", stack_dir, "--job", "dive-1", tmp_path)
    archives = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert archives == ["M3/dive-1/a.tracks.tar.gz", "M3/dive-1/b.tracks.tar.gz", "M3/dive-1/sub/c.tracks.tar.gz"]
    with tarfile.open(tmp_path / archives[0]) as tar:
        assert tar.getnames() == ["tracks.json"]
    assert "3 result(s) downloaded" in proc.stdout and "not ready: 1 failed" in proc.stdout
    again = ecs_cli("results", stack_dir, "--job", "dive-1", tmp_path)
    assert "0 result(s) downloaded, 3 already in" in again.stdout
    (tmp_path / archives[0]).write_bytes(b"my own edits")  # never overwritten
    kept = ecs_cli("results", stack_dir, "--job", "dive-1", tmp_path, check=False)
    assert kept.returncode == 1 and (tmp_path / archives[0]).read_bytes() == b"my own edits"
    assert "kept " in kept.stderr and kept.stderr.strip().splitlines()[-1].startswith("ecs-autoscale: ")


def test_status_json_reports_done_and_the_failure_with_its_error(processed, ecs_cli, stack_dir, outputs, sqs):
    dead_before = depth(sqs, outputs["dead_queue_url"])
    track_before = depth(sqs, outputs["track_queue_url"])
    for _ in range(4):  # more reads than the track queue's maxReceiveCount (3): nothing may move
        report = status_json(ecs_cli, stack_dir, "dive-1")
    videos = {v["video"]: v for v in report["jobs"]["dive-1"]["videos"]}
    assert {k: v["state"] for k, v in videos.items()} == {
        "M3/dive-1/a.mov": "done",
        "M3/dive-1/b.MP4": "done",
        "M3/dive-1/sub/c.mkv": "done",
        "M3/dive-1/broken.avi": "failed",
    }
    assert videos["M3/dive-1/b.MP4"]["results"] == "M3/dive-1/b.tracks.tar.gz"
    assert "decoder error: corrupt stream" in videos["M3/dive-1/broken.avi"]["error"]
    assert report["jobs"]["dive-1"]["counts"]["done"] == 3
    assert report["queues"]["video"] == {"visible": 0, "delayed": 0, "in_flight": 0}
    # Read without stealing: the result and failure messages are all still there, none in flight.
    assert depth(sqs, outputs["dead_queue_url"]) == dead_before and dead_before[1] == 0
    assert depth(sqs, outputs["track_queue_url"]) == track_before
    text = ecs_cli("status", stack_dir, "--job", "dive-1").stdout
    assert "Job dive-1: 4 video(s): 3 done, 1 failed" in text
    assert "failed   M3/dive-1/broken.avi: model exited with status 3: decoder error: corrupt stream" in text


def test_retry_failed_queues_only_the_failed_video_again(processed, ecs_cli, stack_dir, outputs, sqs, dive):
    proc = ecs_cli("submit", stack_dir, dive["folder"], "--job", "dive-1", "--retry-failed")
    assert "1 video(s) queued now (0 uploaded), 3 already queued before" in proc.stdout
    assert depth(sqs, outputs["video_queue_url"])[0] == 1
    report = status_json(ecs_cli, stack_dir, "dive-1")
    states = {v["video"]: (v["state"], v["attempt"]) for v in report["jobs"]["dive-1"]["videos"]}
    # The old FAILED message of attempt 1 is still in the dead queue; it must not mark attempt 2 failed.
    assert states["M3/dive-1/broken.avi"] == ("queued", 2)


def test_clean_lets_the_worker_delete_the_video_once_processed(tmp_path, ecs_cli, stack_dir, emulator, outputs, s3):
    folder = make_videos(tmp_path, {"dive-7/once.mp4": 500}) / "dive-7"
    ecs_cli("submit", stack_dir, folder, "--job", "dive-7", "--clean")
    assert s3.head_object(Bucket=outputs["video_bucket"], Key="dive-7/once.mp4")["ContentLength"] == 500
    run_worker(emulator, outputs)
    listed = s3.list_objects_v2(Bucket=outputs["video_bucket"], Prefix="dive-7/").get("KeyCount", 0)
    assert listed == 0
    assert s3.head_object(Bucket=outputs["tracks_bucket"], Key="dive-7/once.tracks.tar.gz")["ContentLength"] > 0
    assert status_json(ecs_cli, stack_dir, "dive-7")["jobs"]["dive-7"]["counts"]["done"] == 1


# ---- never a duplicate job ----------------------------------------------------------------------------------
def test_failure_mid_batch_reports_queued_and_not_queued_and_rerun_sends_only_those(
    tmp_path, ecs_cli, stack_dir, outputs, sqs, s3
):
    folder = make_videos(tmp_path, {"dive-2/1.mov": 100, "dive-2/2.mov": 200, "dive-2/3.mov": 300}) / "dive-2"
    # Another video already holds 2.mov's key: never overwritten, so 2.mov fails and 3.mov is not tried.
    s3.put_object(Bucket=outputs["video_bucket"], Key="dive-2/2.mov", Body=b"someone else's video")
    before = depth(sqs, outputs["video_queue_url"])[0]
    failed = ecs_cli("submit", stack_dir, folder, "--job", "dive-2", check=False)
    assert failed.returncode == 1
    assert "queued  dive-2/1.mov" in failed.stdout
    assert "NOT queued dive-2/2.mov: s3://" in failed.stderr and "already holds a different object" in failed.stderr
    assert "NOT queued dive-2/3.mov (not attempted)" in failed.stderr
    assert failed.stderr.strip().splitlines()[-1] == (
        "ecs-autoscale: 2 of 3 video(s) NOT queued (first: dive-2/2.mov); re-run the same command to queue only those"
    )
    assert depth(sqs, outputs["video_queue_url"])[0] == before + 1

    s3.delete_object(Bucket=outputs["video_bucket"], Key="dive-2/2.mov")
    rerun = ecs_cli("submit", stack_dir, folder, "--job", "dive-2")
    assert "2 video(s) queued now (2 uploaded), 1 already queued before" in rerun.stdout
    videos = [
        json.loads(m["Body"])["video"]
        for m in peek(sqs, outputs["video_queue_url"])
        if json.loads(m["Body"])["job_name"] == "dive-2"
    ]
    assert sorted(videos) == ["dive-2/1.mov", "dive-2/2.mov", "dive-2/3.mov"]


def test_a_send_interrupted_before_it_was_recorded_is_not_duplicated(tmp_path, stack_dir, outputs, sqs, ecs_cli):
    """The crash window: SQS accepted the message but the ledger still says `sending`."""
    from ecs_autoscale.client.ledger import JobLedger
    from ecs_autoscale.client.messages import encode_body
    from ecs_autoscale.client.submit import _new_entry
    from ecs_autoscale.client.uploads import collect_videos

    folder = make_videos(tmp_path, {"dive-3/only.mov": 100}) / "dive-3"
    (video,), _ = collect_videos([folder])
    ledger = JobLedger.load(stack_dir, "dive-3")
    entry = ledger.begin_send(video.key, lambda attempt: _new_entry(video, "dive-3", attempt, False, "", "me"))
    sqs.send_message(
        QueueUrl=outputs["video_queue_url"],
        MessageBody=encode_body(entry["body"]),
        MessageGroupId=entry["message_group_id"],
        MessageDeduplicationId=entry["deduplication_id"],
    )
    proc = ecs_cli("submit", stack_dir, folder, "--job", "dive-3")
    assert "1 video(s) queued now" in proc.stdout
    mine = [
        json.loads(m["Body"])
        for m in peek(sqs, outputs["video_queue_url"])
        if json.loads(m["Body"])["job_name"] == "dive-3"
    ]
    assert mine == [entry["body"]]
    assert json.loads((stack_dir / "jobs" / "dive-3.json").read_text())["videos"][video.key]["state"] == "queued"


def test_a_submit_killed_mid_run_loses_no_video_and_sends_none_twice(
    tmp_path, cli_env, stack_dir, outputs, sqs, ecs_cli
):
    """SIGKILL part-way: no `finally`, no compaction (unlike an interrupt), so the re-run recovers from the
    journal exactly as the killed process left it (a batch recorded SENDING included, when the kill
    lands between its send and its record)."""
    from ecs_autoscale.client.ledger import QUEUED, SENDING, JobLedger, read_journal
    from ecs_autoscale.client.messages import message_uuid_of

    count, job = 150, "dive-12"
    folder = make_videos(tmp_path, {f"{job}/{n:03d}.mov": 20 + n for n in range(count)}) / job
    keys = [f"{job}/{n:03d}.mov" for n in range(count)]
    journal, snapshot = stack_dir / "jobs" / f"{job}.journal", stack_dir / "jobs" / f"{job}.json"
    with (tmp_path / "killed.out").open("w") as out:
        proc = subprocess.Popen(
            [str(CLI), "submit", str(stack_dir), str(folder), "--job", job],
            env=cli_env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            queued = [r for r in read_journal(journal) if r.get("fields", {}).get("state") == QUEUED]
            if len(queued) >= 25:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.005)
        rc = proc.wait(timeout=30)
    assert rc == -signal.SIGKILL, (
        f"submit ended ({rc}) before it could be killed:\n{(tmp_path / 'killed.out').read_text()}"
    )
    assert not snapshot.exists()  # killed: the journal alone holds the run
    left = JobLedger.load(stack_dir, job)
    queued_at_kill = [k for k in keys if left.videos.get(k, {}).get("state") == QUEUED]
    assert 25 <= len(queued_at_kill) < count, len(queued_at_kill)
    sending = {k: e["message_uuid"] for k, e in left.videos.items() if e["state"] == SENDING}

    rerun = ecs_cli("submit", stack_dir, folder, "--job", job)
    assert f"{count - len(queued_at_kill)} video(s) queued now" in rerun.stdout
    assert f"{len(queued_at_kill)} already queued before" in rerun.stdout
    ledger = JobLedger.load(stack_dir, job)
    assert not journal.exists() and snapshot.exists()
    assert {k: e["state"] for k, e in ledger.videos.items()} == {k: QUEUED for k in keys}
    assert {k: ledger.videos[k]["message_uuid"] for k in sending} == sending  # the same messages again
    assert {e["attempt"] for e in ledger.videos.values()} == {1}

    mine = [m for m in peek(sqs, outputs["video_queue_url"]) if json.loads(m["Body"])["job_name"] == job]
    try:
        assert sorted(json.loads(m["Body"])["video"] for m in mine) == keys  # every video, each once
        seen = {
            json.loads(m["Body"])["video"]: (
                m["Attributes"]["MessageDeduplicationId"],
                message_uuid_of(json.loads(m["Body"])),
                m["MessageId"],
            )
            for m in mine
        }
        recorded = {k: (e["deduplication_id"], e["message_uuid"], e["message_id"]) for k, e in ledger.videos.items()}
        # A video caught mid-send may have reached the queue before the kill: its re-send is then deduplicated,
        # and AWS does not document which MessageId a deduplicated send answers (SQS DG, "Using the message
        # deduplication ID": "acknowledged but not delivered"), so for those only the message itself must match.
        for k in sending:
            seen[k], recorded[k] = seen[k][:2], recorded[k][:2]
        assert seen == recorded  # the ledger names exactly the messages the queue holds
    finally:  # later tests count the queue: take this job's messages out of it
        drain_job(sqs, outputs["video_queue_url"], job)


def drain_job(sqs, url: str, job: str) -> None:
    """Delete the messages of `job` from the queue, releasing every other one."""
    held = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30).get("Messages", [])
        if not batch:
            break
        held += batch
    for m in held:
        if json.loads(m["Body"]).get("job_name") == job:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        else:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)


def test_dry_run_lists_and_sends_nothing(tmp_path, ecs_cli, stack_dir, outputs, sqs):
    folder = make_videos(tmp_path, {"dive-4/x.mp4": 10, "dive-4/y.txt": 1}) / "dive-4"
    before = depth(sqs, outputs["video_queue_url"])
    proc = ecs_cli("submit", stack_dir, folder, "--job", "dive-4", "--dry-run")
    assert "would queue  dive-4/x.mp4" in proc.stdout and "1 non-video file(s) ignored" in proc.stdout
    assert depth(sqs, outputs["video_queue_url"]) == before
    assert not (stack_dir / "jobs" / "dive-4.json").exists()


# ---- sizing the group ------------------------------------------------------------------------------------
def test_submit_raises_the_group_as_videos_need_up_to_fleet_size_and_never_lowers_it(
    tmp_path, ecs_cli, stack_dir, outputs, sqs, aws_client
):

    asg = aws_client("autoscaling")
    asg.set_desired_capacity(AutoScalingGroupName=outputs["autoscaling_group_name"], DesiredCapacity=0)
    waiting = sum(depth(sqs, outputs["video_queue_url"]))  # left by earlier tests: counted too
    folder = make_videos(tmp_path, {f"sizing/{n}.mp4": 10 + n for n in range(9)}) / "sizing"
    big = ecs_cli("submit", stack_dir, folder, "--job", "sizing")
    expected = min(FLEET_SIZE, math.ceil((waiting + 9) / TASKS_PER_INSTANCE))
    assert group_of(aws_client, outputs)["DesiredCapacity"] == expected == FLEET_SIZE
    sized = [line for line in big.stdout.splitlines() if line.startswith("GPU instances:")]
    # Raised while the videos were being queued, only when they needed more (not once per video).
    assert 1 <= len(sized) <= FLEET_SIZE and all(" -> " in line for line in sized)
    assert f" -> {FLEET_SIZE} (for " in sized[-1]

    small = make_videos(tmp_path, {"sizing-small/one.mp4": 5}) / "sizing-small"
    again = ecs_cli("submit", stack_dir, small, "--job", "sizing-small")
    assert group_of(aws_client, outputs)["DesiredCapacity"] == FLEET_SIZE  # one more video: nothing lowered
    assert f"GPU instances: {FLEET_SIZE}, unchanged (for " in again.stdout


# ---- the worker gives a video back when ECS stops it ----------------------------------------------------
def test_worker_releases_its_video_on_sigterm(tmp_path, ecs_cli, stack_dir, emulator, outputs, sqs):
    drain = depth(sqs, outputs["video_queue_url"])
    if drain != (0, 0):  # earlier tests leave videos queued: process them first
        run_worker(emulator, outputs)
    folder = make_videos(tmp_path, {"dive-5/long.mov": 100}) / "dive-5"
    ecs_cli("submit", stack_dir, folder, "--job", "dive-5")
    worker = subprocess.Popen(
        [sys.executable, str(WORKER), "--wait-seconds", "1", "--heartbeat-seconds", "1", "--model", "sleep 120"],
        env=worker_env(emulator, outputs),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while depth(sqs, outputs["video_queue_url"]) != (0, 1):
            assert time.monotonic() < deadline and worker.poll() is None, "the worker never took the video"
            time.sleep(0.2)
        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, stderr[-3000:]
    assert "giving the video back to the queue" in stderr
    assert depth(sqs, outputs["video_queue_url"]) == (1, 0)  # visible again now, not after the timeout


# ---- stop and resume ------------------------------------------------------------------------------------
def start_workers(aws_client, outputs: dict, instance_ids: list[str]) -> tuple[list[str], str]:
    """What ECS runs on the fleet, which moto does not start: a container instance per GPU instance and a
    worker per daemon service on one of them (RunTask in the group `service:NAME` ECS gives service
    tasks), plus a task of no service. Returns (worker task ARNs, the other task's ARN)."""
    ecs = aws_client("ecs")
    cluster = outputs["cluster_name"]
    for instance_id in instance_ids:
        ecs.register_container_instance(
            cluster=cluster,
            instanceIdentityDocument=json.dumps(
                {"instanceId": instance_id, "region": outputs["region"], "accountId": "123456789012"}
            ),
        )
    family = ecs.register_task_definition(
        family="jobs-test-stand-in", containerDefinitions=[{"name": "w", "image": "busybox", "memory": 64}]
    )["taskDefinition"]["taskDefinitionArn"]
    workers = [
        ecs.run_task(cluster=cluster, taskDefinition=family, group=f"service:{name}", startedBy="ecs-svc/1234")[
            "tasks"
        ][0]["taskArn"]
        for name in outputs["service_names"].split(",")
    ]
    other = ecs.run_task(cluster=cluster, taskDefinition=family, group="family:jobs-test-stand-in")["tasks"][0]
    return workers, other["taskArn"]


def test_stop_brings_instances_and_workers_to_zero_keeping_queued_videos_and_resume_restores(
    tmp_path, ecs_cli, stack_dir, outputs, sqs, aws_client
):
    folder = make_videos(tmp_path, {"dive-6/p.mov": 10, "dive-6/q.mov": 20}) / "dive-6"
    ecs_cli("submit", stack_dir, folder, "--job", "dive-6")
    asg, ecs = aws_client("autoscaling"), aws_client("ecs")
    asg.set_desired_capacity(AutoScalingGroupName=outputs["autoscaling_group_name"], DesiredCapacity=2)
    instances = [i["InstanceId"] for i in group_of(aws_client, outputs)["Instances"]]
    workers, other = start_workers(aws_client, outputs, instances)
    queued = depth(sqs, outputs["video_queue_url"])
    dead = depth(sqs, outputs["dead_queue_url"])
    bodies = sorted(m["Body"] for m in peek(sqs, outputs["video_queue_url"]))

    stopped = ecs_cli("stop", stack_dir)
    assert f"Stopped {STACK_NAME}" in stopped.stdout
    assert f"Stopped {TASKS_PER_INSTANCE} worker task(s); their videos return to the queue." in stopped.stdout
    after = status_json(ecs_cli, stack_dir, "dive-6")
    assert (after["fleet"]["min"], after["fleet"]["max"], after["fleet"]["desired"]) == (0, 0, 0)
    assert after["fleet"]["instances"] == []
    described = {
        t["taskArn"]: t for t in ecs.describe_tasks(cluster=outputs["cluster_name"], tasks=[*workers, other])["tasks"]
    }
    # desiredStatus: moto walks lastStatus through its own states on every describe.
    assert {described[w]["desiredStatus"] for w in workers} == {"STOPPED"}
    # ECS stops the service tasks of a DRAINING instance itself (the emulator's rule), before any StopTask.
    assert {described[w].get("stopCode") for w in workers} == {"ServiceSchedulerInitiated"}
    assert described[other]["desiredStatus"] == "RUNNING"  # not a worker of this stack's services
    arns = ecs.list_container_instances(cluster=outputs["cluster_name"])["containerInstanceArns"]
    assert {
        c["status"]
        for c in ecs.describe_container_instances(cluster=outputs["cluster_name"], containerInstances=arns)[
            "containerInstances"
        ]
    } == {"DRAINING"}
    assert after["stopped"] is not None and after["attention"][0].startswith("STOPPED since")
    assert {v["state"] for v in after["jobs"]["dive-6"]["videos"]} == {"queued"}
    assert depth(sqs, outputs["video_queue_url"]) == queued  # every pending video still queued
    assert sorted(m["Body"] for m in peek(sqs, outputs["video_queue_url"])) == bodies
    assert depth(sqs, outputs["dead_queue_url"]) == dead  # nothing moved to the dead queue
    assert "STOPPED since" in ecs_cli("status", stack_dir).stdout.splitlines()[1]
    assert json.loads((stack_dir / "stopped.json").read_text())["asg"] == {"min": 0, "max": FLEET_SIZE, "desired": 2}

    ecs_cli("stop", stack_dir)  # a second stop keeps the first record (resume must restore max 3, not 0)
    late = make_videos(tmp_path, {"dive-6b/r.mov": 30}) / "dive-6b"
    sent = ecs_cli("submit", stack_dir, late, "--job", "dive-6b")  # accepted, but nothing will run it yet
    assert f"will not process these videos until `ecs-autoscale resume {stack_dir}`: it is stopped since" in sent.stdout
    assert group_of(aws_client, outputs)["DesiredCapacity"] == 0
    assert depth(sqs, outputs["video_queue_url"]) == (queued[0] + 1, queued[1])

    resumed = ecs_cli("resume", stack_dir)
    assert "Restoring what `stop` recorded" in resumed.stdout and f"Resumed {STACK_NAME}" in resumed.stdout
    back = status_json(ecs_cli, stack_dir, "dive-6")
    assert (back["fleet"]["min"], back["fleet"]["max"], back["fleet"]["desired"]) == (0, FLEET_SIZE, 2)
    assert back["stopped"] is None and back["attention"] == [] and not (stack_dir / "stopped.json").exists()
    assert "nothing to resume" in ecs_cli("resume", stack_dir).stdout


def test_a_halted_stack_says_why_first_keeps_new_videos_and_resume_lifts_the_halt(
    tmp_path, ecs_cli, stack_dir, outputs, sqs, aws_client
):
    from ecs_autoscale.group import HALTED_TAG

    group, asg, cloudwatch = outputs["autoscaling_group_name"], aws_client("autoscaling"), aws_client("cloudwatch")
    reason = "2026-12-03T10:00:00Z 3 worker exits while videos waited, last: exit code 1"
    # What the instance agent does on a crash loop, and what the stuck alarm says after 30 minutes.
    asg.update_auto_scaling_group(AutoScalingGroupName=group, MinSize=0, MaxSize=0, DesiredCapacity=0)
    asg.create_or_update_tags(
        Tags=[
            {
                "ResourceId": group,
                "ResourceType": "auto-scaling-group",
                "Key": HALTED_TAG,
                "Value": reason,
                "PropagateAtLaunch": False,
            }
        ]
    )
    stuck = f"{STACK_NAME}-videos-stuck"
    cloudwatch.set_alarm_state(
        AlarmName=stuck,
        StateValue="ALARM",
        StateReason="Threshold Crossed: 30 out of the last 30 datapoints were >= 1.0",
    )
    try:
        lines = ecs_cli("status", stack_dir).stdout.splitlines()
        assert lines[1] == (
            f"  HALTED by an instance agent: {reason}. Workers could not take videos: check the image "
            f"and model files and the log group /ecs/{STACK_NAME}, then "
            f"`ecs-autoscale resume {stack_dir}`."
        )
        assert lines[2].startswith("  VIDEOS STUCK since ") and "30 out of the last 30 datapoints" in lines[2]

        before = depth(sqs, outputs["video_queue_url"])[0]
        folder = make_videos(tmp_path, {"dive-8/halted.mov": 10}) / "dive-8"
        sent = ecs_cli("submit", stack_dir, folder, "--job", "dive-8")
        assert (
            f"will not process these videos until `ecs-autoscale resume {stack_dir}`: it was halted: {reason}"
            in sent.stdout
        )
        assert depth(sqs, outputs["video_queue_url"])[0] == before + 1  # queued all the same
        assert group_of(aws_client, outputs)["DesiredCapacity"] == 0

        resumed = ecs_cli("resume", stack_dir)
        assert (
            f"halted by an instance agent: restoring the stack's defaults, instances 0..{FLEET_SIZE}" in resumed.stdout
        )
        after = group_of(aws_client, outputs)
        assert (after["MinSize"], after["MaxSize"]) == (0, FLEET_SIZE) and after["DesiredCapacity"] >= 1
        assert HALTED_TAG not in {t["Key"] for t in after["Tags"]}
        assert [line for line in status_json(ecs_cli, stack_dir)["attention"] if "HALTED" in line] == []
    finally:
        cloudwatch.set_alarm_state(AlarmName=stuck, StateValue="OK", StateReason="test over")


def test_videos_not_taken_say_so_first_and_resume_relaunches_the_fleet_the_stuck_alarm_stopped(
    tmp_path, ecs_cli, stack_dir, outputs, sqs, aws_client
):
    group, asg, cloudwatch = outputs["autoscaling_group_name"], aws_client("autoscaling"), aws_client("cloudwatch")
    folder = make_videos(tmp_path, {"dive-not-taken/waits.mov": 10}) / "dive-not-taken"
    ecs_cli("submit", stack_dir, folder, "--job", "dive-not-taken")
    # What the videos-stuck alarm leaves: the group at 0 within its limits, videos queued, and the
    # not-taken alarm holding the backstop at 0 (moto evaluates no alarm: its state is set here).
    asg.update_auto_scaling_group(AutoScalingGroupName=group, MinSize=0, MaxSize=FLEET_SIZE, DesiredCapacity=0)
    not_taken = f"{STACK_NAME}-videos-not-taken"
    cloudwatch.set_alarm_state(
        AlarmName=not_taken, StateValue="ALARM", StateReason="Threshold Crossed: 1 out of the last 3 datapoints"
    )
    try:
        lines = ecs_cli("status", stack_dir).stdout.splitlines()
        assert lines[1].startswith("  VIDEOS NOT TAKEN since ") and lines[1].endswith(
            f"then `ecs-autoscale resume {stack_dir}` launches what the queued videos need."
        )
        resumed = ecs_cli("resume", stack_dir).stdout
        waiting = int(re.search(r"is neither stopped nor halted; (\d+) video\(s\) wait", resumed)[1])
        assert waiting >= max(1, sum(depth(sqs, outputs["video_queue_url"])))  # delayed ones count too
        desired = group_of(aws_client, outputs)["DesiredCapacity"]
        assert desired == min(FLEET_SIZE, math.ceil(waiting / TASKS_PER_INSTANCE)) >= 1
        assert f"desired 0 -> {desired}" in resumed and f"Resumed {STACK_NAME}" in resumed
    finally:
        cloudwatch.set_alarm_state(AlarmName=not_taken, StateValue="OK", StateReason="test over")


def test_status_shows_the_warm_pool_and_a_missing_part_as_one_line(stack_dir, outputs, aws_client, emulator, tmp_path):
    import dataclasses

    from ecs_autoscale.client.aws import AwsClients
    from ecs_autoscale.client.stack_info import load_stack_info
    from ecs_autoscale.client.status import collect_status
    from ecs_autoscale.client.status_text import format_status

    # AWS refuses a warm pool on a mixed-instances group (this stack's: several instance types), so the
    # status of a plain group with one, read as if it were the stack's.
    asg = aws_client("autoscaling")
    template = aws_client("ec2").create_launch_template(
        LaunchTemplateName="status-warm-pool", LaunchTemplateData={"ImageId": "ami-12c6146b"}
    )["LaunchTemplate"]["LaunchTemplateId"]
    subnet = aws_client("ec2").describe_subnets()["Subnets"][0]["SubnetId"]
    asg.create_auto_scaling_group(
        AutoScalingGroupName="status-warm-pool",
        MinSize=0,
        MaxSize=2,
        DesiredCapacity=0,
        VPCZoneIdentifier=subnet,
        LaunchTemplate={"LaunchTemplateId": template, "Version": "$Latest"},
    )
    asg.put_warm_pool(
        AutoScalingGroupName="status-warm-pool", MinSize=1, MaxGroupPreparedCapacity=1, PoolState="Stopped"
    )
    pooled = dataclasses.replace(load_stack_info(stack_dir), autoscaling_group_name="status-warm-pool")
    try:
        text = format_status(collect_status(AwsClients(outputs["region"], emulator), pooled, stack_dir, "dive-1"))
    finally:
        asg.delete_auto_scaling_group(AutoScalingGroupName="status-warm-pool", ForceDelete=True)
    assert "  warm pool (Stopped, min 1): 1 Warmed:Stopped" in text, text
    assert f"  {STACK_NAME}-queue-has-videos" in text

    gone = dataclasses.replace(
        load_stack_info(stack_dir),
        stack_name="Gone",
        cluster_name="Gone",
        service_name="Gone",
        service_names=("Gone",),
        autoscaling_group_name="Gone-gpu-fleet",
    )
    text = format_status(collect_status(AwsClients(outputs["region"], emulator), gone, tmp_path))
    assert "Workers           not readable (ClusterNotFoundException)" in text
    assert "Instances         Auto Scaling group not found" in text
    assert "  Gone-videos-stuck                        not found" in text


# ---- finding a stack without outputs.json ---------------------------------------------------------------
def test_stack_found_by_name_matches_outputs(stack_dir, emulator, tmp_path):
    from ecs_autoscale.client.aws import AwsClients
    from ecs_autoscale.client.stack_info import discover_stack, load_stack_info

    from_file = load_stack_info(stack_dir)
    found = discover_stack(AwsClients(from_file.region, emulator), STACK_NAME)
    assert found == from_file


def test_missing_outputs_is_one_line_naming_the_fix(ecs_cli, tmp_path):
    proc = ecs_cli("status", tmp_path, check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "outputs.json: not found" in proc.stderr and "--stack-name" in proc.stderr


def test_unknown_job_lists_the_known_ones(ecs_cli, stack_dir):
    proc = ecs_cli("results", stack_dir, "--job", "nope", check=False)
    assert proc.returncode == 1 and "job 'nope': no ledger" in proc.stderr and "dive-1" in proc.stderr


# ---- what deepsea-ai users have on uploads: --exclude, tags, a bandwidth cap, network drops ----------------
TAGS_INI = "[tags]\norganization = mbari\nproject_number = 902005\nstage = test\napplication = detection\n"


def test_exclude_and_tags_from_a_deepsea_config_on_new_and_existing_objects(
    tmp_path, ecs_cli, stack_dir, outputs, s3, sqs
):
    folder = (
        make_videos(
            tmp_path, {"dive-8/x.mov": 100, "dive-8/x_proxy.mov": 100, "dive-8/tmp/y.mov": 100, "dive-8/there.mp4": 50}
        )
        / "dive-8"
    )
    # Already in the bucket (same size) with a tag of its own: kept, not uploaded again, tags merged.
    s3.put_object(
        Bucket=outputs["video_bucket"],
        Key="dive-8/there.mp4",
        Body=(folder / "there.mp4").read_bytes(),
        Tagging="keep=me",
    )
    ini = tmp_path / "config.ini"
    ini.write_text(TAGS_INI)
    before = depth(sqs, outputs["video_queue_url"])[0]
    proc = ecs_cli(
        "submit",
        stack_dir,
        folder,
        "--job",
        "dive-8",
        "--exclude",
        "_proxy",
        "-e",
        "tmp/",
        "--tags-from",
        ini,
        "--tag",
        "mbari:stage=prod",
    )
    assert "2 video(s) queued now (1 uploaded)" in proc.stdout and "2 excluded" in proc.stdout
    assert depth(sqs, outputs["video_queue_url"])[0] == before + 2
    tags = {
        t["Key"]: t["Value"]
        for t in s3.get_object_tagging(Bucket=outputs["video_bucket"], Key="dive-8/x.mov")["TagSet"]
    }
    assert set(tags) == {
        "mbari:project-number",
        "mbari:owner",
        "mbari:description",
        "mbari:stage",
        "mbari:application",
        "mbari:deletion-date",
        "mbari:created-by",
    }
    assert tags["mbari:stage"] == "prod" and tags["mbari:project-number"] == "902005"  # --tag wins
    assert tags["mbari:owner"] == tags["mbari:created-by"] and tags["mbari:description"].startswith("Video uploaded")
    merged = {
        t["Key"]: t["Value"]
        for t in s3.get_object_tagging(Bucket=outputs["video_bucket"], Key="dive-8/there.mp4")["TagSet"]
    }
    assert merged == {**tags, "keep": "me"}
    for key in ("dive-8/x_proxy.mov", "dive-8/tmp/y.mov"):
        with pytest.raises(Exception, match="404|Not Found"):
            s3.head_object(Bucket=outputs["video_bucket"], Key=key)


def test_bad_tags_fail_in_one_line_before_anything_is_sent(tmp_path, ecs_cli, stack_dir, outputs, sqs):
    folder = make_videos(tmp_path, {"dive-9/x.mov": 100}) / "dive-9"
    before = depth(sqs, outputs["video_queue_url"])
    proc = ecs_cli("submit", stack_dir, folder, "--job", "dive-9", "--tag", "aws:owner=me", check=False)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "not a legal S3 tag key" in proc.stderr
    assert depth(sqs, outputs["video_queue_url"]) == before and not (stack_dir / "jobs" / "dive-9.json").exists()


def test_upload_rate_cap_slows_the_upload(tmp_path, ecs_cli, stack_dir):
    folder = make_videos(tmp_path, {"dive-10/big.mov": 3 * 1024 * 1024}) / "dive-10"
    started = time.monotonic()
    proc = ecs_cli("submit", stack_dir, folder, "--job", "dive-10", "--max-upload-rate", "1MiB/s")
    assert "1 video(s) queued now (1 uploaded)" in proc.stdout
    assert time.monotonic() - started >= 2.0  # 3 MiB at 1 MiB/s (the limiter allows a short first burst)
    bad = ecs_cli("submit", stack_dir, folder, "--job", "dive-10", "--max-upload-rate", "fast", check=False)
    assert bad.returncode == 2 and "is not a rate such as 20MB/s" in bad.stderr


def test_submit_rides_out_a_network_drop(tmp_path, cli_env, stack_dir, outputs, sqs, s3, emulator):
    import threading

    from helpers import CLI
    from support.outage import Outage

    folder = make_videos(tmp_path, {"dive-11/far.mov": 2 * 1024 * 1024}) / "dive-11"
    relay = Outage(emulator)
    relay.up()
    relay.down()  # the network is down when the submit starts ...
    before = depth(sqs, outputs["video_queue_url"])[0]
    back = threading.Timer(3.0, relay.up)  # ... and back 3 s later, on the same port
    back.start()
    try:
        # One SDK attempt per call: the SDK's own retries last seconds, ours minutes.
        env = {**cli_env, "ECS_AUTOSCALE_ENDPOINT_URL": relay.url, "AWS_MAX_ATTEMPTS": "1"}
        proc = subprocess.run(
            [str(CLI), "submit", str(stack_dir), str(folder), "--job", "dive-11"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        back.join()
        relay.down()
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "network problem while asking AWS who you are (EndpointConnectionError); retrying in 5 s" in proc.stderr
    assert "1 video(s) queued now (1 uploaded)" in proc.stdout
    assert depth(sqs, outputs["video_queue_url"])[0] == before + 1
    assert s3.head_object(Bucket=outputs["video_bucket"], Key="dive-11/far.mov")["ContentLength"] == 2 * 1024 * 1024
