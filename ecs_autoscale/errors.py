"""The one base of every expected failure: a problem the user can fix, said in one line.

`EcsAutoscaleError(problem, hint)` reads `problem (hint)`. The CLI turns it, and every other expected
failure (AWS, a full disk, Ctrl-C), into `ecs-autoscale: <line>` in one place: `cli/errors.py`'s
`failures()`. Library code raises these and never prints.
"""

from __future__ import annotations


class EcsAutoscaleError(Exception):
    """An expected failure: what went wrong (`problem`) and what to do about it (`hint`, may be empty)."""

    def __init__(self, problem: str, hint: str = "") -> None:
        super().__init__(problem)
        self.problem = problem
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.problem} ({self.hint})" if self.hint else self.problem
