"""The stack's outputs, declared once: each row names an output, describes it and says where its value
comes from; the stack writes one Terraform output per row (synthesis/constructs/stack.py), `deploy`
copies them to STACK_DIR/outputs.json, and the client reads the rows marked `client` into
`client.stack_info.StackInfo`, whose fields bear the same names.

Output names are a public interface (outputs.json, the client, scripts): never rename or remove one.
Compare terraform-aws-modules' outputs.tf: each output declared once, with its description and value.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StackOutput:
    name: str
    description: str
    value: str
    """Where the stack takes the value: a dotted path into its parts (`config`, `design`, the constructs
    `queues`, `buckets`, `service`, `fleet`, `backstop`, the client `policies`, and `derived` values such as
    `service_names`), resolved by synthesis/constructs/stack.py."""
    client: bool = False
    """The client reads this output into the `StackInfo` field of the same name."""


STACK_OUTPUTS: tuple[StackOutput, ...] = (
    StackOutput("stack_name", "StackName of the model file", "config.stack_name", client=True),
    StackOutput("region", "AWS region of the stack", "config.region", client=True),
    StackOutput(
        "video_queue_name", "FIFO queue receiving one message per video (VIDEO_QUEUE)", "queues.video.name", client=True
    ),
    StackOutput("video_queue_url", "URL of the video queue, for sending jobs", "queues.video.url", client=True),
    StackOutput("video_queue_arn", "ARN of the video queue", "queues.video.arn"),
    StackOutput("track_queue_name", "FIFO queue of SUCCESS results (TRACK_QUEUE)", "queues.track.name", client=True),
    StackOutput("track_queue_url", "URL of the track queue", "queues.track.url", client=True),
    StackOutput("track_queue_arn", "ARN of the track queue", "queues.track.arn"),
    StackOutput(
        "dead_queue_name", "FIFO dead-letter queue of FAILED videos (DEAD_QUEUE)", "queues.dead.name", client=True
    ),
    StackOutput("dead_queue_url", "URL of the dead-letter queue", "queues.dead.url", client=True),
    StackOutput("dead_queue_arn", "ARN of the dead-letter queue", "queues.dead.arn"),
    StackOutput("video_bucket", "bucket receiving uploaded videos (VIDEO_BUCKET)", "buckets.video.name", client=True),
    StackOutput(
        "tracks_bucket", "bucket receiving .tracks.tar.gz results (TRACK_BUCKET)", "buckets.tracks.name", client=True
    ),
    StackOutput("cluster_name", "ECS cluster", "service.cluster.name", client=True),
    StackOutput("service_name", "ECS service running the model", "service.service.name", client=True),
    StackOutput(
        "task_definition_family",
        "task definition family (TaskDefinition)",
        "service.task_definition.family",
        client=True,
    ),
    StackOutput("task_definition_arn", "task definition revision deployed", "service.task_definition.arn"),
    StackOutput("autoscaling_group_name", "Auto Scaling group of GPU instances", "fleet.group.name", client=True),
    StackOutput(
        "capacity_provider_name",
        "none since instances are sized directly (empty; kept so scripts reading it keep working)",
        "derived.no_capacity_provider",
    ),
    StackOutput("log_group_name", "CloudWatch log group of the model container", "service.log_group.name"),
    StackOutput(
        "alerts_topic_arn",
        "SNS topic of the stack's alerts (videos stuck, stack halted): subscribe to it",
        "backstop.topic.arn",
        client=True,
    ),
    StackOutput("fleet_size", "FleetSize: the group's maximum, restored by `resume`", "config.fleet_size", client=True),
    StackOutput(
        "tasks_per_instance",
        "tasks one instance runs (its GPUs // GpusPerTask): `submit` sizes the group with it",
        "design.tasks_per_instance",
        client=True,
    ),
    StackOutput(
        "service_names",
        "the daemon services (one per GPU slot of an instance), comma-separated",
        "derived.service_names",
        client=True,
    ),
    StackOutput(
        "client_policy_arn",
        "IAM policy to attach to whoever runs submit/status/results on this stack",
        "policies.client_policy.arn",
    ),
    StackOutput(
        "client_stop_policy_arn",
        "IAM policy to attach, with client_policy_arn, to whoever may run stop/resume",
        "policies.client_stop_policy.arn",
    ),
    StackOutput(
        "client_stack_name_policy_arn",
        "IAM policy for the client's --stack-name (reads every task definition of the account: opt-in)",
        "policies.client_stack_name_policy.arn",
    ),
)
