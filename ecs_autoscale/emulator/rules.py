"""The AWS rules the stack relies on, enforced by the emulator, each with the AWS document that states it.

patches.py closes gaps where moto breaks what AWS does; request_log.py checks each request against
botocore's service models. This layer is the third: documented behaviour that no model encodes and moto does
not have, where moto accepts what AWS refuses or skips what AWS does. Each rule is one `@rule(...)` entry
below: an id, the AWS document (title and URL), one sentence stating the rule, and an install function that
wraps moto's response or backend methods as patches.py does. Refusals raise moto's own exception for the
service, so the client gets AWS's wire format for that protocol (query XML for Auto Scaling, JSON for
Scheduler) with AWS's error code and, where AWS documents one, its message; where AWS documents none, the
message says what was refused and cites the document.

`apply_all()` installs them (server.py, before the patches); `listing()` and `ecs-autoscale emulator
--list-rules` show them. The Auto Scaling rules share one model of a group's instances,
autoscaling_model.py; time-dependent rules read clock.py's clock, which tests move instead of sleeping.
Importing this module is cheap: moto is imported by the install functions only.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..aws_target import EMULATOR_REGION as REGION

ACCOUNT = "123456789012"  # moto's default account
SQS_COUNT_LAG_ENV = "ECS_AUTOSCALE_EMULATOR_SQS_COUNT_LAG"
"""Seconds by which GetQueueAttributes' approximate counts lag (read at every request; default 0)."""


@dataclass(frozen=True)
class Document:
    title: str
    url: str


@dataclass(frozen=True)
class Rule:
    id: str
    documents: tuple[Document, ...]
    statement: str
    install: Callable[[], None]

    def line(self) -> str:
        sources = "; ".join(f"{d.title} ({d.url})" for d in self.documents)
        return f"{self.id}: {self.statement} Source: {sources}"


RULES: dict[str, Rule] = {}
_applied = False


def rule(id: str, statement: str, *documents: tuple[str, str]) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """Register the decorated install function as the rule `id`; `documents` are (title, URL) pairs."""

    def register(install: Callable[[], None]) -> Callable[[], None]:
        if id in RULES:
            raise ValueError(f"rule {id} is registered twice")
        RULES[id] = Rule(id, tuple(Document(t, u) for t, u in documents), statement, install)
        return install

    return register


def apply_all() -> None:
    """Install every rule (idempotent). Before patches.apply_all(): a patch wrapping a method a rule replaces
    then wraps the rule's version, as it would moto's (patches.history records TerminateInstance's
    terminations as user requests)."""
    global _applied
    if not _applied:
        from .patches import check_moto_version

        check_moto_version()  # the rules are written for the same moto release as the patches
        for entry in RULES.values():
            entry.install()
        _applied = True


def listing() -> list[str]:
    return [entry.line() for entry in RULES.values()]


def _wrap(cls: type, name: str, factory: Callable[[Any], Any]) -> None:
    original = getattr(cls, name)
    setattr(cls, name, functools.wraps(original)(factory(original)))


# --- EventBridge Scheduler ------------------------------------------------------------------------------

UNIVERSAL_TARGETS = "https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-targets-universal.html"
READ_ONLY_PREFIXES = (
    "get describe list poll receive search scan query select read lookup discover validate batchGet "
    "batchDescribe batchRead transactGet adminGet adminList testMigration retrieve testConnection "
    "translateDocument isAuthorized isAuthorizedWithToken invokeModel"
).split()
_UNIVERSAL_TARGET = re.compile(r"arn:[a-z0-9-]+:scheduler:::aws-sdk:([A-Za-z0-9]+):([A-Za-z0-9]+)")


def read_only_universal_target(arn: str) -> str | None:
    """Why Scheduler refuses `arn` as a target, or None: a universal target whose action is read-only."""
    match = _UNIVERSAL_TARGET.fullmatch(arn or "")
    if match is None:
        return None
    action = match.group(2)
    camel = action[:1].lower() + action[1:]
    prefix = next((p for p in READ_ONLY_PREFIXES if camel.startswith(p)), None)
    if prefix is None:
        return None
    return (
        f"Invalid request provided: {action} API is not supported: EventBridge Scheduler does not support "
        f"read-only API actions (prefix {prefix!r}) as universal targets (EventBridge Scheduler User Guide, "
        f'"Using universal targets", Unsupported actions: {UNIVERSAL_TARGETS})'
    )


@rule(
    "scheduler.universal-target-read-only",
    "CreateSchedule and UpdateSchedule refuse a universal target whose API action begins with a read-only "
    "prefix (get, describe, list, receive, ...) with a ValidationException (HTTP 400).",
    ('EventBridge Scheduler User Guide, "Using universal targets", Unsupported actions', UNIVERSAL_TARGETS),
)
def scheduler_universal_target_read_only() -> None:
    from moto.scheduler.exceptions import ValidationException
    from moto.scheduler.responses import EventBridgeSchedulerResponse

    def checking(original: Any) -> Any:
        def action(self: Any) -> Any:
            problem = read_only_universal_target((self._get_param("Target") or {}).get("Arn", ""))
            if problem:
                raise ValidationException(problem)
            return original(self)

        return action

    _wrap(EventBridgeSchedulerResponse, "create_schedule", checking)
    _wrap(EventBridgeSchedulerResponse, "update_schedule", checking)


# --- ECS ------------------------------------------------------------------------------------------------

DRAINING = "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/container-instance-draining.html"
DAEMON = "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_services.html"
DRAINED_REASON = "Service task stopped: its container instance is DRAINING (ECS Developer Guide, container draining)"


def is_service_task(task: Any) -> bool:
    """A task the service scheduler started: ECS puts it in the group `service:<name>`, which is how the
    emulator tells it from a standalone task (tests start one with RunTask/StartTask group="service:NAME",
    or with `place_service_task`)."""
    return str(getattr(task, "group", "") or "").startswith("service:")


@rule(
    "ecs.draining-stops-service-tasks",
    "Setting a container instance to DRAINING stops its service tasks at once, replica and daemon alike "
    "(PENDING ones immediately, RUNNING ones transition to STOPPED); standalone tasks are unaffected; no "
    "service task is placed on a DRAINING instance (`place_service_task`, `run_daemon_scheduler`).",
    ('Amazon ECS Developer Guide, "Draining Amazon ECS container instances"', DRAINING),
    ('Amazon ECS Developer Guide, "Amazon ECS services", Daemon scheduling strategy', DAEMON),
)
def ecs_draining_stops_service_tasks() -> None:
    from moto.ecs.models import EC2ContainerServiceBackend

    def draining(original: Any) -> Any:
        def update_container_instances_state(self: Any, cluster_str: str, ids: list[str], status: str) -> Any:
            instances, failures = original(self, cluster_str, ids, status)
            if str(status).upper() == "DRAINING":
                cluster = self._get_cluster(cluster_str).name
                drained = {ci.container_instance_arn for ci in instances}
                for task in list(self.tasks.get(cluster, {}).values()):
                    if task.container_instance_arn in drained and is_service_task(task):
                        if task.desired_status != "STOPPED":
                            self.stop_task(cluster, task.task_arn, DRAINED_REASON)
                            task.stop_code = "ServiceSchedulerInitiated"
            return instances, failures

        return update_container_instances_state

    _wrap(EC2ContainerServiceBackend, "update_container_instances_state", draining)


def _ecs(account: str, region: str) -> Any:
    from moto.ecs.models import ecs_backends

    return ecs_backends[account][region]


def place_service_task(
    cluster: str, service: str, container_instance_arn: str, account: str = ACCOUNT, region: str = REGION
) -> str | None:
    """What the ECS service scheduler does for one instance (moto starts no service task): start a task of
    `service` on the container instance and return its ARN; None when the instance is not ACTIVE (ECS
    places no task on a DRAINING instance). For tests of the in-process emulator."""
    backend = _ecs(account, region)
    found = backend._get_service(cluster, service)
    instance = backend.container_instances[backend._get_cluster(cluster).name][container_instance_arn.split("/")[-1]]
    if instance.status != "ACTIVE":
        return None
    deployment = (getattr(found, "deployments", None) or [{}])[0].get("id", f"ecs-svc/{found.name}")
    [task] = backend.start_task(
        cluster, found.task_definition, [container_instance_arn], {}, deployment, group=f"service:{found.name}"
    )
    return str(task.task_arn)


def run_daemon_scheduler(cluster: str, account: str = ACCOUNT, region: str = REGION) -> list[str]:
    """One pass of the daemon scheduler: a task of every DAEMON service of `cluster` on each ACTIVE container
    instance that has none running; returns the new tasks' ARNs."""
    backend = _ecs(account, region)
    name = backend._get_cluster(cluster).name
    started = []
    for service in [s for s in backend.services.values() if s.cluster_name == name]:
        if service.scheduling_strategy != "DAEMON":
            continue
        for instance in list(backend.container_instances.get(name, {}).values()):
            running = [
                t
                for t in backend.tasks.get(name, {}).values()
                if t.group == f"service:{service.name}"
                and t.container_instance_arn == instance.container_instance_arn
                and t.desired_status != "STOPPED"
            ]
            if not running:
                arn = place_service_task(cluster, service.name, instance.container_instance_arn, account, region)
                started += [arn] if arn else []
    return started


# --- EC2 Auto Scaling -----------------------------------------------------------------------------------

ASG_GUIDE = "https://docs.aws.amazon.com/autoscaling/ec2/userguide"
ASG_API = "https://docs.aws.amazon.com/autoscaling/ec2/APIReference"
TERMINATE_DOC = f"{ASG_API}/API_TerminateInstanceInAutoScalingGroup.html"


@rule(
    "autoscaling.lifecycle-hooks",
    "A launch hook holds each instance launched after the hook exists in Pending:Wait (Warmed:Pending:Wait "
    "into a warm pool) and a termination hook each instance the group terminates in Terminating:Wait, until "
    "CompleteLifecycleAction (CONTINUE or ABANDON) or the heartbeat timeout (30-7200 s, default 3600; "
    "RecordLifecycleActionHeartbeat restarts it) applies the DefaultResult; CreateAutoScalingGroup's "
    "LifecycleHookSpecificationList creates the hooks before the first instance launches, a hook added later "
    "applies only to later launches; ForceDelete skips the hooks.",
    ('EC2 Auto Scaling User Guide, "Amazon EC2 Auto Scaling lifecycle hooks"', f"{ASG_GUIDE}/lifecycle-hooks.html"),
    ("EC2 Auto Scaling API Reference, CreateAutoScalingGroup", f"{ASG_API}/API_CreateAutoScalingGroup.html"),
    ("EC2 Auto Scaling API Reference, PutLifecycleHook", f"{ASG_API}/API_PutLifecycleHook.html"),
    (
        "Terraform AWS provider, aws_autoscaling_lifecycle_hook (vs initial_lifecycle_hook)",
        "https://registry.terraform.io/providers/hashicorp/aws/5.100.0/docs/resources/autoscaling_lifecycle_hook",
    ),
)
def autoscaling_lifecycle_hooks() -> None:
    from moto.autoscaling.responses import AutoScalingResponse

    from . import autoscaling_model as model

    model.install()
    model.enabled.add("lifecycle-hooks")
    _wrap(AutoScalingResponse, "create_auto_scaling_group", model.hooks_before_launch)
    _wrap(AutoScalingResponse, "put_lifecycle_hook", model.heartbeat_in_range)
    model.put(AutoScalingResponse, complete_lifecycle_action=model.complete_lifecycle_action)
    model.put(AutoScalingResponse, record_lifecycle_action_heartbeat=model.record_lifecycle_action_heartbeat)


WARM_POOL_REFUSED = "This operation cannot be called on instances in a warm pool."
MIXED_POOL_REFUSED = (
    "This operation cannot be called on an Auto Scaling group that has a mixed instances policy or a launch "
    "template or launch configuration that requests Spot Instances."
)


def _not_in_warm_pool(group: Any, entry: Any, in_pool: bool) -> None:
    if in_pool:
        from .autoscaling_model import error

        raise error(
            "ValidationError",
            f"{WARM_POOL_REFUSED} ({entry.instance.id}: EC2 Auto Scaling API Reference, "
            f"TerminateInstanceInAutoScalingGroup, {TERMINATE_DOC})",
        )


@rule(
    "autoscaling.warm-pool",
    "PutWarmPool launches pool instances from the group's launch template, each through Warmed:Pending:Wait "
    "if a launch hook existed, to Warmed:Stopped (Running, Hibernated by PoolState); the pool holds "
    "max(MinSize, (MaxGroupPreparedCapacity or MaxSize) - DesiredCapacity); scale-out takes pool instances "
    "first and scale-in refills the pool with new ones; a launch template change leaves pool instances as "
    "they are; TerminateInstanceInAutoScalingGroup refuses a pool instance and PutWarmPool a group with a "
    "mixed instances policy or Spot.",
    (
        'EC2 Auto Scaling User Guide, "Warm pools for Amazon EC2 Auto Scaling"',
        f"{ASG_GUIDE}/ec2-auto-scaling-warm-pools.html",
    ),
    ("EC2 Auto Scaling API Reference, PutWarmPool", f"{ASG_API}/API_PutWarmPool.html"),
    ("EC2 Auto Scaling API Reference, TerminateInstanceInAutoScalingGroup", TERMINATE_DOC),
)
def autoscaling_warm_pool() -> None:
    from moto.autoscaling.models import AutoScalingBackend
    from moto.autoscaling.responses import AutoScalingResponse

    from . import autoscaling_model as model

    def plain_groups_only(original: Any) -> Any:
        def put_warm_pool(self: Any) -> Any:
            group = model.group_named(self.autoscaling_backend, self._get_param("AutoScalingGroupName"))
            market = (
                (group.ec2_launch_template.get_version(group.launch_template_version).data or {}).get(
                    "InstanceMarketOptions"
                )
                if group.ec2_launch_template is not None
                else None
            )
            if group.mixed_instances_policy or market:
                raise model.error("ValidationError", f"{MIXED_POOL_REFUSED} ({ASG_API}/API_PutWarmPool.html)")
            return original(self)

        return put_warm_pool

    model.install()
    model.enabled.add("warm-pool")
    _wrap(AutoScalingResponse, "put_warm_pool", plain_groups_only)
    model.put(AutoScalingResponse, describe_warm_pool=model.describe_warm_pool)
    _wrap(AutoScalingBackend, "delete_warm_pool", model.pool_goes_with_it)
    model.terminate_checks.append(_not_in_warm_pool)


@rule(
    "autoscaling.instance-refresh",
    "StartInstanceRefresh replaces the group's InService instances first (through the termination hooks), "
    "then its warm-pool instances, skipping those already on the group's launch template version with "
    "SkipMatching; one refresh at a time (InstanceRefreshInProgress), CancelInstanceRefresh ends it "
    "(ActiveInstanceRefreshNotFound when none), DescribeInstanceRefreshes reports it.",
    (
        'EC2 Auto Scaling User Guide, "Warm pools", Update the instances in a warm pool',
        f"{ASG_GUIDE}/ec2-auto-scaling-warm-pools.html",
    ),
    ('EC2 Auto Scaling User Guide, "Use an instance refresh"', f"{ASG_GUIDE}/asg-instance-refresh.html"),
    ("EC2 Auto Scaling API Reference, StartInstanceRefresh", f"{ASG_API}/API_StartInstanceRefresh.html"),
)
def autoscaling_instance_refresh() -> None:
    from moto.autoscaling.responses import AutoScalingResponse

    from . import autoscaling_model as model

    model.install()
    model.put(AutoScalingResponse, start_instance_refresh=model.start_instance_refresh)
    model.put(AutoScalingResponse, describe_instance_refreshes=model.describe_instance_refreshes)
    model.put(AutoScalingResponse, cancel_instance_refresh=model.cancel_instance_refresh)


@rule(
    "autoscaling.az-rebalance",
    "After TerminateInstanceInAutoScalingGroup with ShouldDecrementDesiredCapacity leaves the group's "
    "Availability Zones more than one instance apart, the group launches in the emptiest zone, then "
    "terminates in the fullest, unless the AZRebalance process is suspended.",
    ("EC2 Auto Scaling API Reference, TerminateInstanceInAutoScalingGroup", TERMINATE_DOC),
    (
        'EC2 Auto Scaling User Guide, "Control which Auto Scaling instances terminate during scale in", '
        "Availability Zone rebalancing",
        f"{ASG_GUIDE}/as-instance-termination.html",
    ),
    ('EC2 Auto Scaling User Guide, "Suspend and resume processes"', f"{ASG_GUIDE}/as-suspend-resume-processes.html"),
)
def autoscaling_az_rebalance() -> None:
    from . import autoscaling_model as model

    model.install()
    model.after_decrement.append(model.rebalance)


SCALING_ACTIVITY_IN_PROGRESS = "The operation can't be performed because there are scaling activities in progress."
_activity_faults: dict[tuple[str, str, str], int] = {}


def scaling_activity_in_progress(group: str, calls: int = 1, account: str = ACCOUNT, region: str = REGION) -> None:
    """Make the next `calls` TerminateInstanceInAutoScalingGroup calls on `group` answer
    ScalingActivityInProgress, as when another activity of the group (a launch, a rebalancing) is under way."""
    _activity_faults[(account, region, group)] = calls


def _no_activity_in_progress(group: Any, entry: Any, in_pool: bool) -> None:
    from . import autoscaling_model as model

    key = (group.account_id, group.region, group.name)
    injected = _activity_faults.get(key, 0) > 0
    if injected:
        _activity_faults[key] -= 1
    others = [e for e in group.instance_states if e is not entry]
    if injected or any(e.lifecycle_state in model.IN_PROGRESS for e in others):
        raise model.error("ScalingActivityInProgress", SCALING_ACTIVITY_IN_PROGRESS)


@rule(
    "autoscaling.scaling-activity-in-progress",
    "TerminateInstanceInAutoScalingGroup answers ScalingActivityInProgress (HTTP 400) while another scaling "
    "activity of the group is under way: another of its instances launching, waiting on a hook or "
    "terminating (warm-pool instances do not count), or a fault injected with `scaling_activity_in_progress`.",
    ("EC2 Auto Scaling API Reference, TerminateInstanceInAutoScalingGroup, Errors", TERMINATE_DOC),
)
def autoscaling_scaling_activity_in_progress() -> None:
    from . import autoscaling_model as model

    model.install()
    model.terminate_checks.append(_no_activity_in_progress)


# --- SQS ------------------------------------------------------------------------------------------------

COUNT_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


def count_lag() -> float:
    raw = os.environ.get(SQS_COUNT_LAG_ENV, "").strip()
    try:
        return float(raw) if raw else 0.0
    except ValueError:
        raise ValueError(f"${SQS_COUNT_LAG_ENV}={raw!r} is not a number of seconds, e.g. 60") from None


def _record_counts(backend: Any) -> None:
    """Keep each queue's counts when they change, on the rules' clock: the history lagged answers come from
    (kept while a lag is set, before and after each SQS request)."""
    from .clock import now

    moment = now()
    for queue in list(backend.queues.values()):
        counts = (
            queue.approximate_number_of_messages,
            queue.approximate_number_of_messages_not_visible,
            queue.approximate_number_of_messages_delayed,
        )
        history = queue.__dict__.setdefault("_count_history", [])
        if not history or history[-1][1] != counts:
            history.append((moment, counts))


def counts_as_of(queue: Any, moment: float) -> tuple[int, int, int]:
    """The counts the queue had at `moment`; the oldest recorded ones if the history starts later (it starts
    when the queue is created or the lag is set, whichever is later)."""
    history = queue.__dict__.get("_count_history", [])
    found: tuple[int, int, int] = history[0][1] if history else (0, 0, 0)
    for when, counts in history:
        if when > moment:
            break
        found = counts
    return found


@rule(
    "sqs.approximate-count-lag",
    "GetQueueAttributes' ApproximateNumberOfMessages, ...NotVisible and ...Delayed may not be consistent "
    f"until at least a minute after producers stop: while ${SQS_COUNT_LAG_ENV}=N is set the emulator answers "
    "the counts as they were N seconds earlier (default 0: current counts).",
    (
        "Amazon SQS API Reference, GetQueueAttributes",
        "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_GetQueueAttributes.html",
    ),
)
def sqs_approximate_count_lag() -> None:
    from moto.sqs.models import SQSBackend
    from moto.sqs.responses import SQSResponse

    from .clock import now

    def recording(original: Any) -> Any:
        def call_action(self: Any) -> Any:
            if count_lag() <= 0:  # no history kept, no cost: queue_scale.py keeps big queues fast
                return original(self)
            _record_counts(self.sqs_backend)
            try:
                return original(self)
            finally:
                _record_counts(self.sqs_backend)

        return call_action

    def lagging(original: Any) -> Any:
        def get_queue_attributes(self: Any, queue_name: str, attribute_names: list[str]) -> dict[str, Any]:
            attributes = original(self, queue_name, attribute_names)
            lag = count_lag()
            if lag > 0:
                then = counts_as_of(self.get_queue(queue_name), now() - lag)
                for name, value in zip(COUNT_ATTRIBUTES, then, strict=True):
                    if name in attributes:
                        attributes[name] = value
            return dict(attributes)

        return get_queue_attributes

    _wrap(SQSResponse, "call_action", recording)
    _wrap(SQSBackend, "get_queue_attributes", lagging)
