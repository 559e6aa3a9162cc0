"""Paths named in code, comments and docs exist: a module moved or renamed leaves no reference to where it
was (the `infra/` folder, `client/scaling.py`, `tests/test_deepsea_ai.py` outlived their moves).

Every tracked text file is read. A `dir/name.py` or `dir/name.md` reference must name a tracked file
relative to the file's own folder or one above it (the repo root, `tests/`, a package) or to the package
`ecs_autoscale/`; a Markdown link must name a tracked file relative to its page; `infra/...` and
`infra.` modules are gone for good; `ecs_autoscale.` dotted names must import. Placeholders are written
in capitals (`STACK_DIR/README.md`) and are not paths. Exact paths, no patterns of exemptions."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
from pathlib import Path, PurePosixPath

from helpers import REPO

TEXT_SUFFIXES = (".py", ".md", ".txt", ".j2", ".toml", ".yaml", ".yml", ".cfg", ".sh", ".json")
SELF = "tests/unit/test_references.py"  # its examples of stale references are the test's own

PATH = re.compile(r"(?<![\w./<-])((?:\.\./)*(?:[\w.-]+/)+[\w.-]+\.(?:py|md))(?![\w/-]|\.\w)")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)\s]*)?\)")
INFRA = re.compile(r"(?<![\w./-])infra[/.]\w[\w./]*")
DOTTED = re.compile(r"(?<![\w.])ecs_autoscale(?:\.\w+)+")
PLACEHOLDER = re.compile(r"^[A-Z][A-Z_]*$")


def tracked() -> list[str]:
    """The repo's files as a clone has them: what CI checks out."""
    listing = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True)
    return [name for name in listing.stdout.splitlines() if (REPO / name).is_file()]


def texts(files: list[str]) -> list[str]:
    return [f for f in files if f.endswith(TEXT_SUFFIXES) or f.startswith(("scripts/", ".ci/"))]


def resolves(ref: str, bases: list[str], exists: set[str]) -> bool:
    return any(os.path.normpath(os.path.join(base, ref)) in exists for base in bases)


def imports(dotted: str) -> bool:
    """The name is a module, or an attribute of one (the last part may be a function or a class)."""
    for name in (dotted, dotted.rpartition(".")[0]):
        try:
            if importlib.util.find_spec(name) is not None:
                return True
        except ModuleNotFoundError:
            continue
    return False


def stale_references(root: Path, files: list[str]) -> list[str]:
    exists = set(files)
    found = []
    for name in texts(files):
        if name == SELF:
            continue
        try:
            text = (root / name).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            found += [f"{name}:{number}: {problem}" for problem in line_problems(name, line, exists)]
    return found


def line_problems(name: str, line: str, exists: set[str]) -> list[str]:
    here = PurePosixPath(name).parent
    bases = [str(here), *map(str, here.parents), "ecs_autoscale"]
    problems = [f"{m.group(0)} (the infra/ folder is gone)" for m in INFRA.finditer(line)]
    for m in PATH.finditer(line):
        ref = m.group(1)
        placeholder = any(PLACEHOLDER.match(part) for part in ref.split("/")[:-1])
        if not (ref.startswith("infra/") or placeholder or resolves(ref, bases, exists)):  # infra/: said above
            problems.append(f"{ref} does not exist")
    if name.endswith(".md"):
        links = [m.group(1) for m in LINK.finditer(line)]
        problems += [
            f"link {ref} does not exist"
            for ref in links
            if "://" not in ref and not ref.startswith("mailto:") and not resolves(ref, [str(here)], exists)
        ]
    return problems + [f"{m.group(0)} does not import" for m in DOTTED.finditer(line) if not imports(m.group(0))]


def test_every_path_named_in_code_comments_and_docs_exists() -> None:
    stale = stale_references(REPO, tracked())
    assert stale == [], "name it where it is now (or drop the reference):\n" + "\n".join(stale)


def test_the_scan_finds_a_renamed_module_the_old_folder_and_a_broken_link(tmp_path: Path) -> None:
    files = ["README.md", "docs/scaling.md", "ecs_autoscale/client/group_sizing.py", "docs/page.md"]
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    page = [
        "client/scaling.py (renamed) and client/group_sizing.py (there, relative to the package)",
        "infra/lookup.py and infra.service.contract_environment",
        "ecs_autoscale.client.scaling.desired and ecs_autoscale.client.group_sizing.raise_group",
        "[here](scaling.md) [up](../README.md#two-commands) [gone](nowhere.md) [web](https://aws.amazon.com/)",
        "STACK_DIR/README.md is a placeholder",
    ]
    (tmp_path / "docs/page.md").write_text("\n".join(page) + "\n")
    assert stale_references(tmp_path, files) == [
        "docs/page.md:1: client/scaling.py does not exist",
        "docs/page.md:2: infra/lookup.py (the infra/ folder is gone)",
        "docs/page.md:2: infra.service.contract_environment (the infra/ folder is gone)",
        "docs/page.md:3: ecs_autoscale.client.scaling.desired does not import",
        "docs/page.md:4: link nowhere.md does not exist",
    ]
