"""The stack's Auto Scaling group as AWS reports it: its state, its halted tag, its instances' protection.

Shared by the client (submit's sizing, stop, resume, status), `destroy` (fleet to zero) and the
constructs (the halted tag in IAM conditions). No cdktf and no boto3 import: callers pass their client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import error_code

HALTED_TAG = "ecs-autoscale:halted"
"""Tag the instance agent puts on the group when it halts the stack: "<UTC ISO time> <reason>" (the agent reads
the key from its settings: instance_agent.Settings.halted_tag)."""


@dataclass(frozen=True)
class Group:
    name: str
    min: int
    max: int
    desired: int
    halted: str | None
    """Value of the halted tag ("<UTC time> <reason>"), None when the tag is absent."""
    instances: tuple[dict[str, Any], ...]
    """DescribeAutoScalingGroups' Instances (warm-pool instances are not among them)."""

    @property
    def stopped(self) -> bool:
        return self.max == 0


def read_group(autoscaling: Any, name: str) -> Group | None:
    """The group's limits, instances and halted tag; None when there is no such group."""
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    if not groups:
        return None
    g = groups[0]
    tags = {t.get("Key"): t.get("Value", "") for t in g.get("Tags", [])}
    return Group(
        name=name,
        min=int(g["MinSize"]),
        max=int(g["MaxSize"]),
        desired=int(g["DesiredCapacity"]),
        halted=tags.get(HALTED_TAG),
        instances=tuple(g.get("Instances", [])),
    )


def unprotect_instances(asg: Any, group_name: str, instance_ids: list[str]) -> None:
    """Clear scale-in protection (set by an older version's ECS managed termination protection) so the
    group may terminate them; SetInstanceProtection takes at most 50 instances per call."""
    for start in range(0, len(instance_ids), 50):
        asg.set_instance_protection(
            AutoScalingGroupName=group_name, InstanceIds=instance_ids[start : start + 50], ProtectedFromScaleIn=False
        )


def release_terminating(asg: Any, group: Group, hook_name: str) -> list[str]:
    """Complete the termination lifecycle hook (CONTINUE) of every instance of `group` waiting in
    Terminating:Wait: a stop or a destroy means now, not when each agent finds its workers quiet (or its
    heartbeats run out). Returns the instances released; one that left the wait meanwhile is skipped."""
    released = []
    for instance in group.instances:
        if instance.get("LifecycleState") != "Terminating:Wait":
            continue
        try:
            asg.complete_lifecycle_action(
                LifecycleHookName=hook_name,
                AutoScalingGroupName=group.name,
                InstanceId=instance["InstanceId"],
                LifecycleActionResult="CONTINUE",
            )
            released.append(instance["InstanceId"])
        except Exception as exc:  # no longer waiting ("No active Lifecycle Action found"): it is on its way
            if error_code(exc) != "ValidationError":
                raise
    return released
