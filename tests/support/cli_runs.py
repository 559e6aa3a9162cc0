"""`ecs-autoscale` processes started and read line by line, and what a deployment leaves in its STACK_DIR
(state, plan, outputs), as the deploy tests read them."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from helpers import CLI


def state_of(stack_dir: Path, stack_name: str) -> dict:
    return json.loads((stack_dir / "state" / stack_name / "terraform.tfstate").read_text())


def managed_addresses(state: dict) -> set[str]:
    """Resources the state says exist (an interrupted apply can leave entries without instances)."""
    return {f"{r['type']}.{r['name']}" for r in state["resources"] if r["mode"] == "managed" and r["instances"]}


def planned_creates(plan_json: Path) -> set[str]:
    changes = json.loads(plan_json.read_text())["resource_changes"]
    return {c["address"] for c in changes if c["change"]["actions"] == ["create"]}


def outputs_of(stack_dir: Path) -> dict:
    return json.loads((stack_dir / "outputs.json").read_text())


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one error line, got:\n{stderr}"
    assert "Traceback" not in stderr
    return lines[0]


def start_cli(cli_env: dict, *args: object) -> subprocess.Popen:
    return subprocess.Popen(
        [str(CLI), *map(str, args)],
        env=cli_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )


def read_until(proc: subprocess.Popen, pattern: str) -> list[str]:
    """stdout lines up to and including the first matching `pattern` (fails if the process ends first)."""
    seen = []
    for line in iter(proc.stdout.readline, ""):
        seen.append(line)
        if re.search(pattern, line):
            return seen
    proc.wait()
    pytest.fail(
        f"process exited {proc.returncode} before printing /{pattern}/:\n{''.join(seen)}\n{proc.stderr.read()}",
        pytrace=False,
    )
