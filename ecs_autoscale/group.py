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
    waiting = [i["InstanceId"] for i in group.instances if i.get("LifecycleState") == "Terminating:Wait"]
    return [i for i in waiting if _continue(asg, group.name, hook_name, i)]


POOL_TERMINATING = "Warmed:Terminating:Wait"
"""A warm-pool instance the group terminates (an instance refresh replacing it, a smaller pool) waits here on
the termination hook like any other (EC2 Auto Scaling User Guide, "Use lifecycle hooks with a warm pool":
the lifecycle state transitions; API reference, LifecycleState). PutLifecycleHook has no setting that keeps
a hook off the warm pool, and no instance refresh preference skips hooks."""


def warm_pool_instances(asg: Any, group_name: str) -> list[dict[str, Any]]:
    """DescribeWarmPool's Instances (every page); [] when the group has no warm pool."""
    pages = asg.get_paginator("describe_warm_pool").paginate(AutoScalingGroupName=group_name)
    return [i for page in pages for i in page.get("Instances", [])]


def release_warm_pool_terminating(asg: Any, group_name: str, hook_name: str) -> list[str]:
    """Complete the termination hook (CONTINUE) of every warm-pool instance in Warmed:Terminating:Wait.

    A Stopped pool instance runs no agent and holds no worker: nothing would ever complete its hook, so
    each would wait the hook's whole heartbeat timeout (30 minutes) before going, holding up the instance
    refresh that replaces it. Returns the instances released; one that left the wait meanwhile is skipped."""
    pool = warm_pool_instances(asg, group_name)
    waiting = [i["InstanceId"] for i in pool if i.get("LifecycleState") == POOL_TERMINATING]
    return [i for i in waiting if _continue(asg, group_name, hook_name, i)]


def _continue(asg: Any, group_name: str, hook_name: str, instance_id: str) -> bool:
    try:
        asg.complete_lifecycle_action(
            LifecycleHookName=hook_name,
            AutoScalingGroupName=group_name,
            InstanceId=instance_id,
            LifecycleActionResult="CONTINUE",
        )
    except Exception as exc:  # no longer waiting ("No active Lifecycle Action found"): it is on its way
        if error_code(exc) != "ValidationError":
            raise
        return False
    return True
