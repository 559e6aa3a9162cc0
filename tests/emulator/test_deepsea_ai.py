"""The real deepsea-ai client (1.25.0 from PyPI, unmodified) against a stack deployed with defaults, and
both clients agreeing on every video (issue 13).

deepsea-ai runs from its own venv, built once from PyPI by scripts/deepsea-ai-venv and cached in
.venv-deepsea/ (keyed by the pins in tests/deepsea-ai-requirements.txt); if it cannot be built the test
FAILS. It talks to the emulator through AWS_ENDPOINT_URL like any boto3 program.

Story of the shared deployment (module fixtures, in order):
  1. `deepsea-ai ecsprocess -u -i FOLDER --job J --cluster DeepseaCompat` exits 0 (it found the stack
     through the CloudFormation lookup stack) and queues 4 videos (one more is --exclude'd);
  2. our `submit` of the same folder and job queues nothing (deepsea-ai's job cache, --deepsea-db);
  3. our `submit` of another job K; the reference worker processes everything (one video of each
     job fails);
  4. deepsea-ai's own monitor code takes the track and dead messages and holds them;
  5. our `status` and `results` still report and download J and K correctly.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from helpers import REPO, seed_text, write_model
from support.jobs import FAILING_MODEL, NO_MARKER_CASES, VIDEO_KEY_CASES, depth, peek, run_worker

STACK_NAME = "DeepseaCompat"
JOB = "dsai-dive-1"
DIVE = {  # under <tmp>/Volumes/M3/dsai-dive-1/
    "a.mov": 2000,
    "b.mp4": 3000,
    "sub/c.mkv": 4000,
    "broken.avi": 1000,
    "skip_proxy.mov": 500,
    "._a.mov": 10,
    "notes.txt": 10,
}
QUEUED = {"M3/dsai-dive-1/a.mov", "M3/dsai-dive-1/b.mp4", "M3/dsai-dive-1/sub/c.mkv", "M3/dsai-dive-1/broken.avi"}


# ---- deepsea-ai itself ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def deepsea_venv() -> Path:
    """The cached venv with deepsea-ai (built now if missing: ~45 s and 450 MB from PyPI, once)."""
    proc = subprocess.run([str(REPO / "scripts" / "deepsea-ai-venv")], capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        pytest.fail(
            f"scripts/deepsea-ai-venv failed ({proc.returncode}): deepsea-ai could not be installed from "
            f"PyPI:\n{proc.stderr[-4000:]}",
            pytrace=False,
        )
    venv = REPO / proc.stdout.strip().splitlines()[-1]
    assert (venv / "bin" / "deepsea-ai").is_file(), f"no deepsea-ai in {venv}"
    return venv


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """Where deepsea-ai runs: its default job_db_path `.` puts sqlite_job_cache_<account>.db here."""
    return tmp_path_factory.mktemp("deepsea-work")


def deepsea_env(emulator: str, workdir: Path) -> dict:
    from ecs_autoscale.aws_target import emulator_env
    from ecs_autoscale.emulator import sealed_env

    return sealed_env({**emulator_env(emulator), "LOG_PATH": str(workdir / "logs"), "HOME": str(workdir)})


def deepsea_ai(venv: Path, emulator: str, workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(venv / "bin" / "deepsea-ai"), *args],
        cwd=workdir,
        env=deepsea_env(emulator, workdir),
        capture_output=True,
        text=True,
        timeout=600,
    )


def deepsea_python(venv: Path, emulator: str, workdir: Path, code: str, *args: str) -> str:
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code, *args],
        cwd=workdir,
        env=deepsea_env(emulator, workdir),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout


def test_key_rule_is_deepsea_ais_own_get_prefix(deepsea_venv, emulator, workdir):
    """Our key == deepsea-ai's upload key and message key on the issue's cases; without a marker deepsea-ai
    sends the unusable `//name` (not copied: we keep the path)."""
    from ecs_autoscale.client.uploads import video_key

    code = (
        "import json, sys\nfrom pathlib import Path\nfrom deepsea_ai.commands.upload_tag import get_prefix\n"
        "out = {}\nfor p in json.loads(sys.argv[1]):\n    v = Path(p); prefix = get_prefix(v)\n"
        "    out[p] = [f\"{prefix.lstrip('/')}/{v.name}\", f'{prefix}/{v.name}']\nprint(json.dumps(out))"
    )
    paths = [p for p, _ in VIDEO_KEY_CASES + NO_MARKER_CASES]
    theirs = json.loads(deepsea_python(deepsea_venv, emulator, workdir, code, json.dumps(paths)).splitlines()[-1])
    for path, _ in VIDEO_KEY_CASES:
        assert theirs[path] == [video_key(Path(path))] * 2, path
    for path, ours in NO_MARKER_CASES:
        assert theirs[path][1] == "//" + Path(path).name and video_key(Path(path)) == ours


# ---- the deployment and deepsea-ai's submission ----------------------------------------------------------
@pytest.fixture(scope="module")
def stack_dir(tmp_path_factory, ecs_cli) -> Path:
    """The seed model with only its StackName changed: every optional key at its default."""
    folder = tmp_path_factory.mktemp("deepsea-stack")
    model = write_model(folder, seed_text(StackName=STACK_NAME))
    target = folder / "stack"
    ecs_cli("deploy", model, target, "--auto-approve", timeout=1200)
    return target


@pytest.fixture(scope="module")
def outputs(stack_dir) -> dict:
    return json.loads((stack_dir / "outputs.json").read_text())


@pytest.fixture(scope="module")
def dive(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("dsai") / "Volumes" / "M3" / JOB
    for rel, size in DIVE.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(os.urandom(size))
    return folder


@pytest.fixture(scope="module")
def ecsprocess(deepsea_venv, emulator, workdir, stack_dir, dive, outputs, aws_client, tmp_path_factory):
    """deepsea-ai queues the folder (job J), and one video with --clean and --args (job dsai-args); the
    queue is then read once (every read counts toward the video queue's MaxReceiveCount of 3)."""
    sqs = aws_client("sqs")
    before = depth(sqs, outputs["video_queue_url"])
    proc = deepsea_ai(
        deepsea_venv,
        emulator,
        workdir,
        "ecsprocess",
        "-u",
        "-i",
        str(dive),
        "--job",
        JOB,
        "--cluster",
        STACK_NAME,
        "--exclude",
        "skip_proxy",
    )
    one = tmp_path_factory.mktemp("dsai-args") / "Volumes" / "M3" / "dsai-args" / "one.mov"
    one.parent.mkdir(parents=True)
    one.write_bytes(b"x" * 100)
    with_args = deepsea_ai(
        deepsea_venv,
        emulator,
        workdir,
        "ecsprocess",
        "-u",
        "-i",
        str(one),
        "--job",
        "dsai-args",
        "--cluster",
        STACK_NAME,
        "--clean",
        "--args",
        '"--conf-thres 0.3"',
    )
    bodies = {}
    for message in peek(sqs, outputs["video_queue_url"]):
        bodies.setdefault(json.loads(message["Body"])["job_name"], []).append(message["Body"])
    return {
        "proc": proc,
        "before": before,
        "after": depth(sqs, outputs["video_queue_url"]),
        "with_args": with_args,
        "one": one,
        "bodies": bodies,
    }


def test_unmodified_ecsprocess_exits_0_and_queues_the_folder(ecsprocess, outputs, aws_client):
    proc = ecsprocess["proc"]
    assert proc.returncode == 0, (
        f"deepsea-ai ecsprocess exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    )
    assert ecsprocess["after"][0] == ecsprocess["before"][0] + len(QUEUED) + 1
    assert {json.loads(b)["video"] for b in ecsprocess["bodies"][JOB]} == QUEUED
    for key in QUEUED:  # uploaded under the very key of its message
        assert aws_client("s3").head_object(Bucket=outputs["video_bucket"], Key=key)["ContentLength"] > 0


def test_deepsea_ai_found_the_stack_through_the_cloudformation_lookup(ecsprocess, aws_client):
    """deepsea-ai's own get_resources(StackName) gave our queues and buckets."""
    summaries = aws_client("cloudformation").list_stack_resources(StackName=STACK_NAME)["StackResourceSummaries"]
    assert [s["ResourceType"] for s in summaries] == ["AWS::ECS::TaskDefinition"]
    log = ecsprocess["proc"].stderr + ecsprocess["proc"].stdout
    assert f"Added job {JOB} running on {STACK_NAME} to cache" in log


def test_our_body_is_deepsea_ais_body_byte_for_byte(ecsprocess, dive, aws_client):
    from ecs_autoscale.client.messages import caller_user_name, encode_body, job_body, message_uuid_of
    from ecs_autoscale.client.uploads import video_key

    user = caller_user_name(aws_client("sts"))
    for text in ecsprocess["bodies"][JOB]:
        body = json.loads(text)
        assert "args" not in body and body["clean"] == "False" and body["user_name"] == user
        local = dive / Path(body["video"]).relative_to(f"M3/{JOB}")
        assert text == encode_body(job_body(video_key(local), JOB, False, user, "", message_uuid_of(body)))


def test_args_and_clean_bodies_match_too(ecsprocess, aws_client):
    from ecs_autoscale.client.messages import caller_user_name, encode_body, job_body, message_uuid_of
    from ecs_autoscale.client.uploads import video_key

    assert ecsprocess["with_args"].returncode == 0, ecsprocess["with_args"].stderr[-3000:]
    (text,) = ecsprocess["bodies"]["dsai-args"]
    body = json.loads(text)
    assert body["args"] == "--conf-thres 0.3" and body["clean"] == "True"
    user = caller_user_name(aws_client("sts"))
    assert text == encode_body(
        job_body(video_key(ecsprocess["one"]), "dsai-args", True, user, '"--conf-thres 0.3"', message_uuid_of(body))
    )


def test_tags_from_deepsea_ais_config_are_the_tags_deepsea_ai_sets(ecsprocess, deepsea_venv, dive, outputs, aws_client):
    from datetime import datetime, timedelta

    from ecs_autoscale.client.messages import caller_user_name
    from ecs_autoscale.client.object_tags import deepsea_config_tags

    tag_set = aws_client("s3").get_object_tagging(Bucket=outputs["video_bucket"], Key=f"M3/{JOB}/a.mov")["TagSet"]
    theirs = {t["Key"]: t["Value"] for t in tag_set}
    (ini,) = deepsea_venv.glob("lib/python3*/site-packages/deepsea_ai/config/config.ini")
    user = caller_user_name(aws_client("sts"))
    ours = deepsea_config_tags(ini, user, f"Video uploaded from {dive} by user {user}")
    assert set(ours) == set(theirs) and len(ours) == 7
    for key in ours:
        if key.endswith(":deletion-date"):  # 90 days ahead of each upload
            when = [datetime.strptime(t[key], "%Y%m%dT%H%M%SZ") for t in (ours, theirs)]
            assert abs(when[0] - when[1]) < timedelta(hours=1)
        else:
            assert ours[key] == theirs[key].rstrip(), key  # deepsea-ai ends the description with a space


# ---- our client on deepsea-ai's job ------------------------------------------------------------------
@pytest.fixture(scope="module")
def our_resubmit(ecsprocess, ecs_cli, stack_dir, dive, workdir, outputs, aws_client):
    before = depth(aws_client("sqs"), outputs["video_queue_url"])
    proc = ecs_cli(
        "submit",
        stack_dir,
        dive,
        "--job",
        JOB,
        "--exclude",
        "skip_proxy",
        env={"ECS_AUTOSCALE_DEEPSEA_DB": str(workdir)},
    )
    return proc, before, depth(aws_client("sqs"), outputs["video_queue_url"])


def test_our_submit_of_the_same_folder_and_job_queues_nothing_twice(our_resubmit, stack_dir):
    proc, before, after = our_resubmit
    assert "0 video(s) queued now (0 uploaded), 4 already queued before" in proc.stdout, proc.stdout
    assert "1 excluded" in proc.stdout
    assert after == before
    ledger = json.loads((stack_dir / "jobs" / f"{JOB}.json").read_text())
    assert {k for k, v in ledger["videos"].items() if v["origin"] == "deepsea-ai"} == QUEUED


@pytest.fixture(scope="module")
def processed(our_resubmit, emulator, outputs):
    """The contract worker processes what deepsea-ai queued (broken.avi fails)."""
    return run_worker(emulator, outputs, "--model", FAILING_MODEL)


MONITOR_STEP = """
import boto3, json, sys
real = boto3.client
def client(*args, **kwargs):
    made = real(*args, **kwargs)
    if (args[:1] or [kwargs.get("service_name")])[0] == "sqs":
        receive = made.receive_message
        made.receive_message = lambda **kw: receive(**{**kw, "WaitTimeSeconds": 1})
    return made
boto3.client = client
from deepsea_ai.config.config import Config
from deepsea_ai.database.job.database import init_db
from deepsea_ai.commands import monitor_utils
resources = json.loads(sys.argv[1])
if sys.argv[2] == "log_queue_status":
    print(json.dumps(monitor_utils.log_queue_status(init_db(Config(quiet=True)), resources)))
else:
    print(len(monitor_utils.fetch_and_parse(boto3.client("sqs"), resources[sys.argv[2]])))
"""


def monitor_step(venv: Path, emulator: str, workdir: Path, outputs: dict, step: str) -> str:
    """Run deepsea-ai's own monitor code (`deepsea_ai.commands.monitor_utils`) on this stack. `deepsea-ai monitor`
    itself stops earlier here (it needs a CloudFormation-owned Auto Scaling group), and passes queue
    names where boto3 needs URLs; its 20-second long polls are shortened to 1 s."""
    resources = {
        "CLUSTER": STACK_NAME,
        "PROCESSOR": STACK_NAME,
        "VIDEO_QUEUE": outputs["video_queue_url"],
        "TRACK_QUEUE": outputs["track_queue_url"],
        "DEAD_QUEUE": outputs["dead_queue_url"],
    }
    return deepsea_python(venv, emulator, workdir, MONITOR_STEP, json.dumps(resources), step)


@pytest.fixture(scope="module")
def monitored(processed, deepsea_venv, emulator, workdir, outputs, aws_client):
    """deepsea-ai's monitor step: it receives every track and dead message, records the outcomes in its
    job cache, and never releases the messages (hidden for TimeoutHours)."""
    monitor_step(deepsea_venv, emulator, workdir, outputs, "log_queue_status")
    sqs = aws_client("sqs")
    return {"dead": depth(sqs, outputs["dead_queue_url"]), "track": depth(sqs, outputs["track_queue_url"])}


def test_monitor_holds_the_result_messages(monitored):
    assert monitored["dead"] == (0, 1)
    assert monitored["track"][0] == 0 and monitored["track"][1] >= 3


@pytest.fixture(scope="module")
def ours_held(monitored, ecs_cli, stack_dir, tmp_path_factory, deepsea_venv, emulator, workdir, outputs):
    """Our own job beside deepsea-ai's, processed; then monitor's receive takes its dead message. (Its
    cache update would crash on a job deepsea-ai did not submit: update_media JSON-encodes a datetime.)"""
    k = tmp_path_factory.mktemp("ours") / "Volumes" / "M3" / "ours-k"
    k.mkdir(parents=True)
    (k / "ok.mov").write_bytes(b"o" * 300)
    (k / "broken2.avi").write_bytes(b"b" * 300)
    ecs_cli("submit", stack_dir, k, "--job", "ours-k")
    run_worker(emulator, outputs, "--model", FAILING_MODEL)
    return int(monitor_step(deepsea_venv, emulator, workdir, outputs, "DEAD_QUEUE").splitlines()[-1])


def status_of(ecs_cli, stack_dir: Path, job: str, cache: Path) -> dict:
    proc = ecs_cli("status", stack_dir, "--job", job, "--json", env={"ECS_AUTOSCALE_DEEPSEA_DB": str(cache)})
    return json.loads(proc.stdout)["jobs"][job]


def test_status_reports_deepsea_ais_job_while_monitor_holds_its_messages(monitored, ecs_cli, stack_dir, workdir):
    report = status_of(ecs_cli, stack_dir, JOB, workdir)
    states = {v["video"]: v["state"] for v in report["videos"]}
    assert states == {
        "M3/dsai-dive-1/a.mov": "done",
        "M3/dsai-dive-1/b.mp4": "done",
        "M3/dsai-dive-1/sub/c.mkv": "done",
        "M3/dsai-dive-1/broken.avi": "failed",
    }
    failed = next(v for v in report["videos"] if v["state"] == "failed")
    assert "deepsea-ai's job cache" in failed["error"]


def test_a_failure_held_by_monitor_is_reported_as_held(ours_held, ecs_cli, stack_dir, tmp_path):
    assert ours_held == 1  # monitor's receive took exactly our failure
    report = status_of(ecs_cli, stack_dir, "ours-k", tmp_path)  # an empty folder: no deepsea-ai cache
    assert {v["video"]: v["state"] for v in report["videos"]} == {
        "M3/ours-k/ok.mov": "done",
        "M3/ours-k/broken2.avi": "unknown",
    }
    assert report["held_dead_messages"] >= 1 and "held by another reader" in report["note"]
    text = ecs_cli("status", stack_dir, "--job", "ours-k", env={"ECS_AUTOSCALE_DEEPSEA_DB": str(tmp_path)}).stdout
    assert "note: " in text and "deepsea-ai monitor" in text


def test_results_downloads_deepsea_ais_job(monitored, cli_env, stack_dir, workdir, tmp_path):
    from helpers import CLI

    # No --deepsea-db: the cache is found in the folder deepsea-ai ran in (its default job_db_path `.`).
    dest = tmp_path / "tracks"
    proc = subprocess.run(
        [str(CLI), "results", str(stack_dir), "--job", JOB, str(dest)],
        cwd=workdir,
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    archives = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert archives == [
        "M3/dsai-dive-1/a.tracks.tar.gz",
        "M3/dsai-dive-1/b.tracks.tar.gz",
        "M3/dsai-dive-1/sub/c.tracks.tar.gz",
    ]
    with tarfile.open(dest / archives[0]) as tar:
        assert tar.getnames() == ["tracks.json"]
    assert "3 result(s) downloaded" in proc.stdout and "not ready: 1 failed" in proc.stdout


def test_message_uuid_ties_deepsea_ais_cache_to_our_ledger(monitored, stack_dir, workdir):
    import sqlite3

    (db,) = workdir.glob("sqlite_job_cache_*.db")
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT media.name, media.metadata_b64 FROM media JOIN job ON job.id = media.job_id WHERE job.name = ?",
            (JOB,),
        ).fetchall()
    cached = {name: json.loads(base64.b64decode(meta))["message_uuid"] for name, meta in rows}
    ledger = json.loads((stack_dir / "jobs" / f"{JOB}.json").read_text())["videos"]
    assert cached == {key: entry["message_uuid"] for key, entry in ledger.items()}
