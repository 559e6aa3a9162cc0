"""`ecs-autoscale estimate`: the discrete-event model against hand-computed timelines, its link to the
scaling design the constructs use, the AWS rules it applies, and the command as users run it.

The hand computations use the assumptions pinned in tests/support/estimate.py (its docstring walks
through one video's timeline); the simulations of hours and days are in tests/slow/test_estimate_simulations.py.
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO, SEED
from support.estimate import LAG_300, PINNED, fleet, ours, timeline

from ecs_autoscale.estimate import Workload, run
from ecs_autoscale.estimate.assumptions import AWS_RULES, AssumptionError, apply_overrides, listing, load_prices
from ecs_autoscale.estimate.model import Sample
from ecs_autoscale.estimate.rules import DesignScaling
from ecs_autoscale.model.scaling_design import (
    QUEUE_INACTIVE_AFTER_MINUTES,
    SERVICE_THROTTLE_MAX_MINUTES,
    SERVICE_THROTTLE_SOURCE,
    design_for,
)

CLI = Path(sys.executable).with_name("ecs-autoscale")


# --- hand-computed timelines ------------------------------------------------------------------------
def test_one_video_from_zero_and_back(tmp_path):
    o = ours(fleet(tmp_path, 1, ScaleInIdleMinutes=5), videos=1, minutes=10).outcomes[0]
    # submit @2; launch @12, running @57, registered @147, task placed @157; image @57+30+150 = 237,
    # task polls @267 and takes the video (visible since @0); done @867. The agent polls from @162 every
    # 15 s: at @867 its worker is idle (the video ended first) and the counts (60 s old) show nothing
    # waiting; 300 s later (@1167) it looks for 3 s, kills @1170.05, terminates @1180.05, gone @1210.05.
    assert timeline(o) == [
        (2, "submit (1 video queued): instances 0 -> 1"),
        (267, "first task running"),
        (1180.05, "agent: instance idle for 5 min, terminated (0 left)"),
        (1210.05, "back to zero instances"),
    ]
    assert o.first_video_started_s == 267 and o.all_done_s == 867
    assert o.instance_seconds == pytest.approx(1180.05 - 57)
    assert o.busy_seconds == 600
    assert o.interrupted == 0 and o.still_running == 0


def test_the_whole_fleet_launches_at_once_and_finishes_in_videos_over_fleet_rounds(tmp_path):
    # Issue 14: FleetSize 8, 40 videos of 20 min: done within first task + 100 min + a few minutes.
    o = ours(fleet(tmp_path, 8), videos=40, minutes=20).outcomes[0]
    assert timeline(o)[0] == (2, "submit (40 videos queued): instances 0 -> 8")
    assert o.peak_instances == 8 and o.instances_launched == 8
    assert o.first_task_running_s == 267
    assert o.all_done_s == 267 + 5 * 20 * 60
    assert o.back_to_zero_s - o.all_done_s <= 8 * 60


def test_a_burst_smaller_than_the_fleet_gets_one_instance_per_video(tmp_path):
    o = ours(fleet(tmp_path, 8), videos=3, minutes=10).outcomes[0]
    assert timeline(o)[0] == (2, "submit (3 videos queued): instances 0 -> 3")
    assert o.peak_instances == 3


def test_multi_gpu_instances_take_one_video_per_gpu_slot(tmp_path):
    config = fleet(tmp_path, 4, InstanceTypes="[g5.12xlarge]", GpusPerTask=1)
    assert design_for(config).tasks_per_instance == 4
    o = ours(config, videos=8, minutes=10).outcomes[0]
    assert timeline(o)[0] == (2, "submit (8 videos queued): instances 0 -> 2")
    assert o.peak_tasks == 8 and o.peak_instances == 2
    assert o.all_done_s == 267 + 600


def test_one_more_video_than_the_fleet_waits_for_a_free_worker(tmp_path):
    o = ours(fleet(tmp_path, 2), videos=3, minutes=10).outcomes[0]
    assert o.all_done_s == 267 + 2 * 600
    assert o.wait_max_s == 267 + 600


def test_video_longer_than_the_visibility_timeout_is_retried_then_dead_lettered(tmp_path):
    config = fleet(tmp_path, 1, TimeoutHours=0.25, MaxReceiveCount=2)
    e = ours(config, videos=1, minutes=20)
    o = e.outcomes[0]
    assert o.videos_dead == 1 and o.receives == 2 and o.expired_receives == 2
    assert any("outlasts TimeoutHours" in w for w in e.warnings)


# --- other clients: the backstop alarm -----------------------------------------------------------------
def test_videos_from_another_client_start_through_the_backstop_alarm(tmp_path):
    o = ours(fleet(tmp_path, 1), videos=1, minutes=10, sender="other").outcomes[0]
    # sample @60 is the first with the video (it arrives just after the @0 tick), readable @120:
    # 1 uncovered -> +1 @130; launch @140, running @185, registered @275, placed @285, image @365, polls @395.
    assert timeline(o)[:2] == [
        (130, "scale-out alarm (1 uncovered video, step +1): instances 0 -> 1"),
        (395, "first task running"),
    ]


def test_the_backstop_alarm_adds_the_fleet_once_despite_repeating(tmp_path):
    # The alarm holds ALARM for 3 minutes (1 of 3) and re-invokes its policy every minute; the
    # warm-up rule makes the repeats add nothing (EC2 Auto Scaling step scaling).
    o = ours(fleet(tmp_path, 8), videos=40, minutes=20, sender="other").outcomes[0]
    launches = [text for _, text in timeline(o, ("capacity",)) if "scale-out alarm" in text]
    assert launches == ["scale-out alarm (40 uncovered videos, step +8): instances 0 -> 8"]
    assert o.peak_instances == 8


def test_an_idle_queue_waking_up_costs_this_stack_nothing_and_the_original_its_delay(tmp_path):
    """The keep-alive schedule never lets the queue go inactive, so not even another client's videos (the
    backstop alarm, on CloudWatch metrics) wait for its metrics; without it they would wait the full delay."""
    config = fleet(tmp_path, 8)
    asleep = dataclasses.replace(PINNED, sqs_inactive_wakeup_s=900)
    for sender in ("ecs-autoscale", "other"):
        awake = ours(config, 40, 20, sender=sender, compare_original=True).outcomes
        woken = ours(config, 40, 20, sender=sender, compare_original=True, assumptions=asleep).outcomes
        assert woken[0].first_task_running_s == awake[0].first_task_running_s
        assert woken[1].first_task_running_s - awake[1].first_task_running_s == pytest.approx(900, abs=60)
    no_keepalive = dataclasses.replace(design_for(config), queue_keepalive_minutes=QUEUE_INACTIVE_AFTER_MINUTES)
    awake = ours(config, 40, 20, sender="other", design=no_keepalive).outcomes[0].first_task_running_s
    woken = ours(config, 40, 20, sender="other", design=no_keepalive, assumptions=asleep).outcomes[0]
    assert woken.first_task_running_s - awake == pytest.approx(900, abs=60)


# --- never a cut video ------------------------------------------------------------------------------
@pytest.mark.parametrize("sender", ["ecs-autoscale", "other"])
@pytest.mark.parametrize(
    "videos, minutes, spread", [(17, 7, 2.9), (5, 20, 2.0), (12, 3, 1.3), (40, 20, 17), (6, 45, 6.1), (9, 11, 0.5)]
)
def test_no_video_is_ever_cut_even_trickling_in(tmp_path, sender, videos, minutes, spread):
    for size in (1, 3):
        o = ours(fleet(tmp_path, size), videos, minutes, spread, sender=sender).outcomes[0]
        assert o.interrupted == 0
        assert o.videos_done == videos and o.back_to_zero_s is not None


@pytest.mark.parametrize("sender", ["ecs-autoscale", "other"])
@pytest.mark.parametrize("spread", [1.7, 1.75, 1.8])
def test_a_count_lag_of_five_minutes_cuts_no_video_where_the_delay_design_cut_one(tmp_path, sender, spread):
    """6 videos x 10 min trickling onto one instance: the 90 s delay design cut one video in each of these
    runs at sqs_count_lag_s=300 (its agent trusted the counts); the agent that trusts its workers cuts none."""
    o = ours(fleet(tmp_path, 1), 6, 10, spread, sender=sender, assumptions=LAG_300).outcomes[0]
    assert o.interrupted == 0 and o.videos_done == 6


def test_a_video_taken_inside_the_kill_gap_is_counted_as_cut(tmp_path):
    """The honest residual: a video that becomes visible between the agent's last look and the SIGKILL, and
    is taken by that idle worker, is cut; the estimate counts it (another client's video: no hold)."""
    config = fleet(tmp_path, 1)
    alone = ours(config, 1, 1, sender="other").outcomes[0]
    [left] = [t for t, text in timeline(alone, ("capacity",)) if text.startswith("agent:")]
    kill = left - PINNED.asg_action_s  # the SIGKILL: asg_action_s before the terminate
    for arrival, cut in ((kill - 0.02, 1), (kill - PINNED.agent_kill_gap_s - 0.02, 0)):
        o = ours(config, 2, 1, 2 * arrival / 3600, sender="other").outcomes[0]
        assert o.interrupted == cut, arrival
        assert o.videos_done == 2  # a cut video returns after TimeoutHours and is done then


def test_no_queue_delay_a_video_sent_to_an_idle_fleet_starts_at_once(tmp_path):
    """Issue 19: the 90 s delay is gone (neither stack has one): a video sent while a worker idles is taken
    at once, and an empty queue reports no ApproximateNumberOfMessagesDelayed datapoint at all."""
    o = ours(fleet(tmp_path, 1), 2, 1, 800 / 3600).outcomes[0]  # the 2nd video arrives @400, the worker idles
    assert o.wait_max_s == 267 and o.wait_mean_s == 267 / 2
    assert Sample(visible=3).reported["delayed"] is None and Sample(visible=3).reported["in_flight"] is None


# --- scale-in on each instance's own evidence (issue 19) -----------------------------------------------
def agent_leaves(outcome) -> list[float]:
    return [t for t, text in timeline(outcome, ("capacity",)) if text.startswith("agent:")]


def test_an_idle_instance_leaves_while_another_still_works(tmp_path):
    """Issue 19 item 11: each agent's idle clock is its own workers' (and the videos still waiting): the
    video another instance holds does not keep it. FleetSize 2, 3 videos of 10 min: B's worker is idle
    from @867 while A works on the third video until @1467; B's counts (60 s old) show nothing waiting
    from its poll @927, so it leaves @1227 + 3 + 0.05 + 10."""
    o = ours(fleet(tmp_path, 2), 3, 10).outcomes[0]
    assert o.all_done_s == 1467
    assert agent_leaves(o) == [1240.05, pytest.approx(1467 + 300 + 13.05, abs=15)]
    assert o.interrupted == 0


def test_agents_leaving_together_take_turns(tmp_path):
    """Audit item 2: an agent's own termination keeps the group's activity in progress until it completes its
    own hook (at once), and meanwhile TerminateInstanceInAutoScalingGroup answers ScalingActivityInProgress:
    four instances idle at the same poll leave terminate_turn_s apart, each billed while it waits."""
    o = ours(fleet(tmp_path, 4), 4, 10).outcomes[0]
    first, *rest = agent_leaves(o)
    assert [t - first for t in rest] == pytest.approx([2, 4, 6])
    slow = ours(fleet(tmp_path, 4), 4, 10, assumptions=dataclasses.replace(PINNED, terminate_turn_s=30)).outcomes[0]
    assert [t - first for t in agent_leaves(slow)] == pytest.approx([0, 30, 60, 90])
    assert slow.instance_seconds - o.instance_seconds == pytest.approx(30 + 60 + 90 - 2 - 4 - 6)


def test_agents_wait_out_the_submit_hold(tmp_path):
    """After `submit` queued a video, no agent leaves for submit_hold_seconds (its counts may still read 0):
    the hold runs from each arrival + client_action_s, and only `submit` sets it."""
    config = fleet(tmp_path, 1)
    held = dataclasses.replace(design_for(config), submit_hold_seconds=800)
    quick = agent_leaves(ours(config, 1, 1).outcomes[0])
    assert quick == [pytest.approx(327 + 300 + 3.05 + 10)]  # done @327: the 122 s hold is long past
    [left] = agent_leaves(ours(config, 1, 1, design=held).outcomes[0])
    assert left == pytest.approx(807 + 3.05 + 10)  # the first poll from @802 is @807
    [other] = agent_leaves(ours(config, 1, 1, sender="other", design=held).outcomes[0])
    assert other < 800


class StopsTheGroup(DesignScaling):
    """The group itself terminates instances mid-video (a halt, a stop): at @600 max and desired capacity
    0; at @3720 the maximum is back (a resume), so a video cut meanwhile is retried."""

    def on_tick(self, sim):
        super().on_tick(sim)
        if sim.now == 600:
            sim.group_max = 0
            sim.set_group_desired(0, "stop")
        if sim.now == 3720:
            sim.group_max = self.design.fleet_size


def stopped_run(config, design, videos=1, minutes=20):
    from ecs_autoscale.estimate import simulate

    return simulate(config, Workload(videos, minutes), StopsTheGroup(design, PINNED), PINNED, design)


def test_what_the_group_terminates_waits_in_its_lifecycle_hook_for_quiet_workers(tmp_path):
    """Terminating:Wait: the instance keeps running (and billed) and its worker finishes its video; once the
    agent finds it quiet, the instance goes, without another decrement. Today's group cut the video."""
    config = fleet(tmp_path, 2)
    o = stopped_run(config, design_for(config), videos=3, minutes=20)
    assert o.interrupted == 0 and o.videos_done == 3
    # both held workers finish @1467; the one that takes the third video keeps working: it is still ACTIVE
    assert o.all_done_s == 1467 + 1200
    assert [t for t, text in timeline(o, ("capacity",)) if "stop" in text] == [600]
    assert o.back_to_zero_s > o.all_done_s and o.still_running == 0
    assert o.instance_seconds > 2 * (1467 - 57)


def test_the_lifecycle_hooks_global_timeout_ends_the_wait(tmp_path):
    """At most min(48 h, 100 x HeartbeatTimeout) (EC2 Auto Scaling API Reference, LifecycleHook): with a 30 s
    heartbeat that is 50 min, and a 60-minute video held from @610 is cut @3610."""
    config = fleet(tmp_path, 1)
    short = dataclasses.replace(design_for(config), termination_heartbeat_seconds=30)
    cut = stopped_run(config, short, minutes=60)
    assert cut.interrupted == 1
    assert [t for t, text in timeline(cut, ("capacity",)) if "hook timed out" in text] == [610 + 3000]
    assert stopped_run(config, design_for(config), minutes=60).interrupted == 0


class DeadAgents(DesignScaling):
    """Agents that cannot act (no credentials, a broken boot): only the backstop idle alarm ends the fleet,
    and the termination hook lets each instance go after one heartbeat timeout without an answer."""

    def on_registered(self, sim, instance):
        pass

    def on_terminating(self, sim, instance):
        pass

    def settled(self, sim):
        return sim.now >= 4 * 3600 or super().settled(sim)


class DeadAgentsOldIdleAlarm(DeadAgents):
    idle_expression = (
        "IF(FILL(desired, REPEAT) > 0 AND FILL(visible, 1) + FILL(delayed, 1) + FILL(in_flight, 1) == 0, 1, 0)"
    )


def test_the_backstop_idle_alarm_fires_only_since_missing_delayed_and_in_flight_fill_as_0(tmp_path):
    """Issue 19 item 12: SQS reports ApproximateNumberOfMessagesDelayed and ...NotVisible only while such
    messages exist, so FILL(delayed, 1) + FILL(in_flight, 1) read an empty queue as 2 and the old idle
    alarm never fired; the deployed expression (alarm_expressions.IDLE_EXPRESSION) does."""
    from ecs_autoscale.estimate import simulate
    from ecs_autoscale.synthesis.alarm_expressions import IDLE_EXPRESSION

    assert "FILL(delayed, 0) + FILL(in_flight, 0)" in IDLE_EXPRESSION
    config = fleet(tmp_path, 2)
    design = design_for(config)
    outcomes = {
        rules.__name__: simulate(config, Workload(2, 10), rules(design, PINNED), PINNED, design)
        for rules in (DeadAgents, DeadAgentsOldIdleAlarm)
    }
    fired = {
        name: [t for t, text in timeline(o, ("capacity",)) if "backstop idle" in text] for name, o in outcomes.items()
    }
    assert fired["DeadAgentsOldIdleAlarm"] == [] and outcomes["DeadAgentsOldIdleAlarm"].still_running == 2
    new = outcomes["DeadAgents"]
    # done @867; 15 idle minutes are readable @867 + 15 x 60 + 60 or so, then one heartbeat timeout
    assert fired["DeadAgents"] and fired["DeadAgents"][0] <= 867 + 17 * 60
    assert new.back_to_zero_s <= fired["DeadAgents"][0] + 10 + 1800 + 30 + 1
    assert new.interrupted == 0


def test_the_warm_pool_refills_below_its_size_only_and_bills_the_refill(tmp_path):
    """MaxGroupPreparedCapacity = WarmPool, MinSize 0: the pool refills with new instances only while the
    group runs fewer than WarmPool, so running instances never exceed max(FleetSize, WarmPool); each refill
    is billed while it boots and pulls the image (docker_ready_s + image_pull_s), then stopped."""
    for size, pool, videos in ((4, 2, 8), (4, 4, 2), (2, 2, 1), (8, 3, 40)):
        config = fleet(tmp_path, size, WarmPool=pool)
        e = ours(config, videos, 10)
        o = e.outcomes[0]
        assert o.peak_running <= max(size, pool) and o.peak_instances <= max(size, pool), (size, pool, videos)
        assert o.peak_running <= design_for(config).peak_instances  # what doctor checks against the quota
        refills = o.instances_launched - min(videos, size)  # every instance launched beyond the group's own
        assert refills == min(pool, min(videos, size)), (size, pool, videos)
        no_pool = ours(fleet(tmp_path, size), videos, 10).outcomes[0]
        prep = PINNED.docker_ready_s + PINNED.image_pull_s
        # the pool's instances start sooner (no boot, image cached) but each refill's preparation is billed
        assert o.instance_seconds > no_pool.instance_seconds - min(videos, pool) * 300 + refills * prep - 1


# --- uneven video lengths (issue 19 item 11) ----------------------------------------------------------
def test_video_lengths_spread_over_a_range_in_a_mixed_order():
    w = Workload(40, 5, longest_minutes=40)
    minutes = [d / 60 for d in w.durations_s()]
    assert minutes == [d / 60 for d in Workload(40, 5, longest_minutes=40).durations_s()]  # deterministic
    assert 5 <= min(minutes) < 6 and 39 < max(minutes) <= 40
    assert 21 <= sum(minutes) / 40 <= 24  # the golden-ratio sequence fills the range evenly
    assert sorted(minutes) != minutes and sorted(minutes, reverse=True) != minutes
    assert max(abs(a - b) for a, b in zip(minutes, minutes[1:], strict=False)) > 10  # neighbours differ
    assert Workload(3, 20).durations_s() == [1200.0] * 3 == Workload(3, 20, longest_minutes=20).durations_s()
    assert w.describe().startswith("40 videos x 5-40 min (mixed lengths, mean ")
    assert Workload(3, 20).describe() == "3 videos x 20 min, all queued at once"


@pytest.mark.parametrize(
    "text, parsed",
    [("20", (20.0, None)), ("5-40", (5.0, 40.0)), (" 2.5 - 7.5 ", (2.5, 7.5)), ("0.5", (0.5, None))],
)
def test_minutes_per_video_reads_a_length_or_a_range(text, parsed):
    from ecs_autoscale.estimate.workload import parse_minutes

    assert parse_minutes(text) == parsed


@pytest.mark.parametrize(
    "text, message",
    [("twenty", "use MINUTES or SHORTEST-LONGEST"), ("5-", "use MINUTES"), ("-5", "use MINUTES"), ("0", "above 0")],
)
def test_a_bad_minutes_per_video_is_one_line(text, message):
    from ecs_autoscale.estimate import WorkloadError
    from ecs_autoscale.estimate.workload import parse_minutes

    with pytest.raises(WorkloadError, match=message) as caught:
        low, high = parse_minutes(text)
        Workload(1, low, longest_minutes=high)
    assert "\n" not in str(caught.value)


def test_uneven_lengths_leave_no_more_than_half_again_the_idle_hours_of_equal_ones():
    """Issue 19's acceptance: 40 videos of 5-40 min on FleetSize 8 idle at most 1.5x the GPU-instance hours
    of 40 x 22.5 min (one fleet-wide idle clock kept FleetSize-1 GPUs up for the longest video)."""
    from helpers import EXAMPLES

    from ecs_autoscale.model.config import load_config

    config = load_config(EXAMPLES / "megadetector-fleet.yaml")
    mixed = run(config, Workload(40, 5, longest_minutes=40))
    equal = run(config, Workload(40, 22.5))
    assert mixed.outcomes[0].interrupted == 0 and mixed.outcomes[0].videos_done == 40
    assert mixed.costs[0].idle_gpu_hours <= 1.5 * equal.costs[0].idle_gpu_hours


# --- spin-down ---------------------------------------------------------------------------------------
def test_scale_in_idle_minutes_moves_the_spin_down(tmp_path):
    five = ours(fleet(tmp_path, 1, ScaleInIdleMinutes=5), 1, 10).outcomes[0]
    fifteen = ours(fleet(tmp_path, 1, ScaleInIdleMinutes=15), 1, 10).outcomes[0]
    assert fifteen.back_to_zero_s - five.back_to_zero_s == 600


def test_last_video_to_zero_instances_within_eight_minutes_by_default(tmp_path):
    for videos, minutes in ((1, 10), (40, 20), (7, 33)):
        o = run(fleet(tmp_path, 8), Workload(videos, minutes)).outcomes[0]  # shipped defaults
        assert o.back_to_zero_s - o.all_done_s <= 8 * 60


def test_the_backstop_idle_alarm_never_undoes_a_later_submit(tmp_path):
    # Alarm actions repeat every minute in ALARM; the idle alarm only breaches while the group is
    # above 0, so days at zero leave it OK and a submit is never set back to 0.
    o = ours(fleet(tmp_path, 2), videos=3, minutes=10, spread=6).outcomes[0]
    assert not [t for t in timeline(o, ("capacity",)) if "backstop idle" in t[1]]
    assert o.interrupted == 0


# --- warm pool ---------------------------------------------------------------------------------------
def test_a_warm_pool_starts_the_first_video_in_about_two_minutes_and_shows_its_idle_cost(tmp_path):
    config = fleet(tmp_path, 4, WarmPool=2)
    e = ours(config, videos=4, minutes=10)
    o = e.outcomes[0]
    # submit @2, start @12 from the pool, running @42, registered @87, placed @97, image cached: polls @127
    assert o.first_task_running_s == 127
    lines = {line.item: line.usd_month for line in e.idle}
    assert lines["Warm pool volumes"] == pytest.approx(2 * config.volume_gb * 0.08)


# --- workers that cannot take videos ------------------------------------------------------------------
def test_the_not_taken_condition_reads_age_in_flight_and_receives(tmp_path):
    rules = DesignScaling(design_for(fleet(tmp_path, 8)), PINNED)
    assert rules.not_taken(Sample(visible=5, oldest_age=1680))
    assert not rules.not_taken(Sample(visible=5, oldest_age=1679))
    assert not rules.not_taken(Sample(visible=5, in_flight=1, oldest_age=7200))  # a worker is busy
    assert not rules.not_taken(Sample(visible=5, received=1, oldest_age=7200))  # one was taken this minute


# --- the original stack ------------------------------------------------------------------------------
def test_original_scaling_one_video_by_hand(tmp_path):
    e = ours(fleet(tmp_path, 1), videos=1, minutes=10, compare_original=True)
    original = e.outcomes[1]
    # samples @60..@300 hold the video: the 5-sample average reaches 1 at sample 5, readable @360;
    # +1 task and +1 instance @370; launch @380, running @425, registered @515, placed @525, pulled
    # @675 (the original pulls when the task is placed), polls @705.
    assert original.first_task_running_s == 705
    # its task never scales in and managed termination protection keeps the instance holding it
    assert original.back_to_zero_s is None and original.still_running == 1


def test_ours_starts_sooner_than_the_original_everywhere_it_matters(tmp_path):
    e = ours(fleet(tmp_path, 8), videos=40, minutes=20, compare_original=True)
    this, original = e.outcomes
    assert this.first_task_running_s <= 0.7 * original.first_task_running_s
    assert this.all_done_s < original.all_done_s
    assert this.instance_seconds < original.instance_seconds


# --- the design object is the estimate's source -------------------------------------------------------
def test_changing_the_scaling_design_moves_the_estimate(tmp_path):
    config = fleet(tmp_path, 1)
    base = ours(config, 1, 10).outcomes[0]
    patient = ours(config, 1, 10, design=dataclasses.replace(design_for(config), scale_in_idle_minutes=7)).outcomes[0]
    assert patient.back_to_zero_s - base.back_to_zero_s == 120
    looks_longer = ours(config, 1, 10, design=dataclasses.replace(design_for(config), quiet_seconds=13)).outcomes[0]
    assert looks_longer.back_to_zero_s - base.back_to_zero_s == pytest.approx(10)


def test_assumptions_move_the_estimate(tmp_path):
    config = fleet(tmp_path, 1)
    slower, prices = apply_overrides(["image_pull_s=300", "price.g4dn.xlarge.on_demand=1"], PINNED)
    base = ours(config, videos=1, minutes=10).outcomes[0]
    e = run(config, Workload(1, 10), slower, prices)
    assert e.outcomes[0].first_task_running_s - base.first_task_running_s == 150
    assert e.costs[0].instance_usd == pytest.approx(e.costs[0].gpu_hours * 1.0)


@pytest.mark.parametrize(
    "item, message",
    [
        ("image_pull_s", "expected NAME=VALUE"),
        ("image_pul_s=3", "did you mean image_pull_s?"),
        ("image_pull_s=fast", "not a number"),
        ("asg_metric_delay_s=-1", "must be at least 0"),
        ("cp_scale_in_fraction=2", "must be from 0 to 1"),
        ("price.g4dn.xlarge.spot=-0.1", "cannot be negative"),
    ],
)
def test_bad_assumption_is_a_one_line_error(item, message):
    with pytest.raises(AssumptionError) as caught:
        apply_overrides([item])
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_every_aws_rule_of_the_issue_is_listed_with_a_source():
    text = listing()
    for rule in AWS_RULES:
        assert rule.name in text and rule.source in text and rule.handling in text
    names = [rule.name for rule in AWS_RULES]
    assert len(names) == len(set(names))
    issue_19 = {
        "scheduler-read-only-targets",
        "sqs-inactive-queue",
        "sqs-metric-reporting",
        "draining-stops-daemon-tasks",
        "sqs-count-lag-lower-bound",
        "termination-lifecycle-hook",
        "az-rebalance",
        "capacity-rebalancing",
        "spot-interruption",
        "warm-pool-size",
        "instance-refresh-warm-pool",
        "terminate-scaling-activity-in-progress",
    }
    for rule in AWS_RULES:
        if rule.name in issue_19:  # the document's title and address, and what the design does
            assert "https://docs.aws.amazon.com/" in rule.source, rule.name
    assert issue_19 | {
        "metric-math-missing-data",
        "managed-scaling-steps",
        "capacity-provider-hop",
        "managed-scale-in",
        "alarm-actions-repeat",
        "original-termination-protection",
        "gpu-instance-types",
        "crash-loop",
    } <= set(names)
    assert "sqs-approximate-counts" not in names  # the old design's 'the delay outlasts the lag' rule
    for old in ("delays every message", "queue's delay", "check-to-kill", "reads the video queue's attributes"):
        assert old not in text, old
    lag = [line for line in text.splitlines() if "sqs_count_lag_s = " in line]
    assert lag and "at least 1 minute" in text and "not a maximum" in text


def test_workload_beyond_the_model_horizon_is_refused_up_front(tmp_path):
    from ecs_autoscale.estimate import WorkloadError

    with pytest.raises(WorkloadError, match="need at least 694 days on FleetSize 1"):
        ours(fleet(tmp_path, 1), videos=1_000_000, minutes=1)


def test_every_default_instance_type_has_a_dated_price():
    prices = load_prices()
    assert prices.region == "us-west-2" and prices.on_demand_as_of and prices.spot_as_of
    for instance_type in ("g4dn.xlarge", "g5.xlarge"):
        price = prices.instance(instance_type)
        assert 0 < price.spot < price.on_demand


def test_idle_cost_lists_what_costs_money_at_zero(tmp_path):
    e = ours(fleet(tmp_path, 1), videos=100, minutes=5)
    lines = {line.item: line.usd_month for line in e.idle}
    # 17 alarm metrics at $0.10: scale-out 6, idle 4, stuck 4, not taken 3 (test_constructs counts them)
    assert lines["CloudWatch alarms"] == pytest.approx(1.70)
    assert "Container Insights" not in lines
    assert lines["S3 results"] == pytest.approx(100 * 5 / 1024 * 0.023)


# --- the command ----------------------------------------------------------------------------------------
def cli(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), "estimate", *map(str, args)], capture_output=True, text=True, timeout=300)


def test_cli_prints_the_timeline_and_costs():
    proc = cli(
        SEED,
        "--videos",
        1,
        "--minutes-per-video",
        10,
        "--compare-original",
        *[
            arg
            for name in ("image_pull_s", "instance_boot_s")
            for arg in ("--assume", f"{name}={getattr(PINNED, name):g}")
        ],
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert proc.stderr == ""
    for expected in (
        "first task running",
        "all videos done",
        "back to zero instances",
        "GPU-instance hours",
        "this stack",
        "original stack",
        "Timeline (this stack):",
        "0:04:27  first task running",
        "never (1 kept)",
        "videos cut mid-run",
        "Cost of the deployed stack while at zero: $1.70/month",
    ):
        assert expected in out, expected


def test_cli_json_and_plot(tmp_path):
    png = tmp_path / "plots" / "estimate.png"
    proc = cli(SEED, "--videos", 3, "--minutes-per-video", 20, "--arrival", "spread:1", "--plot", png, "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["stack_name"] == "Megadetector" and doc["runs"][0]["videos_done"] == 3
    assert doc["design"]["scale_in_idle_minutes"] == 5
    assert doc["sender"] == "ecs-autoscale" and doc["runs"][0]["interrupted"] == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in png.parent.iterdir()] == ["estimate.png"]  # no temp file left behind


def test_cli_uneven_lengths_in_text_and_json():
    proc = cli(SEED, "--videos", 4, "--minutes-per-video", "5-40")
    assert proc.returncode == 0, proc.stderr
    assert "Workload: 4 videos x 5-40 min (mixed lengths, mean " in proc.stdout
    proc = cli(SEED, "--videos", 4, "--minutes-per-video", "5-40", "--json")
    doc = json.loads(proc.stdout)
    assert doc["workload"]["minutes_per_video"] == 5 and doc["workload"]["longest_minutes"] == 40
    assert doc["runs"][0]["videos_done"] == 4 and doc["runs"][0]["interrupted"] == 0
    proc = cli(SEED, "--videos", 4, "--minutes-per-video", "40-5")
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "ecs-autoscale: --minutes-per-video 40-5: give the shorter length first, e.g. 5-40"
    ]


def test_cli_bad_assume_is_one_line():
    proc = cli(SEED, "--videos", 1, "--minutes-per-video", 10, "--assume", "image_pul_s=3")
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "ecs-autoscale: --assume image_pul_s: unknown assumption (did you mean image_pull_s?)"
    ]
    assert proc.stdout == ""


def test_cli_unwritable_plot_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    proc = cli(SEED, "--videos", 1, "--minutes-per-video", 10, "--plot", blocker / "x.png")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    [line] = proc.stderr.splitlines()
    assert line.startswith(f"ecs-autoscale: cannot write plot {blocker / 'x.png'}")


def test_cli_list_assumptions_needs_no_model_file():
    proc = cli("--list-assumptions")
    assert proc.returncode == 0, proc.stderr
    assert "image_pull_s = 150 s" in proc.stdout and "price.g4dn.xlarge.on_demand = 0.526" in proc.stdout


THROTTLE_WORDING = re.compile(r"(?:throttle|backs? off|restarts)[^.]{0,200}?up to (\S+) minutes")


def test_the_service_throttle_is_stated_from_one_constant_everywhere():
    """ECS's service throttle spaces restarts up to SERVICE_THROTTLE_MAX_MINUTES (27 today, 15 in older editions of
    the page): every paragraph of the code and docs that words it says that number, and the listing cites it."""
    listed = listing()
    assert f"up to {SERVICE_THROTTLE_MAX_MINUTES} minutes apart, daemon tasks included" in listed
    assert SERVICE_THROTTLE_SOURCE in listed
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / "ecs_autoscale").rglob("*.py"))]
    said: dict[str, list[str]] = {}
    for page in pages:
        for minutes in THROTTLE_WORDING.findall(page.read_text(encoding="utf-8")):
            said.setdefault(minutes, []).append(str(page.relative_to(REPO)))
    assert "docs/scaling.md" in said.get(str(SERVICE_THROTTLE_MAX_MINUTES), [])
    assert "ecs_autoscale/synthesis/constructs/service.py" in said[str(SERVICE_THROTTLE_MAX_MINUTES)]
    assert set(said) <= {str(SERVICE_THROTTLE_MAX_MINUTES), "{SERVICE_THROTTLE_MAX_MINUTES}"}, said


def test_estimate_never_loads_cdktf_or_matplotlib_without_plot():
    code = (
        "import sys; from ecs_autoscale.cli.estimate import estimate; "
        "from ecs_autoscale.estimate import run, Workload; from ecs_autoscale.model.config import load_config; "
        f"from ecs_autoscale.estimate import report; report.text(run(load_config({str(SEED)!r}), Workload(2, 5))); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('cdktf', 'jsii', 'matplotlib', 'constructs')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
