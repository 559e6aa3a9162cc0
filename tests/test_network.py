"""Where the GPU instances run (ecs_autoscale/synthesis/constructs/network.py): the synthesized JSON for every
way a model file can name its network, then real `ecs-autoscale plan` runs against networks built in the emulator:
routes out that work, the one-line errors for those that cannot, and an account without a default VPC.
"""

from __future__ import annotations

import json

import pytest
from helpers import SEED, load_text, only_resource, seed_text, synth_in_memory, write_model

from ecs_autoscale.model.config import load_config

VPC = "vpc-0abc1234def567890"
SUBNETS = ("subnet-0abc1234def567890", "subnet-0def5678abc123456")


def synth(tmp_path_factory, **keys: str) -> dict:
    return synth_in_memory(load_text(tmp_path_factory.mktemp("net"), seed_text(**keys)))


@pytest.fixture(scope="module")
def default_doc():
    return synth_in_memory(load_config(SEED))


@pytest.fixture(scope="module")
def named_doc(tmp_path_factory):
    return synth(tmp_path_factory, Vpc=VPC, Subnets=f"[{', '.join(SUBNETS)}]")


@pytest.fixture(scope="module")
def subnets_only_doc(tmp_path_factory):
    return synth(tmp_path_factory, Subnets=f"[{', '.join(SUBNETS)}]")


@pytest.fixture(scope="module")
def vpc_only_doc(tmp_path_factory):
    return synth(tmp_path_factory, Vpc=VPC)


def group_subnets(doc: dict):
    return only_resource(doc, "aws_autoscaling_group")["vpc_zone_identifier"]


def checked_vpc(doc: dict) -> dict:
    [vpc] = doc["data"]["aws_vpc"].values()
    return vpc


def messages(conditions: list[dict]) -> list[str]:
    return [c["error_message"] for c in conditions]


# --- synthesized JSON ------------------------------------------------------------------------------------
def test_by_default_only_the_default_vpcs_default_for_az_subnets(default_doc):
    [default_vpc] = default_doc["data"]["aws_vpcs"].values()
    assert default_vpc["filter"] == [{"name": "is-default", "values": ["true"]}]
    [subnets] = default_doc["data"]["aws_subnets"].values()
    assert subnets["filter"] == [
        {"name": "vpc-id", "values": ["${one(data.aws_vpcs.network_default_vpc.ids)}"]},
        {"name": "default-for-az", "values": ["true"]},
    ]
    assert group_subnets(default_doc) == "${data.aws_subnets.network_subnets.ids}"
    assert checked_vpc(default_doc)["id"] == "${one(data.aws_vpcs.network_default_vpc.ids)}"


def test_an_account_without_a_default_vpc_is_one_line_saying_to_name_one(default_doc):
    [default_vpc] = default_doc["data"]["aws_vpcs"].values()
    [condition] = default_vpc["lifecycle"]["postcondition"]
    assert condition["condition"] == "${length(self.ids) == 1}"
    assert condition["error_message"] == (
        "This account has no default VPC in us-west-2: name the VPC and subnets of "
        "the GPU instances with Vpc: and Subnets: in the model file."
    )


def test_named_subnets_are_exactly_the_groups_subnets_and_must_be_in_the_named_vpc(named_doc):
    assert "aws_vpcs" not in named_doc["data"] and "aws_subnets" not in named_doc["data"]
    assert group_subnets(named_doc) == list(SUBNETS)
    [subnet] = named_doc["data"]["aws_subnet"].values()
    assert subnet["for_each"] == "${toset(" + json.dumps(list(SUBNETS)) + ")}"
    vpc = checked_vpc(named_doc)
    assert vpc["id"] == VPC
    assert any(
        m.startswith("Subnets ${join")
        and f"are not in Vpc {VPC}: name subnets of {VPC} in the model file, or leave out Vpc." in m
        for m in messages(vpc["lifecycle"]["precondition"])
    )


def test_subnets_alone_must_share_one_vpc(subnets_only_doc):
    vpc = checked_vpc(subnets_only_doc)
    assert vpc["id"] == f'${{data.aws_subnet.network_subnet["{SUBNETS[0]}"].vpc_id}}'
    assert any("name subnets of one VPC in the model file." in m for m in messages(vpc["lifecycle"]["precondition"]))


def test_a_vpc_alone_means_all_its_subnets(vpc_only_doc):
    [subnets] = vpc_only_doc["data"]["aws_subnets"].values()
    assert subnets["filter"] == [{"name": "vpc-id", "values": [VPC]}]
    assert subnets["lifecycle"]["postcondition"][0]["error_message"] == (
        f"Vpc {VPC} has no subnets: name Subnets in the model file."
    )
    assert group_subnets(vpc_only_doc) == "${data.aws_subnets.network_subnets.ids}"


@pytest.mark.parametrize("variant", ["default_doc", "named_doc", "subnets_only_doc", "vpc_only_doc"])
def test_every_subnet_is_checked_for_a_route_out_before_the_security_group_uses_the_vpc(variant, request):
    doc = request.getfixturevalue(variant)
    vpc = checked_vpc(doc)
    found = messages(vpc["lifecycle"]["precondition"])
    assert any(
        " have no route out (no 0.0.0.0/0 route)" in m and "add a route to an internet or NAT gateway" in m
        for m in found
    )
    assert any("route out through an internet gateway but give instances no public IPv4 address" in m for m in found)
    [(name, _)] = doc["data"]["aws_vpc"].items()
    assert only_resource(doc, "aws_security_group")["vpc_id"] == f"${{data.aws_vpc.{name}.id}}"
    no_route, no_public_ip = [c["condition"] for c in vpc["lifecycle"]["precondition"][:2]]
    assert 'r.cidr_block == "0.0.0.0/0"' in no_route and "length(rs) == 0" in no_route
    assert "a.main" in no_route  # explicit association first, else the VPC's main route table
    assert 'startswith(r.gateway_id, "igw-")' in no_public_ip and "map_public_ip_on_launch" in no_public_ip
    # the network checks inline their HCL (scripts/security_scan inlines locals for checkov)
    assert not [name for name in doc.get("locals", {}) if name.startswith("network")]


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


@pytest.mark.emulator
def test_public_and_nat_routed_subnets_plan(ecs_cli, network, tmp_path):
    proc = plan(
        ecs_cli, tmp_path, "NetGood", Vpc=network["vpc"], Subnets=f"[{network['public']}, {network['private']}]"
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(planned(tmp_path, "aws_autoscaling_group")["vpc_zone_identifier"]) == sorted(
        [network["public"], network["private"]]
    )
    assert planned(tmp_path, "aws_security_group")["vpc_id"] == network["vpc"]


@pytest.mark.emulator
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


@pytest.mark.emulator
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


@pytest.mark.emulator
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
