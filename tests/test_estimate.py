"""`ecs-autoscale estimate`: the discrete-event model against hand-computed timelines, its link to the
scaling design the constructs use, and the command as users run it.

The hand computations pin every assumption to the value written below (not to the shipped defaults),
so a changed default cannot silently re-baseline them. With these values a fresh instance is ready
    launch request + 45 pending + 90 boot (registered) + 150 image pull + 30 task start = +315 s,
and it bills from launch + 45. Alarms read the sample of the previous minute (SQS and Container
Insights both 60 s late) on each minute tick; scaling actions land 10 s after the tick. The scale-out
alarm reads the uncovered backlog, visible + in flight - desired tasks (threshold 1, steps
+1/+2/+4/+8 capped at FleetSize, cooldown 180 s); during a cooldown a repeated alarm adds only what
its step adds beyond the step that started the cooldown. A stopped task frees its instance after
the container's 60 s stopTimeout.
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
    task_start_s=30, instance_shutdown_s=30, container_insights_delay_s=60,
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
    # sample@60: 1 visible + 0 in flight - 0 desired = 1 uncovered, readable @120 -> +1: tasks 0->1 @130,
    # cooldown to @310. @180 reads sample@120 (desired still 0): 1 uncovered, +1 inside the cooldown adds
    # nothing beyond the +1 that started it; from @240 the alarm reads desired 1: 0 uncovered.
    # Reservation sample@180 (1 task waits, 0 instances) readable @240 -> launch @250; running
    # @250+315 = 565; video done @565+600 = 1165.
    assert [(ev.t, ev.text) for ev in o.events if ev.kind in ("scale", "capacity", "task")][:3] == [
        (130, "scale-out alarm (1 video without a task, step +1): tasks 0 -> 1"),
        (250, "capacity provider: +1 instance (1 in group)"),
        (565, "first task running"),
    ]
    assert o.first_task_running_s == 565
    assert o.all_done_s == 1165
    # idle samples @1200..@2040 (15), readable @2100 -> tasks to 0 @2110, stopped @2110+60 = 2170 (the
    # stopTimeout); 0 uncovered (0 + 0 - 0), so no scale-out follows. Reservation below target from
    # sample@2220, 15th @3060 readable @3120 -> terminate @3130, gone @3160.
    assert o.back_to_zero_s == 3160
    assert o.instance_seconds == 3130 - 295
    assert o.busy_seconds == 600
    assert (o.peak_tasks, o.peak_instances, o.instances_launched) == (1, 1, 1)
    assert [ev.t for ev in o.events if ev.kind == "scale"] == [130, 2110]
    assert e.costs[0].instance_usd == pytest.approx((3130 - 295) / 3600 * G4DN_ON_DEMAND)
    assert e.costs[0].ebs_usd == pytest.approx(10 * 0.08 / 730 * (3130 - 295) / 3600)


def test_burst_of_fleet_size_videos(tmp_path):
    o = ours(fleet(tmp_path, 2), videos=2, minutes=10).outcomes[0]
    # sample@60: 2 uncovered (2 - 0 desired), breach 1 -> the +2 step (FleetSize 2 caps the steps at
    # +1/+2) @130; from @240 the alarm reads desired 2: 0 uncovered. The multi-AZ group grows one
    # instance per minute: @250 and @310.
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
    # sample@60: 3 uncovered, breach 2 -> +2 @130; later 3 - 2 desired = 1 uncovered keeps adding +1
    # after each cooldown, which FleetSize 2 caps: the same fleet as above. Video 3 waits until A
    # finishes video 1 @1165, then runs to @1765.
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


def scale_events(outcome) -> list[tuple[float, str]]:
    return [(ev.t, ev.text) for ev in outcome.events if ev.kind == "scale"]


def test_a_burst_smaller_than_the_fleet_gets_one_task_per_video(tmp_path):
    e = ours(fleet(tmp_path, 20), videos=10, minutes=30)
    o = e.outcomes[0]
    # sample@60: 10 uncovered, breach 9 -> +8 @130, cooldown to @310. @180 reads sample@120 (desired 0,
    # 10 uncovered: +8 again, inside the cooldown no more than the +8 that started it: nothing); @240
    # reads sample@180 (desired 8): 2 uncovered, +2 inside the cooldown adds nothing beyond the +8;
    # @300 reads 2 uncovered again and lands @310, the cooldown over: 10 tasks. From @360 desired 10:
    # 0 uncovered. No task runs before @565, so a signal without the desired count would re-add.
    assert scale_events(o)[:2] == [(130, "scale-out alarm (10 videos without a task, step +8): tasks 0 -> 8"),
                                   (310, "scale-out alarm (2 videos without a task, step +2): tasks 8 -> 10")]
    assert (o.peak_tasks, o.peak_instances, o.instances_launched) == (10, 10, 10)
    assert not any(w.startswith("over-provisioned") for w in e.warnings)


def test_changing_the_scaling_design_cooldown_moves_the_estimate(tmp_path):
    config = fleet(tmp_path, 20)
    design = design_for(config)
    assert design.scale_out_cooldown_seconds == 180
    base = ours(config, videos=10, minutes=30)
    # A 60 s cooldown ends before the alarm can see the desired count it raised: +8 @130, cooldown to
    # @190; @180 still reads desired 0 (10 uncovered) and lands @190, out of the cooldown: +8 -> 16;
    # @240 reads sample@180 (desired 8, 2 uncovered) -> +2 @250 -> 18 tasks and instances for 10 videos.
    short = ours(config, videos=10, minutes=30, design=dataclasses.replace(design, scale_out_cooldown_seconds=60))
    assert [t for t, _ in scale_events(short.outcomes[0])[:3]] == [130, 190, 250]
    assert (short.outcomes[0].peak_tasks, short.outcomes[0].peak_instances) == (18, 18)
    assert short.outcomes[0].instance_seconds > base.outcomes[0].instance_seconds
    assert any(w.startswith("over-provisioned: up to 18 tasks for at most 10 videos") for w in short.warnings)
    # A 900 s cooldown delays the +2 top-up to @1030: the last two videos start later.
    slow = ours(config, videos=10, minutes=30,
                design=dataclasses.replace(design, scale_out_cooldown_seconds=900)).outcomes[0]
    assert scale_events(slow)[1][0] == 1030
    assert slow.all_done_s > base.outcomes[0].all_done_s and slow.peak_tasks == 10


def test_the_cooldown_absorbs_container_insights_a_minute_later_than_sqs(tmp_path):
    config = fleet(tmp_path, 20)
    late = dataclasses.replace(PINNED, container_insights_delay_s=120)
    o = run(config, Workload(10, 30), late).outcomes[0]
    # @300 reads SQS sample@240 and the newest desired count, sample@180 (8): 2 uncovered -> +2 @310.
    # Before that the alarm repeats desired 0 (10 uncovered) only inside the cooldown.
    assert [t for t, _ in scale_events(o)[:2]] == [130, 310]
    assert (o.peak_tasks, o.peak_instances) == (10, 10)
    # Two minutes late, @300 still reads desired 0 (sample@120): +8 out of the cooldown -> 16 and more.
    later = run(config, Workload(10, 30), dataclasses.replace(PINNED, container_insights_delay_s=180)).outcomes[0]
    assert later.peak_tasks > 10


def test_the_design_stop_timeout_moves_the_estimate(tmp_path):
    config = fleet(tmp_path, 1)
    base = ours(config, videos=1, minutes=10).outcomes[0]
    slower = ours(config, videos=1, minutes=10,
                  design=dataclasses.replace(design_for(config), container_stop_timeout_seconds=120)).outcomes[0]
    # the task frees its instance 60 s later, so reservation drops below target a minute later
    assert slower.back_to_zero_s - base.back_to_zero_s == 60


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
    ("container_insights_delay_s=-1", "must be at least 0"),
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
    # 7 alarm metrics at $0.10: queue-has-videos 3 (visible, in flight, desired), queue-idle 2, ECS 2
    assert lines["CloudWatch alarms"] == pytest.approx(0.70)
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
                     "Cost of the deployed stack while at zero: $3.10/month"):
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
