"""`cdktf deploy` keeps working from the repo's cdktf.json for users who prefer the cdktf CLI.

cdktf-cli 0.21.0 comes from npm (`npm ci` at the repo root, package.json); it runs `python3 main.py`
(the venv's python, first on PATH) and real Terraform with the provider from the mirror, against the
emulator the tests start. A copy of cdktf.json and main.py in a temporary folder keeps cdktf.out/ and
its state out of the repo.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO, seed_text, write_model

CDKTF = REPO / "node_modules" / ".bin" / "cdktf"


def test_cdktf_deploy_of_an_example_against_the_emulator(cli_env, emulator, provider_mirror_dir, aws_client, tmp_path):
    """`cdktf deploy` from cdktf.json keeps working (cdktf-cli from npm: `npm ci` at the repo root)."""
    from ecs_autoscale.aws_target import emulator_env
    from ecs_autoscale.deployment.terraform import provider_mirror_config

    if not CDKTF.exists():
        pytest.fail(f"{CDKTF} is missing: run `npm ci` at the repo root (cdktf-cli 0.21.0)", pytrace=False)
    project = tmp_path / "project"
    project.mkdir()
    for name in ("cdktf.json", "main.py"):
        shutil.copy(REPO / name, project / name)
    model = write_model(project, seed_text(StackName="CdktfSeed", TaskDefinition="cdktf-seed"))
    cli_config = tmp_path / "mirror.tfrc"
    cli_config.write_text(provider_mirror_config(provider_mirror_dir))
    env = {
        **cli_env,
        **emulator_env(emulator),
        "ECS_AUTOSCALE_MODELS": str(model),
        "TF_CLI_CONFIG_FILE": str(cli_config),
        "CDKTF_DISABLE_PLUGIN_CACHE_ENV": "1",
        "PATH": f"{Path(sys.executable).parent}:{cli_env['PATH']}",
    }
    outputs_file = tmp_path / "outputs.json"
    proc = subprocess.run(
        [
            str(CDKTF),
            "deploy",
            "CdktfSeed",
            "--auto-approve",
            "--skip-provider-lock",
            "--outputs-file",
            str(outputs_file),
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=900,
    )
    assert proc.returncode == 0, f"{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
    outputs = json.loads(outputs_file.read_text())["CdktfSeed"]
    assert outputs["video_queue_name"] == "CdktfSeed-video.fifo"
    assert aws_client("sqs").get_queue_url(QueueName="CdktfSeed-video.fifo")["QueueUrl"]
    # The synthesized local backend's relative path: cdktf users keep the state next to the stack's JSON.
    assert (project / "cdktf.out" / "stacks" / "CdktfSeed" / "terraform.tfstate").is_file()
