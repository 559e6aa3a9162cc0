"""A plain `terraform plan` of the synthesized seed example against the emulator (moto) on loopback.

Real terraform and the real provider (from the mirror); moto answers every AWS call, so the plan
reads the data sources the stack depends on (GPU AMI via SSM, default VPC and subnets, caller
identity) and must plan every resource for creation.
"""

from __future__ import annotations

import json
import shutil

import pytest
from helpers import SEED, product_synth, terraform_env

from ecs_autoscale.aws_target import emulator_env
from ecs_autoscale.model.config import load_config

MOTO_ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def moto_url(emulator):
    """The project's emulator (moto plus its documented patches): bare moto's default VPC has no
    internet gateway, which the stack's plan-time network check rightly refuses."""
    return emulator


@pytest.fixture(scope="module")
def plan(moto_url, terraform_cli, tmp_path_factory):
    """(synthesized stack, `terraform show -json` of the plan, workdir)."""
    config = load_config(SEED)
    synth_dir = tmp_path_factory.mktemp("synth")
    source = product_synth([config], synth_dir)[config.stack_name]
    workdir = tmp_path_factory.mktemp("stack")
    shutil.copy(source, workdir / "cdk.tf.json")
    env = terraform_env(tmp_path_factory.mktemp("cli"), emulator_env(moto_url))

    terraform_cli(["init", "-input=false", "-no-color"], workdir, env)
    # -detailed-exitcode: 2 = succeeded with changes (everything to create), 0 would mean nothing planned.
    terraform_cli(
        ["plan", "-input=false", "-no-color", "-detailed-exitcode", "-out=plan.bin"], workdir, env, ok_codes=(2,)
    )
    shown = json.loads(terraform_cli(["show", "-json", "plan.bin"], workdir, env).stdout)
    return json.loads(source.read_text()), shown, workdir


def planned(shown: dict) -> dict[str, dict]:
    # Resources whose every value is unknown until apply carry no "values" key.
    return {r["address"]: r.get("values", {}) for r in shown["planned_values"]["root_module"]["resources"]}


def read_data(shown: dict) -> dict[str, dict]:
    return {
        r["address"]: r["values"]
        for r in shown["prior_state"]["values"]["root_module"]["resources"]
        if r["mode"] == "data"
    }


def test_plan_creates_every_resource_of_the_stack(plan):
    doc, shown, _ = plan
    expected = {f"{type_}.{name}" for type_, group in doc["resource"].items() for name in group}
    changes = {c["address"]: c["change"]["actions"] for c in shown["resource_changes"] if c["mode"] == "managed"}
    assert set(changes) == expected
    assert all(actions == ["create"] for actions in changes.values())


def test_data_sources_were_answered_by_the_emulator(plan):
    _, shown, _ = plan
    data = read_data(shown)
    [identity] = [v for a, v in data.items() if a.startswith("data.aws_caller_identity.")]
    assert identity["account_id"] == MOTO_ACCOUNT
    [parameter] = [v for a, v in data.items() if a.startswith("data.aws_ssm_parameter.")]
    assert parameter["insecure_value"].startswith("ami-")
    [subnets] = [v for a, v in data.items() if a.startswith("data.aws_subnets.")]
    assert subnets["ids"]


def test_launch_template_uses_the_resolved_gpu_ami_and_its_root_device(plan):
    _, shown, _ = plan
    data = read_data(shown)
    [parameter] = [v for a, v in data.items() if a.startswith("data.aws_ssm_parameter.")]
    [ami] = [v for a, v in data.items() if a.startswith("data.aws_ami.")]
    [template] = [v for a, v in planned(shown).items() if a.startswith("aws_launch_template.")]
    assert template["image_id"] == parameter["insecure_value"] == ami["id"]
    [mapping] = template["block_device_mappings"]
    assert mapping["device_name"] == ami["root_device_name"]
    # BlockDeviceVolumeGBRoot (10 in the seed), raised to the root snapshot when that is larger.
    [root] = [m for m in ami["block_device_mappings"] if m["device_name"] == ami["root_device_name"]]
    assert mapping["ebs"][0]["volume_size"] == max(load_config(SEED).volume_gb, int(root["ebs"]["volume_size"]))


def test_group_spans_the_default_vpc_subnets_and_outputs_are_known(plan):
    _, shown, _ = plan
    data = read_data(shown)
    [subnets] = [v for a, v in data.items() if a.startswith("data.aws_subnets.")]
    [group] = [v for a, v in planned(shown).items() if a.startswith("aws_autoscaling_group.")]
    assert sorted(group["vpc_zone_identifier"]) == sorted(subnets["ids"])
    outputs = shown["planned_values"]["outputs"]
    assert outputs["stack_name"]["value"] == "Megadetector"
    assert outputs["video_queue_name"]["value"] == "Megadetector-video.fifo"


def test_plan_writes_no_state(plan):
    _, _, workdir = plan
    assert not (workdir / "terraform.tfstate").exists()
