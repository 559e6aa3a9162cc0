"""The instance agent against the emulator: real SQS, Auto Scaling, ECS, SNS and ECR APIs, signed by the
agent's own SigV4 code; the instance around it (IMDS, ECS agent introspection, docker) faked on loopback
(tests/agent_fakes.py). The agent runs exactly as user data writes it, with short timings."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import replace

import pytest
from agent_fakes import ACCOUNT, FakeDocker, FakeInstance, agent_script, run_agent, task

from ecs_autoscale.group import HALTED_TAG
from ecs_autoscale.synthesis.user_data import AgentSettings, ecr_registry_of, ecs_agent_config, render_user_data

REGION = "us-west-2"
FAMILY = "worker-family"


class Stack:
    """One stack's resources on the emulator (unique names: moto keeps one account per session)."""

    def __init__(
        self, aws, template: str, name: str, *, delay_seconds: int = 90, hook: bool = False, image: str = ""
    ) -> None:
        clients: dict = {}
        self.aws = lambda service: clients.get(service) or clients.setdefault(service, aws(service))
        self.name = name
        sqs, ecs, asg = self.aws("sqs"), self.aws("ecs"), self.aws("autoscaling")
        self.queue_url = sqs.create_queue(
            QueueName=f"{name}-video.fifo",
            Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true", "DelaySeconds": str(delay_seconds)},
        )["QueueUrl"]
        subnet = self.aws("ec2").describe_subnets()["Subnets"][0]["SubnetId"]
        asg.create_auto_scaling_group(
            AutoScalingGroupName=f"{name}-gpu",
            MinSize=0,
            MaxSize=2,
            DesiredCapacity=1,
            VPCZoneIdentifier=subnet,
            LaunchTemplate={"LaunchTemplateId": template, "Version": "$Latest"},
        )
        if hook:
            asg.put_lifecycle_hook(
                LifecycleHookName=f"{name}-launch",
                AutoScalingGroupName=f"{name}-gpu",
                LifecycleTransition="autoscaling:EC2_INSTANCE_LAUNCHING",
                HeartbeatTimeout=600,
                DefaultResult="ABANDON",
            )
        self.instance_id = self.group()["Instances"][0]["InstanceId"]
        ecs.create_cluster(clusterName=name)
        self.container_instance = ecs.register_container_instance(
            cluster=name,
            instanceIdentityDocument=json.dumps(
                {"instanceId": self.instance_id, "region": REGION, "accountId": ACCOUNT}
            ),
        )["containerInstance"]["containerInstanceArn"]
        sns = self.aws("sns")
        self.topic = sns.create_topic(Name=f"{name}-alerts")["TopicArn"]
        self.alerts_url = sqs.create_queue(QueueName=f"{name}-alerts-observer")["QueueUrl"]
        alerts_arn = sqs.get_queue_attributes(QueueUrl=self.alerts_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=self.topic, Protocol="sqs", Endpoint=alerts_arn)
        self.settings = AgentSettings(
            region=REGION,
            stack_name=name,
            cluster_name=name,
            asg_name=f"{name}-gpu",
            queue_name=f"{name}-video.fifo",
            topic_name=f"{name}-alerts",
            task_families=(FAMILY,),
            image=image or f"registry.example.com/{name.lower()}/worker:1",
            ecr_registry=ecr_registry_of(image),
            poll_seconds=0.2,
            idle_seconds=1,
            lifecycle_hook_name=f"{name}-launch" if hook else None,
        )

    def group(self) -> dict:
        return self.aws("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[f"{self.name}-gpu"])[
            "AutoScalingGroups"
        ][0]

    def container_instance_status(self) -> str:
        return self.aws("ecs").describe_container_instances(
            cluster=self.name, containerInstances=[self.container_instance]
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
def instance(make_stack):
    """(stack, fake instance registered with the cluster, running one worker task)."""
    stack = make_stack()
    with FakeInstance(stack.instance_id, cluster=stack.name) as fake:
        fake.metadata["ContainerInstanceArn"] = stack.container_instance
        fake.tasks = [task("arn:aws:ecs:us-west-2:123456789012:task/x/running", FAMILY, "RUNNING", "c-running")]
        yield stack, fake


def start(tmp_path, emulator: str, stack: Stack, fake: FakeInstance, settings: AgentSettings | None = None):
    settings = replace(settings or stack.settings, endpoint_url=emulator)
    user_data = render_user_data(settings, ecs_config=ecs_agent_config(settings, spot=False))
    config = {
        **settings.agent_config(),
        "imds_url": fake.imds_url,
        "introspection_url": fake.introspection_url,
        "state_dir": str(tmp_path / "state"),
    }
    return agent_script(tmp_path, user_data), config, FakeDocker(tmp_path)


def test_idle_queue_drains_kills_and_terminates_with_decrement(tmp_path, emulator, instance):
    stack, fake = instance
    script, config, docker = start(tmp_path, emulator, stack, fake)
    began = time.monotonic()
    proc = run_agent(script, config, docker, cycles=50)

    assert "terminating" in proc.stdout, proc.stdout
    assert time.monotonic() - began >= config["idle_seconds"]
    assert stack.container_instance_status() == "DRAINING"
    assert ["kill", "c-running"] in docker.commands()
    group = stack.group()
    assert group["DesiredCapacity"] == 0 and group["Instances"] == []
    assert (tmp_path / "state" / "terminated").exists()
    assert fake.unauthorized == 0  # IMDSv2 only

    # Restarted by systemd before the shutdown: it must not terminate (and decrement) a second time.
    again = run_agent(script, config, docker, cycles=3)
    assert "terminating" not in again.stdout


@pytest.mark.parametrize("video", ["delayed", "waiting", "in_flight"])
def test_any_video_in_the_queue_blocks_scale_in(tmp_path, emulator, make_stack, video):
    stack = make_stack(delay_seconds=90 if video == "delayed" else 0)
    stack.send_video()
    if video == "in_flight":
        assert stack.aws("sqs").receive_message(QueueUrl=stack.queue_url, VisibilityTimeout=600)["Messages"]
    with FakeInstance(stack.instance_id, cluster=stack.name) as fake:
        fake.metadata["ContainerInstanceArn"] = stack.container_instance
        fake.tasks = [task("arn:aws:ecs:us-west-2:123456789012:task/x/running", FAMILY, "RUNNING", "c-running")]
        script, config, docker = start(tmp_path, emulator, stack, fake)
        proc = run_agent(script, config, docker, cycles=12)  # > idle_seconds of looking

    expected = {"delayed": "(0, 0, 1)", "waiting": "(1, 0, 0)", "in_flight": "(0, 1, 0)"}[video]
    assert expected in proc.stdout, proc.stdout
    assert "scale-in" not in proc.stdout and "HALT" not in proc.stdout
    assert stack.group()["DesiredCapacity"] == 1
    assert stack.container_instance_status() == "ACTIVE"
    commands = docker.commands()
    assert not [c for c in commands if c[0] == "kill"]
    assert ["pull", stack.settings.image] in commands  # pre-pulled once docker answered


def test_video_arriving_during_scale_in_keeps_the_instance(tmp_path, emulator, instance):
    stack, fake = instance
    script, config, docker = start(tmp_path, emulator, stack, fake)
    late = {"FAKE_DOCKER_SEND_ON_KILL": json.dumps({"endpoint": emulator, "queue_url": stack.queue_url})}
    proc = run_agent(script, config, docker, cycles=9, extra_env=late)

    assert ["kill", "c-running"] in docker.commands()
    assert "(0, 0, 1): staying" in proc.stdout, proc.stdout  # the re-check saw the delayed video
    assert "terminating" not in proc.stdout
    assert stack.container_instance_status() == "ACTIVE"  # ECS places the daemon task again
    assert stack.group()["DesiredCapacity"] == 1


@pytest.mark.parametrize("cause", ["crash_loop", "never_registered"])
def test_workers_that_cannot_take_videos_halt_the_stack(tmp_path, emulator, make_stack, cause):
    stack = make_stack(delay_seconds=0)
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
        script, config, docker = start(tmp_path, emulator, stack, fake, settings)
        docker.set_states(
            {f"c{i}": f"1|{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(now - 60 + i))}.5Z|" for i in range(3)}
        )
        proc = run_agent(script, config, docker, cycles=8)

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


def test_warm_pool_instance_pulls_then_completes_the_hook(tmp_path, emulator, make_stack):
    from moto.autoscaling.models import autoscaling_backends

    image = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/models/worker:1"
    stack = make_stack(hook=True, image=image)
    completed = autoscaling_backends[ACCOUNT][REGION].__dict__.setdefault("completed_lifecycle_actions", [])
    mine = lambda: [a for a in completed if a["AutoScalingGroupName"] == stack.settings.asg_name]  # noqa: E731
    with FakeInstance(stack.instance_id, cluster=stack.name) as fake:
        fake.lifecycle_state = "Warmed:Stopped"
        script, config, docker = start(tmp_path, emulator, stack, fake)
        proc = run_agent(script, config, docker, cycles=4)

        login, pull = docker.calls()[-2:]
        assert login["args"][:3] == ["login", "-u", "AWS"]
        assert login["args"][-1] == f"https://{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
        assert login["stdin"]  # the password from the ECR authorization token
        assert pull["args"] == ["pull", image]
        assert [(a["InstanceId"], a["LifecycleHookName"], a["LifecycleActionResult"]) for a in mine()] == [
            (stack.instance_id, stack.settings.lifecycle_hook_name, "CONTINUE")
        ]
        assert "scale-in" not in proc.stdout  # not in service: the queue is none of its business yet

        # Started from the warm pool (a reboot: the agent starts again): completes the hook at once.
        fake.lifecycle_state = "InService"
        fake.metadata["ContainerInstanceArn"] = stack.container_instance
        run_agent(script, config, docker, cycles=2)
    assert len(mine()) == 2
