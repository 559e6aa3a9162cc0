"""`ecs-autoscale estimate` over hours and days of simulated scaling (the slow tier): a late SQS minute, a
five-minute count lag, the old kill rule, and workers that exit or hang without taking a video. Assumptions
pinned as in tests/support/estimate.py; the rest of the model's tests are in tests/unit/test_estimate.py.
"""

from __future__ import annotations

import dataclasses
from dataclasses import fields

import pytest
from support.estimate import LAG_300, PINNED, fleet, ours, timeline

from ecs_autoscale.estimate import Workload, run
from ecs_autoscale.estimate.rules import DesignScaling
from ecs_autoscale.model.scaling_design import ScalingDesign, design_for

pytestmark = pytest.mark.slow  # simulates hours or a day of scaling (the original's day among them)


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


# --- never a cut video ------------------------------------------------------------------------------


@pytest.mark.parametrize("sender", ["ecs-autoscale", "other"])
@pytest.mark.parametrize("spread", [0.0, 6.5, 17.0])
def test_a_count_lag_of_five_minutes_cuts_no_video(tmp_path, sender, spread):
    """Issue 19: the counts never decide a kill, so a lag far beyond a minute costs idle time, not videos."""
    o = ours(fleet(tmp_path, 8), 40, 20, spread, sender=sender, assumptions=LAG_300).outcomes[0]
    assert o.interrupted == 0
    assert o.videos_done == 40 and o.back_to_zero_s is not None


class CountsDecide(DesignScaling):
    """The old agent, kept here only to show what it did: once the queue's counts (waiting + in flight)
    read 0 for ScaleInIdleMinutes it drained, killed its worker 5 s later, then re-checked the counts."""

    STOP_S = 5

    def _poll(self, sim, instance):
        if instance.state != "registered":
            return
        waiting, in_flight = sim.queue_counts(self.a.sqs_count_lag_s)[1:]
        if waiting + in_flight:
            self.idle_since[instance.id] = None
        elif self.idle_since.get(instance.id) is None:
            self.idle_since[instance.id] = sim.now
        elif sim.now - self.idle_since[instance.id] >= self.design.scale_in_idle_seconds:
            sim.drain(instance)
            sim.after(self.STOP_S, self._old_kill, sim, instance)
            return
        sim.after(self.design.agent_poll_seconds, self._poll, sim, instance)

    def _old_kill(self, sim, instance):
        for task in instance.active_tasks():
            sim._stop_task(task, at_once=True)
        if sum(sim.queue_counts(self.a.sqs_count_lag_s)[1:]):
            self.idle_since[instance.id] = None
            sim.undrain(instance)
            sim.after(self.design.agent_poll_seconds, self._poll, sim, instance)
            return
        sim.after(self.a.asg_action_s, self._leave, sim, instance)


def old_rule_run(config, spread, sender, assumptions):
    from ecs_autoscale.estimate import simulate

    workload = Workload(40, 20, spread)
    design = design_for(config)
    return simulate(config, workload, CountsDecide(design, assumptions, sender), assumptions, design)


def test_the_old_rule_where_counts_decide_the_kill_cuts_videos_at_a_lag_of_five_minutes(tmp_path):
    """Without a queue delay, an agent that trusts counts five minutes old kills workers that hold videos;
    the design's agent, on the same trickles and lag, cuts none."""
    from ecs_autoscale.estimate import simulate

    config = fleet(tmp_path, 8)
    design = design_for(config)
    runs = [(h, s) for s in ("ecs-autoscale", "other") for h in (6.5, 17)]
    old = [old_rule_run(config, h, s, LAG_300) for h, s in runs]
    assert sum(o.interrupted for o in old) > 0
    new = [simulate(config, Workload(40, 20, h), DesignScaling(design, LAG_300, s), LAG_300, design) for h, s in runs]
    assert [o.interrupted for o in new] == [0, 0, 0, 0]


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


def hanging(config, sender, design=None):
    return run(config, Workload(40, 20, workers_fail="hang"), PINNED, sender=sender, design=design).outcomes[0]


def assert_stopped_once_and_never_relaunched(this):
    changes = timeline(this, ("capacity",))
    assert [text for _, text in changes if "stuck alarm" in text] == [
        "stuck alarm (no video taken for 30 min): instances 8 -> 0"
    ]
    assert not [t for t, text in changes if "scale-out alarm" in text and t > 30 * 60]
    assert this.back_to_zero_s <= 40 * 60 and this.instance_seconds <= 8 * 40 * 60
    assert this.first_video_started_s is None and this.interrupted == 0


@pytest.mark.parametrize("sender", ["ecs-autoscale", "other"])
def test_workers_that_hang_are_stopped_by_the_stuck_alarm_and_never_relaunched(tmp_path, sender):
    """No exit, so no agent halt: the stuck alarm stops the fleet, and the not-taken condition keeps the
    backstop from launching it again (which cycled every ~33 minutes all day). Not taken starts two minutes
    before the stuck alarm acts, so none of the scale-out alarm's 1-of-3 minutes still reads 'uncovered';
    with it at the stuck alarm's own 30 minutes (the design before issue 19), a submitted fleet was launched
    once more."""
    config = fleet(tmp_path, 8)
    design = design_for(config)
    assert design.not_taken_after_seconds == (design.stuck_minutes - design.scale_out_evaluation_periods + 1) * 60
    assert_stopped_once_and_never_relaunched(hanging(config, sender))


def test_not_taken_at_the_stuck_alarms_own_age_relaunches_the_stopped_fleet(tmp_path):
    config = fleet(tmp_path, 8)

    class NotTakenOnlyAtTheStuckAge(ScalingDesign):
        @property
        def not_taken_after_seconds(self) -> int:
            return self.stuck_minutes * 60

    late = NotTakenOnlyAtTheStuckAge(**{f.name: getattr(design_for(config), f.name) for f in fields(ScalingDesign)})
    with pytest.raises(AssertionError):
        assert_stopped_once_and_never_relaunched(hanging(config, "ecs-autoscale", late))
