"""The GPU fleet: launch template, Auto Scaling group and the ECS capacity provider that drives it.

The group idles at zero instances in the subnets `network.py` chose and checked. ECS managed
scaling adds instances when tasks wait for capacity and, with managed termination protection, only
removes instances that run no task, so a video in progress is never killed by instance scale-in.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources

import jinja2
from cdktf import Fn, TerraformResourceLifecycle, Token
from cdktf_cdktf_provider_aws.autoscaling_group import (
    AutoscalingGroup, AutoscalingGroupMixedInstancesPolicy, AutoscalingGroupMixedInstancesPolicyInstancesDistribution,
    AutoscalingGroupMixedInstancesPolicyLaunchTemplate,
    AutoscalingGroupMixedInstancesPolicyLaunchTemplateLaunchTemplateSpecification,
    AutoscalingGroupMixedInstancesPolicyLaunchTemplateOverride, AutoscalingGroupTag,
)
from cdktf_cdktf_provider_aws.data_aws_ami import DataAwsAmi, DataAwsAmiFilter
from cdktf_cdktf_provider_aws.data_aws_ssm_parameter import DataAwsSsmParameter
from cdktf_cdktf_provider_aws.ecs_capacity_provider import (
    EcsCapacityProvider, EcsCapacityProviderAutoScalingGroupProvider,
    EcsCapacityProviderAutoScalingGroupProviderManagedScaling,
)
from cdktf_cdktf_provider_aws.iam_instance_profile import IamInstanceProfile
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.launch_template import (
    LaunchTemplate, LaunchTemplateBlockDeviceMappings, LaunchTemplateBlockDeviceMappingsEbs,
    LaunchTemplateIamInstanceProfile, LaunchTemplateMetadataOptions, LaunchTemplateMonitoring,
    LaunchTemplateTagSpecifications,
)
from cdktf_cdktf_provider_aws.security_group import SecurityGroup, SecurityGroupEgress

from .account import AccountContext
from .component import Component, Scope
from .policy import Statement, assume_role_policy, policy_document

GPU_AMI_PARAMETER = "/aws/service/ecs/optimized-ami/amazon-linux-2/gpu/recommended/image_id"


@dataclass(frozen=True)
class GpuFleetProps:
    stack_name: str
    cluster_name: str
    asg_name: str
    launch_template_name: str
    capacity_provider_name: str
    security_group_name: str
    instance_role_name: str
    log_group_name: str
    max_instances: int
    root_volume_gb: int
    vpc_id: str
    """VPC of the instances' security group (network.Network.vpc_id)."""
    subnet_ids: list[str]
    """Subnets of the group (network.Network.subnet_ids)."""
    instance_types: tuple[str, ...] = ("g4dn.xlarge",)
    """Tried in order; more than one lets the group fall back when a type has no capacity."""
    spot: bool = False
    """Spot instances (price-capacity-optimized) instead of on-demand."""
    ami_parameter: str = GPU_AMI_PARAMETER
    """SSM parameter of the ECS GPU-optimized Amazon Linux 2 AMI, resolved at plan time."""
    image_pull_behavior: str = "prefer-cached"
    """ECS agent pull policy: reuse a cached image when an instance is reused (faster start)."""
    stop_timeout_seconds: int = 60
    instance_warmup_seconds: int = 300
    target_capacity_percent: int = 100
    min_scaling_step: int = 1
    max_scaling_step: int = 10
    tags: dict = field(default_factory=dict)


def render_user_data(props: GpuFleetProps) -> str:
    template = resources.files("ecs_autoscale").joinpath("templates/user_data.sh.j2").read_text()
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    return env.from_string(template).render(
        stack_name=props.stack_name, cluster_name=props.cluster_name, spot=props.spot,
        image_pull_behavior=props.image_pull_behavior, stop_timeout_seconds=props.stop_timeout_seconds,
    )


def instance_statements(account: AccountContext, props: GpuFleetProps) -> list[Statement]:
    """What the ECS agent on an instance needs, scoped to this stack's cluster and log group."""
    cluster = account.arn("ecs", f"cluster/{props.cluster_name}")
    instances = account.arn("ecs", f"container-instance/{props.cluster_name}/*")
    log_group = account.arn("logs", f"log-group:{props.log_group_name}")
    return [
        Statement("EcsAgentCluster", ["ecs:RegisterContainerInstance", "ecs:DeregisterContainerInstance",
                                      "ecs:SubmitContainerStateChange", "ecs:SubmitTaskStateChange",
                                      "ecs:SubmitAttachmentStateChanges"], [cluster]),
        Statement("EcsAgentInstance", ["ecs:Poll", "ecs:StartTelemetrySession", "ecs:UpdateContainerInstancesState",
                                       "ecs:SubmitContainerStateChange", "ecs:SubmitTaskStateChange"],
                  [instances]),
        # DiscoverPollEndpoint and DescribeTags support no resource-level permissions (AWS docs).
        Statement("EcsAgentDiscovery", ["ecs:DiscoverPollEndpoint", "ec2:DescribeTags"], ["*"]),
        # The docker awslogs driver on EC2 writes with the instance's credentials.
        Statement("ContainerLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [f"{log_group}:*"]),
    ]


def root_volume_size(ami: DataAwsAmi, requested_gb: int) -> float:
    """BlockDeviceVolumeGBRoot, raised at plan time to the AMI's root snapshot size if smaller.

    EC2 refuses to launch a volume smaller than its snapshot, and the failure would only show up as
    a scaling activity error hours later; old model files ask for 10 GB while the current ECS GPU AMI
    snapshot is larger. The plan shows the effective size.
    """
    ami_ref = f"data.aws_ami.{ami.friendly_unique_id}"
    snapshot_sizes = (f"[for m in {ami_ref}.block_device_mappings : tonumber(m.ebs.volume_size) "
                      f"if m.device_name == {ami_ref}.root_device_name && can(m.ebs.volume_size)]")
    return Token.as_number(f"${{max({requested_gb}, {snapshot_sizes}...)}}")


class GpuFleet(Component):
    def __init__(self, scope: Scope, id: str, props: GpuFleetProps, account: AccountContext) -> None:
        super().__init__(scope, id)
        ami_id = DataAwsSsmParameter(self.stack, self.child_id("gpu_ami_id"), name=props.ami_parameter).insecure_value
        ami = DataAwsAmi(self.stack, self.child_id("gpu_ami"), owners=["amazon"], most_recent=True,
                         filter=[DataAwsAmiFilter(name="image-id", values=[ami_id])])

        self.role = IamRole(self.stack, self.child_id("instance_role"), name=props.instance_role_name,
                            assume_role_policy=assume_role_policy("ec2"))
        IamRolePolicy(self.stack, self.child_id("instance_policy"), name="ecs-agent", role=self.role.id,
                      policy=policy_document(instance_statements(account, props)))
        profile = IamInstanceProfile(self.stack, self.child_id("instance_profile"), name=props.instance_role_name,
                                     role=self.role.name)

        self.security_group = SecurityGroup(
            self.stack, self.child_id("instances"), name=props.security_group_name, vpc_id=props.vpc_id,
            description=f"GPU workers of {props.stack_name}: no inbound, outbound to AWS APIs and the image registry",
            # Only TCP 443 and 80 leave the instance. No NAT: AWS APIs are public endpoints. DNS, NTP
            # and instance metadata use link-local addresses that security groups do not filter.
            egress=[
                SecurityGroupEgress(description="HTTPS to ECS, ECR, S3, SQS, CloudWatch Logs and the image registry",
                                    protocol="tcp", from_port=443, to_port=443, cidr_blocks=["0.0.0.0/0"]),
                SecurityGroupEgress(description="HTTP to the Amazon Linux package repositories (signed packages)",
                                    protocol="tcp", from_port=80, to_port=80, cidr_blocks=["0.0.0.0/0"]),
            ],
        )
        instance_tags = {"Name": f"{props.stack_name}-gpu-worker", **props.tags}
        self.launch_template = LaunchTemplate(
            self.stack, self.child_id("launch_template"), name=props.launch_template_name, image_id=ami_id,
            update_default_version=True, vpc_security_group_ids=[self.security_group.id],
            iam_instance_profile=LaunchTemplateIamInstanceProfile(arn=profile.arn),
            user_data=Fn.base64encode(render_user_data(props)),
            block_device_mappings=[LaunchTemplateBlockDeviceMappings(
                device_name=ami.root_device_name,
                ebs=LaunchTemplateBlockDeviceMappingsEbs(volume_size=root_volume_size(ami, props.root_volume_gb),
                                                         volume_type="gp3",
                                                         encrypted="true", delete_on_termination="true"),
            )],
            # IMDSv2 only; hop limit 1 keeps bridge-mode containers away from the instance's credentials.
            metadata_options=LaunchTemplateMetadataOptions(http_endpoint="enabled", http_tokens="required",
                                                           http_put_response_hop_limit=1),
            monitoring=LaunchTemplateMonitoring(enabled=True),
            tag_specifications=[LaunchTemplateTagSpecifications(resource_type=kind, tags=instance_tags)
                                for kind in ("instance", "volume")],
        )
        self.group = AutoscalingGroup(
            self.stack, self.child_id("group"), name=props.asg_name, min_size=0, max_size=props.max_instances,
            vpc_zone_identifier=props.subnet_ids, protect_from_scale_in=True, capacity_rebalance=props.spot,
            health_check_type="EC2", default_instance_warmup=props.instance_warmup_seconds,
            mixed_instances_policy=AutoscalingGroupMixedInstancesPolicy(
                instances_distribution=AutoscalingGroupMixedInstancesPolicyInstancesDistribution(
                    on_demand_base_capacity=0,
                    on_demand_percentage_above_base_capacity=0 if props.spot else 100,
                    on_demand_allocation_strategy="prioritized",
                    spot_allocation_strategy="price-capacity-optimized",
                ),
                launch_template=AutoscalingGroupMixedInstancesPolicyLaunchTemplate(
                    launch_template_specification=(
                        AutoscalingGroupMixedInstancesPolicyLaunchTemplateLaunchTemplateSpecification(
                            launch_template_id=self.launch_template.id, version="$Latest")),
                    override=[AutoscalingGroupMixedInstancesPolicyLaunchTemplateOverride(instance_type=t)
                              for t in props.instance_types],
                ),
            ),
            tag=[AutoscalingGroupTag(key="AmazonECSManaged", value="true", propagate_at_launch=True)],
            # ECS managed scaling owns the desired count at run time; an apply must never reset it.
            lifecycle=TerraformResourceLifecycle(ignore_changes=["desired_capacity"]),
        )
        self.capacity_provider = EcsCapacityProvider(
            self.stack, self.child_id("capacity_provider"), name=props.capacity_provider_name,
            auto_scaling_group_provider=EcsCapacityProviderAutoScalingGroupProvider(
                auto_scaling_group_arn=self.group.arn,
                managed_termination_protection="ENABLED",
                managed_draining="ENABLED",
                managed_scaling=EcsCapacityProviderAutoScalingGroupProviderManagedScaling(
                    status="ENABLED", target_capacity=props.target_capacity_percent,
                    minimum_scaling_step_size=props.min_scaling_step,
                    maximum_scaling_step_size=props.max_scaling_step,
                    instance_warmup_period=props.instance_warmup_seconds,
                ),
            ),
        )
