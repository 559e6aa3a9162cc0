"""`ecs-autoscale report` end to end on the emulator: deploy, submit, the reference worker processes the videos,
the fleet returns to zero, and the report gives the timeline, the per-phase figures, hours and cost, and the
estimate side by side (also while the job still runs); `--json` feeds `estimate --assume-from`.

The instance agent does not run here: this test writes the milestones it would write (notes/milestones.md)
with boto3, as a stand-in, at the moments they happen; the lead's agent-side test checks the agent writes the
same events. The Auto Scaling activities are the emulator's (emulator/history.py), recorded as the group
launches and terminates instances.
"""

from __future__ import annotations

import json
import os
import time

import pytest
from helpers import seed_text, write_model
from support.jobs import run_worker

from ecs_autoscale.model.naming import StackNames

STACK_NAME = "Report-Test-Stack"
JOB = "measured-1"
VIDEOS = {"dive-r/a.mov": 300, "dive-r/b.mov": 400, "dive-r/c.mov": 500}
PHASES = {"instance_pending_s", "instance_boot_s", "docker_ready_s", "image_pull_s", "task_start_s"}


class AgentStandIn:
    """Writes an instance's milestones as the instance agent does: one JSON object per event, in the stack's
    log group, stream ecs-autoscale-agent/<instance id>, timestamp = the event time."""

    def __init__(self, logs, stack: str, instance: dict) -> None:
        self.logs, self.group, self.instance = logs, f"/ecs/{stack}", instance
        self.stream = f"ecs-autoscale-agent/{instance['InstanceId']}"
        logs.create_log_stream(logGroupName=self.group, logStreamName=self.stream)

    def write(self, event: str, **fields) -> None:
        now = time.time()
        record = {
            "event": event,
            "t": now,
            "instance_id": self.instance["InstanceId"],
            "instance_type": self.instance["InstanceType"],
            "lifecycle": "on-demand",
            "pending_time": self.instance["LaunchTime"].timestamp(),
            **fields,
        }
        self.logs.put_log_events(
            logGroupName=self.group,
            logStreamName=self.stream,
            logEvents=[{"timestamp": int(now * 1000), "message": json.dumps(record, sort_keys=True)}],
        )

    def boot_and_start_workers(self) -> None:
        self.write("agent_started", boot_time=time.time(), target_state=None)
        self.write("docker_up")
        self.write("pull_started", image="worker:latest")
        started = time.time()
        self.write("pull_finished", image="worker:latest", seconds=time.time() - started, ok=True)
        instance_id = self.instance["InstanceId"]
        self.write("registered", container_instance_arn=f"arn:aws:ecs:::container-instance/{instance_id}")
        self.write("first_task", task_arn=f"arn:aws:ecs:::task/{instance_id}")

    def leave(self, autoscaling, group: str, hook: str) -> None:
        """As the agent leaves: terminate with decrement, retried while another instance's termination is a
        scaling activity in progress, then complete its own termination hook."""
        self.write("idle", since=time.time())
        self.write("leaving", reason="idle", videos_cut=0)
        instance_id = self.instance["InstanceId"]
        for _ in range(20):
            try:
                autoscaling.terminate_instance_in_auto_scaling_group(
                    InstanceId=instance_id, ShouldDecrementDesiredCapacity=True
                )
                break
            except autoscaling.exceptions.ScalingActivityInProgressFault:
                time.sleep(0.2)
        autoscaling.complete_lifecycle_action(
            LifecycleHookName=hook, AutoScalingGroupName=group, InstanceId=instance_id, LifecycleActionResult="CONTINUE"
        )


@pytest.fixture(scope="module")
def job(tmp_path_factory, ecs_cli, aws_client, emulator):
    """Deploy, submit, milestones while running, a report of the running job, the worker, the fleet to zero."""
    folder = tmp_path_factory.mktemp("report")
    model = write_model(folder, seed_text(StackName=STACK_NAME, FleetSize=2, InstanceTypes="[g4dn.xlarge]"))
    stack_dir = folder / "stack"
    ecs_cli("deploy", model, stack_dir, "--auto-approve", timeout=1200)
    outputs = json.loads((stack_dir / "outputs.json").read_text())
    videos = folder / "Volumes" / "dive-r"
    for rel, size in VIDEOS.items():
        (folder / "Volumes" / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / "Volumes" / rel).write_bytes(os.urandom(size))
    ecs_cli("submit", stack_dir, videos, "--job", JOB)

    autoscaling, ec2 = aws_client("autoscaling"), aws_client("ec2")
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[outputs["autoscaling_group_name"]])
    ids = [i["InstanceId"] for i in group["AutoScalingGroups"][0]["Instances"]]
    instances = [i for r in ec2.describe_instances(InstanceIds=ids)["Reservations"] for i in r["Instances"]]
    agents = [AgentStandIn(aws_client("logs"), STACK_NAME, i) for i in instances]
    for agent in agents:
        agent.boot_and_start_workers()
    running = json.loads(ecs_cli("report", stack_dir, "--job", JOB, "--config", model, "--json").stdout)

    worked = run_worker(emulator, outputs)
    assert worked.stderr.count("SUCCESS ") == len(VIDEOS), worked.stderr[-3000:]
    for agent in agents:
        agent.leave(autoscaling, outputs["autoscaling_group_name"], StackNames(STACK_NAME).termination_hook)
    return {"stack_dir": stack_dir, "model": model, "ids": sorted(ids), "running": running, "folder": folder}


@pytest.mark.emulator
def test_a_running_job_is_reported_as_far_as_it_got(job):
    running = job["running"]
    assert running["finished"] is False
    assert running["videos"] == {"total": 3, "done": 0, "failed": 0, "cut": 0, "unfinished": 3}
    assert running["measured"]["all_done_s"] is None and running["measured"]["back_to_zero_s"] is None
    assert running["measured"]["gpu_instance_hours"] > 0  # counted up to now
    assert sorted(i["id"] for i in running["instances"]) == job["ids"]
    assert all(i["terminated"] is None for i in running["instances"])
    assert "no minutes per video yet" in " ".join(running["notes"])


@pytest.mark.emulator
def test_the_finished_job_has_its_timeline_phases_hours_cost_and_the_estimate(job, ecs_cli):
    report = json.loads(ecs_cli("report", job["stack_dir"], "--job", JOB, "--config", job["model"], "--json").stdout)
    assert report["finished"] is True and report["videos"]["done"] == 3
    m = report["measured"]
    assert 0 <= m["first_task_running_s"] <= m["all_done_s"] <= m["back_to_zero_s"]
    assert m["peak_instances"] == 2 and m["instances_launched"] == 2
    # Each instance ran less than a minute here: EC2 bills a minute at least.
    assert m["gpu_instance_hours"] == pytest.approx(2 * 60 / 3600)
    assert m["instance_usd"] == pytest.approx(m["gpu_instance_hours"] * 0.526)  # g4dn.xlarge on-demand, shipped
    assert [p["usd_per_hour"] for p in report["price"]["instances"]] == [0.526]
    assert set(report["phases"]) >= PHASES | {"instance_shutdown_s"}
    for name, phase in report["phases"].items():
        assert 0 <= phase["median"] <= phase["max"] and phase["instances"] == 2, name
    assert set(report["assumptions"]) == set(report["phases"])
    for instance in report["instances"]:
        assert instance["launched"] <= instance["registered"] <= instance["first_task"] <= instance["terminated"]
    whats = [e["what"] for e in report["timeline"]]
    assert whats[0] == "first of 3 video(s) queued" and whats[-1] == "fleet back at zero instances"
    assert sum(w.endswith(" launched (g4dn.xlarge on-demand)") for w in whats) == 2
    assert "last video finished" in whats
    estimate = report["estimate"]
    assert estimate["minutes_per_video"] == report["minutes_per_video"]["value"] > 0
    assert estimate["peak_instances"] == 2 and report["ratios"]["peak_instances"] == 1.0
    assert report["ratios"]["all_done_s"] == pytest.approx(m["all_done_s"] / estimate["all_done_s"])


@pytest.mark.emulator
def test_the_text_and_the_plot(job, ecs_cli, tmp_path):
    plot = tmp_path / "job.png"
    text = ecs_cli("report", job["stack_dir"], "--job", JOB, "--config", job["model"], "--plot", plot).stdout
    assert text.startswith(f"Job {JOB} on {STACK_NAME} (us-west-2): finished")
    assert "Videos: 3: 3 done, 0 failed, 0 cut" in text
    assert "fleet back at zero instances" in text
    assert "  instance_boot_s " in text and "measured/assumed" in text
    assert "GPU-instance hours" in text and "measured/estimate" in text
    assert "g4dn.xlarge on-demand at $0.53/h" in text and "list prices" in text
    assert "--assume-from measured.json" in text
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bare = ecs_cli("report", job["stack_dir"], "--job", JOB).stdout
    assert "add --config CONFIG.yaml" in bare


@pytest.mark.emulator
def test_the_json_plans_the_next_job(job, ecs_cli, tmp_path):
    measured = tmp_path / "measured.json"
    measured.write_text(ecs_cli("report", job["stack_dir"], "--job", JOB, "--json").stdout)
    assumptions = json.loads(measured.read_text())["assumptions"]
    plan = ["estimate", job["model"], "--videos", "30", "--minutes-per-video", "12", "--json"]
    from_file = json.loads(ecs_cli(*plan, "--assume-from", measured).stdout)
    flags = [a for name, value in assumptions.items() for a in ("--assume", f"{name}={value}")]
    by_flags = json.loads(ecs_cli(*plan, *flags).stdout)
    assert from_file == by_flags and from_file["assumptions"]["image_pull_s"] == assumptions["image_pull_s"]


@pytest.mark.emulator
def test_an_unknown_job_is_one_line(job, ecs_cli):
    proc = ecs_cli("report", job["stack_dir"], "--job", "nope", check=False)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "known jobs: measured-1" in proc.stderr
