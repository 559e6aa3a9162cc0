"""Which AWS resources make up a deployed stack.

Two sources, no CloudFormation:
- STACK_DIR/outputs.json, written by `ecs-autoscale deploy` / `outputs` (flat name -> value; the
  `terraform output -json` shape {"name": {"value": ...}} is accepted too);
- the stack's StackName, for a stack deployed from another machine: the ECS service (named StackName in
  a cluster named StackName, or found by the `ecs-autoscale:stack` tag) leads to the task definition,
  whose environment is the worker contract (VIDEO_QUEUE, TRACK_QUEUE, DEAD_QUEUE, VIDEO_BUCKET,
  TRACK_BUCKET), and to the capacity provider, which names the Auto Scaling group.
"""
from __future__ import annotations

import json
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any, Mapping, Optional

from . import JobsError

OUTPUTS_FILE = "outputs.json"
STACK_TAG = "ecs-autoscale:stack"


@dataclass(frozen=True)
class StackInfo:
    """The names the client needs; field names are the stack's output names (stack.OUTPUT_DESCRIPTIONS)."""

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
    capacity_provider_name: str = ""
    task_definition_family: str = ""

    @property
    def scalable_target_id(self) -> str:
        """Application Auto Scaling resource id of the service's task count."""
        return f"service/{self.cluster_name}/{self.service_name}"

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, Any], source: str) -> "StackInfo":
        flat = {name: (value.get("value") if isinstance(value, Mapping) else value)
                for name, value in outputs.items()}
        missing = [f.name for f in fields(cls) if f.default is MISSING and not flat.get(f.name)]
        if missing:
            raise JobsError(f"{source}: missing {', '.join(missing)} (re-read it with `ecs-autoscale outputs "
                            "CONFIG STACK_DIR`)")
        known = {f.name for f in fields(cls)}
        return cls(**{name: str(value) for name, value in flat.items() if name in known and value is not None})


def load_stack_info(stack_dir: Path) -> StackInfo:
    """StackInfo from STACK_DIR/outputs.json; one-line JobsError naming the fix when it is unusable."""
    path = Path(stack_dir) / OUTPUTS_FILE
    try:
        outputs = json.loads(path.read_text())
    except FileNotFoundError:
        raise JobsError(f"{path}: not found (deploy with `ecs-autoscale deploy CONFIG {stack_dir}`, re-read a "
                        "deployed stack with `ecs-autoscale outputs`, or pass --stack-name NAME to find it in "
                        "AWS)") from None
    except (OSError, ValueError) as exc:
        raise JobsError(f"{path}: unreadable ({exc}); re-create it with `ecs-autoscale outputs`") from None
    if not isinstance(outputs, dict):
        raise JobsError(f"{path}: expected a JSON object of stack outputs (re-create it with `ecs-autoscale outputs`)")
    return StackInfo.from_outputs(outputs, str(path))


def discover_stack(aws, stack_name: str) -> StackInfo:
    """Find a deployed stack by StackName through ECS (service -> task definition -> environment)."""
    ecs = aws("ecs")
    service = _find_service(ecs, stack_name)
    if service is None:
        raise JobsError(f"stack {stack_name!r}: no ECS service {stack_name!r} in region {aws.region} (check the "
                        "StackName, --profile and the region: AWS_REGION or the profile's region)")
    task_def = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    env = {}
    for container in task_def.get("containerDefinitions", []):
        env.update({item["name"]: item["value"] for item in container.get("environment", [])})
    contract = ("VIDEO_QUEUE", "TRACK_QUEUE", "DEAD_QUEUE", "VIDEO_BUCKET", "TRACK_BUCKET")
    missing = [name for name in contract if not env.get(name)]
    if missing:
        raise JobsError(f"stack {stack_name!r}: task definition {task_def.get('family')} lacks {', '.join(missing)} "
                        "in its environment (not an ecs-autoscale / ecsprocess stack?)")
    sqs = aws("sqs")
    urls = {name: sqs.get_queue_url(QueueName=env[name])["QueueUrl"] for name in contract[:3]}
    provider = next((s["capacityProvider"] for s in service.get("capacityProviderStrategy", [])), "")
    cluster_name = service["clusterArn"].rsplit("/", 1)[-1]
    return StackInfo(
        stack_name=env.get("PROCESSOR", stack_name), region=aws.region,
        video_queue_name=env["VIDEO_QUEUE"], video_queue_url=urls["VIDEO_QUEUE"],
        track_queue_name=env["TRACK_QUEUE"], track_queue_url=urls["TRACK_QUEUE"],
        dead_queue_name=env["DEAD_QUEUE"], dead_queue_url=urls["DEAD_QUEUE"],
        video_bucket=env["VIDEO_BUCKET"], tracks_bucket=env["TRACK_BUCKET"],
        cluster_name=cluster_name, service_name=service["serviceName"],
        autoscaling_group_name=_asg_of(ecs, provider) if provider else "",
        capacity_provider_name=provider, task_definition_family=task_def.get("family", ""),
    )


def _find_service(ecs, stack_name: str) -> Optional[dict]:
    # Our stacks name cluster and service after StackName; otherwise look for the stack tag.
    found = ecs.describe_services(cluster=stack_name, services=[stack_name]).get("services", []) \
        if _cluster_exists(ecs, stack_name) else []
    active = [s for s in found if s.get("status") == "ACTIVE"]
    if active:
        return active[0]
    for page in ecs.get_paginator("list_clusters").paginate():
        arns = page.get("clusterArns", [])
        for start in range(0, len(arns), 100):
            for cluster in ecs.describe_clusters(clusters=arns[start:start + 100], include=["TAGS"])["clusters"]:
                tags = {t["key"]: t["value"] for t in cluster.get("tags", [])}
                if tags.get(STACK_TAG) == stack_name:
                    services = ecs.list_services(cluster=cluster["clusterArn"]).get("serviceArns", [])
                    if services:
                        return ecs.describe_services(cluster=cluster["clusterArn"], services=services[:1])["services"][0]
    return None


def _cluster_exists(ecs, name: str) -> bool:
    clusters = ecs.describe_clusters(clusters=[name]).get("clusters", [])
    return any(c.get("status") == "ACTIVE" for c in clusters)


def _asg_of(ecs, capacity_provider: str) -> str:
    providers = ecs.describe_capacity_providers(capacityProviders=[capacity_provider]).get("capacityProviders", [])
    arn = providers[0].get("autoScalingGroupProvider", {}).get("autoScalingGroupArn", "") if providers else ""
    # arn:aws:autoscaling:REGION:ACCOUNT:autoScalingGroup:UUID:autoScalingGroupName/NAME (names may hold '-')
    return arn.split("autoScalingGroupName/", 1)[-1] if "autoScalingGroupName/" in arn else arn
