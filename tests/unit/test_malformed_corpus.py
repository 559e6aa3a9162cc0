"""The corpus of broken model files (tests/malformed, its expected lines in expected.json) is complete and
covers every kind of breakage. Each file run through the real CLI: tests/slow/test_malformed.py; through
click's test runner: tests/unit/test_cli_errors.py."""

from __future__ import annotations

import json

from helpers import TESTS

CORPUS = TESTS / "malformed"
CASES = json.loads((CORPUS / "expected.json").read_text())["cases"]


def test_manifest_lists_exactly_the_corpus_files():
    on_disk = {p.name for p in CORPUS.iterdir() if p.name != "expected.json"}
    assert on_disk == set(CASES), "add new corpus files to expected.json (and remove deleted ones)"
    for name, expected in CASES.items():
        assert set(expected) == {"line", "field", "mentions"}, name
        assert expected["mentions"], name


def test_corpus_covers_the_required_kinds_of_breakage():
    # The list: keep at least one case of each. (Its aws/ecs/fargate StackName prefixes were
    # capacity-provider name rules; the stack has no capacity provider since issue 14.)
    needed = [
        "syntax-",
        "type-",
        "missing-",
        "typo-",
        "range-",
        "name-stackname-too-long",
        "name-stackname-digit-first",
        "name-stackname-underscore",
        "empty.yaml",
        "list-instead-of-mapping",
        "non-utf8-",
        "duplicate-key",
        "stale-blockdevicevolumegb",
        "range-timeouthours-13",
        "s3-uri-",
        "env-overrides-video-queue",
        "tags-",
    ]
    for prefix in needed:
        assert any(name.startswith(prefix) for name in CASES), f"no corpus case {prefix}*"
