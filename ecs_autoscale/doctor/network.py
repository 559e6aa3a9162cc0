"""Does the network the fleet launches into have a route out?

A GPU instance must reach ECS, ECR, SQS, S3 and CloudWatch Logs, or it is billed while its tasks
never start. The launch template asks for no public IP, so an instance gets one only from its
subnet's "auto-assign public IPv4" setting (MapPublicIpOnLaunch). A subnet therefore reaches AWS
when its route table sends 0.0.0.0/0 to an internet gateway and it assigns public IPs, or sends it
to a NAT gateway (or instance, interface, transit gateway). These are the rules the plan itself
enforces (synthesis/constructs/network.py), so doctor never calls ready a network that `plan` then refuses: VPC
endpoints without a 0.0.0.0/0 route are refused by both (the instance agent also calls Auto Scaling
and SNS, which such networks rarely have endpoints for). A blackhole route is no way out here; the
plan cannot see a route's state. Security groups and network ACLs are not checked.

`check_network(ec2, region)` checks the default VPC's default-for-AZ subnets (what the stack uses
when the model file names no network); `vpc_id`/`subnet_ids` check a named network.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .findings import Finding, aws_error, fail, ok, warn

CHECK = "network"
NON_IGW_TARGETS = ("NatGatewayId", "InstanceId", "NetworkInterfaceId", "TransitGatewayId")


def check_network(ec2: Any, region: str, vpc_id: str | None = None, subnet_ids: Sequence[str] | None = None) -> Finding:
    chosen = (
        _default_network(ec2, region) if vpc_id is None and not subnet_ids else _named_network(ec2, vpc_id, subnet_ids)
    )
    if isinstance(chosen, Finding):
        return chosen
    where, vpc_id, subnets = chosen
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]
    ways, blocked = set(), []
    for subnet in subnets:
        way = _way_out(subnet, _route_table(tables, subnet["SubnetId"]))
        if way.startswith("no "):
            blocked.append(f"{subnet['SubnetId']} ({subnet['AvailabilityZone']}): {way}")
        else:
            ways.add(way)
    fix = (
        "route 0.0.0.0/0 to a NAT gateway, or to an internet gateway with auto-assign public IPv4 on "
        "(VPC endpoints alone are not enough: `plan` refuses a subnet without a 0.0.0.0/0 route)"
    )
    if not ways:
        return fail(
            CHECK, f"no subnet of {where} has a route out, so instances never reach ECS: {'; '.join(blocked)}", fix
        )
    if blocked:
        return warn(
            CHECK,
            f"{len(blocked)} of {len(subnets)} subnets of {where} have no route out, and instances "
            f"launched there never reach ECS: {'; '.join(blocked)}",
            fix + ", or leave them out",
        )
    zones = ", ".join(sorted(s["AvailabilityZone"] for s in subnets))
    count = f"{len(subnets)} subnet{'s' if len(subnets) > 1 else ''} ({zones}) reach{'es' if len(subnets) == 1 else ''}"
    return ok(CHECK, f"{where}: {count} AWS {' and '.join(sorted(ways))}")


def _default_network(ec2: Any, region: str) -> Any:
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    if not vpcs:
        return fail(
            CHECK,
            f"no default VPC in {region}: the fleet has no subnet to launch in",
            f"create one: aws ec2 create-default-vpc --region {region}",
        )
    vpc_id = vpcs[0]["VpcId"]
    subnets = ec2.describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "default-for-az", "Values": ["true"]}]
    )["Subnets"]
    if not subnets:
        return fail(
            CHECK,
            f"the default VPC {vpc_id} in {region} has no default subnet",
            f"create them: aws ec2 create-default-subnet --availability-zone ZONE --region {region}",
        )
    return f"the default VPC {vpc_id}", vpc_id, subnets


def _named_network(ec2: Any, vpc_id: str | None, subnet_ids: Sequence[str] | None) -> Any:
    try:
        if subnet_ids:
            subnets = ec2.describe_subnets(SubnetIds=list(subnet_ids))["Subnets"]
        else:
            ec2.describe_vpcs(VpcIds=[vpc_id])
            subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    except Exception as exc:
        code, message = aws_error(exc)
        if code.endswith(".NotFound") or code.endswith(".Malformed"):
            return fail(CHECK, message, "fix the VPC or subnet IDs")
        raise
    vpcs = {s["VpcId"] for s in subnets}
    if vpc_id and vpcs - {vpc_id}:
        strays = ", ".join(s["SubnetId"] for s in subnets if s["VpcId"] != vpc_id)
        return fail(CHECK, f"{strays} not in {vpc_id}", f"list subnets of {vpc_id}")
    if len(vpcs) != 1:
        return fail(
            CHECK, f"the subnets are in {len(vpcs) or 'no'} VPCs ({', '.join(sorted(vpcs))})", "list subnets of one VPC"
        )
    [vpc_id] = vpcs
    return f"VPC {vpc_id}", vpc_id, subnets


def _route_table(tables: list[dict], subnet_id: str) -> dict | None:
    """The subnet's explicitly associated table, else the VPC's main table."""
    for table in tables:
        if any(a.get("SubnetId") == subnet_id for a in table.get("Associations", [])):
            return table
    return next((t for t in tables if any(a.get("Main") for a in t.get("Associations", []))), None)


def _way_out(subnet: dict, table: dict | None) -> str:
    """How the subnet reaches AWS ("through ..."), or why not ("no ...")."""
    routes = [
        r
        for r in (table or {}).get("Routes", [])
        if r.get("DestinationCidrBlock") == "0.0.0.0/0" and r.get("State", "active") == "active"
    ]
    for route in routes:
        if str(route.get("GatewayId", "")).startswith("igw-"):
            if subnet.get("MapPublicIpOnLaunch"):
                return "through an internet gateway"
            return "no public IP on launch (its route goes to an internet gateway)"
        if any(route.get(target) for target in NON_IGW_TARGETS):
            return "through NAT"
    blackholes = [r for r in (table or {}).get("Routes", []) if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
    return "its 0.0.0.0/0 route is a blackhole (its target is gone)" if blackholes else "no 0.0.0.0/0 route"
