"""CLI errors in-process, through click's CliRunner (the fast tier's share of tests/slow/test_malformed.py, which
runs the installed CLI as a subprocess on the whole corpus): one line, `FILE:LINE: Field: problem (fix)`,
exit 1, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import TESTS

from ecs_autoscale.cli import main

CORPUS = TESTS / "malformed"
CASES = json.loads((CORPUS / "expected.json").read_text())["cases"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_validate_names_file_line_and_field_in_one_line(name: str) -> None:
    expected = CASES[name]
    prefix = str(CORPUS / name) + (f":{expected['line']}" if expected["line"] is not None else "") + ": "
    if expected["field"] is not None:
        prefix += f"{expected['field']}: "
    result = CliRunner().invoke(main, ["validate", str(CORPUS / name)])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(prefix), result.stderr
    for word in expected["mentions"]:
        assert word in lines[0], (word, lines[0])


def test_a_command_error_is_one_prefixed_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["status", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert result.stderr.startswith("ecs-autoscale: ") and len(result.stderr.splitlines()) == 1, result.stderr
