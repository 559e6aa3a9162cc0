"""Test tiers that keep themselves: each test's markers follow from the fixtures it uses, and its folder
from its markers (tests/conftest.py calls `mark_and_place` before `-m` selects).

    emulator  the test requests the `emulator` fixture, directly or through other fixtures (aws_client,
              cli_env, ecs_cli, ...): it talks to the moto emulator on loopback. Marked by hand only
              where a test starts an emulator of its own.
    slow      the test requests a fixture of SLOW_FIXTURES (real terraform, the installed CLI run in
              bulk); marked by hand (`pytestmark = pytest.mark.slow  # why`) only where no fixture tells:
              long simulations, fresh processes that start Node.
    unit      neither: the fast tier (`scripts/test --fast` runs `-m "not emulator and not slow"`).

A test file lives in tests/<tier>/: a test whose tier is not its folder's fails the collection with one
line saying where it belongs, so a new fixture dependency cannot silently move a test between tiers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TIERS = ("unit", "slow", "emulator")
SLOW_FIXTURES = {
    "terraform_cli": "it runs real terraform",
    "installed_cli": "it runs the installed CLI as processes, in bulk",
}


def _derive(item: pytest.Item) -> None:
    used = set(item.fixturenames)  # the fixture closure: what the test's fixtures request counts too
    if "emulator" in used:
        item.add_marker(pytest.mark.emulator)
    if used & SLOW_FIXTURES.keys():
        item.add_marker(pytest.mark.slow)


def tier_of(item: pytest.Item) -> str:
    if item.get_closest_marker("emulator"):
        return "emulator"
    if item.get_closest_marker("slow"):
        return "slow"
    return "unit"


def _why(item: pytest.Item, tier: str) -> str:
    used = set(item.fixturenames)
    if tier == "emulator":
        return "it uses the emulator fixture" if "emulator" in used else "it is marked emulator"
    if tier == "slow":
        reasons = [SLOW_FIXTURES[name] for name in sorted(used & SLOW_FIXTURES.keys())]
        return "; ".join(reasons) or "it is marked slow"
    return "it uses no emulator or slow fixture and has no marker"


def mark_and_place(items: list[pytest.Item], tests: Path) -> None:
    """Add the derived markers; raise UsageError naming every test file whose tests are in the wrong folder."""
    misplaced: dict[tuple[Path, str], list[pytest.Item]] = {}
    for item in items:
        _derive(item)
        try:
            folder = item.path.relative_to(tests).parts
        except ValueError:
            continue  # not one of the suite's files
        tier = tier_of(item)
        if len(folder) < 2 or folder[0] != tier:
            misplaced.setdefault((item.path, tier), []).append(item)
    if misplaced:
        lines = [
            f"{path.relative_to(tests.parent)}: {len(found)} test(s) of the {tier} tier, e.g. {found[0].name} "
            f"({_why(found[0], tier)}): move them to tests/{tier}/ (a new file there if the others stay)"
            for (path, tier), found in sorted(misplaced.items(), key=lambda entry: (str(entry[0][0]), entry[0][1]))
        ]
        raise pytest.UsageError("test files outside their tier's folder:\n" + "\n".join(lines))
