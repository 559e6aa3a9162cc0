"""Where the GPU instances run (ecs_autoscale/synthesis/constructs/network.py): real `ecs-autoscale plan` runs
against networks built in the emulator: routes out that work, the one-line errors for those that cannot, and an
account without a default VPC. The synthesized JSON for every way to name a network: tests/unit/test_network.py.
"""

from __future__ import annotations

import json

import pytest
from helpers import seed_text, write_model


# --- real plans against networks built in the emulator ----------------------------------------------------
@pytest.fixture(scope="module")
def ec2(aws_client):
    return aws_client("ec2")


@pytest.fixture(scope="module")
def network(ec2):
    """A VPC with a public subnet (internet gateway, public IPs), a private one behind a NAT gateway, one
    without any route out, one routed to the internet gateway without public IPs, and a subnet elsewhere."""
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)

    def subnet(cidr: str, zone: str, vpc_id: str = vpc) -> str:
        return ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=f"us-west-2{zone}")["Subnet"][
            "SubnetId"
        ]

    def table(subnets: list[str], **route: str) -> str:
        table_id = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        ec2.create_route(RouteTableId=table_id, DestinationCidrBlock="0.0.0.0/0", **route)
        for subnet_id in subnets:
            ec2.associate_route_table(RouteTableId=table_id, SubnetId=subnet_id)
        return table_id

    public, no_public_ip = subnet("10.20.1.0/24", "a"), subnet("10.20.2.0/24", "b")
    ec2.modify_subnet_attribute(SubnetId=public, MapPublicIpOnLaunch={"Value": True})
    table([public, no_public_ip], GatewayId=igw)
    nat = ec2.create_nat_gateway(SubnetId=public, AllocationId=ec2.allocate_address(Domain="vpc")["AllocationId"])
    private = subnet("10.20.3.0/24", "b")
    table([private], NatGatewayId=nat["NatGateway"]["NatGatewayId"])
    isolated = subnet("10.20.4.0/24", "c")  # the main route table: the local route only
    other_vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    return {
        "vpc": vpc,
        "public": public,
        "private": private,
        "isolated": isolated,
        "no_public_ip": no_public_ip,
        "elsewhere": subnet("10.30.1.0/24", "a", other_vpc),
    }


def plan(ecs_cli, tmp_path, stack_name: str, **keys: str):
    model = write_model(tmp_path, seed_text(StackName=stack_name, **keys))
    return ecs_cli("plan", model, tmp_path / "stack", check=False)


def planned(tmp_path, type_: str) -> dict:
    review = json.loads((tmp_path / "stack" / "plans" / "review.json").read_text())
    [after] = [c["change"]["after"] for c in review["resource_changes"] if c["type"] == type_]
    return after


def test_public_and_nat_routed_subnets_plan(ecs_cli, network, tmp_path):
    proc = plan(
        ecs_cli, tmp_path, "NetGood", Vpc=network["vpc"], Subnets=f"[{network['public']}, {network['private']}]"
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(planned(tmp_path, "aws_autoscaling_group")["vpc_zone_identifier"]) == sorted(
        [network["public"], network["private"]]
    )
    assert planned(tmp_path, "aws_security_group")["vpc_id"] == network["vpc"]


def test_subnets_without_a_way_out_fail_the_plan_one_line_each(ecs_cli, network, tmp_path):
    proc = plan(
        ecs_cli,
        tmp_path,
        "NetBad",
        Vpc=network["vpc"],
        Subnets=f"[{network['public']}, {network['isolated']}, {network['no_public_ip']}, {network['elsewhere']}]",
    )
    assert proc.returncode == 1
    text = " ".join(proc.stderr.split())  # Terraform wraps each message at 78 columns
    assert f"Subnets {network['isolated']} (route table rtb-" in text
    assert (
        "have no route out (no 0.0.0.0/0 route): GPU instances there cannot reach ECS, ECR or S3; add a route "
        "to an internet or NAT gateway, or name other Subnets in the model file." in text
    )
    assert f"Subnets {network['no_public_ip']} (route table rtb-" in text
    assert "route out through an internet gateway but give instances no public IPv4 address" in text
    assert f"Subnets {network['elsewhere']} (in vpc-" in text and f"are not in Vpc {network['vpc']}" in text
    assert text.count("Resource precondition failed") == 3  # the good subnet is named in none of them
    assert network["public"] not in text


def test_the_default_vpc_gives_only_its_default_subnets(ecs_cli, aws_client, tmp_path):
    """A private subnet someone added to the default VPC is left out (region of its own: nothing else
    in the session's emulator sees the extra subnet)."""
    ec2 = aws_client("ec2", region="ca-central-1")
    [vpc] = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    defaults = [
        s["SubnetId"]
        for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]
        if s["DefaultForAz"]
    ]
    added = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="172.31.200.0/24", AvailabilityZone="ca-central-1a")[
        "Subnet"
    ]
    assert added["DefaultForAz"] is False and defaults
    proc = plan(ecs_cli, tmp_path, "NetDefault", Region="ca-central-1")
    assert proc.returncode == 0, proc.stderr
    assert sorted(planned(tmp_path, "aws_autoscaling_group")["vpc_zone_identifier"]) == sorted(defaults)
    assert planned(tmp_path, "aws_security_group")["vpc_id"] == vpc["VpcId"]


def test_an_account_without_a_default_vpc_fails_the_plan_saying_to_name_one(ecs_cli, aws_client, tmp_path):
    ec2 = aws_client("ec2", region="eu-north-1")
    [vpc] = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    for subnet in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]:
        ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    for gateway in ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}])[
        "InternetGateways"
    ]:
        ec2.detach_internet_gateway(InternetGatewayId=gateway["InternetGatewayId"], VpcId=vpc["VpcId"])
        ec2.delete_internet_gateway(InternetGatewayId=gateway["InternetGatewayId"])
    ec2.delete_vpc(VpcId=vpc["VpcId"])
    proc = plan(ecs_cli, tmp_path, "NetNoDefault", Region="eu-north-1")
    assert proc.returncode == 1
    assert (
        "This account has no default VPC in eu-north-1: name the VPC and subnets of the GPU instances with "
        "Vpc: and Subnets: in the model file." in " ".join(proc.stderr.split())
    )
    assert proc.stderr.count("Error:") == 1  # that one line, nothing it causes
