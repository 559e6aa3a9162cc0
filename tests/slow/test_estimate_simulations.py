"""`ecs-autoscale estimate` over hours and days of simulated scaling (the slow tier): a late SQS minute, and
workers that exit or hang without taking a video. Assumptions pinned as in tests/support/estimate.py;
the rest of the model's tests are in tests/unit/test_estimate.py.
"""

from __future__ import annotations

import dataclasses

import pytest
from support.estimate import PINNED, fleet, ours, timeline

from ecs_autoscale.estimate import Workload, run
from ecs_autoscale.model.scaling_design import design_for

pytestmark = pytest.mark.slow  # simulates hours or a day of scaling, minute by minute


# --- other clients: the backstop alarm -----------------------------------------------------------------
def test_a_late_sqs_minute_reads_as_covered_and_one_of_three_still_fires(tmp_path):
    # Metric math counts a missing SQS datapoint as 0 (CloudWatch User Guide): with SQS a minute
    # later than the group metric, the newest datapoint always reads covered. 1 of 1 never fires;
    # 1 of 3 (the design) does.
    config = fleet(tmp_path, 1)
    late = dataclasses.replace(PINNED, sqs_metric_delay_s=120)
    design = design_for(config)
    ok = ours(config, 1, 10, sender="other", assumptions=late).outcomes[0]
    assert ok.first_task_running_s is not None and ok.all_done_s < 3600
    one_of_one = dataclasses.replace(design, scale_out_evaluation_periods=1)
    with pytest.raises(Exception, match="did not settle"):
        ours(config, 1, 10, sender="other", assumptions=late, design=one_of_one)


# --- workers that cannot take videos ------------------------------------------------------------------
def test_a_stack_whose_workers_cannot_take_videos_stops_spending_within_half_an_hour(tmp_path):
    e = run(fleet(tmp_path, 8), Workload(40, 20, workers_fail="exit"), PINNED, compare_original=True)
    this, original = e.outcomes
    halted = [(t, text) for t, text in timeline(this, ("capacity",)) if "agent halted the stack" in text]
    assert len(halted) == 1 and halted[0][0] <= 30 * 60
    assert this.back_to_zero_s <= 30 * 60 and this.all_done_s is None and this.first_video_started_s is None
    # the original has no guard: its fleet runs the whole day the model watches
    assert original.back_to_zero_s is None and original.still_running == 8
    assert original.instance_seconds > 20 * this.instance_seconds


@pytest.mark.parametrize("sender", ["ecs-autoscale", "other"])
def test_workers_that_hang_are_stopped_by_the_stuck_alarm_and_never_relaunched(tmp_path, sender):
    """No exit, so no agent halt: the stuck alarm stops the fleet, and the not-taken condition keeps the
    backstop from launching it again a minute later (which cycled every ~33 minutes all day)."""
    e = run(fleet(tmp_path, 8), Workload(40, 20, workers_fail="hang"), PINNED, sender=sender)
    [this] = e.outcomes
    changes = timeline(this, ("capacity",))
    assert [text for _, text in changes if "stuck alarm" in text] == [
        "stuck alarm (no video taken for 30 min): instances 8 -> 0"
    ]
    assert not [t for t, text in changes if "scale-out alarm" in text and t > 30 * 60]
    assert this.back_to_zero_s <= 40 * 60 and this.instance_seconds <= 8 * 40 * 60
    assert this.first_video_started_s is None and this.interrupted == 0
