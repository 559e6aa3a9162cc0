"""The instance agent against the emulator: real SQS, Auto Scaling, ECS, SNS and ECR APIs, signed by the
agent's own SigV4 code; the instance around it (IMDS, ECS agent introspection, docker) faked on loopback
(tests/agent_fakes.py). The agent runs exactly as user data writes it, with short timings."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
import uuid
from dataclasses import replace

import pytest
from agent_fakes import ACCOUNT, FakeDocker, FakeInstance, agent_script, downloading, run_agent, start_agent, task

from ecs_autoscale.agent.instance_agent import FENCE
from ecs_autoscale.group import HALTED_TAG
from ecs_autoscale.model.naming import StackNames
from ecs_autoscale.model.scaling_design import ScalingDesign
from ecs_autoscale.synthesis.user_data import agent_config, agent_settings, ecs_agent_config, render_user_data

REGION = "us-west-2"
FAMILY = "worker-family"


class Stack:
    """One stack's resources on the emulator (unique names: moto keeps one account per session)."""

    def __init__(
        self,
        aws,
        template: str,
        name: str,
        *,
        delay_seconds: int = 0,
        hook: bool = False,
        image: str = "",
        size: int = 1,
    ) -> None:
        clients: dict = {}
        self.aws = lambda service: clients.get(service) or clients.setdefault(service, aws(service))
        self.name, self.names = name, StackNames(name)
        sqs, ecs, asg = self.aws("sqs"), self.aws("ecs"), self.aws("autoscaling")
        self.queue_url = sqs.create_queue(
            QueueName=self.names.video_queue,
            Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true", "DelaySeconds": str(delay_seconds)},
        )["QueueUrl"]
        subnet = self.aws("ec2").describe_subnets()["Subnets"][0]["SubnetId"]
        # The stack's hooks, declared with the group as the fleet construct does (a hook added later would
        # not hold the group's first instances: the emulator's lifecycle-hooks rule).
        hooks = [
            {
                "LifecycleHookName": self.names.termination_hook,
                "LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING",
                "HeartbeatTimeout": 1800,
                "DefaultResult": "CONTINUE",
            }
        ] + (
            [
                {
                    "LifecycleHookName": self.names.warm_pool_hook,
                    "LifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING",
                    "HeartbeatTimeout": 600,
                    "DefaultResult": "ABANDON",
                }
            ]
            if hook
            else []
        )
        asg.create_auto_scaling_group(
            AutoScalingGroupName=self.names.asg,
            MinSize=0,
            MaxSize=max(2, size),
            DesiredCapacity=0 if hook else size,
            VPCZoneIdentifier=subnet,
            LaunchTemplate={"LaunchTemplateId": template, "Version": "$Latest"},
            LifecycleHookSpecificationList=hooks,
        )
        if hook:  # one prepared instance in the warm pool, waiting for its agent (Warmed:Pending:Wait)
            asg.put_warm_pool(AutoScalingGroupName=self.names.asg, MinSize=0, MaxGroupPreparedCapacity=1)
            self.instance_id = asg.describe_warm_pool(AutoScalingGroupName=self.names.asg)["Instances"][0]["InstanceId"]
        else:
            self.instance_id = self.group()["Instances"][0]["InstanceId"]
        self.instance_ids = [self.instance_id] if hook else [i["InstanceId"] for i in self.group()["Instances"]]
        ecs.create_cluster(clusterName=name)
        self.container_instances = [
            ecs.register_container_instance(
                cluster=name,
                instanceIdentityDocument=json.dumps({"instanceId": i, "region": REGION, "accountId": ACCOUNT}),
            )["containerInstance"]["containerInstanceArn"]
            for i in self.instance_ids
        ]
        self.container_instance = self.container_instances[0]
        sns = self.aws("sns")
        self.topic = sns.create_topic(Name=self.names.alerts_topic)["TopicArn"]
        self.alerts_url = sqs.create_queue(QueueName=f"{name}-alerts-observer")["QueueUrl"]
        alerts_arn = sqs.get_queue_attributes(QueueUrl=self.alerts_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=self.topic, Protocol="sqs", Endpoint=alerts_arn)
        self.aws("logs").create_log_group(logGroupName=self.names.log_group)
        self.aws("ssm").put_parameter(Name=self.names.submit_marker, Value="0", Type="String")
        # The stack's design with a test's timings: look every 0.2 s, leave after 1 s idle, a 0.1 s last look.
        design = ScalingDesign(
            fleet_size=2,
            tasks_per_instance=1,
            scale_in_idle_minutes=5,
            warm_pool_size=1 if hook else 0,
            agent_poll_seconds=1,
        )
        self.settings = replace(
            agent_settings(
                design,
                self.names,
                region=REGION,
                task_families=(FAMILY,),
                image=image or f"registry.example.com/{name.lower()}/worker:1",
            ),
            poll_seconds=0.2,
            idle_seconds=1,
            quiet_seconds=0.1,
        )

    def group(self) -> dict:
        return self.aws("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[self.names.asg])[
            "AutoScalingGroups"
        ][0]

    def container_instance_status(self, arn: str = "") -> str:
        return self.aws("ecs").describe_container_instances(
            cluster=self.name, containerInstances=[arn or self.container_instance]
        )["containerInstances"][0]["status"]

    def send_video(self) -> None:
        self.aws("sqs").send_message(
            QueueUrl=self.queue_url, MessageBody=json.dumps({"video": "a.mp4"}), MessageGroupId=uuid.uuid4().hex
        )

    def alerts(self) -> list[dict]:
        messages = (
            self.aws("sqs")
            .receive_message(QueueUrl=self.alerts_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            .get("Messages", [])
        )
        return [json.loads(m["Body"]) for m in messages]

    def milestones(self, instance_id: str = "") -> list[dict]:
        events = self.aws("logs").get_log_events(
            logGroupName=self.names.log_group,
            logStreamName=f"ecs-autoscale-agent/{instance_id or self.instance_id}",
            startFromHead=True,
        )["events"]
        return [json.loads(e["message"]) for e in events]


def follow_termination(stack: Stack, fake: FakeInstance, stop: threading.Event) -> None:
    """What IMDS says once the group terminates the instance: target lifecycle state Terminated."""
    while not stop.wait(0.1):
        states = [i["LifecycleState"] for i in stack.group()["Instances"] if i["InstanceId"] == fake.instance_id]
        if not states or states[0].startswith("Terminating"):
            fake.lifecycle_state = "Terminated"


@pytest.fixture(scope="module")
def launch_template(aws_client) -> str:
    """One for all (moto takes over a second to create a launch template)."""
    return aws_client("ec2").create_launch_template(
        LaunchTemplateName=f"agent-tests-{uuid.uuid4().hex[:8]}",
        LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "g4dn.xlarge"},
    )["LaunchTemplate"]["LaunchTemplateId"]


@pytest.fixture
def make_stack(aws_client, launch_template, request):
    def make(**kwargs) -> Stack:
        name = f"Agent{request.node.name.split('[')[0][5:20].replace('_', '')}{uuid.uuid4().hex[:6]}"
        return Stack(aws_client, launch_template, name, **kwargs)

    return make


@pytest.fixture
def host(tmp_path):
    fake = FakeDocker(tmp_path)
    yield fake
    fake.close()


@pytest.fixture
def instance(make_stack, host):
    """(stack, fake instance registered with the cluster, running one worker task); its IMDS says Terminated
    once the group terminates it, as AWS's does."""
    stack = make_stack()
    host.add_worker("c-running")
    with FakeInstance(stack.instance_id, cluster=stack.name) as fake:
        fake.metadata["ContainerInstanceArn"] = stack.container_instance
        fake.tasks = [task("arn:aws:ecs:us-west-2:123456789012:task/x/running", FAMILY, "RUNNING", "c-running")]
        stop = threading.Event()
        follower = threading.Thread(target=follow_termination, args=(stack, fake, stop), daemon=True)
        follower.start()
        yield stack, fake
        stop.set()
        follower.join()


def start(tmp_path, emulator: str, stack: Stack, fake: FakeInstance, host: FakeDocker, settings=None):
    tmp_path.mkdir(exist_ok=True)
    settings = replace(settings or stack.settings, endpoint_url=emulator)
    user_data = render_user_data(settings, ecs_config=ecs_agent_config(settings, spot=False))
    config = {
        **agent_config(settings),
        "imds_url": fake.imds_url,
        "introspection_url": fake.introspection_url,
        "state_dir": str(tmp_path / "state"),
        **host.paths,
    }
    return agent_script(tmp_path, user_data), config


def test_idle_worker_is_looked_at_killed_fenced_drained_then_terminated_with_decrement(
    tmp_path, emulator, instance, host
):
    stack, fake = instance
    script, config = start(tmp_path, emulator, stack, fake, host)
    began = time.monotonic()
    proc = run_agent(script, config, host, cycles=50)

    assert "terminating" in proc.stdout, proc.stdout
    assert time.monotonic() - began >= config["idle_seconds"]
    assert host.killed("c-running")  # SIGKILL to the worker's init process
    commands = host.commands()
    assert commands.index(["kill", "c-running"]) < commands.index(["iptables", "-I", "FORWARD", "1", *FENCE[1:]])
    assert host.fence() == [FENCE]  # a worker ECS restarted meanwhile could not reach the queue
    assert stack.container_instance_status() == "DRAINING"
    group = stack.group()
    assert group["DesiredCapacity"] == 0 and group["Instances"] == []
    assert (tmp_path / "state" / "terminated").exists()
    assert fake.unauthorized == 0  # IMDSv2 only
    events = [m["event"] for m in stack.milestones()]
    assert events[0] == "agent_started" and events[-2:] == ["idle", "leaving"]
    assert {"registered", "first_task", "docker_up", "pull_started", "pull_finished"} <= set(events)
    first = stack.milestones()[0]
    assert (first["instance_id"], first["instance_type"], first["lifecycle"]) == (
        stack.instance_id,
        "g4dn.xlarge",
        "on-demand",
    )

    # Restarted by systemd before the shutdown: it must not terminate (and decrement) a second time.
    again = run_agent(script, config, host, cycles=3)
    assert "terminating" not in again.stdout


@pytest.mark.parametrize("video", ["delayed", "waiting"])
def test_a_video_waiting_or_delayed_keeps_the_instance(tmp_path, emulator, make_stack, host, video):
    stack = make_stack(delay_seconds=90 if video == "delayed" else 0)
    stack.send_video()
    host.add_worker("c-running")
    with FakeInstance(stack.instance_id, cluster=stack.name) as fake:
        fake.metadata["ContainerInstanceArn"] = stack.container_instance
        fake.tasks = [task("arn:aws:ecs:us-west-2:123456789012:task/x/running", FAMILY, "RUNNING", "c-running")]
        script, config = start(tmp_path, emulator, stack, fake, host)
        proc = run_agent(script, config, host, cycles=12)  # > idle_seconds of looking

    expected = {"delayed": "(0, 0, 1)", "waiting": "(1, 0, 0)"}[video]
    assert expected in proc.stdout, proc.stdout
    assert "scale-in" not in proc.stdout and "HALT" not in proc.stdout
    assert stack.group()["DesiredCapacity"] == 1
    assert stack.container_instance_status() == "ACTIVE"
    assert not host.killed("c-running") and host.fence() == []
    assert ["pull", stack.settings.image] in host.commands()  # pre-pulled once docker answered


def test_another_instances_video_in_flight_does_not_keep_an_idle_instance(tmp_path, emulator, instance, host):
    """Issue 19 item 11: one fleet-wide idle clock kept FleetSize-1 GPUs up until the longest video ended."""
    stack, fake = instance
    stack.send_video()
    assert stack.aws("sqs").receive_message(QueueUrl=stack.queue_url, VisibilityTimeout=600)["Messages"]
    script, config = start(tmp_path, emulator, stack, fake, host)
    proc = run_agent(script, config, host, cycles=50)
    assert "(0, 1, 0)" in proc.stdout and "terminating" in proc.stdout, proc.stdout


def test_a_busy_worker_keeps_its_instance(tmp_path, emulator, instance, host):
    """The worker moves megabytes (a download, an upload) at every look: the idle clock never starts."""
    stack, fake = instance
    script, config = start(tmp_path, emulator, stack, fake, host)
    with downloading((host, "c-running", stack.settings.busy_bytes_per_poll)):
        proc = run_agent(script, config, host, cycles=15)
    assert "workers busy" in proc.stdout and "scale-in" not in proc.stdout, proc.stdout
    assert not host.killed("c-running") and stack.group()["DesiredCapacity"] == 1


def test_a_recent_submit_holds_an_idle_instance(tmp_path, emulator, instance, host):
    """Issue 19 item 10: an agent whose lagging counts read 0 must not take away the instance a submit just
    counted on; `submit` records its time in the stack's SSM parameter."""
    stack, fake = instance
    stack.aws("ssm").put_parameter(Name=stack.names.submit_marker, Value=str(int(time.time())), Overwrite=True)
    script, config = start(tmp_path, emulator, stack, fake, host)
    proc = run_agent(script, config, host, cycles=12)
    assert "a submit queued videos within" in proc.stdout and "terminating" not in proc.stdout, proc.stdout
    assert not host.killed("c-running")


@pytest.mark.parametrize("cause", ["crash_loop", "never_registered"])
def test_workers_that_cannot_take_videos_halt_the_stack(tmp_path, emulator, make_stack, host, cause):
    stack = make_stack()
    stack.send_video()
    now = time.time()
    with FakeInstance(stack.instance_id, cluster=stack.name) as fake:
        settings = stack.settings
        if cause == "crash_loop":
            fake.metadata["ContainerInstanceArn"] = stack.container_instance
            fake.tasks = [
                task(f"arn:aws:ecs:us-west-2:123456789012:task/x/{i}", FAMILY, "STOPPED", f"c{i}") for i in range(3)
            ]
        else:
            settings = replace(settings, register_timeout_seconds=0.5)
        script, config = start(tmp_path, emulator, stack, fake, host, settings)
        host.set_states(
            {f"c{i}": f"1|{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(now - 60 + i))}.5Z|" for i in range(3)}
        )
        proc = run_agent(script, config, host, cycles=8)

    group = stack.group()
    assert (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]) == (0, 0, 0), proc.stdout
    [tag] = [t["Value"] for t in group["Tags"] if t["Key"] == HALTED_TAG]
    stamp, reason = tag.split(" ", 1)
    assert abs(time.mktime(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")) - time.mktime(time.gmtime(now))) < 60
    expected = "3 worker exits, last: exit code 1" if cause == "crash_loop" else "never joined the cluster"
    assert expected in reason
    [alert] = stack.alerts()  # exactly one, though the agent kept looking
    assert alert["Subject"] == f"{stack.name} halted: workers cannot take videos"
    assert expected in alert["Message"] and "ecs-autoscale resume STACK_DIR" in alert["Message"]
    assert "halted" in [m["event"] for m in stack.milestones()]


def test_warm_pool_instance_pulls_then_completes_the_hook(tmp_path, emulator, make_stack, host):
    image = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/models/worker:1"
    stack = make_stack(hook=True, image=image)
    asg = stack.aws("autoscaling")

    def pool_state() -> str:
        [instance] = asg.describe_warm_pool(AutoScalingGroupName=stack.names.asg)["Instances"]
        return instance["LifecycleState"]

    assert pool_state() == "Warmed:Pending:Wait"  # the hook, declared with the group, holds the first one
    with FakeInstance(stack.instance_id, cluster=stack.name) as fake:
        fake.lifecycle_state = "Warmed:Stopped"
        script, config = start(tmp_path, emulator, stack, fake, host)
        proc = run_agent(script, config, host, cycles=4)

        login, pull = [c for c in host.calls() if c["args"][0] in ("login", "pull")][-2:]
        assert login["args"][:3] == ["login", "-u", "AWS"]
        assert login["args"][-1] == f"https://{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
        assert login["stdin"]  # the password from the ECR authorization token
        assert pull["args"] == ["pull", image]
        assert pool_state() == "Warmed:Stopped"  # prepared, then stopped by the group
        assert "scale-in" not in proc.stdout  # not in service: the queue is none of its business yet
        assert "warmed" in [m["event"] for m in stack.milestones()]

        # Started from the warm pool (a reboot: the agent starts again): completes the hook at once.
        asg.set_desired_capacity(AutoScalingGroupName=stack.names.asg, DesiredCapacity=1)
        [waiting] = stack.group()["Instances"]
        assert (waiting["InstanceId"], waiting["LifecycleState"]) == (stack.instance_id, "Pending:Wait")
        fake.lifecycle_state = "InService"
        fake.metadata["ContainerInstanceArn"] = stack.container_instance
        run_agent(script, config, host, cycles=2)
    assert [i["LifecycleState"] for i in stack.group()["Instances"]] == ["InService"]


def test_the_agents_own_terminate_passes_the_termination_hook(tmp_path, emulator, instance, host):
    """Issue 19 item 9 and the termination hook: the agent terminates its instance (retrying while a scaling
    activity is in progress), the hook holds it, and the agent completes the hook so it goes at once."""
    from ecs_autoscale.emulator.rules import scaling_activity_in_progress

    stack, fake = instance
    scaling_activity_in_progress(stack.names.asg, calls=2)
    script, config = start(tmp_path, emulator, stack, fake, host)
    proc = run_agent(script, config, host, cycles=50)
    assert "terminating, desired capacity -1" in proc.stdout, proc.stdout
    assert f"lifecycle hook {stack.names.termination_hook} completed" in proc.stdout, proc.stdout
    assert stack.group()["Instances"] == [] and stack.group()["DesiredCapacity"] == 0


def test_an_instance_the_group_terminates_waits_for_its_busy_worker(tmp_path, emulator, instance, host):
    """Items 4 and 8: a termination the group starts (here a scale-in to 0, as the backstop alarm does) waits
    in the termination hook while the worker moves bytes; the agent records heartbeats, and completes the hook
    once the worker is quiet."""
    stack, fake = instance
    stack.aws("autoscaling").set_desired_capacity(AutoScalingGroupName=stack.names.asg, DesiredCapacity=0)
    [held] = stack.group()["Instances"]
    assert held["LifecycleState"] == "Terminating:Wait"
    fake.lifecycle_state = "Terminated"
    script, config = start(tmp_path, emulator, stack, fake, host)
    with downloading((host, "c-running", stack.settings.busy_bytes_per_poll)):
        busy = run_agent(script, config, host, cycles=6)
    assert "workers busy: termination waits (heartbeat)" in busy.stdout, busy.stdout
    assert not host.killed("c-running")
    assert [i["LifecycleState"] for i in stack.group()["Instances"]] == ["Terminating:Wait"]

    quiet = run_agent(script, config, host, cycles=6)
    assert f"lifecycle hook {stack.names.termination_hook} completed" in quiet.stdout, quiet.stdout
    assert host.killed("c-running") and host.fence() == [FENCE]
    assert stack.group()["Instances"] == []


def test_agents_leaving_together_take_turns_and_all_leave(tmp_path, emulator, make_stack):
    """Audit item 2: each agent's terminate passes the group's termination hook, and while one instance waits
    there the emulator's ScalingActivityInProgress rule refuses the others' terminates (AWS documents the error,
    not exactly when; the rule is the conservative guess). Agents that left their hook to their next poll (15 s)
    serialised, and the later ones ran out of retries (~25-47 s): they undid and idled another ScaleInIdleMinutes.
    Now each completes its own hook right after its terminate and retries for minutes: all leave, none undoes."""
    size = 5
    stack = make_stack(size=size)
    # The fleet's poll (a hook left to the next poll held the group that long); idle at the second look.
    settings = replace(stack.settings, poll_seconds=15, idle_seconds=0)
    with contextlib.ExitStack() as stack_of:
        agents = []
        for n, (instance_id, arn) in enumerate(zip(stack.instance_ids, stack.container_instances, strict=True)):
            folder = tmp_path / f"instance{n}"
            folder.mkdir()
            host = stack_of.enter_context(contextlib.closing(FakeDocker(folder)))
            host.add_worker(f"c{n}")
            fake = stack_of.enter_context(FakeInstance(instance_id, cluster=stack.name))
            fake.metadata["ContainerInstanceArn"] = arn
            fake.tasks = [task(f"arn:aws:ecs:us-west-2:123456789012:task/x/{n}", FAMILY, "RUNNING", f"c{n}")]
            stop = threading.Event()
            follower = threading.Thread(target=follow_termination, args=(stack, fake, stop), daemon=True)
            follower.start()
            stack_of.callback(follower.join)
            stack_of.callback(stop.set)
            script, config = start(folder, emulator, stack, fake, host, settings)
            agents.append((script, config, host))
        outputs: list[str] = []

        def run(script, config, host) -> None:
            proc = run_agent(script, config, host, cycles=3, timeout=240)
            outputs.append(proc.stdout)

        threads = [threading.Thread(target=run, args=agent) for agent in agents]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(outputs) == size
    for out in outputs:
        assert "terminating, desired capacity -1" in out and "staying in service" not in out, out
        assert f"lifecycle hook {stack.names.termination_hook} completed" in out, out
    group = stack.group()
    assert group["Instances"] == [] and group["DesiredCapacity"] == 0
    assert {stack.container_instance_status(arn) for arn in stack.container_instances} == {"DRAINING"}
    for instance_id in stack.instance_ids:
        assert [m["event"] for m in stack.milestones(instance_id)][-2:] == ["idle", "leaving"]


def seen_a_task(stack: Stack) -> bool:
    """The agent recorded the worker task (its stream may not exist yet)."""
    try:
        return any(m["event"] == "first_task" for m in stack.milestones())
    except stack.aws("logs").exceptions.ResourceNotFoundException:
        return False


def test_an_instance_released_with_a_busy_worker_records_its_video_as_cut(tmp_path, emulator, instance, host):
    """Audit item 3: the group terminates the instance while its worker downloads a video; `stop` releases the
    hook (CompleteLifecycleAction) and the instance shuts down, systemd stopping the agent with SIGTERM. The
    agent records the video it leaves behind as cut, where `report` sums them."""
    stack, fake = instance
    asg = stack.aws("autoscaling")
    asg.set_desired_capacity(AutoScalingGroupName=stack.names.asg, DesiredCapacity=0)
    fake.lifecycle_state = "Terminated"
    script, config = start(tmp_path, emulator, stack, fake, host)
    with downloading((host, "c-running", stack.settings.busy_bytes_per_poll)):
        agent = start_agent(script, config, host)
        try:
            deadline = time.monotonic() + 30
            while not seen_a_task(stack):
                assert time.monotonic() < deadline and agent.poll() is None, agent.communicate()
                time.sleep(0.2)
            time.sleep(1)  # a few looks at the busy worker, each holding the instance (heartbeats)
            asg.complete_lifecycle_action(
                AutoScalingGroupName=stack.names.asg,
                LifecycleHookName=stack.names.termination_hook,
                InstanceId=stack.instance_id,
                LifecycleActionResult="CONTINUE",
            )
            agent.send_signal(signal.SIGTERM)
            out, err = agent.communicate(timeout=30)
        finally:
            if agent.poll() is None:
                agent.kill()
                agent.communicate()
    assert agent.returncode == 0, out + err
    assert "workers busy: termination waits (heartbeat)" in out, out
    [leaving] = [m for m in stack.milestones() if m["event"] == "leaving"]
    assert (leaving["reason"], leaving["videos_cut"]) == ("shutdown", 1)
    assert not host.killed("c-running")  # the agent never killed it: the shutdown cut it
