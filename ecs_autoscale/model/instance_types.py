"""The NVIDIA GPU instance types this stack can run, from the table shipped in data/instance_types.json.

`validate` refuses what would launch billed instances that never run a task: an unknown or GPU-less
type, a type the ECS GPU-optimized AMI cannot drive (AMD, Inferentia, Trainium, arm64), one group
mixing architectures (a launch template has one AMI) or GPU counts (the service places tasks per GPU
while the group counts instances), and a GpusPerTask that does not divide the type's GPUs. `doctor`
reads vCPUs from the same table for the vCPU quota. No cdktf, no boto3: `validate` stays instant.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from .ami import gpu_ami_parameter

EXAMPLE_TYPE = "g4dn.xlarge"
LIST_COMMAND = "ecs-autoscale validate --list-instance-types"


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpus: int
    memory_mib: int
    gpus: int
    gpu_model: str
    gpu_memory_gib: float
    arch: str
    """"x86_64" or "arm64"."""

    @property
    def family(self) -> str:
        return family_of(self.name)


class InstanceTypeError(ValueError):
    """One problem with InstanceTypes/GpusPerTask: `str()` is the one line `problem (fix)`; `field`
    names the model-file key the problem belongs to."""

    def __init__(self, problem: str, fix: str, field: str = "InstanceTypes"):
        super().__init__(f"{problem} ({fix})")
        self.problem, self.fix, self.field = problem, fix, field


@functools.lru_cache(maxsize=1)
def _table() -> dict[str, Any]:
    table: dict[str, Any] = json.loads(
        resources.files("ecs_autoscale").joinpath("data/instance_types.json").read_text()
    )
    return table


@functools.lru_cache(maxsize=1)
def catalog() -> dict[str, InstanceType]:
    return {name: InstanceType(name=name, **spec) for name, spec in _table()["instances"].items()}


CATALOG_AS_OF: str = _table()["as_of"]
CATALOG_SOURCE: str = _table()["source"]


def family_of(name: str) -> str:
    return name.split(".", 1)[0]


def lookup(name: str) -> InstanceType | None:
    return catalog().get(name)


def known(name: str) -> InstanceType:
    """A type of the table, e.g. one `validate` accepted (KeyError for another)."""
    return catalog()[name]


def supported() -> list[InstanceType]:
    """The types `validate` accepts (table order): known, and with a GPU AMI for their architecture."""
    return [t for t in catalog().values() if gpu_ami_parameter(t.arch)]


def _families(types: Sequence[InstanceType]) -> list[str]:
    return list(dict.fromkeys(t.family for t in types))


def _known(name: str) -> InstanceType:
    spec = lookup(name)
    if spec is not None:
        return spec
    family = family_of(name)
    table = _table()
    pick = f"pick an NVIDIA GPU type such as {EXAMPLE_TYPE}; `{LIST_COMMAND}` lists them"
    if family in table["no_nvidia_gpu"]:
        raise InstanceTypeError(
            f"{name!r} has no NVIDIA GPU: it has {table['no_nvidia_gpu'][family]}, and the ECS "
            "GPU-optimized AMI drives NVIDIA GPUs only",
            pick,
        )
    if family in table["not_supported"]:
        raise InstanceTypeError(f"{name!r} is not supported: {table['not_supported'][family]}", pick)
    if re.match(table["no_gpu_family_pattern"], family):
        raise InstanceTypeError(f"{name!r} has no GPU: instances would be billed while GPU tasks never place", pick)
    sizes = [t.name.split(".", 1)[1] for t in catalog().values() if t.family == family]
    if sizes:
        raise InstanceTypeError(
            f"{name!r} is not a size of {family} in the instance-type table of {CATALOG_AS_OF}",
            f"{family} sizes: {', '.join(sizes)}",
        )
    raise InstanceTypeError(
        f"{name!r} is not a known NVIDIA GPU instance type: the table of {CATALOG_AS_OF} lists the families "
        f"{', '.join(_families(supported()))}",
        f"`{LIST_COMMAND}` shows every type with its GPUs",
    )


def check_instance_types(names: Sequence[str], gpus_per_task: int) -> None:
    """Raise InstanceTypeError (a ValueError, one line with its fix) unless every type in `names` can
    run this stack's GPU tasks as one Auto Scaling group."""
    if not names:
        raise InstanceTypeError("lists no instance type", f"list at least one, such as {EXAMPLE_TYPE}")
    types = [_known(name) for name in names]
    arches = {t.arch for t in types}
    if len(arches) > 1:
        by_arch = {t.arch: t.name for t in types}
        raise InstanceTypeError(
            f"mixes arm64 ({by_arch['arm64']}) and x86_64 ({by_arch['x86_64']}) types: the group's launch "
            "template has one AMI, built for one architecture",
            "list types of one architecture",
        )
    [arch_] = arches
    if gpu_ami_parameter(arch_) is None:
        raise InstanceTypeError(
            f"{types[0].name} is {arch_} ({types[0].gpu_model}): AWS publishes no ECS GPU-optimized AMI for "
            f"{arch_}, so its tasks would never see a GPU",
            f"pick an x86_64 type such as {EXAMPLE_TYPE}",
        )
    counts = {t.gpus: t.name for t in types}
    if len(counts) > 1:
        listed = ", ".join(f"{name} has {gpus}" for gpus, name in sorted(counts.items()))
        raise InstanceTypeError(
            f"mixes GPU counts ({listed}): ECS places tasks per GPU but the group counts instances, so the "
            "fleet size would mean different task counts",
            "list types with the same number of GPUs",
        )
    [gpus] = counts
    plural = "s" if gpus > 1 else ""
    if gpus_per_task > gpus:
        larger = _fitting(gpus_per_task, types[0])
        raise InstanceTypeError(
            f"{gpus_per_task} GPUs per task exceed the {gpus} GPU{plural} of {types[0].name}: no task could ever "
            "be placed",
            f"lower GpusPerTask to {gpus}"
            + (f", or pick a type such as {larger.name} ({larger.gpus} GPUs)" if larger else ""),
            field="GpusPerTask",
        )
    if gpus % gpus_per_task:
        idle = gpus % gpus_per_task
        divisors = [d for d in range(1, gpus + 1) if gpus % d == 0]
        raise InstanceTypeError(
            f"{gpus_per_task} GPUs per task do not divide the {gpus} GPUs of {types[0].name}: {idle} GPU"
            f"{'s' if idle > 1 else ''} per instance would idle, billed",
            f"set GpusPerTask to {', '.join(map(str, divisors[:-1]))} or {divisors[-1]}",
            field="GpusPerTask",
        )


def _fitting(gpus_per_task: int, like: InstanceType) -> InstanceType | None:
    """The smallest supported type whose GPUs GpusPerTask divides, preferring the family of `like`."""
    fits = [t for t in supported() if t.gpus % gpus_per_task == 0]
    return min(fits, key=lambda t: (t.family != like.family, t.gpus, t.vcpus), default=None)


def tasks_per_instance(names: Sequence[str], gpus_per_task: int) -> int:
    """How many tasks of `gpus_per_task` GPUs one instance of the group holds (checked types)."""
    check_instance_types(names, gpus_per_task)
    return known(names[0]).gpus // gpus_per_task


def arch(names: Sequence[str]) -> str:
    """The one CPU architecture of a group of checked types ("x86_64" or "arm64")."""
    archs = {_known(name).arch for name in names}
    if len(archs) != 1:
        raise InstanceTypeError(f"mixes architectures ({', '.join(sorted(archs))})", "list types of one architecture")
    return archs.pop()


def table_text() -> str:
    """The supported types as a plain table, for `validate --list-instance-types`."""
    rows = [f"{'type':<16} {'GPUs':>4}  {'GPU':<12} {'GiB/GPU':>7} {'vCPUs':>5} {'memory GiB':>10}  arch"]
    for t in supported():
        rows.append(
            f"{t.name:<16} {t.gpus:>4}  {t.gpu_model.removeprefix('NVIDIA '):<12} {t.gpu_memory_gib:>7g} "
            f"{t.vcpus:>5} {t.memory_mib / 1024:>10g}  {t.arch}"
        )
    table = _table()
    not_supported = ", ".join(
        [
            *(f for f in _families(list(catalog().values())) if f not in _families(supported())),
            *table["not_supported"],
            *(f for f in table["no_nvidia_gpu"] if not f.startswith("mac")),
        ]
    )
    rows.append(
        f"(table of {CATALOG_AS_OF}, from {CATALOG_SOURCE} and the ECS GPU AMI's documentation; "
        f"not supported: {not_supported})"
    )
    return "\n".join(rows)
