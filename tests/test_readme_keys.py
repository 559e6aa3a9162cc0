"""README's table of model-file keys is generated from the pydantic model (config.py: each Field's description,
type and default as shown, and hint), so the keys are documented once."""

from __future__ import annotations

import re
from pathlib import Path

from ecs_autoscale.model.config import FIX_HINTS, KNOWN_KEYS, key_docs, key_table

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"<!-- model-keys:start[^>]*-->\n(.*?)<!-- model-keys:end -->", re.S)


def test_readme_key_table_is_the_generated_one() -> None:
    found = BLOCK.search(README.read_text())
    assert found, "README.md lost its <!-- model-keys:start --> ... <!-- model-keys:end --> markers"
    assert found[1] == key_table(), (
        "README's key table differs from the one config.py generates; paste this between the markers "
        "(or change the Field's description / _doc in config.py):\n\n" + key_table()
    )


def test_every_key_is_documented_and_every_hint_comes_from_the_model() -> None:
    docs = {d.key: d for d in key_docs()}
    assert tuple(docs) == KNOWN_KEYS
    for key, doc in docs.items():
        assert doc.yaml_type and doc.default and doc.meaning, f"{key}: type, default and meaning belong in its Field"
    assert FIX_HINTS == {key: doc.hint for key, doc in docs.items() if doc.hint}
    assert set(docs) - set(FIX_HINTS) == {"Comment"}
