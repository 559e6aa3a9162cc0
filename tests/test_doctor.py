"""`ecs-autoscale doctor`: the real CLI against the emulator, exact finding lines for pass and fail.
Only the deploy test runs Terraform (marker `emulator`); the others take about a second each.

The emulator is shared by the session: what this module creates (ECR repository `doctor/worker`,
buckets `doctor-test-*`, a VPC in ca-central-1) is named for it, and the default VPC it deletes is in
eu-north-1, a Region no other test uses. Quotas come from the emulator patch, set per test through
$ECS_AUTOSCALE_EMULATOR_QUOTAS (read by the in-process emulator at each call).
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from helpers import seed_text, write_model

from ecs_autoscale.ami import GPU_AMI_PARAMETER
from ecs_autoscale.doctor.hints import doctor_hint
from ecs_autoscale.doctor.network import _way_out, check_network
from ecs_autoscale.doctor.quotas import ON_DEMAND_G, ON_DEMAND_P, SPOT_G, SPOT_P, SPOT_P5, quota_for
from ecs_autoscale.emulator.patches import QUOTAS_ENV
from ecs_autoscale.instance_types import lookup

pytestmark = pytest.mark.slow  # moto's in-process AWS, several seconds a test

REPO = "doctor/worker"
IMAGE = f"123456789012.dkr.ecr.us-west-2.amazonaws.com/{REPO}:1.0"
MODELS, CONF = "doctor-test-models", "doctor-test-conf"
MODEL_URI, CONF_URI = f"s3://{MODELS}/megadetector.pt", f"s3://{CONF}/track.yaml"
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


def model(tmp_path: Path, **keys) -> Path:
    values = {
        "StackName": "DoctorReady",
        "ContainerImage": IMAGE,
        "model_location": MODEL_URI,
        "track_config": CONF_URI,
        **keys,
    }
    return write_model(tmp_path, seed_text(**values))


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


def test_each_type_draws_from_its_documented_quota():
    assert [
        quota_for(lookup(name), spot=False) for name in ("g4dn.xlarge", "g6e.xlarge", "p3.2xlarge", "p5.48xlarge")
    ] == [ON_DEMAND_G, ON_DEMAND_G, ON_DEMAND_P, ON_DEMAND_P]
    assert [
        quota_for(lookup(name), spot=True) for name in ("g5.xlarge", "p4d.24xlarge", "p5.48xlarge", "p5en.48xlarge")
    ] == [SPOT_G, SPOT_P, SPOT_P5, SPOT_P5]


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
    (test_network.py); doctor must not call such a network ready."""
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


def test_a_blackhole_route_is_no_way_out():
    nat_route = {"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-0123", "State": "blackhole"}
    table = {"Routes": [{"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local"}, nat_route]}
    assert _way_out({"SubnetId": "subnet-1"}, table) == "its 0.0.0.0/0 route is a blackhole (its target is gone)"
    assert _way_out({"SubnetId": "subnet-1"}, {"Routes": [{**nat_route, "State": "active"}]}) == "through NAT"


@pytest.fixture(scope="module")
def no_default_vpc(aws_client):
    """eu-west-3 without its default VPC, as many institutional accounts are (test_network.py deletes
    eu-north-1's in the same emulator)."""
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


@pytest.mark.emulator  # runs terraform (the deploy)
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


@pytest.mark.parametrize(
    ("stderr", "hint"),
    [
        (
            "Error: creating IAM Role (x): operation error IAM: CreateRole, https response error StatusCode: 403, "
            "api error AccessDenied: User: arn:aws:iam::1:user/u is not authorized to perform: iam:CreateRole",
            "run `ecs-autoscale doctor m.yaml` to check the permissions",
        ),
        (
            "Error: reading SSM Parameter (/aws/service/ecs/x): ParameterNotFound:",
            "run `ecs-autoscale doctor m.yaml` to check the AMI",
        ),
        (
            "api error VcpuLimitExceeded: You have requested more vCPU capacity than your current vCPU limit",
            "run `ecs-autoscale doctor m.yaml` to check the GPU vCPU quota",
        ),
        (
            "Error: no valid credential sources for Terraform AWS Provider found.",
            "run `ecs-autoscale doctor m.yaml` to check the credentials",
        ),
        (
            "Error: InvalidParameterValue: The image id '[ami-1]' does not exist; Error: no matching EC2 Subnet found",
            "run `ecs-autoscale doctor m.yaml` to check the AMI and the network",
        ),
        ("Error: creating SQS Queue (q): QueueAlreadyExists", None),
    ],
)
def test_deploy_failures_with_a_doctor_cause_suggest_it(stderr, hint):
    assert doctor_hint(stderr, Path("m.yaml")) == hint


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


def test_doctor_never_loads_cdktf_or_jsii():
    code = (
        "import sys, ecs_autoscale.doctor, ecs_autoscale.doctor.hints, ecs_autoscale.cli.doctor; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('cdktf', 'jsii', 'constructs', "
        "'cdktf_cdktf_provider_aws')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout.strip()) == (0, "[]"), proc.stderr
