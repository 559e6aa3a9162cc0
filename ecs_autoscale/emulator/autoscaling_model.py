"""An Auto Scaling group's instances as EC2 Auto Scaling documents them, for the emulator's rules.

moto 5.2.5 keeps every instance of a group InService, launches them all in the first subnet, launches no
warm pool, ignores lifecycle hooks and implements no instance refresh. The rules of rules.py (the
`autoscaling.*` entries) need one model of what a group does with its instances, so this module replaces
moto's capacity logic with it, and each rule installs it (`install()`, idempotent) plus the API calls it
owns. What the model does, each with the rule whose document says so:

- Desired capacity counts the instances in Pending, Pending:Wait, Pending:Proceed and InService (not
  Standby, not Terminating*). New instances go to the Availability Zone with the fewest (ties: the order of
  VPCZoneIdentifier); scale-in takes from the zone with the most, an instance of an older launch template
  first, then the oldest (default termination policy). Standby and scale-in protected instances are never
  scaled in. [EC2 Auto Scaling User Guide, "Availability Zone rebalancing" and "default termination policy"]
- Lifecycle hooks [autoscaling.lifecycle-hooks]: a launch hook that exists when a launch begins holds the
  instance in Pending:Wait (Warmed:Pending:Wait for the warm pool) until every such hook is completed
  (CONTINUE), one answers ABANDON (the instance is terminated and replaced), or its heartbeat timeout passes
  (the hook's DefaultResult). A termination hook holds an instance the group terminates in
  Terminating:Wait (Warmed:Terminating:Wait). Timeouts are evaluated lazily, at the next Auto Scaling
  request, on the clock of clock.py; a wait never outlasts 48 h or 100 heartbeat timeouts. A group deleted
  with ForceDelete skips the hooks (so does any group deletion here: AWS refuses to delete a group with
  instances without ForceDelete, which is not modelled).
- Warm pool [autoscaling.warm-pool]: size max(MinSize, (MaxGroupPreparedCapacity, or MaxSize when unset or
  -1) - DesiredCapacity); new pool instances launch from the group's launch template as it is then and end
  in Warmed:Stopped (or Warmed:Running/Warmed:Hibernated by PoolState). Scale-out takes ready pool
  instances first (the emptiest zone's if any) and launches the rest; pool instances still in
  Warmed:Pending:Wait are not taken. The pool is refilled with new instances (no instance reuse policy is
  modelled).
- Instance refresh [autoscaling.instance-refresh]: InService instances are replaced first, then the warm
  pool's; with SkipMatching an instance already on the group's launch template version is kept. All
  replacements start at once (no batches, warm-up or checkpoints); the refresh is Successful when nothing
  it replaces is left and no replacement is still waiting on a hook.
- The hooks and the warm pool act once their rules switch them on (`enabled`); the checks and steps below
  are added by their rules too, so each rule's entry is what turns its behaviour on.
- TerminateInstanceInAutoScalingGroup runs `terminate_checks` first (warm pool and scaling-activity
  rules), then `after_decrement` when it decremented (AZ rebalancing).

Everything is serialized by LOCK: moto's server answers each request in its own thread.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .clock import now

LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
COUNTED = frozenset({"Pending", "Pending:Wait", "Pending:Proceed", "InService"})
IN_PROGRESS = frozenset(
    {"Pending", "Pending:Wait", "Pending:Proceed", "Terminating", "Terminating:Wait", "Terminating:Proceed"}
)
"""States of a group instance (not a warm-pool one) that is part of a scaling activity not yet finished."""
READY_IN_POOL = {"Stopped": "Warmed:Stopped", "Running": "Warmed:Running", "Hibernated": "Warmed:Hibernated"}
MAX_WAIT_S = 48 * 3600
"""Lifecycle-hooks guide, considerations: at most 48 hours or 100 heartbeat timeouts, whichever is smaller."""
ACTIVE_REFRESH = frozenset({"Pending", "InProgress", "Cancelling"})
DEFAULT_MIN_HEALTHY = 90

LOCK = threading.RLock()
enabled: set[str] = set()
"""The parts of this model their rules switched on: "lifecycle-hooks", "warm-pool"."""
terminate_checks: list[Callable[[Any, Any, bool], None]] = []
"""(group, instance entry, in the warm pool?) -> None, or raise the AWS error: run before a terminate."""
after_decrement: list[Callable[[Any], None]] = []
"""group -> None: run after TerminateInstanceInAutoScalingGroup decremented the desired capacity."""


@dataclass
class Action:
    """A lifecycle action: an instance waiting on the hooks of one transition."""

    entry: Any
    transition: str
    in_pool: bool
    deadlines: dict[str, float]
    """Hooks not yet completed -> when their heartbeat timeout passes."""
    limit: float
    token: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class Refresh:
    id: str
    strategy: str
    preferences: dict[str, Any]
    desired_configuration: dict[str, Any] | None
    target: tuple[str, Any] | None
    live_ids: set[str]
    pool_ids: set[str]
    started: dt.datetime
    status: str = "InProgress"
    ended: dt.datetime | None = None

    def replaces(self, entry: Any) -> bool:
        """Whether this refresh replaces `entry` (an instance it found when it started)."""
        if self.preferences.get("SkipMatching") and spec_of(entry) == self.target:
            return False
        return entry.instance.id in self.live_ids | self.pool_ids


@dataclass
class Lifecycle:
    """What the model keeps per group, beside moto's own `instance_states`."""

    pool: list[Any] = field(default_factory=list)
    actions: dict[str, Action] = field(default_factory=dict)
    refreshes: list[Refresh] = field(default_factory=list)
    forced: bool = False


def lifecycle(group: Any) -> Lifecycle:
    found = group.__dict__.get("_lifecycle")
    if found is None:
        found = Lifecycle()
        group.__dict__["_lifecycle"] = found
    return found


# --- reading a group -----------------------------------------------------------------------------


def hooks(group: Any, transition: str) -> list[Any]:
    if "lifecycle-hooks" not in enabled:
        return []
    return [
        h
        for h in group.autoscaling_backend.lifecycle_hooks.values()
        if h.auto_scaling_group_name == group.name and h.lifecycle_transition == transition
    ]


def counted(group: Any) -> list[Any]:
    return [e for e in group.instance_states if e.lifecycle_state in COUNTED]


def template_spec(group: Any) -> tuple[str, Any] | None:
    """The launch template version (or launch configuration) a launch would use now."""
    template = group.ec2_launch_template
    if template is not None:
        return (template.id, template.get_version(group.launch_template_version).number)
    name = getattr(group, "launch_configuration_name", None)
    return ("launch-configuration", name) if name else None


def spec_of(entry: Any) -> tuple[str, Any] | None:
    launched = entry.__dict__.get("launched_template")
    if launched:
        return (launched["LaunchTemplateId"], int(launched["Version"]))
    return entry.__dict__.get("launched_spec")


def target_count(group: Any) -> int:
    """Instances needed for the desired capacity (weighted capacity: the first override's weight)."""
    desired = group.desired_capacity or 0
    overrides = ((group.mixed_instances_policy or {}).get("LaunchTemplate") or {}).get("Overrides") or []
    weight = str(overrides[0].get("WeightedCapacity", "1")) if overrides else "1"
    return math.ceil(desired / int(weight)) if weight.isdigit() and int(weight) > 0 else desired


def pool_target(group: Any) -> int:
    """PutWarmPool, MaxGroupPreparedCapacity and MinSize."""
    config = getattr(group, "warm_pool", None)
    if config is None:
        return 0
    prepared = config.max_group_prepared_capacity
    ceiling = group.max_size if prepared in (None, -1) else int(prepared)
    return max(int(config.min_size or 0), (ceiling or 0) - (group.desired_capacity or 0), 0)


def find(backend: Any, instance_id: str) -> tuple[Any, Any, bool] | None:
    """(group, entry, in the warm pool?) of an instance of any group of `backend`."""
    for group in backend.autoscaling_groups.values():
        for entry in group.instance_states:
            if entry.instance.id == instance_id:
                return group, entry, False
        for entry in lifecycle(group).pool:
            if entry.instance.id == instance_id:
                return group, entry, True
    return None


def active_refresh(group: Any) -> Refresh | None:
    return next((r for r in lifecycle(group).refreshes if r.status in ACTIVE_REFRESH), None)


# --- zones -----------------------------------------------------------------------------------------


def _zones(group: Any) -> list[tuple[str | None, str]]:
    """(subnet or None, Availability Zone) in the group's order."""
    if group.vpc_zone_identifier:
        ids = group.vpc_zone_identifier.split(",")
        subnets = {s.id: s for s in group.autoscaling_backend.ec2_backend.describe_subnets(subnet_ids=ids)}
        return [(i, subnets[i].availability_zone) for i in ids if i in subnets]
    return [(None, zone) for zone in group.availability_zones]


def zone_load(group: Any, entries: list[Any]) -> dict[str, int]:
    load = {zone: 0 for _, zone in _zones(group)}
    for entry in entries:
        load[entry.availability_zone] = load.get(entry.availability_zone, 0) + 1
    return load


def _emptiest(group: Any, entries: list[Any]) -> tuple[str | None, str]:
    load = zone_load(group, entries)
    return min(_zones(group), key=lambda place: load[place[1]])


def _fullest_first(group: Any, candidates: list[Any], members: list[Any]) -> Any:
    """The default termination policy's pick: the zone with the most members, an older template, the oldest."""
    load = zone_load(group, members)
    zone = max((e.availability_zone for e in candidates), key=lambda z: load.get(z, 0))
    in_zone = [e for e in candidates if e.availability_zone == zone]
    current = template_spec(group)
    return next((e for e in in_zone if spec_of(e) != current), in_zone[0])


# --- launching -------------------------------------------------------------------------------------


def _ec2(group: Any) -> Any:
    return group.autoscaling_backend.ec2_backend


def _run_instance(group: Any, subnet: str | None, zone: str) -> Any:
    """One EC2 instance from the group's launch template as it is now (moto's own launch, one zone)."""
    from moto.autoscaling.models import ASG_NAME_TAG, InstanceState

    tags = {**group.get_propagated_tags(), ASG_NAME_TAG: group.name, **group.instance_tags}
    template = group.ec2_launch_template
    reservation = _ec2(group).run_instances(
        group.image_id,
        1,
        group.user_data,
        group.security_groups,
        instance_type=group.instance_type,
        tags={"instance": tags},
        placement=zone,
        launch_config=group.launch_config,
        launch_template={"LaunchTemplateId": template.id} if template is not None else None,
        is_instance_type_default=False,
        associate_public_ip=group.launch_config.associate_public_ip_address if group.launch_config else None,
        subnet_id=subnet,
    )
    instance = reservation.instances[0]
    instance.autoscaling_group = group
    entry = InstanceState(
        instance, lifecycle_state="Pending", protected_from_scale_in=bool(group.new_instances_protected_from_scale_in)
    )
    spec = template_spec(group)
    if template is not None and spec is not None:
        entry.__dict__["launched_template"] = {
            "LaunchTemplateId": template.id,
            "LaunchTemplateName": template.name,
            "Version": str(spec[1]),
        }
    else:
        entry.__dict__["launched_spec"] = spec
    return entry


def _wait(group: Any, entry: Any, transition: str, waiting: list[Any], in_pool: bool) -> None:
    start = now()
    limit = start + min(MAX_WAIT_S, 100 * min(h.heartbeat_timeout for h in waiting))
    deadlines = {h.name: start + h.heartbeat_timeout for h in waiting}
    lifecycle(group).actions[entry.instance.id] = Action(entry, transition, in_pool, deadlines, limit)


def begin_launch(group: Any, entry: Any, in_pool: bool) -> None:
    waiting = hooks(group, LAUNCHING)
    if waiting and not lifecycle(group).forced:
        entry.lifecycle_state = "Warmed:Pending:Wait" if in_pool else "Pending:Wait"
        _wait(group, entry, LAUNCHING, waiting, in_pool)
    else:
        _launched(group, entry, in_pool)


def _launched(group: Any, entry: Any, in_pool: bool) -> None:
    if not in_pool:
        entry.lifecycle_state = "InService"
        return
    config = getattr(group, "warm_pool", None)
    entry.lifecycle_state = READY_IN_POOL.get(config.pool_state if config else "Stopped", "Warmed:Stopped")
    if entry.lifecycle_state != "Warmed:Running":
        _ec2(group).stop_instances([entry.instance.id])


def _take_from_pool(group: Any, zone: str) -> Any:
    """A ready warm-pool instance for a scale-out (one in `zone` if any), started; None if there is none.
    During an instance refresh only pool instances on the group's launch template qualify."""
    lc = lifecycle(group)
    if "warm-pool" not in enabled:
        return None
    ready = [e for e in lc.pool if e.lifecycle_state in READY_IN_POOL.values()]
    if active_refresh(group) is not None:
        ready = [e for e in ready if spec_of(e) == template_spec(group)]
    if not ready:
        return None
    entry = next((e for e in ready if e.availability_zone == zone), ready[0])
    lc.pool.remove(entry)
    if entry.lifecycle_state != "Warmed:Running":
        _ec2(group).start_instances([entry.instance.id])
    entry.lifecycle_state = "Pending"
    return entry


def launch(group: Any, count: int, zone: str | None = None) -> None:
    """`count` instances into the group: from the warm pool first, else new ones, each to the emptiest zone
    (or `zone`), each through the launch hooks."""
    for _ in range(count):
        places = _zones(group)
        subnet, where = next((p for p in places if p[1] == zone), None) or _emptiest(group, counted(group))
        entry = _take_from_pool(group, where) if zone is None else None
        entry = entry or _run_instance(group, subnet, where)
        group.instance_states.append(entry)
        begin_launch(group, entry, in_pool=False)


# --- terminating -----------------------------------------------------------------------------------


def begin_termination(group: Any, entry: Any, in_pool: bool) -> None:
    """`entry` leaves the group (or the pool): through the termination hooks unless the group is deleted."""
    if "Terminat" in entry.lifecycle_state:
        return
    lc = lifecycle(group)
    lc.actions.pop(entry.instance.id, None)  # a launch still waiting on its hooks ends here
    waiting = [] if lc.forced else hooks(group, TERMINATING)
    if waiting:
        entry.lifecycle_state = "Warmed:Terminating:Wait" if in_pool else "Terminating:Wait"
        _wait(group, entry, TERMINATING, waiting, in_pool)
    else:
        terminated(group, entry, in_pool)


def terminated(group: Any, entry: Any, in_pool: bool) -> None:
    lc = lifecycle(group)
    lc.actions.pop(entry.instance.id, None)
    if entry.instance.state != "terminated":
        _ec2(group).terminate_instances([entry.instance.id])
    entry.lifecycle_state = "Warmed:Terminated" if in_pool else "Terminated"
    if in_pool:
        lc.pool = [e for e in lc.pool if e is not entry]
    else:
        group.instance_states = [e for e in group.instance_states if e is not entry]


# --- lifecycle actions -----------------------------------------------------------------------------


def complete(group: Any, action: Any, hook: str, result: str) -> None:
    """One hook of `action` answered (CompleteLifecycleAction, or its timeout with the DefaultResult)."""
    action.deadlines.pop(hook, None)
    if result != "ABANDON" and action.deadlines:
        return
    lifecycle(group).actions.pop(action.entry.instance.id, None)
    if action.transition == LAUNCHING and result != "ABANDON":
        _launched(group, action.entry, action.in_pool)
    else:
        terminated(group, action.entry, action.in_pool)


def heartbeat(group: Any, action: Any, hook: Any) -> None:
    """RecordLifecycleActionHeartbeat: the hook's timeout starts again, within the action's limit."""
    action.deadlines[hook.name] = min(now() + hook.heartbeat_timeout, action.limit)


def action_for(group: Any, instance_id: str | None, token: str | None) -> Action | None:
    for action in lifecycle(group).actions.values():
        if (token and action.token == token) or (not token and action.entry.instance.id == instance_id):
            return action
    return None


def _expire(group: Any, moment: float) -> bool:
    changed = False
    for action in list(lifecycle(group).actions.values()):
        for name, deadline in sorted(action.deadlines.items(), key=lambda item: item[1]):
            if moment < min(deadline, action.limit) or action.entry.instance.id not in lifecycle(group).actions:
                continue
            hook = group.autoscaling_backend.lifecycle_hooks.get(f"{group.name}_{name}")
            complete(group, action, name, hook.default_result if hook is not None else "CONTINUE")
            changed = True
    return changed


# --- capacity --------------------------------------------------------------------------------------


def reconcile(group: Any) -> None:
    """Launch or terminate until the group holds its desired capacity, then size the warm pool."""
    members = counted(group)
    need = target_count(group)
    if len(members) < need:
        launch(group, need - len(members))
    elif len(members) > need:
        candidates = [e for e in members if not e.protected_from_scale_in]
        for _ in range(min(len(members) - need, len(candidates))):
            pick = _fullest_first(group, candidates, members)
            candidates.remove(pick)
            members.remove(pick)
            begin_termination(group, pick, in_pool=False)
    _size_pool(group)


def _size_pool(group: Any) -> None:
    if "warm-pool" not in enabled or getattr(group, "warm_pool", None) is None or lifecycle(group).forced:
        return  # (forced: the group is being deleted)
    live = [e for e in lifecycle(group).pool if "Terminat" not in e.lifecycle_state]
    need = pool_target(group)
    for _ in range(need - len(live)):
        subnet, zone = _emptiest(group, live)
        entry = _run_instance(group, subnet, zone)
        entry.lifecycle_state = "Warmed:Pending"
        lifecycle(group).pool.append(entry)
        live.append(entry)
        begin_launch(group, entry, in_pool=True)
    current = template_spec(group)
    surplus = sorted(reversed(live), key=lambda e: spec_of(e) == current)[: max(len(live) - need, 0)]
    for entry in surplus:
        begin_termination(group, entry, in_pool=True)


def set_desired_capacity(group: Any, new_capacity: int | None) -> None:
    group.desired_capacity = group.min_size if new_capacity is None else new_capacity
    reconcile(group)
    backend = group.autoscaling_backend
    if group.name in backend.autoscaling_groups:
        backend.update_attached_elbs(group.name)
        backend.update_attached_target_groups(group.name)


def tick(backend: Any) -> None:
    """What time did to every group since the last request: timed-out lifecycle actions, refreshes."""
    moment = now()
    for group in list(backend.autoscaling_groups.values()):
        if _expire(group, moment):
            reconcile(group)
        refresh = active_refresh(group)
        if refresh is not None:
            advance(group, refresh)


# --- instance refresh ------------------------------------------------------------------------------


def start_refresh(group: Any, strategy: str, preferences: dict[str, Any], desired: dict[str, Any] | None) -> Refresh:
    if desired and desired.get("LaunchTemplate"):
        group._set_launch_configuration(None, desired["LaunchTemplate"], None)
    refresh = Refresh(
        id=str(uuid.uuid4()),
        strategy=strategy,
        preferences={"MinHealthyPercentage": DEFAULT_MIN_HEALTHY, "SkipMatching": False, **preferences},
        desired_configuration=desired,
        target=template_spec(group),
        live_ids={e.instance.id for e in group.instance_states},
        pool_ids={e.instance.id for e in lifecycle(group).pool},
        started=dt.datetime.now(dt.timezone.utc),
    )
    lifecycle(group).refreshes.insert(0, refresh)
    advance(group, refresh)
    return refresh


def _left(refresh: Refresh, entries: list[Any]) -> list[Any]:
    return [e for e in entries if refresh.replaces(e)]


def advance(group: Any, refresh: Refresh) -> None:
    """InService instances first, then the warm pool's (warm pools guide, "Update the instances in a warm
    pool"); Successful once nothing to replace is left and no replacement waits on a hook."""
    for entry in _left(refresh, [e for e in group.instance_states if e.lifecycle_state == "InService"]):
        begin_termination(group, entry, in_pool=False)
    reconcile(group)
    if _left(refresh, group.instance_states) or any(e.lifecycle_state != "InService" for e in counted(group)):
        return
    pool = lifecycle(group).pool
    for entry in _left(refresh, [e for e in pool if e.lifecycle_state in READY_IN_POOL.values()]):
        begin_termination(group, entry, in_pool=True)
    _size_pool(group)
    if _left(refresh, pool) or any(e.lifecycle_state not in READY_IN_POOL.values() for e in pool):
        return
    refresh.status, refresh.ended = "Successful", dt.datetime.now(dt.timezone.utc)


def describe_refresh(group: Any, refresh: Refresh) -> dict[str, Any]:
    live_left = len(_left(refresh, group.instance_states))
    pool_left = len(_left(refresh, lifecycle(group).pool))
    live_total = len(refresh.live_ids) or 1
    pool_total = len(refresh.pool_ids) or 1
    done = refresh.status == "Successful"

    def percent(left: int, total: int) -> int:
        return 100 if done else int(100 * (total - left) / total)

    return {
        "InstanceRefreshId": refresh.id,
        "AutoScalingGroupName": group.name,
        "Status": refresh.status,
        "StartTime": refresh.started,
        "EndTime": refresh.ended,
        "PercentageComplete": percent(live_left + pool_left, live_total + pool_total),
        "InstancesToUpdate": live_left + pool_left,
        "ProgressDetails": {
            "LivePoolProgress": {"PercentageComplete": percent(live_left, live_total), "InstancesToUpdate": live_left},
            "WarmPoolProgress": {"PercentageComplete": percent(pool_left, pool_total), "InstancesToUpdate": pool_left},
        },
        "Preferences": refresh.preferences,
        "DesiredConfiguration": refresh.desired_configuration,
        "Strategy": refresh.strategy,
    }


# --- installing ------------------------------------------------------------------------------------


def _wrap(cls: type, name: str, factory: Callable[[Any], Any]) -> None:
    original = getattr(cls, name)
    setattr(cls, name, functools.wraps(original)(factory(original)))


def put(cls: type, **members: Any) -> None:
    """Give one of moto's classes these members (by setattr: mypy knows moto's own declared types)."""
    for name, value in members.items():
        setattr(cls, name, value)


_installed = False


def install() -> None:
    """Put this model in place of moto's capacity logic (idempotent)."""
    global _installed
    if _installed:
        return
    from moto.autoscaling.models import AutoScalingBackend, FakeAutoScalingGroup, InstanceState
    from moto.autoscaling.responses import AutoScalingResponse

    put(FakeAutoScalingGroup, set_desired_capacity=set_desired_capacity)
    put(FakeAutoScalingGroup, replace_autoscaling_group_instances=lambda self, n, _tags: launch(self, n))
    put(FakeAutoScalingGroup, warm_pool_size=property(_warm_pool_size))
    _wrap(FakeAutoScalingGroup, "update", _clamped_update)
    _wrap(FakeAutoScalingGroup, "put_warm_pool", _then_reconcile)
    put(InstanceState, launch_template=_launched_template(InstanceState.launch_template))
    _wrap(AutoScalingBackend, "delete_auto_scaling_group", _deleting)
    _wrap(AutoScalingBackend, "describe_auto_scaling_instances", _with_pool)
    put(AutoScalingBackend, terminate_instance=terminate_instance)
    put(AutoScalingBackend, notify_terminate_instances=notify_terminate_instances)
    _wrap(AutoScalingResponse, "call_action", _ticking)
    _installed = True


def _warm_pool_size(group: Any) -> int | None:
    """DescribeAutoScalingGroups' WarmPoolSize (moto has none)."""
    return len(lifecycle(group).pool) if getattr(group, "warm_pool", None) is not None else None


def _ticking(original: Any) -> Any:
    def call_action(self: Any) -> Any:
        with LOCK:
            tick(self.autoscaling_backend)
            return original(self)

    return call_action


def _clamped_update(original: Any) -> Any:
    """UpdateAutoScalingGroup: a desired capacity left out is kept, within the new MinSize and MaxSize (moto
    derived it from the number of instances)."""

    def update(self: Any, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("desired_capacity") is None:
            desired = self.desired_capacity or 0
            high, low = kwargs.get("max_size"), kwargs.get("min_size")
            if high is not None:
                desired = min(desired, high)
            if low is not None:
                desired = max(desired, low)
            kwargs["desired_capacity"] = desired
        original(self, *args, **kwargs)

    return update


def _then_reconcile(original: Any) -> Any:
    def put_warm_pool(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        reconcile(self)

    return put_warm_pool


def _launched_template(original: Any) -> Any:
    """An instance reports the launch template version it was launched from (moto: the group's default)."""

    def launch_template(self: Any) -> Any:
        return self.__dict__.get("launched_template") or original.fget(self)

    return property(launch_template)


def _deleting(original: Any) -> Any:
    """DeleteAutoScalingGroup: every instance and the warm pool go at once, hooks skipped (ForceDelete), and
    the group's lifecycle hooks go with it (moto kept them for a later group of the same name)."""

    def delete_auto_scaling_group(self: Any, group_name: str) -> None:
        group = self.autoscaling_groups.get(group_name)
        if group is not None:
            lc = lifecycle(group)
            lc.forced = True
            for entry in list(lc.pool):
                terminated(group, entry, in_pool=True)
            for entry in list(group.instance_states):  # Standby and waiting ones too
                terminated(group, entry, in_pool=False)
        original(self, group_name)
        for key in [k for k, h in self.lifecycle_hooks.items() if h.auto_scaling_group_name == group_name]:
            del self.lifecycle_hooks[key]

    return delete_auto_scaling_group


def _with_pool(original: Any) -> Any:
    def describe_auto_scaling_instances(self: Any, instance_ids: list[str]) -> list[Any]:
        pool = [e for g in self.autoscaling_groups.values() for e in lifecycle(g).pool]
        return original(self, instance_ids) + [e for e in pool if not instance_ids or e.instance.id in instance_ids]

    return describe_auto_scaling_instances


def terminate_instance(self: Any, instance_id: str, should_decrement: bool) -> Any:
    """TerminateInstanceInAutoScalingGroup, through the rules' checks and the termination hooks."""
    from moto.autoscaling.exceptions import ValidationError
    from moto.autoscaling.models import TerminateInstanceActivity

    found = find(self, instance_id)
    if found is None:
        raise ValidationError(f"Instance Id not found - No managed instance found for instance ID: {instance_id}")
    group, entry, in_pool = found
    for check in terminate_checks:
        check(group, entry, in_pool)
    original_size = group.desired_capacity
    if should_decrement:
        group.desired_capacity = max((group.desired_capacity or 0) - 1, 0)
    begin_termination(group, entry, in_pool)
    reconcile(group)
    if should_decrement:
        for rule in after_decrement:
            rule(group)
    return TerminateInstanceActivity(entry.instance, original_size)


def notify_terminate_instances(self: Any, instance_ids: list[str]) -> None:
    """EC2 TerminateInstances on a group's instance: it leaves the group, which launches a replacement."""
    with LOCK:
        _forget(self, instance_ids)


def _forget(self: Any, instance_ids: list[str]) -> None:
    for group in self.autoscaling_groups.values():
        lc = lifecycle(group)
        gone = [e for e in group.instance_states if e.instance.id in instance_ids]
        gone_from_pool = [e for e in lc.pool if e.instance.id in instance_ids]
        for entry in gone:
            terminated(group, entry, in_pool=False)
        for entry in gone_from_pool:
            terminated(group, entry, in_pool=True)
        if gone or gone_from_pool:
            reconcile(group)
            self.update_attached_elbs(group.name)


# --- API calls the rules add or replace (AutoScalingResponse methods) ------------------------------

PUT_LIFECYCLE_HOOK_DOC = "https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_PutLifecycleHook.html"


def error(code: str, message: str) -> Exception:
    """An Auto Scaling error in the query protocol's wire format (moto serializes it; the HTTP status is the
    one botocore's model gives the code, 400 for ValidationError)."""
    from moto.autoscaling.exceptions import AutoscalingClientError

    return AutoscalingClientError(code, message)


def group_named(backend: Any, name: str) -> Any:
    group = backend.autoscaling_groups.get(name)
    if group is None:
        raise error("ValidationError", f"AutoScalingGroup name not found - AutoScalingGroup {name} not found")
    return group


def check_heartbeat(seconds: Any) -> None:
    if seconds is not None and not 30 <= int(seconds) <= 7200:
        raise error(
            "ValidationError",
            f"HeartbeatTimeout {seconds} is out of range: from 30 to 7200 seconds (EC2 Auto Scaling API "
            f"Reference, PutLifecycleHook, {PUT_LIFECYCLE_HOOK_DOC})",
        )


def _action_of(response: Any) -> tuple[Any, Action, Any]:
    """(group, action, hook) a CompleteLifecycleAction or RecordLifecycleActionHeartbeat names."""
    backend = response.autoscaling_backend
    group = group_named(backend, response._get_param("AutoScalingGroupName"))
    name = response._get_param("LifecycleHookName")
    hook = backend.lifecycle_hooks.get(f"{group.name}_{name}")
    if hook is None:
        raise error("ValidationError", f"No Lifecycle Hook named {name} found for Auto Scaling group {group.name}")
    instance, token = response._get_param("InstanceId"), response._get_param("LifecycleActionToken")
    action = action_for(group, instance, token)
    if action is None or name not in action.deadlines:
        what = f"token {token}" if token else f"instance ID {instance}"
        raise error("ValidationError", f"No active Lifecycle Action found with {what}")
    return group, action, hook


def complete_lifecycle_action(self: Any) -> Any:
    """CompleteLifecycleAction: the hook of a waiting instance is answered. Each completion is also kept in
    the backend's `completed_lifecycle_actions` (tests read it)."""
    from moto.core.responses import EmptyResult

    result = self._get_param("LifecycleActionResult")
    if result not in ("CONTINUE", "ABANDON"):
        raise error("ValidationError", f"Invalid LifecycleActionResult {result}: CONTINUE or ABANDON")
    group, action, hook = _action_of(self)
    self.autoscaling_backend.__dict__.setdefault("completed_lifecycle_actions", []).append(
        {
            "AutoScalingGroupName": group.name,
            "LifecycleHookName": hook.name,
            "InstanceId": action.entry.instance.id,
            "LifecycleActionToken": self._get_param("LifecycleActionToken"),
            "LifecycleActionResult": result,
        }
    )
    complete(group, action, hook.name, result)
    reconcile(group)
    return EmptyResult()


def record_lifecycle_action_heartbeat(self: Any) -> Any:
    from moto.core.responses import EmptyResult

    group, action, hook = _action_of(self)
    heartbeat(group, action, hook)
    return EmptyResult()


def hooks_before_launch(original: Any) -> Any:
    """CreateAutoScalingGroup's LifecycleHookSpecificationList: the hooks exist before the group launches
    its first instance (moto ignored the list)."""

    def create_auto_scaling_group(self: Any) -> Any:
        backend, name = self.autoscaling_backend, self._get_param("AutoScalingGroupName")
        specs = self._get_param("LifecycleHookSpecificationList") or []
        for spec in specs:
            check_heartbeat(spec.get("HeartbeatTimeout"))
        keys = []
        for spec in specs:
            timeout = spec.get("HeartbeatTimeout")
            backend.create_lifecycle_hook(
                name=spec["LifecycleHookName"],
                as_name=name,
                transition=spec["LifecycleTransition"],
                timeout=int(timeout) if timeout is not None else None,
                result=spec.get("DefaultResult"),
            )
            keys.append(f"{name}_{spec['LifecycleHookName']}")
        try:
            return original(self)
        except Exception:
            for key in keys:
                backend.lifecycle_hooks.pop(key, None)
            raise

    return create_auto_scaling_group


def heartbeat_in_range(original: Any) -> Any:
    def put_lifecycle_hook(self: Any) -> Any:
        check_heartbeat(self._get_int_param("HeartbeatTimeout"))
        return original(self)

    return put_lifecycle_hook


def describe_warm_pool(self: Any) -> Any:
    from moto.core.responses import ActionResult

    group = group_named(self.autoscaling_backend, self._get_param("AutoScalingGroupName"))
    config = getattr(group, "warm_pool", None)
    return ActionResult({"WarmPoolConfiguration": config, "Instances": list(lifecycle(group).pool) if config else []})


def pool_goes_with_it(original: Any) -> Any:
    """DeleteWarmPool: its instances are terminated (at once, ForceDelete or not: not modelled further)."""

    def delete_warm_pool(self: Any, group_name: str) -> None:
        group = group_named(self, group_name)
        for entry in list(lifecycle(group).pool):
            terminated(group, entry, in_pool=True)
        original(self, group_name)

    return delete_warm_pool


def start_instance_refresh(self: Any) -> Any:
    from moto.core.responses import ActionResult

    group = group_named(self.autoscaling_backend, self._get_param("AutoScalingGroupName"))
    if active_refresh(group) is not None:
        raise error(
            "InstanceRefreshInProgress",
            "The request failed because an active instance refresh already exists for the specified Auto Scaling "
            "group.",
        )
    refresh = start_refresh(
        group,
        self._get_param("Strategy") or "Rolling",
        self._get_param("Preferences") or {},
        self._get_param("DesiredConfiguration"),
    )
    return ActionResult({"InstanceRefreshId": refresh.id})


def describe_instance_refreshes(self: Any) -> Any:
    from moto.core.responses import ActionResult

    group = group_named(self.autoscaling_backend, self._get_param("AutoScalingGroupName"))
    wanted = self._get_param("InstanceRefreshIds") or []
    found = [r for r in lifecycle(group).refreshes if not wanted or r.id in wanted]
    start = int(self._get_param("NextToken") or 0)
    size = self._get_int_param("MaxRecords") or 50
    page = found[start : start + size]
    more = str(start + size) if len(found) > start + size else None
    return ActionResult({"InstanceRefreshes": [describe_refresh(group, r) for r in page], "NextToken": more})


def cancel_instance_refresh(self: Any) -> Any:
    from moto.core.responses import ActionResult

    group = group_named(self.autoscaling_backend, self._get_param("AutoScalingGroupName"))
    refresh = active_refresh(group)
    if refresh is None:
        raise error(
            "ActiveInstanceRefreshNotFound",
            "The request failed because an active instance refresh or rollback for the specified Auto Scaling "
            "group was not found.",
        )
    refresh.status, refresh.ended = "Cancelled", dt.datetime.now(dt.timezone.utc)
    return ActionResult({"InstanceRefreshId": refresh.id})


def rebalance(group: Any) -> None:
    """Availability Zone rebalancing: launch in the emptiest zone, then terminate in the fullest, until no two
    zones differ by more than one instance; nothing while AZRebalance is suspended."""
    if "AZRebalance" in {p["ProcessName"] for p in group.suspended_processes}:
        return
    for _ in range(len(counted(group))):
        load = zone_load(group, counted(group))
        small, big = min(load, key=lambda z: load[z]), max(load, key=lambda z: load[z])
        if load[big] - load[small] <= 1:
            return
        launch(group, 1, zone=small)
        members = counted(group)
        candidates = [e for e in members if e.availability_zone == big and not e.protected_from_scale_in]
        if not candidates:
            return
        begin_termination(group, _fullest_first(group, candidates, members), in_pool=False)
