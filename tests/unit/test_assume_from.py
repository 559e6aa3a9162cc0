"""`estimate --assume-from FILE`: a JSON object of assumption names to values counts exactly as the same
`--assume` flags; `--assume` on the command line wins; `report --json` output is read as is (its
"assumptions" object); a bad file or name is one line naming the file and the field."""

from __future__ import annotations

import json
import subprocess

import pytest
from helpers import CLI, SEED

MEASURED = {
    "instance_pending_s": 38.5,
    "instance_boot_s": 71,
    "image_pull_s": 212.4,
    "price.g4dn.xlarge.on_demand": 0.6,
}
WORKLOAD = ["--videos", "12", "--minutes-per-video", "20"]


def estimate(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CLI), "estimate", str(SEED), *WORKLOAD, *map(str, args)], capture_output=True, text=True, timeout=300
    )


def flags(values: dict) -> list[str]:
    return [arg for name, value in values.items() for arg in ("--assume", f"{name}={value}")]


def test_a_file_changes_the_estimate_exactly_as_the_same_assume_flags(tmp_path):
    whole = tmp_path / "whole.json"
    whole.write_text(json.dumps(MEASURED))
    report = tmp_path / "report.json"  # the shape `report --json` prints
    report.write_text(json.dumps({"job": "dive-1", "measured": {"x": 1}, "assumptions": MEASURED}))
    by_flags = estimate("--json", *flags(MEASURED))
    assert by_flags.returncode == 0, by_flags.stderr
    default = json.loads(estimate("--json").stdout)
    for source in (whole, report):
        from_file = estimate("--json", "--assume-from", source)
        assert from_file.returncode == 0, from_file.stderr
        assert json.loads(from_file.stdout) == json.loads(by_flags.stdout)
    changed = json.loads(by_flags.stdout)
    assert changed["assumptions"]["image_pull_s"] == 212.4 and changed != default
    assert changed["price"]["usd_per_hour"] == 0.6
    text = estimate("--assume-from", whole).stdout
    assert text == estimate(*flags(MEASURED)).stdout


def test_assume_on_the_command_line_wins(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"assumptions": MEASURED}))
    mixed = json.loads(estimate("--json", "--assume-from", path, "--assume", "image_pull_s=30").stdout)
    assert mixed == json.loads(estimate("--json", *flags({**MEASURED, "image_pull_s": 30})).stdout)


@pytest.mark.parametrize(
    "content, problem",
    [
        (
            {"assumptions": {"image_pul_s": 3}},
            r"m\.json: assumptions\.image_pul_s: unknown assumption \(did you mean image_pull_s\?\)",
        ),
        ({"image_pull_s": "fast"}, r'm\.json: image_pull_s: "fast" is not a number'),
        ({"image_pull_s": -5}, r"m\.json: image_pull_s=-5: must be at least 0 \(s\)"),
        ([1, 2], r"--assume-from .*m\.json: expected a JSON object of assumption names to numbers"),
    ],
)
def test_a_bad_file_is_one_line_naming_the_file_and_the_field(tmp_path, content, problem):
    import re

    path = tmp_path / "m.json"
    path.write_text(json.dumps(content))
    proc = estimate("--assume-from", path)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and re.search(problem, proc.stderr), proc.stderr


def test_a_missing_or_broken_file_is_one_line(tmp_path):
    missing = estimate("--assume-from", tmp_path / "none.json")
    assert missing.returncode == 1 and "none.json: not found" in missing.stderr and missing.stderr.count("\n") == 1
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    proc = estimate("--assume-from", broken)
    assert proc.returncode == 1 and "broken.json: not readable JSON" in proc.stderr and proc.stderr.count("\n") == 1
