"""`status`'s fleet lines: a warm-pool instance held by the termination hook is named, with what releases it."""

from __future__ import annotations

from ecs_autoscale.client.status_text import _fleet_lines


def fleet(pool_states: dict[str, int]) -> dict:
    return {
        "min": 0,
        "max": 3,
        "desired": 0,
        "by_state": {},
        "instances": [],
        "warm_pool": {"state": "Stopped", "min": 0, "max_prepared": 2, "by_state": pool_states},
    }


def test_stale_pool_instances_waiting_on_the_termination_hook_are_explained():
    lines = _fleet_lines(fleet({"Warmed:Terminating:Wait": 2, "Warmed:Pending:Wait": 2}))
    assert "  warm pool (Stopped, min 0): 2 Warmed:Pending:Wait, 2 Warmed:Terminating:Wait" in lines
    [hint] = [line for line in lines if line.startswith("    Warmed:Terminating:Wait: ")]
    assert "`ecs-autoscale deploy` releases them" in hint
    assert not [line for line in _fleet_lines(fleet({"Warmed:Stopped": 2})) if "releases them" in line]
