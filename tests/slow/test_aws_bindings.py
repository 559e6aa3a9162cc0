"""The fast provider-bindings loader (ecs_autoscale/synthesis/aws_bindings.py), checked in real processes.

- The JSON is byte-identical to the standard `import cdktf_cdktf_provider_aws` (seed and spot examples).
- Commands that need no synthesis never load cdktf, jsii or the provider bindings.
- No jsii/Node banner reaches the user, even when the parent environment does not silence it.
- The Node-side preload keeps the provider's real `lib/index.js` complete but lazy.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from helpers import EXAMPLES, REPO, SEED

from ecs_autoscale.synthesis.synth import STACK_FILE, _source_fingerprint

pytestmark = pytest.mark.slow  # fresh processes starting Node, the standard 13-s import among them

CLI = Path(sys.executable).with_name("ecs-autoscale")
SPOT = EXAMPLES / "fathomnet-spot.yaml"
HEAVY = ("cdktf", "jsii", "cdktf_cdktf_provider_aws", "constructs")
SILENCER = "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"
BANNER = re.compile(r"end-of-life|!!!!", re.IGNORECASE)

# Runs the CLI exactly as the console script does, then reports what the process loaded.
PROBE = """
import json, sys
report, args = sys.argv[1], sys.argv[2:]
from ecs_autoscale.cli import main
code = 0
try:
    main(args, prog_name="ecs-autoscale")
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
finally:
    bindings = sys.modules.get("ecs_autoscale.synthesis.aws_bindings")
    with open(report, "w") as out:
        json.dump({"exit": code, "modules": sorted(sys.modules),
                   "lazy_index_active": getattr(bindings, "lazy_index_active", None)}, out)
sys.exit(code)
"""


def probe_cli(tmp_path: Path, *args: object, env: dict | None = None) -> tuple[subprocess.CompletedProcess, dict]:
    report = tmp_path / f"report-{len(list(tmp_path.glob('report-*')))}.json"
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(report), *map(str, args)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert report.exists(), proc.stderr
    return proc, json.loads(report.read_text())


def provider_submodules(modules: list[str]) -> list[str]:
    return [m for m in modules if m.startswith("cdktf_cdktf_provider_aws.")]


def imported_modules(importtime_stderr: str) -> set[str]:
    """Module names from `python -X importtime` output (`import time: self | cumulative | name`)."""
    names = set()
    for line in importtime_stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "package":  # the header line
                names.add(name)
    return names


# --- byte-identical output -------------------------------------------------------------------------
def test_lazy_loader_json_is_byte_identical_to_the_standard_import(tmp_path):
    """Both examples, each way, in fresh processes with the cache disabled. The package source is part
    of what is compared, and this checkout is shared: if someone edits it between the two runs, the
    outputs may legitimately differ, so that attempt is repeated."""
    for _attempt in range(3):
        before = _source_fingerprint()
        runs = {}
        for mode, extra in (("lazy", {}), ("standard", {"ECS_AUTOSCALE_STANDARD_IMPORT": "1"})):
            env = {k: v for k, v in os.environ.items() if k != "ECS_AUTOSCALE_STANDARD_IMPORT"} | extra
            out = tmp_path / f"{mode}-{_attempt}"
            proc, report = probe_cli(tmp_path, "synth", SEED, SPOT, "--out", out, "--no-cache", env=env)
            assert proc.returncode == 0, proc.stderr
            runs[mode] = (out, report)
        if _source_fingerprint() == before:
            break
    (lazy_out, lazy), (standard_out, standard) = runs["lazy"], runs["standard"]

    # The two runs really took different roads.
    assert lazy["lazy_index_active"] is True, "the CLI must start jsii's kernel through aws_bindings"
    assert len(provider_submodules(lazy["modules"])) < 200
    assert standard["lazy_index_active"] is False
    assert len(provider_submodules(standard["modules"])) > 2000

    for stack in ("Megadetector", "fathomnet-benthic"):
        fast = (lazy_out / "stacks" / stack / STACK_FILE).read_bytes()
        slow = (standard_out / "stacks" / stack / STACK_FILE).read_bytes()
        assert fast == slow, f"{stack}: the lazy loader changed the synthesized JSON"


# --- commands that need no synthesis ---------------------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("validate", str(SEED)),
        ("validate", "--list-instance-types"),
        ("doctor", "--help"),
        ("status", "--help"),
        ("outputs", "--help"),
    ],
    ids=lambda a: " ".join(a).replace(str(SEED), "SEED"),
)
def test_commands_without_synthesis_never_load_cdktf_or_jsii(args):
    # The console script itself, as users run it, with Python reporting every import.
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", str(CLI), *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    imported = imported_modules(proc.stderr)
    assert "click" in imported, "importtime output not understood"
    heavy = sorted(m for m in imported if m.split(".")[0] in HEAVY)
    assert heavy == [], f"`ecs-autoscale {' '.join(args)}` imported {heavy[:8]}"


# --- no banner ---------------------------------------------------------------------------------------
def _node_major() -> int:
    version = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True).stdout
    return int(version.strip().lstrip("v").split(".")[0])


def test_no_jsii_or_node_banner_reaches_the_user(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != SILENCER}
    assert SILENCER not in env  # the pytest process has it (ecs_autoscale sets it on import); the user may not

    if _node_major() <= 20:  # the premise: unsilenced, jsii does print its banner on this Node
        control = subprocess.run(
            [sys.executable, "-c", "import constructs"], env=env, capture_output=True, text=True, timeout=120
        )
        assert BANNER.search(control.stdout + control.stderr), "jsii no longer prints its banner here"

    out = tmp_path / "out"
    proc = subprocess.run(
        [str(CLI), "synth", str(SEED), "--out", str(out), "--no-cache"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert not BANNER.search(proc.stdout + proc.stderr)
    assert proc.stderr == ""
    assert proc.stdout.splitlines() == [str(out / "stacks" / "Megadetector" / STACK_FILE)]


# --- Node.js missing or failing -----------------------------------------------------------------------
@pytest.mark.parametrize("problem", ["node not on PATH", "NODE_OPTIONS Node refuses"])
def test_node_that_cannot_start_is_one_clear_line_and_writes_nothing(tmp_path, problem):
    env = {**os.environ, SILENCER: "20"}
    if problem == "node not on PATH":
        env["PATH"] = str(tmp_path / "empty-bin")  # the console script names its Python by absolute path
        expected = "ecs-autoscale: Node.js (node) is not on PATH; cdktf needs it to synthesize: install Node.js"
    else:
        env["NODE_OPTIONS"] = "--no-such-node-flag"
        expected = "ecs-autoscale: Node.js (node) exited while starting cdktf's runtime (its own message is above)"
    out = tmp_path / "out"
    proc = subprocess.run(
        [str(CLI), "synth", str(SEED), "--no-cache", "--out", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1].startswith(expected), proc.stderr
    assert "Traceback" not in proc.stderr and "Error" not in proc.stderr.splitlines()[-1]
    assert not out.exists()


# --- the Node-side preload ---------------------------------------------------------------------------
def test_kernel_start_leaves_the_users_node_options_alone():
    code = (
        "import os; os.environ['NODE_OPTIONS'] = '--max-old-space-size=3000'\n"
        "import ecs_autoscale.synthesis.aws_bindings as b; b.install_lazy_package()\n"
        "print(b.lazy_index_active, repr(os.environ['NODE_OPTIONS']))\n"
        "from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue; print(SqsQueue.__name__)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["True '--max-old-space-size=3000'", "SqsQueue"]


@pytest.fixture(scope="module")
def provider_index(tmp_path_factory) -> Path:
    """The real package.json and lib/index.js of the installed provider assembly, in a node_modules
    tree holding no resource module but one stand-in (lib/sqs-queue)."""
    from ecs_autoscale.synthesis.aws_bindings import LAZY_INDEX_PRELOAD

    spec = importlib.util.find_spec("cdktf_cdktf_provider_aws")
    tarball = next(Path(next(iter(spec.submodule_search_locations)), "_jsii").glob("*.jsii.tgz"))
    root = tmp_path_factory.mktemp("node")
    package = root / "node_modules" / "@cdktf" / "provider-aws"
    wanted = {"package/package.json": package / "package.json", "package/lib/index.js": package / "lib" / "index.js"}
    with tarfile.open(tarball) as archive:
        for member in archive:
            if member.name in wanted:
                wanted[member.name].parent.mkdir(parents=True, exist_ok=True)
                wanted[member.name].write_bytes(archive.extractfile(member).read())
    assert all(p.exists() for p in wanted.values()), f"{tarball} lacks package.json or lib/index.js"
    stand_in = package / "lib" / "sqs-queue" / "index.js"
    stand_in.parent.mkdir()
    stand_in.write_text("globalThis.loaded = (globalThis.loaded || 0) + 1; exports.SqsQueue = class SqsQueue {};\n")
    (root / "preload.js").write_text(LAZY_INDEX_PRELOAD)
    return root


def _node(root: Path, script: str, preload: bool) -> subprocess.CompletedProcess:
    options = ["--require", str(root / "preload.js")] if preload else []
    return subprocess.run(
        [shutil.which("node") or "node", *options, "-e", script], cwd=root, capture_output=True, text=True, timeout=120
    )


def test_preload_makes_the_real_provider_index_lazy_and_complete(provider_index):
    script = (
        "const aws = require('@cdktf/provider-aws');"
        "const names = Object.keys(aws).filter(k => k !== '__esModule');"
        "const before = globalThis.loaded || 0;"
        "const Q = aws.sqsQueue.SqsQueue;"
        "console.log(JSON.stringify({names: names.length, before, after: globalThis.loaded, q: Q.name,"
        " same: aws.sqsQueue === require('@cdktf/provider-aws/lib/sqs-queue')}));"
    )
    proc = _node(provider_index, script, preload=True)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["names"] > 2000  # every namespace is still exported (enumerable)
    assert result["before"] == 0 and result["after"] == 1  # loaded on first use, once
    assert result["q"] == "SqsQueue" and result["same"] is True


def test_without_the_preload_the_index_loads_every_module(provider_index):
    """The control: the real index.js requires all its modules up front (only one exists here)."""
    proc = _node(provider_index, "require('@cdktf/provider-aws')", preload=False)
    assert proc.returncode != 0
    assert "Cannot find module './" in proc.stderr


# --- private jsii hooks ------------------------------------------------------------------------------
def test_a_jsii_without_the_private_hook_costs_speed_with_one_line_never_a_traceback():
    code = (
        "import sys\n"
        "from jsii._runtime import kernel\n"
        "class Hook:  # not a property: as a jsii release whose hook changed\n"
        "    def __init__(self, p): self.p = p\n"
        "    def __get__(self, obj, owner): return self.p.__get__(obj, owner)\n"
        "type(kernel.provider)._process = Hook(type(kernel.provider)._process)\n"
        "import ecs_autoscale.synthesis.aws_bindings as b; b.install_lazy_package()\n"
        "from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue; print(b.lazy_index_active, SqsQueue.__name__)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "SqsQueue"]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("ecs-autoscale:")]
    assert len(lines) == 1 and "private hook" in lines[0] and "Traceback" not in proc.stderr, proc.stderr


def _one_slow_path_line(code: str) -> list[str]:
    """Run `code` in a fresh process; it must succeed with exactly one slow-path line and no traceback."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("ecs-autoscale:")]
    assert len(lines) == 1 and "private hook" in lines[0] and "Traceback" not in proc.stderr, proc.stderr
    return proc.stdout.split()


def test_a_jsii_kernel_without_a_provider_takes_the_slow_path():
    code = (
        "from jsii._runtime import kernel\n"
        "import ecs_autoscale.synthesis.aws_bindings as b\n"
        "provider = vars(kernel).pop('provider')  # as a jsii release that renamed it\n"
        "print(b._start_kernel_with_lazy_index())\n"
        "kernel.provider = provider\n"
        "b.install_lazy_package()\n"
        "from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue; print(SqsQueue.__name__)"
    )
    assert _one_slow_path_line(code) == ["False", "SqsQueue"]


def test_a_jsii_whose_process_hook_fails_takes_the_slow_path_not_node_unavailable():
    code = (
        "from jsii._runtime import kernel\n"
        "hook = type(kernel.provider)._process\n"
        "calls = []\n"
        "def broken(self):  # the first read fails as a changed private hook would; jsii's own start works\n"
        "    calls.append(1)\n"
        "    if len(calls) == 1: raise AttributeError('_NodeProcess has no attribute _handshake')\n"
        "    return hook.fget(self)\n"
        "type(kernel.provider)._process = property(broken)\n"
        "import ecs_autoscale.synthesis.aws_bindings as b; b.install_lazy_package()\n"
        "from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue; print(b.lazy_index_active, SqsQueue.__name__)"
    )
    assert _one_slow_path_line(code) == ["False", "SqsQueue"]


def test_bindings_without_their_jsii_module_take_the_standard_import():
    code = (
        "import importlib.abc, sys\n"
        "class Hide(importlib.abc.MetaPathFinder):  # the first import of _jsii fails, as another layout would\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'cdktf_cdktf_provider_aws._jsii':\n"
        "            sys.meta_path.remove(self)\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Hide())\n"
        "import ecs_autoscale.synthesis.aws_bindings as b; package = b.install_lazy_package()\n"
        "from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue\n"
        "print(type(package.__spec__.loader).__name__ != 'NoneType', SqsQueue.__name__)"
    )
    assert _one_slow_path_line(code) == ["True", "SqsQueue"]
