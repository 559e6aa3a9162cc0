"""`ecs-autoscale report` end to end on the emulator: deploy, submit, the reference worker processes the videos,
the fleet returns to zero, and the report gives the timeline, the per-phase figures, hours and cost, and the
estimate side by side (also while the job still runs); `--json` feeds `estimate --assume-from`.

The milestones are the real instance agent's: the agent and its agent.json exactly as the deployed launch
template carries them (tests/agent_fakes.py's deployed_agent), on the instances' Python, one per instance of
the group, with the instance around it faked (IMDS with the emulator instance's identity and launch time, the
ECS agent's introspection, docker, /proc) and the agent's timings shortened. It writes to the stack's log
group under the milestone contract (client/fleet_history.py) and leaves as it does on AWS: terminate with
decrement, then the termination hook. The Auto Scaling activities are the emulator's (emulator/history.py).
"""

from __future__ import annotations

import json
import os
import stat
import threading
import time

import pytest
from agent_fakes import ACCOUNT, FakeDocker, FakeInstance, deployed_agent, downloading, start_agent, task
from helpers import seed_text, write_model
from support.jobs import run_worker

from ecs_autoscale.stack_dir import DEPLOYED_MODEL_FILE

STACK_NAME = "Report-Test-Stack"
JOB = "measured-1"
VIDEOS = {"dive-r/a.mov": 300, "dive-r/b.mov": 400, "dive-r/c.mov": 500}
PHASES = {"instance_pending_s", "instance_boot_s", "docker_ready_s", "image_pull_s", "task_start_s"}
WORKER = "worker-container"


class GpuInstance:
    """One instance of the deployed group as its agent sees it, the agent running in the background."""

    def __init__(self, folder, emulator: str, described: dict, aws_client, group: str) -> None:
        folder.mkdir()
        self.id, self.group, self.autoscaling = described["InstanceId"], group, aws_client("autoscaling")
        script, config = deployed_agent(aws_client("ec2"), self.autoscaling, group, folder)
        self.config = config
        cluster, family = config["cluster_name"], config["task_families"][0]
        self.host = FakeDocker(folder)
        self.host.add_worker(WORKER)
        launched = described["LaunchTime"]
        # Booted when EC2 launched it (the emulator's instances have no pending time): now - uptime.
        (self.host.proc_root / "uptime").write_text(f"{time.time() - launched.timestamp():.2f} 10.0\n")
        self.fake = FakeInstance(self.id, cluster=cluster, pending_time=launched.strftime("%Y-%m-%dT%H:%M:%SZ"))
        document = {"instanceId": self.id, "region": config["region"], "accountId": ACCOUNT}
        self.fake.metadata["ContainerInstanceArn"] = aws_client("ecs").register_container_instance(
            cluster=cluster, instanceIdentityDocument=json.dumps(document)
        )["containerInstance"]["containerInstanceArn"]
        self.fake.tasks = [
            task(f"arn:aws:ecs:{config['region']}:{ACCOUNT}:task/{cluster}/{self.id}", family, "RUNNING", WORKER)
        ]
        self.stop_following = threading.Event()
        self.follower = threading.Thread(target=self._follow_termination, daemon=True)
        self.follower.start()
        short = {"poll_seconds": 0.3, "idle_seconds": 1, "quiet_seconds": 0.1, "submit_hold_seconds": 0}
        self.agent = start_agent(
            script,
            {
                **config,
                **short,
                "endpoint_url": emulator,
                "imds_url": self.fake.imds_url,
                "introspection_url": self.fake.introspection_url,
                "state_dir": str(folder / "state"),
                **self.host.paths,
            },
            self.host,
            cycles=2000,
            log=True,
        )
        self.log = script.with_name("agent.log")

    def _follow_termination(self) -> None:
        """IMDS's target lifecycle state once the group terminates the instance: Terminated, as AWS's says."""
        while not self.stop_following.wait(0.2):
            group = self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[self.group])
            states = [
                i["LifecycleState"] for i in group["AutoScalingGroups"][0]["Instances"] if i["InstanceId"] == self.id
            ]
            if not states or states[0].startswith("Terminating"):
                self.fake.lifecycle_state = "Terminated"

    def left(self, timeout: float) -> None:
        """Wait for the agent to take its instance out of the group and exit."""
        try:
            self.agent.wait(timeout)
        except Exception:
            raise AssertionError(f"{self.id}'s agent did not leave: {self.log.read_text()[-3000:]}") from None
        assert self.agent.returncode == 0, self.log.read_text()[-3000:]

    def close(self) -> None:
        if self.agent.poll() is None:
            self.agent.kill()
            self.agent.wait()
        self.stop_following.set()
        self.follower.join()
        self.fake.close()
        self.host.close()


def milestones(logs, instance_id: str) -> list[str]:
    """The events the agent wrote so far in its stream (none before it created the stream)."""
    try:
        events = logs.get_log_events(
            logGroupName=f"/ecs/{STACK_NAME}", logStreamName=f"ecs-autoscale-agent/{instance_id}", startFromHead=True
        )["events"]
    except logs.exceptions.ResourceNotFoundException:
        return []
    return [json.loads(e["message"])["event"] for e in events]


def wait_for(what, why, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, f"timed out waiting for {why()}"
        time.sleep(0.3)


@pytest.fixture(scope="module")
def job(tmp_path_factory, ecs_cli, aws_client, emulator):
    """Deploy, submit, the agents start the instances' workers, a report of the running job (no video done),
    the worker takes one video, a report (one done), the worker takes the rest, the agents take the fleet to
    zero."""
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

    group_name = outputs["autoscaling_group_name"]
    group = aws_client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[group_name])
    ids = sorted(i["InstanceId"] for i in group["AutoScalingGroups"][0]["Instances"])
    described = [
        i for r in aws_client("ec2").describe_instances(InstanceIds=ids)["Reservations"] for i in r["Instances"]
    ]
    instances = [GpuInstance(folder / i["InstanceId"], emulator, i, aws_client, group_name) for i in described]
    report = ("report", stack_dir, "--job", JOB, "--config", model)
    try:
        logs = aws_client("logs")
        for i in instances:
            wait_for(
                lambda i=i: "first_task" in milestones(logs, i.id),
                lambda i=i: f"{i.id}'s first_task: {i.log.read_text()}",
            )
        running = json.loads(ecs_cli(*report, "--json").stdout)
        with downloading(*[(i.host, WORKER, 2 * int(i.config["busy_bytes_per_poll"])) for i in instances]):
            worked = run_worker(emulator, outputs, "--max-messages", "1")
            assert worked.stderr.count("SUCCESS ") == 1, worked.stderr[-3000:]
            one_done = ecs_cli(*report).stdout
            worked = run_worker(emulator, outputs)
            assert worked.stderr.count("SUCCESS ") == len(VIDEOS) - 1, worked.stderr[-3000:]
        for i in instances:
            i.left(timeout=120)
    finally:
        for i in instances:
            i.close()
    return {"stack_dir": stack_dir, "model": model, "ids": ids, "running": running, "one_done": one_done}


def test_a_running_job_is_reported_as_far_as_it_got(job):
    running = job["running"]
    assert running["finished"] is False
    assert running["videos"] == {"total": 3, "done": 0, "failed": 0, "cut": 0, "unfinished": 3}
    assert running["measured"]["all_done_s"] is None and running["measured"]["back_to_zero_s"] is None
    assert running["measured"]["gpu_instance_hours"] > 0  # counted up to now
    assert sorted(i["id"] for i in running["instances"]) == job["ids"]
    assert all(i["first_task"] is not None and i["terminated"] is None for i in running["instances"])
    assert "no minutes per video yet" in " ".join(running["notes"])


def test_the_text_of_a_running_job_says_how_far_it_got(job):
    text = job["one_done"]
    assert text.startswith(f"Job {JOB} on {STACK_NAME} (us-west-2): still running (reported as far as it got)")
    assert "Videos: 3: 1 done, 0 failed, 0 cut" in text and ", 2 unfinished" in text
    assert "first video finished" in text
    assert "last video finished" not in text and "fleet back at zero instances" not in text
    for instance_id in job["ids"]:
        assert f"{instance_id} first worker task running" in text and f"{instance_id} terminated" not in text
    assert "Minutes per video: " in text and "median of 1 done video(s)" in text
    # One video done: the estimate of the same workload is side by side already.
    [row] = [line.split()[3:] for line in text.splitlines() if line.startswith("all videos done")]
    measured, estimated, ratio = row
    assert measured == "-" and estimated != "-" and ratio == "-"  # not all done yet


def test_the_finished_job_has_its_timeline_phases_hours_cost_and_the_estimate(job, ecs_cli):
    report = json.loads(ecs_cli("report", job["stack_dir"], "--job", JOB, "--config", job["model"], "--json").stdout)
    assert report["finished"] is True and report["videos"]["done"] == 3
    assert report["notes"] == []  # every milestone read, none skipped
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
        assert instance["docker_up"] and instance["pull_finished"] and instance["leaving"]
        assert instance["idle"] <= instance["leaving"] <= instance["terminated"]
    whats = [e["what"] for e in report["timeline"]]
    assert whats[0] == "first of 3 video(s) queued" and whats[-1] == "fleet back at zero instances"
    assert sum(w.endswith(" launched (g4dn.xlarge on-demand)") for w in whats) == 2
    assert sum(w.endswith(" leaving (idle)") for w in whats) == 2
    assert "last video finished" in whats
    estimate = report["estimate"]
    assert estimate["minutes_per_video"] == report["minutes_per_video"]["value"] > 0
    assert estimate["peak_instances"] == 2 and report["ratios"]["peak_instances"] == 1.0
    assert report["ratios"]["all_done_s"] == pytest.approx(m["all_done_s"] / estimate["all_done_s"])


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


def test_without_config_the_report_estimates_from_the_model_file_deploy_kept(job, ecs_cli, tmp_path):
    kept = job["stack_dir"] / DEPLOYED_MODEL_FILE
    assert kept.read_bytes() == job["model"].read_bytes()
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600  # owner-only, like STACK_DIR's other files
    with_config = json.loads(
        ecs_cli("report", job["stack_dir"], "--job", JOB, "--config", job["model"], "--json").stdout
    )
    bare = json.loads(ecs_cli("report", job["stack_dir"], "--job", JOB, "--json").stdout)
    assert bare["estimate"] is not None and bare["estimate"] == with_config["estimate"]
    text = ecs_cli("report", job["stack_dir"], "--job", JOB).stdout
    assert f"(estimate of {kept}, the model file the last deploy applied; --config overrides it)" in text
    assert f"ecs-autoscale estimate {kept} --videos 3" in text and "add --config" not in text
    # --config still wins: another stack's model file is refused as the comparison, not replaced by the copy.
    other = write_model(tmp_path, seed_text(StackName="Another-Stack", FleetSize=2))
    refused = json.loads(ecs_cli("report", job["stack_dir"], "--job", JOB, "--config", other, "--json").stdout)
    assert refused["estimate"] is None
    assert f"the model file is Another-Stack's, not {STACK_NAME}'s: no estimate to compare" in refused["notes"]


def test_the_json_plans_the_next_job(job, ecs_cli, tmp_path):
    measured = tmp_path / "measured.json"
    measured.write_text(ecs_cli("report", job["stack_dir"], "--job", JOB, "--json").stdout)
    assumptions = json.loads(measured.read_text())["assumptions"]
    plan = ["estimate", job["model"], "--videos", "30", "--minutes-per-video", "12", "--json"]
    from_file = json.loads(ecs_cli(*plan, "--assume-from", measured).stdout)
    flags = [a for name, value in assumptions.items() for a in ("--assume", f"{name}={value}")]
    by_flags = json.loads(ecs_cli(*plan, *flags).stdout)
    assert from_file == by_flags and from_file["assumptions"]["image_pull_s"] == assumptions["image_pull_s"]


def test_an_unknown_job_is_one_line(job, ecs_cli):
    proc = ecs_cli("report", job["stack_dir"], "--job", "nope", check=False)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "known jobs: measured-1" in proc.stderr
