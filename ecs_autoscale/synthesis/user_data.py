"""User data of the GPU instances: ECS agent settings, and the ecs-autoscale instance agent with its settings
and IAM permissions. No cdktf here: plain data that `fleet.py` turns into Terraform.

The instance agent (`ecs_autoscale/agent/instance_agent.py`) does scale-in: every instance watches the video
queue and, once nothing has waited, run or been delayed for `idle_seconds`, drains itself, kills its idle
workers, looks at the queue once more and terminates itself with the group's desired capacity decremented.
It also pre-pulls the image, completes the warm pool's lifecycle hook and halts a stack whose workers cannot
take videos. See the agent's source for the rules.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any, NamedTuple

import jinja2

from ..group import HALTED_TAG

# EC2 User Guide, "Run commands when you launch an EC2 instance with user data input": user data is limited
# to 16 KB in raw form, before it is base64-encoded.
USER_DATA_LIMIT_BYTES = 16 * 1024
# Not templates/user_data.sh.j2: the current fleet.py renders that one with its own variables. Once fleet.py
# calls render_user_data, that file can go (or this one take its name).
TEMPLATE = "templates/instance_user_data.sh.j2"
_ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?"
    r"/(?P<repository>[^:@]+)"
)


@dataclass(frozen=True)
class AgentSettings:
    """What the instance agent reads from /etc/ecs-autoscale/agent.json (the same keys)."""

    region: str
    stack_name: str
    cluster_name: str
    asg_name: str
    queue_name: str
    """The video queue (its URL comes from GetQueueUrl)."""
    topic_name: str
    """SNS topic of the stack's alerts; the agent builds its ARN from the region and the instance's account."""
    task_families: tuple[str, ...]
    """Task definition families of this stack's workers (daemon services): the containers the agent kills
    at scale-in and whose exits it counts."""
    image: str
    """The worker image, pre-pulled at boot."""
    ecr_registry: str | None = None
    """`<account>.dkr.ecr.<region>.amazonaws.com` when the image is in ECR (see `ecr_registry_of`): the agent
    logs docker in with an ECR token before pulling. None: plain `docker pull`."""
    poll_seconds: float = 15
    """Seconds between two looks at the queue and the ECS agent."""
    idle_seconds: float = 300
    """ScaleInIdleMinutes x 60: how long waiting, in-flight and delayed videos must all stay 0."""
    crash_loop_exits: int = 3
    """Worker exits on one instance, within crash_window_seconds, that halt the stack while videos wait and
    none is in flight."""
    crash_window_seconds: float = 900
    register_timeout_seconds: float = 600
    """An instance not registered with the cluster this long after it is in service halts the stack while
    videos wait and none is in flight (and, when the queue is idle, terminates itself)."""
    lifecycle_hook_name: str | None = None
    """The group's launch lifecycle hook (warm pool): the agent completes it once the image is pulled."""
    endpoint_url: str | None = None
    """One endpoint for every AWS API (tests against the emulator); None: the regional AWS endpoints."""

    def agent_config(self) -> dict[str, Any]:
        config = asdict(self)
        config["task_families"] = list(self.task_families)
        return config


class AgentPermission(NamedTuple):
    """One IAM statement the instance role needs for the agent; infra/policy.py's Statement renders it."""

    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    condition: dict[str, Any] | None = None


def ecr_registry_of(image: str) -> str | None:
    """`<account>.dkr.ecr.<region>.amazonaws.com` of an ECR image, else None."""
    match = _ECR_IMAGE.match(image)
    return image.split("/", 1)[0] if match else None


def agent_permissions(
    settings: AgentSettings, *, partition: str, region: str, account_id: str
) -> list[AgentPermission]:
    """The instance role's permissions for the agent, each scoped to this stack's resources.

    Resource types and condition keys: Service Authorization Reference (Amazon SQS, Amazon EC2 Auto Scaling,
    Amazon SNS, Amazon ECS, Amazon ECR). partition/region/account_id may be Terraform expressions."""
    arn = f"arn:{partition}:%s:{region}:{account_id}:%s"
    group = arn % ("autoscaling", f"autoScalingGroup:*:autoScalingGroupName/{settings.asg_name}")
    scale_in = ["autoscaling:TerminateInstanceInAutoScalingGroup"]
    if settings.lifecycle_hook_name:
        scale_in.append("autoscaling:CompleteLifecycleAction")
    permissions = [
        AgentPermission(
            "AgentQueueDepth", ("sqs:GetQueueAttributes", "sqs:GetQueueUrl"), (arn % ("sqs", settings.queue_name),)
        ),
        AgentPermission("AgentScaleIn", tuple(scale_in), (group,)),
        AgentPermission(
            "AgentDrain",
            ("ecs:UpdateContainerInstancesState",),
            (arn % ("ecs", f"container-instance/{settings.cluster_name}/*"),),
        ),
        # autoscaling:MinSize/MaxSize filter on the sizes in the request (absent = no match): the agent may
        # only bring the group to 0, never grow it.
        AgentPermission(
            "AgentHaltGroup",
            ("autoscaling:UpdateAutoScalingGroup",),
            (group,),
            {"NumericEquals": {"autoscaling:MaxSize": "0", "autoscaling:MinSize": "0"}},
        ),
        AgentPermission(
            "AgentHaltTag",
            ("autoscaling:CreateOrUpdateTags",),
            (group,),
            {"ForAllValues:StringEquals": {"aws:TagKeys": [HALTED_TAG]}},
        ),
        AgentPermission("AgentHaltAlert", ("sns:Publish",), (arn % ("sns", settings.topic_name),)),
    ]
    match = _ECR_IMAGE.match(settings.image) if settings.ecr_registry else None
    if match:
        repository = f"arn:{partition}:ecr:{match['region']}:{match['account']}:repository/{match['repository']}"
        permissions += [
            # GetAuthorizationToken takes no resource (Service Authorization Reference, Amazon ECR).
            AgentPermission("AgentImageToken", ("ecr:GetAuthorizationToken",), ("*",)),
            AgentPermission("AgentImagePull", ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"), (repository,)),
        ]
    return permissions


def ecs_agent_config(
    settings: AgentSettings, *, spot: bool, stop_timeout_seconds: int = 60, warm_pool: bool = False
) -> dict[str, str]:
    """The ECS container agent settings of this stack's instances (ECS Developer Guide, "Amazon ECS container
    agent configuration"), for `render_user_data(ecs_config=...)`."""
    config = {
        "ECS_CLUSTER": settings.cluster_name,
        "ECS_ENABLE_GPU_SUPPORT": "true",
        "ECS_ENABLE_TASK_IAM_ROLE": "true",
        # Reuse the image the agent pre-pulled (or a warm-pool instance pulled before it was stopped).
        "ECS_IMAGE_PULL_BEHAVIOR": "prefer-cached",
        "ECS_CONTAINER_STOP_TIMEOUT": f"{stop_timeout_seconds}s",
        "ECS_ENABLE_SPOT_INSTANCE_DRAINING": "true" if spot else "false",
    }
    if warm_pool:
        # Without it the ECS agent registers a warm-pool instance while it is being prepared.
        config["ECS_WARM_POOLS_CHECK"] = "true"
    return config


def agent_source() -> str:
    """The agent's source file, as documented and tested."""
    return resources.files("ecs_autoscale.agent").joinpath("instance_agent.py").read_text()


def embedded_agent() -> str:
    """The agent as user data carries it: the documented source, byte for byte. The launch template
    gzips the user data (Terraform's base64gzip), which keeps it well under EC2's 16 KB; a minified
    copy (ast.unparse) would depend on the synthesizing machine's Python version, and the same model
    must give the same bytes everywhere."""
    return agent_source()


def render_user_data(settings: AgentSettings, *, ecs_config: dict[str, Any]) -> str:
    """The instance's user data: a bash script writing /etc/ecs/ecs.config from `ecs_config`, the agent, its
    JSON settings and its systemd unit, then starting the agent."""
    if ecs_config.get("ECS_CLUSTER") != settings.cluster_name:
        raise ValueError(f"ecs_config ECS_CLUSTER must be the cluster {settings.cluster_name!r}")
    lines = {}
    for key, value in ecs_config.items():
        value = ("true" if value else "false") if isinstance(value, bool) else str(value)
        if not re.fullmatch(r"ECS_[A-Z0-9_]+", key) or "\n" in value:
            raise ValueError(f"ecs_config: not an ECS agent setting line: {key}={value!r}")
        lines[key] = value
    script = embedded_agent()
    agent_config = json.dumps(settings.agent_config(), indent=1, sort_keys=True)
    for delimiter, text in (("AGENT_PY", script), ("AGENT_JSON", agent_config)):
        if delimiter in text.splitlines():
            raise ValueError(f"{delimiter} would end its here-document early")
    template = resources.files("ecs_autoscale").joinpath(TEMPLATE).read_text()
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    return env.from_string(template).render(
        settings=settings, ecs_config=lines, agent_script=script, agent_config=agent_config
    )
