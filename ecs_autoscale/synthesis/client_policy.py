"""What a person (or a script) needs to run the client on one stack: submit, status, results, stop, resume, report.

Attach the stack's `<StackName>-client` policy (output `client_policy_arn`) to the users or role that
run `ecs-autoscale submit/status/results/stop/resume/report`; deploying and destroying need far more and are
not covered. Every action is scoped to this stack's resources wherever the Service Authorization
Reference lists a resource type for it; "*" only where it lists none (the Describe* of Auto Scaling,
ecs:DescribeTaskDefinition, sts:GetCallerIdentity) or where ECS authorizes on the cluster condition
key instead (ecs:ListServices, ecs:ListTasks). Sources (Service Authorization Reference):
list_amazonsqs.html, list_amazons3.html, list_amazonec2autoscaling.html,
list_amazonelasticcontainerservice.html, list_amazoncloudwatch.html, list_awssecuritytokenservice.html,
list_amazoncloudwatchlogs.html.

Plain data like policy.py (no cdktf type): `account` is anything with `arn(service, resource)`, e.g.
infra/account.py's AccountContext; the stack wires the result as an aws_iam_policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..group import HALTED_TAG
from ..model.naming import ALARM_PURPOSES, StackNames
from .policy import Statement


class Account(Protocol):
    def arn(self, service: str, resource: str) -> str: ...


def client_statements(
    account: Account, names: StackNames, *, video_bucket_arn: str, tracks_bucket_arn: str, fleet_size: int | None = None
) -> list[Statement]:
    """The client's grants on this stack. `fleet_size`: when given, UpdateAutoScalingGroup may set
    MaxSize at most to it (`resume` restores FleetSize, never more)."""
    queue = {q: account.arn("sqs", q) for q in (names.video_queue, names.track_queue, names.dead_queue)}
    cluster = account.arn("ecs", f"cluster/{names.cluster}")
    group = account.arn("autoscaling", f"autoScalingGroup:*:autoScalingGroupName/{names.asg}")
    on_cluster = {"ArnEquals": {"ecs:cluster": cluster}}
    log_group = account.arn("logs", f"log-group:{names.log_group}:*")
    resize = {"NumericLessThanEquals": {"autoscaling:MaxSize": str(fleet_size)}} if fleet_size else {}
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
        # submit sizes the group (fast path); stop sets it to 0 and unprotects instances of older
        # deployments; resume restores it. No SetDesiredCapacity beyond MaxSize is possible anyway.
        Statement("SizeGroup", ["autoscaling:SetDesiredCapacity", "autoscaling:SetInstanceProtection"], [group]),
        Statement("StopAndResumeGroup", ["autoscaling:UpdateAutoScalingGroup"], [group], condition=resize),
        # resume removes the instance agent's halt tag, and no other tag.
        Statement(
            "ClearHalt",
            ["autoscaling:DeleteTags"],
            [group],
            condition={"ForAllValues:StringEquals": {"aws:TagKeys": [HALTED_TAG]}},
        ),
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
        # list_amazoncloudwatchlogs.html), written with the trailing ":*" IAM matches a log group by
        # (CloudWatch Logs User Guide, "CloudWatch Logs resources and operations"). Read-only, this group
        # only; no EC2 or ECS read is added (ec2:DescribeInstances takes no resource: it would read every
        # instance of the account): the milestones carry the instance type and lifecycle.
        Statement("ReadInstanceMilestones", ["logs:FilterLogEvents"], [log_group]),
        # status: the daemon services; --stack-name: the cluster, its services and the task definition.
        Statement("ReadCluster", ["ecs:DescribeClusters", "ecs:ListContainerInstances"], [cluster]),
        Statement("ReadServices", ["ecs:DescribeServices"], [account.arn("ecs", f"service/{names.cluster}/*")]),
        Statement("ListServicesAndTasks", ["ecs:ListServices", "ecs:ListTasks"], ["*"], condition=on_cluster),
        Statement("ReadTaskDefinition", ["ecs:DescribeTaskDefinition"], ["*"]),
        # stop: drain the instances (no worker restarts on them), then stop the workers (videos released).
        Statement(
            "DrainInstances",
            ["ecs:UpdateContainerInstancesState"],
            [account.arn("ecs", f"container-instance/{names.cluster}/*")],
        ),
        Statement("StopWorkers", ["ecs:StopTask"], [account.arn("ecs", f"task/{names.cluster}/*")]),
        Statement(
            "ReadAlarms",
            ["cloudwatch:DescribeAlarms"],
            [account.arn("cloudwatch", f"alarm:{names.alarm(p)}") for p in ALARM_PURPOSES],
        ),
        # submit: the user name in each message, as ecsprocess sends it.
        Statement("WhoAmI", ["sts:GetCallerIdentity"], ["*"]),
    ]


def client_actions(statements: Sequence[Statement]) -> set[str]:
    return {action for s in statements for action in s.actions}
