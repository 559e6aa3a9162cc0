"""Containers are kept from the instance metadata service (and so from the instance role) by an iptables
rule that is in place before the ECS agent starts any container, at first boot and at every later start.

The rule is the one the Amazon ECS Developer Guide gives for bridge mode ("Task IAM role",
task-iam-roles.html): `iptables --insert FORWARD 1 --in-interface docker+ --destination
169.254.169.254/32 --jump DROP`. Ordering relied on: the ECS-optimized AMI's ecs.service is
`After=cloud-final.service` and `After=docker.service` (amazon-ecs-agent,
packaging/amazon-linux-ami-integrated/ecs.service); cloud-final runs the user data script once; the
drop-in on docker.service re-applies the rule (ExecStartPost, which ends before docker counts as started).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from ecs_autoscale.model.naming import StackNames
from ecs_autoscale.model.scaling_design import ScalingDesign
from ecs_autoscale.synthesis.user_data import agent_settings, ecs_agent_config, render_user_data

RULE = "--in-interface docker+ --destination 169.254.169.254/32 --jump DROP"
SETTINGS = agent_settings(
    ScalingDesign(fleet_size=1, tasks_per_instance=1, scale_in_idle_minutes=5, warm_pool_size=0),
    StackNames("Megadetector"),
    region="us-west-2",
    task_families=("strongsort-yolov5",),
    image="mbari/strongsort-yolov5:1.10.0",
)


@pytest.fixture(scope="module")
def user_data() -> str:
    return render_user_data(SETTINGS, ecs_config=ecs_agent_config(SETTINGS, spot=False))


def heredoc(script: str, delimiter: str) -> str:
    return script.split(f"<<'{delimiter}'\n", 1)[1].split(f"\n{delimiter}\n", 1)[0] + "\n"


def line_of(script: str, text: str) -> int:
    lines = script.splitlines()
    found = [n for n, line in enumerate(lines) if text in line and not line.lstrip().startswith("#")]
    assert found, f"no line with {text!r}"
    return found[0]


def test_the_rule_is_applied_before_the_ecs_agent_is_configured_or_anything_else_runs(user_data):
    lines = user_data.splitlines()
    first = line_of(user_data, "set -euo pipefail")
    applied = line_of(user_data, "/usr/local/sbin/ecs-autoscale-imds-block")
    # the first command after the script is written and made executable runs it
    assert lines[applied].startswith("cat > /usr/local/sbin/ecs-autoscale-imds-block")
    run = next(n for n, line in enumerate(lines) if line.strip() == "/usr/local/sbin/ecs-autoscale-imds-block")
    assert first < applied < run < line_of(user_data, "/etc/ecs/ecs.config") < line_of(user_data, "systemctl enable")
    commands = [line for line in lines[first + 1 : applied] if line.strip() and not line.lstrip().startswith("#")]
    assert commands == [], f"commands before the metadata block: {commands}"
    assert f'--insert "$chain" 1 {RULE}' in heredoc(user_data, "IMDS_BLOCK")


def test_docker_starting_again_reapplies_the_rule_before_the_ecs_agent(user_data):
    dropin = heredoc(user_data, "IMDS_DROPIN")
    assert "cat > /etc/systemd/system/docker.service.d/ecs-autoscale-imds-block.conf" in user_data
    assert dropin.splitlines() == [
        "[Unit]",
        "Before=ecs.service",
        "[Service]",
        "ExecStartPost=/usr/local/sbin/ecs-autoscale-imds-block",
    ]


def test_the_user_data_is_valid_bash(user_data, tmp_path):
    script = tmp_path / "user_data.sh"
    script.write_text(user_data)
    subprocess.run(["bash", "-n", str(script)], check=True)


FAKE_IPTABLES = """#!/bin/sh
# iptables as far as the block uses it: chains are files in $RULES, one rule a line.
mode=$1; chain=$2; shift 2
file="$RULES/$chain"
case "$mode" in
  --list) [ -f "$file" ] ;;
  --check) [ -f "$file" ] && grep -qxF -- "$*" "$file" ;;
  --insert) [ -f "$file" ] || exit 1; shift; { echo "$*"; cat "$file"; } > "$file.new" && mv "$file.new" "$file" ;;
  *) exit 2 ;;
esac
"""


def run_block(user_data: str, tmp_path: Path, chains: dict[str, list[str]]) -> dict[str, list[str]]:
    rules, bin_dir = tmp_path / "rules", tmp_path / "bin"
    rules.mkdir(exist_ok=True)
    bin_dir.mkdir(exist_ok=True)
    for chain, lines in chains.items():
        (rules / chain).write_text("".join(f"{line}\n" for line in lines))
    fake = bin_dir / "iptables"
    fake.write_text(FAKE_IPTABLES)
    fake.chmod(0o755)
    block = tmp_path / "imds-block"
    block.write_text(heredoc(user_data, "IMDS_BLOCK"))
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "RULES": str(rules)}
    subprocess.run(["sh", str(block)], check=True, env=env)
    return {chain.name: chain.read_text().splitlines() for chain in sorted(rules.iterdir())}


def test_the_block_puts_the_drop_first_in_forward_and_docker_user_once(user_data, tmp_path):
    docker_rules = ["--jump DOCKER-USER", "--in-interface docker0 ! --out-interface docker0 --jump ACCEPT"]
    after = run_block(user_data, tmp_path, {"FORWARD": docker_rules, "DOCKER-USER": ["--jump RETURN"]})
    assert after == {"DOCKER-USER": [RULE, "--jump RETURN"], "FORWARD": [RULE, *docker_rules]}
    assert run_block(user_data, tmp_path, {}) == after  # again (docker restarted): nothing added twice


def test_before_docker_made_its_chain_the_block_guards_forward(user_data, tmp_path):
    assert run_block(user_data, tmp_path, {"FORWARD": []}) == {"FORWARD": [RULE]}
