"""The ECS side: cluster, log group, task and execution roles, the model's task definition, the services.

The services are DAEMON-scheduled, one per GPU slot of an instance: each places one task on every
registered instance, so tasks follow the instances the group launches, at once, and leave with them.
A replica service would need a desired count kept in step with the group. Daemon or replica, ECS's
service throttle logic spaces the restarts of tasks that repeatedly fail to start, up to 27 minutes
apart (ECS Developer Guide, "Amazon ECS service throttle logic"): the instance agent halts such a stack
after a few exits, long before.

The container keeps the original worker contract: named StackName, command
`dettrack -c <track_config> --model-s3 <model_location>`, and the environment PROCESSOR, VIDEO_QUEUE,
TRACK_QUEUE, DEAD_QUEUE (queue names), VIDEO_BUCKET, TRACK_BUCKET, AWS_REGION, DEFAULT_MAX_CALL_ATTEMPTS.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.ecs_cluster import EcsCluster, EcsClusterSetting
from cdktf_cdktf_provider_aws.ecs_service import EcsService
from cdktf_cdktf_provider_aws.ecs_task_definition import EcsTaskDefinition
from cdktf_cdktf_provider_aws.iam_role import IamRole

from ..policy import Statement, assume_role_policy
from .account import AccountContext
from .component import Component, Scope


@dataclass(frozen=True)
class WorkerContract:
    """Names and locations the worker reads from its environment (see docs/migrating.md: worker contract)."""

    video_queue_name: str
    track_queue_name: str
    dead_queue_name: str
    video_queue_arn: str
    track_queue_arn: str
    dead_queue_arn: str
    video_bucket_name: str
    video_bucket_arn: str
    tracks_bucket_name: str
    tracks_bucket_arn: str


@dataclass(frozen=True)
class ModelServiceProps:
    stack_name: str
    cluster_name: str
    service_names: tuple[str, ...]
    """One daemon service per GPU slot of an instance (GPUs of the type // GpusPerTask)."""
    task_family: str
    container_image: str
    track_config_uri: str
    model_location_uri: str
    model_objects: tuple[tuple[str, str], ...]
    """(bucket, key) of the model and the track config: the only outside objects the task may read."""
    task_role_name: str
    execution_role_name: str
    log_group_name: str
    region: str
    log_retention_days: int = 30
    memory_reservation_mib: int = 3072
    gpus_per_task: int = 1
    stop_timeout_seconds: int = 60
    max_call_attempts: int = 6
    """DEFAULT_MAX_CALL_ATTEMPTS of the worker's AWS SDK retries (the original's value)."""
    extra_args: tuple[str, ...] = ()
    extra_environment: dict[str, str] = field(default_factory=dict)
    ecr_repository: tuple[str, str, str] | None = None
    """(account, region, name) of the image's ECR repository, for a scoped pull permission."""
    secrets: tuple[tuple[str, str], ...] = ()
    """(NAME, ARN of an SSM parameter or Secrets Manager secret): the container's `secrets`."""
    secrets_kms_key: str | None = None
    """ARN of the customer-managed KMS key of those secrets, if any."""


def task_statements(account: AccountContext, props: ModelServiceProps, c: WorkerContract) -> list[Statement]:
    objects = [f"arn:{account.partition}:s3:::{bucket}/{key}" for bucket, key in props.model_objects]
    return [
        Statement(
            "TakeVideoJobs",
            [
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:ChangeMessageVisibility",
                "sqs:GetQueueAttributes",
                "sqs:GetQueueUrl",
            ],
            [c.video_queue_arn],
        ),
        Statement(
            "ReportResults",
            ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
            [c.track_queue_arn, c.dead_queue_arn],
        ),
        Statement("ListBuckets", ["s3:ListBucket"], [c.video_bucket_arn, c.tracks_bucket_arn]),
        Statement("ReadAndCleanVideos", ["s3:GetObject", "s3:DeleteObject"], [f"{c.video_bucket_arn}/*"]),
        Statement(
            "WriteTracks", ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"], [f"{c.tracks_bucket_arn}/*"]
        ),
        Statement("ReadModelAndTrackConfig", ["s3:GetObject"], objects),
        Statement(
            "ProtectOwnTaskFromScaleIn",
            ["ecs:UpdateTaskProtection", "ecs:GetTaskProtection"],
            [account.arn("ecs", f"task/{props.cluster_name}/*")],
        ),
    ]


def execution_statements(account: AccountContext, props: ModelServiceProps) -> list[Statement]:
    log_group = account.arn("logs", f"log-group:{props.log_group_name}")
    statements = [Statement("ContainerLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [f"{log_group}:*"])]
    statements += secrets_statements(props)
    if props.ecr_repository:
        repo_account, repo_region, repo = props.ecr_repository
        statements += [
            # GetAuthorizationToken supports no resource-level permission (AWS docs).
            Statement("EcrLogin", ["ecr:GetAuthorizationToken"], ["*"]),
            Statement(
                "PullModelImage",
                ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
                [f"arn:{account.partition}:ecr:{repo_region}:{repo_account}:repository/{repo}"],
            ),
        ]
    return statements


def secret_resource(value_from: str) -> str:
    """The IAM resource of a `valueFrom`: a secret ARN without its `:json-key:stage:version` suffix."""
    return ":".join(value_from.split(":")[:7])


def secrets_statements(props: ModelServiceProps) -> list[Statement]:
    """The execution role reads exactly the model file's Secrets at task start (ECS Developer Guide, "Pass
    sensitive data to an Amazon ECS container": ssm:GetParameters, secretsmanager:GetSecretValue, and
    kms:Decrypt for a customer-managed key). The key only through SSM or Secrets Manager of the secrets'
    regions (kms:ViaService, AWS KMS Developer Guide, "AWS KMS condition keys")."""
    arns = sorted({secret_resource(arn) for _, arn in props.secrets})
    parameters = [arn for arn in arns if arn.split(":")[2] == "ssm"]
    secrets = [arn for arn in arns if arn.split(":")[2] == "secretsmanager"]
    statements = []
    if parameters:
        statements.append(Statement("ReadSecretParameters", ["ssm:GetParameters"], parameters))
    if secrets:
        statements.append(Statement("ReadSecrets", ["secretsmanager:GetSecretValue"], secrets))
    if props.secrets_kms_key:
        suffix = "amazonaws.com.cn" if props.secrets_kms_key.startswith("arn:aws-cn:") else "amazonaws.com"
        via = sorted({f"{arn.split(':')[2]}.{arn.split(':')[3]}.{suffix}" for arn in arns})
        statements.append(
            Statement(
                "DecryptSecrets",
                ["kms:Decrypt"],
                [props.secrets_kms_key],
                condition={"StringEquals": {"kms:ViaService": via}},
            )
        )
    return statements


def contract_environment(stack_name: str, region: str, c: WorkerContract, max_call_attempts: int = 6) -> dict[str, Any]:
    """The worker contract's variables (also what deepsea-ai reads to find the queues and buckets)."""
    return {
        "PROCESSOR": stack_name,
        "VIDEO_QUEUE": c.video_queue_name,
        "TRACK_QUEUE": c.track_queue_name,
        "DEAD_QUEUE": c.dead_queue_name,
        "VIDEO_BUCKET": c.video_bucket_name,
        "TRACK_BUCKET": c.tracks_bucket_name,
        "AWS_REGION": region,
        "DEFAULT_MAX_CALL_ATTEMPTS": str(max_call_attempts),
    }


def container_environment(props: ModelServiceProps, c: WorkerContract) -> list[dict[str, Any]]:
    contract = contract_environment(props.stack_name, props.region, c, props.max_call_attempts)
    merged = {**props.extra_environment, **contract}
    return [{"name": k, "value": merged[k]} for k in sorted(merged)]


class ModelService(Component):
    def __init__(
        self, scope: Scope, id: str, props: ModelServiceProps, contract: WorkerContract, account: AccountContext
    ) -> None:
        super().__init__(scope, id)
        # Container Insights off: nothing reads it (the alarms use the queue's and the group's free
        # metrics), it bills per metric, and its performance log group outlives the cluster.
        self.cluster = EcsCluster(
            self.stack,
            self.child_id("cluster"),
            name=props.cluster_name,
            setting=[EcsClusterSetting(name="containerInsights", value="disabled")],
        )
        self.log_group = CloudwatchLogGroup(
            self.stack, self.child_id("logs"), name=props.log_group_name, retention_in_days=props.log_retention_days
        )

        self.task_role = self._role(
            "task_role", props.task_role_name, account, task_statements(account, props, contract), "worker"
        )
        self.execution_role = self._role(
            "execution_role", props.execution_role_name, account, execution_statements(account, props), "ecs-agent"
        )
        container = {
            "name": props.stack_name,
            "image": props.container_image,
            "essential": True,
            "memoryReservation": props.memory_reservation_mib,
            "resourceRequirements": [{"type": "GPU", "value": str(props.gpus_per_task)}],
            "command": [
                "dettrack",
                "-c",
                props.track_config_uri,
                "--model-s3",
                props.model_location_uri,
                *props.extra_args,
            ],
            "environment": container_environment(props, contract),
            # Read by the ECS agent with the execution role at task start; only the ARNs are in the task
            # definition, the state and the plans.
            **({"secrets": [{"name": k, "valueFrom": v} for k, v in sorted(props.secrets)]} if props.secrets else {}),
            "stopTimeout": props.stop_timeout_seconds,
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": props.log_group_name,
                    "awslogs-region": props.region,
                    "awslogs-stream-prefix": "task",
                },
            },
        }
        self.task_definition = EcsTaskDefinition(
            self.stack,
            self.child_id("task"),
            family=props.task_family,
            network_mode="bridge",
            requires_compatibilities=["EC2"],
            task_role_arn=self.task_role.arn,
            execution_role_arn=self.execution_role.arn,
            container_definitions=json.dumps([container], sort_keys=True),
            depends_on=[self.log_group],
        )
        self.services = [
            EcsService(
                self.stack,
                self.child_id("service" if slot == 1 else f"service_{slot}"),
                name=name,
                cluster=self.cluster.arn,
                task_definition=self.task_definition.arn,
                scheduling_strategy="DAEMON",
                launch_type="EC2",
                deployment_minimum_healthy_percent=0,
                deployment_maximum_percent=100,
                enable_ecs_managed_tags=True,
                propagate_tags="SERVICE",
            )
            for slot, name in enumerate(props.service_names, start=1)
        ]
        self.service = self.services[0]

    def _role(
        self, id: str, name: str, account: AccountContext, statements: list[Statement], policy_name: str
    ) -> IamRole:
        # Confused-deputy guard: only ECS acting for this account may assume the role.
        trust = assume_role_policy("ecs-tasks", {"StringEquals": {"aws:SourceAccount": account.account_id}})
        role, _ = self.role_with_policy(id, name=name, trust=trust, policy_name=policy_name, statements=statements)
        return role
