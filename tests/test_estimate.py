"""`ecs-autoscale estimate`: the discrete-event model against hand-computed timelines, its link to the
scaling design the constructs use, and the command as users run it.

The hand computations pin every assumption to the value written below (not to the shipped defaults),
so a changed default cannot silently re-baseline them. With these values a fresh instance is ready
    launch request + 45 pending + 90 boot (registered) + 150 image pull + 30 task start = +315 s,
and it bills from launch + 45. Alarms read the sample of the previous minute (delay 60 s) on each
minute tick; scaling actions land 10 s after the tick.
"""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ecs_autoscale.estimate import Assumptions, Workload, run
from ecs_autoscale.estimate.assumptions import AssumptionError, apply_overrides, load_prices
from ecs_autoscale.scaling_design import design_for
from helpers import SEED, load_text, seed_text

CLI = Path(sys.executable).with_name("ecs-autoscale")
PINNED = Assumptions(
    sqs_metric_delay_s=60, sqs_inactive_wakeup_s=0, scaling_action_s=10, capacity_metric_delay_s=60,
    cp_scale_out_interval_s=60, cp_multi_az_rule=1, cp_scale_in_datapoints=15, cp_scale_in_fraction=0.5,
    cp_scale_in_interval_s=150, asg_action_s=10, instance_pending_s=45, instance_boot_s=90, image_pull_s=150,
    task_start_s=30, task_stop_s=60, instance_shutdown_s=30,
)
G4DN_ON_DEMAND = 0.526


def fleet(tmp_path, size: int, **keys):
    return load_text(tmp_path, seed_text(FleetSize=str(size), **keys))


def ours(config, videos: int, minutes: float, **kwargs):
    return run(config, Workload(videos, minutes), PINNED, **kwargs)


# --- hand-computed timelines ------------------------------------------------------------------------
def test_one_video_from_zero_and_back(tmp_path):
    e = ours(fleet(tmp_path, 1), videos=1, minutes=10)
    o = e.outcomes[0]
    # sample@60 sees 1 visible, readable @120 -> tasks 0->1 @130; reservation sample@180 (1 task waits,
    # 0 instances) readable @240 -> launch @250; running @250+315 = 565; video done @565+600 = 1165.
    assert [(ev.t, ev.text) for ev in o.events if ev.kind in ("scale", "capacity", "task")][:3] == [
        (130, "scale-out alarm (1 visible, step +1): tasks 0 -> 1"),
        (250, "capacity provider: +1 instance (1 in group)"),
        (565, "first task running"),
    ]
    assert o.first_task_running_s == 565
    assert o.all_done_s == 1165
    # idle samples @1200..@2040 (15), readable @2100 -> tasks to 0 @2110, stopped @2170; reservation
    # below target from sample@2220, 15th @3060 readable @3120 -> terminate @3130, gone @3160.
    assert o.back_to_zero_s == 3160
    assert o.instance_seconds == 3130 - 295
    assert o.busy_seconds == 600
    assert (o.peak_tasks, o.peak_instances, o.instances_launched) == (1, 1, 1)
    assert e.costs[0].instance_usd == pytest.approx((3130 - 295) / 3600 * G4DN_ON_DEMAND)
    assert e.costs[0].ebs_usd == pytest.approx(10 * 0.08 / 730 * (3130 - 295) / 3600)


def test_burst_of_fleet_size_videos(tmp_path):
    o = ours(fleet(tmp_path, 2), videos=2, minutes=10).outcomes[0]
    # 2 visible -> step +2 @130; the multi-AZ group grows one instance per minute: @250 and @310.
    assert [ev.t for ev in o.events if ev.text.startswith("capacity provider: +1")] == [250, 310]
    # A runs @565 -> done @1165; B runs @310+315 = 625 -> done @1225.
    assert o.first_task_running_s == 565
    assert o.all_done_s == 1225
    assert o.wait_max_s == 625
    # idle from sample@1260, 15th @2100, readable @2160 -> tasks 0 @2170, stopped @2230; below target
    # from sample@2280, 15th @3120, readable @3180 -> -1 (half of 2) @3190; next step >= 150 s later,
    # on the @3360 tick -> -1 @3370, gone @3400.
    assert [ev.t for ev in o.events if ev.text.startswith("capacity provider (")] == [3190, 3370]
    assert o.back_to_zero_s == 3400
    assert o.instance_seconds == (3190 - 295) + (3370 - 355)
    assert (o.peak_tasks, o.peak_instances, o.videos_done) == (2, 2, 2)


def test_one_more_video_than_the_fleet_waits_for_a_free_instance(tmp_path):
    o = ours(fleet(tmp_path, 2), videos=3, minutes=10).outcomes[0]
    # same fleet as above; video 3 waits until A finishes video 1 @1165, then runs to @1765
    assert o.all_done_s == 1765
    assert o.wait_max_s == 1165
    assert o.instances_launched == 2 and o.peak_instances == 2 and o.peak_tasks == 2
    assert o.busy_seconds == 3 * 600


def test_video_longer_than_the_visibility_timeout_is_retried_then_dead_lettered(tmp_path):
    config = fleet(tmp_path, 1, TimeoutHours="0.1", MaxReceiveCount="2")  # 360 s visibility
    e = ours(config, videos=1, minutes=10)
    o = e.outcomes[0]
    # received @565, visible again @925 while the only task is still busy until @1165, received again
    # @1165, expires @1525 on its 2nd receive -> dead queue.
    assert (o.videos_done, o.videos_dead, o.repeat_receives) == (0, 1, 1)
    assert o.all_done_s == 1525
    assert any("outlasts TimeoutHours" in w for w in e.warnings)


def test_original_scaling_one_video_by_hand(tmp_path):
    e = ours(fleet(tmp_path, 1), videos=1, minutes=10, compare_original=True)
    original = e.outcomes[1]
    assert original.label == "original stack"
    # 5-minute average reaches 1 with sample@300, readable @360 -> +1 task and +1 instance @370;
    # running @370+315 = 685, done @1285. No visible message from sample@720: the 180th zero sample is
    # @11460, readable @11520 -> -1 instance @11530, gone @11560.
    assert original.first_task_running_s == 685
    assert original.all_done_s == 1285
    assert original.back_to_zero_s == 11560
    assert original.instance_seconds == 11530 - 415
    assert e.costs[1].gpu_hours > 3 * e.costs[0].gpu_hours


# --- estimate and deployment read the same design ---------------------------------------------------------
def test_scale_in_idle_minutes_in_the_model_file_moves_the_estimate(tmp_path):
    base = ours(fleet(tmp_path, 1), videos=1, minutes=10).outcomes[0]
    later = ours(fleet(tmp_path, 1, ScaleInIdleMinutes="30"), videos=1, minutes=10).outcomes[0]
    # 15 more idle minutes before tasks go to zero, so the instance goes 15 minutes later too
    assert later.back_to_zero_s - base.back_to_zero_s == 15 * 60
    assert later.instance_seconds - base.instance_seconds == 15 * 60
    assert later.all_done_s == base.all_done_s


def test_changing_the_scaling_design_cooldown_moves_the_estimate(tmp_path):
    config = fleet(tmp_path, 20)
    design = design_for(config)
    assert design.scale_out_cooldown_seconds == 300
    quick = ours(config, videos=10, minutes=30).outcomes[0]
    # +8 @130, cooldown over @430: the queue still shows 10 visible (no task runs before @565), so the
    # step adds 8 more, and again after the next cooldown: 20 tasks and 20 instances for 10 videos.
    assert quick.peak_tasks == 20 and quick.peak_instances == 20
    slow = ours(config, videos=10, minutes=30,
                design=dataclasses.replace(design, scale_out_cooldown_seconds=900)).outcomes[0]
    assert slow.peak_tasks < quick.peak_tasks
    assert slow.instance_seconds < quick.instance_seconds


def test_estimate_warns_when_the_design_over_provisions(tmp_path):
    e = ours(fleet(tmp_path, 20), videos=10, minutes=30)
    assert any(w.startswith("over-provisioned: up to 20 tasks for at most 10 videos") for w in e.warnings)


def test_assumptions_move_the_estimate(tmp_path):
    config = fleet(tmp_path, 1)
    slower, prices = apply_overrides(["image_pull_s=300", "price.g4dn.xlarge.on_demand=1"], PINNED)
    base = ours(config, videos=1, minutes=10).outcomes[0]
    e = run(config, Workload(1, 10), slower, prices)
    assert e.outcomes[0].first_task_running_s - base.first_task_running_s == 150
    assert e.costs[0].instance_usd == pytest.approx(e.costs[0].gpu_hours * 1.0)


@pytest.mark.parametrize("item, message", [
    ("image_pull_s", "expected NAME=VALUE"),
    ("image_pul_s=3", "did you mean image_pull_s?"),
    ("image_pull_s=fast", "not a number"),
    ("task_stop_s=-1", "must be at least 0"),
    ("cp_multi_az_rule=2", "must be from 0 to 1"),
    ("price.g4dn.xlarge.spot=-0.1", "cannot be negative"),
])
def test_bad_assumption_is_a_one_line_error(item, message):
    with pytest.raises(AssumptionError) as caught:
        apply_overrides([item])
    assert message in str(caught.value) and "\n" not in str(caught.value)


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
    assert lines["CloudWatch alarms"] == pytest.approx(0.50)
    assert lines["S3 results"] == pytest.approx(100 * 5 / 1024 * 0.023)


# --- the command ----------------------------------------------------------------------------------------
def cli(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), "estimate", *map(str, args)], capture_output=True, text=True, timeout=300)


def test_cli_prints_the_timeline_and_costs():
    proc = cli(SEED, "--videos", 1, "--minutes-per-video", 10, "--compare-original",
               *[arg for name in ("image_pull_s", "instance_boot_s") for arg in ("--assume", f"{name}="
                                                                                 f"{getattr(PINNED, name):g}")])
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert proc.stderr == ""
    for expected in ("first task running", "all videos done", "back to zero instances", "GPU-instance hours",
                     "this stack", "original stack", "Timeline (this stack):", "0:09:25  first task running",
                     "Cost of the deployed stack while at zero: $2.90/month"):
        assert expected in out, expected


def test_cli_json_and_plot(tmp_path):
    png = tmp_path / "plots" / "estimate.png"
    proc = cli(SEED, "--videos", 3, "--minutes-per-video", 20, "--arrival", "spread:1", "--plot", png, "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["stack_name"] == "Megadetector" and doc["runs"][0]["videos_done"] == 3
    assert doc["design"]["scale_in_idle_minutes"] == 15
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in png.parent.iterdir()] == ["estimate.png"]  # no temp file left behind


def test_cli_bad_assume_is_one_line():
    proc = cli(SEED, "--videos", 1, "--minutes-per-video", 10, "--assume", "image_pul_s=3")
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == ["ecs-autoscale: --assume image_pul_s: unknown assumption "
                                        "(did you mean image_pull_s?)"]
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
    code = ("import sys; from ecs_autoscale.cli.estimate import estimate; "
            "from ecs_autoscale.estimate import run, Workload; from ecs_autoscale.config import load_config; "
            f"from ecs_autoscale.estimate import report; report.text(run(load_config({str(SEED)!r}), Workload(2, 5))); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('cdktf', 'jsii', 'matplotlib', 'constructs')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
