"""Which AWS resources make up a deployed stack.

Two sources, no CloudFormation:
- STACK_DIR/outputs.json, written by `ecs-autoscale deploy` / `outputs` (flat name -> value; the
  `terraform output -json` shape {"name": {"value": ...}} is accepted too);
- the stack's StackName, for a stack deployed from another machine: the ECS service (named StackName in
  a cluster named StackName, or found by the `ecs-autoscale:stack` tag) leads to the task definition,
  whose environment is the worker contract (VIDEO_QUEUE, TRACK_QUEUE, DEAD_QUEUE, VIDEO_BUCKET,
  TRACK_BUCKET, PROCESSOR = StackName); the other names follow from StackName (naming.py).

Outputs added with the group-sizing design (fleet_size, tasks_per_instance, service_names,
alerts_topic_arn) may be missing from an older outputs.json: one task per instance, the first service
only, and the fleet size read from the group's MaxSize when it is needed (`resume`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..model.naming import STACK_TAG, StackNames
from ..model.outputs import STACK_OUTPUTS
from ..model.scaling_design import instances_needed
from ..stack_dir import OUTPUTS_FILE
from . import JobsError

if TYPE_CHECKING:
    from ecs_autoscale.client.aws import AwsClients


@dataclass(frozen=True)
class StackInfo:
    """The names the client needs, each read from the stack output of the same name that model/outputs.py
    marks `client` (a field without such an output fails the import)."""

    stack_name: str
    region: str
    video_queue_name: str
    video_queue_url: str
    track_queue_name: str
    track_queue_url: str
    dead_queue_name: str
    dead_queue_url: str
    video_bucket: str
    tracks_bucket: str
    cluster_name: str
    service_name: str
    autoscaling_group_name: str
    task_definition_family: str = ""
    service_names: tuple[str, ...] = ()
    """The daemon services (one per GPU slot of an instance); () in an older outputs.json: service_name."""
    tasks_per_instance: int = 1
    fleet_size: int | None = None
    """FleetSize, the group's maximum; None when outputs.json predates the output."""
    alerts_topic_arn: str = ""

    @property
    def services(self) -> tuple[str, ...]:
        return self.service_names or (self.service_name,)

    @property
    def names(self) -> StackNames:
        return StackNames(self.stack_name)

    @property
    def alarm_prefix(self) -> str:
        """The stack's alarms are `<StackName>-<purpose>` (naming.ALARM_PURPOSES)."""
        return self.stack_name

    def instances_for(self, videos: int, cap: int) -> int:
        """Instances that give each of `videos` a task, at most `cap` (the design's rule)."""
        return instances_needed(videos, self.tasks_per_instance, cap)

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, Any], source: str) -> StackInfo:
        flat = {name: (value.get("value") if isinstance(value, Mapping) else value) for name, value in outputs.items()}
        missing = [f.name for f in fields(cls) if f.default is MISSING and not flat.get(f.name)]
        if missing:
            raise JobsError(
                f"{source}: missing {', '.join(missing)} (re-read it with `ecs-autoscale outputs CONFIG STACK_DIR`)"
            )
        values = {}
        for field in fields(cls):
            name = field.name
            value = flat.get(name)
            if value is not None and value != "":
                try:
                    values[name] = _typed(name, value)
                except (TypeError, ValueError):
                    raise JobsError(
                        f"{source}: {name} = {value!r} is not what the stack writes there (re-read "
                        "it with `ecs-autoscale outputs CONFIG STACK_DIR`)"
                    ) from None
        return cls(**values)


_CLIENT_OUTPUTS = {output.name for output in STACK_OUTPUTS if output.client}
if _CLIENT_OUTPUTS != {field.name for field in fields(StackInfo)}:
    raise ImportError(
        "StackInfo's fields and the outputs model/outputs.py gives the client differ: "
        f"{sorted(_CLIENT_OUTPUTS ^ {field.name for field in fields(StackInfo)})}"
    )


def _typed(name: str, value: Any) -> Any:
    if name in ("tasks_per_instance", "fleet_size"):
        number = int(value)
        if number < (1 if name == "tasks_per_instance" else 0):
            raise ValueError(name)
        return number
    if name == "service_names":
        return tuple(part for part in str(value).split(",") if part)
    return str(value)


def load_stack_info(stack_dir: Path) -> StackInfo:
    """StackInfo from STACK_DIR/outputs.json; one-line JobsError naming the fix when it is unusable."""
    path = Path(stack_dir) / OUTPUTS_FILE
    try:
        outputs = json.loads(path.read_text())
    except FileNotFoundError:
        raise JobsError(
            f"{path}: not found (deploy with `ecs-autoscale deploy CONFIG {stack_dir}`, re-read a "
            "deployed stack with `ecs-autoscale outputs`, or pass --stack-name NAME to find it in "
            "AWS)"
        ) from None
    except (OSError, ValueError) as exc:
        raise JobsError(f"{path}: unreadable ({exc}); re-create it with `ecs-autoscale outputs`") from None
    if not isinstance(outputs, dict):
        raise JobsError(f"{path}: expected a JSON object of stack outputs (re-create it with `ecs-autoscale outputs`)")
    return StackInfo.from_outputs(outputs, str(path))


def discover_stack(aws: AwsClients, stack_name: str) -> StackInfo:
    """Find a deployed stack by StackName through ECS (service -> task definition -> environment)."""
    ecs = aws("ecs")
    service = _find_service(ecs, stack_name)
    if service is None:
        raise JobsError(
            f"stack {stack_name!r}: no ECS service {stack_name!r} in region {aws.region} (check the "
            "StackName, --profile and the region: AWS_REGION or the profile's region)"
        )
    task_def = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    env = {}
    for container in task_def.get("containerDefinitions", []):
        env.update({item["name"]: item["value"] for item in container.get("environment", [])})
    contract = ("VIDEO_QUEUE", "TRACK_QUEUE", "DEAD_QUEUE", "VIDEO_BUCKET", "TRACK_BUCKET")
    missing = [name for name in contract if not env.get(name)]
    if missing:
        raise JobsError(
            f"stack {stack_name!r}: task definition {task_def.get('family')} lacks {', '.join(missing)} "
            "in its environment (not an ecs-autoscale / ecsprocess stack?)"
        )
    sqs = aws("sqs")
    urls = {name: sqs.get_queue_url(QueueName=env[name])["QueueUrl"] for name in contract[:3]}
    stack = env.get("PROCESSOR", stack_name)
    names = StackNames(stack)
    cluster_arn = service["clusterArn"]
    services = _worker_services(ecs, cluster_arn, task_def.get("family", "")) or (service["serviceName"],)
    return StackInfo(
        stack_name=stack,
        region=aws.region,
        video_queue_name=env["VIDEO_QUEUE"],
        video_queue_url=urls["VIDEO_QUEUE"],
        track_queue_name=env["TRACK_QUEUE"],
        track_queue_url=urls["TRACK_QUEUE"],
        dead_queue_name=env["DEAD_QUEUE"],
        dead_queue_url=urls["DEAD_QUEUE"],
        video_bucket=env["VIDEO_BUCKET"],
        tracks_bucket=env["TRACK_BUCKET"],
        cluster_name=cluster_arn.rsplit("/", 1)[-1],
        service_name=services[0],
        autoscaling_group_name=names.asg,
        task_definition_family=task_def.get("family", ""),
        service_names=services,
        tasks_per_instance=len(services),
        fleet_size=_group_max(aws("autoscaling"), names.asg),
        alerts_topic_arn=_topic_arn(cluster_arn, names.alerts_topic),
    )


def _worker_services(ecs: Any, cluster_arn: str, family: str) -> tuple[str, ...]:
    """The cluster's active services running `family`, in GPU-slot order (StackName, then -gpu2, -gpu3...)."""
    arns = [
        arn
        for page in ecs.get_paginator("list_services").paginate(cluster=cluster_arn)
        for arn in page.get("serviceArns", [])
    ]
    found = []
    for start in range(0, len(arns), 10):  # DescribeServices takes at most 10
        for s in ecs.describe_services(cluster=cluster_arn, services=arns[start : start + 10])["services"]:
            if s.get("status") == "ACTIVE" and f":task-definition/{family}:" in s.get("taskDefinition", ""):
                found.append(s["serviceName"])
    return tuple(sorted(found, key=_slot))


def _slot(service_name: str) -> tuple[int, str]:
    head, _, number = service_name.rpartition("-gpu")
    return (int(number), head) if head and number.isdigit() else (1, service_name)


def _group_max(autoscaling: Any, group_name: str) -> int | None:
    """FleetSize as the group's MaxSize; None when the group is gone or stopped (MaxSize 0)."""
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group_name])["AutoScalingGroups"]
    return (int(groups[0]["MaxSize"]) or None) if groups else None


def _topic_arn(cluster_arn: str, topic_name: str) -> str:
    # arn:PARTITION:ecs:REGION:ACCOUNT:cluster/NAME -> the same partition, region and account.
    parts = cluster_arn.split(":")
    return f"arn:{parts[1]}:sns:{parts[3]}:{parts[4]}:{topic_name}" if len(parts) >= 6 else ""


def _find_service(ecs: Any, stack_name: str) -> dict | None:
    # Our stacks name cluster and service after StackName; otherwise look for the stack tag.
    found = (
        ecs.describe_services(cluster=stack_name, services=[stack_name]).get("services", [])
        if _cluster_exists(ecs, stack_name)
        else []
    )
    active = [s for s in found if s.get("status") == "ACTIVE"]
    if active:
        return active[0]
    for page in ecs.get_paginator("list_clusters").paginate():
        arns = page.get("clusterArns", [])
        for start in range(0, len(arns), 100):
            for cluster in ecs.describe_clusters(clusters=arns[start : start + 100], include=["TAGS"])["clusters"]:
                tags = {t["key"]: t["value"] for t in cluster.get("tags", [])}
                if tags.get(STACK_TAG) == stack_name:
                    services = ecs.list_services(cluster=cluster["clusterArn"]).get("serviceArns", [])
                    if services:
                        return ecs.describe_services(cluster=cluster["clusterArn"], services=services[:1])["services"][
                            0
                        ]
    return None


def _cluster_exists(ecs: Any, name: str) -> bool:
    clusters = ecs.describe_clusters(clusters=[name]).get("clusters", [])
    return any(c.get("status") == "ACTIVE" for c in clusters)
