"""docs/security.md, the security model, cites, for each claim, the test that proves it: every cited test exists.

A citation is `tests/<tier>/<file>.py::test_name`, or `::test_name` for the file cited last before it, or a bare
`test_name` already cited in the section; a claim without a citation fails too."""

from __future__ import annotations

import ast
import re

from helpers import REPO

SECURITY_DOC = REPO / "docs" / "security.md"
CITATION = re.compile(r"`(?:(tests/[\w/]+\.py))?(?:::)?(test_\w+)?`")


def security_section() -> str:
    text = SECURITY_DOC.read_text()
    assert text.startswith("# Security model\n"), f"{SECURITY_DOC} is not the security model"
    return text.split("\n", 1)[1]


def functions_of(path: str) -> set[str]:
    tree = ast.parse((REPO / path).read_text())
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}


def test_every_cited_test_exists_and_every_claim_cites_one():
    section = security_section()
    claims = [c for c in re.split(r"^- ", section, flags=re.M)[1:] if c.strip()]
    assert len(claims) >= 10
    current, cited_anywhere, missing = None, set(), []
    for claim in claims:
        cited_here = False
        for path, name in CITATION.findall(claim):
            if path:
                current = path
                assert (REPO / path).is_file(), f"docs/security.md cites {path}, which does not exist"
                cited_here = cited_here or not name
            if name:
                if current is None or name not in functions_of(current):
                    if name not in cited_anywhere:
                        missing.append(f"{current}::{name}")
                cited_anywhere.add(name)
                cited_here = True
        if not cited_here and "Policy scan" not in claim:
            missing.append(f"no test cited for: {claim.splitlines()[0][:80]}")
    assert not missing, missing
