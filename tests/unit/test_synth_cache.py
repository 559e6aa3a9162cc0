"""The synth cache (ecs_autoscale/synthesis/synth.py): an unchanged model is served from the cache without
loading cdktf; anything that can change the output (any model field, the JSON on disk, the package
source, the binding versions) re-synthesizes; N models share one cdktf App.

In-process tests pin the package-source fingerprint: this checkout is shared and edited while tests
run, and an edit (correctly) invalidates the cache. They load jsii once per pytest process (~2 s).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO, SEED, seed_text, write_model

from ecs_autoscale.model.config import load_config
from ecs_autoscale.synthesis import synth

CLI = Path(sys.executable).with_name("ecs-autoscale")
HEAVY = ("cdktf", "jsii", "cdktf_cdktf_provider_aws", "constructs")


@pytest.fixture
def pinned_source(monkeypatch):
    """A fixed package-source fingerprint; returns a setter to change it."""

    def pin(value: str) -> None:
        monkeypatch.setattr(synth, "_source_fingerprint", lambda: value)
        synth._tooling_fingerprint.cache_clear()

    pin("pinned-source")
    yield pin
    synth._tooling_fingerprint.cache_clear()


def model(tmp_path: Path, name: str = "model.yaml", **replace: object):
    return load_config(write_model(tmp_path, seed_text(**replace), name))


def run_once(config, out: Path) -> synth.SynthResult:
    [result] = synth.synthesize([config], out)
    return result


# --- unchanged -------------------------------------------------------------------------------------
def test_unchanged_model_is_cached(tmp_path, pinned_source):
    config = model(tmp_path)
    first = run_once(config, tmp_path / "out")
    before = (first.path.read_bytes(), first.path.stat().st_ino)
    again = run_once(model(tmp_path), tmp_path / "out")  # re-read from the file, as a new run would
    assert (first.cached, again.cached) == (False, True)
    assert (again.path.read_bytes(), again.path.stat().st_ino) == before


def _importtime_modules(stderr: str) -> set[str]:
    return {
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def test_cached_run_never_loads_cdktf_or_jsii(tmp_path):
    """The real console script in fresh processes: prime, then re-run with `python -X importtime`.
    Someone editing the shared checkout between the two runs (a correct cache miss) means retry."""
    out = tmp_path / "out"
    for _attempt in range(3):
        fingerprint = synth._source_fingerprint()
        prime = subprocess.run(
            [str(CLI), "synth", str(SEED), "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=600
        )
        assert prime.returncode == 0, prime.stderr
        cached = subprocess.run(
            [sys.executable, "-X", "importtime", str(CLI), "synth", str(SEED), "--out", str(out)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert cached.returncode == 0, cached.stderr[-3000:]
        if cached.stdout.endswith("(unchanged)\n") or synth._source_fingerprint() == fingerprint:
            break
    assert cached.stdout.splitlines() == [f"{out / 'stacks' / 'Megadetector' / synth.STACK_FILE} (unchanged)"]
    imported = _importtime_modules(cached.stderr)
    assert "ecs_autoscale.synthesis.synth" in imported, "importtime output not understood"
    assert sorted(m for m in imported if m.split(".")[0] in HEAVY) == []


# --- what invalidates ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "field, value",
    [
        ("Tags", "{team: video-lab}"),
        ("FleetSize", "3"),
        ("TimeoutHours", "3"),
        ("Comment", "only a comment changed"),  # no effect on the JSON, still a different model
    ],
)
def test_any_changed_field_resynthesizes(tmp_path, pinned_source, field, value):
    out = tmp_path / "out"
    base = run_once(model(tmp_path), out)
    base_bytes = base.path.read_bytes()
    assert run_once(model(tmp_path), out).cached

    changed = run_once(model(tmp_path, **{field: value}), out)
    assert changed.cached is False
    if field == "Tags":
        assert b'"team": "video-lab"' in changed.path.read_bytes()
    elif field != "Comment":
        assert changed.path.read_bytes() != base_bytes
    assert run_once(model(tmp_path, **{field: value}), out).cached  # and that version is cached in turn


def test_hand_edited_json_is_resynthesized(tmp_path, pinned_source):
    out = tmp_path / "out"
    first = run_once(model(tmp_path), out)
    original = first.path.read_bytes()
    first.path.write_bytes(original.replace(b'"Megadetector"', b'"Edited"', 1))
    again = run_once(model(tmp_path), out)
    assert again.cached is False
    assert again.path.read_bytes() == original


def test_missing_cache_record_resynthesizes(tmp_path, pinned_source):
    out = tmp_path / "out"
    first = run_once(model(tmp_path), out)
    (first.path.parent / synth.KEY_FILE).unlink()
    assert run_once(model(tmp_path), out).cached is False


def test_changed_package_source_resynthesizes(tmp_path, pinned_source):
    out = tmp_path / "out"
    run_once(model(tmp_path), out)
    assert run_once(model(tmp_path), out).cached
    pinned_source("the package source changed")
    assert run_once(model(tmp_path), out).cached is False
    assert run_once(model(tmp_path), out).cached


def test_changed_binding_versions_resynthesize(tmp_path, pinned_source, monkeypatch):
    out = tmp_path / "out"
    run_once(model(tmp_path), out)
    real = synth._versions()
    assert "provider-aws@" in real["cdktf_cdktf_provider_aws"] and real["jsii"] not in ("absent", "unknown")
    monkeypatch.setattr(
        synth, "_versions", lambda: {**real, "cdktf_cdktf_provider_aws": "provider-aws@99.0.0.jsii.tgz:1"}
    )
    synth._tooling_fingerprint.cache_clear()
    assert run_once(model(tmp_path), out).cached is False


def test_source_fingerprint_covers_code_and_templates(tmp_path, monkeypatch):
    package = tmp_path / "pkg"
    (package / "templates").mkdir(parents=True)
    (package / "a.py").write_text("x = 1\n")
    (package / "templates" / "t.j2").write_text("{{ x }}\n")
    monkeypatch.setattr(synth, "PACKAGE_DIR", package)
    seen = {synth._source_fingerprint()}
    (package / "a.py").write_text("x = 2\n")
    seen.add(synth._source_fingerprint())
    (package / "templates" / "t.j2").write_text("{{ y }}\n")
    seen.add(synth._source_fingerprint())
    assert len(seen) == 3


# --- several models --------------------------------------------------------------------------------
def test_n_models_synthesize_in_one_app(tmp_path, pinned_source, monkeypatch):
    from ecs_autoscale.synthesis.constructs import stack

    apps = []

    class CountingApp(stack.App):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            apps.append(self)

    monkeypatch.setattr(stack, "App", CountingApp)
    names = ["ModelA", "ModelB", "ModelC"]
    configs = [model(tmp_path, f"{n}.yaml", StackName=n) for n in names]
    results = synth.synthesize(configs, tmp_path / "out")
    assert len(apps) == 1
    assert [(r.stack_name, r.cached) for r in results] == [(n, False) for n in names]
    for result in results:
        assert f'"value": "{result.stack_name}"'.encode() in result.path.read_bytes()


def test_only_stale_models_are_resynthesized(tmp_path, pinned_source):
    out = tmp_path / "out"
    a, b = model(tmp_path, "a.yaml", StackName="ModelA"), model(tmp_path, "b.yaml", StackName="ModelB")
    synth.synthesize([a, b], out)
    kept = synth.stack_dir(out, "ModelA") / synth.STACK_FILE
    inode = kept.stat().st_ino
    b2 = model(tmp_path, "b.yaml", StackName="ModelB", FleetSize="2")
    results = synth.synthesize([a, b2], out)
    assert [(r.stack_name, r.cached) for r in results] == [("ModelA", True), ("ModelB", False)]
    assert kept.stat().st_ino == inode


def test_library_refuses_stack_names_differing_only_in_case_and_writes_nothing(tmp_path):
    """The CLI reports this with file and line first; the library guards callers that skip the CLI."""
    upper = load_config(write_model(tmp_path, seed_text(), "a.yaml"))
    lower = load_config(write_model(tmp_path, seed_text(StackName="megadetector"), "b.yaml"))
    with pytest.raises(ValueError, match="StackName 'Megadetector' is used by more than one model file"):
        synth.synthesize([upper, lower], tmp_path / "out")
    assert not (tmp_path / "out").exists()
