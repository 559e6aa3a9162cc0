"""Importing a module starts no Node process.

Precisely: in a fresh interpreter, importing any module of ecs_autoscale leaves the process without a
child process and without cdktf or jsii loaded, except the modules that define the cdktf constructs
(`ecs_autoscale.synthesis.constructs.*`). Those import cdktf at module level, after
`aws_bindings.install_lazy_package()`, which starts jsii's Node kernel: importing them is using cdktf.
`aws_bindings` and `synth` themselves only define; they load cdktf when called (`install_lazy_package`,
`synthesize` of a changed model).
"""

from __future__ import annotations

import json
import subprocess
import sys

from support.import_graph import modules

USES_CDKTF = ("ecs_autoscale.synthesis.constructs.stack", "ecs_autoscale.synthesis.constructs")

PROBE = r"""
import importlib, json, os, sys

def children():
    found = []
    for task in os.listdir(f"/proc/{os.getpid()}/task"):
        with open(f"/proc/{os.getpid()}/task/{task}/children") as f:
            found += f.read().split()
    return found

report = {}
for name in sys.argv[1:]:
    importlib.import_module(name)
    loaded = sorted(m for m in ("cdktf", "jsii", "constructs", "cdktf_cdktf_provider_aws") if m in sys.modules)
    if children() or loaded:
        report[name] = {"children": children(), "loaded": loaded}
        break
print(json.dumps(report))
"""


def _uses_cdktf(name: str) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in USES_CDKTF)


def test_importing_any_other_module_starts_no_node_and_loads_no_cdktf() -> None:
    names = [name for name in modules() if not _uses_cdktf(name)]
    assert "ecs_autoscale.synthesis.aws_bindings" in names and "ecs_autoscale.synthesis.synth" in names
    proc = subprocess.run([sys.executable, "-c", PROBE, *names], capture_output=True, text=True, timeout=300, env=None)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout) == {}, f"importing this module started a process or loaded cdktf: {proc.stdout}"


def test_the_probe_sees_a_node_kernel_start() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, "ecs_autoscale.synthesis.constructs.stack"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)["ecs_autoscale.synthesis.constructs.stack"]
    assert report["children"] and "cdktf" in report["loaded"]
