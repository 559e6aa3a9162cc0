"""Every broken model file in tests/malformed is rejected by the real CLI with one useful line.

For each file (expected line and field in tests/malformed/expected.json) the installed `ecs-autoscale`
runs as a subprocess, as users run it:
- `validate FILE`: exit 1, nothing on stdout, exactly one stderr line `FILE:LINE: Field: problem (fix)`;
- `synth FILE --out OUT` with OUT absent: same line, and OUT is never created;
- `synth SEED FILE --out OUT` with OUT holding an earlier synthesis: same line, and not one byte of
  OUT changes (a good file next to a broken one is not written either).
No output may contain a traceback, and nothing may appear in the working directory.

The ~250 CLI runs (~0.25 s each, no cdktf loaded) run in a small thread pool once per session.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import SEED, TESTS

CORPUS = TESTS / "malformed"
MANIFEST = json.loads((CORPUS / "expected.json").read_text())
CASES = MANIFEST["cases"]
PROBLEM_AND_FIX = re.compile(r"^\S.* \(\S.*\)$")
EARLIER_STACK = {
    "stacks/Megadetector/cdk.tf.json": b'{"earlier": "synthesis"}\n',
    "stacks/Megadetector/.synth-key.json": b'{"key": "earlier"}\n',
    "stacks/other-model/cdk.tf.json": b'{"other": "model"}\n',
}


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def run_cli(cli: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(cli), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def check_case(cli: Path, name: str, work: Path) -> dict:
    """Run the three commands for one corpus file; return what the assertions need."""
    case_dir = work / name
    case_dir.mkdir()
    bad = str(CORPUS / name)
    fresh_out = case_dir / "fresh-out"
    earlier_out = case_dir / "earlier-out"
    for rel, data in EARLIER_STACK.items():
        (earlier_out / rel).parent.mkdir(parents=True, exist_ok=True)
        (earlier_out / rel).write_bytes(data)
    before = snapshot(earlier_out)
    runs = {
        "validate": run_cli(cli, ["validate", bad], case_dir),
        "synth": run_cli(cli, ["synth", bad, "--out", str(fresh_out)], case_dir),
        "synth next to a good file": run_cli(cli, ["synth", str(SEED), bad, "--out", str(earlier_out)], case_dir),
    }
    return {
        "runs": runs,
        "fresh_out_exists": fresh_out.exists(),
        "earlier_out_unchanged": snapshot(earlier_out) == before,
        "cwd_entries": sorted(p.name for p in case_dir.iterdir()),
    }


@pytest.fixture(scope="module")
def results(installed_cli, tmp_path_factory) -> dict[str, dict]:
    work = tmp_path_factory.mktemp("malformed")
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        futures = {name: pool.submit(check_case, installed_cli, name, work) for name in CASES}
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_broken_file_gets_one_line_naming_file_line_and_field(results, name):
    expected = CASES[name]
    prefix = str(CORPUS / name)
    if expected["line"] is not None:
        prefix += f":{expected['line']}"
    prefix += ": "
    if expected["field"] is not None:
        prefix += f"{expected['field']}: "
    for command, proc in results[name]["runs"].items():
        where = f"`{command}` on {name}"
        assert proc.returncode == 1, f"{where}: exit {proc.returncode}\n{proc.stderr}"
        assert "Traceback" not in proc.stderr + proc.stdout, f"{where}:\n{proc.stderr}"
        lines = proc.stderr.splitlines()
        assert len(lines) == 1, f"{where}: expected one stderr line, got:\n{proc.stderr}"
        line = lines[0]
        assert line.startswith(prefix), f"{where}:\n  got      {line}\n  expected {prefix}..."
        rest = line[len(prefix) :]
        assert PROBLEM_AND_FIX.match(rest), f"{where}: not `problem (fix)`: {rest!r}"
        assert expected["mentions"] in rest, f"{where}: {expected['mentions']!r} not in {rest!r}"
        assert proc.stdout == "", f"{where}: printed on stdout: {proc.stdout!r}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_broken_file_creates_or_changes_nothing(results, name):
    result = results[name]
    assert not result["fresh_out_exists"], "synth created its output folder for a broken file"
    assert result["earlier_out_unchanged"], "synth changed an earlier synthesis for a broken file"
    assert result["cwd_entries"] == ["earlier-out"], f"files appeared in the working directory: {result['cwd_entries']}"


def test_validate_reports_every_file_and_ok_for_the_good_ones(installed_cli, tmp_path):
    # Several files, some broken: each good file still gets its ok line, each broken one its error.
    good = [str(SEED), str(SEED.parent / "fathomnet-spot.yaml")]
    broken = [str(CORPUS / "typo-fleetsize.yaml"), str(CORPUS / "empty.yaml")]
    proc = run_cli(installed_cli, ["validate", broken[0], good[0], broken[1], good[1]], tmp_path)
    assert proc.returncode == 1
    assert [line.split(": ok ")[0] for line in proc.stdout.splitlines()] == good
    assert [line.split(":")[0] for line in proc.stderr.splitlines()] == broken
