"""What Terraform itself writes in STACK_DIR (state, its backup, a saved plan, .terraform) is the owner's
only, whoever's umask: the runner starts it under umask 077. The files ecs-autoscale writes:
tests/unit/test_state_privacy.py."""

from __future__ import annotations

import os
import textwrap

import pytest
from helpers import file_mode as mode

from ecs_autoscale.deployment.terraform import Terraform

pytestmark = pytest.mark.slow  # runs real terraform through the product's runner (no terraform_cli fixture)


def test_what_terraform_writes_is_owner_only(tmp_path, open_umask):
    work = tmp_path / "terraform"
    work.mkdir()
    (work / "main.tf").write_text(
        textwrap.dedent(
            """
            terraform {
              backend "local" {}
            }
            resource "terraform_data" "secret" {
              input = "a value Terraform keeps in its state"
            }
            """
        )
    )
    tf = Terraform(work, env={"TF_CLI_CONFIG_FILE": os.devnull})
    tf.init({"path": "../state/terraform.tfstate"})
    tf.plan(work / "p.tfplan")
    tf.apply_plan(work / "p.tfplan")
    tf.destroy()  # leaves the previous state as terraform.tfstate.backup
    state = tmp_path / "state"
    written = [state / "terraform.tfstate", state / "terraform.tfstate.backup", work / "p.tfplan"]
    assert {path.name: mode(path) for path in written} == dict.fromkeys((p.name for p in written), 0o600)
    assert mode(state) == 0o700 and mode(work / ".terraform") == 0o700
