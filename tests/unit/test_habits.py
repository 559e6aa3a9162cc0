"""The habits CI relies on: locked dependencies (constraints.txt for Python, `npm ci` on package-lock.json)
and a pre-commit configuration that works offline."""

from __future__ import annotations

import re
from importlib import metadata

import yaml
from helpers import REPO

CONSTRAINTS = REPO / "constraints.txt"


def pins() -> dict[str, str]:
    found = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not NAME==VERSION"
            found[canonical(name)] = version
    return found


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_dependency_of_the_package_is_pinned_at_its_installed_version() -> None:
    pinned = pins()
    for requirement in metadata.requires("ecs-autoscale") or []:
        name = canonical(re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0])
        assert name in pinned, f"{name} is not in constraints.txt: run scripts/bootstrap --update-constraints"
        assert metadata.version(name) == pinned[name], (
            f"{name}: installed {metadata.version(name)}, pinned {pinned[name]}"
        )


def test_bootstrap_installs_the_locked_versions_and_never_rewrites_the_lockfile() -> None:
    script = (REPO / "scripts" / "bootstrap").read_text()
    assert "pip install --quiet -c constraints.txt -e '.[test]'" in script
    assert "npm ci" in script and "npm install" not in script  # npm install may rewrite package-lock.json


def test_pre_commit_runs_the_repos_own_scripts_and_fetches_nothing() -> None:
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())
    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    hooks = config["repos"][0]["hooks"]
    assert {hook["language"] for hook in hooks} == {"system"}
    for hook in hooks:
        command = REPO / hook["entry"].split()[0]
        assert command.is_file() and command.stat().st_mode & 0o111, f"{hook['id']}: {command} is not executable"
