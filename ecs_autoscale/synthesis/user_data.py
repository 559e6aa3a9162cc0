"""User data of the GPU instances: ECS agent settings, and the ecs-autoscale instance agent with its settings
and IAM permissions. No cdktf here: plain data that `fleet.py` turns into Terraform.

The instance agent (`ecs_autoscale/agent/instance_agent.py`) does scale-in: every instance watches its own
workers and the video queue and, once its workers have been idle with nothing waiting or delayed for
`idle_seconds`, looks at them once more, kills them, fences and drains itself and terminates itself with the
group's desired capacity decremented; it completes the termination hook for instances the group terminates.
It also pre-pulls the image, prepares warm-pool instances, records the instance's milestones and halts a
stack whose workers cannot take videos. See the agent's source for the rules.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from importlib import resources
from typing import Any, NamedTuple

import jinja2

from ..agent.instance_agent import DEFAULTS, Settings
from ..group import HALTED_TAG
from ..model.naming import StackNames
from ..model.scaling_design import ScalingDesign
from .policy import UNCHANGED_GROUP_SETTINGS

# EC2 User Guide, "Run commands when you launch an EC2 instance with user data input": user data is limited
# to 16 KB in raw form, before it is base64-encoded.
USER_DATA_LIMIT_BYTES = 16 * 1024
TEMPLATE = "templates/instance_user_data.sh.j2"
_ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?"
    r"/(?P<repository>[^:@]+)"
)


AgentSettings = Settings
"""/etc/ecs-autoscale/agent.json, declared once: the agent's own `Settings` (stdlib, Python 3.9), which the
Terraform side builds with `agent_settings` and writes with `agent_config`."""


def agent_config(settings: AgentSettings) -> dict[str, Any]:
    """The settings agent.json carries: all but where the instance offers its services (IMDS, the ECS agent,
    /proc), which are the agent's own defaults."""
    return {key: value for key, value in asdict(settings).items() if key not in DEFAULTS}


def agent_settings(
    design: ScalingDesign,
    names: StackNames,
    *,
    region: str,
    task_families: tuple[str, ...],
    image: str,
    endpoint_url: str | None = None,
) -> AgentSettings:
    """The agent's settings: every number from the stack's ScalingDesign, every name from StackNames."""
    return AgentSettings(
        region=region,
        stack_name=names.stack,
        cluster_name=names.cluster,
        asg_name=names.asg,
        queue_name=names.video_queue,
        topic_name=names.alerts_topic,
        log_group_name=names.log_group,
        submit_parameter=names.submit_marker,
        halted_tag=HALTED_TAG,
        task_families=list(task_families),
        image=image,
        ecr_registry=ecr_registry_of(image),
        poll_seconds=design.agent_poll_seconds,
        idle_seconds=design.scale_in_idle_seconds,
        quiet_seconds=design.quiet_seconds,
        busy_bytes_per_poll=design.busy_bytes_per_poll,
        busy_cpu_fraction=design.busy_cpu_fraction,
        busy_gpu_percent=design.busy_gpu_percent,
        submit_hold_seconds=design.submit_hold_seconds,
        crash_loop_exits=design.crash_loop_exits,
        crash_window_seconds=design.crash_window_seconds,
        register_timeout_seconds=design.register_timeout_seconds,
        launch_hook_name=names.warm_pool_hook if design.warm_pool_size else None,
        termination_hook_name=names.termination_hook,
        heartbeat_seconds=design.termination_heartbeat_seconds,
        endpoint_url=endpoint_url,
    )


class AgentPermission(NamedTuple):
    """One IAM statement the instance role needs for the agent; policy.py's Statement renders it."""

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
    # The termination hook always exists (every instance leaves through it); the launch hook with a warm pool.
    scale_in = (
        "autoscaling:TerminateInstanceInAutoScalingGroup",
        "autoscaling:CompleteLifecycleAction",
        "autoscaling:RecordLifecycleActionHeartbeat",
    )
    # An SSM parameter named "/a/b" has the ARN "...:parameter/a/b" (Service Authorization Reference, AWS Systems
    # Manager resource types).
    marker = arn % ("ssm", "parameter" + settings.submit_parameter)
    permissions = [
        AgentPermission(
            "AgentQueueDepth", ("sqs:GetQueueAttributes", "sqs:GetQueueUrl"), (arn % ("sqs", settings.queue_name),)
        ),
        AgentPermission("AgentScaleIn", scale_in, (group,)),
        AgentPermission("AgentSubmitHold", ("ssm:GetParameter",), (marker,)),
        # A worker that sets task scale-in protection holds a video (ECS Developer Guide, task scale-in protection).
        AgentPermission(
            "AgentTaskProtection",
            ("ecs:GetTaskProtection",),
            (arn % ("ecs", f"task/{settings.cluster_name}/*"),),
        ),
        AgentPermission(
            "AgentDrain",
            ("ecs:UpdateContainerInstancesState",),
            (arn % ("ecs", f"container-instance/{settings.cluster_name}/*"),),
        ),
        # autoscaling:MinSize/MaxSize filter on the sizes in the request (absent = no match): the agent may
        # only bring the group to 0, never grow it; and, as the client's stop policy, never with subnets, a
        # launch configuration or instance types (a launch template also needs ec2:RunInstances, not granted).
        AgentPermission(
            "AgentHaltGroup",
            ("autoscaling:UpdateAutoScalingGroup",),
            (group,),
            {
                "NumericEquals": {"autoscaling:MaxSize": "0", "autoscaling:MinSize": "0"},
                "Null": {key: "true" for key in UNCHANGED_GROUP_SETTINGS},
            },
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
    agent_config_text = json.dumps(agent_config(settings), indent=1, sort_keys=True)
    for delimiter, text in (("AGENT_PY", script), ("AGENT_JSON", agent_config_text)):
        if delimiter in text.splitlines():
            raise ValueError(f"{delimiter} would end its here-document early")
    template = resources.files("ecs_autoscale").joinpath(TEMPLATE).read_text()
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    return env.from_string(template).render(
        settings=settings, ecs_config=lines, agent_script=script, agent_config=agent_config_text
    )
