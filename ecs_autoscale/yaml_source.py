"""Load a model YAML file keeping the line of every key, so errors can say `FILE:LINE`.

PyYAML silently keeps the last of two duplicate keys; a duplicated `FleetSize` must never deploy the
wrong value, so duplicates are an error here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigError(Exception):
    """A problem in a model file, rendered as one line: `FILE:LINE: Field: problem (fix)`."""

    def __init__(self, path: str | Path, line: int | None, field: str | None, problem: str, fix: str = ""):
        self.path, self.line, self.field, self.problem, self.fix = str(path), line, field, problem, fix
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        what = f"{self.field}: {self.problem}" if self.field else self.problem
        return f"{where}: {what}" + (f" ({self.fix})" if self.fix else "")


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


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys and records the line of each mapping key."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first defined on line {seen[key]})", key_node.start_mark
                )
            seen[key] = line
        return super().construct_mapping(node, deep=True)


def _collect_lines(node: yaml.Node | None, prefix: str, out: dict[str, int]) -> None:
    """Walk the composed node tree: the line of each mapping key, nested keys dotted."""
    if not isinstance(node, yaml.MappingNode):
        return
    for key_node, value_node in node.value:
        dotted = f"{prefix}{key_node.value}"
        out.setdefault(dotted, key_node.start_mark.line + 1)
        _collect_lines(value_node, dotted + ".", out)


def load_yaml(path: str | Path) -> YamlDocument:
    """Read `path` as a YAML mapping; every failure is a ConfigError with file and line."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(path, None, None, "file not found", "check the path") from None
    except IsADirectoryError:
        raise ConfigError(path, None, None, "is a directory, not a model file", "pass the .yaml file") from None
    except OSError as exc:
        raise ConfigError(path, None, None, f"cannot read: {exc.strerror}", "check permissions") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(path, line, None, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
                          "save the file as UTF-8") from None
    loader = _LineLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = " ".join(filter(None, [exc.context, exc.problem])).replace("\n", " ")
        raise ConfigError(path, line, None, f"invalid YAML: {problem}", "fix the YAML syntax") from None
    except yaml.YAMLError as exc:
        raise ConfigError(path, None, None, f"invalid YAML: {exc}", "fix the YAML syntax") from None
    finally:
        loader.dispose()
    if data is None:
        raise ConfigError(path, None, None, "file is empty", "see examples/megadetector.yaml for the keys")
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise ConfigError(path, 1, None, f"expected a mapping of keys, found a {kind}",
                          "write `Key: value` lines, see examples/megadetector.yaml")
    lines: dict[str, int] = {}
    _collect_lines(node, "", lines)
    return YamlDocument(path=path, data=data, lines=lines)
