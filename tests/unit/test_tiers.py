"""The tiers keep themselves (tests/support/tiers.py): markers follow from the fixtures a test uses, directly
or through other fixtures, `--strict-markers` refuses a misspelt one, and a test outside its tier's folder
fails the collection with one line saying where it belongs. Run on a small suite of its own (pytester)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from helpers import REPO

pytest_plugins = ["pytester"]

CONFTEST = """
import pytest
from support.tiers import mark_and_place

@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    mark_and_place(items, config.rootpath / "tests")

@pytest.fixture
def emulator():
    return "http://127.0.0.1:1"

@pytest.fixture
def deployed(emulator):
    return emulator

@pytest.fixture
def terraform_cli():
    return None
"""
INI = """
[pytest]
addopts = --strict-markers
markers =
    emulator: talks to the emulator
    slow: outside the fast tier
"""


@pytest.fixture
def suite(pytester):
    pytester.makefile(".ini", pytest=INI)
    pytester.makepyfile(
        **{
            "tests/conftest": CONFTEST,
            "tests/unit/test_plain": "def test_plain():\n    pass\n",
            "tests/emulator/test_through": "def test_through(deployed):\n    pass\n",
            "tests/slow/test_tf": "def test_tf(terraform_cli):\n    pass\n",
            "tests/slow/test_marked": "import pytest\n\n@pytest.mark.slow\ndef test_marked():\n    pass\n",
        }
    )
    return pytester


def selected(result) -> list[str]:
    return sorted(line.split("::")[-1] for line in result.outlines if "::" in line)


def test_markers_follow_the_fixtures_a_test_uses_directly_or_through_others(suite):
    fast = suite.runpytest("--collect-only", "-q", "-m", "not emulator and not slow")
    assert fast.ret == 0 and selected(fast) == ["test_plain"]
    assert selected(suite.runpytest("--collect-only", "-q", "-m", "emulator")) == ["test_through"]
    assert selected(suite.runpytest("--collect-only", "-q", "-m", "slow")) == ["test_marked", "test_tf"]


def test_a_test_outside_its_tiers_folder_fails_the_collection_saying_where_it_belongs(suite):
    moved = "tests/unit/test_moved"  # a file the suite makes, not one of the repo
    suite.makepyfile(**{moved: "def test_moved(deployed):\n    pass\n"})
    result = suite.runpytest("--collect-only", "-q")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*test files outside their tier's folder:",
            f"{moved}.py: 1 test(s) of the emulator tier, e.g. test_moved (it uses the emulator "
            "fixture): move them to tests/emulator/ (a new file there if the others stay)",
        ]
    )


def test_a_test_file_at_the_root_of_tests_is_misplaced_too(suite):
    loose = "tests/test_loose"  # a file the suite makes, not one of the repo
    suite.makepyfile(**{loose: "def test_loose():\n    pass\n"})
    result = suite.runpytest("--collect-only", "-q")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"{loose}.py: 1 test(s) of the unit tier, e.g. test_loose (*): move them to tests/unit/*"]
    )


def test_a_misspelt_marker_is_an_error_not_a_fast_test(suite):
    suite.makepyfile(**{"tests/slow/test_typo": "import pytest\n\n@pytest.mark.slwo\ndef test_typo():\n    pass\n"})
    result = suite.runpytest("--collect-only", "-q")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*'slwo' not found in `markers` configuration option*"])


DYNAMIC = {"import_module", "__import__", "spec_from_file_location"}


def test_no_file_under_tests_imports_a_test_module():
    """Shared code lives in tests/helpers.py, tests/support/ or tests/agent_fakes.py: a test module imported by
    another runs its fixtures and tests twice and ties two tiers together. Imports inside functions count."""
    tests = REPO / "tests"
    found = []
    for path in sorted(tests.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or "", *(f"{node.module}.{alias.name}" for alias in node.names)]
            elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in DYNAMIC:
                names = [Path(arg.value).stem for arg in node.args if isinstance(arg, ast.Constant) and arg.value]
            else:
                continue
            if any(part.startswith("test_") for name in names for part in name.split(".")):
                found.append(f"{path.relative_to(REPO)}:{node.lineno}: {ast.unparse(node)}")
    assert found == [], "move what these share into tests/support/ or tests/helpers.py:\n" + "\n".join(found)
