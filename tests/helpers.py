"""Shared helpers for tests that load model files, synthesize stacks or run real terraform.

Model files
    `REPO`, `TESTS`, `EXAMPLES`, `SEED`, `example_files()`; `seed_text(**replace)` / `write_model(folder, text)`
    build a variant of the seed example as users would write it (YAML keys, not attribute names);
    `load_text(folder, text)` writes it and returns `load_config` of it.
Synthesis
    `synth_in_memory(config)`  -> the stack as a dict via cdktf `Testing` (in memory, ~0.1 s once cdktf is
                               loaded; no "//" metadata).
    `product_synth(configs, outdir)` -> {StackName: path} through `ecs_autoscale.synthesis.synth.synthesize`
                               (the real files users get), cache disabled.
    `resources(doc, type)`, `only_resource(doc, type)`, `hcl_call_argument(expr, fn)`, `references(body)`.
Terraform (real binary, provider ONLY from the filesystem mirror, never the network)
    `provider_mirror()`, `terraform_env(folder, extra)`, `terraform(args, cwd, env)`; constants
    `MIRRORED_PROVIDER`, `MIRRORED_VERSION`, `CLOSED_PORT_PROXY` (tests/conftest.py imports these names).
    Missing terraform or mirror is a test failure, never a skip. `terraform_env` drops inherited AWS_*
    and TF_* variables (no real account is ever reachable) and points HTTP(S)_PROXY at a closed port,
    so any accidental download fails fast instead of going out; loopback (the emulator) is exempt.

Generated docs
    `docs_script()` -> scripts/docs loaded as a module (its generators, `stale`, `rewrite`, `main`).

Every synthesis costs seconds: call these from module-scoped fixtures, not per test.
"""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.util
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pytest

from ecs_autoscale.emulator import CLOSED_PORT_PROXY  # re-exported: tests import it from here

REPO = Path(__file__).resolve().parents[1]
CLI = Path(sys.executable).with_name("ecs-autoscale")  # the installed entry point, as users run it
TESTS = REPO / "tests"
EXAMPLES = REPO / "examples"
SEED = EXAMPLES / "megadetector.yaml"
DEFAULT_PROVIDER_MIRROR = "/opt/tf-plugins"
MIRRORED_PROVIDER = "registry.terraform.io/hashicorp/aws"
MIRRORED_VERSION = "5.100.0"


# --- model files -----------------------------------------------------------------------------------
def example_files() -> list[Path]:
    files = sorted(EXAMPLES.glob("*.yaml"))
    assert files, f"no example model files in {EXAMPLES}"
    return files


def seed_text(**replace: object) -> str:
    """The seed file's text with top-level `Key: value` lines replaced (value None drops the line);
    keys not in the seed are appended. Values are written verbatim (give YAML)."""
    lines = SEED.read_text().splitlines()
    pending = dict(replace)
    out = []
    for line in lines:
        key = line.split(":", 1)[0]
        if key in pending:
            value = pending.pop(key)
            if value is not None:
                out.append(f"{key}: {value}")
        else:
            out.append(line)
    out += [f"{key}: {value}" for key, value in pending.items() if value is not None]
    return "\n".join(out) + "\n"


def write_model(folder: Path, text: str, name: str = "model.yaml") -> Path:
    path = Path(folder) / name
    path.write_text(text)
    return path


def load_text(folder: Path, text: str):
    """A ModelConfig from YAML text, through the real file loader."""
    from ecs_autoscale.model.config import load_config

    return load_config(write_model(folder, text))


def file_mode(path: Path) -> int:
    """A file's permission bits (0o600, ...)."""
    return stat.S_IMODE(path.stat().st_mode)


# --- synthesis ---------------------------------------------------------------------------------------
def synth_in_memory(config) -> dict:
    """The synthesized stack of one config, via cdktf's Testing harness (nothing written to the repo)."""
    from cdktf import Testing

    from ecs_autoscale.synthesis.constructs.stack import VideoProcessingStack

    stack = VideoProcessingStack(Testing.app(), config)
    return json.loads(Testing.synth(stack))


def product_synth(configs: Sequence, outdir: Path) -> dict[str, Path]:
    """Synthesize like `ecs-autoscale synth --no-cache`; returns {StackName: path of cdk.tf.json}."""
    from ecs_autoscale.synthesis.synth import synthesize

    return {r.stack_name: r.path for r in synthesize(list(configs), outdir, use_cache=False)}


def resources(doc: Mapping, type_: str) -> dict[str, dict]:
    return doc.get("resource", {}).get(type_, {})


def only_resource(doc: Mapping, type_: str) -> dict:
    found = resources(doc, type_)
    assert len(found) == 1, f"expected exactly one {type_}, found {sorted(found)}"
    return next(iter(found.values()))


def hcl_call_argument(expr: str, fn: str) -> str:
    """The decoded string literal in `${fn("...")}` (how cdktf renders e.g. Fn.base64encode(text))."""
    match = re.fullmatch(r"\$\{" + re.escape(fn) + r'\("((?:[^"\\]|\\.)*)"\)\}', expr, re.S)
    assert match, f'not a ${{{fn}("...")}} expression: {expr[:120]!r}'
    # HCL string escapes (\n \" \\ \t \uNNNN) are a subset of JSON's; `$${`/`%%{` escape templates.
    return json.loads(f'"{match[1]}"').replace("$${", "${").replace("%%{", "%{")


def references(body: object) -> set[str]:
    """Every `type.name` a resource body refers to: interpolations plus depends_on."""
    text = json.dumps(body)
    found = set(re.findall(r"\$\{(?:data\.)?([a-z0-9_]+\.[A-Za-z0-9_-]+)", text))
    if isinstance(body, Mapping):
        found |= set(body.get("depends_on", []))
    return found


# --- generated docs ----------------------------------------------------------------------------------
@functools.cache
def docs_script():
    """scripts/docs as a module (the script has no .py suffix: it is a command)."""
    loader = importlib.machinery.SourceFileLoader("scripts_docs", str(REPO / "scripts" / "docs"))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[loader.name] = module  # dataclasses look their module up there
    loader.exec_module(module)
    return module


# --- terraform ---------------------------------------------------------------------------------------
def terraform_binary() -> str:
    path = shutil.which("terraform")
    if not path:
        from ecs_autoscale.deployment.terraform import TERRAFORM_REQUIREMENT

        pytest.fail(
            f"terraform is not on PATH: install Terraform {TERRAFORM_REQUIREMENT} (README.md, Two commands)",
            pytrace=False,
        )
    return path


def provider_mirror() -> Path:
    """The filesystem mirror holding hashicorp/aws 5.100.0 ($ECS_AUTOSCALE_PROVIDER_MIRROR or /opt/tf-plugins)."""
    mirror = Path(os.environ.get("ECS_AUTOSCALE_PROVIDER_MIRROR") or DEFAULT_PROVIDER_MIRROR)
    wanted = mirror / MIRRORED_PROVIDER / MIRRORED_VERSION
    if not wanted.is_dir():
        pytest.fail(
            f"provider mirror {mirror} lacks {MIRRORED_PROVIDER} {MIRRORED_VERSION} ({wanted} missing): "
            "set ECS_AUTOSCALE_PROVIDER_MIRROR to a folder made by `terraform providers mirror`",
            pytrace=False,
        )
    return mirror


def terraform_env(folder: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for a hermetic terraform run: CLI config in `folder` installs hashicorp/aws only
    from the mirror; nothing inherited can reach a real AWS account or the registry."""
    mirror = provider_mirror()
    rc = Path(folder) / "terraform.rc"
    rc.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{mirror}"\n    include = ["{MIRRORED_PROVIDER}"]\n  }}\n'
        f'  direct {{\n    exclude = ["{MIRRORED_PROVIDER}"]\n  }}\n'
        "}\n"
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "TF_")) and k.lower() not in ("http_proxy", "https_proxy", "no_proxy")
    }
    env.update(
        {
            "TF_CLI_CONFIG_FILE": str(rc),
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
            "HTTP_PROXY": CLOSED_PORT_PROXY,
            "HTTPS_PROXY": CLOSED_PORT_PROXY,
            "NO_PROXY": "127.0.0.1,localhost",
            # No credentials or profile of the machine: a run that would need real AWS fails instead.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
    )
    env.update(extra or {})
    return env


def terraform(
    args: Iterable[str], cwd: Path, env: Mapping[str, str], ok_codes: tuple[int, ...] = (0,)
) -> subprocess.CompletedProcess:
    """Run terraform; a failure fails the test with the command and terraform's own diagnostics."""
    cmd = [terraform_binary(), *args]
    proc = subprocess.run(cmd, cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=900)
    if proc.returncode not in ok_codes:
        pytest.fail(
            f"`{' '.join(cmd[1:])}` in {cwd} exited {proc.returncode}\n"
            f"--- stderr ---\n{proc.stderr[-6000:]}\n--- stdout ---\n{proc.stdout[-6000:]}",
            pytrace=False,
        )
    return proc
