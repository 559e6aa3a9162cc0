"""The stack's outputs, declared once: the stack writes one Terraform output per row
(synthesis/constructs/stack.py), `deploy` copies them to STACK_DIR/outputs.json, and the client reads the
rows it needs into `client.stack_info.StackInfo`, whose field each row names.

Output names are a public interface (outputs.json, the client, scripts): never rename or remove one.
Compare terraform-aws-modules' outputs.tf: each output declared once, with its description.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StackOutput:
    name: str
    description: str
    client_field: str | None = None
    """The `StackInfo` field the client reads this output into; None when the client does not read it."""


STACK_OUTPUTS: tuple[StackOutput, ...] = (
    StackOutput("stack_name", "StackName of the model file", "stack_name"),
    StackOutput("region", "AWS region of the stack", "region"),
    StackOutput("video_queue_name", "FIFO queue receiving one message per video (VIDEO_QUEUE)", "video_queue_name"),
    StackOutput("video_queue_url", "URL of the video queue, for sending jobs", "video_queue_url"),
    StackOutput("video_queue_arn", "ARN of the video queue"),
    StackOutput("track_queue_name", "FIFO queue of SUCCESS results (TRACK_QUEUE)", "track_queue_name"),
    StackOutput("track_queue_url", "URL of the track queue", "track_queue_url"),
    StackOutput("track_queue_arn", "ARN of the track queue"),
    StackOutput("dead_queue_name", "FIFO dead-letter queue of FAILED videos (DEAD_QUEUE)", "dead_queue_name"),
    StackOutput("dead_queue_url", "URL of the dead-letter queue", "dead_queue_url"),
    StackOutput("dead_queue_arn", "ARN of the dead-letter queue"),
    StackOutput("video_bucket", "bucket receiving uploaded videos (VIDEO_BUCKET)", "video_bucket"),
    StackOutput("tracks_bucket", "bucket receiving .tracks.tar.gz results (TRACK_BUCKET)", "tracks_bucket"),
    StackOutput("cluster_name", "ECS cluster", "cluster_name"),
    StackOutput("service_name", "ECS service running the model", "service_name"),
    StackOutput("task_definition_family", "task definition family (TaskDefinition)", "task_definition_family"),
    StackOutput("task_definition_arn", "task definition revision deployed"),
    StackOutput("autoscaling_group_name", "Auto Scaling group of GPU instances", "autoscaling_group_name"),
    StackOutput(
        "capacity_provider_name",
        "none since instances are sized directly (empty; kept so scripts reading it keep working)",
    ),
    StackOutput("log_group_name", "CloudWatch log group of the model container"),
    StackOutput(
        "alerts_topic_arn",
        "SNS topic of the stack's alerts (videos stuck, stack halted): subscribe to it",
        "alerts_topic_arn",
    ),
    StackOutput("fleet_size", "FleetSize: the group's maximum, restored by `resume`", "fleet_size"),
    StackOutput(
        "tasks_per_instance",
        "tasks one instance runs (its GPUs // GpusPerTask): `submit` sizes the group with it",
        "tasks_per_instance",
    ),
    StackOutput(
        "service_names", "the daemon services (one per GPU slot of an instance), comma-separated", "service_names"
    ),
    StackOutput("client_policy_arn", "IAM policy to attach to whoever runs submit/status/results on this stack"),
    StackOutput(
        "client_stop_policy_arn", "IAM policy to attach, with client_policy_arn, to whoever may run stop/resume"
    ),
    StackOutput(
        "client_stack_name_policy_arn",
        "IAM policy for the client's --stack-name (reads every task definition of the account: opt-in)",
    ),
)
