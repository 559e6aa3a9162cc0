"""The local AWS emulator (moto server + ecs_autoscale.emulator.patches).

The terraform test is the contract: a real `terraform apply`, a second `plan` that must show
no changes, then `destroy`, of a hand-written stack using every resource type ecs-autoscale
synthesizes (tests/emulator_fixture_tf). The boto3 tests pin each moto gap that patches.py closes,
quickly and one by one. (`emulator_env` alone: tests/unit/test_emulator_env.py.)

The emulator is the session fixture `emulator` (tests/conftest.py): one moto account shared by the
session, so every name here starts with "emutest-" (the terraform fixture uses "demo").
"""

from __future__ import annotations

import json
import shutil

import boto3
import pytest
from botocore.exceptions import ClientError
from helpers import TESTS, terraform_env

from ecs_autoscale.aws_target import emulator_env

FIXTURE = TESTS / "emulator_fixture_tf"
ACCOUNT = "123456789012"  # moto's default account


# --- terraform: apply, no-op plan, destroy -------------------------------------------------------
def test_terraform_apply_then_plan_shows_no_changes_then_destroy(emulator, terraform_cli, tmp_path):
    workdir = tmp_path / "stack"
    shutil.copytree(FIXTURE, workdir)
    env = terraform_env(tmp_path, emulator_env(emulator))

    terraform_cli(["init", "-input=false", "-no-color"], workdir, env)
    terraform_cli(["apply", "-auto-approve", "-input=false", "-no-color"], workdir, env)
    outputs = json.loads(terraform_cli(["output", "-json"], workdir, env).stdout)
    assert outputs["account_id"]["value"] == ACCOUNT  # STS answered by the emulator
    assert outputs["jobs_queue_url"]["value"].startswith(emulator)
    assert outputs["scalable_target_arn"]["value"].startswith("arn:aws:application-autoscaling:")

    # 0 = no changes; 2 would be a diff: a round-trip gap in the emulator (or a provider quirk).
    terraform_cli(["plan", "-detailed-exitcode", "-input=false", "-no-color"], workdir, env)

    terraform_cli(["destroy", "-auto-approve", "-input=false", "-no-color"], workdir, env)
    state = terraform_cli(["state", "list"], workdir, env, ok_codes=(0, 1)).stdout
    assert state.strip() == ""


# --- boto3: one test per patch --------------------------------------------------------------------
@pytest.fixture
def aws(emulator, monkeypatch):
    """`aws("ecs")`: a plain boto3 client configured only by `emulator_env` (as the CLI's subprocesses are)."""
    for name, value in emulator_env(emulator).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return lambda service: boto3.session.Session().client(service)


def test_emulator_env_alone_points_boto3_at_the_emulator(aws, emulator):
    sts = aws("sts")
    assert sts.meta.endpoint_url == emulator
    assert sts.get_caller_identity()["Account"] == ACCOUNT


def _ecs_service(aws, name: str, **service_args) -> dict:
    """A cluster, an EC2/bridge task definition with only memoryReservation, and a service."""
    ecs = aws("ecs")
    ecs.create_cluster(clusterName=name)
    ecs.register_task_definition(
        family=name,
        requiresCompatibilities=["EC2"],
        networkMode="bridge",
        containerDefinitions=[
            {
                "name": "worker",
                "image": "worker:1",
                "memoryReservation": 512,
                "resourceRequirements": [{"type": "GPU", "value": "1"}],
            }
        ],
    )
    ecs.create_service(cluster=name, serviceName=name, taskDefinition=name, desiredCount=0, **service_args)
    [service] = ecs.describe_services(cluster=name, services=[name])["services"]
    return service


def test_appautoscaling_target_tags_round_trip(aws):
    _ecs_service(aws, "emutest-tags")
    aas = aws("application-autoscaling")
    target = dict(
        ServiceNamespace="ecs",
        ScalableDimension="ecs:service:DesiredCount",
        ResourceId="service/emutest-tags/emutest-tags",
    )
    arn = aas.register_scalable_target(**target, MinCapacity=0, MaxCapacity=3, Tags={"ManagedBy": "ecs-autoscale"})[
        "ScalableTargetARN"
    ]
    [described] = aas.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[target["ResourceId"]])[
        "ScalableTargets"
    ]
    assert described["ScalableTargetARN"] == arn

    aas.tag_resource(ResourceARN=arn, Tags={"owner": "lab"})
    assert aas.list_tags_for_resource(ResourceARN=arn)["Tags"] == {"ManagedBy": "ecs-autoscale", "owner": "lab"}
    aas.untag_resource(ResourceARN=arn, TagKeys=["ManagedBy"])
    assert aas.list_tags_for_resource(ResourceARN=arn)["Tags"] == {"owner": "lab"}

    aas.deregister_scalable_target(**target)
    assert aas.list_tags_for_resource(ResourceARN=arn)["Tags"] == {}


def test_appautoscaling_policy_arn_survives_an_update(aws):
    _ecs_service(aws, "emutest-policy")
    aas = aws("application-autoscaling")
    target = dict(
        ServiceNamespace="ecs",
        ScalableDimension="ecs:service:DesiredCount",
        ResourceId="service/emutest-policy/emutest-policy",
    )
    aas.register_scalable_target(**target, MinCapacity=0, MaxCapacity=3)

    def put(cooldown: int) -> str:
        return aas.put_scaling_policy(
            **target,
            PolicyName="out",
            PolicyType="StepScaling",
            StepScalingPolicyConfiguration={
                "AdjustmentType": "ChangeInCapacity",
                "Cooldown": cooldown,
                "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}],
            },
        )["PolicyARN"]

    first = put(60)
    assert put(120) == first  # alarms keep pointing at it
    [policy] = aas.describe_scaling_policies(ServiceNamespace="ecs", ResourceId=target["ResourceId"])["ScalingPolicies"]
    assert policy["PolicyARN"] == first
    assert policy["StepScalingPolicyConfiguration"]["Cooldown"] == 120


def test_service_without_awsvpc_has_no_network_configuration(aws):
    service = _ecs_service(aws, "emutest-bridge")
    assert "networkConfiguration" not in service
    assert "networkConfiguration" not in service["deployments"][0]


def test_service_create_parameters_round_trip(aws):
    ecs = aws("ecs")
    ecs.create_capacity_provider(
        name="emutest-cp",
        autoScalingGroupProvider={
            "autoScalingGroupArn": "arn:aws:autoscaling:us-west-2:123456789012:autoScalingGroup:x:"
            "autoScalingGroupName/emutest-cp",
            "managedScaling": {"status": "ENABLED", "targetCapacity": 100},
            "managedTerminationProtection": "ENABLED",
        },
    )
    strategy = [{"capacityProvider": "emutest-cp", "weight": 1, "base": 0}]
    args = dict(
        capacityProviderStrategy=strategy,
        placementConstraints=[{"type": "distinctInstance"}],
        placementStrategy=[{"type": "spread", "field": "instanceId"}],
        deploymentConfiguration={"minimumHealthyPercent": 0, "maximumPercent": 100},
        enableECSManagedTags=True,
    )
    service = _ecs_service(aws, "emutest-strategy", **args)
    for key, value in args.items():
        assert service[key] == value, key

    # UpdateService (moto already stores what it receives) keeps working on top.
    strategy[0]["weight"] = 2
    ecs.update_service(cluster="emutest-strategy", service="emutest-strategy", capacityProviderStrategy=strategy)
    [service] = ecs.describe_services(cluster="emutest-strategy", services=["emutest-strategy"])["services"]
    assert service["capacityProviderStrategy"] == strategy


def test_ec2_task_definition_accepts_memory_reservation_alone(aws):
    [container] = aws("ecs").register_task_definition(
        family="emutest-reservation",
        requiresCompatibilities=["EC2"],
        networkMode="bridge",
        containerDefinitions=[{"name": "w", "image": "w:1", "memoryReservation": 256}],
    )["taskDefinition"]["containerDefinitions"]
    assert container["memoryReservation"] == 256


def test_cloudformation_task_definition_update_keeps_its_environment_and_delete_deregisters(aws):
    """The deepsea-ai lookup stack's path: create, update (new environment), unchanged update, delete."""
    cf, ecs = aws("cloudformation"), aws("ecs")

    def template(value: str) -> str:
        return json.dumps(
            {
                "Resources": {
                    "Record": {
                        "Type": "AWS::ECS::TaskDefinition",
                        "Properties": {
                            "Family": "emutest-record",
                            "RequiresCompatibilities": ["EC2"],
                            "ContainerDefinitions": [
                                {
                                    "Name": "w",
                                    "Image": "w:1",
                                    "MemoryReservation": 128,
                                    "Environment": [{"Name": "VIDEO_QUEUE", "Value": value}],
                                }
                            ],
                        },
                    }
                }
            }
        )

    def record() -> dict:
        (summary,) = cf.list_stack_resources(StackName="emutest-record")["StackResourceSummaries"]
        return ecs.describe_task_definition(taskDefinition=summary["PhysicalResourceId"])["taskDefinition"]

    cf.create_stack(StackName="emutest-record", TemplateBody=template("q1"))
    assert record()["containerDefinitions"][0]["environment"] == [{"name": "VIDEO_QUEUE", "value": "q1"}]
    cf.update_stack(StackName="emutest-record", TemplateBody=template("q2"))
    second = record()
    assert second["revision"] == 2 and second["containerDefinitions"][0]["environment"] == [
        {"name": "VIDEO_QUEUE", "value": "q2"}
    ]
    assert ecs.list_task_definitions(familyPrefix="emutest-record")["taskDefinitionArns"] == [
        second["taskDefinitionArn"]
    ]
    cf.update_stack(StackName="emutest-record", TemplateBody=template("q2") + " ")  # no change: same revision
    assert record()["revision"] == 2
    cf.delete_stack(StackName="emutest-record")
    assert ecs.list_task_definitions(familyPrefix="emutest-record")["taskDefinitionArns"] == []


def test_aws_managed_policies_exist(aws):
    arn = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
    assert aws("iam").get_policy(PolicyArn=arn)["Policy"]["Arn"] == arn


def test_sqs_redrive_policies_and_queue_policy(aws):
    sqs = aws("sqs")
    fifo = {"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    dead = sqs.create_queue(QueueName="emutest-dead.fifo", Attributes=fifo)["QueueUrl"]
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": 2}, separators=(",", ":"))
    jobs = sqs.create_queue(QueueName="emutest-jobs.fifo", Attributes={**fifo, "RedrivePolicy": redrive})["QueueUrl"]
    # Compact JSON, as AWS returns it (the provider compares the string).
    assert sqs.get_queue_attributes(QueueUrl=jobs, AttributeNames=["All"])["Attributes"]["RedrivePolicy"] == redrive

    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "sqs:*",
                    "Resource": dead_arn,
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
    )
    sqs.set_queue_attributes(QueueUrl=dead, Attributes={"Policy": policy})
    allow = {"redrivePermission": "byQueue", "sourceQueueArns": [dead_arn.replace("dead", "jobs")]}
    sqs.set_queue_attributes(QueueUrl=dead, Attributes={"RedriveAllowPolicy": json.dumps(allow)})

    attributes = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["All"])["Attributes"]
    assert attributes["RedriveAllowPolicy"] == json.dumps(allow, separators=(",", ":"))  # compact, as AWS
    assert json.loads(attributes["Policy"]) == json.loads(policy)  # not wiped by the other attribute

    sqs.set_queue_attributes(QueueUrl=dead, Attributes={"RedriveAllowPolicy": ""})  # how the provider deletes it
    attributes = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["All"])["Attributes"]
    assert "RedriveAllowPolicy" not in attributes
    sqs.set_queue_attributes(QueueUrl=dead, Attributes={"Policy": ""})
    assert "Policy" not in sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["All"])["Attributes"]


def _launch_template(aws, name: str) -> str:
    return aws("ec2").create_launch_template(
        LaunchTemplateName=name,
        LaunchTemplateData={
            "ImageId": "ami-12c6146b",
            "InstanceType": "g4dn.xlarge",
            "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "worker"}]}],
        },
        TagSpecifications=[{"ResourceType": "launch-template", "Tags": [{"Key": "ManagedBy", "Value": "x"}]}],
    )["LaunchTemplate"]["LaunchTemplateId"]


def test_launch_template_own_tags_stay_out_of_its_data(aws):
    ec2 = aws("ec2")
    template_id = _launch_template(aws, "emutest-lt")
    [version] = ec2.describe_launch_template_versions(LaunchTemplateId=template_id)["LaunchTemplateVersions"]
    specs = version["LaunchTemplateData"]["TagSpecifications"]
    assert [s["ResourceType"] for s in specs] == ["instance"]
    [template] = ec2.describe_launch_templates(LaunchTemplateIds=[template_id])["LaunchTemplates"]
    assert template["Tags"] == [{"Key": "ManagedBy", "Value": "x"}]


def test_default_vpc_routes_to_its_internet_gateway_and_its_subnets_map_public_ips(aws):
    ec2 = aws("ec2")
    [vpc] = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    [gateway] = ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}])[
        "InternetGateways"
    ]
    [main] = ec2.describe_route_tables(
        Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}, {"Name": "association.main", "Values": ["true"]}]
    )["RouteTables"]
    assert {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": gateway["InternetGatewayId"]}.items() <= next(
        r for r in main["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"
    ).items()
    defaults = ec2.describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}, {"Name": "default-for-az", "Values": ["true"]}]
    )["Subnets"]
    assert defaults and all(s["MapPublicIpOnLaunch"] for s in defaults)


def test_autoscaling_group_keeps_warmup_and_mixed_instances_policy(aws):
    template_id = _launch_template(aws, "emutest-asg-lt")
    subnets = [s["SubnetId"] for s in aws("ec2").describe_subnets()["Subnets"]]
    policy = {
        "InstancesDistribution": {
            "OnDemandBaseCapacity": 0,
            "OnDemandPercentageAboveBaseCapacity": 0,
            "SpotAllocationStrategy": "price-capacity-optimized",
        },
        "LaunchTemplate": {
            "LaunchTemplateSpecification": {"LaunchTemplateId": template_id, "Version": "$Latest"},
            "Overrides": [{"InstanceType": "g4dn.xlarge"}, {"InstanceType": "g5.xlarge"}],
        },
    }
    asg = aws("autoscaling")
    asg.create_auto_scaling_group(
        AutoScalingGroupName="emutest-asg",
        MinSize=0,
        MaxSize=2,
        VPCZoneIdentifier=",".join(subnets[:2]),
        MixedInstancesPolicy=policy,
        NewInstancesProtectedFromScaleIn=True,
        DefaultInstanceWarmup=300,
    )
    # What `terraform destroy` sends first: only the sizes.
    asg.update_auto_scaling_group(AutoScalingGroupName="emutest-asg", MinSize=0, MaxSize=0, DesiredCapacity=0)
    [group] = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["emutest-asg"])["AutoScalingGroups"]
    assert group["DefaultInstanceWarmup"] == 300
    assert group["NewInstancesProtectedFromScaleIn"] is True
    assert group["MixedInstancesPolicy"]["LaunchTemplate"]["Overrides"] == policy["LaunchTemplate"]["Overrides"]
    asg.update_auto_scaling_group(AutoScalingGroupName="emutest-asg", DefaultInstanceWarmup=60)
    [group] = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["emutest-asg"])["AutoScalingGroups"]
    assert group["DefaultInstanceWarmup"] == 60
    asg.delete_auto_scaling_group(AutoScalingGroupName="emutest-asg", ForceDelete=True)


def test_tls_only_bucket_policy_lets_emulator_requests_through(aws):
    s3 = aws("s3")
    s3.create_bucket(Bucket="emutest-tls", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    deny = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": ["arn:aws:s3:::emutest-tls", "arn:aws:s3:::emutest-tls/*"],
    }
    tls_only = {**deny, "Sid": "DenyInsecureTransport", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    s3.put_bucket_policy(Bucket="emutest-tls", Policy=json.dumps({"Version": "2012-10-17", "Statement": [tls_only]}))
    s3.put_object(Bucket="emutest-tls", Key="videos/a.mp4", Body=b"video")
    assert s3.head_object(Bucket="emutest-tls", Key="videos/a.mp4")["ContentLength"] == 5

    # Other policies are still enforced as before.
    s3.put_bucket_policy(Bucket="emutest-tls", Policy=json.dumps({"Version": "2012-10-17", "Statement": [deny]}))
    with pytest.raises(ClientError) as denied:
        s3.head_object(Bucket="emutest-tls", Key="videos/a.mp4")
    assert denied.value.response["Error"]["Code"] == "403"


def test_appautoscaling_scaling_activities_answer(aws):
    activities = aws("application-autoscaling").describe_scaling_activities(
        ServiceNamespace="ecs",
        ResourceId="service/emutest-none/emutest-none",
        ScalableDimension="ecs:service:DesiredCount",
    )
    assert activities["ScalingActivities"] == []


def test_default_vpc_routes_to_an_internet_gateway(aws):
    ec2 = aws("ec2")
    [vpc] = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    [igw] = ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}])[
        "InternetGateways"
    ]
    [main] = ec2.describe_route_tables(
        Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}, {"Name": "association.main", "Values": ["true"]}]
    )["RouteTables"]
    assert {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": igw["InternetGatewayId"]}.items() <= next(
        r for r in main["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"
    ).items()


def test_ec2_vcpu_quotas_answer_and_follow_the_environment(aws, monkeypatch):
    from ecs_autoscale.emulator.patches import QUOTAS_ENV

    quotas = aws("service-quotas")
    quota = quotas.get_service_quota(ServiceCode="ec2", QuotaCode="L-DB2E81BA")["Quota"]
    assert (quota["QuotaName"], quota["Value"]) == ("Running On-Demand G and VT instances", 256.0)
    monkeypatch.setenv(QUOTAS_ENV, "L-DB2E81BA=8,L-3819A6DF=default:0")
    assert quotas.get_service_quota(ServiceCode="ec2", QuotaCode="L-DB2E81BA")["Quota"]["Value"] == 8.0
    with pytest.raises(ClientError) as unset:
        quotas.get_service_quota(ServiceCode="ec2", QuotaCode="L-3819A6DF")
    assert unset.value.response["Error"]["Code"] == "NoSuchResourceException"
    assert quotas.get_aws_default_service_quota(ServiceCode="ec2", QuotaCode="L-3819A6DF")["Quota"]["Value"] == 0.0
    # Other quotas keep moto's own answers.
    assert quotas.get_service_quota(ServiceCode="vpc", QuotaCode="L-F678F1CE")["Quota"]["QuotaCode"] == "L-F678F1CE"


def test_create_schedule_is_idempotent_on_its_client_token(aws):
    """A retried CreateSchedule (same ClientToken, as the Go SDK resends it) gets the schedule back, as
    on AWS; another token for the same name is still a conflict."""
    scheduler = aws("scheduler")
    args = dict(
        Name="emulator-idempotent",
        ScheduleExpression="rate(60 minutes)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": "arn:aws:scheduler:::aws-sdk:sqs:tagQueue",
            "RoleArn": "arn:aws:iam::123456789012:role/keepalive",
            "Input": "{}",
        },
    )
    first = scheduler.create_schedule(ClientToken="retry-1", **args)["ScheduleArn"]
    assert scheduler.create_schedule(ClientToken="retry-1", **args)["ScheduleArn"] == first
    with pytest.raises(ClientError) as other:
        scheduler.create_schedule(ClientToken="another-call", **args)
    assert other.value.response["Error"]["Code"] == "ConflictException"
    scheduler.delete_schedule(Name="emulator-idempotent")
