"""What can hold state or secrets in STACK_DIR is the owner's only, whoever's umask: the folder 0700;
state and its backups, plans (binary, text, JSON), apply logs, outputs and records 0600 in 0700 folders,
including what Terraform itself writes (it runs under umask 077: tests/slow/test_terraform_file_modes.py).
An S3 state backend takes a KMS key.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import file_mode as mode
from helpers import load_text, product_synth, seed_text

from ecs_autoscale.fileio import atomic_write, atomic_write_json
from ecs_autoscale.stack_dir import StackDir


def test_private_writes_are_owner_only_whatever_the_umask(tmp_path, open_umask):
    atomic_write(tmp_path / "new" / "plan.txt", b"x", private=True)
    atomic_write_json(tmp_path / "outputs.json", {"a": 1}, private=True)
    atomic_write(tmp_path / "report.txt", b"x")  # not private: the umask decides, as before
    assert (mode(tmp_path / "new"), mode(tmp_path / "new" / "plan.txt")) == (0o700, 0o600)
    assert mode(tmp_path / "outputs.json") == 0o600
    assert mode(tmp_path / "report.txt") == 0o666


def test_a_stack_dir_made_by_an_earlier_version_is_tightened_when_a_command_takes_it(tmp_path, open_umask):
    root = tmp_path / "stack"
    loose = [
        "state/terraform.tfstate.d/Megadetector/terraform.tfstate",
        "state/Megadetector/terraform.tfstate.2025-01-01T000000Z.state-rm.backup",
        "plans/review.tfplan",
        "plans/review.txt",
        "plans/review.json",
        "logs/deploy.log",
        "jobs/survey-1.json",
        "outputs.json",
        "stopped.json",
        "deployed-model.yaml",
        "terraform/cdk.tf.json",
    ]
    for name in loose:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("{}")
        (root / name).chmod(0o644)
    provider = root / "terraform/.terraform/providers/registry.terraform.io/hashicorp/aws/terraform-provider-aws"
    provider.parent.mkdir(parents=True)
    provider.write_text("#!/bin/sh\n")
    provider.chmod(0o755)
    for folder in (root, root / "state", root / "plans", root / "logs"):
        folder.chmod(0o755)

    with StackDir(root).locked("deploy"):
        pass

    assert mode(root) == 0o700
    assert {name: mode(root / name) for name in loose} == dict.fromkeys(loose, 0o600)
    assert {mode(p) for p in (root / "state").rglob("*") if p.is_dir()} == {0o700}
    assert mode(root / ".lock") == 0o600
    assert mode(provider) == 0o755  # Terraform must still run its provider


def test_logs_and_records_are_written_owner_only(tmp_path, open_umask):
    sd = StackDir(tmp_path / "stack")
    with sd.append_log("deploy") as log:
        log("Plan: 1 to add")
    sd.write_outputs({"video_queue_url": "https://sqs/x"})
    sd.write_stop_record({"stack_name": "Megadetector"})
    sd.claim("Megadetector", "local")
    for path in (sd.log_file("deploy"), sd.outputs_file, sd.stop_record_file, sd.identity_file):
        assert mode(path) == 0o600, path
    assert mode(sd.logs_dir) == 0o700


def test_synth_out_is_owner_only_and_tightens_what_an_earlier_version_wrote(tmp_path, open_umask):
    from ecs_autoscale.synthesis.synth import KEY_FILE, synthesize

    config = load_text(tmp_path, seed_text(StackName="Private", Environment="{DB_HOST: lab-db}"))
    [result] = synthesize([config], tmp_path / "out")
    folder = result.path.parent
    assert (mode(folder), mode(result.path), mode(folder / KEY_FILE)) == (0o700, 0o600, 0o600)
    result.path.chmod(0o644)
    [cached] = synthesize([config], tmp_path / "out")
    assert cached.cached and mode(cached.path) == 0o600


def test_the_s3_backend_takes_a_kms_key(tmp_path):
    key = "arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    backend = f"\n  Bucket: lab-terraform-state\n  KmsKeyId: {key}"
    config = load_text(tmp_path, seed_text(StackName="KeyedState", Backend=backend))
    assert config.backend is not None and config.backend.kms_key_id == key
    doc = json.loads(Path(product_synth([config], tmp_path / "out")["KeyedState"]).read_text())
    s3 = doc["terraform"]["backend"]["s3"]
    assert (s3["encrypt"], s3["kms_key_id"]) == (True, key)


def test_a_state_key_must_be_a_kms_key_or_alias_arn(tmp_path):
    from ecs_autoscale.model.yaml_source import ConfigError

    with pytest.raises(ConfigError, match=r"Backend.KmsKeyId: 'alias/lab' is not a KMS key or alias ARN"):
        load_text(tmp_path, seed_text(Backend="\n  Bucket: lab-terraform-state\n  KmsKeyId: alias/lab"))
