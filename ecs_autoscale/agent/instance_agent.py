#!/usr/bin/env python3
"""ecs-autoscale instance agent: one per GPU instance, stdlib only, Python 3.9 (Amazon Linux 2023's python3).

It pre-pulls the model image, prepares warm-pool instances, records the instance's milestones, halts a
stack whose workers cannot take videos, and takes this instance out of the group without cutting a video:

- Its idle clock runs while this instance's workers are idle (no bytes in or out of their containers
  beyond a long poll's few kB, CPU and GPUs idle, no ECS task protection) and the queue shows nothing
  waiting or delayed. Other instances' videos in flight do not keep it.
- Then it looks once more for `quiet_seconds`: a worker that received a video moves bytes within
  milliseconds. Only a look with not one byte is followed, at once, by SIGKILL to the workers (slow
  checks before its final counter read, milestones after the kill). The queue's counts never decide a
  kill: they lag by at least a minute (SQS API Reference, GetQueueAttributes).
- Then it fences the containers off the network (a worker ECS restarts cannot take a video), drains
  the container instance (ECS stops daemon tasks on a DRAINING instance: ECS Developer Guide, "Draining
  Amazon ECS container instances", so never before the look), terminates the instance (desired
  capacity -1) and completes its own termination hook. If a step fails it undoes the fence and the
  drain: ECS restarts the worker, nothing was cut.
- An instance the group terminates (an alarm, an instance refresh, a stop) waits in Terminating:Wait
  (the stack's termination hook) until this agent, seeing the target lifecycle state "Terminated",
  finds its workers quiet and completes the hook; it records heartbeats while they are busy. If the
  instance goes with busy workers (the hook released, a Spot interruption), the agent, stopped by
  systemd, records them as cut.

Run: instance_agent.py --config /etc/ecs-autoscale/agent.json (every key of `Settings` below; the stack builds
them from its names and ScalingDesign: ecs_autoscale/synthesis/user_data.py).
"""

from __future__ import annotations

import argparse
import base64
import calendar
import hashlib
import hmac
import json
import os
import random
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request as ur
from dataclasses import dataclass
from typing import Any, Optional

# Where the instance offers its services; tests point these at fakes.
DEFAULTS = {
    "imds_url": "http://169.254.169.254",
    "introspection_url": "http://localhost:51678",
    "state_dir": "/run/ecs-autoscale",
    "proc_root": "/proc",
    "cgroup_root": "/sys/fs/cgroup",
}
# service: (JSON protocol version or query API version, JSON target prefix), from the AWS API models
APIS = {
    "sqs": ("1.0", "AmazonSQS"),
    "ecs": ("1.1", "AmazonEC2ContainerServiceV20141113"),
    "ecr": ("1.1", "AmazonEC2ContainerRegistry_V20150921"),
    "ssm": ("1.1", "AmazonSSM"),
    "logs": ("1.1", "Logs_20140328"),
    "autoscaling": ("2011-01-01", ""),
    "sns": ("2010-03-31", ""),
}
COUNTS = ["ApproximateNumberOfMessages" + s for s in ("", "NotVisible", "Delayed")]  # waiting, in flight, delayed
# Errors worth another try: throttling, and a group busy with another activity (HTTP 400, EC2 Auto Scaling API
# Reference, TerminateInstanceInAutoScalingGroup), which our terminate retries for minutes: AWS does not say
# for how long, and a fenced, drained instance waits at its own cost only.
GROUP_BUSY = ("ScalingActivityInProgress", "ResourceContention")
RETRY = ("Throttl", "LimitExceeded", *GROUP_BUSY)
TERMINATE_PATIENCE_SECONDS = 300
FENCE = ["FORWARD", "-i", "docker+", "-m", "comment", "--comment", "ecs-autoscale-fence", "-j", "REJECT"]
LOCAL = ur.build_opener(ur.ProxyHandler({}))  # IMDS and the ECS agent: never through a proxy
log = print


class AwsError(Exception):
    pass


@dataclass
class Settings:
    """/etc/ecs-autoscale/agent.json: every key but the instance paths (DEFAULTS) is required. Declared here
    once: the stack's side (synthesis/user_data.py) builds and writes this very class."""

    region: str
    stack_name: str
    cluster_name: str
    asg_name: str
    queue_name: str
    topic_name: str
    log_group_name: str
    submit_parameter: str
    halted_tag: str
    task_families: list[str]
    image: str
    ecr_registry: str | None
    poll_seconds: float
    idle_seconds: float
    quiet_seconds: float
    busy_bytes_per_poll: int
    busy_cpu_fraction: float
    busy_gpu_percent: float
    submit_hold_seconds: float
    crash_loop_exits: int
    crash_window_seconds: float
    register_timeout_seconds: float
    launch_hook_name: str | None
    termination_hook_name: str
    heartbeat_seconds: float
    endpoint_url: str | None
    imds_url: str = DEFAULTS["imds_url"]
    introspection_url: str = DEFAULTS["introspection_url"]
    state_dir: str = DEFAULTS["state_dir"]
    proc_root: str = DEFAULTS["proc_root"]
    cgroup_root: str = DEFAULTS["cgroup_root"]


# A worker's counters at one moment: (bytes in + out of its network namespace, CPU seconds or None, when).
Sample = tuple[int, Optional[float], float]


# ---- decisions (pure) ----


def idle_clock(idle_since, busy, counts, now):
    """Since when this instance's workers were idle and nothing waited or was delayed at every look;
    None: not idle, or the queue could not be read. Videos in flight are other instances' work."""
    if busy or counts is None or counts[0] or counts[2]:
        return None
    return now if idle_since is None else idle_since


def scale_in_due(idle_since, now, idle_seconds):
    return idle_since is not None and now - idle_since >= idle_seconds


def held_by_submit(submitted_at, now, hold_seconds):
    """`submit` queued a video less than hold_seconds ago: the instances it counted on stay."""
    return submitted_at is not None and now - submitted_at < hold_seconds


def worker_busy(before: Sample, after: Sample, s: Settings) -> bool:
    """Between two samples of one worker: more bytes than an idle long poll moves, or CPU in use."""
    seconds = max(after[2] - before[2], 1e-3)
    if after[0] - before[0] > s.busy_bytes_per_poll * seconds / s.poll_seconds:
        return True
    return before[1] is not None and after[1] is not None and (after[1] - before[1]) / seconds > s.busy_cpu_fraction


def quiet(before: Sample, after: Sample, s: Settings) -> bool:
    """The last look before a kill: not one byte in or out (a long poll that returns, with or without a
    video, moves bytes), CPU idle."""
    return after[0] == before[0] and not worker_busy((before[0], before[1], before[2]), after, s)


def recent_exits(exits, now, window):
    """{task: (epoch, reason)} -> reasons of the exits within `window` seconds, oldest first."""
    return [r for t, r in sorted(v for v in exits.values() if now - v[0] <= window)]


def halt_reason(counts, exits, threshold, registered, waited, register_timeout):
    """Videos wait, none is in flight (no worker anywhere takes one), and this instance's workers keep
    exiting or it never joined the cluster: why to halt, else None."""
    if counts and counts[0] and not counts[1]:
        if len(exits) >= threshold:
            return f"{len(exits)} worker exits, last: {exits[-1]}"
        if not registered and waited >= register_timeout:
            return f"instance never joined the cluster ({waited:.0f} s)"
    return None


def sign(url, headers, body, region, service, creds, now):
    """SigV4 headers of a POST without query (IAM User Guide, "Create a signed AWS API request").
    creds: (key id, secret, session token or None)."""
    stamp, u = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)), urllib.parse.urlsplit(url)
    h = {k.lower(): " ".join(v.split()) for k, v in headers.items()}
    h.update({"host": u.netloc, "x-amz-date": stamp}, **({"x-amz-security-token": creds[2]} if creds[2] else {}))
    names = ";".join(sorted(h))
    canonical_headers = "".join("{}:{}\n".format(*kv) for kv in sorted(h.items()))
    # the agent's paths need no encoding
    request = "\n".join(["POST", u.path or "/", "", canonical_headers, names, hashlib.sha256(body).hexdigest()])
    scope = f"{stamp[:8]}/{region}/{service}/aws4_request"
    key = ("AWS4" + creds[1]).encode()
    for part in scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    text = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(request.encode()).hexdigest()}"
    signature = hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
    h["authorization"] = f"AWS4-HMAC-SHA256 Credential={creds[0]}/{scope}, SignedHeaders={names}, Signature={signature}"
    return h


def command(*args, stdin=None, timeout=900):
    """(exit code, output) of a host command (docker, iptables, nvidia-smi); -1 if it could not run."""
    try:
        p = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=timeout)
        return p.returncode, (p.stdout or p.stderr).strip()
    except Exception as e:
        return -1, str(e)


def docker(*args, stdin=None, timeout=900):
    return command("docker", *args, stdin=stdin, timeout=timeout)


class Agent:
    def __init__(self, cfg: dict[str, Any]) -> None:
        self.s = Settings(**cfg)
        self.started = time.time()
        self.iid: str | None = None
        self.queue: str | None = None
        self.idle: float | None = None
        self.seen: Any = None
        self.creds: tuple[float, Any] = (0, None)
        self.exits: dict[str, tuple[float, str]] = {}
        self.killed: set = set()
        self.samples: dict[str, Sample] = {}
        self.pids: dict[str, int] = {}
        self.facts: dict[str, Any] = {}  # the instance's identity, for milestones
        self.noted: set = set()
        self.in_service = not self.s.launch_hook_name
        self.warm = self.registered = self.halted = self.pulling = False
        self.last_heartbeat = 0.0
        self.unreadable = False
        self.holding = 0  # workers busy at the last look: the videos cut if the instance goes now
        self.state, self.notice = "InService", None
        self.marker = os.path.join(self.s.state_dir, "terminated")
        self.done = os.path.exists(self.marker)
        self.hook_owed = self.done  # our own termination passes the termination hook: complete it
        self.stream_ready = False

    # ---- the instance ----

    def imds(self, path):  # IMDSv2: a session token, then the GET (EC2 User Guide, "Access instance metadata")
        url = self.s.imds_url + "/latest/"
        put = ur.Request(url + "api/token", method="PUT", headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"})
        token = LOCAL.open(put, timeout=3).read()
        get = ur.Request(url + path, headers={"X-aws-ec2-metadata-token": token})
        return LOCAL.open(get, timeout=3).read().decode().strip()

    def target_state(self):
        """autoscaling/target-lifecycle-state (EC2 Auto Scaling User Guide, "Retrieve the target lifecycle
        state through instance metadata"): InService, Terminated, Warmed:Stopped, ...; absent: InService."""
        try:
            return self.imds("meta-data/autoscaling/target-lifecycle-state")
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return "InService"
            raise

    def identify(self):
        d = json.loads(self.imds("dynamic/instance-identity/document"))
        self.iid, self.account = d["instanceId"], d["accountId"]
        # amazonaws.com(.cn), aws(-cn, -us-gov...): EC2 User Guide, "Instance metadata categories"
        self.domain, self.partition = (self.imds("meta-data/services/" + k) for k in ("domain", "partition"))
        pending = d.get("pendingTime")
        self.facts = {
            "instance_id": self.iid,
            "instance_type": d.get("instanceType"),
            "lifecycle": self.optional_imds("meta-data/instance-life-cycle") or "on-demand",
            "pending_time": calendar.timegm(time.strptime(pending[:19], "%Y-%m-%dT%H:%M:%S")) if pending else None,
        }
        try:
            with open(os.path.join(self.s.proc_root, "uptime")) as f:
                boot = time.time() - float(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            boot = None
        self.milestone(
            "agent_started",
            boot_time=boot,
            target_state=self.optional_imds("meta-data/autoscaling/target-lifecycle-state"),
        )

    def optional_imds(self, path):
        try:
            return self.imds(path)
        except Exception:
            return None

    def agent(self, what):  # ECS agent introspection (ECS Developer Guide, "Amazon ECS container introspection")
        try:
            return json.loads(LOCAL.open(self.s.introspection_url + "/v1/" + what, timeout=5).read())
        except Exception:
            return None

    # ---- AWS ----

    def call(self, service, action, params, region=None, attempts=4):
        """An AWS API call, retried with backoff on throttling, 5xx, network errors and a scaling activity in
        progress. Returns the parsed JSON, or the XML text for query APIs. Raises AwsError."""
        version, target = APIS[service]
        region = region or self.s.region
        host = "api.ecr" if service == "ecr" else service
        url = self.s.endpoint_url or f"https://{host}.{region}.{self.domain}"
        if target:
            body = json.dumps(params).encode()
            headers = {"Content-Type": "application/x-amz-json-" + version, "X-Amz-Target": target + "." + action}
        else:
            body = urllib.parse.urlencode(dict(params, Action=action, Version=version)).encode()
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
        for attempt in range(attempts):
            try:
                if time.time() - self.creds[0] > 240:  # role credentials renew >= 5 min before they expire
                    path = "meta-data/iam/security-credentials/"
                    d = json.loads(self.imds(path + self.imds(path).split()[0]))
                    self.creds = (time.time(), (d["AccessKeyId"], d["SecretAccessKey"], d.get("Token")))
                signed = sign(url, headers, body, region, service, self.creds[1], time.time())
                with ur.urlopen(ur.Request(url, body, signed), timeout=10) as r:
                    data = r.read().decode()
                return json.loads(data or "{}") if target else data
            except urllib.error.HTTPError as e:  # the body names the error (code and message)
                err = f"HTTP {e.code} {e.read().decode(errors='replace')[:300]}"
                retry = e.code >= 500 or any(word in err for word in RETRY)
            except Exception as e:  # network, timeout, IMDS
                err, retry = f"{type(e).__name__}: {e}", True
            if not retry or attempt == attempts - 1:
                raise AwsError(err)
            time.sleep(min(2**attempt, 16) * random.uniform(0.5, 1))
        raise AwsError("no attempt")  # attempts < 1

    def milestone(self, event, at=None, **fields):
        """One JSON line in the stack's log group, stream ecs-autoscale-agent/<instance>, read by
        `ecs-autoscale report` after the instance is gone. Best effort: never in the way of scaling."""
        now = time.time() if at is None else at
        record = dict(self.facts, event=event, t=now, **fields)
        log(f"milestone {json.dumps(record, sort_keys=True)}")
        stream = f"ecs-autoscale-agent/{self.iid}"
        try:
            if not self.stream_ready:
                try:
                    self.call(
                        "logs", "CreateLogStream", {"logGroupName": self.s.log_group_name, "logStreamName": stream}
                    )
                except AwsError as e:
                    if "ResourceAlreadyExists" not in str(e):
                        raise
                self.stream_ready = True
            event_ = {"timestamp": int(now * 1000), "message": json.dumps(record, sort_keys=True)}
            params = {"logGroupName": self.s.log_group_name, "logStreamName": stream, "logEvents": [event_]}
            self.call("logs", "PutLogEvents", params, attempts=2)
        except AwsError as e:
            log(f"milestone {event} not recorded: {e}")

    def once(self, event, **fields):
        if event not in self.noted:
            self.noted.add(event)
            self.milestone(event, **fields)

    # ---- image and lifecycle hooks ----

    def pull(self):
        """Pre-pull the image once docker answers: ECS (ECS_IMAGE_PULL_BEHAVIOR=prefer-cached) then starts
        from the cache. The systemd unit starts after docker (Wants=, After=docker.service)."""
        try:
            for _ in range(60):
                if docker("info", timeout=30)[0] == 0:
                    break
                time.sleep(5)
            self.once("docker_up")
            registry = self.s.ecr_registry
            if registry:  # <account>.dkr.ecr.<region>.amazonaws.com: a token of that region's ECR
                data = self.call("ecr", "GetAuthorizationToken", {}, registry.split(".")[3])
                token = data["authorizationData"][0]["authorizationToken"]
                user, password = base64.b64decode(token).decode().split(":", 1)
                rc, out = docker("login", "-u", user, "--password-stdin", "https://" + registry, stdin=password)
                log(f"docker login {registry}: {out}")
            self.milestone("pull_started", image=self.s.image)
            began = time.time()
            rc, out = docker("pull", self.s.image)
            seconds = time.time() - began
            log(f"pulled {self.s.image} in {seconds:.0f} s" if rc == 0 else "pull failed: " + out[-300:])
            self.milestone("pull_finished", image=self.s.image, seconds=seconds, ok=rc == 0)
        except Exception as e:
            log(f"pull: {e}")

    def complete_hook(self, name, result="CONTINUE"):
        try:
            self.call(
                "autoscaling",
                "CompleteLifecycleAction",
                {
                    "LifecycleHookName": name,
                    "AutoScalingGroupName": self.s.asg_name,
                    "InstanceId": self.iid,
                    "LifecycleActionResult": result,
                },
            )
            log(f"lifecycle hook {name} completed")
            return True
        except AwsError as e:
            log(f"lifecycle hook {name}: {e}")
            return False

    def heartbeat(self):
        """Keep a busy instance in Terminating:Wait (a hook's heartbeat timeout restarts with each one)."""
        if time.time() - self.last_heartbeat < self.s.heartbeat_seconds / 3:
            return
        try:
            self.call(
                "autoscaling",
                "RecordLifecycleActionHeartbeat",
                {
                    "LifecycleHookName": self.s.termination_hook_name,
                    "AutoScalingGroupName": self.s.asg_name,
                    "InstanceId": self.iid,
                },
            )
            self.last_heartbeat = time.time()
            log("workers busy: termination waits (heartbeat)")
        except AwsError as e:
            log(f"heartbeat: {e}")

    def lifecycle(self, state):
        """With a warm pool the launch hook pauses both the launch into the pool and the move to InService;
        the target state says which. Warmed: pull, then let the group stop the instance. True: in service."""
        if not self.in_service:
            if state.startswith("Warmed:"):
                if not self.warm:
                    log(state + ": pre-pulling the image")
                    self.pull()
                    self.warm = self.complete_hook(self.s.launch_hook_name)
                    if self.warm:
                        self.milestone("warmed")
                return False
            if state == "InService":
                self.complete_hook(self.s.launch_hook_name)
                self.in_service, self.started = True, time.time()
        if self.in_service and not self.pulling:
            self.pulling = True
            threading.Thread(target=self.pull, daemon=True).start()
        return self.in_service

    # ---- the queue, ECS and the workers ----

    def counts(self):  # (waiting, in flight, delayed) videos, or None
        try:
            params = {"QueueUrl": self.queue, "AttributeNames": COUNTS}
            attributes = self.call("sqs", "GetQueueAttributes", params)["Attributes"]
            return tuple(int(attributes[k]) for k in COUNTS)
        except Exception as e:
            log(f"queue: {e}")
            return None

    def tasks(self, tasks, stopped):
        listed = (tasks or {}).get("Tasks") or []
        return [
            t
            for t in listed
            if t.get("Family") in self.s.task_families and (t.get("KnownStatus") == "STOPPED") == stopped
        ]

    def workers(self, tasks):
        """{docker id: task arn} of this stack's running worker containers."""
        return {
            c["DockerId"]: t["Arn"]
            for t in self.tasks(tasks, False)
            if t.get("KnownStatus") == "RUNNING"
            for c in t.get("Containers") or []
            if c.get("DockerId")
        }

    def sample(self, container) -> Sample | None:
        """Bytes in + out of the container's network namespace (/proc/<pid>/net/dev, loopback excluded) and
        its CPU seconds (cgroup v2 cpu.stat, else v1 cpuacct.usage); None if the container cannot be read."""
        pid = self.pids.get(container)
        if pid is None:
            rc, out = docker("inspect", "-f", "{{.State.Pid}}", container, timeout=30)
            if rc != 0 or not out.isdigit() or int(out) <= 0:
                return None
            pid = self.pids[container] = int(out)
        proc = os.path.join(self.s.proc_root, str(pid))
        try:
            with open(os.path.join(proc, "net", "dev")) as f:
                rows = [line.split(":", 1) for line in f.read().splitlines()[2:] if ":" in line]
            moved = sum(int(v.split()[0]) + int(v.split()[8]) for k, v in rows if k.strip() != "lo")
        except (OSError, ValueError, IndexError):
            self.pids.pop(container, None)
            return None
        return moved, self.cpu_seconds(proc), time.time()

    def cpu_seconds(self, proc):
        try:
            with open(os.path.join(proc, "cgroup")) as f:
                lines = [line.split(":", 2) for line in f.read().splitlines()]
            for hierarchy, controllers, path in lines:
                if hierarchy == "0" and not controllers:  # cgroup v2
                    with open(self.s.cgroup_root + path + "/cpu.stat") as f:
                        usage = dict(line.split() for line in f.read().splitlines())
                    return int(usage["usage_usec"]) / 1e6
                if "cpuacct" in controllers.split(","):
                    with open(os.path.join(self.s.cgroup_root, "cpuacct") + path + "/cpuacct.usage") as f:
                        return int(f.read()) / 1e9
        except (OSError, ValueError, KeyError):
            pass
        return None

    def gpus_busy(self):
        """Any GPU of this instance busy (nvidia-smi; every GPU here belongs to this stack's workers)."""
        query = ("nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits")
        rc, out = command(*query, timeout=30)
        if rc != 0:
            return False  # no driver answer: bytes and CPU decide
        return any(float(v) > self.s.busy_gpu_percent for v in out.split() if v.replace(".", "").isdigit())

    def protected(self, arns):
        """A worker that sets ECS task scale-in protection (UpdateTaskProtection) holds a video."""
        if not arns:
            return False
        try:
            out = self.call("ecs", "GetTaskProtection", {"cluster": self.s.cluster_name, "tasks": sorted(arns)})
        except AwsError as e:  # bytes, CPU and GPUs still decide: an unreadable protection must not pin the fleet
            log(f"task protection: {e}")
            return False
        return any(t.get("protectionEnabled") for t in out.get("protectedTasks") or [])

    def observe(self, tasks):
        """True while this instance's workers may hold a video: a task starting, a worker moving bytes or
        CPU since the last look (or not yet looked at), a GPU in use, a protected task. Sets `unreadable`
        when a worker's counters cannot be read (busy, but no heartbeat) and `holding`: how many are busy."""
        self.unreadable = False
        if [t for t in self.tasks(tasks, False) if t.get("KnownStatus") != "RUNNING"]:
            return True
        workers, busy = self.workers(tasks), set()
        for container in workers:
            before, after = self.samples.get(container), self.sample(container)
            if after is None:
                self.unreadable = True
                busy.add(container)
                log(f"worker {container[:12]}: counters unreadable")
            elif before is None or worker_busy(before, after, self.s):
                busy.add(container)
            if after is not None:
                self.samples[container] = after
        for gone in set(self.samples) - set(workers):
            del self.samples[gone]
        if not busy and (self.gpus_busy() or self.protected(set(workers.values()))):
            busy = set(workers) or {"gpu"}
        self.holding = len(busy)
        return bool(busy)

    def look_quiet(self, workers):
        """The last look before a kill: `quiet_seconds` without one byte or CPU in any worker, GPUs idle, no
        task protected. What waits on a process or the network comes before the final counter read."""
        before = {c: self.sample(c) for c in workers}
        if any(v is None for v in before.values()):
            return False
        time.sleep(self.s.quiet_seconds)
        if self.gpus_busy():
            log("a GPU is busy in the last look: staying")
            return False
        if self.protected(set(workers.values())):
            return False
        after = {c: self.sample(c) for c in workers}  # then nothing but the kill
        for c in workers:
            first, last = before[c], after[c]
            if first is None or last is None or not quiet(first, last, self.s):
                log(f"worker {c[:12]} moved bytes or CPU in the last look: staying")
                return False
        return True

    def kill(self, workers):
        """SIGKILL to each worker container's init process, at once (docker kill answers later)."""
        killed_at = time.time()
        for container in workers:
            self.killed.add(container)
            pid = self.pids.get(container)
            try:
                if pid:
                    os.kill(pid, signal.SIGKILL)
            except OSError as e:
                log(f"kill {container[:12]}: {e}")
        if workers:
            log("docker kill {}: {}".format(" ".join(workers), docker("kill", *workers, timeout=60)[1]))
        return killed_at

    def fence(self, on):
        """Containers may not reach the network while the instance leaves: a worker ECS restarts in the
        meantime cannot take a video. Removed again if the instance stays."""
        if on:
            rc, out = command("iptables", "-I", FENCE[0], "1", *FENCE[1:], timeout=30)
            log("fence: %s" % ("on" if rc == 0 else out))
        else:
            while command("iptables", "-D", *FENCE, timeout=30)[0] == 0:
                log("fence: off")

    def set_state(self, arn, status):
        try:
            params = {"cluster": self.s.cluster_name, "containerInstances": [arn], "status": status}
            out = self.call("ecs", "UpdateContainerInstancesState", params)
            if out.get("failures"):
                raise AwsError(out["failures"])
            return True
        except AwsError as e:
            log(f"container instance {status}: {e}")
            return False

    def submitted_at(self):
        """When `submit` last queued a video (the stack's SSM parameter, "0" until the first submit); now if
        it cannot be read (hold: the next look decides)."""
        try:
            out = self.call("ssm", "GetParameter", {"Name": self.s.submit_parameter})
            return float(out["Parameter"]["Value"]) or None
        except (AwsError, KeyError, ValueError) as e:
            log(f"submit marker: {e}")
            return None if "ParameterNotFound" in str(e) else time.time()

    # ---- leaving ----

    def leave(self, arn, tasks, reason):
        """Look, kill, fence, drain, then terminate (reason "idle": our decision, desired capacity -1) or
        complete the termination hook (reason "group": the group's). Any failure after the kill is undone:
        ECS restarts the killed (idle) worker."""
        workers = self.workers(tasks)
        if not self.look_quiet(workers):
            return False
        killed_at = self.kill(workers)
        self.fence(True)
        drained = not arn or self.set_state(arn, "DRAINING")
        left = drained and (self.terminate() if reason == "idle" else self.complete_hook(self.s.termination_hook_name))
        self.milestone("idle", at=killed_at, since=self.idle)
        if left:
            self.release(reason)
            self.finish(at_once=True)
            return True
        log("staying in service")
        if drained and arn:
            self.set_state(arn, "ACTIVE")
        self.fence(False)
        self.idle = None
        return False

    def release(self, reason):
        """This instance is leaving: record it (a restarted agent must not terminate it twice)."""
        self.milestone("leaving", reason=reason, videos_cut=0)
        self.done = True
        os.makedirs(self.s.state_dir, exist_ok=True)
        open(self.marker, "w").close()
        return True

    def terminate(self):
        """TerminateInstanceInAutoScalingGroup, desired capacity -1, retried with jittered backoff while another
        activity of the group runs (EC2 Auto Scaling API Reference, TerminateInstanceInAutoScalingGroup,
        Errors): agents leaving together take turns."""
        deadline, tries = time.time() + TERMINATE_PATIENCE_SECONDS, 0
        while True:
            try:
                self.call(
                    "autoscaling",
                    "TerminateInstanceInAutoScalingGroup",
                    {"InstanceId": self.iid, "ShouldDecrementDesiredCapacity": "true"},
                )
                break
            except AwsError as e:
                tries += 1
                pause = min(2**tries, 30) * random.uniform(0.5, 1)
                if not any(word in str(e) for word in GROUP_BUSY) or time.time() + pause > deadline:
                    log(f"terminate: {e}")
                    return False
                log(f"terminate: group busy, again in {pause:.0f} s")
                time.sleep(pause)
        log("terminating, desired capacity -1")
        self.hook_owed = True
        return True

    def finish(self, at_once=False):
        """Our own terminate waits in Terminating:Wait for our hook: complete it (the workers are killed and
        fenced), so the instance and the group's activity end at once; else on a later poll."""
        for pause in (0, 1, 2, 4) if at_once else (0,):
            time.sleep(pause)
            if self.hook_owed and (at_once or self.target_state() == "Terminated"):
                self.hook_owed = not self.complete_hook(self.s.termination_hook_name)
            if not self.hook_owed:
                return

    # ---- halting ----

    def halt(self, why):  # the group to 0 until `ecs-autoscale resume`; why: on a group tag and by SNS
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        tag = {
            "ResourceId": self.s.asg_name,
            "ResourceType": "auto-scaling-group",
            "Key": self.s.halted_tag,
            "Value": (stamp + " " + why)[:256],
            "PropagateAtLaunch": "false",
        }
        message = (
            f"{self.s.stack_name} halted at {stamp}: {why}.\n"
            f"Its group {self.s.asg_name} is at 0 instances; queued videos are kept.\n"
            f"Fix: check the image {self.s.image} and the model files (logs: {self.s.log_group_name}), "
            "then `ecs-autoscale resume STACK_DIR` or redeploy."
        )
        topic = f"arn:{self.partition}:sns:{self.s.region}:{self.account}:{self.s.topic_name}"
        calls = [
            (
                "autoscaling",
                "UpdateAutoScalingGroup",
                {"AutoScalingGroupName": self.s.asg_name, "MinSize": 0, "MaxSize": 0, "DesiredCapacity": 0},
            ),
            ("autoscaling", "CreateOrUpdateTags", {"Tags.member.1." + k: v for k, v in tag.items()}),
            (
                "sns",
                "Publish",
                {
                    "TopicArn": topic,
                    "Subject": self.s.stack_name + " halted: workers cannot take videos",
                    "Message": message,
                },
            ),
        ]
        for service, action, params in calls:  # the group first, retried next cycle until done; then once each
            try:
                self.call(service, action, params)
                if not self.halted:
                    self.milestone("halted", reason=why)
                self.halted = True
            except AwsError as e:
                log(f"halt: {e}")
                if not self.halted:
                    return

    def note_exits(self, tasks, now):  # introspection has no exit codes: docker has
        for t in self.tasks(tasks, True):
            ids = [c["DockerId"] for c in t.get("Containers") or [] if c.get("DockerId")]
            if t["Arn"] in self.exits or self.killed.intersection(ids):
                continue
            when, why = now, "task stopped before its container ran"
            for i in ids:
                out = docker("inspect", "-f", "{{.State.ExitCode}}|{{.State.FinishedAt}}|{{.State.Error}}", i)[1]
                try:  # FinishedAt is RFC 3339 UTC; docker's zero time if the container never ran
                    code, end, error = out.split("|", 2)
                    when = max(calendar.timegm(time.strptime(end[:19], "%Y-%m-%dT%H:%M:%S")), 0) or now
                    why = (f"exit code {code} {error}").strip()
                except ValueError:  # no such container any more
                    pass
            self.exits[t["Arn"]] = (when, why)

    # ---- the loop ----

    def cycle(self):
        if self.done:
            return self.finish()
        if not self.iid:
            self.identify()
            self.fence(False)  # a fence left by an agent that died while leaving
        if not self.queue:
            self.queue = self.call("sqs", "GetQueueUrl", {"QueueName": self.s.queue_name})["QueueUrl"]
        self.state = state = self.target_state()
        if self.facts.get("lifecycle") == "spot" and not self.notice:  # EC2 User Guide, Spot interruption notices
            self.notice = self.optional_imds("meta-data/spot/instance-action")
        if state == "Warmed:Terminated":  # a pool instance the group sheds or an instance refresh replaces
            return self.complete_hook(self.s.termination_hook_name) and self.release("group")
        if not self.lifecycle(state):
            return None
        return self.in_service_cycle(state)

    def in_service_cycle(self, state):
        now, counts, meta, tasks = time.time(), self.counts(), self.agent("metadata"), self.agent("tasks")
        arn = (meta or {}).get("ContainerInstanceArn")
        busy = self.look(arn, counts, tasks, now)
        why = halt_reason(
            counts,
            recent_exits(self.exits, now, self.s.crash_window_seconds),
            self.s.crash_loop_exits,
            self.registered,
            now - self.started,
            self.s.register_timeout_seconds,
        )
        if why and not self.halted:
            log(f"queue {counts}: HALT: {why}")
            return self.halt(why)
        if state == "Terminated":  # the group terminates us (the stack's termination lifecycle hook waits)
            # a halt reason: videos wait, none in flight, so no worker here holds one
            if not busy or why:
                return self.leave(arn, tasks, "group")
            # busy: heartbeats; unreadable counters earn none (the hook times out, CONTINUE, not held for days)
            return None if self.unreadable else self.heartbeat()
        # Registered: leave once idle. Unregistered long after boot: no task can run here.
        unregistered_too_long = meta is not None and now - self.started >= self.s.register_timeout_seconds
        idle_since = self.idle
        if (
            idle_since is not None
            and scale_in_due(idle_since, now, self.s.idle_seconds)
            and (arn or unregistered_too_long)
        ):
            if held_by_submit(self.submitted_at(), time.time(), self.s.submit_hold_seconds):
                log(f"a submit queued videos within {self.s.submit_hold_seconds:.0f} s: staying")
                return None
            log(f"workers idle, queue {counts} for {now - idle_since:.0f} s: scale-in")
            return self.leave(arn, tasks, "idle")
        return None

    def look(self, arn, counts, tasks, now):
        """One look at the ECS agent, the workers and the queue: milestones, exits, the idle clock. True while
        this instance's workers may hold a video."""
        if arn:
            self.registered = True
            self.once("registered", container_instance_arn=arn)
        running = self.workers(tasks)
        if running:
            self.once("first_task", task_arn=sorted(running.values())[0])
        busy = self.observe(tasks)
        self.idle = idle_clock(self.idle, busy, counts, now)
        if (counts, busy) != self.seen:
            self.seen = (counts, busy)
            where = "" if arn else ", not in the cluster"
            log(f"queue waiting/in flight/delayed {counts}, workers {'busy' if busy else 'idle'}{where}")
        self.note_exits(tasks, now)
        return busy

    def stopping(self, *_):
        """SIGTERM: systemd stops the agent. If the instance is going (the group terminates it, a Spot
        interruption, a shutdown), its busy workers' videos are cut: record them."""
        going = (
            self.state == "Terminated"
            or self.notice
            or command("systemctl", "is-system-running", timeout=5)[1] == "stopping"
        )
        if going and not self.done and self.holding:
            why = "spot-interruption" if self.notice else "shutdown"
            self.milestone("leaving", reason=why, videos_cut=self.holding)
            self.done = True
        raise SystemExit(0)

    def run(self, cycles=None):
        n = 0
        while cycles is None or n < cycles:
            try:
                self.cycle()
            except Exception as e:  # never die: log, retry next cycle
                log(f"cycle: {type(e).__name__}: {e}")
            n += 1
            if self.done and not self.hook_owed and cycles is not None:
                return
            time.sleep(self.s.poll_seconds)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--config", default="/etc/ecs-autoscale/agent.json")
    p.add_argument("--cycles", type=int)  # stop after N cycles (tests)
    a = p.parse_args()
    with open(a.config) as f:
        agent = Agent(json.load(f))
    signal.signal(signal.SIGTERM, agent.stopping)
    agent.run(a.cycles)
