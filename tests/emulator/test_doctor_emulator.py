"""`ecs-autoscale doctor`: the real CLI against the emulator, exact finding lines for pass and fail.
Only the deploy test runs Terraform; the others take about a second each. Its checks without AWS are in
tests/unit/test_doctor.py.

The emulator is shared by the session: what this module creates (ECR repositories `doctor/worker` and
`mbari/strongsort-yolov5`, buckets `doctor-test-*` and `deepsea-ai-123456789012-*`, IAM user
`doctor-test-nobody`, a VPC in ca-central-1) is named for it, and what it deletes is in Regions no
other test uses: the default VPC of eu-west-3, the default subnets of ap-south-1, the GPU AMI of
sa-east-1. Quotas come from the emulator patch, set per test through $ECS_AUTOSCALE_EMULATOR_QUOTAS
(read by the in-process emulator at each call).

Conditions the emulator cannot produce (a denial from SSM, which moto answers in the wrong wire format;
throttling) come from botocore's Stubber on a real client: the check then gets the ClientError botocore
raises for that AWS error code.
"""

from __future__ import annotations

import base64
import json
import re
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs

import helpers
import pytest
from helpers import seed_text, write_model
from support.doctor import (
    CONF,
    CONF_URI,
    IMAGE,
    MODEL_URI,
    MODELS,
    REPO,
    config_of,
    denied,
    failing_client,
    model,
    only_finding,
)

from ecs_autoscale.doctor import run
from ecs_autoscale.doctor.checks import check_ami, check_image, check_object
from ecs_autoscale.doctor.network import check_network
from ecs_autoscale.emulator.patches import QUOTAS_ENV
from ecs_autoscale.model.ami import GPU_AMI_PARAMETER

MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 7023,
            "digest": "sha256:" + "a" * 64,
        },
        "layers": [
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": 32654,
                "digest": "sha256:" + "b" * 64,
            }
        ],
    }
)


@pytest.fixture(scope="module")
def account(aws_client):
    """What a ready account holds for the model, and the ids the findings name."""
    for region in ("us-west-2", "us-east-1"):
        ecr = aws_client("ecr", region)
        ecr.create_repository(repositoryName=REPO)
        ecr.put_image(repositoryName=REPO, imageManifest=MANIFEST, imageTag="1.0")
    s3 = aws_client("s3")
    for bucket in (MODELS, CONF):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    s3.put_object(Bucket=MODELS, Key="megadetector.pt", Body=b"w" * 2_500_000)
    s3.put_object(Bucket=CONF, Key="track.yaml", Body=b"c" * 1000)
    ec2 = aws_client("ec2")
    [vpc] = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    ami = aws_client("ssm").get_parameter(Name=GPU_AMI_PARAMETER)["Parameter"]["Value"]
    [image] = ec2.describe_images(ImageIds=[ami])["Images"]
    pushed = aws_client("ecr").describe_images(repositoryName=REPO)["imageDetails"][0]["imagePushedAt"]
    return {"vpc": vpc["VpcId"], "ami": ami, "ami_name": image["Name"], "pushed": f"{pushed:%Y-%m-%d}"}


def ready_lines(account, quota_line: str) -> list[str]:
    return [
        "ok    credentials: account 123456789012 as arn:aws:sts::123456789012:user/moto, region us-west-2 "
        "(from the model file)",
        "ok    instance types: g4dn.xlarge offered in us-west-2",
        quota_line,
        f"ok    AMI: {GPU_AMI_PARAMETER} resolves to {account['ami']} ({account['ami_name']}) in us-west-2",
        f"ok    network: the default VPC {account['vpc']}: 4 subnets (us-west-2a, us-west-2b, us-west-2c, "
        "us-west-2d) reach AWS through an internet gateway",
        f"ok    image: {REPO}:1.0 exists in registry 123456789012 (us-west-2, pushed {account['pushed']})",
        f"ok    model_location: {MODEL_URI} exists (2.5 MB)",
        f"ok    track_config: {CONF_URI} exists (1.0 kB)",
    ]


GOOD_QUOTA = (
    "ok    vCPU quota: Running On-Demand G and VT instances (L-DB2E81BA) is 256 vCPUs in us-west-2; "
    "FleetSize 1 x 4 vCPUs (g4dn.xlarge) needs 4"
)


# --- a ready account ----------------------------------------------------------------------------------
def test_ready_account_passes_every_check(account, ecs_cli, tmp_path):
    proc = ecs_cli("doctor", model(tmp_path))
    assert proc.stdout.splitlines() == ready_lines(account, GOOD_QUOTA) + [
        "DoctorReady in us-west-2: 8 ok, 0 warn, 0 FAIL: ready for `ecs-autoscale deploy`"
    ]
    assert proc.stderr == ""


def test_json_holds_the_same_findings(account, ecs_cli, tmp_path):
    report = json.loads(ecs_cli("doctor", model(tmp_path), "--json").stdout)
    assert (report["stack"], report["region"], report["blocking"]) == ("DoctorReady", "us-west-2", 0)
    assert [f"{f['level']:<4}  {f['check']}: {f['finding']}" for f in report["findings"]] == ready_lines(
        account, GOOD_QUOTA
    )


# --- conditions the emulator cannot produce ---------------------------------------------------------------
def with_iam_enforced(action):
    """`action()` with moto's IAM access control on (its own `set_initial_no_auth_action_count(0)`): every
    request is then authenticated against the emulator's IAM users and authorized by their policies."""
    from moto.core import set_initial_no_auth_action_count

    return set_initial_no_auth_action_count(0)(action)()


@pytest.fixture(scope="module")
def nobody(aws_client):
    """An IAM user of the emulator with no policy: every call it makes is denied once IAM is enforced."""
    import boto3

    iam = aws_client("iam")
    iam.create_user(UserName="doctor-test-nobody")
    key = iam.create_access_key(UserName="doctor-test-nobody")["AccessKey"]
    session = boto3.session.Session(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
    endpoint = aws_client("sts").meta.endpoint_url
    return lambda service, region="us-west-2": session.client(service, region_name=region, endpoint_url=endpoint)


# --- credentials ------------------------------------------------------------------------------------------
def test_an_unreachable_endpoint_fails_saying_so(ecs_cli, tmp_path):
    proc = ecs_cli(
        "doctor", model(tmp_path), "--endpoint-url", "http://127.0.0.1:9", env={"AWS_MAX_ATTEMPTS": "1"}, check=False
    )
    assert only_finding(proc) == (
        "FAIL  credentials: cannot reach AWS STS in us-west-2: Could not connect to the endpoint URL: "
        '"http://127.0.0.1:9/" (check the network, or that the emulator at --endpoint-url is running)'
    )


def test_credentials_sts_rejects_fail_with_its_code(account, ecs_cli, tmp_path):
    # With IAM enforced, the emulator knows no access key "test" (the CLI's for an emulator), as AWS
    # knows no deleted or mistyped key.
    proc = with_iam_enforced(lambda: ecs_cli("doctor", model(tmp_path), check=False))
    assert only_finding(proc) == (
        "FAIL  credentials: rejected by AWS STS: InvalidClientTokenId: The security token included in the request "
        "is invalid. (refresh them (e.g. `aws sso login`), or pass another --profile)"
    )


# --- quotas -----------------------------------------------------------------------------------------------
def test_quota_below_the_fleet_warns_with_how_many_fit(account, ecs_cli, tmp_path, monkeypatch):
    monkeypatch.setenv(QUOTAS_ENV, "L-DB2E81BA=8")
    proc = ecs_cli("doctor", model(tmp_path, FleetSize=4))
    assert proc.stdout.splitlines()[2] == (
        "warn  vCPU quota: Running On-Demand G and VT instances (L-DB2E81BA) is 8 vCPUs in us-west-2: 2 of FleetSize 4 "
        "instances can run at once; FleetSize 4 x 4 vCPUs (g4dn.xlarge) needs 16 (request 16 in the Service Quotas "
        "console, or: aws service-quotas request-service-quota-increase --service-code ec2 --quota-code L-DB2E81BA "
        "--desired-value 16 --region us-west-2; or lower FleetSize to 2)"
    )
    assert proc.stdout.splitlines()[-1].endswith("1 warn, 0 FAIL: ready for `ecs-autoscale deploy`")


def test_quota_too_low_for_one_instance_fails(account, ecs_cli, tmp_path, monkeypatch):
    monkeypatch.setenv(QUOTAS_ENV, "L-DB2E81BA=0")
    proc = ecs_cli("doctor", model(tmp_path, FleetSize=2), check=False)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert lines[2] == (
        "FAIL  vCPU quota: Running On-Demand G and VT instances (L-DB2E81BA) is 0 vCPUs in us-west-2: not one "
        "g4dn.xlarge (4 vCPUs) can launch; FleetSize 2 x 4 vCPUs (g4dn.xlarge) needs 8 (request 8 in the Service "
        "Quotas console, or: aws service-quotas request-service-quota-increase --service-code ec2 --quota-code "
        "L-DB2E81BA --desired-value 8 --region us-west-2)"
    )
    assert (
        lines[-1] == "DoctorReady in us-west-2: 7 ok, 0 warn, 1 FAIL: fix the FAIL line before `ecs-autoscale deploy`"
    )


def test_a_warm_pool_counts_the_instance_it_prepares_while_another_shuts_down(account, ecs_cli, tmp_path, monkeypatch):
    """Issue 19 item 7: the pool refills only below WarmPool (MaxGroupPreparedCapacity), so group and pool run
    FleetSize instances at most, plus one being prepared for the pool while the instance it replaces shuts
    down; 16 vCPUs no longer cover FleetSize 4 of g4dn.xlarge with a pool."""
    monkeypatch.setenv(QUOTAS_ENV, "L-DB2E81BA=16")
    proc = ecs_cli("doctor", model(tmp_path, FleetSize=4, WarmPool=2))
    assert proc.stdout.splitlines()[2] == (
        "warn  vCPU quota: Running On-Demand G and VT instances (L-DB2E81BA) is 16 vCPUs in us-west-2: FleetSize 4 "
        "fits, but not an instance prepared for the warm pool while another shuts down (the pool then refills "
        "late); FleetSize 4 + 1 being prepared for the warm pool x 4 vCPUs (g4dn.xlarge) needs 20 (request 20 in "
        "the Service Quotas console, or: aws service-quotas request-service-quota-increase --service-code ec2 "
        "--quota-code L-DB2E81BA --desired-value 20 --region us-west-2)"
    )


def test_spot_reads_the_spot_quota_and_its_aws_default(account, ecs_cli, tmp_path, monkeypatch):
    monkeypatch.setenv(QUOTAS_ENV, "L-DB2E81BA=0,L-3819A6DF=default:0")  # on-demand 0 must not matter
    proc = ecs_cli("doctor", model(tmp_path, Spot="true"), check=False)
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[2].startswith(
        "FAIL  vCPU quota: All G and VT Spot Instance Requests (L-3819A6DF) is 0 vCPUs (AWS default) in us-west-2: "
        "not one g4dn.xlarge (4 vCPUs) can launch"
    )
    monkeypatch.setenv(QUOTAS_ENV, "L-DB2E81BA=0,L-3819A6DF=32")
    proc = ecs_cli("doctor", model(tmp_path, Spot="true", FleetSize=8))
    assert proc.stdout.splitlines()[2] == (
        "ok    vCPU quota: All G and VT Spot Instance Requests (L-3819A6DF) is 32 vCPUs in us-west-2; FleetSize 8 x "
        "4 vCPUs (g4dn.xlarge) needs 32"
    )


# --- AMI --------------------------------------------------------------------------------------------------
def test_no_gpu_ami_parameter_in_the_region_fails(aws_client, tmp_path):
    # The emulator, like AWS in its newest Regions, publishes no ECS GPU AMI in mx-central-1.
    region = "mx-central-1"
    finding = check_ami(aws_client("ssm", region), aws_client("ec2", region), config_of(tmp_path, Region=region))
    assert finding.line() == (
        f"FAIL  AMI: {GPU_AMI_PARAMETER} does not exist in mx-central-1: AWS publishes no ECS GPU AMI there "
        "(pick another Region)"
    )


def test_an_unreadable_ami_parameter_fails_naming_the_permission_plan_needs(aws_client, tmp_path):
    message = denied("ssm:GetParameter", f"arn:aws:ssm:us-west-2::parameter{GPU_AMI_PARAMETER}")
    ssm = failing_client("ssm", "get_parameter", "AccessDeniedException", message)
    assert check_ami(ssm, aws_client("ec2"), config_of(tmp_path)).line() == (
        f"FAIL  AMI: cannot read {GPU_AMI_PARAMETER} in us-west-2: {message} (terraform plan reads it too: allow "
        "ssm:GetParameter on arn:aws:ssm:us-west-2::parameter/aws/service/ecs/*)"
    )


def test_an_ami_the_parameter_names_but_ec2_does_not_show_fails(aws_client, tmp_path):
    # sa-east-1's GPU AMI withdrawn in the emulator (no other test uses that Region): the parameter
    # still names it, as AWS's may for a while after an image is deregistered.
    region = "sa-east-1"
    ssm, ec2 = aws_client("ssm", region), aws_client("ec2", region)
    image_id = ssm.get_parameter(Name=GPU_AMI_PARAMETER)["Parameter"]["Value"]
    if ec2.describe_images(ImageIds=[image_id])["Images"]:
        ec2.deregister_image(ImageId=image_id)
    assert check_ami(ssm, ec2, config_of(tmp_path, Region=region)).line() == (
        f"FAIL  AMI: {GPU_AMI_PARAMETER} names {image_id}, which is not visible to this account in sa-east-1 "
        "(retry later: AWS updates the parameter with each AMI release)"
    )


# --- instance types, image, objects ------------------------------------------------------------------------
def test_a_type_not_offered_in_the_region_warns(account, ecs_cli, tmp_path):
    proc = ecs_cli("doctor", model(tmp_path, InstanceTypes="[g4dn.xlarge, p3.2xlarge]"))
    assert proc.stdout.splitlines()[1] == (
        "warn  instance types: p3.2xlarge not offered in us-west-2; the group uses g4dn.xlarge only "
        "(drop p3.2xlarge from InstanceTypes)"
    )


def test_missing_image_tag_and_objects_fail(account, ecs_cli, tmp_path):
    proc = ecs_cli(
        "doctor",
        model(
            tmp_path,
            ContainerImage=IMAGE.replace(":1.0", ":2.0"),
            model_location=f"s3://{MODELS}/missing.pt",
            track_config="s3://doctor-test-nobucket/track.yaml",
        ),
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[5:] == [
        f"FAIL  image: {REPO}:2.0 is not in registry 123456789012 (us-west-2) (push it with `docker push "
        f"{IMAGE.replace(':1.0', ':2.0')}`, or fix ContainerImage)",
        f"FAIL  model_location: s3://{MODELS}/missing.pt does not exist (upload it with `aws s3 cp FILE "
        f"s3://{MODELS}/missing.pt`, or fix model_location)",
        "FAIL  track_config: bucket doctor-test-nobucket of s3://doctor-test-nobucket/track.yaml does not exist "
        "(create it and upload the object, or fix track_config)",
        "DoctorReady in us-west-2: 5 ok, 0 warn, 3 FAIL: fix the FAIL lines before `ecs-autoscale deploy`",
    ]


def test_image_in_another_region_or_registry_warns(account, ecs_cli, tmp_path):
    elsewhere = IMAGE.replace("us-west-2", "us-east-1")
    lines = ecs_cli("doctor", model(tmp_path, ContainerImage=elsewhere)).stdout.splitlines()
    assert lines[5] == (
        f"warn  image: {REPO}:1.0 exists in registry 123456789012 (us-east-1, pushed {account['pushed']}), but the "
        "stack runs in us-west-2: every instance pulls it across Regions (slower start, inter-Region transfer "
        "billed) (replicate the repository to us-west-2 with ECR replication and point ContainerImage there)"
    )
    lines = ecs_cli("doctor", model(tmp_path, ContainerImage="ghcr.io/mbari/worker:1.0")).stdout.splitlines()
    assert lines[5] == (
        "warn  image: ghcr.io/mbari/worker:1.0 is not in ECR: doctor cannot check it (make sure it "
        "can be pulled anonymously: the task definition sets no registry credentials)"
    )


def test_a_missing_repository_fails(account, aws_client, tmp_path):
    image = IMAGE.replace(REPO, "doctor/absent")
    finding = check_image(lambda region: aws_client("ecr", region), config_of(tmp_path, ContainerImage=image), "")
    assert finding.line() == (
        "FAIL  image: repository doctor/absent does not exist in registry 123456789012 (us-west-2) (create it and "
        "push the image, or fix ContainerImage)"
    )


def test_an_image_of_another_account_warns_that_its_policy_must_allow_the_pull(account, aws_client, tmp_path):
    # The emulator's registry 123456789012 holds the image; the credentials are of account 210987654321.
    finding = check_image(lambda region: aws_client("ecr", region), config_of(tmp_path), "210987654321")
    assert finding.line() == (
        f"warn  image: {REPO}:1.0 exists in registry 123456789012 (us-west-2, pushed {account['pushed']}), in another "
        "account than this one (210987654321) (the repository policy must let account 210987654321 pull "
        "(ecr:BatchGetImage, ecr:GetDownloadUrlForLayer))"
    )


def test_an_object_the_credentials_cannot_read_warns(account, nobody, tmp_path):
    # S3 answers HEAD with a bare 403 both when GetObject is denied and when the key is absent and
    # ListBucket is denied; the emulator, enforcing IAM, answers a user without policy the same way.
    config = config_of(tmp_path)
    finding = with_iam_enforced(lambda: check_object(nobody("s3"), "model_location", config.model_location))
    assert finding.line() == (
        f"warn  model_location: {MODEL_URI} cannot be read with your credentials (403: no s3:GetObject, or the key "
        "is absent and s3:ListBucket is denied) (check it; the stack lets its tasks read exactly this object, but a "
        "bucket in another account must also allow it in its bucket policy)"
    )


def test_a_kms_encrypted_object_warns_that_the_task_role_cannot_decrypt_it(account, aws_client, ecs_cli, tmp_path):
    key = aws_client("kms").create_key(Description="doctor-test")["KeyMetadata"]["Arn"]
    aws_client("s3").put_object(
        Bucket=CONF, Key="kms.yaml", Body=b"c" * 1000, ServerSideEncryption="aws:kms", SSEKMSKeyId=key
    )
    lines = ecs_cli("doctor", model(tmp_path, track_config=f"s3://{CONF}/kms.yaml")).stdout.splitlines()
    assert lines[7] == (
        f"warn  track_config: s3://{CONF}/kms.yaml exists (1.0 kB), encrypted with KMS key {key}: unless that is the "
        "AWS managed key aws/s3, the task role needs kms:Decrypt on it, which the stack does not grant (re-upload "
        "it with SSE-S3 (the S3 default))"
    )


def test_an_unexpected_aws_answer_is_could_not_check_and_the_other_checks_go_on(account, aws_client, tmp_path):
    ssm = failing_client("ssm", "get_parameter", "ThrottlingException", "Rate exceeded")
    findings = run(
        config_of(tmp_path), lambda service, region: ssm if service == "ssm" else aws_client(service, region)
    )
    assert [f.line() for f in findings] == [
        *ready_lines(account, GOOD_QUOTA)[:3],
        "warn  AMI: could not check: ThrottlingException: Rate exceeded (run doctor again, or check it by hand)",
        *ready_lines(account, GOOD_QUOTA)[4:],
    ]


# --- network --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def vpc(aws_client):
    """A VPC in ca-central-1 with one subnet per way out (and one without)."""
    ec2 = aws_client("ec2", "ca-central-1")
    vpc_id = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    subnet = {
        name: ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.50.{i}.0/24", AvailabilityZone=f"ca-central-1{'abd'[i]}")[
            "Subnet"
        ]["SubnetId"]
        for i, name in enumerate(("private", "public", "nat"))
    }
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    public = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=public, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    ec2.associate_route_table(RouteTableId=public, SubnetId=subnet["public"])
    nat = ec2.create_nat_gateway(
        SubnetId=subnet["public"], AllocationId=ec2.allocate_address(Domain="vpc")["AllocationId"]
    )["NatGateway"]
    private = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=private, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat["NatGatewayId"])
    ec2.associate_route_table(RouteTableId=private, SubnetId=subnet["nat"])
    return ec2, vpc_id, subnet


def test_named_network_routes_are_classified(vpc, aws_client):
    ec2, vpc_id, subnet = vpc
    fix = (
        "route 0.0.0.0/0 to a NAT gateway, or to an internet gateway with auto-assign public IPv4 on (VPC endpoints "
        "alone are not enough: `plan` refuses a subnet without a 0.0.0.0/0 route)"
    )
    lines = {name: check_network(ec2, "ca-central-1", vpc_id, [subnet[name]]).line() for name in subnet}
    assert lines["private"] == (
        f"FAIL  network: no subnet of VPC {vpc_id} has a route out, so instances never "
        f"reach ECS: {subnet['private']} (ca-central-1a): no 0.0.0.0/0 route ({fix})"
    )
    assert lines["public"] == (
        f"FAIL  network: no subnet of VPC {vpc_id} has a route out, so instances never reach "
        f"ECS: {subnet['public']} (ca-central-1b): no public IP on launch (its route goes to "
        f"an internet gateway) ({fix})"
    )
    assert lines["nat"] == f"ok    network: VPC {vpc_id}: 1 subnet (ca-central-1d) reaches AWS through NAT"
    ec2.modify_subnet_attribute(SubnetId=subnet["public"], MapPublicIpOnLaunch={"Value": True})
    assert check_network(ec2, "ca-central-1", vpc_id, list(subnet.values())).line() == (
        f"warn  network: 1 of 3 subnets of VPC {vpc_id} have no route out, and instances launched there never "
        f"reach ECS: {subnet['private']} (ca-central-1a): no 0.0.0.0/0 route ({fix}, or leave them out)"
    )
    other = aws_client("ec2", "ca-central-1").describe_subnets(
        Filters=[{"Name": "default-for-az", "Values": ["true"]}]
    )["Subnets"][0]["SubnetId"]
    assert (
        check_network(ec2, "ca-central-1", vpc_id, [subnet["nat"], other]).line()
        == f"FAIL  network: {other} not in {vpc_id} (list subnets of {vpc_id})"
    )


def test_vpc_endpoints_alone_fail_as_the_plan_fails(aws_client):
    """The plan refuses a subnet without a 0.0.0.0/0 route whatever endpoints the VPC has
    (tests/emulator/test_network_emulator.py); doctor must not call such a network ready."""
    ec2 = aws_client("ec2", "ca-central-1")
    vpc_id = ec2.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.60.1.0/24", AvailabilityZone="ca-central-1a")["Subnet"][
        "SubnetId"
    ]
    for service in ("ecs", "ecs-agent", "ecs-telemetry", "ecr.api", "ecr.dkr", "sqs", "logs"):
        ec2.create_vpc_endpoint(
            VpcId=vpc_id, ServiceName=f"com.amazonaws.ca-central-1.{service}", VpcEndpointType="Interface"
        )
    ec2.create_vpc_endpoint(VpcId=vpc_id, ServiceName="com.amazonaws.ca-central-1.s3", VpcEndpointType="Gateway")
    line = check_network(ec2, "ca-central-1", vpc_id, [subnet]).line()
    assert line.startswith(f"FAIL  network: no subnet of VPC {vpc_id} has a route out")
    assert f"{subnet} (ca-central-1a): no 0.0.0.0/0 route (" in line
    assert "VPC endpoints alone are not enough" in line


def test_a_default_vpc_without_default_subnets_fails_saying_how_to_create_them(aws_client):
    region = "ap-south-1"  # its default subnets deleted in the emulator; no other test uses the Region
    ec2 = aws_client("ec2", region)
    [vpc] = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    for subnet in ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]:
        ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    assert check_network(ec2, region).line() == (
        f"FAIL  network: the default VPC {vpc['VpcId']} in ap-south-1 has no default subnet (create them: aws ec2 "
        "create-default-subnet --availability-zone ZONE --region ap-south-1)"
    )


@pytest.fixture(scope="module")
def no_default_vpc(aws_client):
    """eu-west-3 without its default VPC, as many institutional accounts are
    (tests/emulator/test_network_emulator.py deletes eu-north-1's in the same emulator)."""
    ec2 = aws_client("ec2", "eu-west-3")
    [vpc] = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    for subnet in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]:
        ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    for igw in ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}])[
        "InternetGateways"
    ]:
        ec2.detach_internet_gateway(InternetGatewayId=igw["InternetGatewayId"], VpcId=vpc["VpcId"])
        ec2.delete_internet_gateway(InternetGatewayId=igw["InternetGatewayId"])
    ec2.delete_vpc(VpcId=vpc["VpcId"])
    return "eu-west-3"


def test_no_default_vpc_fails_and_deploy_then_suggests_doctor(account, no_default_vpc, ecs_cli, tmp_path):
    path = model(tmp_path, StackName="DoctorNoVpc", Region=no_default_vpc)
    proc = ecs_cli("doctor", path, check=False)
    assert proc.returncode == 1
    assert (
        "FAIL  network: no default VPC in eu-west-3: the fleet has no subnet to launch in (create one: aws "
        "ec2 create-default-vpc --region eu-west-3)"
    ) in proc.stdout.splitlines()
    deploy = ecs_cli("deploy", path, tmp_path / "stack", "--auto-approve", check=False)
    assert deploy.returncode == 1
    assert "This account has no default VPC in eu-west-3" in deploy.stderr  # the plan-time check's words
    last = deploy.stderr.rstrip().splitlines()[-1]
    assert f"run `ecs-autoscale doctor {path}` to check the network;" in last


# --- the documented sample (docs/operations.md) -----------------------------------------------------------
SAMPLE_PAGE = helpers.REPO / "docs" / "operations.md"
SAMPLE_IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/mbari/strongsort-yolov5:1.10.0"
SAMPLE_MODELS, SAMPLE_CONF = "deepsea-ai-123456789012-models", "deepsea-ai-123456789012-track-conf"
RUN_SPECIFIC = (
    (re.compile(r"\bami-[0-9a-f]{8,17}\b"), "ami-ID"),
    (re.compile(r"(-ami-ecs-gpu-hvm-[0-9.]+\.)\d{8}-"), r"\1DATE-"),  # the AMI name's release date
    (re.compile(r"\bvpc-[0-9a-f]{8,17}\b"), "vpc-ID"),
    (re.compile(r"\bpushed \d{4}-\d{2}-\d{2}\b"), "pushed DATE"),
    (re.compile(r"\b\d{12}\b"), "ACCOUNT"),
)


def without_run_specific(line: str) -> str:
    for pattern, placeholder in RUN_SPECIFIC:
        line = pattern.sub(placeholder, line)
    return line


def documented_sample() -> list[str]:
    """The lines docs/operations.md shows `ecs-autoscale doctor megadetector.yaml` print."""
    text = SAMPLE_PAGE.read_text()
    match = re.search(r"```console\n\$ ecs-autoscale doctor megadetector\.yaml\n(.*?)```", text, re.S)
    assert match, "docs/operations.md has no ```console block of `$ ecs-autoscale doctor megadetector.yaml`"
    return match[1].splitlines()


def test_the_documented_sample_is_what_doctor_prints(aws_client, ecs_cli, tmp_path, monkeypatch):
    """The documented scenario, run: the seed model with Spot: true and FleetSize: 4, a Spot quota never
    raised, the image pushed and the track config uploaded, the model file not uploaded yet."""
    ecr = aws_client("ecr")
    ecr.create_repository(repositoryName="mbari/strongsort-yolov5")
    ecr.put_image(repositoryName="mbari/strongsort-yolov5", imageManifest=MANIFEST, imageTag="1.10.0")
    s3 = aws_client("s3")
    for bucket in (SAMPLE_MODELS, SAMPLE_CONF):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    s3.put_object(Bucket=SAMPLE_CONF, Key="strong_sort_benthic.yaml", Body=b"t" * 2300)
    path = write_model(
        tmp_path,
        seed_text(
            ContainerImage=SAMPLE_IMAGE,
            FleetSize=4,
            Spot="true",
            model_location=f"s3://{SAMPLE_MODELS}/Megadetector-v2.pt",
            track_config=f"s3://{SAMPLE_CONF}/strong_sort_benthic.yaml",
        ),
        "megadetector.yaml",
    )
    monkeypatch.setenv(QUOTAS_ENV, "L-3819A6DF=default:0")
    proc = ecs_cli("doctor", path, check=False)
    assert proc.returncode == 1
    assert [without_run_specific(line) for line in documented_sample()] == [
        without_run_specific(line) for line in proc.stdout.splitlines()
    ], f"docs/operations.md's doctor sample is stale; doctor now prints:\n{proc.stdout}"


# --- read-only --------------------------------------------------------------------------------------------
@contextmanager
def recorded_requests(folder: Path):
    """Every request the in-process emulator receives meanwhile (moto's own request recorder)."""
    from moto.moto_api import recorder

    recorder._location = str(folder / "requests.jsonl")  # moto reads it from the environment at import
    recorder.reset_recording()
    recorder.start_recording()
    requests: list[dict] = []
    try:
        yield requests
    finally:
        recorder.stop_recording()
        requests += [json.loads(line) for line in Path(recorder._location).read_text().splitlines()]


def action(request: dict) -> str:
    """The API action of a recorded request: JSON protocols name it in X-Amz-Target, query protocols
    (EC2, STS) in the form body, S3 by its HTTP method."""
    target = request["headers"].get("X-Amz-Target")
    if target:
        return target.rsplit(".", 1)[-1]
    body = request["body"] or ""
    body = base64.b64decode(body).decode() if request["body_encoded"] else body
    query = parse_qs(body) or parse_qs(request["url"].partition("?")[2])
    if "Action" in query:
        return query["Action"][0]
    return f"S3 {request['method']}"


def test_doctor_sends_only_describe_get_list_head(account, ecs_cli, tmp_path, monkeypatch):
    monkeypatch.setenv(QUOTAS_ENV, "L-3819A6DF=default:0")
    with recorded_requests(tmp_path) as requests:
        ecs_cli("doctor", model(tmp_path))
        ecs_cli(
            "doctor",
            model(
                tmp_path,
                Spot="true",
                model_location=f"s3://{MODELS}/missing.pt",
                track_config="s3://doctor-test-nobucket/x",
            ),
            check=False,
        )
    actions = sorted({action(r) for r in requests})
    assert {
        "GetCallerIdentity",
        "DescribeInstanceTypeOfferings",
        "GetServiceQuota",
        "GetAWSDefaultServiceQuota",
        "GetParameter",
        "DescribeImages",
        "DescribeVpcs",
        "DescribeRouteTables",
        "S3 HEAD",
    } <= set(actions)
    writes = [a for a in actions if not a.startswith(("Describe", "Get", "List", "Head", "S3 HEAD", "S3 GET"))]
    assert writes == [], f"doctor changed something: {writes}"
