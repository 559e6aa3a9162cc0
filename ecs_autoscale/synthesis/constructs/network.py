"""Where the GPU instances run: a VPC and subnets with a way out to ECS, ECR and S3, checked at plan time.

The instances have no inbound traffic, but they must reach public AWS endpoints: through an internet
gateway (then the subnet must give them a public IPv4 address) or a NAT gateway (or any other 0.0.0.0/0
target: a transit gateway, a NAT instance, a firewall endpoint, a virtual private gateway). A subnet
without that launches instances that never register with ECS: billed, tasks stuck. So every problem that
can be known at plan time fails `terraform plan` with one line naming the subnets and the fix, through
lifecycle conditions on the data sources (plain Terraform, no tool needed to read them):

- no `Vpc`/`Subnets` in the model file: the default VPC's default-for-AZ subnets (never a private
  subnet someone added to it); an account without a default VPC says to name a VPC and subnets;
- `Subnets` (and optionally `Vpc`): exactly those, which must all be in one VPC (the named one);
- `Vpc` alone: all its subnets.

Not known at plan time, so not checked: network ACLs, VPC endpoints standing in for a route (a subnet
without a 0.0.0.0/0 route is refused even if interface endpoints for ECS, ECR and logs exist), and
whether the NAT or internet gateway the route names still works.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from cdktf import Postcondition, Precondition, TerraformIterator, TerraformResourceLifecycle, Token
from cdktf_cdktf_provider_aws.data_aws_route_table import DataAwsRouteTable
from cdktf_cdktf_provider_aws.data_aws_route_tables import DataAwsRouteTables
from cdktf_cdktf_provider_aws.data_aws_subnet import DataAwsSubnet
from cdktf_cdktf_provider_aws.data_aws_subnets import DataAwsSubnets, DataAwsSubnetsFilter
from cdktf_cdktf_provider_aws.data_aws_vpc import DataAwsVpc
from cdktf_cdktf_provider_aws.data_aws_vpcs import DataAwsVpcs, DataAwsVpcsFilter

from .component import Component, Scope

OTHER_SUBNETS = "name other Subnets in the model file"


@dataclass(frozen=True)
class NetworkProps:
    region: str
    vpc_id: str | None = None
    """`Vpc` of the model file."""
    subnet_ids: tuple[str, ...] = ()
    """`Subnets` of the model file."""


class Network(Component):
    """Outputs: `vpc_id` (for the security group) and `subnet_ids` (for the Auto Scaling group)."""

    def __init__(self, scope: Scope, id: str, props: NetworkProps) -> None:
        super().__init__(scope, id)
        subnet_ids, vpc = self._subnets_and_vpc(props)
        conditions = self._route_out_checks(vpc) + self._one_vpc_checks(props)
        # The VPC of the security group; read last, so every check passes before anything uses the network.
        self.vpc = DataAwsVpc(
            self.stack,
            self.child_id("vpc"),
            id=props.vpc_id or f"${{{vpc}}}",
            lifecycle=TerraformResourceLifecycle(precondition=conditions),
        )
        self.vpc_id: str = self.vpc.id
        self.subnet_ids: list[str] = subnet_ids

    def _subnets_and_vpc(self, props: NetworkProps) -> tuple[list[str], str]:
        """The subnets of the group, and an HCL expression of their VPC's id; reads every subnet."""
        if props.subnet_ids:
            subnet_ids: list[str] = list(props.subnet_ids)
        else:
            subnet_ids = self._listed_subnets(props)
        each = TerraformIterator.from_list(subnet_ids)
        subnets = DataAwsSubnet(self.stack, self.child_id("subnet"), for_each=each, id=Token.as_string(each.value))
        self.subnet_map = f"data.aws_subnet.{subnets.friendly_unique_id}"
        if props.vpc_id:
            vpc = _hcl_string(props.vpc_id)
        elif props.subnet_ids:
            vpc = f"{self.subnet_map}[{_hcl_string(props.subnet_ids[0])}].vpc_id"
        else:
            vpc = self.default_vpc
        return subnet_ids, vpc

    def _listed_subnets(self, props: NetworkProps) -> list[str]:
        """All subnets of the named Vpc, else the default VPC's default-for-AZ subnets (the public ones AWS
        made with it, one per zone, never a subnet added to it later)."""
        if props.vpc_id:
            where, what = f"Vpc {props.vpc_id}", "subnets"
            filters = [DataAwsSubnetsFilter(name="vpc-id", values=[props.vpc_id])]
        else:
            default = DataAwsVpcs(
                self.stack,
                self.child_id("default_vpc"),
                filter=[DataAwsVpcsFilter(name="is-default", values=["true"])],
                lifecycle=TerraformResourceLifecycle(
                    postcondition=[
                        Postcondition(
                            condition="${length(self.ids) == 1}",
                            error_message=f"This account has no default VPC in {props.region}: name the VPC and "
                            "subnets of the GPU instances with Vpc: and Subnets: in the model file.",
                        )
                    ]
                ),
            )
            self.default_vpc = f"one(data.aws_vpcs.{default.friendly_unique_id}.ids)"
            where, what = f"The default VPC in {props.region}", "default subnets"
            filters = [
                DataAwsSubnetsFilter(name="vpc-id", values=[f"${{{self.default_vpc}}}"]),
                DataAwsSubnetsFilter(name="default-for-az", values=["true"]),
            ]
        found = DataAwsSubnets(
            self.stack,
            self.child_id("subnets"),
            filter=filters,
            lifecycle=TerraformResourceLifecycle(
                postcondition=[
                    Postcondition(
                        condition="${length(self.ids) > 0}",
                        error_message=f"{where} has no {what}: name Subnets in the model file.",
                    )
                ]
            ),
        )
        return found.ids

    def _route_out_checks(self, vpc: str) -> list[Precondition]:
        """Each subnet's route table (its explicit association, else the VPC's main table) must have a
        0.0.0.0/0 route, and one to an internet gateway needs public IPs on launch."""
        stack, subnets = self.stack, self.subnet_map
        table_ids = DataAwsRouteTables(stack, self.child_id("route_tables"), vpc_id=f"${{{vpc}}}")
        each = TerraformIterator.from_list(table_ids.ids)
        tables = DataAwsRouteTable(
            stack, self.child_id("route_table"), for_each=each, route_table_id=Token.as_string(each.value)
        )
        route_tables = f"data.aws_route_table.{tables.friendly_unique_id}"
        explicit = (
            f"merge([for id, t in {route_tables} : "
            '{for a in t.associations : a.subnet_id => id if a.subnet_id != ""}]...)'
        )
        main = f"one([for id, t in {route_tables} : id if anytrue([for a in t.associations : a.main])])"
        # HCL expressions, inlined where used (a `locals` block would be more readable, but checkov's
        # terraform_json parser in scripts/security_scan fails on one).
        # subnet -> its route table; a subnet of another VPC is left to its own error (_one_vpc_checks).
        table_of = f"({{ for s, subnet in {subnets} : s => lookup({explicit}, s, {main}) if subnet.vpc_id == {vpc} }})"
        # subnet -> its 0.0.0.0/0 routes
        default_routes = (
            f"({{ for s, t in {table_of} : s => "
            f'[for r in {route_tables}[t].routes : r if r.cidr_block == "0.0.0.0/0"] }})'
        )
        no_route = f"[for s, rs in {default_routes} : s if length(rs) == 0]"
        no_public_ip = (
            f"[for s, rs in {default_routes} : s if anytrue([for r in rs : startswith(r.gateway_id, "
            f'"igw-")]) && !{subnets}[s].map_public_ip_on_launch]'
        )

        def listed(found: str) -> str:
            return f'${{join(", ", [for s in {found} : "${{s}} (route table ${{{table_of}[s]}})"])}}'

        return [
            Precondition(
                condition=f"${{length({no_route}) == 0}}",
                error_message=(
                    f"Subnets {listed(no_route)} have no route out (no 0.0.0.0/0 route): GPU instances there cannot "
                    f"reach ECS, ECR or S3; add a route to an internet or NAT gateway, or {OTHER_SUBNETS}."
                ),
            ),
            Precondition(
                condition=f"${{length({no_public_ip}) == 0}}",
                error_message=(
                    f"Subnets {listed(no_public_ip)} route out through an internet gateway but give instances no "
                    "public IPv4 address (map_public_ip_on_launch is off), so GPU instances there cannot reach ECS; "
                    f"turn on auto-assign public IPv4 for them, route them through a NAT gateway, or {OTHER_SUBNETS}."
                ),
            ),
        ]

    def _one_vpc_checks(self, props: NetworkProps) -> list[Precondition]:
        subnets = self.subnet_map
        if props.vpc_id and props.subnet_ids:
            elsewhere = (
                f'[for s, subnet in {subnets} : "${{s}} (in ${{subnet.vpc_id}})" '
                f"if subnet.vpc_id != {_hcl_string(props.vpc_id)}]"
            )
            return [
                Precondition(
                    condition=f"${{length({elsewhere}) == 0}}",
                    error_message=(
                        f'Subnets ${{join(", ", {elsewhere})}} are not in Vpc {props.vpc_id}: name subnets of '
                        f"{props.vpc_id} in the model file, or leave out Vpc."
                    ),
                )
            ]
        if props.subnet_ids:
            where = f'[for id, s in {subnets} : "${{id}} in ${{s.vpc_id}}"]'
            return [
                Precondition(
                    condition=f"${{length(distinct([for s in {subnets} : s.vpc_id])) == 1}}",
                    error_message=f'Subnets are in several VPCs (${{join(", ", {where})}}): '
                    "name subnets of one VPC in the model file.",
                )
            ]
        return []


def _hcl_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is an HCL string literal (ids hold no "${")
