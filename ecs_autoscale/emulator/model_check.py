"""Would AWS accept these parameters? The constraints of botocore's service model, all of them.

botocore's `ParamValidator` (what boto3 runs before sending) checks required members, unknown
members, types, and the `min` of strings, lists and numbers. AWS also enforces what the model says
beyond that, and moto enforces little of it, so `check` adds:
- `max` of strings (characters), lists, maps, blobs and numbers, and `min` of maps and blobs;
- `enum` of strings, map keys included;
- `pattern` of strings, which must match the WHOLE value: the Smithy spec calls patterns unanchored,
  but AWS services match them whole (DynamoDB refuses the table name `"name"`, quotes included, with
  "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+": aws/aws-cli#790; IAM refuses
  role names with a space under `[\\w+=,.@-]+`). Patterns are Java regular expressions, compiled
  with the `regex` module (Unicode classes such as \\p{L}) after rewriting the two Java idioms it
  reads differently: POSIX classes such as \\p{Print} (ASCII in Java) and surrogate pairs
  (\\uD800\\uDC00 is one code point in Java).
"""

from __future__ import annotations

import functools
import re
from typing import Any

import regex
from botocore.model import Shape
from botocore.validate import ParamValidator

from .wire import ApiCall

Problem = tuple[str, str]
"""(member path such as `Tags[0].Key`, what is wrong with it)."""

# Java's POSIX character classes are US-ASCII; the regex module would read them as Unicode.
_POSIX = {
    "Lower": "a-z",
    "Upper": "A-Z",
    "ASCII": r"\x00-\x7F",
    "Alpha": "a-zA-Z",
    "Digit": "0-9",
    "Alnum": "a-zA-Z0-9",
    "Punct": r"!-/:-@\[-`{-~",
    "Graph": r"!-~",
    "Print": r"\x20-\x7E",
    "Blank": r" \t",
    "Cntrl": r"\x00-\x1F\x7F",
    "XDigit": "0-9a-fA-F",
    "Space": r" \t\n\x0B\f\r",
}
_NUMBERS = ("integer", "long", "float", "double")


def check(call: ApiCall) -> list[Problem]:
    """Everything the model of `call`'s operation rejects in its parameters (none: AWS would accept
    them), plus what was wrong on the wire."""
    return verdict(call)[1]


def verdict(call: ApiCall) -> tuple[ApiCall, list[Problem]]:
    """The reading of the request with the fewest problems (REST operations sharing one URI), and them."""
    return min(((c, _check_one(c)) for c in [call, *call.alternatives]), key=lambda pair: len(pair[1]))


def _check_one(call: ApiCall) -> list[Problem]:
    problems = list(call.problems)
    shape = call.model().input_shape
    if shape is None:
        return problems + ([("", "the operation takes no parameters")] if call.params else [])
    report = ParamValidator().validate(call.params, shape)
    # The report's entries are (reason, member, details); its own formatter words them.
    problems += [
        (name.lstrip(".") or "(input)", report._format_error((reason, name, details)))
        for reason, name, details in report._errors
    ]
    _limits(call.params, shape, "", problems)
    return problems


def _limits(value: Any, shape: Shape, name: str, out: list[Problem]) -> None:
    """The constraints ParamValidator leaves out; values of the wrong type are its to report."""
    kind, meta = shape.type_name, shape.metadata
    if kind == "structure" and isinstance(value, dict) and not shape.is_document_type:
        for key, item in value.items():
            if key in shape.members:
                _limits(item, shape.members[key], f"{name}.{key}" if name else key, out)
    elif kind == "list" and isinstance(value, (list, tuple)):
        _size(len(value), meta, name, "items", out, check_min=False)
        for i, item in enumerate(value):
            _limits(item, shape.member, f"{name}[{i}]", out)
    elif kind == "map" and isinstance(value, dict):
        _size(len(value), meta, name, "entries", out, check_min=True)
        for key, item in value.items():
            _limits(key, shape.key, f"{name} (key {key!r})", out)
            _limits(item, shape.value, f"{name}.{key}", out)
    else:
        _scalar_limits(value, shape, name, out)


def _scalar_limits(value: Any, shape: Shape, name: str, out: list[Problem]) -> None:
    kind, meta = shape.type_name, shape.metadata
    if kind == "string" and isinstance(value, str):
        _size(len(value), meta, name, "characters", out, check_min=False)
        if shape.enum and value not in shape.enum:
            out.append((name, f"{_show(value)} is not one of {_enum(shape.enum)}"))
        pattern = java_pattern(meta["pattern"]) if "pattern" in meta else None
        if pattern is not None and not pattern.fullmatch(value):
            out.append((name, f"{_show(value)} does not match the pattern {meta['pattern']}"))
    elif kind == "blob" and isinstance(value, (bytes, bytearray, str)):
        _size(len(value), meta, name, "bytes", out, check_min=True)
    elif kind in _NUMBERS and isinstance(value, (int, float)) and not isinstance(value, bool):
        if "max" in meta and value > meta["max"]:
            out.append((name, f"{value} is above the maximum {meta['max']}"))


def _size(size: int, meta: dict, name: str, unit: str, out: list[Problem], check_min: bool) -> None:
    if "max" in meta and size > meta["max"]:
        out.append((name, f"{size} {unit}, at most {meta['max']} allowed"))
    if check_min and "min" in meta and size < meta["min"]:
        out.append((name, f"{size} {unit}, at least {meta['min']} required"))


def _enum(values: list[str], shown: int = 6) -> str:
    listed = ", ".join(values[:shown])
    return listed if len(values) <= shown else f"{listed}, ... ({len(values)} values)"


def _show(value: str, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@functools.cache
def java_pattern(pattern: str) -> regex.Pattern | None:
    """A Smithy (Java) pattern compiled for Python; None if it cannot be (tests/unit/test_request_check.py
    asserts that every pattern of the services the stack uses compiles, so None is never silent)."""

    def pair(m: re.Match) -> str:
        high, low = int(m.group(1), 16), int(m.group(2), 16)
        return "\\U%08X" % (0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))

    text = re.sub(r"\\u(D[89AB][0-9A-F]{2})\\u(D[C-F][0-9A-F]{2})", pair, pattern, flags=re.IGNORECASE)

    def posix(m: re.Match) -> str:
        before = re.sub(r"\\.", "", m.string[: m.start()])  # escaped characters are not brackets
        inside = before.count("[") > before.count("]")
        return _POSIX[m.group(1)] if inside else f"[{_POSIX[m.group(1)]}]"

    text = re.sub(r"\\p\{(" + "|".join(_POSIX) + r")\}", posix, text)
    try:
        return regex.compile(text)
    except regex.error:
        return None
