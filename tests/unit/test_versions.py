"""Versions stated once: the moto release the emulator's patches are written for, and the oldest Terraform
(README states it in a block scripts/docs writes: tests/unit/test_docs.py)."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest
from helpers import REPO

from ecs_autoscale.deployment.terraform import TERRAFORM_REQUIREMENT, terraform_version_problem
from ecs_autoscale.emulator import patches


def test_the_patch_layer_refuses_another_moto_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import moto

    monkeypatch.setattr(moto, "__version__", "9.9.9")
    with pytest.raises(patches.MotoVersionMismatch) as caught:
        patches.check_moto_version()
    line = str(caught.value)
    assert "\n" not in line
    assert "moto 9.9.9 is installed" in line and f"pip install 'moto[server]=={patches.MOTO_VERSION}'" in line


def test_moto_is_pinned_to_the_patched_release() -> None:
    import moto

    assert moto.__version__ == patches.MOTO_VERSION
    pins = re.findall(r'"moto\[server\]==([\d.]+)"', (REPO / "pyproject.toml").read_text())
    assert pins and set(pins) == {patches.MOTO_VERSION}


def _fake_terraform(folder: Path, version: str) -> str:
    script = folder / "terraform"
    script.write_text(f'#!/bin/sh\necho \'{{"terraform_version": "{version}"}}\'\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_an_old_terraform_is_refused_with_the_requirement(tmp_path: Path) -> None:
    assert terraform_version_problem(_fake_terraform(tmp_path, "1.11.4")) is None
    problem = terraform_version_problem(_fake_terraform(tmp_path, "1.6.0"))
    assert problem and "Terraform 1.6" in problem and TERRAFORM_REQUIREMENT in problem
    assert "not on PATH" in (terraform_version_problem(os.fspath(tmp_path / "absent")) or "")
