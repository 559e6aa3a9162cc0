"""Load a model YAML file keeping the line of every key, so errors can say `FILE:LINE: Field`.

PyYAML silently keeps the last of two duplicate keys; a duplicated `FleetSize` must never deploy the
wrong value, so duplicates are an error here. Keys are kept exactly as written (`1:` is the key "1",
not the integer 1), so every key has a line and an unknown key is reported as the user typed it.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import EcsAutoscaleError


class ConfigError(EcsAutoscaleError):
    """A problem in a model file, rendered as one line: `FILE:LINE: Field: problem (fix)`."""

    located = True

    def __init__(self, path: str | Path, line: int | None, field: str | None, problem: str, fix: str = ""):
        self.path, self.line, self.field = str(path), line, field
        super().__init__(problem, fix)

    @property
    def fix(self) -> str:
        return self.hint

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        what = f"{self.field}: {self.problem}" if self.field else self.problem
        # One line, always: a value quoted into the message must not break the format.
        return " ".join(f"{where}: {what}{f' ({self.fix})' if self.fix else ''}".splitlines())


@dataclass
class YamlDocument:
    """The parsed mapping plus the 1-based line of each key (nested keys as `Parent.child`)."""

    path: Path
    data: dict[str, Any]
    lines: dict[str, int] = field(default_factory=dict)

    def line_of(self, key_path: str) -> int | None:
        """Line of a dotted key, falling back to its nearest parent that has a line."""
        parts = key_path.split(".")
        while parts:
            line = self.lines.get(".".join(parts))
            if line:
                return line
            parts.pop()
        return None


class _KeyProblem(Exception):
    """A key that cannot be used (duplicate, not a plain name, or an alias bomb), found before constructing."""

    def __init__(self, line: int, key_path: str | None, problem: str, fix: str):
        self.line, self.key_path, self.problem, self.fix = line, key_path, problem, fix


class _Loader(yaml.SafeLoader):
    """SafeLoader whose mapping keys are the scalar text as written (always a string)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        self.flatten_mapping(node)  # YAML merge keys (`<<: *defaults`) keep working
        return {key_node.value: self.construct_object(value_node, deep=True) for key_node, value_node in node.value}


def _check_keys(node: yaml.Node | None, prefix: str, lines: dict[str, int], walked: set[int] | None = None) -> None:
    """Walk the composed tree: record each key's line (nested keys dotted), reject unusable keys.

    Aliases make the tree a graph; each node is walked once, so an alias bomb stays linear."""
    walked = set() if walked is None else walked
    if id(node) in walked:
        return
    walked.add(id(node))
    if not isinstance(node, yaml.MappingNode):
        if isinstance(node, yaml.SequenceNode):
            for item in node.value:
                _check_keys(item, prefix, lines, walked)
        return
    seen: dict[str, int] = {}
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode):
            kind = "list" if isinstance(key_node, yaml.SequenceNode) else "mapping"
            raise _KeyProblem(
                line, prefix.rstrip(".") or None, f"a key must be a plain name, found a {kind}", "write `Name: value`"
            )
        key = key_node.value
        dotted = f"{prefix}{key}"
        if key in seen:
            raise _KeyProblem(
                line,
                dotted,
                f"duplicate key (first set on line {seen[key]})",
                "keep only one; YAML would silently use the last",
            )
        seen[key] = line
        lines.setdefault(dotted, line)
        _check_keys(value_node, dotted + ".", lines, walked)


MAX_EXPANDED_VALUES = 100_000
"""A model file holds a few dozen values; more through aliases is an alias bomb, refused before it
is expanded (serializing it for the synth cache would never finish)."""


def _expanded_size(node: yaml.Node, memo: dict[int, int], open_nodes: set[int]) -> int:
    """Number of values `node` stands for once every alias is expanded (cycles count once: the
    constructor reports them)."""
    key = id(node)
    if key in memo:
        return memo[key]
    if key in open_nodes:
        return 1
    open_nodes.add(key)
    if isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo, open_nodes) + _expanded_size(v, memo, open_nodes) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(item, memo, open_nodes) for item in node.value)
    else:
        size = 1
    open_nodes.discard(key)
    memo[key] = size
    return size


def _check_size(node: yaml.Node | None) -> None:
    if not isinstance(node, yaml.MappingNode):
        return
    memo: dict[int, int] = {}
    for key_node, value_node in node.value:
        if _expanded_size(value_node, memo, set()) > MAX_EXPANDED_VALUES:
            raise _KeyProblem(
                key_node.start_mark.line + 1,
                getattr(key_node, "value", None),
                f"expands to more than {MAX_EXPANDED_VALUES} values through YAML aliases",
                "write the values out without anchors and aliases",
            )


_KEY_LINE = re.compile(r"^(?P<indent>[ \t]*)(?P<key>[A-Za-z_][\w.-]*)[ \t]*:(?:[ \t]|$)")
_WORD_LINE = re.compile(r"^(?P<indent>\t*)(?P<key>[A-Za-z_][\w.-]*)")


def _key_near(text: str, line: int | None) -> str | None:
    """The key a broken line belongs to, read from the raw text (the YAML could not be parsed).

    A line starting in column 0 (or after tabs) names its own key, even when its ':' is missing;
    an indented line belongs to the nearest top-level key above it; anything else (`---`, `- x`)
    names no key.
    """
    rows = text.splitlines()[:line] if line else []
    if not rows:
        return None
    own = _WORD_LINE.match(rows[-1])
    if own:
        return own["key"]
    if rows[-1][:1] not in (" ", "\t"):
        return None
    for row in reversed(rows[:-1]):
        match = _KEY_LINE.match(row)
        if match and not match["indent"]:
            return match["key"]
    return None


def _syntax_line(exc: yaml.MarkedYAMLError) -> int | None:
    """Where the user's mistake is: an unclosed quote or bracket, or a key without ':' is reported
    by PyYAML at the line where it gave up, but its context mark is the line that opened it."""
    context = exc.context or ""
    opened_here = context.startswith("while scanning a") or context.startswith("while parsing a flow")
    mark = exc.context_mark if opened_here and exc.context_mark else (exc.problem_mark or exc.context_mark)
    return mark.line + 1 if mark else None


def load_yaml(path: str | Path) -> YamlDocument:
    """Read `path` as a YAML mapping; every failure is a ConfigError with file and line."""
    path = Path(path)
    text = _read_text(path)
    loader = _Loader(text)
    lines: dict[str, int] = {}
    try:
        node = loader.get_single_node()
        _check_keys(node, "", lines)
        _check_size(node)
        data = loader.construct_document(node) if node is not None else None
    except _KeyProblem as exc:
        raise ConfigError(path, exc.line, exc.key_path, exc.problem, exc.fix) from None
    except yaml.MarkedYAMLError as exc:
        line = _syntax_line(exc)
        problem = " ".join(filter(None, [exc.context, exc.problem]))
        raise ConfigError(
            path, line, _key_near(text, line), f"invalid YAML: {problem}", "fix the YAML syntax"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(path, None, None, f"invalid YAML: {exc}", "fix the YAML syntax") from None
    except RecursionError:
        raise ConfigError(path, None, None, "invalid YAML: nested too deeply", "fix the YAML syntax") from None
    finally:
        loader.dispose()
    return YamlDocument(path=path, data=_mapping(path, data, node), lines=lines)


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(path, None, None, "file not found", "check the path") from None
    except IsADirectoryError:
        raise ConfigError(path, None, None, "is a directory, not a model file", "pass the .yaml file") from None
    except OSError as exc:
        raise ConfigError(path, None, None, f"cannot read: {exc.strerror}", "check permissions") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        readable = raw.decode("utf-8", errors="replace")
        raise ConfigError(
            path,
            line,
            _key_near(readable, line),
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
            "save the file as UTF-8",
        ) from None


def _mapping(path: Path, data: Any, node: Any) -> dict[str, Any]:
    if data is None:
        raise ConfigError(path, None, None, "file is empty", "see examples/megadetector.yaml for the keys")
    if not isinstance(data, dict):
        kind = {"list": "list", "str": "text string"}.get(type(data).__name__, type(data).__name__)
        raise ConfigError(
            path,
            node.start_mark.line + 1,
            None,
            f"expected a mapping of keys, found a {kind}",
            "write `Key: value` lines, see examples/megadetector.yaml",
        )
    return data
