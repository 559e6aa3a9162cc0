"""How library code talks to a person: through an `echo` callback (the CLI passes click.echo), never print."""

from __future__ import annotations

from collections.abc import Callable

Echo = Callable[[str], None]


def silent(_line: str) -> None:
    """An echo that says nothing: the default of library calls made by scripts and tests."""
