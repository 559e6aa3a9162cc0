"""Where the GPU instances run (ecs_autoscale/synthesis/constructs/network.py): the synthesized JSON for every
way a model file can name its network. Real `ecs-autoscale plan` runs against networks built in the emulator
are in tests/emulator/test_network_emulator.py.
"""

from __future__ import annotations

import json

import pytest
from helpers import SEED, load_text, only_resource, seed_text, synth_in_memory

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
