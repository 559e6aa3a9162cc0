"""What the stack sees of its instances on AWS, and what AWS keeps after the fact, so `ecs-autoscale report`
works on the emulator: the Auto Scaling activity history, the instance types the group launches, and the
instance agents' milestones in the log group.

Gap 1 (moto 5.2.5): DescribeScalingActivities always answers an empty list, and launches and terminations of
a group's instances leave no activity at all (moto builds a TerminateInstanceActivity for
TerminateInstanceInAutoScalingGroup and drops it). On AWS every launch and termination is an activity
kept for six weeks, with the instance id in its description and its start and end times ("If you omit
this parameter, all activities for the past six weeks are described": EC2 Auto Scaling API Reference,
DescribeScalingActivities, https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DescribeScalingActivities.html).
`report` reads instance launch and termination times there after the instances are gone.

Recorded here, in the shape and wording AWS uses (EC2 Auto Scaling User Guide, "Verify a scaling activity
for an Auto Scaling group"):
  "Launching a new EC2 instance: i-..."   when an instance is launched for the group (EC2 RunInstances with
                                          the group's aws:autoscaling:groupName tag, whatever path ran it);
  "Terminating EC2 instance: i-..."       when an instance of a group terminates: scale-in, the instance
                                          agent's TerminateInstanceInAutoScalingGroup, a force delete.
The emulator launches and terminates at once, so each activity starts and ends at the moment it happened
(StatusCode Successful, Progress 100). Answers are newest first, paged by MaxRecords (at most 100) and
NextToken, filtered by AutoScalingGroupName and ActivityIds.

Gap 2 (moto 5.2.5): a group with a mixed instances policy launches its instances with the launch template's
instance type, which this stack leaves unset (the types are the policy's overrides), so moto falls back to
its default type. AWS launches the policy's types; with the "prioritized" on-demand strategy (and
capacity-optimized-prioritized for Spot) the first override whenever it has capacity (EC2 Auto Scaling API
Reference, InstancesDistribution). The emulator launches the first override.

Gap 3 (moto 5.2.5): FilterLogEvents ignores logStreamNamePrefix and answers the events of every stream of
the group. AWS "filters the results to include only events from log streams that have names starting with
this prefix" (CloudWatch Logs API Reference, FilterLogEvents,
https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_FilterLogEvents.html): `report` asks
for the agents' streams (ecs-autoscale-agent/<instance id>) in a group the workers' container logs share.
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

MAX_RECORDS = 100
"""DescribeScalingActivities: 'The default value is 100 and the maximum value is 100.'"""

_why = threading.local()
USER_REQUEST = "in response to a user request"
CAPACITY = "in response to a difference between desired and actual capacity"


def _history(account: str, region: str) -> list[dict[str, Any]]:
    """The activities recorded in one account and region (kept on its Auto Scaling backend)."""
    from moto.autoscaling.models import autoscaling_backends

    backend = autoscaling_backends[account][region]
    if not hasattr(backend, "recorded_activities"):
        backend.recorded_activities = []
    history: list[dict[str, Any]] = backend.recorded_activities
    return history


def _stamp(moment: Any) -> str:
    return str(moment.strftime("%Y-%m-%dT%H:%M:%SZ"))


def _record(ec2: Any, group_name: str, instance: Any, description: str, cause: str) -> None:
    from moto.autoscaling.models import autoscaling_backends
    from moto.core.utils import utcnow

    now = utcnow()
    group = autoscaling_backends[ec2.account_id][ec2.region_name].autoscaling_groups.get(group_name)
    placement = getattr(instance, "placement", None)
    activity = {
        "ActivityId": str(uuid.uuid4()),
        "AutoScalingGroupName": group_name,
        "Description": f"{description}: {instance.id}",
        "Cause": cause.replace("{now}", _stamp(now)),
        "StartTime": now,
        "EndTime": now,
        "StatusCode": "Successful",
        "Progress": 100,
        "Details": json.dumps(
            {"Subnet ID": getattr(instance, "subnet_id", None), "Availability Zone": str(placement or "")}
        ),
    }
    if group is not None:
        activity["AutoScalingGroupARN"] = group.arn
    _history(ec2.account_id, ec2.region_name).append(activity)


def autoscaling_records_launches() -> None:
    """A launch activity for every instance launched for a group: EC2 instances tagged with the group's
    name (aws:autoscaling:groupName), whichever path launched them (moto's own scale-out, or a model of
    the group's instances layered on it)."""
    from moto.autoscaling.models import ASG_NAME_TAG
    from moto.ec2.models.instances import InstanceBackend

    run_instances = InstanceBackend.run_instances

    def launched(self: Any, *args: Any, **kwargs: Any) -> Any:
        reservation = run_instances(self, *args, **kwargs)
        group_name = ((kwargs.get("tags") or {}).get("instance") or {}).get(ASG_NAME_TAG)
        if group_name:
            for instance in reservation.instances:
                _record(
                    self,
                    group_name,
                    instance,
                    "Launching a new EC2 instance",
                    f"At {{now}} an instance was started {CAPACITY}.",
                )
        return reservation

    InstanceBackend.run_instances = launched


def autoscaling_records_terminations() -> None:
    """A termination activity for every instance of a group that terminates, whatever asked for it."""
    from moto.autoscaling.models import AutoScalingBackend
    from moto.ec2.models.instances import InstanceBackend

    terminate_instances = InstanceBackend.terminate_instances
    terminate_instance = AutoScalingBackend.terminate_instance

    def terminated(self: Any, instance_ids: list[str]) -> Any:
        result = terminate_instances(self, instance_ids)
        why = getattr(_why, "cause", CAPACITY)
        for instance, previous in result:
            group = getattr(instance, "autoscaling_group", None)
            if group is not None and getattr(previous, "name", "") != "terminated":
                _record(
                    self,
                    group.name,
                    instance,
                    "Terminating EC2 instance",
                    f"At {{now}} instance {instance.id} was taken out of service {why}.",
                )
        return result

    def on_request(self: Any, instance_id: str, should_decrement: bool) -> Any:
        _why.cause = USER_REQUEST
        try:
            return terminate_instance(self, instance_id, should_decrement)
        finally:
            _why.cause = CAPACITY

    InstanceBackend.terminate_instances = terminated
    AutoScalingBackend.terminate_instance = on_request


def autoscaling_describe_scaling_activities() -> None:
    """DescribeScalingActivities answers the recorded history (newest first, paged)."""
    from moto.autoscaling.exceptions import ValidationError
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.responses import ActionResult

    def describe_scaling_activities(self: Any) -> Any:
        group = self._get_param("AutoScalingGroupName")
        wanted = set(self._get_param("ActivityIds", []) or [])
        limit = self._get_int_param("MaxRecords") or MAX_RECORDS
        if not 1 <= limit <= MAX_RECORDS:
            raise ValidationError(f"MaxRecords must be between 1 and {MAX_RECORDS}")
        backend = self.autoscaling_backend
        found = [
            a
            for a in _history(backend.account_id, backend.region_name)
            if (not group or a["AutoScalingGroupName"] == group) and (not wanted or a["ActivityId"] in wanted)
        ]
        found.sort(key=lambda a: a["StartTime"], reverse=True)
        token = self._get_param("NextToken")
        start = int(token) if token and str(token).isdigit() else 0
        page = found[start : start + limit]
        result: dict[str, Any] = {"Activities": page}
        if start + limit < len(found):
            result["NextToken"] = str(start + limit)
        return ActionResult(result)

    AutoScalingResponse.describe_scaling_activities = describe_scaling_activities


def autoscaling_launches_the_mixed_policy_type() -> None:
    """A group whose launch template names no instance type launches its mixed instances policy's first
    override (the emulator always has capacity for it)."""
    from moto.autoscaling.models import FakeAutoScalingGroup

    template_type = FakeAutoScalingGroup.instance_type.fget

    def instance_type(self: Any) -> Any:
        found = template_type(self)
        overrides = ((self.mixed_instances_policy or {}).get("LaunchTemplate") or {}).get("Overrides") or []
        if found or not overrides:
            return found
        return overrides[0].get("InstanceType") or found

    FakeAutoScalingGroup.instance_type = property(instance_type)


def logs_filter_by_stream_prefix() -> None:
    """FilterLogEvents with logStreamNamePrefix: only the streams whose names start with it (AWS refuses
    the prefix together with logStreamNames)."""
    from moto.logs.exceptions import InvalidParameterException
    from moto.logs.responses import LogsResponse

    original = LogsResponse.filter_log_events

    def filter_log_events(self: Any) -> str:
        prefix = self._get_param("logStreamNamePrefix")
        if not prefix:
            return original(self)
        if self._get_param("logStreamNames"):
            raise InvalidParameterException("Cannot specify both logStreamNames and logStreamNamePrefix")
        group = self.logs_backend.groups.get(self._get_param("logGroupName"))
        names = [name for name in (group.streams if group else {}) if name.startswith(prefix)]
        if not names:
            return json.dumps({"events": [], "searchedLogStreams": []})
        request = {k: v for k, v in json.loads(self.body).items() if k != "logStreamNamePrefix"}
        self.body = json.dumps({**request, "logStreamNames": names})  # moto reads its parameters from the body
        return original(self)

    LogsResponse.filter_log_events = filter_log_events


PATCHES = (
    autoscaling_records_launches,
    autoscaling_records_terminations,
    autoscaling_describe_scaling_activities,
    autoscaling_launches_the_mixed_policy_type,
    logs_filter_by_stream_prefix,
)
