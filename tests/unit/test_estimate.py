"""`ecs-autoscale estimate`: the discrete-event model against hand-computed timelines, its link to the
scaling design the constructs use, the AWS rules it applies, and the command as users run it.

The hand computations use the assumptions pinned in tests/support/estimate.py (its docstring walks
through one video's timeline); the simulations of hours and days are in tests/slow/test_estimate_simulations.py.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import SEED
from support.estimate import PINNED, fleet, ours, timeline

from ecs_autoscale.estimate import Workload, run
from ecs_autoscale.estimate.assumptions import AWS_RULES, AssumptionError, apply_overrides, listing, load_prices
from ecs_autoscale.model.scaling_design import QUEUE_INACTIVE_AFTER_MINUTES, design_for

CLI = Path(sys.executable).with_name("ecs-autoscale")


# --- hand-computed timelines ------------------------------------------------------------------------
def test_one_video_from_zero_and_back(tmp_path):
    o = ours(fleet(tmp_path, 1, ScaleInIdleMinutes=5), videos=1, minutes=10).outcomes[0]
    # submit @2; launch @12, running @57, registered @147, task placed @157; image @57+30+150 = 237,
    # task polls @267 and takes the video (visible since @90); done @867. The agents poll from @162 every
    # 15 s and see the queue 60 s late: empty from the poll @927; 300 s later (@1227) drain, kill @1232,
    # terminate @1242, gone @1272.
    assert timeline(o) == [
        (2, "submit (1 video queued): instances 0 -> 1"),
        (267, "first task running"),
        (1242, "agent: instance idle for 5 min, terminated (0 left)"),
        (1272, "back to zero instances"),
    ]
    assert o.first_video_started_s == 267 and o.all_done_s == 867
    assert o.instance_seconds == 1242 - 57
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


def test_the_queue_delay_is_what_keeps_agents_from_cutting(tmp_path):
    # A count lag beyond the delay lets an agent kill a worker that has just taken a video: the model
    # shows the cut and the estimate warns. (Search the spreads: one of them lands in the window.)
    config = fleet(tmp_path, 1)
    lagging = dataclasses.replace(PINNED, sqs_count_lag_s=200)
    cuts = [ours(config, 6, 10, spread, assumptions=lagging) for spread in (1.65, 1.7, 1.75, 1.8)]
    assert any(e.outcomes[0].interrupted for e in cuts)
    assert all(any("could kill a worker" in w for w in e.warnings) for e in cuts)


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
    from ecs_autoscale.estimate.model import Sample
    from ecs_autoscale.estimate.rules import DesignScaling

    rules = DesignScaling(design_for(fleet(tmp_path, 8)), PINNED)
    assert rules.not_taken(Sample(visible=5, oldest_age=1800))
    assert not rules.not_taken(Sample(visible=5, oldest_age=1799))
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
    later = ours(config, 1, 10, design=dataclasses.replace(design_for(config), queue_delay_seconds=400)).outcomes[0]
    assert later.first_video_started_s == 400 and later.first_task_running_s == base.first_task_running_s


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
    assert {
        "metric-math-missing-data",
        "sqs-inactive-queue",
        "managed-scaling-steps",
        "capacity-provider-hop",
        "managed-scale-in",
        "alarm-actions-repeat",
        "original-termination-protection",
        "gpu-instance-types",
        "crash-loop",
    } <= {rule.name for rule in AWS_RULES}


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
