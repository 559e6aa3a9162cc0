"""`report`'s figures from recorded times (no AWS): each phase as `estimate` names it, billed hours as EC2
bills them, the price as launched, and the minutes per video reconstructed from finishes and task slots."""

from __future__ import annotations

import pytest

from ecs_autoscale.client.fleet_history import Instance
from ecs_autoscale.client.measure import Measured, Videos, measured_figures, reconstruct_starts
from ecs_autoscale.estimate.assumptions import load_prices

T0 = 1_800_000_000.0  # the job's first message


def instance(iid="i-0123456789abcdef0", launched=T0 + 2, lifecycle="on-demand", *, boot=50, end=3600, **more):
    """An instance whose milestones are at T0 + the given offsets (seconds)."""
    base = {"instance_id": iid, "instance_type": "g4dn.xlarge", "lifecycle": lifecycle, "pending_time": launched}
    at = {"docker_up": boot + 25, "pull_finished": boot + 200, "registered": boot + 95, "first_task": boot + 230}
    at.update(more)
    events = [{**base, "event": "agent_started", "t": T0 + boot + 5, "boot_time": T0 + boot}]
    for name, offset in sorted(at.items(), key=lambda item: item[1]):
        extra = {"seconds": 170.0, "ok": True} if name == "pull_finished" else {}
        events.append({**base, "event": name, "t": T0 + offset, **extra})
    events.append({**base, "event": "leaving", "t": T0 + end - 5, "reason": "idle", "videos_cut": 1})
    return Instance(iid, launched=launched, terminating=T0 + end, terminated=T0 + end + 40, events=events)


def measured(instances, videos=None, runs=(), now=T0 + 7200) -> Measured:
    videos = videos or Videos(sent=[T0], finishes=[(T0 + 1000, "done")], total=1, done=1, failed=0)
    return Measured(
        job="dive",
        stack_name="S",
        region="us-west-2",
        now=now,
        t0=T0,
        videos=videos,
        instances=instances,
        tasks_per_instance=1,
        delay_s=0,
        runs=list(runs),
        minutes_per_video=None,
        minutes_source="",
        cut=1,
    )


def test_each_phase_is_measured_as_estimate_names_it():
    assert instance().phases() == {
        "instance_pending_s": 48.0,  # launched (pendingTime) at +2, booted at +50
        "instance_boot_s": 95.0,  # boot to registered
        "docker_ready_s": 25.0,
        "image_pull_s": 170.0,  # the pull's own duration
        "task_start_s": 30.0,  # registered (+145) and pulled (+250) until the first task (+280)
        "instance_shutdown_s": 40.0,  # the termination activity
    }


def test_hours_are_billed_from_running_to_the_termination_with_a_minute_at_least():
    long, short = instance(boot=50, end=3650), instance("i-1", boot=100, end=110, first_task=105)
    m = measured([long, short])
    assert m.billed_hours(long) == pytest.approx(3600 / 3600)  # +50 .. +3650: pending and shutting-down not billed
    assert m.billed_hours(short) == pytest.approx(60 / 3600)  # 10 s running: one minute billed
    figures = measured_figures(m, load_prices())
    assert figures["gpu_instance_hours"] == pytest.approx(61 / 60)
    assert figures["instance_usd"] == pytest.approx(61 / 60 * 0.526)
    assert figures["peak_instances"] == 2 and figures["videos_cut"] == 1


def test_an_instance_running_before_the_job_counts_from_its_first_message_and_spot_is_priced_as_spot():
    early = instance(launched=T0 - 1000, boot=-900, end=600, lifecycle="spot")
    m = measured([early])
    assert m.billed_hours(early) == pytest.approx(600 / 3600)
    assert measured_figures(m, load_prices())["instance_usd"] == pytest.approx(600 / 3600 * 0.21)


def test_a_running_instance_counts_until_now_and_the_fleet_is_not_back_at_zero():
    running = instance(end=10**6)
    running.terminating = running.terminated = None
    running.events = [e for e in running.events if e["event"] != "leaving"]
    m = measured([running], now=T0 + 1850)
    assert m.billed_hours(running) == pytest.approx(1800 / 3600) and m.back_to_zero_s is None


def test_a_warm_pool_instance_is_billed_for_its_two_runs_only():
    warm = instance(boot=0, end=5000)
    warm.events.insert(2, {"event": "warmed", "t": T0 + 300})
    warm.events.insert(3, {"event": "agent_started", "t": T0 + 2005, "boot_time": T0 + 2000})
    assert warm.billed_intervals(T0 + 9999) == [(T0, T0 + 300), (T0 + 2000, T0 + 5000)]


def test_a_restarted_agent_is_the_same_boot():
    """The agent writes agent_started at each start, with now - uptime: a restart (systemd) on the same boot
    gives the same boot time give or take the clock's jitter, and must not split a warm-pool instance's runs."""
    warm = instance(boot=0, end=5000)
    warm.events.insert(1, {"event": "agent_started", "t": T0 + 100, "boot_time": T0 + 0.04})  # restarted
    warm.events.insert(3, {"event": "warmed", "t": T0 + 300})
    warm.events.insert(4, {"event": "agent_started", "t": T0 + 2005, "boot_time": T0 + 2000})
    warm.events.insert(5, {"event": "agent_started", "t": T0 + 2100, "boot_time": T0 + 2000.03})  # restarted
    warm.events.insert(6, {"event": "agent_started", "t": T0 + 2101, "boot_time": "garbled"})
    assert warm.boots() == [T0, T0 + 2000]
    assert warm.billed_intervals(T0 + 9999) == [(T0, T0 + 300), (T0 + 2000, T0 + 5000)]


def test_minutes_per_video_pair_each_finish_with_the_slot_free_longest():
    # Two slots open at +300 and +400; four videos queued at 0, each 600 s long.
    videos = Videos(
        sent=[T0] * 4, finishes=[(T0 + s, "done") for s in (900, 1000, 1500, 1600)], total=4, done=4, failed=0
    )
    runs = reconstruct_starts(videos, [T0 + 300, T0 + 400], delay_s=0)
    assert [finish - start for start, finish, _ in runs] == [600, 600, 600, 600]
    # Without task milestones a video counts from when it was visible: an upper bound.
    assert [f - s for s, f, _ in reconstruct_starts(videos, [], delay_s=90)] == [810, 910, 1410, 1510]
