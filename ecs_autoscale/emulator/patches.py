"""Patches closing gaps in moto 5.2.5 that break terraform (hashicorp/aws 5.100.0).

Each patch is a small function with a note on the moto gap it closes. They patch
moto classes in-process, so they apply to the server started by `server.py`
(and to `moto.mock_aws` in the same process). `apply_all()` is idempotent.
moto is only imported inside the functions, keeping `ecs_autoscale.emulator` cheap.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

from ..errors import EcsAutoscaleError

# `GetServiceQuota` answers for these EC2 vCPU quotas (code -> name, emulator default in vCPUs). The
# names and codes are AWS's (EC2 User Guide, "On-Demand Instance quotas" and "Spot Instance quotas");
# the default is the emulator's, generous so that `doctor` passes unless a test lowers it.
EC2_VCPU_QUOTAS = {
    "L-DB2E81BA": ("Running On-Demand G and VT instances", 256.0),
    "L-417A185B": ("Running On-Demand P instances", 256.0),
    "L-3819A6DF": ("All G and VT Spot Instance Requests", 256.0),
    "L-7212CCBC": ("All P4, P3 and P2 Spot Instance Requests", 256.0),
    "L-C4BD4855": ("All P5 Spot Instance Requests", 256.0),
}
QUOTAS_ENV = "ECS_AUTOSCALE_EMULATOR_QUOTAS"
"""Overrides, read at every call so a test can change them while the emulator runs: `CODE=VALUE`
sets the applied quota (GetServiceQuota), `CODE=default:VALUE` leaves it unset (GetServiceQuota
answers NoSuchResourceException, as AWS does for some never-raised quotas) with VALUE as the AWS
default (GetAWSDefaultServiceQuota). Example: `L-DB2E81BA=8,L-3819A6DF=default:0`."""

_applied = False
MOTO_VERSION = "5.2.5"
"""The moto release these patches are written for (pinned in pyproject.toml): each replaces or wraps moto's
own internals, which change between releases."""


class MotoVersionMismatch(EcsAutoscaleError):
    """The installed moto is not the release the patches are written for."""


def check_moto_version() -> None:
    import moto

    installed = getattr(moto, "__version__", "unknown")
    if installed != MOTO_VERSION:
        raise MotoVersionMismatch(
            f"the emulator's patches are written for moto {MOTO_VERSION}, but moto {installed} is installed",
            f"pip install 'moto[server]=={MOTO_VERSION}'",
        )


def apply_all() -> None:
    from . import history, queue_scale

    global _applied
    if _applied:
        return
    check_moto_version()
    for patch in (
        iam_aws_managed_policies,
        appautoscaling_tagging,
        appautoscaling_policy_arn_is_stable,
        appautoscaling_scaling_activities,
        ecs_service_optional_network_configuration,
        ecs_service_stores_create_params,
        ecs_task_definition_memory_reservation,
        cloudformation_ecs_task_definition,
        sqs_queue_attributes,
        sqs_set_attributes_keeps_policy,
        ec2_launch_template_own_tags,
        ec2_launch_template_version_user_data,
        ec2_default_vpc_reaches_the_internet,
        autoscaling_group_stores_params,
        s3_bucket_policy_secure_transport,
        servicequotas_ec2_vcpu_quotas,
        ecs_list_tasks_by_service,
        ecs_task_protection,
        ecs_delete_cluster_refuses_container_instances,
        autoscaling_policy_round_trip,
        ecs_daemon_service_maximum_percent,
        scheduler_create_schedule_client_token,
        *queue_scale.PATCHES,  # after sqs_queue_attributes: it wraps the attributes that patch shapes
        *history.PATCHES,
    ):
        patch()
    _applied = True


def _wrap(cls: type, name: str, wrapper_factory: Any) -> None:
    """Replace cls.name by wrapper_factory(original)."""
    original = getattr(cls, name)
    setattr(cls, name, functools.wraps(original)(wrapper_factory(original)))


# --- IAM ---------------------------------------------------------------------


def iam_aws_managed_policies() -> None:
    """Gap: by default moto has none of the AWS-managed policies
    (arn:aws:iam::aws:policy/...), so attaching one fails. moto reads this
    variable when it creates an account's IAM backend (its first IAM call), so
    this must run before any IAM request."""
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"


# --- application-autoscaling -------------------------------------------------


def _aas_tags(backend: Any) -> dict[str, dict[str, str]]:
    """Tags of Application Auto Scaling targets by ARN (appautoscaling_tagging)."""
    if not hasattr(backend, "tags_by_arn"):
        backend.tags_by_arn = {}
    tags: dict[str, dict[str, str]] = backend.tags_by_arn
    return tags


def _aas_tag_resource(self: Any) -> str:
    tags = _aas_tags(self.applicationautoscaling_backend)
    tags.setdefault(self._get_param("ResourceARN"), {}).update(self._get_param("Tags") or {})
    return "{}"


def _aas_untag_resource(self: Any) -> str:
    tags = _aas_tags(self.applicationautoscaling_backend).get(self._get_param("ResourceARN"), {})
    for key in self._get_param("TagKeys") or []:
        tags.pop(key, None)
    return "{}"


def _aas_list_tags_for_resource(self: Any) -> str:
    tags = _aas_tags(self.applicationautoscaling_backend).get(self._get_param("ResourceARN"), {})
    return json.dumps({"Tags": tags})


def appautoscaling_tagging() -> None:
    """Gap: no TagResource/UntagResource/ListTagsForResource, and the `Tags` of
    RegisterScalableTarget are dropped. The provider tags every
    aws_appautoscaling_target (tags_all, even if empty via default_tags) and
    retries the NotImplemented error for 10+ minutes. Tags live in a dict
    keyed by the target's ARN (moto already returns ScalableTargetARN)."""
    from moto.applicationautoscaling.models import ApplicationAutoscalingBackend
    from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse

    def register(original: Any) -> Any:
        def register_scalable_target(self: Any) -> str:
            result = original(self)
            tags = self._get_param("Tags")
            if tags:
                arn = json.loads(result)["ScalableTargetARN"]
                _aas_tags(self.applicationautoscaling_backend).setdefault(arn, {}).update(tags)
            return result

        return register_scalable_target

    def deregister(original: Any) -> Any:
        def deregister_scalable_target(self: Any, namespace: str, r_id: str, dimension: str) -> None:
            target = self.targets.get(dimension, {}).get(r_id)
            original(self, namespace, r_id, dimension)
            if target is not None:
                _aas_tags(self).pop(target.arn, None)

        return deregister_scalable_target

    _wrap(ApplicationAutoScalingResponse, "register_scalable_target", register)
    _wrap(ApplicationAutoscalingBackend, "deregister_scalable_target", deregister)
    ApplicationAutoScalingResponse.tag_resource = _aas_tag_resource
    ApplicationAutoScalingResponse.untag_resource = _aas_untag_resource
    ApplicationAutoScalingResponse.list_tags_for_resource = _aas_list_tags_for_resource


def appautoscaling_policy_arn_is_stable() -> None:
    """Gap: PutScalingPolicy on an existing policy builds a new one with a new
    random ARN. AWS keeps the ARN, so after any change to a scaling policy the
    alarms' alarm_actions (which reference it) drift on the next plan."""
    from moto.applicationautoscaling.models import (
        ApplicationAutoscalingBackend,
        FakeApplicationAutoscalingPolicy,
    )

    def put(original: Any) -> Any:
        def put_scaling_policy(
            self: Any,
            policy_name: str,
            service_namespace: str,
            resource_id: str,
            scalable_dimension: str,
            *args: Any,
            **kwargs: Any,
        ) -> Any:
            key = FakeApplicationAutoscalingPolicy.formulate_key(
                service_namespace, resource_id, scalable_dimension, policy_name
            )
            old = self.policies.get(key)
            policy = original(self, policy_name, service_namespace, resource_id, scalable_dimension, *args, **kwargs)
            if old is not None:
                policy._guid, policy.policy_arn = old._guid, old.policy_arn
                policy.creation_time = old.creation_time
            return policy

        return put_scaling_policy

    _wrap(ApplicationAutoscalingBackend, "put_scaling_policy", put)


def appautoscaling_scaling_activities() -> None:
    """Gap: DescribeScalingActivities is not implemented (HTTP 500), which
    breaks `ecs-autoscale status`. moto simulates no scaling, so: none."""
    from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse

    def describe_scaling_activities(self: Any) -> str:
        return json.dumps({"ScalingActivities": []})

    ApplicationAutoScalingResponse.describe_scaling_activities = describe_scaling_activities


# --- ECS ---------------------------------------------------------------------


def ecs_service_optional_network_configuration() -> None:
    """Gap: a service created without awsvpc gets `networkConfiguration: {}`;
    provider 5.100.0 crashes flattening that empty structure. Store None so
    the key is omitted from the response, as AWS does."""
    from moto.ecs.models import Service

    def init(original: Any) -> Any:
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **kwargs)
            if not self.network_configuration:
                self.network_configuration = None

        return __init__

    _wrap(Service, "__init__", init)


# CreateService request members moto accepts but neither stores nor returns;
# without them every plan shows a diff (capacity_provider_strategy even forces
# a replacement). UpdateService already setattr()s whatever it receives.
_ECS_SERVICE_EXTRA_PARAMS = (
    "capacityProviderStrategy",
    "placementConstraints",
    "placementStrategy",
    "deploymentConfiguration",
    "healthCheckGracePeriodSeconds",
    "enableECSManagedTags",
    "enableExecuteCommand",
    "availabilityZoneRebalancing",
)


def ecs_service_stores_create_params() -> None:
    """Gap: CreateService drops capacityProviderStrategy, placement constraints /
    strategy and deploymentConfiguration. Store them as the snake_case
    attributes that UpdateService sets and the response serializer reads."""
    from moto.core.utils import camelcase_to_underscores
    from moto.ecs.responses import EC2ContainerServiceResponse

    def create(original: Any) -> Any:
        def create_service(self: Any) -> Any:
            result = original(self)
            service = self.ecs_backend._get_service(
                self._get_param("cluster", "default"), self._get_param("serviceName")
            )
            for param in _ECS_SERVICE_EXTRA_PARAMS:
                value = self._get_param(param)
                if value is not None:
                    setattr(service, camelcase_to_underscores(param), value)
            return result

        return create_service

    _wrap(EC2ContainerServiceResponse, "create_service", create)


def ecs_task_definition_memory_reservation() -> None:
    """Gap: moto insists on a hard `memory` limit per container when the task
    requires EC2. AWS accepts either container `memory` or `memoryReservation`
    (or a task-level memory); our GPU workers set only memoryReservation."""
    from moto.ecs.exceptions import TaskDefinitionMemoryError, TaskDefinitionMissingPropertyError
    from moto.ecs.models import EC2ContainerServiceBackend

    def _validate_container_defs(
        memory: str | None, container_definitions: list[dict[str, Any]], requires_compatibilities: Any
    ) -> None:
        for cd in container_definitions:
            if "name" not in cd and "Name" not in cd:
                raise TaskDefinitionMissingPropertyError("name")
            if "image" not in cd and "Image" not in cd:
                raise TaskDefinitionMissingPropertyError("image")
            keys = {"memory", "Memory", "memoryReservation", "MemoryReservation"}
            if not memory and not keys.intersection(cd):
                raise TaskDefinitionMemoryError(str(cd.get("name", cd.get("Name"))))

    EC2ContainerServiceBackend._validate_container_defs = staticmethod(_validate_container_defs)


def cloudformation_ecs_task_definition() -> None:
    """Gaps in AWS::ECS::TaskDefinition created through CloudFormation (the deepsea-ai lookup stack,
    synthesis/constructs/lookup.py):
    - a stack update registers the new revision with the template's PascalCase keys as they are
      (`Environment`, `Name`), unlike a create, so DescribeTaskDefinition then shows no `environment`
      and deepsea-ai finds no queue; it also replaces the revision when nothing changed. AWS registers
      a new revision (and deregisters the old one) only when the definition changed.
    - deleting the stack leaves the task definition ACTIVE; AWS deregisters it."""
    from moto.core.utils import pascal_to_camelcase, remap_nested_keys
    from moto.ecs.models import TaskDefinition, ecs_backends

    create = TaskDefinition.create_from_cloudformation_json.__func__

    def update_from_cloudformation_json(
        cls: Any,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Any:
        properties = cloudformation_json["Properties"]
        wanted = remap_nested_keys(properties.get("ContainerDefinitions", []), pascal_to_camelcase)
        current = [
            {k: v for k, v in d.items() if k in w}
            for d, w in zip(original_resource.container_definitions, wanted, strict=False)
        ]
        if (
            properties.get("Family", original_resource.family) == original_resource.family
            and len(current) == len(wanted)
            and current == wanted
        ):
            return original_resource
        ecs_backends[account_id][region_name].deregister_task_definition(original_resource.arn)
        return create(cls, new_resource_name, cloudformation_json, account_id, region_name)

    def delete_from_cloudformation_json(
        cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        backend = ecs_backends[account_id][region_name]
        try:
            backend.deregister_task_definition(resource_name)
        except Exception:  # already deregistered (or never registered): nothing to delete, as in AWS
            pass

    TaskDefinition.update_from_cloudformation_json = classmethod(update_from_cloudformation_json)
    TaskDefinition.delete_from_cloudformation_json = classmethod(delete_from_cloudformation_json)


# --- SQS ---------------------------------------------------------------------


def sqs_queue_attributes() -> None:
    """Gaps in GetQueueAttributes:
    - RedriveAllowPolicy is accepted by SetQueueAttributes but never returned,
      so aws_sqs_queue_redrive_allow_policy waits forever for it to appear;
      and on delete the provider sets it to "" and waits for it to vanish.
    - RedrivePolicy comes back as `json.dumps` with spaces; the provider compares
      it as a string and plans a "whitespace changes" update on every plan.
      AWS returns compact JSON; so it does for RedriveAllowPolicy."""
    from moto.sqs.models import Queue

    if "RedriveAllowPolicy" not in Queue.BASE_ATTRIBUTES:
        Queue.BASE_ATTRIBUTES = [*Queue.BASE_ATTRIBUTES, "RedriveAllowPolicy"]
    Queue.redrive_allow_policy = None  # class default: unset until SetQueueAttributes
    original = Queue.attributes.fget

    def attributes(self: Any) -> dict[str, Any]:
        result = original(self)
        if not result.get("RedriveAllowPolicy"):
            result.pop("RedriveAllowPolicy", None)
        if self.redrive_policy:
            result["RedrivePolicy"] = json.dumps(self.redrive_policy, separators=(",", ":"))
        if result.get("RedriveAllowPolicy"):
            result["RedriveAllowPolicy"] = json.dumps(json.loads(result["RedriveAllowPolicy"]), separators=(",", ":"))
        return result

    Queue.attributes = property(attributes)


def sqs_set_attributes_keeps_policy() -> None:
    """Gap: every SetQueueAttributes call resets the queue Policy unless it
    carries one, so aws_sqs_queue_redrive_allow_policy (which sets only
    RedriveAllowPolicy) silently deletes the aws_sqs_queue_policy of the same
    queue. Keep the policy unless "Policy" is sent; "" deletes it."""
    from moto.sqs.models import Queue

    def set_attributes(original: Any) -> Any:
        def _set_attributes(self: Any, attributes: dict[str, Any], now: float | None = None) -> None:
            policy = getattr(self, "policy", None)
            original(self, attributes, now)
            self.policy = (attributes["Policy"] or None) if "Policy" in attributes else policy

        return _set_attributes

    _wrap(Queue, "_set_attributes", set_attributes)


# --- EC2 ---------------------------------------------------------------------


def ec2_launch_template_own_tags() -> None:
    """Gap: CreateLaunchTemplate copies the template's own tags (TagSpecifications
    of type "launch-template", e.g. provider default_tags) into the version's
    LaunchTemplateData.TagSpecifications, so the provider sees an extra
    tag_specifications block and plans an update forever. AWS keeps them apart
    ("launch-template" is not even a valid type inside LaunchTemplateData)."""
    from moto.ec2.models.launch_templates import LaunchTemplateVersion

    def init(original: Any) -> Any:
        def __init__(self: Any, template: Any, number: int, data: dict[str, Any], description: str) -> None:
            specs = [s for s in data.get("TagSpecifications") or [] if s.get("ResourceType") != "launch-template"]
            if specs:
                data["TagSpecifications"] = specs
            else:
                data.pop("TagSpecifications", None)
            original(self, template, number, data, description)

        return __init__

    _wrap(LaunchTemplateVersion, "__init__", init)


def ec2_launch_template_version_user_data() -> None:
    """Gap: CreateLaunchTemplateVersion keeps UserData as the plain string it received, where
    CreateLaunchTemplate wraps it as moto's Base64EncodedString; launching from such a version (a group
    after a redeploy changed the user data) fails moto's own assertion with HTTP 500. Wrap it the same way."""
    from moto.ec2.models.launch_templates import LaunchTemplate
    from moto.ec2.utils import parse_user_data

    def create(original: Any) -> Any:
        def create_version(self: Any, data: dict[str, Any], description: str) -> Any:
            if isinstance(data.get("UserData"), str):
                data = {**data, "UserData": parse_user_data(data["UserData"])}
            return original(self, data, description)

        return create_version

    _wrap(LaunchTemplate, "create_version", create)


def ec2_default_vpc_reaches_the_internet() -> None:
    """Gap: moto's default VPC has no internet gateway and its main route table only the local route.
    AWS creates the default VPC with an internet gateway attached and a 0.0.0.0/0 route to it in the
    main route table (VPC User Guide, "Default VPCs"), which the stack's plan-time network check
    (synthesis/constructs/network.py) and `doctor`'s network check rely on. Applies to the default VPC of
    every region and to CreateDefaultVpc."""
    from moto.ec2.models.vpcs import VPCBackend

    def create(original: Any) -> Any:
        def create_default_vpc(self: Any) -> Any:
            vpc = original(self)
            gateway = self.create_internet_gateway()
            self.attach_internet_gateway(gateway.id, vpc.id)
            main = next(t for t in self.route_tables.values() if t.vpc_id == vpc.id and t.main_association_id)
            self.create_route(main.id, "0.0.0.0/0", gateway_id=gateway.id)
            return vpc

        return create_default_vpc

    _wrap(VPCBackend, "create_default_vpc", create)


# --- Auto Scaling ------------------------------------------------------------

# (request member, typed getter) that moto's Create/UpdateAutoScalingGroup drop.
_ASG_CREATE_PARAMS = (("DefaultInstanceWarmup", "int"), ("MaxInstanceLifetime", "int"))
_ASG_UPDATE_PARAMS = _ASG_CREATE_PARAMS + (
    ("DefaultCooldown", "int"),
    ("CapacityRebalance", "bool"),
    ("TerminationPolicies", "list"),
)


def autoscaling_group_stores_params() -> None:
    """Gaps in aws_autoscaling_group round-trips:
    - DefaultInstanceWarmup / MaxInstanceLifetime are never stored (and
      UpdateAutoScalingGroup also drops DefaultCooldown, CapacityRebalance,
      TerminationPolicies): every plan shows e.g. default_instance_warmup 0 -> 300.
    - UpdateAutoScalingGroup without MixedInstancesPolicy wipes the group's
      mixed instances policy, though the provider sends only changed members."""
    from moto.autoscaling.models import FakeAutoScalingGroup
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.utils import camelcase_to_underscores

    def store(response: Any, params: tuple[tuple[str, str], ...]) -> None:
        group = response.autoscaling_backend.autoscaling_groups[response._get_param("AutoScalingGroupName")]
        for name, kind in params:
            if response._get_param(name) is None:
                continue
            getter = {"int": response._get_int_param, "bool": response._get_bool_param}.get(kind, response._get_param)
            setattr(group, camelcase_to_underscores(name), getter(name))

    def storing(params: tuple[tuple[str, str], ...]) -> Any:
        def factory(original: Any) -> Any:
            def action(self: Any) -> Any:
                result = original(self)
                store(self, params)
                return result

            return action

        return factory

    def keep_mixed_policy(original: Any) -> Any:
        def update(self: Any, *args: Any, **kwargs: Any) -> None:
            launch_params = ("mixed_instances_policy", "launch_template", "launch_config_name")
            unchanged = self.mixed_instances_policy if not any(kwargs.get(k) for k in launch_params) else None
            original(self, *args, **kwargs)
            if unchanged is not None:
                self.mixed_instances_policy = unchanged

        return update

    _wrap(AutoScalingResponse, "create_auto_scaling_group", storing(_ASG_CREATE_PARAMS))
    _wrap(AutoScalingResponse, "update_auto_scaling_group", storing(_ASG_UPDATE_PARAMS))
    _wrap(FakeAutoScalingGroup, "update", keep_mixed_policy)


# --- S3 ----------------------------------------------------------------------


def s3_bucket_policy_secure_transport() -> None:
    """Gap: moto ignores the `Bool` condition operator, so the standard
    "DenyInsecureTransport" bucket policy (Deny s3:* if aws:SecureTransport is
    false) denies every object request: uploads and downloads get 403. Evaluate
    that condition, taking every emulator request as TLS: clients use https
    against AWS, plain http on loopback is an artifact of the emulator."""
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    def applies(statement: dict[str, Any]) -> bool:
        values = (statement.get("Condition") or {}).get("Bool", {})
        wanted = values.get("aws:SecureTransport")
        return wanted is None or str(wanted).lower() == "true"

    def without_secure_transport(statement: dict[str, Any]) -> dict[str, Any]:
        condition = dict(statement.get("Condition") or {})
        if "Bool" in condition:
            condition["Bool"] = {k: v for k, v in condition["Bool"].items() if k != "aws:SecureTransport"}
            if not condition["Bool"]:
                del condition["Bool"]
        return (
            {**statement, "Condition": condition}
            if condition
            else {k: v for k, v in statement.items() if k != "Condition"}
        )

    def get_permission(self: Any, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        document = json.loads(self.policy)
        statements = document["Statement"] if isinstance(document["Statement"], list) else [document["Statement"]]
        kept = [without_secure_transport(s) for s in statements if applies(s)]
        if not kept:
            return PermissionResult.NEUTRAL
        return IAMPolicy(json.dumps({**document, "Statement": kept})).is_action_permitted(action, resource)

    FakeBucket.get_permission = get_permission


# --- Service Quotas ----------------------------------------------------------------------------


def emulated_quotas() -> dict[str, tuple[float | None, float]]:
    """code -> (applied value or None, AWS default): EC2_VCPU_QUOTAS with the $ECS_AUTOSCALE_EMULATOR_QUOTAS
    overrides."""
    values: dict[str, tuple[float | None, float]] = {
        code: (default, default) for code, (_, default) in EC2_VCPU_QUOTAS.items()
    }
    for item in filter(None, (part.strip() for part in os.environ.get(QUOTAS_ENV, "").split(","))):
        code, _, value = item.partition("=")
        if value.startswith("default:"):
            values[code] = (None, float(value.removeprefix("default:")))
        else:
            values[code] = (float(value), float(value))
    return values


def servicequotas_ec2_vcpu_quotas() -> None:
    """Gap: moto's Service Quotas knows only VPC quotas (GetServiceQuota for EC2 answers
    NoSuchResourceException) and has no GetAWSDefaultServiceQuota. `doctor` reads the GPU vCPU
    quotas (EC2_VCPU_QUOTAS): answer those with the emulator's values, set per call through
    $ECS_AUTOSCALE_EMULATOR_QUOTAS."""
    from moto.servicequotas.exceptions import NoSuchResource
    from moto.servicequotas.models import ServiceQuotasBackend
    from moto.servicequotas.responses import ServiceQuotasResponse

    def quota(backend: Any, code: str, value: float) -> dict[str, Any]:
        return {
            "ServiceCode": "ec2",
            "ServiceName": "Amazon Elastic Compute Cloud (Amazon EC2)",
            "QuotaArn": f"arn:aws:servicequotas:{backend.region_name}:{backend.account_id}:ec2/{code}",
            "QuotaCode": code,
            "QuotaName": EC2_VCPU_QUOTAS[code][0],
            "Value": value,
            "Unit": "None",
            "Adjustable": True,
            "GlobalQuota": False,
        }

    def get(original: Any) -> Any:
        def get_service_quota(self: Any, service_code: str, quota_code: str) -> dict[str, Any]:
            if service_code != "ec2" or quota_code not in EC2_VCPU_QUOTAS:
                return original(self, service_code, quota_code)
            applied, _ = emulated_quotas()[quota_code]
            if applied is None:
                raise NoSuchResource
            return quota(self, quota_code, applied)

        return get_service_quota

    def get_aws_default_service_quota(self: Any) -> str:
        params = json.loads(self.body)
        code = str(params.get("QuotaCode"))
        if params.get("ServiceCode") != "ec2" or code not in EC2_VCPU_QUOTAS:
            raise NoSuchResource
        return json.dumps({"Quota": quota(self.backend, code, emulated_quotas()[code][1])})

    _wrap(ServiceQuotasBackend, "get_service_quota", get)
    ServiceQuotasResponse.get_aws_default_service_quota = get_aws_default_service_quota


# --- ECS: what `stop` and `destroy` rely on ------------------------------------------------------


def ecs_list_tasks_by_service() -> None:
    """Gap: ListTasks ignores `serviceName` and returns every task of the cluster (moto starts no
    service tasks, so it has nothing to filter on). ECS puts each task a service starts in the group
    `service:<name>`: filter on that, so `stop` finds exactly the workers of the stack's services
    (tests start such tasks with RunTask(group="service:NAME"))."""
    from moto.ecs.models import EC2ContainerServiceBackend

    def list_tasks(original: Any) -> Any:
        def filtered(self: Any, *args: Any, **kwargs: Any) -> Any:
            service = kwargs.get("service_name") or (args[4] if len(args) > 4 else None)
            tasks = original(self, *args, **kwargs)
            if not service:
                return tasks
            name = service.rsplit("/", 1)[-1]
            return [t for t in tasks if getattr(t, "group", None) == f"service:{name}"]

        return filtered

    _wrap(EC2ContainerServiceBackend, "list_tasks", list_tasks)


def ecs_task_protection() -> None:
    """Gap: UpdateTaskProtection and GetTaskProtection are not implemented (NotImplementedError). A worker may
    protect its task while it holds a video; the instance agent reads it (ECS Developer Guide, task scale-in
    protection; ECS API reference, UpdateTaskProtection / GetTaskProtection). Kept per (cluster, task ARN);
    a task never protected answers protectionEnabled false, as AWS does for a service task."""
    import time

    from moto.core.responses import ActionResult
    from moto.ecs.responses import EC2ContainerServiceResponse

    def table(self: Any) -> dict[tuple[str, str], dict[str, Any]]:
        return self.ecs_backend.__dict__.setdefault("task_protection", {})

    def cluster_name(self: Any) -> str:
        return str(self._get_param("cluster", "default")).rsplit("/", 1)[-1]

    def update_task_protection(self: Any) -> Any:
        enabled = bool(self._get_param("protectionEnabled"))
        minutes = int(self._get_param("expiresInMinutes", 120))
        out = []
        for arn in self._get_param("tasks", []):
            entry = {"taskArn": arn, "protectionEnabled": enabled}
            if enabled:
                entry["expirationDate"] = time.time() + minutes * 60
            table(self)[(cluster_name(self), arn)] = entry
            out.append(entry)
        return ActionResult({"protectedTasks": out, "failures": []})

    def get_task_protection(self: Any) -> Any:
        now, out = time.time(), []
        for arn in self._get_param("tasks", []):
            entry = table(self).get((cluster_name(self), arn), {"taskArn": arn, "protectionEnabled": False})
            if entry.get("expirationDate", now + 1) <= now:
                entry = {"taskArn": arn, "protectionEnabled": False}
            out.append(entry)
        return ActionResult({"protectedTasks": out, "failures": []})

    EC2ContainerServiceResponse.update_task_protection = update_task_protection
    EC2ContainerServiceResponse.get_task_protection = get_task_protection


def ecs_delete_cluster_refuses_container_instances() -> None:
    """Gap: DeleteCluster succeeds while container instances are registered; AWS refuses with
    ClusterContainsContainerInstancesException (ECS API reference, DeleteCluster). Without it the
    emulator could never show why `destroy` deregisters what terminated instances leave behind."""
    from moto.ecs.exceptions import ECSException
    from moto.ecs.models import EC2ContainerServiceBackend

    class ClusterContainsContainerInstances(ECSException):
        def __init__(self) -> None:
            super().__init__(
                "ClusterContainsContainerInstancesException",
                "The Cluster cannot be deleted while Container Instances are active or draining.",
            )

    def delete(original: Any) -> Any:
        def delete_cluster(self: Any, cluster_str: str) -> Any:
            name = cluster_str.split("/")[-1]
            if any(ci.status in ("ACTIVE", "DRAINING") for ci in self.container_instances.get(name, {}).values()):
                raise ClusterContainsContainerInstances()
            return original(self, cluster_str)

        return delete_cluster

    _wrap(EC2ContainerServiceBackend, "delete_cluster", delete)


def autoscaling_policy_round_trip() -> None:
    """Gaps in aws_autoscaling_policy round-trips, each planning an update after every apply:
    - DescribePolicies never returns `Enabled` (PutScalingPolicy drops it): the provider reads every
      policy as disabled (`enabled = false -> true`). AWS stores it, true unless the request says
      otherwise (EC2 Auto Scaling API, PutScalingPolicy).
    - A step or simple policy comes back with `PredictiveScalingConfiguration: {}`, which the provider
      reads as a block to remove. AWS returns that member only for predictive policies."""
    from moto.autoscaling.responses import AutoScalingResponse

    def put(original: Any) -> Any:
        def put_scaling_policy(self: Any) -> Any:
            result = original(self)
            name, group = self._get_param("PolicyName"), self._get_param("AutoScalingGroupName")
            enabled = self._get_param("Enabled")
            for policy in self.autoscaling_backend.policies.values():
                if policy.name == name and policy.auto_scaling_group_name == group:
                    policy.enabled = str(enabled).lower() != "false" if enabled is not None else True
                    policy.predictive_scaling_configuration = policy.predictive_scaling_configuration or None
            return result

        return put_scaling_policy

    _wrap(AutoScalingResponse, "put_scaling_policy", put)


def ecs_daemon_service_maximum_percent() -> None:
    """Gap: a DAEMON service created without deploymentConfiguration.maximumPercent (the provider sends
    only minimumHealthyPercent for daemons) reads back 0; AWS fills in 100, the daemon default (ECS API,
    DeploymentConfiguration), so every plan after the apply showed deployment_maximum_percent 0 -> 100."""
    from moto.ecs.responses import EC2ContainerServiceResponse

    def create(original: Any) -> Any:
        def create_service(self: Any) -> Any:
            result = original(self)
            if self._get_param("schedulingStrategy") == "DAEMON":
                service = self.ecs_backend._get_service(
                    self._get_param("cluster", "default"), self._get_param("serviceName")
                )
                config = dict(getattr(service, "deployment_configuration", None) or {})
                config.setdefault("maximumPercent", 100)
                service.deployment_configuration = config
            return result

        return create_service

    _wrap(EC2ContainerServiceResponse, "create_service", create)


def scheduler_create_schedule_client_token() -> None:
    """Gap: CreateSchedule ignores ClientToken ("not yet implemented" in moto). AWS makes the request
    idempotent on it (EventBridge Scheduler API, CreateSchedule: ClientToken), and the Go SDK fills the
    token in once per call (an idempotencyToken member) and resends it on every retry. Under load a
    retried CreateSchedule whose first attempt had landed failed the apply with ConflictException
    "Schedule ... already exists", which AWS would have answered with the same schedule."""
    from moto.scheduler.models import EventBridgeSchedulerBackend
    from moto.scheduler.responses import EventBridgeSchedulerResponse

    tokens: dict[tuple[str, str, str], str] = {}  # (account, region, schedule ARN) -> its ClientToken

    def create(original: Any) -> Any:
        def create_schedule(self: Any) -> Any:
            token = self._get_param("ClientToken")
            backend: EventBridgeSchedulerBackend = self.scheduler_backend
            group = backend.schedule_groups.get(self._get_param("GroupName") or "default")
            existing = group.schedules.get(self.uri.split("/")[-1]) if group is not None else None
            key = (backend.account_id, backend.region_name, existing.arn if existing is not None else "")
            if existing is not None and token and tokens.get(key) == token:
                return json.dumps({"ScheduleArn": existing.arn})
            result = original(self)
            if token:
                arn = json.loads(result)["ScheduleArn"]
                tokens[(backend.account_id, backend.region_name, arn)] = token
            return result

        return create_schedule

    _wrap(EventBridgeSchedulerResponse, "create_schedule", create)
