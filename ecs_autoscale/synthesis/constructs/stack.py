"""One model's stack: composes the constructs and exposes outputs named for the CLI and clients."""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping
from types import SimpleNamespace
from typing import Any

from .. import aws_bindings

aws_bindings.install_lazy_package()  # first: it starts jsii's Node with the lazy provider index

# isort: split
from cdktf import App, LocalBackend, S3Backend, TerraformOutput, TerraformStack
from cdktf_cdktf_provider_aws.iam_policy import IamPolicy
from cdktf_cdktf_provider_aws.provider import AwsProvider, AwsProviderDefaultTags
from constructs import Construct

from ...model.config import ModelConfig
from ...model.naming import QUEUE_KEEPALIVE_TAG, STACK_TAG
from ...model.outputs import STACK_OUTPUTS
from ...model.scaling_design import ScalingDesign, design_for
from ..addresses import BUCKETS_COMPONENT
from ..client_policy import client_statements, stack_name_statements, stop_statements
from ..policy import Statement, policy_document
from ..user_data import agent_permissions, agent_settings, ecs_agent_config, render_user_data
from .account import AccountContext
from .backstop_alarms import QueueBackstopScaling
from .fleet import GpuFleet, GpuFleetProps
from .keepalive import QueueKeepAlive, QueueKeepAliveProps
from .lookup import DeepseaAiLookup, LookupProps
from .network import Network, NetworkProps
from .queues import VideoQueues, VideoQueuesProps
from .service import ModelService, ModelServiceProps, WorkerContract, contract_environment
from .storage import BucketsProps, VideoBuckets
from .submit_marker import SubmitMarker

# Provider constraint: the bindings target 5.100.0, the version air-gapped mirrors carry.
AWS_PROVIDER_CONSTRAINT = "~> 5.100"
MANAGED_BY_TAG = {"ManagedBy": "ecs-autoscale"}


def synthesize(configs: Iterable[ModelConfig], outdir: str) -> None:
    """Each model's stack in one cdktf App, written to `outdir` in cdktf's layout (stacks/<StackName>/)."""
    app = App(outdir=outdir)
    for config in configs:
        VideoProcessingStack(app, config)
    app.synth()


class VideoProcessingStack(TerraformStack):
    """One model file's stack: each concern's construct, built from its props, then the outputs."""

    def __init__(self, scope: Construct, config: ModelConfig) -> None:
        super().__init__(scope, config.stack_name)
        self.config = config
        names, design = config.names, design_for(config)
        tags = {**MANAGED_BY_TAG, STACK_TAG: config.stack_name, **config.tags}
        _provider_and_backend(self, config, tags)
        account = AccountContext(self, "account")
        queues = VideoQueues(self, "queues", _queues_props(config), account)
        buckets = VideoBuckets(self, BUCKETS_COMPONENT, _buckets_props(config))
        contract = _worker_contract(config, queues, buckets)
        service = ModelService(self, "service", _service_props(config, design), contract, account)
        network = Network(self, "network", _network_props(config))
        fleet_props = _fleet_props(config, design, network, account, tags)
        fleet = GpuFleet(self, "fleet", fleet_props, account, cluster=service.cluster)
        backstop = QueueBackstopScaling(
            self,
            "scaling",
            design=design,
            group=fleet.group,
            asg_name=names.asg,
            video_queue_name=names.video_queue,
            alarm_prefix=config.stack_name,
            topic_name=names.alerts_topic,
            account=account,
        )
        QueueKeepAlive(self, "keepalive", _keepalive_props(config, design, queues), account)
        SubmitMarker(self, "submit_marker", name=names.submit_marker, stack_name=config.stack_name)
        policies = _client_policies(self, config, buckets, account)
        if config.cloudformation_lookup:
            DeepseaAiLookup(self, "lookup", _lookup_props(config, contract))
        derived = {"service_names": ",".join(_worker_services(config, design)), "no_capacity_provider": ""}
        parts = dict(config=config, design=design, queues=queues, buckets=buckets, service=service, fleet=fleet)
        parts |= dict(backstop=backstop, policies=SimpleNamespace(**policies), derived=SimpleNamespace(**derived))
        _declare_outputs(self, parts)


# --- one helper per concern: plain props from the model file and the design, or the stack-level parts ----------
def _provider_and_backend(stack: TerraformStack, config: ModelConfig, tags: dict[str, str]) -> None:
    AwsProvider(stack, "aws", region=config.region, default_tags=[AwsProviderDefaultTags(tags=tags)])
    stack.add_override(
        "terraform.required_providers.aws", {"source": "hashicorp/aws", "version": AWS_PROVIDER_CONSTRAINT}
    )
    if not config.backend:
        # Relative default path: where state lives is the caller's choice (the CLI keeps it in
        # STACK_DIR through -backend-config), never a path of the machine that synthesized.
        LocalBackend(stack, path="terraform.tfstate")
        return
    b = config.backend
    S3Backend(
        stack,
        bucket=b.bucket,
        key=b.key,
        region=b.region or config.region,
        dynamodb_table=b.dynamodb_table,
        encrypt=True,
        kms_key_id=b.kms_key_id,
        workspace_key_prefix="ecs-autoscale",
    )
    if not b.dynamodb_table:
        # S3-native locking (Terraform >= 1.10); cdktf 0.21's S3Backend predates the argument.
        stack.add_override("terraform.backend.s3.use_lockfile", True)


def _queues_props(config: ModelConfig) -> VideoQueuesProps:
    names = config.names
    return VideoQueuesProps(
        video_queue_name=names.video_queue,
        track_queue_name=names.track_queue,
        dead_queue_name=names.dead_queue,
        visibility_timeout_seconds=config.visibility_timeout_seconds,
        max_receive_count=config.max_receive_count,
        video_queue_tags={QUEUE_KEEPALIVE_TAG: names.queue_keepalive},
    )


def _buckets_props(config: ModelConfig) -> BucketsProps:
    names = config.names
    return BucketsProps(video_bucket_prefix=names.video_bucket_prefix, tracks_bucket_prefix=names.tracks_bucket_prefix)


def _worker_contract(config: ModelConfig, queues: VideoQueues, buckets: VideoBuckets) -> WorkerContract:
    names = config.names
    return WorkerContract(
        video_queue_name=names.video_queue,
        track_queue_name=names.track_queue,
        dead_queue_name=names.dead_queue,
        video_queue_arn=queues.video.arn,
        track_queue_arn=queues.track.arn,
        dead_queue_arn=queues.dead.arn,
        video_bucket_name=buckets.video.name,
        video_bucket_arn=buckets.video.arn,
        tracks_bucket_name=buckets.tracks.name,
        tracks_bucket_arn=buckets.tracks.arn,
    )


def _worker_services(config: ModelConfig, design: ScalingDesign) -> tuple[str, ...]:
    """The daemon services, one per GPU slot of an instance."""
    return tuple(config.names.worker_service(slot) for slot in range(1, design.tasks_per_instance + 1))


def _service_props(config: ModelConfig, design: ScalingDesign) -> ModelServiceProps:
    names = config.names
    return ModelServiceProps(
        stack_name=config.stack_name,
        cluster_name=names.cluster,
        service_names=_worker_services(config, design),
        task_family=config.task_definition,
        container_image=config.container_image,
        track_config_uri=config.track_config.uri,
        model_location_uri=config.model_location.uri,
        model_objects=(
            (config.model_location.bucket, config.model_location.key),
            (config.track_config.bucket, config.track_config.key),
        ),
        task_role_name=names.task_role,
        execution_role_name=names.execution_role,
        log_group_name=names.log_group,
        region=config.region,
        log_retention_days=config.log_retention_days,
        memory_reservation_mib=config.memory_reservation_mib,
        gpus_per_task=config.gpus_per_task,
        extra_args=config.container_args,
        extra_environment=dict(config.environment),
        ecr_repository=config.ecr_repository,
        secrets=tuple(sorted(config.secrets.items())),
        secrets_kms_key=config.secrets_kms_key,
        stop_timeout_seconds=design.container_stop_timeout_seconds,
    )


def _network_props(config: ModelConfig) -> NetworkProps:
    return NetworkProps(region=config.region, vpc_id=config.vpc, subnet_ids=config.subnets)


def _fleet_props(
    config: ModelConfig, design: ScalingDesign, network: Network, account: AccountContext, tags: dict[str, str]
) -> GpuFleetProps:
    """The GPU instances, with the instance agent's settings in their user data and its permissions."""
    names = config.names
    agent = agent_settings(
        design, names, region=config.region, task_families=(config.task_definition,), image=config.container_image
    )
    ecs_config = ecs_agent_config(
        agent,
        spot=config.spot,
        stop_timeout_seconds=design.container_stop_timeout_seconds,
        warm_pool=bool(design.warm_pool_size),
    )
    permissions = agent_permissions(
        agent, partition=account.partition, region=account.region, account_id=account.account_id
    )
    return GpuFleetProps(
        stack_name=config.stack_name,
        cluster_name=names.cluster,
        asg_name=names.asg,
        launch_template_name=names.launch_template,
        security_group_name=names.security_group,
        instance_role_name=names.instance_role,
        log_group_name=names.log_group,
        max_instances=config.fleet_size,
        root_volume_gb=config.volume_gb,
        vpc_id=network.vpc_id,
        subnet_ids=network.subnet_ids,
        user_data=render_user_data(agent, ecs_config=ecs_config),
        instance_types=config.instance_types,
        spot=config.spot,
        warm_pool_size=design.warm_pool_size,
        launch_hook_name=names.warm_pool_hook,
        launch_heartbeat_seconds=design.launch_heartbeat_seconds,
        termination_hook_name=names.termination_hook,
        termination_heartbeat_seconds=design.termination_heartbeat_seconds,
        instance_warmup_seconds=design.instance_warmup_seconds,
        agent_statements=tuple(
            Statement(p.sid, p.actions, p.resources, condition=p.condition or {}) for p in permissions
        ),
        tags=tags,  # default_tags reach neither the group's instances nor their volumes
    )


def _keepalive_props(config: ModelConfig, design: ScalingDesign, queues: VideoQueues) -> QueueKeepAliveProps:
    names = config.names
    return QueueKeepAliveProps(
        name=names.queue_keepalive,
        queue_name=names.video_queue,
        queue_url=queues.video.url,
        every_minutes=design.queue_keepalive_minutes,
        tag=(QUEUE_KEEPALIVE_TAG, names.queue_keepalive),
    )


def _client_policies(
    stack: TerraformStack, config: ModelConfig, buckets: VideoBuckets, account: AccountContext
) -> dict[str, IamPolicy]:
    """The client's three policies, attached to nobody (the users who run the client are the account's to
    choose), by construct id."""
    names = config.names
    policies = {
        "client_policy": (
            names.client_policy,
            f"Run the ecs-autoscale client (submit, status, results) on {config.stack_name}",
            client_statements(account, names, video_bucket_arn=buckets.video.arn, tracks_bucket_arn=buckets.tracks.arn),
        ),
        "client_stop_policy": (
            names.client_stop_policy,
            f"ecs-autoscale stop and resume on {config.stack_name} (with {names.client_policy})",
            stop_statements(account, names, fleet_size=config.fleet_size),
        ),
        "client_stack_name_policy": (
            names.client_stack_name_policy,
            "ecs-autoscale --stack-name: reads every task definition of the account and region",
            stack_name_statements(),
        ),
    }
    return {
        id: IamPolicy(stack, id, name=name, description=description, policy=policy_document(statements))
        for id, (name, description, statements) in policies.items()
    }


def _lookup_props(config: ModelConfig, contract: WorkerContract) -> LookupProps:
    names = config.names
    return LookupProps(
        stack_name=names.lookup_stack,
        family=names.lookup_family,
        container_image=config.container_image,
        environment=contract_environment(config.stack_name, config.region, contract),
    )


def _declare_outputs(stack: TerraformStack, parts: Mapping[str, Any]) -> None:
    """One Terraform output per row of model/outputs.py, in its order, with the row's description and the
    value its dotted path names in `parts`."""
    for output in STACK_OUTPUTS:
        head, _, rest = output.value.partition(".")
        value = operator.attrgetter(rest)(parts[head])
        TerraformOutput(stack, output.name, value=value, description=output.description)
