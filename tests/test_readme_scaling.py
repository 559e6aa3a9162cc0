"""docs/scaling.md's figures are what `estimate` computes today, run by run.

The table in docs/scaling.md between the scaling-figures markers is rebuilt here from the estimate model
(shipped defaults, the example files, the commands in its last column); any drift fails with the
table to paste. So no sentence of the docs can promise faster than the estimate shows.
"""

from __future__ import annotations

import re

import pytest
from helpers import EXAMPLES, REPO

from ecs_autoscale.estimate import Workload, run
from ecs_autoscale.estimate.assumptions import apply_overrides
from ecs_autoscale.estimate.report import clock
from ecs_autoscale.model.config import load_config

pytestmark = pytest.mark.slow  # runs every estimate of docs/scaling.md's table

FLEET = EXAMPLES / "megadetector-fleet.yaml"
START, END = "<!-- scaling-figures:start -->", "<!-- scaling-figures:end -->"


def estimate(*overrides: str, sender: str = "ecs-autoscale", spread: float = 0.0, fail: str = "", **keys):
    config = load_config(FLEET)
    if keys:
        config = config.model_copy(update=keys)
    assumptions, prices = apply_overrides(overrides)
    return run(
        config, Workload(40, 20, spread, workers_fail=fail), assumptions, prices, compare_original=True, sender=sender
    )


def ratio(ours: float, original: float) -> str:
    return f"{ours / original:.2f}x"


def table() -> str:
    idle = estimate()  # queue idle for days before the job: the default
    active = estimate("sqs_inactive_wakeup_s=0")
    warm = estimate(warm_pool=2)
    other = estimate(sender="other")
    trickle = [estimate(sender=s, spread=h) for s in ("ecs-autoscale", "other") for h in (6.5, 17)]
    failing = estimate(fail="exit")
    hanging = estimate(fail="hang")
    ours, orig = idle.outcomes
    a_ours, a_orig = active.outcomes
    pool = next(line.usd_month for line in warm.idle if line.item == "Warm pool volumes")
    zero_after = ours.back_to_zero_s - ours.all_done_s
    cuts = sum(o.interrupted for e in (idle, active, warm, other, *trickle) for o in e.outcomes[:1])
    cmd = "`estimate examples/megadetector-fleet.yaml --videos 40 --minutes-per-video 20 --compare-original`"
    rows = [
        ("", "original stack", "ecs-autoscale", "goal", "run"),
        ("---", "---:", "---:", "---", "---"),
        (
            "first task running, queue idle for days",
            clock(orig.first_task_running_s),
            f"{clock(ours.first_task_running_s)} ({ratio(ours.first_task_running_s, orig.first_task_running_s)})",
            "<= 0.7x",
            cmd,
        ),
        (
            "first task running, queue in use",
            clock(a_orig.first_task_running_s),
            f"{clock(a_ours.first_task_running_s)} ({ratio(a_ours.first_task_running_s, a_orig.first_task_running_s)})",
            "<= 0.7x",
            "same, `--assume sqs_inactive_wakeup_s=0`",
        ),
        (
            "cost of a queue idle for days",
            clock(orig.first_task_running_s - a_orig.first_task_running_s),
            clock(ours.first_task_running_s - a_ours.first_task_running_s),
            "<= 0:01:00",
            "the two rows above",
        ),
        (
            "40 videos x 20 min on FleetSize 8: all done",
            clock(orig.all_done_s),
            f"{clock(ours.all_done_s)} (first task + {clock(ours.all_done_s - ours.first_task_running_s)})",
            "first task + 1:40:00 + a few min",
            cmd,
        ),
        (
            "last video done -> zero instances",
            f"never ({orig.still_running} kept)",
            clock(zero_after),
            "<= 0:08:00",
            cmd,
        ),
        (
            "GPU-instance hours (of which idle)",
            f"{orig.instance_seconds / 3600:.2f} ({orig.idle_seconds / 3600:.2f})",
            f"{ours.instance_seconds / 3600:.2f} ({ours.idle_seconds / 3600:.2f})",
            "",
            cmd,
        ),
        (
            "videos cut mid-run (burst, trickle, other client)",
            "",
            str(cuts),
            "0",
            "these runs, plus `--arrival spread:6.5` and `spread:17`, each with `--sender other`",
        ),
        (
            "videos from another client (deepsea-ai ecsprocess): first task, queue idle / in use",
            f"{clock(orig.first_task_running_s)} / {clock(a_orig.first_task_running_s)}",
            f"{clock(other.outcomes[0].first_task_running_s)} "
            f"({ratio(other.outcomes[0].first_task_running_s, orig.first_task_running_s)}) / "
            f"{clock(estimate('sqs_inactive_wakeup_s=0', sender='other').outcomes[0].first_task_running_s)}",
            "(the alarms stay the backstop)",
            "`--sender other`, and with `--assume sqs_inactive_wakeup_s=0`",
        ),
        (
            "with `WarmPool: 2`: first task running",
            "",
            clock(warm.outcomes[0].first_task_running_s),
            "~0:02:00",
            "the file plus `WarmPool: 2`",
        ),
        ("with `WarmPool: 2`: idle cost", "", f"${pool:.2f}/month", "shown", "same"),
        (
            "workers that exit before taking a video: spending stops after",
            "never (runs until stopped)",
            clock(failing.outcomes[0].back_to_zero_s),
            "~0:30:00",
            "`--workers-fail exit`",
        ),
        (
            "workers that hang without taking a video: spending stops after (GPU-instance hours that day)",
            f"never ({hanging.outcomes[1].instance_seconds / 3600:.2f})",
            f"{clock(hanging.outcomes[0].back_to_zero_s)} ({hanging.outcomes[0].instance_seconds / 3600:.2f})",
            "~0:30:00",
            "`--workers-fail hang`",
        ),
    ]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in rows)


def test_readme_scaling_table_is_what_estimate_computes():
    readme = (REPO / "docs" / "scaling.md").read_text()
    match = re.search(re.escape(START) + r"\n(.*?)\n" + re.escape(END), readme, re.S)
    assert match, f"docs/scaling.md has no {START} ... {END} block"
    expected = table()
    assert match[1] == expected, "docs/scaling.md's scaling table drifted from estimate; paste:\n" + expected


def test_the_figures_meet_the_goals_of_issue_14():
    idle, active = estimate(), estimate("sqs_inactive_wakeup_s=0")
    ours, orig = idle.outcomes
    assert ours.first_task_running_s <= 0.7 * active.outcomes[1].first_task_running_s
    assert ours.first_task_running_s - active.outcomes[0].first_task_running_s <= 60
    assert ours.all_done_s <= ours.first_task_running_s + 100 * 60 + 5 * 60
    assert ours.back_to_zero_s - ours.all_done_s <= 8 * 60
    assert ours.interrupted == 0
    assert estimate(warm_pool=2).outcomes[0].first_task_running_s <= 150


def test_a_queue_idle_for_days_costs_another_clients_videos_no_more_than_a_minute():
    """The keep-alive schedule: deepsea-ai ecsprocess users start as quickly after days of silence."""
    idle, active = estimate(sender="other"), estimate("sqs_inactive_wakeup_s=0", sender="other")
    assert idle.outcomes[0].first_task_running_s - active.outcomes[0].first_task_running_s <= 60
    assert idle.outcomes[0].first_task_running_s <= 0.7 * idle.outcomes[1].first_task_running_s
