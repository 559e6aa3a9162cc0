"""What a person (or a script) needs to run the client on one stack, in three managed policies.

- `<StackName>-client` (output `client_policy_arn`), the default: submit, status, results, report. Give it
  to everyone who submits videos: it reaches nothing outside this stack's queues, buckets, group,
  cluster, alarms and log group.
- `<StackName>-client-stop` (output `client_stop_policy_arn`), opt-in, with the default one: stop and
  resume. They need autoscaling:UpdateAutoScalingGroup, and IAM can constrain only some of what that
  action changes (below), so it is not in the default policy.
- `<StackName>-client-stack-name` (output `client_stack_name_policy_arn`), opt-in: `--stack-name`,
  which reads the stack's task definition. ecs:DescribeTaskDefinition has no resource type and no
  condition key (Service Authorization Reference, Amazon ECS): whoever holds it reads the environment
  of every task definition in the account and region, other teams' included. A STACK_DIR with
  outputs.json (`ecs-autoscale outputs`) needs no such read.

UpdateAutoScalingGroup (Service Authorization Reference, Amazon EC2 Auto Scaling, "Condition keys"):
autoscaling:MinSize and autoscaling:MaxSize carry the request's sizes and are absent when the request
sets none, so NumericEquals/NumericLessThanEquals refuse a request without them: the minimum must be 0
(no instance can be pinned on) and the maximum at most FleetSize; the desired capacity, which has no
key, stays within them (EC2 Auto Scaling API reference, UpdateAutoScalingGroup). The Null conditions
refuse a request that names subnets, a launch configuration or instance types. A launch template or
mixed instances policy further needs ec2:RunInstances, which none of these policies grants (EC2 Auto
Scaling User Guide, "Control Amazon EC2 launch template usage in Auto Scaling groups"). What IAM cannot
constrain on this action: termination policies, maximum instance lifetime, scale-in protection of new
instances, health checks, cooldowns and warm-up, capacity rebalancing, placement group, availability
zone distribution and deletion protection: hence the opt-in policy.

Every action is scoped to this stack's resources wherever the Service Authorization Reference lists a
resource type for it; "*" only where it lists none (the Describe* of Auto Scaling,
ecs:DescribeTaskDefinition, sts:GetCallerIdentity) or where ECS authorizes on the cluster condition
key instead (ecs:ListServices, ecs:ListTasks). The extract of the reference the tests check against:
security/service-authorization.json.

Plain data like policy.py (no cdktf type): `account` is anything with `arn(service, resource)`, e.g.
constructs/account.py's AccountContext; the stack wires each result as an aws_iam_policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from ..group import HALTED_TAG
from ..model.naming import ALARM_PURPOSES, StackNames
from .policy import UNCHANGED_GROUP_SETTINGS, Statement


class Account(Protocol):
    def arn(self, service: str, resource: str) -> str: ...


def group_arn(account: Account, names: StackNames) -> str:
    return account.arn("autoscaling", f"autoScalingGroup:*:autoScalingGroupName/{names.asg}")


def resize_condition(fleet_size: int) -> dict[str, Any]:
    """UpdateAutoScalingGroup only to min 0 and max at most FleetSize, nothing else IAM can see."""
    return {
        "NumericEquals": {"autoscaling:MinSize": "0"},
        "NumericLessThanEquals": {"autoscaling:MaxSize": str(fleet_size)},
        "Null": {key: "true" for key in UNCHANGED_GROUP_SETTINGS},
    }


def client_statements(
    account: Account, names: StackNames, *, video_bucket_arn: str, tracks_bucket_arn: str
) -> list[Statement]:
    """The default policy: submit, status, results, report on this stack."""
    queue = {q: account.arn("sqs", q) for q in (names.video_queue, names.track_queue, names.dead_queue)}
    cluster = account.arn("ecs", f"cluster/{names.cluster}")
    on_cluster = {"ArnEquals": {"ecs:cluster": cluster}}
    log_group = account.arn("logs", f"log-group:{names.log_group}:*")
    return [
        # submit: queue one message per video (sqs:SendMessage also grants SendMessageBatch: SQS Developer
        # Guide, "Amazon SQS batch actions"); every command: queue depths, and GetQueueUrl for --stack-name.
        Statement(
            "QueueVideos", ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"], [queue[names.video_queue]]
        ),
        Statement("ReadTrackQueueDepth", ["sqs:GetQueueAttributes", "sqs:GetQueueUrl"], [queue[names.track_queue]]),
        # status: peek at failures (receive, then release at once with visibility 0); never delete.
        Statement(
            "PeekDeadQueue",
            ["sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
            [queue[names.dead_queue]],
        ),
        # ListBucket: HeadObject of a missing key answers 404 (not 403) only with it; status lists results.
        Statement("ListBuckets", ["s3:ListBucket"], [video_bucket_arn, tracks_bucket_arn]),
        # submit: HeadObject (s3:GetObject) to skip uploaded videos, multipart uploads (aborted on failure),
        # the cost-accounting tags of --tag/--tags-from (merged into a video already uploaded).
        Statement(
            "UploadVideos",
            ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:GetObjectTagging", "s3:PutObjectTagging"],
            [f"{video_bucket_arn}/*"],
        ),
        Statement("DownloadResults", ["s3:GetObject"], [f"{tracks_bucket_arn}/*"]),
        # submit sizes the group (fast path): AWS keeps the desired capacity within MaxSize (FleetSize).
        Statement("SizeGroup", ["autoscaling:SetDesiredCapacity"], [group_arn(account, names)]),
        # submit records when it last queued videos: agents hold their scale-in for a while after it.
        Statement("MarkSubmit", ["ssm:PutParameter"], [account.arn("ssm", "parameter" + names.submit_marker)]),
        # status shows the latest scaling activities; report reads the group's launches and terminations
        # there. The Service Authorization Reference lists no resource type for these Describe actions.
        Statement(
            "DescribeGroups",
            [
                "autoscaling:DescribeAutoScalingGroups",
                "autoscaling:DescribeScalingActivities",
                "autoscaling:DescribeWarmPool",
            ],
            ["*"],
        ),
        # report: the instance agents' milestones (streams ecs-autoscale-agent/<instance id>) in the stack's
        # log group. FilterLogEvents takes the log-group resource type (Service Authorization Reference,
        # Amazon CloudWatch Logs), written with the trailing ":*" IAM matches a log group by (CloudWatch Logs
        # User Guide, "CloudWatch Logs resources and operations"). Read-only, this group only. No EC2 or ECS
        # read is added: ec2:DescribeInstances takes no resource (it would read every instance of the
        # account), and the milestones carry the instance type and lifecycle.
        Statement("ReadInstanceMilestones", ["logs:FilterLogEvents"], [log_group]),
        # status: the daemon services; --stack-name: the cluster and its services.
        Statement("ReadCluster", ["ecs:DescribeClusters", "ecs:ListContainerInstances"], [cluster]),
        Statement("ReadServices", ["ecs:DescribeServices"], [account.arn("ecs", f"service/{names.cluster}/*")]),
        Statement("ListServicesAndTasks", ["ecs:ListServices", "ecs:ListTasks"], ["*"], condition=on_cluster),
        Statement(
            "ReadAlarms",
            ["cloudwatch:DescribeAlarms"],
            [account.arn("cloudwatch", f"alarm:{names.alarm(p)}") for p in ALARM_PURPOSES],
        ),
        # submit: the user name in each message, as ecsprocess sends it.
        Statement("WhoAmI", ["sts:GetCallerIdentity"], ["*"]),
    ]


def stop_statements(account: Account, names: StackNames, *, fleet_size: int) -> list[Statement]:
    """The opt-in policy for stop and resume (with the default one)."""
    group = group_arn(account, names)
    return [
        # stop sets the group to 0/0/0; resume restores min 0, max at most FleetSize.
        Statement(
            "StopAndResumeGroup",
            ["autoscaling:UpdateAutoScalingGroup"],
            [group],
            condition=resize_condition(fleet_size),
        ),
        # stop unprotects instances of older deployments (ECS managed termination protection), and releases
        # instances waiting in the termination hook (now, not when each agent finds its workers quiet).
        Statement(
            "UnprotectAndReleaseInstances",
            ["autoscaling:SetInstanceProtection", "autoscaling:CompleteLifecycleAction"],
            [group],
        ),
        # resume removes the instance agent's halt tag, and no other tag.
        Statement(
            "ClearHalt",
            ["autoscaling:DeleteTags"],
            [group],
            condition={"ForAllValues:StringEquals": {"aws:TagKeys": [HALTED_TAG]}},
        ),
        # stop: drain the instances (no worker restarts on them), then stop the workers (videos released).
        Statement(
            "DrainInstances",
            ["ecs:UpdateContainerInstancesState"],
            [account.arn("ecs", f"container-instance/{names.cluster}/*")],
        ),
        Statement("StopWorkers", ["ecs:StopTask"], [account.arn("ecs", f"task/{names.cluster}/*")]),
    ]


def stack_name_statements() -> list[Statement]:
    """The opt-in policy for `--stack-name`: the worker's environment names the queues and buckets."""
    # No resource type and no condition key for this action (Service Authorization Reference, Amazon ECS).
    return [Statement("ReadTaskDefinitions", ["ecs:DescribeTaskDefinition"], ["*"])]


def client_actions(statements: Sequence[Statement]) -> set[str]:
    return {action for s in statements for action in s.actions}
