"""Synthesize model configs to `DIR/stacks/<StackName>/cdk.tf.json`, atomically and with a cache.

The cache key covers everything that can change the output: the validated config, this package's
source (code and templates) and the cdktf / provider-bindings versions. An unchanged model is not
re-synthesized (and cdktf/jsii are never loaded); a changed one always is. N models share one cdktf
App, so start-up is paid once.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import importlib.util
import json
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import DISK_ERRNOS, DISK_HINT, EcsAutoscaleError, WriteFailed
from ..fileio import PRIVATE_FILE_MODE, atomic_write
from ..model.config import ModelConfig
from ..stack_dir import STACK_FILE

KEY_FILE = ".synth-key.json"
PACKAGE_DIR = Path(__file__).resolve().parent
# Packages whose jsii assembly shapes the output; the assembly's file name carries its version.
_JSII_PACKAGES = ("cdktf", "cdktf_cdktf_provider_aws", "constructs")


class DuplicateStackName(EcsAutoscaleError, ValueError):
    """Two model files of one synthesis name the same stack."""


@dataclass(frozen=True)
class SynthResult:
    stack_name: str
    path: Path
    cached: bool


def _source_fingerprint() -> str:
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*")):
        if path.suffix in (".py", ".j2", ".json") and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(PACKAGE_DIR)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _package_folder(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)  # locates without importing (cdktf/jsii imports cost seconds)
    return Path(next(iter(spec.submodule_search_locations))) if spec and spec.submodule_search_locations else None


def _versions() -> dict[str, str]:
    """Versions of the jsii assemblies and the jsii runtime, read from the installed files (name and
    size of each `_jsii/*.jsii.tgz`, jsii's `_metadata.json`) rather than through importlib.metadata,
    whose import and distribution scan cost more than the rest of a cached run's cache check."""
    out = {}
    for package in _JSII_PACKAGES:
        folder = _package_folder(package)
        tarballs = sorted((folder / "_jsii").glob("*.jsii.tgz")) if folder else []
        out[package] = ",".join(f"{t.name}:{t.stat().st_size}" for t in tarballs) or "absent"
    runtime = _package_folder("jsii")
    try:
        out["jsii"] = json.loads((runtime / "_metadata.json").read_text())["version"] if runtime else "absent"
    except (OSError, ValueError, KeyError):
        out["jsii"] = "unknown"
    return out


@functools.cache
def _tooling_fingerprint() -> str:
    """Computed once per process (tests that change what it hashes call `.cache_clear()`)."""
    return json.dumps({"source": _source_fingerprint(), **_versions()}, sort_keys=True)


def cache_key(config: ModelConfig) -> str:
    payload = json.dumps({"config": config.model_dump(mode="json"), "tooling": _tooling_fingerprint()}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def stack_dir(outdir: Path, stack_name: str) -> Path:
    return Path(outdir) / "stacks" / stack_name


def _is_fresh(folder: Path, key: str) -> bool:
    try:
        recorded = json.loads((folder / KEY_FILE).read_text())
        output = (folder / STACK_FILE).read_bytes()
    except (OSError, ValueError):
        return False
    return recorded.get("key") == key and recorded.get("output_sha256") == hashlib.sha256(output).hexdigest()


def synthesize(configs: Sequence[ModelConfig], outdir: str | Path, *, use_cache: bool = True) -> list[SynthResult]:
    """Write one cdk.tf.json per config; nothing is replaced until every stack synthesized."""
    outdir = Path(outdir)
    names = [c.stack_name for c in configs]
    folded = [n.casefold() for n in names]  # IAM names and some file systems ignore case
    duplicates = sorted({n for n in names if folded.count(n.casefold()) > 1})
    if duplicates:
        raise DuplicateStackName(
            f"StackName {duplicates[0]!r} is used by more than one model file (each needs its own)"
        )
    keys = {c.stack_name: cache_key(c) for c in configs}
    stale = [c for c in configs if not (use_cache and _is_fresh(stack_dir(outdir, c.stack_name), keys[c.stack_name]))]
    if stale:
        # Deferred: loading cdktf and jsii is the slow part. The constructs package installs the lazy
        # provider bindings before its first cdktf import (aws_bindings).
        from .constructs.stack import synthesize

        outdir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=outdir, prefix=".synth-") as tmp:
            with _node_write_failures(outdir):
                synthesize(stale, tmp)
            for config in stale:
                data = (stack_dir(Path(tmp), config.stack_name) / STACK_FILE).read_bytes()
                folder = stack_dir(outdir, config.stack_name)
                # Owner-only, as every STACK_DIR file: the JSON holds the model's Environment values.
                atomic_write(folder / STACK_FILE, data, private=True)
                record = {"key": keys[config.stack_name], "output_sha256": hashlib.sha256(data).hexdigest()}
                atomic_write(folder / KEY_FILE, json.dumps(record).encode(), private=True)
    stale_names = {c.stack_name for c in stale}
    for config in configs:
        if config.stack_name not in stale_names:  # written by an earlier version with the umask: tighten
            (stack_dir(outdir, config.stack_name) / STACK_FILE).chmod(PRIVATE_FILE_MODE)
    return [SynthResult(n, stack_dir(outdir, n) / STACK_FILE, n not in stale_names) for n in names]


@contextmanager
def _node_write_failures(outdir: Path) -> Iterator[None]:
    """cdktf's synth runs in Node (jsii): its file-system errors arrive as text, e.g.
    "Error: ENOSPC: no space left on device, write". Those become WriteFailed naming `outdir`."""
    try:
        yield
    except RuntimeError as exc:
        code = re.search(r"\b(" + "|".join(sorted(DISK_ERRNOS)) + r")\b", str(exc))
        if not code:
            raise
        raise WriteFailed(f"cannot write {outdir}: {os.strerror(getattr(errno, code[1]))}", DISK_HINT) from None
