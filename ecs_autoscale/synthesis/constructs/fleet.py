"""The GPU fleet: launch template, Auto Scaling group (optionally with a warm pool) and its instance role.

The group idles at zero instances (no idle cost) in the subnets `network.py` chose and checked. Its
desired capacity is the stack's only actuator (scaling_design.py): `submit` and the backstop alarm raise it,
the agent on each instance lowers it by terminating its own idle instance. No ECS capacity provider: see
scaling_design.py. Instances are not protected from scale-in and the group is force-deleted, so `terraform
destroy` never waits on an instance (terraform-provider-aws #18849; ForceDelete also skips lifecycle hooks);
the group depends on the cluster, so Terraform removes the instances before the cluster they are registered
with.

What the group itself may not do to a busy instance:
- every instance it terminates (a backstop alarm, an instance refresh, a stop) waits in Terminating:Wait
  until its agent finds its workers quiet: a termination lifecycle hook, declared with the group
  (`initial_lifecycle_hook`: a hook added after the group applies only to instances launched after it;
  terraform-provider-aws docs of aws_autoscaling_lifecycle_hook);
- AZ rebalancing is suspended: after an agent terminates its own instance the zones are unbalanced, and
  the group would launch a new instance and then terminate one of its own choosing (EC2 Auto Scaling User
  Guide, "Rebalancing activities"; API_TerminateInstanceInAutoScalingGroup);
- Spot Capacity Rebalancing is off: it terminates the old instance once its replacement is healthy, and our
  worker cannot be told to stop taking videos (EC2 Auto Scaling User Guide, "Capacity Rebalancing"). A real
  Spot interruption (two minutes' notice) still ends the running video: it returns after TimeoutHours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cdktf import Fn, ITerraformDependable, TerraformLocal, TerraformResourceLifecycle, Token
from cdktf_cdktf_provider_aws.autoscaling_group import (
    AutoscalingGroup,
    AutoscalingGroupInitialLifecycleHook,
    AutoscalingGroupInstanceRefresh,
    AutoscalingGroupInstanceRefreshPreferences,
    AutoscalingGroupLaunchTemplate,
    AutoscalingGroupMixedInstancesPolicy,
    AutoscalingGroupMixedInstancesPolicyInstancesDistribution,
    AutoscalingGroupMixedInstancesPolicyLaunchTemplate,
    AutoscalingGroupMixedInstancesPolicyLaunchTemplateLaunchTemplateSpecification,
    AutoscalingGroupMixedInstancesPolicyLaunchTemplateOverride,
    AutoscalingGroupTag,
    AutoscalingGroupWarmPool,
)
from cdktf_cdktf_provider_aws.data_aws_ami import DataAwsAmi, DataAwsAmiFilter
from cdktf_cdktf_provider_aws.data_aws_ssm_parameter import DataAwsSsmParameter
from cdktf_cdktf_provider_aws.iam_instance_profile import IamInstanceProfile
from cdktf_cdktf_provider_aws.launch_template import (
    LaunchTemplate,
    LaunchTemplateBlockDeviceMappings,
    LaunchTemplateBlockDeviceMappingsEbs,
    LaunchTemplateIamInstanceProfile,
    LaunchTemplateMetadataOptions,
    LaunchTemplateMonitoring,
    LaunchTemplateTagSpecifications,
)
from cdktf_cdktf_provider_aws.security_group import SecurityGroup, SecurityGroupEgress

from ...model.ami import GPU_AMI_PARAMETER
from ..policy import Statement, assume_role_policy
from .account import AccountContext
from .component import Component, Scope


@dataclass(frozen=True)
class GpuFleetProps:
    stack_name: str
    cluster_name: str
    asg_name: str
    launch_template_name: str
    security_group_name: str
    instance_role_name: str
    log_group_name: str
    max_instances: int
    root_volume_gb: int
    vpc_id: str
    """VPC of the instances' security group (network.Network.vpc_id)."""
    subnet_ids: list[str]
    """Subnets of the group (network.Network.subnet_ids)."""
    user_data: str
    """The instance's boot script (synthesis/user_data.py): ECS agent settings and the instance agent."""
    instance_types: tuple[str, ...] = ("g4dn.xlarge",)
    """In order of preference; more than one lets the group fall back when a type has no capacity."""
    spot: bool = False
    """Spot instances, types tried in order of preference as far as Spot capacity allows."""
    warm_pool_size: int = 0
    """Stopped instances prepared in advance (image pulled) while the group runs fewer; needs one on-demand
    type (config.py)."""
    launch_hook_name: str = ""
    """The warm pool's launch hook: an instance waits until its agent has pulled the image."""
    launch_heartbeat_seconds: int = 900
    termination_hook_name: str = "drain-workers"
    """Every instance the group terminates waits until its agent finds its workers quiet."""
    termination_heartbeat_seconds: int = 1800
    ami_parameter: str = GPU_AMI_PARAMETER
    """SSM parameter of the ECS GPU-optimized AMI (named once, in ami.py), resolved at plan time."""
    instance_warmup_seconds: int = 300
    agent_statements: tuple[Statement, ...] = ()
    """What the instance agent needs beyond the ECS agent (synthesis/user_data.py's agent_permissions)."""
    tags: dict[str, str] = field(default_factory=dict)
    """Every tag of the stack (ManagedBy, ecs-autoscale:stack, the model file's Tags): provider
    default_tags do not reach what the group launches, so instances and volumes get them here."""


def instance_statements(account: AccountContext, props: GpuFleetProps) -> list[Statement]:
    """What the ECS agent on an instance needs, scoped to this stack's cluster and log group."""
    cluster = account.arn("ecs", f"cluster/{props.cluster_name}")
    instances = account.arn("ecs", f"container-instance/{props.cluster_name}/*")
    log_group = account.arn("logs", f"log-group:{props.log_group_name}")
    return [
        Statement(
            "EcsAgentCluster",
            [
                "ecs:RegisterContainerInstance",
                "ecs:DeregisterContainerInstance",
                "ecs:SubmitContainerStateChange",
                "ecs:SubmitTaskStateChange",
                "ecs:SubmitAttachmentStateChanges",
            ],
            [cluster],
        ),
        Statement(
            "EcsAgentInstance",
            [
                "ecs:Poll",
                "ecs:StartTelemetrySession",
                "ecs:UpdateContainerInstancesState",
                "ecs:SubmitContainerStateChange",
                "ecs:SubmitTaskStateChange",
            ],
            [instances],
        ),
        # DiscoverPollEndpoint and DescribeTags support no resource-level permissions (AWS docs).
        Statement("EcsAgentDiscovery", ["ecs:DiscoverPollEndpoint", "ec2:DescribeTags"], ["*"]),
        # The docker awslogs driver on EC2 writes with the instance's credentials.
        Statement("ContainerLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [f"{log_group}:*"]),
        *props.agent_statements,
    ]


def terraform_literal(text: str) -> str:
    """`text` as a Terraform string that interpolates nothing: every JSON string value is a template,
    so `${` and `%{` (a shell script's `${VAR}`) are written `$${` and `%%{`."""
    return text.replace("${", "$${").replace("%{", "%%{")


def root_volume_size(ami: DataAwsAmi, requested_gb: int) -> float:
    """BlockDeviceVolumeGBRoot, raised at plan time to the AMI's root snapshot size if smaller.

    EC2 refuses to launch a volume smaller than its snapshot, and the failure would only show up as
    a scaling activity error hours later; old model files ask for 10 GB while the current ECS GPU AMI
    snapshot is larger. The plan shows the effective size.
    """
    ami_ref = f"data.aws_ami.{ami.friendly_unique_id}"
    snapshot_sizes = (
        f"[for m in {ami_ref}.block_device_mappings : tonumber(m.ebs.volume_size) "
        f"if m.device_name == {ami_ref}.root_device_name && can(m.ebs.volume_size)]"
    )
    return Token.as_number(f"${{max({requested_gb}, {snapshot_sizes}...)}}")


class GpuFleet(Component):
    def __init__(
        self, scope: Scope, id: str, props: GpuFleetProps, account: AccountContext, cluster: ITerraformDependable
    ) -> None:
        super().__init__(scope, id)
        ami_id = DataAwsSsmParameter(self.stack, self.child_id("gpu_ami_id"), name=props.ami_parameter).insecure_value
        ami = DataAwsAmi(
            self.stack,
            self.child_id("gpu_ami"),
            owners=["amazon"],
            most_recent=True,
            filter=[DataAwsAmiFilter(name="image-id", values=[ami_id])],
        )

        self.role, _ = self.role_with_policy(
            "instance_role",
            name=props.instance_role_name,
            trust=assume_role_policy("ec2"),
            policy_name="ecs-agent",
            statements=instance_statements(account, props),
            policy_id="instance_policy",
        )
        profile = IamInstanceProfile(
            self.stack, self.child_id("instance_profile"), name=props.instance_role_name, role=self.role.name
        )

        self.security_group = SecurityGroup(
            self.stack,
            self.child_id("instances"),
            name=props.security_group_name,
            vpc_id=props.vpc_id,
            description=f"GPU workers of {props.stack_name}: no inbound, outbound HTTPS only",
            # Only TCP 443 leaves the instance: AWS APIs, the image registry and the Amazon Linux 2023
            # package mirrors are all HTTPS, reached through the subnet's internet or NAT gateway
            # (network.py). DNS, NTP and instance metadata use link-local addresses that security
            # groups do not filter.
            egress=[
                SecurityGroupEgress(
                    description="HTTPS to AWS APIs (ECS, ECR, S3, SQS, Auto Scaling, SNS, "
                    "CloudWatch Logs) and the image registry",
                    protocol="tcp",
                    from_port=443,
                    to_port=443,
                    cidr_blocks=["0.0.0.0/0"],
                )
            ],
        )
        # The boot script stays readable in the JSON and the plan (a local), gzipped only on its way
        # into the launch template: the instance agent makes it larger than EC2's 16 KB user-data
        # limit raw; cloud-init unpacks it.
        user_data = TerraformLocal(self.stack, self.child_id("user_data"), terraform_literal(props.user_data))
        self.launch_template = LaunchTemplate(
            self.stack,
            self.child_id("launch_template"),
            name=props.launch_template_name,
            image_id=ami_id,
            instance_type=props.instance_types[0] if props.warm_pool_size else None,
            update_default_version=True,
            vpc_security_group_ids=[self.security_group.id],
            iam_instance_profile=LaunchTemplateIamInstanceProfile(arn=profile.arn),
            user_data=Fn.base64gzip(user_data.as_string),
            block_device_mappings=[
                LaunchTemplateBlockDeviceMappings(
                    device_name=ami.root_device_name,
                    ebs=LaunchTemplateBlockDeviceMappingsEbs(
                        volume_size=root_volume_size(ami, props.root_volume_gb),
                        volume_type="gp3",
                        encrypted="true",
                        delete_on_termination="true",
                    ),
                )
            ],
            # IMDSv2 only; hop limit 1 keeps bridge-mode containers away from the instance's credentials.
            metadata_options=LaunchTemplateMetadataOptions(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1
            ),
            # Basic monitoring: detailed monitoring is billed per metric and nothing here reads it.
            monitoring=LaunchTemplateMonitoring(enabled=False),
            # The group's tags reach its instances (propagate_at_launch), not their volumes.
            tag_specifications=[
                LaunchTemplateTagSpecifications(
                    resource_type="volume", tags={"Name": f"{props.stack_name}-gpu-worker", **props.tags}
                )
            ],
        )
        self.group = AutoscalingGroup(
            self.stack,
            self.child_id("group"),
            name=props.asg_name,
            min_size=0,
            max_size=props.max_instances,
            vpc_zone_identifier=props.subnet_ids,
            capacity_rebalance=False,
            suspended_processes=["AZRebalance"],
            initial_lifecycle_hook=self._hooks(props),
            health_check_type="EC2",
            default_instance_warmup=props.instance_warmup_seconds,
            # The agents terminate idle instances themselves; nothing may keep an instance the stack
            # no longer wants, and destroy must not wait for one.
            protect_from_scale_in=False,
            force_delete=True,
            # Free one-minute group metrics: the backstop alarms read the desired capacity and the
            # instances in service (EC2 Auto Scaling User Guide, group metrics).
            enabled_metrics=["GroupDesiredCapacity", "GroupInServiceInstances"],
            metrics_granularity="1Minute",
            **self._launch_spec(props),
            tag=[
                AutoscalingGroupTag(key=key, value=value, propagate_at_launch=True)
                for key, value in sorted({"Name": f"{props.stack_name}-gpu-worker", **props.tags}.items())
            ],
            # submit, the alarms and the agents own the desired count at run time; an apply must never
            # reset a running fleet.
            lifecycle=TerraformResourceLifecycle(ignore_changes=["desired_capacity"]),
            depends_on=[cluster],
        )

    @staticmethod
    def _hooks(props: GpuFleetProps) -> list[AutoscalingGroupInitialLifecycleHook]:
        """Declared with the group, so they hold its very first instances too (the warm pool's included)."""
        hooks = [
            AutoscalingGroupInitialLifecycleHook(
                name=props.termination_hook_name,
                lifecycle_transition="autoscaling:EC2_INSTANCE_TERMINATING",
                heartbeat_timeout=props.termination_heartbeat_seconds,
                # An agent that died lets the instance go when its heartbeats stop.
                default_result="CONTINUE",
            )
        ]
        if props.warm_pool_size:
            # The agent completes it once a warm-pool instance has pulled the image, so the pool holds
            # prepared instances; an InService launch completes it at once.
            hooks.append(
                AutoscalingGroupInitialLifecycleHook(
                    name=props.launch_hook_name,
                    lifecycle_transition="autoscaling:EC2_INSTANCE_LAUNCHING",
                    heartbeat_timeout=props.launch_heartbeat_seconds,
                    default_result="CONTINUE",
                )
            )
        return hooks

    def _launch_spec(self, props: GpuFleetProps) -> dict[str, Any]:
        # The template's version number, not "$Latest": the plan shows which version the group launches, and a
        # template change updates the group, which starts the warm pool's instance refresh.
        template = {"id": self.launch_template.id, "version": Token.as_string(self.launch_template.latest_version)}
        if props.warm_pool_size:
            # A warm pool needs a plain launch template (no mixed instances policy, no Spot).
            return {
                "launch_template": AutoscalingGroupLaunchTemplate(**template),
                # Pool size = max(MinSize, MaxGroupPreparedCapacity - desired capacity) (EC2 Auto Scaling User
                # Guide, warm pools): WarmPool prepared instances while the group is idle, refilled only while
                # it runs fewer than that, so pool and group never run more than max(FleetSize, WarmPool).
                "warm_pool": AutoscalingGroupWarmPool(
                    pool_state="Stopped",
                    min_size=0,
                    max_group_prepared_capacity=props.warm_pool_size,
                ),
                # A template change (AMI, image, settings) leaves existing pool instances as they were; an
                # instance refresh replaces them, after any InService instance (EC2 Auto Scaling User Guide,
                # warm pools, "Update the instances in a warm pool"), each through the termination hook:
                # stopped, no agent completes it, so `ecs-autoscale deploy` does after the apply
                # (stack_deployment.release_stale_warm_pool; AWS has no way to keep a hook off the pool).
                "instance_refresh": AutoscalingGroupInstanceRefresh(
                    strategy="Rolling",
                    preferences=AutoscalingGroupInstanceRefreshPreferences(skip_matching=True),
                ),
            }
        return {
            "mixed_instances_policy": AutoscalingGroupMixedInstancesPolicy(
                instances_distribution=AutoscalingGroupMixedInstancesPolicyInstancesDistribution(
                    on_demand_base_capacity=0,
                    on_demand_percentage_above_base_capacity=0 if props.spot else 100,
                    on_demand_allocation_strategy="prioritized",
                    # The only Spot strategy that honours the InstanceTypes order (best effort, capacity
                    # first); price-capacity-optimized ignores it (EC2 Auto Scaling API, InstancesDistribution).
                    spot_allocation_strategy="capacity-optimized-prioritized",
                ),
                launch_template=AutoscalingGroupMixedInstancesPolicyLaunchTemplate(
                    launch_template_specification=AutoscalingGroupMixedInstancesPolicyLaunchTemplateLaunchTemplateSpecification(
                        launch_template_id=template["id"], version=template["version"]
                    ),
                    override=[
                        AutoscalingGroupMixedInstancesPolicyLaunchTemplateOverride(instance_type=t)
                        for t in props.instance_types
                    ],
                ),
            )
        }
