"""What an EC2 instance offers the instance agent, faked on loopback for tests (AWS itself is the emulator).

FakeInstance   the instance metadata service (IMDSv2 only: GETs without a session token get 401, as with
               HttpTokens=required) and the ECS agent's introspection endpoint, in threads. Change
               `lifecycle_state`, `metadata`, `tasks` and `spot_action` (a Spot interruption notice, on an
               instance made with market="spot") while the agent runs.
FakeDocker     the host's commands the agent runs: `docker` (logs every call as JSON lines, answers `inspect`
               from files, can send a video to the queue when asked to `kill`), `iptables` (keeps the rules it
               is given, so the fence can be checked), `nvidia-smi` (GPU utilization from a file) and
               `systemctl is-system-running` (`system_state`: "running", or "stopping" in a shutdown); and the
               host's /proc and cgroup files of each worker container (`add_worker`, `move_bytes`,
               `use_cpu`), whose init process is a real `sleep` the agent can kill.
agent_script   the agent exactly as the rendered user data carries it.
deployed_agent the agent and its agent.json exactly as a deployed stack's launch template carries them.
run_agent      runs that script as `python3 instance_agent.py --config FILE --cycles N`, with the instances'
               own Python (3.9 on the Amazon Linux 2023 ECS GPU AMI: see instance_python()); start_agent
               starts it and returns the process (to signal it as systemd does; log=True: its output to
               agent.log beside the script, for a background run nobody reads).
"""

from __future__ import annotations

import base64
import contextlib
import glob
import gzip
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ACCOUNT = "123456789012"  # moto's default account
# Amazon Linux 2023's system python3, which runs the agent on the instances (AL2023 User Guide, "Python in AL2023").
INSTANCE_PYTHON_VERSION = "3.9"


def instance_python() -> str:
    """The interpreter the agent runs on in tests: the instances' Python version, never the suite's own, so a
    3.10+ call in the agent fails here instead of on every instance. ECS_AUTOSCALE_AGENT_PYTHON names it;
    else python3.9 under pyenv or on PATH (a pyenv shim works only where that version is active)."""
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = [
        os.environ.get("ECS_AUTOSCALE_AGENT_PYTHON"),
        *sorted(glob.glob(f"{root}/versions/{INSTANCE_PYTHON_VERSION}.*/bin/python3")),
        shutil.which(f"python{INSTANCE_PYTHON_VERSION}"),
    ]
    tried = []
    for candidate in filter(None, candidates):
        said = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True
        )
        if said.stdout.strip() == INSTANCE_PYTHON_VERSION:
            return candidate
        tried.append(f"{candidate} ({said.stdout.strip() or 'did not run'})")
    raise AssertionError(
        f"the agent tests need Python {INSTANCE_PYTHON_VERSION} (the instances' python3); tried "
        f"{', '.join(tried) or 'nothing found'}: install it (pyenv install {INSTANCE_PYTHON_VERSION}) or set "
        "ECS_AUTOSCALE_AGENT_PYTHON to its path"
    )


ROLE = "ecs-autoscale-test-instance-role"


class FakeInstance:
    def __init__(
        self,
        instance_id: str,
        region: str = "us-west-2",
        cluster: str = "cluster",
        pending_time: str = "2026-12-07T10:00:00Z",
        market: str = "on-demand",
    ) -> None:
        self.instance_id, self.region, self.pending_time = instance_id, region, pending_time
        self.market = market
        self.lifecycle_state = "InService"
        self.spot_action: dict | None = None
        self.metadata: dict = {"Cluster": cluster, "ContainerInstanceArn": None, "Version": "fake ECS agent"}
        self.tasks: list[dict] = []
        self.unauthorized = 0
        self._servers = [self._serve(self._imds), self._serve(self._introspection)]
        self.imds_url, self.introspection_url = (f"http://127.0.0.1:{s.server_port}" for s in self._servers)

    def close(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> FakeInstance:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _serve(self, answer) -> ThreadingHTTPServer:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._reply(*answer(self.command, self.path, self.headers))

            do_PUT = do_GET

            def _reply(self, status: int, body: str) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return server

    def _imds(self, method: str, path: str, headers) -> tuple[int, str]:
        if method == "PUT":
            ok = path == "/latest/api/token" and headers.get("X-aws-ec2-metadata-token-ttl-seconds")
            return (200, "session-token") if ok else (400, "")
        if headers.get("X-aws-ec2-metadata-token") != "session-token":
            self.unauthorized += 1
            return 401, ""
        answers = {
            "/latest/meta-data/instance-life-cycle": self.market,
            "/latest/meta-data/iam/security-credentials/": ROLE,
            f"/latest/meta-data/iam/security-credentials/{ROLE}": json.dumps(
                {
                    "Code": "Success",
                    "Type": "AWS-HMAC",
                    "AccessKeyId": "ASIAFAKEINSTANCEKEY",
                    "SecretAccessKey": "fake-secret",
                    "Token": "fake-session-token",
                    "Expiration": "2099-01-01T00:00:00Z",
                }
            ),
            "/latest/dynamic/instance-identity/document": json.dumps(
                {
                    "instanceId": self.instance_id,
                    "accountId": ACCOUNT,
                    "region": self.region,
                    "instanceType": "g4dn.xlarge",
                    "pendingTime": self.pending_time,
                }
            ),
            "/latest/meta-data/autoscaling/target-lifecycle-state": self.lifecycle_state,
            "/latest/meta-data/services/domain": "amazonaws.com",
            "/latest/meta-data/services/partition": "aws",
        }
        if self.spot_action is not None:  # EC2 User Guide, "Spot Instance interruption notices"
            answers["/latest/meta-data/spot/instance-action"] = json.dumps(self.spot_action)
        return (200, answers[path]) if path in answers else (404, "")

    def _introspection(self, method: str, path: str, headers) -> tuple[int, str]:
        if path == "/v1/metadata":
            return 200, json.dumps(self.metadata)
        if path == "/v1/tasks":
            return 200, json.dumps({"Tasks": self.tasks})
        return 404, ""


def task(arn: str, family: str, status: str, *docker_ids: str) -> dict:
    """A task as ECS agent introspection shows it (v1/tasks)."""
    return {
        "Arn": arn,
        "DesiredStatus": status,
        "KnownStatus": status,
        "Family": family,
        "Version": "1",
        "Containers": [{"DockerId": i, "DockerName": f"ecs-{family}-{i}", "Name": "worker"} for i in docker_ids],
    }


FAKE_DOCKER = """#!{python}
import json, os, sys
args = sys.argv[1:]
entry = {{"args": args}}
if args[:1] == ["login"]:
    entry["stdin"] = sys.stdin.read()
with open(os.environ["FAKE_DOCKER_LOG"], "a") as log:
    log.write(json.dumps(entry) + "\\n")
if args[:1] == ["inspect"] and "{{{{.State.Pid}}}}" in args:
    pid = json.load(open(os.environ["FAKE_DOCKER_PIDS"])).get(args[-1])
    print(pid if pid else "")
    sys.exit(0 if pid else 1)
if args[:1] == ["inspect"]:
    print(json.load(open(os.environ["FAKE_DOCKER_STATES"]))[args[-1]])
if args[:1] == ["kill"] and os.environ.get("FAKE_DOCKER_SEND_ON_KILL"):
    import boto3
    target = json.loads(os.environ["FAKE_DOCKER_SEND_ON_KILL"])
    sqs = boto3.client("sqs", region_name="us-west-2", endpoint_url=target["endpoint"],
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    sqs.send_message(QueueUrl=target["queue_url"], MessageBody="{{}}", MessageGroupId="late",
                     MessageDeduplicationId="late-video")
"""
FAKE_IPTABLES = """#!{python}
import json, os, sys
args = sys.argv[1:]
path = os.environ["FAKE_IPTABLES_RULES"]
rules = json.load(open(path))
with open(os.environ["FAKE_DOCKER_LOG"], "a") as log:
    log.write(json.dumps({{"args": ["iptables"] + args}}) + "\\n")
if args[0] == "-I":
    rules.append(args[1:2] + args[3:])  # chain, then the rule without its position
elif args[0] == "-D":
    if args[1:] not in rules:
        sys.exit(1)
    rules.remove(args[1:])
json.dump(rules, open(path, "w"))
"""
FAKE_NVIDIA_SMI = """#!{python}
import os, sys
print(open(os.environ["FAKE_GPU_UTILIZATION"]).read())
"""
FAKE_SYSTEMCTL = """#!{python}
import os, sys
print(open(os.environ["FAKE_SYSTEM_STATE"]).read() if sys.argv[1:] == ["is-system-running"] else "")
"""


class FakeDocker:
    def __init__(self, folder: Path) -> None:
        self.bin = folder / "bin"
        self.bin.mkdir()
        fakes = (
            ("docker", FAKE_DOCKER),
            ("iptables", FAKE_IPTABLES),
            ("nvidia-smi", FAKE_NVIDIA_SMI),
            ("systemctl", FAKE_SYSTEMCTL),
        )
        for name, text in fakes:
            (self.bin / name).write_text(text.format(python=sys.executable))
            (self.bin / name).chmod(0o755)
        self.log, self.states, self.pids = folder / "docker.log", folder / "docker-states.json", folder / "pids.json"
        self.rules, self.gpus = folder / "iptables.json", folder / "gpu-utilization.txt"
        self.system_state = folder / "system-state.txt"
        self.proc_root, self.cgroup_root = folder / "proc", folder / "cgroup"
        self.proc_root.mkdir()
        self.cgroup_root.mkdir()
        (self.proc_root / "uptime").write_text("120.5 200.0\n")
        self.log.write_text("")
        self.states.write_text("{}")
        self.pids.write_text("{}")
        self.rules.write_text("[]")
        self.gpus.write_text("0")
        self.system_state.write_text("running")
        self.sleepers: dict[str, subprocess.Popen] = {}
        self.counters: dict[str, list[int]] = {}
        self.env = {
            "FAKE_DOCKER_LOG": str(self.log),
            "FAKE_DOCKER_STATES": str(self.states),
            "FAKE_DOCKER_PIDS": str(self.pids),
            "FAKE_IPTABLES_RULES": str(self.rules),
            "FAKE_GPU_UTILIZATION": str(self.gpus),
            "FAKE_SYSTEM_STATE": str(self.system_state),
        }

    @property
    def paths(self) -> dict[str, str]:
        """The agent settings that point it at this host's /proc and cgroup files."""
        return {"proc_root": str(self.proc_root), "cgroup_root": str(self.cgroup_root)}

    def add_worker(self, container: str) -> int:
        """A running worker container: its init process is a real `sleep` (the agent may SIGKILL it)."""
        sleeper = subprocess.Popen(["sleep", "600"])
        self.sleepers[container] = sleeper
        pids = json.loads(self.pids.read_text())
        pids[container] = sleeper.pid
        self.pids.write_text(json.dumps(pids))
        (self.proc_root / str(sleeper.pid) / "net").mkdir(parents=True)
        (self.proc_root / str(sleeper.pid) / "cgroup").write_text(f"0::/system.slice/docker-{container}.scope\n")
        (self.cgroup_root / "system.slice" / f"docker-{container}.scope").mkdir(parents=True)
        self.counters[container] = [0, 0]
        self._write(container)
        return sleeper.pid

    def move_bytes(self, container: str, received: int, sent: int = 0) -> None:
        self.counters[container][0] += received + sent
        self._write(container)

    def use_cpu(self, container: str, seconds: float) -> None:
        self.counters[container][1] += int(seconds * 1e6)
        self._write(container)

    def _write(self, container: str) -> None:
        moved, usec = self.counters[container]
        pid = self.sleepers[container].pid
        (self.proc_root / str(pid) / "net" / "dev").write_text(
            "Inter-|   Receive                            |  Transmit\n"
            " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets\n"
            "    lo: 999 1 0 0 0 0 0 0 999 1 0 0 0 0 0 0\n"
            f"  eth0: {moved} 10 0 0 0 0 0 0 0 10 0 0 0 0 0 0\n"
        )
        scope = self.cgroup_root / "system.slice" / f"docker-{container}.scope"
        (scope / "cpu.stat").write_text(f"usage_usec {usec}\nuser_usec {usec}\nsystem_usec 0\n")

    def killed(self, container: str) -> bool:
        return self.sleepers[container].poll() is not None

    def fence(self) -> list[list[str]]:
        return json.loads(self.rules.read_text())

    def close(self) -> None:
        for sleeper in self.sleepers.values():
            if sleeper.poll() is None:
                sleeper.kill()
            sleeper.wait()

    def set_states(self, states: dict[str, str]) -> None:
        """docker inspect answers: {id: "EXITCODE|FINISHEDAT|ERROR"}."""
        self.states.write_text(json.dumps(states))

    def calls(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def commands(self) -> list[list[str]]:
        return [c["args"] for c in self.calls()]


def agent_script(folder: Path, user_data: str) -> Path:
    """The agent file user data writes (between its here-document markers), saved in folder."""
    body = user_data.split("<<'AGENT_PY'\n", 1)[1].split("\nAGENT_PY\n", 1)[0]
    path = folder / "instance_agent.py"
    path.write_text(body + "\n")
    return path


def deployed_agent(ec2, autoscaling, group: str, folder: Path) -> tuple[Path, dict]:
    """(the agent script saved in folder, its agent.json) from the user data of a deployed group's launch
    template (Terraform's base64gzip of the rendered script)."""
    template = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"][0]
    spec = (
        template.get("LaunchTemplate")
        or template["MixedInstancesPolicy"]["LaunchTemplate"]["LaunchTemplateSpecification"]
    )
    version = ec2.describe_launch_template_versions(LaunchTemplateId=spec["LaunchTemplateId"], Versions=["$Latest"])
    user_data = gzip.decompress(
        base64.b64decode(version["LaunchTemplateVersions"][0]["LaunchTemplateData"]["UserData"])
    )
    text = user_data.decode()
    config = json.loads(text.split("<<'AGENT_JSON'\n", 1)[1].split("\nAGENT_JSON\n", 1)[0])
    return agent_script(folder, text), config


def start_agent(
    script: Path,
    config: dict,
    docker: FakeDocker,
    cycles: int | None = None,
    *,
    extra_env: dict | None = None,
    log: bool = False,
) -> subprocess.Popen:
    """The agent as a process; cycles None: it runs until signalled. Its output goes to pipes, or with log=True
    to agent.log beside the script (a background run nobody reads: pipes would fill and block it)."""
    config_file = script.with_name("agent.json")
    config_file.write_text(json.dumps(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        docker.env,
        PATH=f"{docker.bin}{os.pathsep}{env.get('PATH', '')}",
        NO_PROXY="127.0.0.1,localhost",
        **(extra_env or {}),
    )
    command = [instance_python(), str(script), "--config", str(config_file)]
    command += ["--cycles", str(cycles)] if cycles is not None else []
    if log:
        with open(script.with_name("agent.log"), "w") as out:
            return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_agent(
    script: Path, config: dict, docker: FakeDocker, cycles: int, *, timeout: float = 60, extra_env: dict | None = None
) -> subprocess.CompletedProcess:
    proc = start_agent(script, config, docker, cycles, extra_env=extra_env)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    assert proc.returncode == 0, stdout + stderr
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


@contextlib.contextmanager
def downloading(*moves: tuple[FakeDocker, str, int]) -> Iterator[None]:
    """Each (host, container, chunk): the worker moves `chunk` bytes every 50 ms (a video's download) while the
    block runs, so the agent sees it busy."""
    done = threading.Event()

    def download() -> None:
        while not done.wait(0.05):
            for host, container, chunk in moves:
                host.move_bytes(container, received=chunk)

    mover = threading.Thread(target=download, daemon=True)
    mover.start()
    try:
        yield
    finally:
        done.set()
        mover.join()
