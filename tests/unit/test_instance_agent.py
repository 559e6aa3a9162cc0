"""The instance agent without AWS: its decisions, its SigV4 signer against botocore's, its retries, the user
data that carries it (size, bash syntax, the embedded copy is the same code) and its IAM permissions.
The agent against the emulator: tests/emulator/test_instance_agent_emulator.py."""

from __future__ import annotations

import ast
import calendar
import dataclasses
import gzip
import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from agent_fakes import FakeDocker, FakeInstance, task
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from ecs_autoscale.agent import instance_agent as ia
from ecs_autoscale.model.naming import StackNames
from ecs_autoscale.model.scaling_design import ScalingDesign
from ecs_autoscale.synthesis.policy import Statement, policy_document
from ecs_autoscale.synthesis.user_data import (
    USER_DATA_LIMIT_BYTES,
    agent_config,
    agent_permissions,
    agent_settings,
    agent_source,
    ecr_registry_of,
    ecs_agent_config,
    embedded_agent,
    render_user_data,
)

IMAGE = "168552337187.dkr.ecr.us-west-2.amazonaws.com/mbari/strongsort-yolov5:1.10.0"
DESIGN = ScalingDesign(fleet_size=4, tasks_per_instance=1, scale_in_idle_minutes=5, warm_pool_size=1)
NAMES = StackNames("Megadetector")
SETTINGS = agent_settings(DESIGN, NAMES, region="us-west-2", task_families=("strongsort-yolov5",), image=IMAGE)


# --- decisions -------------------------------------------------------------------------------------------------


def test_idle_clock_runs_while_the_workers_are_idle_and_nothing_waits_or_is_delayed():
    since = None
    for now in (0, 15, 30):
        since = ia.idle_clock(since, False, (0, 0, 0), now)
    assert since == 0
    assert ia.scale_in_due(since, 300, 300) and not ia.scale_in_due(since, 299, 300)
    # Videos in flight are other instances' work (issue 19 item 11: each instance leaves when its own is done).
    assert ia.idle_clock(since, False, (0, 7, 0), 45) == 0
    for busy, counts in [(True, (0, 0, 0)), (False, (1, 0, 0)), (False, (0, 0, 1)), (False, None)]:
        assert ia.idle_clock(since, busy, counts, 45) is None  # busy, waiting, delayed, queue unreadable
    assert ia.idle_clock(None, False, (0, 0, 0), 60) == 60  # the clock restarts: 300 s more
    assert not ia.scale_in_due(None, 10**9, 300)


def sample(moved, cpu, when):
    return (moved, cpu, when)


def test_a_worker_is_busy_on_bytes_or_cpu_beyond_an_idle_long_poll():
    s = ia.Settings(**agent_config(SETTINGS))
    poll = s.poll_seconds
    assert not ia.worker_busy(sample(0, 1.0, 0), sample(4_000, 1.1, poll), s)  # a few long polls
    assert ia.worker_busy(sample(0, 1.0, 0), sample(s.busy_bytes_per_poll + 1, 1.0, poll), s)  # a download
    assert ia.worker_busy(sample(0, 1.0, 0), sample(0, 1.0 + poll, poll), s)  # the GPU's feeder, a tar
    assert not ia.worker_busy(sample(0, None, 0), sample(10, None, poll), s)  # no CPU figure: bytes decide


def test_the_last_look_allows_not_one_byte():
    s = ia.Settings(**agent_config(SETTINGS))
    assert ia.quiet(sample(100, 1.0, 0), sample(100, 1.0, 3), s)
    assert not ia.quiet(sample(100, 1.0, 0), sample(101, 1.0, 3), s)  # a long poll answered: maybe a video
    assert not ia.quiet(sample(100, 1.0, 0), sample(100, 3.0, 3), s)


def test_a_submit_holds_scale_in_for_a_while():
    assert ia.held_by_submit(1000, 1000 + DESIGN.submit_hold_seconds - 1, DESIGN.submit_hold_seconds)
    assert not ia.held_by_submit(1000, 1000 + DESIGN.submit_hold_seconds, DESIGN.submit_hold_seconds)
    assert not ia.held_by_submit(None, 10**9, DESIGN.submit_hold_seconds)


def test_recent_exits_are_those_within_the_window_oldest_first():
    exits = {
        "t1": (1000, "exit code 1"),
        "t2": (100, "exit code 2"),
        "t3": (1900, "exit code 137"),
        "t4": (1850, "exit code 3"),
    }
    assert ia.recent_exits(exits, 1900, 900) == ["exit code 1", "exit code 3", "exit code 137"]
    assert ia.recent_exits(exits, 5000, 900) == []


@pytest.mark.parametrize(
    "counts, exits, registered, waited, expected",
    [
        ((1, 0, 0), ["exit code 1"] * 3, True, 0, "3 worker exits, last: exit code 1"),
        ((5, 0, 2), ["a", "b", "exit code 139"], True, 0, "3 worker exits, last: exit code 139"),
        ((1, 0, 0), ["exit code 1"] * 2, True, 10**6, None),  # below the threshold
        ((1, 1, 0), ["exit code 1"] * 5, True, 0, None),  # a worker somewhere takes videos
        ((0, 0, 3), ["exit code 1"] * 5, True, 0, None),  # nothing waits yet
        (None, ["exit code 1"] * 5, True, 0, None),  # the queue could not be read
        ((1, 0, 0), [], False, 600, "instance never joined the cluster (600 s)"),
        ((1, 0, 0), [], False, 599, None),
        ((1, 2, 0), [], False, 10**6, None),
        ((0, 0, 0), [], False, 10**6, None),
        ((1, 0, 0), [], True, 10**6, None),  # registered once: an ECS agent restart is no reason
    ],
)
def test_halt_reason(counts, exits, registered, waited, expected):
    assert ia.halt_reason(counts, exits, 3, registered, waited, 600) == expected


def test_agent_json_leaves_the_instance_paths_to_the_agent_and_refuses_unknown_keys():
    """The settings are declared once (the agent's Settings); agent.json carries all but where the instance
    offers its services, and the agent refuses a key it does not know."""
    fields = {f.name for f in dataclasses.fields(ia.Settings)}
    assert set(agent_config(SETTINGS)) == fields - set(ia.DEFAULTS)
    with pytest.raises(TypeError):
        ia.Settings(**{**agent_config(SETTINGS), "unknown_key": 1})


class ScriptedAgent(ia.Agent):
    """The agent with AWS replaced by a script: answers by action, every call recorded."""

    def __init__(self, tmp_path, answers, **settings):
        super().__init__({**agent_config(SETTINGS), "state_dir": str(tmp_path / "state"), **settings})
        self.iid, self.account, self.queue, self.answers, self.calls = "i-0123", "123456789012", "url", answers, []
        self.domain, self.partition = "amazonaws.com", "aws"
        self.milestones: list[str] = []
        self.records: list[dict] = []

    def call(self, service, action, params, region=None, attempts=4):
        if service == "logs":  # milestones: recorded apart
            self.records += [json.loads(e["message"]) for e in params.get("logEvents", [])]
            self.milestones = [r["event"] for r in self.records]
            return {}
        self.calls.append((action, params.get("status", params.get("ShouldDecrementDesiredCapacity"))))
        answer = self.answers.get(action, {})
        answer = answer.pop(0) if isinstance(answer, list) else answer
        if isinstance(answer, Exception):
            raise answer
        return answer

    def actions(self):
        return [c[0] for c in self.calls]


RUNNING = {
    "Tasks": [
        task("arn:task/1", "strongsort-yolov5", "RUNNING", "c1"),
        task("arn:task/2", "other-stack-family", "RUNNING", "c2"),
    ]
}
ARN = "arn:aws:ecs:us-west-2:123456789012:container-instance/Megadetector/abc"


@pytest.fixture
def host(tmp_path, monkeypatch):
    fake = FakeDocker(tmp_path)
    monkeypatch.setenv("PATH", f"{fake.bin}:{__import__('os').environ['PATH']}")
    for key, value in fake.env.items():
        monkeypatch.setenv(key, value)
    yield fake
    fake.close()


def leaving_agent(tmp_path, host, answers, **settings):
    agent = ScriptedAgent(tmp_path, answers, quiet_seconds=0.05, **host.paths, **settings)
    agent.idle = 1.0
    return agent


def test_leaving_looks_then_kills_then_fences_then_drains_then_terminates(tmp_path, host):
    """Issue 19 item 2: the kill follows a quiet look at the worker itself; draining (which stops daemon tasks)
    comes after the kill, never before the decision."""
    host.add_worker("c1")
    agent = leaving_agent(
        tmp_path,
        host,
        {"UpdateContainerInstancesState": {"failures": []}, "TerminateInstanceInAutoScalingGroup": "<ok/>"},
    )
    assert agent.leave(ARN, RUNNING, "idle")
    # the look's protection check, the drain, the terminate, then at once the hook our own terminate passes
    assert agent.actions() == [
        "GetTaskProtection",
        "UpdateContainerInstancesState",
        "TerminateInstanceInAutoScalingGroup",
        "CompleteLifecycleAction",
    ]
    assert agent.calls[1][1] == "DRAINING" and agent.calls[2][1] == "true"  # desired capacity -1
    commands = host.commands()
    kill, fence = commands.index(["kill", "c1"]), commands.index(["iptables", "-I", *ia.FENCE[:1], "1", *ia.FENCE[1:]])
    assert kill < fence  # not the other stack's container
    assert host.killed("c1")  # SIGKILL to the container's init, at once
    assert host.fence() == [ia.FENCE]
    assert agent.done and not agent.hook_owed and (tmp_path / "state" / "terminated").exists()
    assert agent.milestones == ["idle", "leaving"]
    assert ScriptedAgent(tmp_path, {}).done  # restarted (systemd), the agent does nothing more


def test_a_worker_that_moves_one_byte_during_the_last_look_is_left_alone(tmp_path, host, monkeypatch):
    """A long poll that returns a video during the look moves bytes: nothing is killed, drained or terminated
    (today's agent drained first, which stops the daemon task whatever it then decided)."""
    host.add_worker("c1")
    agent = leaving_agent(tmp_path, host, {})
    real_sleep = ia.time.sleep

    def video_arrives(seconds):
        real_sleep(seconds)
        host.move_bytes("c1", 1)

    monkeypatch.setattr(ia.time, "sleep", video_arrives)
    assert not agent.leave(ARN, RUNNING, "idle")
    assert agent.actions() == ["GetTaskProtection"]  # the look's slow checks precede its final read
    assert not host.killed("c1") and host.fence() == [] and not agent.done
    assert [c for c in host.commands() if c[0] in ("kill", "iptables")] == []


def test_nothing_but_the_final_counter_read_comes_between_the_last_look_and_the_kill(tmp_path, host, monkeypatch):
    """Audit item 1: the last look's slow checks (nvidia-smi, GetTaskProtection, docker) and the milestones
    (synchronous CloudWatch Logs calls, up to ~20 s) once ran between its final sample and the SIGKILL, so
    the gap a video can slip through was up to ~20 s, not the milliseconds `agent_kill_gap_s` charges."""
    host.add_worker("c1")
    host.add_worker("c3")
    two = {"Tasks": [task("arn:task/1", "strongsort-yolov5", "RUNNING", "c1", "c3")]}
    agent = leaving_agent(
        tmp_path,
        host,
        {"UpdateContainerInstancesState": {"failures": []}, "TerminateInstanceInAutoScalingGroup": "<ok/>"},
    )
    events: list[str] = []

    def recording(name, fn):
        def wrapped(*args, **kwargs):
            events.append(name)
            return fn(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(agent, "sample", recording("read counters", agent.sample))
    monkeypatch.setattr(agent, "call", recording("AWS call", agent.call))
    monkeypatch.setattr(agent, "milestone", recording("milestone", agent.milestone))
    monkeypatch.setattr(ia, "command", recording("host command", ia.command))
    monkeypatch.setattr(ia.time, "sleep", recording("sleep", ia.time.sleep))
    monkeypatch.setattr(ia.os, "kill", recording("SIGKILL", ia.os.kill))
    assert agent.leave(ARN, two, "idle")

    kill = events.index("SIGKILL")
    last_other = max(i for i, e in enumerate(events[:kill]) if e != "read counters")
    assert events[last_other + 1 : kill] == ["read counters"] * 2, events  # the final read of each worker
    assert events[: last_other + 1].count("read counters") == 2  # the look's first read
    slow = events[events.index("sleep") : last_other + 1]
    assert "host command" in slow and "AWS call" in slow, events  # nvidia-smi and GetTaskProtection: before
    assert events.index("milestone") > kill  # written after the kill
    assert host.killed("c1") and host.killed("c3")


@pytest.mark.parametrize(
    "drain, terminate, expected",
    [
        ({"failures": [{"reason": "MISSING"}]}, None, ["GetTaskProtection", "UpdateContainerInstancesState"]),
        (
            {"failures": []},
            ia.AwsError("HTTP 400 ValidationError: ... min size constraint"),
            [
                "GetTaskProtection",
                "UpdateContainerInstancesState",
                "TerminateInstanceInAutoScalingGroup",
                "UpdateContainerInstancesState",
            ],
        ),
    ],
)
def test_a_failed_drain_or_terminate_undoes_the_fence_and_the_drain(tmp_path, host, drain, terminate, expected):
    """The killed worker was idle: ECS starts it again, nothing was cut, the instance stays in service."""
    host.add_worker("c1")
    agent = leaving_agent(
        tmp_path,
        host,
        {"UpdateContainerInstancesState": [drain, {"failures": []}], "TerminateInstanceInAutoScalingGroup": terminate},
    )
    assert not agent.leave(ARN, RUNNING, "idle")
    assert agent.actions() == expected
    if len(expected) == 4:
        assert agent.calls[-1][1] == "ACTIVE"  # ECS places the daemon task again
    assert host.fence() == [] and agent.idle is None and not agent.done


def test_an_instance_the_group_terminates_completes_the_hook_when_quiet_and_heartbeats_while_busy(tmp_path, host):
    host.add_worker("c1")
    agent = leaving_agent(tmp_path, host, {"UpdateContainerInstancesState": {"failures": []}})
    agent.in_service = True
    agent.heartbeat()
    assert agent.actions() == ["RecordLifecycleActionHeartbeat"]
    agent.heartbeat()  # not again before a third of the heartbeat timeout
    assert agent.actions() == ["RecordLifecycleActionHeartbeat"]
    assert agent.leave(ARN, RUNNING, "group")
    assert agent.actions()[1:] == ["GetTaskProtection", "UpdateContainerInstancesState", "CompleteLifecycleAction"]
    assert "TerminateInstanceInAutoScalingGroup" not in agent.actions()  # the group terminates it


def test_busy_means_bytes_cpu_a_gpu_a_starting_task_or_task_protection(tmp_path, host):
    host.add_worker("c1")
    agent = ScriptedAgent(
        tmp_path, {"GetTaskProtection": {"protectedTasks": [{"protectionEnabled": False}]}}, **host.paths
    )
    assert agent.observe(RUNNING)  # first look: no earlier sample to compare with
    assert not agent.observe(RUNNING)
    host.move_bytes("c1", DESIGN.busy_bytes_per_poll * 10)
    assert agent.observe(RUNNING)
    assert not agent.observe(RUNNING)
    host.gpus.write_text("0\n87")
    assert agent.observe(RUNNING)
    host.gpus.write_text("0\n0")
    starting = {"Tasks": [task("arn:task/3", "strongsort-yolov5", "PENDING", "c3")]}
    assert agent.observe(starting)
    agent.answers["GetTaskProtection"] = {"protectedTasks": [{"taskArn": "arn:task/1", "protectionEnabled": True}]}
    agent.observe(RUNNING)
    assert agent.observe(RUNNING)
    agent.answers["GetTaskProtection"] = ia.AwsError("HTTP 400 AccessDenied")  # bytes and CPU still decide
    assert not agent.observe(RUNNING)


@pytest.mark.parametrize(
    "state, system, notice, recorded",
    [
        ("InService", "running", None, None),  # systemd restarts the agent: nothing goes
        ("Terminated", "running", None, "shutdown"),  # the group's termination, its hook released (stop)
        ("InService", "stopping", None, "shutdown"),  # the instance shuts down (EC2 TerminateInstances)
        ("InService", "running", '{"action": "terminate"}', "spot-interruption"),
    ],
)
def test_an_instance_that_goes_with_a_busy_worker_records_its_video_as_cut(
    tmp_path, host, state, system, notice, recorded
):
    """Audit item 3: `leaving` carried videos_cut=0 only when the agent itself let its quiet workers go; an
    instance that went with a busy worker recorded nothing, so `report` counted no cut video. systemd stops
    the agent (SIGTERM) when the instance goes: it records the workers busy at its last look."""
    host.add_worker("c1")
    host.add_worker("c3")
    two = {"Tasks": [task("arn:task/1", "strongsort-yolov5", "RUNNING", "c1", "c3")]}
    agent = ScriptedAgent(tmp_path, {"GetTaskProtection": {"protectedTasks": []}}, **host.paths)
    agent.observe(two)
    host.move_bytes("c1", DESIGN.busy_bytes_per_poll * 10)  # c1 downloads a video, c3 idles
    assert agent.observe(two) and agent.holding == 1
    agent.state, agent.notice = state, notice
    host.system_state.write_text(system)
    with pytest.raises(SystemExit):
        agent.stopping(15, None)
    expected = [("leaving", recorded, 1)] if recorded else []
    assert [(r["event"], r["reason"], r["videos_cut"]) for r in agent.records] == expected


def test_an_instance_that_goes_with_idle_workers_or_after_leaving_records_no_cut(tmp_path, host):
    host.add_worker("c1")
    agent = ScriptedAgent(tmp_path, {"GetTaskProtection": {"protectedTasks": []}}, **host.paths)
    agent.observe(RUNNING)
    assert not agent.observe(RUNNING) and agent.holding == 0
    agent.state = "Terminated"
    with pytest.raises(SystemExit):
        agent.stopping(15, None)
    host.gpus.write_text("93")  # a GPU at work: the workers hold videos
    assert agent.observe(RUNNING) and agent.holding == 1
    agent.release("idle")  # it left by itself (videos_cut 0): not recorded twice
    with pytest.raises(SystemExit):
        agent.stopping(15, None)
    assert [(r["event"], r["videos_cut"]) for r in agent.records] == [("leaving", 0)]


def test_a_spot_instance_looks_for_an_interruption_notice_on_imdsv2(tmp_path, host):
    with FakeInstance("i-0123", market="spot") as fake:
        agent = ScriptedAgent(
            tmp_path, {}, imds_url=fake.imds_url, introspection_url=fake.introspection_url, **host.paths
        )
        agent.facts = {"lifecycle": agent.imds("meta-data/instance-life-cycle")}
        agent.cycle()
        assert agent.notice is None
        fake.spot_action = {"action": "terminate", "time": "2026-12-07T22:02:00Z"}
        agent.cycle()
        assert json.loads(agent.notice)["action"] == "terminate" and fake.unauthorized == 0


def test_unreadable_counters_count_as_busy_but_earn_no_heartbeat(tmp_path, host):
    agent = ScriptedAgent(tmp_path, {}, **host.paths)
    ghost = {"Tasks": [task("arn:task/1", "strongsort-yolov5", "RUNNING", "gone")]}
    assert agent.observe(ghost) and agent.unreadable


def test_a_submit_marker_holds_an_idle_instance(tmp_path, host, monkeypatch):
    agent = ScriptedAgent(tmp_path, {"GetParameter": {"Parameter": {"Value": str(int(time.time()))}}}, **host.paths)
    assert ia.held_by_submit(agent.submitted_at(), time.time(), agent.s.submit_hold_seconds)
    agent.answers["GetParameter"] = {"Parameter": {"Value": "0"}}  # never submitted
    assert agent.submitted_at() is None
    agent.answers["GetParameter"] = ia.AwsError("HTTP 400 ParameterNotFound")
    assert agent.submitted_at() is None
    agent.answers["GetParameter"] = ia.AwsError("HTTP 500")  # unknown: hold, look again next time
    assert ia.held_by_submit(agent.submitted_at(), time.time(), agent.s.submit_hold_seconds)


def test_a_pool_instance_the_group_sheds_completes_the_termination_hook(tmp_path, host, monkeypatch):
    agent = ScriptedAgent(tmp_path, {"CompleteLifecycleAction": {}}, **host.paths)
    monkeypatch.setattr(agent, "target_state", lambda: "Warmed:Terminated")
    agent.cycle()
    assert agent.actions() == ["CompleteLifecycleAction"] and agent.done


def test_a_fence_left_by_an_agent_that_died_is_removed_at_start(tmp_path, host, monkeypatch):
    host.rules.write_text(json.dumps([ia.FENCE, ia.FENCE]))
    agent = ScriptedAgent(tmp_path, {}, **host.paths)
    agent.fence(False)
    assert host.fence() == []


def test_halt_sets_the_group_to_zero_first_then_tags_and_alerts_once_each(tmp_path):
    agent = ScriptedAgent(
        tmp_path,
        {
            "UpdateAutoScalingGroup": [ia.AwsError("HTTP 500"), "<ok/>"],
            "CreateOrUpdateTags": ia.AwsError("HTTP 400 AccessDenied"),
            "Publish": "<ok/>",
        },
    )
    agent.halt("3 worker exits, last: exit code 1")  # the group update failed: nothing else, not halted
    assert agent.actions() == ["UpdateAutoScalingGroup"] and not agent.halted
    agent.halt("3 worker exits, last: exit code 1")  # next cycle: halted; a tag failure does not stop the alert
    assert (
        agent.actions()
        == [
            "UpdateAutoScalingGroup",
            "UpdateAutoScalingGroup",
            "CreateOrUpdateTags",
            "Publish",
        ]
        and agent.halted
    )


def test_exits_come_from_docker_and_exclude_the_agents_own_kills(tmp_path, host):
    agent = ScriptedAgent(tmp_path, {})
    agent.killed = {"killed"}
    host.set_states(
        {
            "c1": "1|2024-05-01T10:00:00.123456789Z|",
            "c2": "137|2024-05-01T10:01:00Z|OOM",
            "c3": "0|0001-01-01T00:00:00Z|",
        }
    )
    family = "strongsort-yolov5"
    tasks = {
        "Tasks": [
            task("t1", family, "STOPPED", "c1"),
            task("t2", family, "STOPPED", "c2"),
            task("t3", family, "STOPPED", "c3"),
            task("t4", family, "STOPPED"),
            task("t5", family, "STOPPED", "killed"),
            task("t6", "other", "STOPPED", "c1"),
            task("t7", family, "RUNNING", "c9"),
        ]
    }
    now = calendar.timegm((2024, 5, 1, 10, 5, 0))
    agent.note_exits(tasks, now)
    assert agent.exits == {
        "t1": (now - 300, "exit code 1"),
        "t2": (now - 240, "exit code 137 OOM"),
        "t3": (now, "exit code 0"),
        "t4": (now, "task stopped before its container ran"),
    }
    agent.note_exits(tasks, now + 60)  # each task once: docker is not asked again
    assert len(host.commands()) == 3


# --- AWS calls -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, service, headers, body",
    [
        (
            "https://sqs.us-west-2.amazonaws.com",
            "sqs",
            {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.GetQueueAttributes"},
            b'{"QueueUrl": "https://sqs.us-west-2.amazonaws.com/1/q.fifo", "AttributeNames": ["ApproximateNumberOf"]}',
        ),
        (
            "https://autoscaling.us-west-2.amazonaws.com/",
            "autoscaling",
            {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
            b"InstanceId=i-0123&ShouldDecrementDesiredCapacity=true&Action=TerminateInstanceInAutoScalingGroup"
            b"&Version=2011-01-01",
        ),
        (
            "http://127.0.0.1:4566",
            "ecs",
            {
                "Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": "AmazonEC2ContainerServiceV20141113.UpdateContainerInstancesState",
            },
            b"{}",
        ),
    ],
)
@pytest.mark.parametrize("token", [None, "session-token/with+special=chars"])
def test_signer_matches_botocore(url, service, headers, body, token):
    request = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
    SigV4Auth(Credentials("ASIAEXAMPLEKEY", "secret/key+example", token), service, "us-west-2").add_auth(request)
    now = calendar.timegm(time.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ"))
    mine = ia.sign(url, headers, body, "us-west-2", service, ("ASIAEXAMPLEKEY", "secret/key+example", token), now)
    assert mine["authorization"] == request.headers["Authorization"]
    assert mine["x-amz-date"] == request.headers["X-Amz-Date"]


class FlakyEndpoint:
    """An AWS endpoint on loopback answering with the given (status, body) in turn."""

    def __init__(self, answers):
        self.answers, self.requests = list(answers), []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                outer.requests.append(self.rfile.read(int(self.headers["Content-Length"])))
                status, body = outer.answers.pop(0)
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"


def _agent_on(url):
    agent = ia.Agent({**agent_config(SETTINGS), "endpoint_url": url})
    agent.creds = (time.time() + 10**6, ("key", "secret", None))
    return agent


def test_calls_retry_throttling_and_server_errors_with_backoff(monkeypatch):
    monkeypatch.setattr(ia.random, "uniform", lambda a, b: 0.01)
    endpoint = FlakyEndpoint(
        [(503, b""), (400, b'{"__type": "com.amazonaws.sqs#RequestThrottled"}'), (200, b'{"QueueUrl": "u"}')]
    )
    assert _agent_on(endpoint.url).call("sqs", "GetQueueUrl", {"QueueName": "q"}) == {"QueueUrl": "u"}
    assert len(endpoint.requests) == 3
    endpoint.server.shutdown()


GROUP_BUSY = b"<ErrorResponse><Error><Code>ScalingActivityInProgress</Code></Error></ErrorResponse>"


def test_terminate_retries_while_a_scaling_activity_is_in_progress(monkeypatch):
    """Issue 19 item 9: TerminateInstanceInAutoScalingGroup answers ScalingActivityInProgress (HTTP 400) while
    another activity of the group runs (EC2 Auto Scaling API Reference); the agent tries again instead of
    staying (and restarting its worker) at once."""
    monkeypatch.setattr(ia.random, "uniform", lambda a, b: 0.001)
    endpoint = FlakyEndpoint([(400, GROUP_BUSY)] * 5 + [(200, b"<ok/>")])
    agent = _agent_on(endpoint.url)
    agent.iid = "i-1"
    assert agent.terminate() and agent.hook_owed
    assert len(endpoint.requests) == 6
    endpoint.server.shutdown()


def test_terminate_keeps_trying_while_the_group_is_busy_for_minutes_then_gives_up(monkeypatch):
    """Audit item 2: agents leaving together take turns (each termination passes the group's termination hook);
    the old budget (7 attempts, ~25-47 s) ran out and the instance stayed for another idle window. Now it
    tries for up to TERMINATE_PATIENCE_SECONDS, then gives up (and `leave` undoes); other errors end it."""
    monkeypatch.setattr(ia.random, "uniform", lambda a, b: 0.0001)
    endpoint = FlakyEndpoint([(400, GROUP_BUSY)] * 20 + [(200, b"<ok/>")])
    agent = _agent_on(endpoint.url)
    agent.iid = "i-1"
    assert agent.terminate() and agent.hook_owed
    assert len(endpoint.requests) == 21

    monkeypatch.setattr(ia, "TERMINATE_PATIENCE_SECONDS", 0)
    endpoint.answers = [(400, GROUP_BUSY)] * 4
    assert not agent.terminate()  # one call's own retries, then no more time
    assert len(endpoint.requests) == 25
    monkeypatch.setattr(ia, "TERMINATE_PATIENCE_SECONDS", 300)
    endpoint.answers = [(400, b"<ErrorResponse><Error><Code>ValidationError</Code></Error></ErrorResponse>")]
    assert not agent.terminate()
    assert len(endpoint.requests) == 26
    endpoint.server.shutdown()


def test_calls_do_not_retry_client_errors_and_give_up_after_four_attempts(monkeypatch):
    monkeypatch.setattr(ia.random, "uniform", lambda a, b: 0.01)
    endpoint = FlakyEndpoint(
        [(400, b"<ErrorResponse><Error><Code>ValidationError</Code></Error></ErrorResponse>")] + [(500, b"")] * 4
    )
    agent = _agent_on(endpoint.url)
    with pytest.raises(ia.AwsError, match="ValidationError"):
        agent.call("autoscaling", "TerminateInstanceInAutoScalingGroup", {"InstanceId": "i-1"})
    assert endpoint.requests == [b"InstanceId=i-1&Action=TerminateInstanceInAutoScalingGroup&Version=2011-01-01"]
    with pytest.raises(ia.AwsError, match="HTTP 500"):
        agent.call("sns", "Publish", {})
    assert len(endpoint.requests) == 5
    endpoint.server.shutdown()


def test_an_unreachable_endpoint_fails_the_call_not_the_agent(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(ia.random, "uniform", lambda a, b: 0.001)
    agent = _agent_on("http://127.0.0.1:9")  # nothing listens on the discard port
    agent.s.imds_url, agent.s.state_dir, agent.s.poll_seconds = "http://127.0.0.1:9", str(tmp_path), 0.01
    assert agent.counts() is None
    agent.run(cycles=2)  # logs the failed cycles, returns
    assert capsys.readouterr().out.count("cycle: URLError") == 2  # IMDS unreachable too


# --- the script and the user data ---------------------------------------------------------------------------------


def _without_docstrings(source: str) -> str:
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef))
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:]
    return ast.dump(tree)


def test_embedded_agent_is_the_documented_source_python39_and_stdlib_only():
    source, embedded = agent_source(), embedded_agent()
    assert embedded == source  # byte for byte: the same model gives the same user data on every machine
    ast.parse(source, feature_version=(3, 9))  # Amazon Linux 2023's python3 is 3.9
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {
        node.module.split(".")[0]
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom) and node.module and not node.level
    }
    assert imported <= sys.stdlib_module_names


@pytest.mark.parametrize("warm_pool", [False, True])
def test_user_data_is_valid_bash_under_the_limit_and_carries_the_settings(tmp_path, warm_pool):
    design = dataclasses.replace(DESIGN, warm_pool_size=1 if warm_pool else 0)
    settings = agent_settings(design, NAMES, region="us-west-2", task_families=("strongsort-yolov5",), image=IMAGE)
    user_data = render_user_data(settings, ecs_config=ecs_agent_config(settings, spot=True, warm_pool=warm_pool))
    script = tmp_path / "user_data.sh"
    script.write_text(user_data)
    subprocess.run(["bash", "-n", str(script)], check=True)
    # The launch template carries it gzipped (Terraform's base64gzip): EC2's 16 KB limit is on those bytes. Keep
    # 2 KB of room for what the boot script may yet need.
    assert len(gzip.compress(user_data.encode())) < USER_DATA_LIMIT_BYTES - 2048

    ecs_config = user_data.split("<<'ECS_CONFIG'\n")[1].split("ECS_CONFIG\n")[0].splitlines()
    assert ecs_config[:3] == [
        "ECS_CLUSTER=Megadetector",
        "ECS_ENABLE_GPU_SUPPORT=true",
        "ECS_ENABLE_TASK_IAM_ROLE=true",
    ]
    assert "ECS_IMAGE_PULL_BEHAVIOR=prefer-cached" in ecs_config
    assert "ECS_ENABLE_SPOT_INSTANCE_DRAINING=true" in ecs_config
    assert ("ECS_WARM_POOLS_CHECK=true" in ecs_config) is warm_pool
    config = json.loads(user_data.split("<<'AGENT_JSON'\n")[1].split("\nAGENT_JSON\n")[0])
    assert config == {**agent_config(settings), "task_families": ["strongsort-yolov5"]}
    assert not set(config) & set(ia.DEFAULTS)  # where the instance offers IMDS, the ECS agent, /run
    assert (
        "ExecStart=/usr/bin/python3 /opt/ecs-autoscale/instance_agent.py --config /etc/ecs-autoscale/agent.json"
        in user_data
    )
    assert "Restart=always" in user_data and "systemctl enable --now --no-block ecs-autoscale-agent" in user_data


@pytest.mark.parametrize(
    "ecs_config, problem",
    [
        ({"ECS_CLUSTER": "other"}, "ECS_CLUSTER must be the cluster"),
        ({"ECS_CLUSTER": "Megadetector", "ECS_X": "a\nECS_CLUSTER=evil"}, "not an ECS agent setting line"),
        ({"ECS_CLUSTER": "Megadetector", "rm -rf /": "1"}, "not an ECS agent setting line"),
    ],
)
def test_user_data_refuses_bad_ecs_settings(ecs_config, problem):
    with pytest.raises(ValueError, match=problem):
        render_user_data(SETTINGS, ecs_config=ecs_config)


# --- IAM ----------------------------------------------------------------------------------------------------------


def test_agent_permissions_are_scoped_to_the_stack():
    permissions = agent_permissions(SETTINGS, partition="aws", region="us-west-2", account_id="111122223333")
    by_sid = {p.sid: p for p in permissions}
    group = "arn:aws:autoscaling:us-west-2:111122223333:autoScalingGroup:*:autoScalingGroupName/Megadetector-gpu-fleet"
    assert by_sid["AgentQueueDepth"] == (
        "AgentQueueDepth",
        ("sqs:GetQueueAttributes", "sqs:GetQueueUrl"),
        ("arn:aws:sqs:us-west-2:111122223333:Megadetector-video.fifo",),
        None,
    )
    assert by_sid["AgentScaleIn"].actions == (
        "autoscaling:TerminateInstanceInAutoScalingGroup",
        "autoscaling:CompleteLifecycleAction",
        "autoscaling:RecordLifecycleActionHeartbeat",
    )
    assert by_sid["AgentSubmitHold"] == (
        "AgentSubmitHold",
        ("ssm:GetParameter",),
        ("arn:aws:ssm:us-west-2:111122223333:parameter/ecs-autoscale/Megadetector/last-submit",),
        None,
    )
    assert by_sid["AgentTaskProtection"].resources == ("arn:aws:ecs:us-west-2:111122223333:task/Megadetector/*",)
    assert by_sid["AgentDrain"].resources == ("arn:aws:ecs:us-west-2:111122223333:container-instance/Megadetector/*",)
    assert by_sid["AgentHaltGroup"].condition == {
        "NumericEquals": {"autoscaling:MaxSize": "0", "autoscaling:MinSize": "0"},
        "Null": {
            "autoscaling:VPCZoneIdentifiers": "true",
            "autoscaling:LaunchConfigurationName": "true",
            "autoscaling:InstanceTypes": "true",
        },
    }
    assert by_sid["AgentHaltTag"].condition == {"ForAllValues:StringEquals": {"aws:TagKeys": ["ecs-autoscale:halted"]}}
    for sid in ("AgentScaleIn", "AgentHaltGroup", "AgentHaltTag"):
        assert by_sid[sid].resources == (group,)
    assert by_sid["AgentHaltAlert"].resources == ("arn:aws:sns:us-west-2:111122223333:Megadetector-alerts",)
    # The image's repository, in the registry's own account and region.
    assert by_sid["AgentImagePull"].resources == (
        "arn:aws:ecr:us-west-2:168552337187:repository/mbari/strongsort-yolov5",
    )
    assert [p.sid for p in permissions if "*" in p.resources] == ["AgentImageToken"]
    assert all("*" not in a for p in permissions for a in p.actions)
    document = json.loads(policy_document([Statement(*p) for p in permissions]))
    assert len(document["Statement"]) == 10


def test_no_ecr_permissions_for_other_registries():
    settings = dataclasses.replace(SETTINGS, image="docker.io/mbari/worker:1", ecr_registry=None)
    permissions = agent_permissions(settings, partition="aws", region="us-west-2", account_id="1")
    assert not [p for p in permissions if any(a.startswith("ecr:") for a in p.actions)]
    assert ecr_registry_of("docker.io/mbari/worker:1") is None
    assert ecr_registry_of(IMAGE) == "168552337187.dkr.ecr.us-west-2.amazonaws.com"
