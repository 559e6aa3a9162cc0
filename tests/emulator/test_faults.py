"""Faults test_lifecycle.py does not cover: AWS unreachable in the middle of an apply, a full disk while
outputs.json is rewritten, and a destroy told to discard queued videos. After each fault: one clear error,
nothing the user had is damaged, and the next run converges. Real `ecs-autoscale` processes, real
Terraform, the session emulator; one deployment (StackName "Outage") is shared, in file order: the
outage test recovers it, the disk-full test works on a copy of it, the destroy test removes it.

AWS "going down" is a TCP relay in front of the session emulator that the test cuts (listener and every
open connection) and later reopens on the same port (`Outage`, tests/support/outage.py, says why a relay).

The full disk is real: an 8 MiB tmpfs (mounting needs root or CAP_SYS_ADMIN; without it the test fails).
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import seed_text, write_model
from support.cli_runs import managed_addresses, one_line, outputs_of, planned_creates, read_until, start_cli, state_of
from support.outage import Outage


@pytest.fixture(scope="module")
def outage(emulator):
    relay = Outage(emulator)
    relay.up()
    yield relay
    relay.down()


def tmp_leftovers(stack_dir: Path) -> list[str]:
    """atomic_write's temp files (mkstemp's `.NAME.` + 8 random characters) outside Terraform's own folder."""
    return [
        str(p.relative_to(stack_dir))
        for p in stack_dir.rglob(".*")
        if ".terraform" not in p.parts and p.is_file() and re.fullmatch(r"\..+\.[a-z0-9_]{8}", p.name)
    ]


# --- AWS unreachable mid-apply -------------------------------------------------------------------------------
@dataclass
class Recovery:
    model: Path
    stack_dir: Path
    failed: subprocess.CompletedProcess  # the deploy that lost AWS part-way
    state_after_failure: str  # the state file's text right after it
    planned: set[str]
    outputs_after_failure: bool
    leftovers_after_failure: list[str]
    converged: subprocess.CompletedProcess  # the same deploy, AWS back


@pytest.fixture(scope="module")
def recovery(outage, ecs_cli, cli_env, tmp_path_factory) -> Recovery:
    """A deploy that loses AWS while creating resources, then the same deploy once AWS is back. The stack
    it leaves is the shared deployment of the tests below (their commands go through the relay too)."""
    folder = tmp_path_factory.mktemp("outage")
    model = write_model(folder, seed_text(StackName="Outage", TaskDefinition="outage"))
    stack_dir = folder / "stack"
    # Few SDK retries: the provider's default (25 with back-off) only makes the failure slower, not different.
    env = {**cli_env, "ECS_AUTOSCALE_ENDPOINT_URL": outage.url, "AWS_MAX_ATTEMPTS": "2"}
    deploy = start_cli(env, "deploy", model, stack_dir, "--auto-approve")
    try:
        # Cut once both buckets exist: a bucket creation in flight made the provider retry for its
        # 20-minute create timeout (seen: >10 min); after the buckets, the apply failed in seconds.
        pending = {rf"\] created aws_s3_bucket\.buckets_{kind}_bucket " for kind in ("video", "tracks")}
        while pending:
            line = read_until(deploy, "|".join(pending))[-1]
            pending = {pattern for pattern in pending if not re.search(pattern, line)}
        outage.down()
        rest, errors = deploy.communicate(timeout=300)
    finally:
        if deploy.poll() is None:  # Terraform runs in its own session: stop it through our CLI
            deploy.send_signal(signal.SIGINT)
            deploy.communicate(timeout=300)
    failed = subprocess.CompletedProcess(deploy.args, deploy.returncode, rest, errors)
    state_text = (stack_dir / "state" / "Outage" / "terraform.tfstate").read_text()
    observed = dict(
        failed=failed,
        state_after_failure=state_text,
        planned=planned_creates(stack_dir / "plans" / "deploy.json"),
        outputs_after_failure=(stack_dir / "outputs.json").exists(),
        leftovers_after_failure=tmp_leftovers(stack_dir),
    )

    outage.up()  # the same endpoint comes back
    converged = ecs_cli("deploy", model, stack_dir, "--auto-approve", env={"ECS_AUTOSCALE_ENDPOINT_URL": outage.url})
    return Recovery(model=model, stack_dir=stack_dir, converged=converged, **observed)


def test_emulator_down_mid_apply_fails_clearly_keeps_the_state_and_the_next_deploy_converges(recovery, outage, ecs_cli):
    from ecs_autoscale.model.outputs import STACK_OUTPUTS

    failed, stack_dir = recovery.failed, recovery.stack_dir
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "Traceback" not in failed.stderr
    # Terraform's own words reach the user, then our one line.
    assert "connection refused" in failed.stderr or "connection reset" in failed.stderr, failed.stderr
    last = failed.stderr.rstrip().splitlines()[-1]
    assert last.startswith("ecs-autoscale: `terraform apply` failed"), failed.stderr
    assert str(stack_dir / "logs") in last

    # The state was whole JSON with what was created before the outage; no outputs were written.
    partial = managed_addresses(json.loads(recovery.state_after_failure))
    assert partial and partial < recovery.planned
    assert not recovery.outputs_after_failure
    assert recovery.leftovers_after_failure == []

    assert "Apply complete!" in recovery.converged.stdout
    assert managed_addresses(state_of(stack_dir, "Outage")) == recovery.planned
    outputs = outputs_of(stack_dir)
    assert set(outputs) == {output.name for output in STACK_OUTPUTS}
    assert all(v not in ("", None) for k, v in outputs.items() if k != "capacity_provider_name")  # "" on purpose
    assert outputs["video_queue_url"].startswith(outage.url)
    planned = ecs_cli("plan", recovery.model, stack_dir, env={"ECS_AUTOSCALE_ENDPOINT_URL": outage.url})
    assert "No changes" in planned.stdout


# --- disk full while outputs.json is rewritten --------------------------------------------------------------
@pytest.fixture(scope="module")
def deployed(recovery, outage, ecs_cli):
    """(model, stack_dir, run): the recovered deployment and `ecs-autoscale` aimed at its endpoint."""

    def run(*args, **kwargs):
        return ecs_cli(*args, env={"ECS_AUTOSCALE_ENDPOINT_URL": outage.url}, **kwargs)

    return recovery.model, recovery.stack_dir, run


@pytest.fixture
def small_disk(tmp_path):
    """A real 8 MiB filesystem (tmpfs); needs the right to mount, as root in a container has."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    assert mounted.returncode == 0, (
        "this test needs the right to mount a filesystem (root or CAP_SYS_ADMIN, as root in a container has) "
        f"and the runner lacks it: `mount -t tmpfs` said {mounted.stderr.strip()!r}. It mounts an 8 MiB tmpfs "
        "to fill a real disk; run the suite as root or in a container with CAP_SYS_ADMIN"
    )
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)


def fill(folder: Path) -> Path:
    """Take every free block of `folder`'s filesystem; returns the file holding them."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return filler


def test_a_full_disk_fails_clearly_and_keeps_outputs_json_then_the_same_command_converges(
    deployed, small_disk, tmp_path
):
    model, original, ecs_cli = deployed
    # The deployed STACK_DIR moved onto the small disk; Terraform's provider copy (hundreds of MB) stays
    # where it is. A STACK_DIR is movable (relative state paths), so this is what a user's full disk is.
    stack_dir = small_disk / "stack"
    shutil.copytree(original, stack_dir, symlinks=True, ignore=shutil.ignore_patterns(".terraform"))
    (stack_dir / "terraform" / ".terraform").symlink_to(original / "terraform" / ".terraform")
    ecs_cli("outputs", model, stack_dir)  # synthesis cache current (it follows the product's source)
    fresh = (stack_dir / "outputs.json").read_bytes()
    state = stack_dir / "state" / "Outage" / "terraform.tfstate"
    state_before = state.read_bytes()
    (stack_dir / "outputs.json").write_text(json.dumps({**json.loads(fresh), "stale": "value"}))
    old = (stack_dir / "outputs.json").read_bytes()  # differs from what `outputs` writes
    synth_key = next((stack_dir / ".synth").rglob(".synth-key.json"))
    filler = fill(small_disk)

    def fails_on(path: Path) -> None:
        full = ecs_cli("outputs", model, stack_dir, check=False)
        assert full.returncode == 1, full.stdout + full.stderr
        line = one_line(full.stderr)
        assert f"cannot write {path}: No space left on device" in line, line
        assert (stack_dir / "outputs.json").read_bytes() == old
        assert state.read_bytes() == state_before
        assert tmp_leftovers(stack_dir) == []

    # Not one free block: the STACK_DIR lock record cannot be written, so nothing starts.
    fails_on(stack_dir / ".lock")
    # One free block (tmpfs allocates whole pages) for the lock record; a stale synthesis cache cannot be
    # rewritten (cdktf writes it from Node).
    shutil.move(synth_key, tmp_path / "synth-key.json")
    fails_on(stack_dir / ".synth")
    # Cache current again, one free block: the lock record fits, the new outputs.json does not.
    shutil.move(tmp_path / "synth-key.json", synth_key)
    os.truncate(filler, filler.stat().st_size - 4096)
    fails_on(stack_dir / "outputs.json")

    os.unlink(filler)  # space again: the same command converges
    ecs_cli("outputs", model, stack_dir)
    assert (stack_dir / "outputs.json").read_bytes() == fresh
    assert tmp_leftovers(stack_dir) == []


# --- destroy with queued videos: refusal and --discard-queued-videos ----------------------------------------
def test_destroy_with_discard_queued_videos_proceeds_and_reports_what_it_discarded(deployed, aws_client):
    model, stack_dir, ecs_cli = deployed
    outputs = outputs_of(stack_dir)
    sqs = aws_client("sqs")
    sqs.send_message(QueueUrl=outputs["video_queue_url"], MessageBody='{"video": "dive/b.mp4"}', MessageGroupId="test")
    destroyed = ecs_cli(
        "destroy", model, stack_dir, "--auto-approve", "--discard-queued-videos", "--delete-results-bucket-and-results"
    )
    assert "! discards 1 queued or running video(s)" in destroyed.stdout
    assert managed_addresses(state_of(stack_dir, "Outage")) == set()
    assert sqs.list_queues(QueueNamePrefix="Outage").get("QueueUrls", []) == []
    assert not (stack_dir / "outputs.json").exists()
