"""Submit throughput: `ecs-autoscale submit` of N small files against a plain boto3 upload + send loop, both
to the emulator, side by side in one run (target: submit <= 0.6x the plain loop's wall time at every size).

    python bench/bench_submit.py                  # 2,000 and 10,000 files
    python bench/bench_submit.py --sizes 300      # a quick look

plain   one process, for each file in order: `s3.upload_file` (boto3's usual upload call, its transfer
        manager) then `sqs.send_message` with deepsea-ai's body, group and deduplication id; no record of
        what was sent, so an interrupted loop cannot tell what to send again.
submit  `ecs-autoscale submit STACK_DIR FOLDER --job NAME` into a fresh job: the ledger, skipping what is
        uploaded, sizing the group, everything a user gets.

The emulator (moto with this package's patches) runs in its own process, so client and emulator do not share
one interpreter; the seed model (examples/megadetector.yaml) is deployed into it once with `ecs-autoscale
deploy`. Before every case the video queue is purged, the video bucket emptied and the group set to 0, so each
case starts from the same empty stack (a full queue slowed moto's sends before emulator/queue_scale.py; the
purge keeps the cases comparable either way). Both cases must leave exactly N messages and N objects.
Files are 1 KiB, under Volumes/bench-N/ (keys bench-N/clip-00001.mp4 ...). Neither side may reach the network
or a real account (no AWS_*/TF_* of the machine, proxies on a closed port). Writes
bench/results/submit-<time>.json and .md (gitignored) and prints the markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
CLI = str(Path(sys.executable).with_name("ecs-autoscale"))
TARGET = 0.6
FILE_BYTES = 1024


# ---- the plain loop (run as `bench_submit.py --plain-loop ...` in its own process) -------------------------
def plain_loop(endpoint: str, bucket: str, queue_url: str, folder: Path, job: str) -> None:
    import base64
    import hashlib
    import uuid
    from datetime import datetime, timezone

    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint)
    sqs = boto3.client("sqs", endpoint_url=endpoint)
    root = folder.parent  # Volumes/: keys start after it, as deepsea-ai's
    for path in sorted(folder.rglob("*.mp4")):
        key = path.relative_to(root).as_posix()
        s3.upload_file(str(path), bucket, key)
        body = {
            "video": key,
            "clean": "False",
            "user_name": "bench",
            "metadata_b64": base64.b64encode(json.dumps({"message_uuid": str(uuid.uuid4())}).encode()).decode(),
            "job_name": job,
        }
        sqs.send_message(
            QueueUrl=queue_url,
            MessageBody=json.dumps(body, indent=4),
            MessageGroupId=f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{path.name}",
            MessageDeduplicationId=hashlib.sha256(f"{job}\n{key}\n1".encode()).hexdigest(),
        )


# ---- the harness -----------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_emulator(env: dict[str, str]) -> tuple[str, subprocess.Popen]:
    port = free_port()
    proc = subprocess.Popen(
        [CLI, "emulator", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=2).read()
            return url, proc
        except OSError:
            if proc.poll() is not None:
                sys.exit(f"bench_submit: the emulator exited with {proc.returncode}")
            time.sleep(0.2)
    proc.kill()
    sys.exit("bench_submit: the emulator did not answer within 2 minutes")


def run(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(
            f"bench_submit: `{' '.join(argv)}` exited {proc.returncode}\n"
            f"--- stdout ---\n{proc.stdout[-3000:]}\n--- stderr ---\n{proc.stderr[-3000:]}"
        )
    return seconds


def make_files(root: Path, count: int) -> Path:
    folder = root / "Volumes" / f"bench-{count}"
    folder.mkdir(parents=True)
    for i in range(count):
        (folder / f"clip-{i:05d}.mp4").write_bytes(os.urandom(FILE_BYTES))
    return folder


PURGE_EVERY_S = 60
"""SQS (and moto) allow one PurgeQueue per queue every 60 seconds (SQS API Reference, PurgeQueue)."""
_last_purge = [0.0]


def reset_stack(clients: dict, outputs: dict) -> None:
    """Empty video queue and bucket, group at 0: every case starts from the same stack."""
    time.sleep(max(0.0, _last_purge[0] + PURGE_EVERY_S + 1 - time.monotonic()))
    clients["sqs"].purge_queue(QueueUrl=outputs["video_queue_url"])
    _last_purge[0] = time.monotonic()
    s3 = clients["s3"]
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=outputs["video_bucket"]):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=outputs["video_bucket"], Delete={"Objects": keys, "Quiet": True})
    clients["autoscaling"].set_desired_capacity(
        AutoScalingGroupName=outputs["autoscaling_group_name"], DesiredCapacity=0
    )


def check_result(clients: dict, outputs: dict, count: int, case: str) -> None:
    attrs = clients["sqs"].get_queue_attributes(QueueUrl=outputs["video_queue_url"], AttributeNames=["All"])
    counts = attrs["Attributes"]
    queued = sum(int(counts[f"ApproximateNumberOfMessages{s}"]) for s in ("", "Delayed", "NotVisible"))
    objects = sum(
        page.get("KeyCount", 0)
        for page in clients["s3"].get_paginator("list_objects_v2").paginate(Bucket=outputs["video_bucket"])
    )
    if (queued, objects) != (count, count):
        sys.exit(f"bench_submit: {case} left {queued} messages and {objects} objects, not {count} of each")


def one_size(count: int, work: Path, stack_dir: Path, outputs: dict, clients: dict, env: dict) -> dict:
    folder = make_files(work, count)
    times = {}
    for case in ("plain", "submit"):
        reset_stack(clients, outputs)
        job = f"bench-{count}-{case}"
        if case == "plain":
            argv = [sys.executable, __file__, "--plain-loop", env["AWS_ENDPOINT_URL"], outputs["video_bucket"]]
            argv += [outputs["video_queue_url"], str(folder), job]
        else:
            argv = [CLI, "submit", str(stack_dir), str(folder), "--job", job]
        times[case] = run(argv, env)
        check_result(clients, outputs, count, case)
        print(f"{count} files: {case} {times[case]:.1f} s", file=sys.stderr)
    shutil.rmtree(folder)
    return {"files": count, **times, "ratio": times["submit"] / times["plain"]}


def table(rows: list[dict], command: str) -> str:
    lines = [
        f"`ecs-autoscale submit` against a plain boto3 upload + send loop, {FILE_BYTES}-byte files, emulator in its "
        f"own process (`{command}`; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}).",
        "",
        "| files | plain loop (s) | submit (s) | submit / plain | target | met |",
        "|---:|---:|---:|---:|---|:---:|",
    ]
    for r in rows:
        met = "yes" if r["ratio"] <= TARGET else "NO"
        lines.append(
            f"| {r['files']:,} | {r['plain']:.1f} | {r['submit']:.1f} | {r['ratio']:.2f}x | <= {TARGET}x | {met} |"
        )
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--plain-loop":
        endpoint, bucket, queue_url, folder, job = sys.argv[2:7]
        plain_loop(endpoint, bucket, queue_url, Path(folder), job)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000], help="files per case")
    parser.add_argument("--model", type=Path, default=REPO / "examples" / "megadetector.yaml")
    parser.add_argument(
        "--provider-mirror",
        type=Path,
        default=Path(os.environ.get("ECS_AUTOSCALE_PROVIDER_MIRROR") or "/opt/tf-plugins"),
    )
    args = parser.parse_args()
    if not shutil.which("terraform"):
        sys.exit("bench_submit: terraform is not on PATH (the stack is deployed with it)")

    from ecs_autoscale.aws_target import AwsTarget, emulator_env
    from ecs_autoscale.emulator import sealed_env

    emulator, stop = start_emulator(sealed_env())
    try:
        env = sealed_env(emulator_env(emulator))
        target = AwsTarget(endpoint_url=emulator)
        clients = {s: target.client(s, "us-west-2") for s in ("sqs", "s3", "autoscaling")}
        with tempfile.TemporaryDirectory(prefix="bench-submit-") as tmp:
            work = Path(tmp)
            stack_dir = work / "stack"
            deploy = [CLI, "deploy", str(args.model), str(stack_dir), "--auto-approve"]
            run(deploy + ["--endpoint-url", emulator, "--provider-mirror", str(args.provider_mirror)], env)
            outputs = json.loads((stack_dir / "outputs.json").read_text())
            env = {**env, "ECS_AUTOSCALE_ENDPOINT_URL": emulator}
            rows = [one_size(count, work, stack_dir, outputs, clients, env) for count in args.sizes]
    finally:
        stop.terminate()
        stop.wait(timeout=30)

    command = ("python bench/bench_submit.py " + " ".join(sys.argv[1:])).strip()
    md = table(rows, command)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"submit-{stamp}.md").write_text(md + "\n")
    (RESULTS / f"submit-{stamp}.json").write_text(json.dumps({"command": command, "rows": rows}, indent=2) + "\n")
    print(md)


if __name__ == "__main__":
    main()
