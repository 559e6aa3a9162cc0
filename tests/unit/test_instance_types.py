"""The shipped GPU instance-type table and the rules `validate` applies with it (issue 14 point 8).

Every rule is checked twice: on `check_instance_types` (exact one-line message) and through a real
model file (`FILE:LINE: Field: problem (fix)`, the line of the key); the CLI prints the table.
"""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
from helpers import load_text, seed_text

from ecs_autoscale.model import instance_types as it
from ecs_autoscale.model.ami import GPU_AMI_PARAMETER, gpu_ami_parameter
from ecs_autoscale.model.yaml_source import ConfigError

CLI = Path(sys.executable).with_name("ecs-autoscale")
TABLE = json.loads(resources.files("ecs_autoscale").joinpath("data/instance_types.json").read_text())
PRICES = json.loads(resources.files("ecs_autoscale").joinpath("data/prices.json").read_text())
PICK = "(pick an NVIDIA GPU type such as g4dn.xlarge; `ecs-autoscale validate --list-instance-types` lists them)"


def problem(names, gpus_per_task=1) -> it.InstanceTypeError:
    with pytest.raises(it.InstanceTypeError) as caught:
        it.check_instance_types(names, gpus_per_task)
    return caught.value


# --- the table ---------------------------------------------------------------------------------------
def test_table_is_dated_and_sourced_like_the_prices():
    assert datetime.date.fromisoformat(it.CATALOG_AS_OF)
    assert it.CATALOG_SOURCE == "https://docs.aws.amazon.com/ec2/latest/instancetypes/ac.html"
    assert TABLE["sources"] and TABLE["unverified"], "say where each number comes from and what was not checked"


@pytest.mark.parametrize("name", sorted(TABLE["instances"]))
def test_every_entry_is_a_complete_nvidia_gpu_type(name):
    spec = it.lookup(name)
    assert spec.name == name and spec.family == name.split(".")[0]
    assert spec.vcpus >= 4 and spec.memory_mib >= 8192 and spec.gpus >= 1 and spec.gpu_memory_gib >= 8
    assert spec.gpu_model.startswith("NVIDIA ")
    assert spec.arch in ("x86_64", "arm64")


def test_default_and_example_types_are_in_the_table():
    g4dn = it.lookup("g4dn.xlarge")
    assert (g4dn.vcpus, g4dn.memory_mib, g4dn.gpus, g4dn.gpu_model, g4dn.gpu_memory_gib, g4dn.arch) == (
        4,
        16384,
        1,
        "NVIDIA T4",
        16,
        "x86_64",
    )
    assert it.lookup("g5.12xlarge").gpus == 4
    assert it.lookup("g5g.xlarge").arch == "arm64"
    assert it.lookup("c5.xlarge") is None


@pytest.mark.parametrize("name", sorted(PRICES["instances"]))
def test_the_two_shipped_tables_agree_on_gpus(name):
    assert it.lookup(name) is not None, f"prices.json prices {name}, which the instance-type table rejects"
    assert it.lookup(name).gpus == PRICES["instances"][name]["gpus"]


def test_no_family_is_both_supported_and_refused():
    refused = set(TABLE["not_supported"]) | set(TABLE["no_nvidia_gpu"])
    assert refused.isdisjoint({spec.family for spec in it.catalog().values()})


# --- accepted -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("names", "gpus_per_task", "tasks"),
    [
        (["g4dn.xlarge"], 1, 1),
        (["g4dn.xlarge", "g5.xlarge", "g6.xlarge"], 1, 1),
        (["g5.12xlarge", "g6.12xlarge"], 2, 2),
        (["g4dn.12xlarge"], 1, 4),
        (["p4d.24xlarge"], 8, 1),
    ],
)
def test_accepted_groups_and_their_tasks_per_instance(names, gpus_per_task, tasks):
    it.check_instance_types(names, gpus_per_task)
    assert it.tasks_per_instance(names, gpus_per_task) == tasks
    assert it.arch(names) == "x86_64"


# --- refused, with the exact line ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("names", "gpus_per_task", "field", "line"),
    [
        (
            ["c5.xlarge"],
            1,
            "InstanceTypes",
            f"'c5.xlarge' has no GPU: instances would be billed while GPU tasks never place {PICK}",
        ),
        (
            ["g4dn.xlarge", "m7i-flex.large"],
            1,
            "InstanceTypes",
            f"'m7i-flex.large' has no GPU: instances would be billed while GPU tasks never place {PICK}",
        ),
        (
            ["g4ad.xlarge"],
            1,
            "InstanceTypes",
            "'g4ad.xlarge' has no NVIDIA GPU: it has AMD Radeon Pro V520 GPUs, and the ECS GPU-optimized AMI drives "
            f"NVIDIA GPUs only {PICK}",
        ),
        (
            ["inf2.xlarge"],
            1,
            "InstanceTypes",
            "'inf2.xlarge' has no NVIDIA GPU: it has AWS Inferentia2 chips (ECS runs them with its Neuron AMI), "
            "and the "
            f"ECS GPU-optimized AMI drives NVIDIA GPUs only {PICK}",
        ),
        (
            ["trn1.2xlarge"],
            1,
            "InstanceTypes",
            "'trn1.2xlarge' has no NVIDIA GPU: it has AWS Trainium chips (ECS runs them with its Neuron AMI), and the "
            f"ECS GPU-optimized AMI drives NVIDIA GPUs only {PICK}",
        ),
        (
            ["p2.xlarge"],
            1,
            "InstanceTypes",
            "'p2.xlarge' is not supported: NVIDIA K80 GPUs, dropped by the ECS GPU-optimized AMI at version 20230912 "
            f"(its NVIDIA driver no longer supports Kepler) {PICK}",
        ),
        (
            ["g4dn.huge"],
            1,
            "InstanceTypes",
            f"'g4dn.huge' is not a size of g4dn in the instance-type table of {it.CATALOG_AS_OF} "
            "(g4dn sizes: xlarge, 2xlarge, 4xlarge, 8xlarge, 12xlarge, 16xlarge, metal)",
        ),
        (
            ["q9.xlarge"],
            1,
            "InstanceTypes",
            f"'q9.xlarge' is not a known NVIDIA GPU instance type: the table of {it.CATALOG_AS_OF} lists the families "
            "g3, g3s, g4dn, g5, g6, g6e, gr6, p3, p3dn, p4d, p4de, p5, p5e, p5en "
            "(`ecs-autoscale validate --list-instance-types` shows every type with its GPUs)",
        ),
        (
            ["g5g.xlarge"],
            1,
            "InstanceTypes",
            "g5g.xlarge is arm64 (NVIDIA T4G): AWS publishes no ECS GPU-optimized AMI for arm64, so its tasks would "
            "never see a GPU (pick an x86_64 type such as g4dn.xlarge)",
        ),
        (
            ["g4dn.xlarge", "g5g.xlarge"],
            1,
            "InstanceTypes",
            "mixes arm64 (g5g.xlarge) and x86_64 (g4dn.xlarge) types: the group's launch template has one AMI, built "
            "for one architecture (list types of one architecture)",
        ),
        (
            ["g4dn.xlarge", "g4dn.12xlarge"],
            1,
            "InstanceTypes",
            "mixes GPU counts (g4dn.xlarge has 1, g4dn.12xlarge has 4): ECS places tasks per GPU but the group counts "
            "instances, so the fleet size would mean different task counts (list types with the same number of GPUs)",
        ),
        (
            ["g4dn.xlarge"],
            2,
            "GpusPerTask",
            "2 GPUs per task exceed the 1 GPU of g4dn.xlarge: no task could ever be placed (lower GpusPerTask to 1, or "
            "pick a type such as g4dn.12xlarge (4 GPUs))",
        ),
        (
            ["g5.12xlarge"],
            3,
            "GpusPerTask",
            "3 GPUs per task do not divide the 4 GPUs of g5.12xlarge: 1 GPU per instance would idle, billed (set "
            "GpusPerTask to 1, 2 or 4)",
        ),
        (
            ["p3.8xlarge"],
            16,
            "GpusPerTask",
            "16 GPUs per task exceed the 4 GPUs of p3.8xlarge: no task could ever be placed (lower GpusPerTask to 4)",
        ),
    ],
)
def test_refused_with_one_line_and_its_fix(names, gpus_per_task, field, line):
    error = problem(names, gpus_per_task)
    assert isinstance(error, ValueError)
    assert (error.field, str(error)) == (field, line)
    assert str(error) == f"{error.problem} ({error.fix})"


def test_empty_list_is_refused():
    assert str(problem([])) == "lists no instance type (list at least one, such as g4dn.xlarge)"


def test_arm64_is_refused_because_no_gpu_ami_exists_for_it():
    assert gpu_ami_parameter("x86_64") == GPU_AMI_PARAMETER
    assert gpu_ami_parameter("arm64") is None
    assert "g5g.xlarge" not in {t.name for t in it.supported()}


# --- through a model file -------------------------------------------------------------------------------
def config_error(tmp_path, **keys) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_text(tmp_path, seed_text(**keys))
    return caught.value


def test_model_file_error_names_the_line_of_instance_types(tmp_path):
    error = config_error(tmp_path, InstanceTypes="[g4dn.xlarge, c5.xlarge]")
    lines = seed_text(InstanceTypes="[g4dn.xlarge, c5.xlarge]").splitlines()
    assert lines[error.line - 1].startswith("InstanceTypes:")
    assert str(error) == (
        f"{tmp_path / 'model.yaml'}:{error.line}: InstanceTypes: 'c5.xlarge' has no GPU: "
        f"instances would be billed while GPU tasks never place {PICK}"
    )


def test_model_file_error_on_gpus_per_task_names_its_line(tmp_path):
    error = config_error(tmp_path, InstanceTypes="[g5.12xlarge]", GpusPerTask="3")
    lines = seed_text(InstanceTypes="[g5.12xlarge]", GpusPerTask="3").splitlines()
    assert lines[error.line - 1] == "GpusPerTask: 3"
    assert str(error) == (
        f"{tmp_path / 'model.yaml'}:{error.line}: GpusPerTask: 3 GPUs per task do not divide "
        "the 4 GPUs of g5.12xlarge: 1 GPU per instance would idle, billed (set GpusPerTask to "
        "1, 2 or 4)"
    )


def test_model_file_with_a_multi_gpu_type_and_a_divisor_loads(tmp_path):
    config = load_text(tmp_path, seed_text(InstanceTypes="[g5.12xlarge, g6.12xlarge]", GpusPerTask="2"))
    assert it.tasks_per_instance(config.instance_types, config.gpus_per_task) == 2


def test_estimate_refuses_a_config_built_in_code_from_the_same_table(tmp_path):
    from ecs_autoscale import estimate
    from ecs_autoscale.estimate.workload import Workload, WorkloadError

    config = load_text(tmp_path, seed_text()).model_copy(update={"gpus_per_task": 2})
    with pytest.raises(WorkloadError, match=r"^2 GPUs per task exceed the 1 GPU of g4dn.xlarge"):
        estimate.run(config, Workload(videos=1, minutes_per_video=10))


# --- the CLI ---------------------------------------------------------------------------------------------
def test_validate_lists_the_table():
    proc = subprocess.run([str(CLI), "validate", "--list-instance-types"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["type", "GPUs", "GPU", "GiB/GPU", "vCPUs", "memory", "GiB", "arch"]
    listed = {line.split()[0] for line in lines[1:-1]}
    assert listed == {t.name for t in it.supported()}
    assert ["g4dn.xlarge", "1", "T4", "16", "4", "16", "x86_64"] in [line.split() for line in lines]
    assert lines[-1].startswith(f"(table of {it.CATALOG_AS_OF}, from {it.CATALOG_SOURCE}")
    assert "not supported: g5g, p2," in lines[-1] and "g4ad" in lines[-1]


def test_validate_without_files_or_list_is_a_usage_error():
    proc = subprocess.run([str(CLI), "validate"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "Missing argument 'FILES...' (or use --list-instance-types)." in proc.stderr
