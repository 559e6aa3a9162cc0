"""`ecs-autoscale validate` and `ecs-autoscale synth`, run as users run them (the console script)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import EXAMPLES, SEED, seed_text, write_model

from ecs_autoscale.synthesis.synth import _source_fingerprint

CLI = Path(sys.executable).with_name("ecs-autoscale")
SPOT = EXAMPLES / "fathomnet-spot.yaml"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    if not CLI.exists():
        pytest.fail(f"console script {CLI} missing: run `pip install -e .`", pytrace=False)
    return subprocess.run([str(CLI), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300)


def assert_one_line_failure(proc: subprocess.CompletedProcess, lines: int = 1) -> list[str]:
    assert proc.returncode == 1, proc
    assert "Traceback" not in proc.stderr
    err = proc.stderr.splitlines()
    assert len(err) == lines, proc.stderr
    return err


# --- validate -------------------------------------------------------------------------------------------
def test_validate_reports_ok_for_each_example():
    proc = run("validate", SEED, SPOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.splitlines() == [
        f"{SEED}: ok (Megadetector, us-west-2, up to 1 x g4dn.xlarge)",
        f"{SPOT}: ok (fathomnet-benthic, us-west-2, up to 4 x g4dn.xlarge/g5.xlarge spot)",
    ]


def test_validate_reports_every_broken_file_on_one_line_each(tmp_path):
    typo = write_model(tmp_path, seed_text(FleetSzie="2", FleetSize=None), "typo.yaml")
    long_timeout = write_model(tmp_path, seed_text(TimeoutHours="13"), "timeout.yaml")
    proc = run("validate", typo, SEED, long_timeout)
    first, second = assert_one_line_failure(proc, lines=2)
    assert first.startswith(f"{typo}:") and "FleetSzie: unknown key (did you mean FleetSize?)" in first
    assert second.startswith(f"{long_timeout}:") and "TimeoutHours:" in second
    # Every file is checked: the good one between them is still reported ok.
    assert proc.stdout.splitlines() == [f"{SEED}: ok (Megadetector, us-west-2, up to 1 x g4dn.xlarge)"]


def test_validate_missing_file_is_one_line(tmp_path):
    missing = tmp_path / "nope.yaml"
    [line] = assert_one_line_failure(run("validate", missing))
    assert line.startswith(str(missing)) and "not found" in line


def test_validate_without_files_is_a_usage_error():
    proc = run("validate")
    assert proc.returncode == 2
    assert "Usage:" in proc.stderr


# --- synth ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def synth_runs(tmp_path_factory):
    """First run, cached re-run and --no-cache re-run of the seed into one --out folder that already
    holds another model's stack folder (with state beside its JSON)."""
    out = tmp_path_factory.mktemp("synth") / "out"
    target = out / "stacks" / "Megadetector" / "cdk.tf.json"
    other = out / "stacks" / "Other"
    other.mkdir(parents=True)
    (other / "terraform.tfstate").write_text("{}")
    seen = _source_fingerprint()
    first = run("synth", SEED, "--out", out)
    for _attempt in range(3):
        snapshots = [(target.read_bytes(), target.stat().st_ino)] if target.exists() else []
        cached = run("synth", SEED, "--out", out)
        now = _source_fingerprint()
        if now == seen:
            break
        # The package source is part of the cache key, and someone edited it between the runs (a shared
        # checkout): that miss is correct, so the next run, with the source settled, must hit the cache.
        seen = now
    snapshots.append((target.read_bytes(), target.stat().st_ino))
    fresh = run("synth", SEED, "--out", out, "--no-cache")
    snapshots.append((target.read_bytes(), target.stat().st_ino))
    return target, (first, cached, fresh), snapshots


def test_synth_writes_the_stack_in_the_cdktf_layout(synth_runs):
    target, (first, _, _), _ = synth_runs
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [str(target)]
    doc = json.loads(target.read_text())
    assert doc["output"]["stack_name"]["value"] == "Megadetector"


def test_second_synth_reports_unchanged_and_leaves_the_file_alone(synth_runs):
    target, (_, cached, _), snapshots = synth_runs
    assert cached.returncode == 0, cached.stderr
    assert cached.stdout.splitlines() == [f"{target} (unchanged)"]
    assert snapshots[1] == snapshots[0]


def test_no_cache_rewrites_identical_bytes(synth_runs):
    target, (_, _, fresh), snapshots = synth_runs
    assert fresh.returncode == 0, fresh.stderr
    assert fresh.stdout.splitlines() == [str(target)]
    (before, before_inode), (after, after_inode) = snapshots[1], snapshots[2]
    assert after_inode != before_inode, "--no-cache must write the file again"
    assert after == before


def test_synth_out_defaults_to_cdktf_out_in_help():
    proc = run("synth", "--help")
    assert proc.returncode == 0
    assert "cdktf.out" in proc.stdout


def test_two_files_with_the_same_stack_name_fail_before_writing(tmp_path):
    first = write_model(tmp_path, seed_text(), "a.yaml")
    second = write_model(tmp_path, seed_text(TaskDefinition="other"), "b.yaml")
    out = tmp_path / "out"
    [line] = assert_one_line_failure(run("synth", first, second, "--out", out))
    stack_name_line = 1 + seed_text().splitlines().index("StackName: Megadetector")
    assert line == (
        f"{second}:{stack_name_line}: StackName: 'Megadetector' is already the StackName of {first} "
        "(give each model file its own StackName)"
    )
    assert not out.exists()


def test_validate_rejects_a_stack_name_an_earlier_file_uses_even_in_another_case(tmp_path):
    """IAM role names and macOS folders ignore case: Megadetector and megadetector would collide."""
    first = write_model(tmp_path, seed_text(), "a.yaml")
    second = write_model(tmp_path, seed_text(StackName="megadetector"), "b.yaml")
    proc = run("validate", first, second)
    [line] = assert_one_line_failure(proc)
    assert line.startswith(f"{second}:") and f"'megadetector' is already the StackName of {first}" in line
    assert proc.stdout.splitlines() == [f"{first}: ok (Megadetector, us-west-2, up to 1 x g4dn.xlarge)"]


def test_one_broken_file_means_nothing_is_written(tmp_path):
    broken = write_model(tmp_path, seed_text(StackName="fine", FleetSize="0"), "broken.yaml")
    out = tmp_path / "out"
    [line] = assert_one_line_failure(run("synth", SEED, broken, "--out", out))
    assert line.startswith(f"{broken}:") and "FleetSize" in line
    assert not out.exists()


def test_synth_keeps_other_stacks_in_the_out_folder(synth_runs):
    # Another model's folder (e.g. with terraform state beside it) is never touched.
    target, _, _ = synth_runs
    stacks = target.parents[1]
    assert (stacks / "Other" / "terraform.tfstate").read_text() == "{}"
    assert sorted(os.listdir(stacks)) == ["Megadetector", "Other"]
