"""Patches closing gaps in moto 5.2.5 that break terraform (aws provider 5.100.0)."""

from __future__ import annotations

_applied = False


def apply_all() -> None:
    global _applied
    if _applied:
        return
    _applied = True
