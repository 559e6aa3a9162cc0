"""Creations an interrupted apply may have left in AWS but not in the state, and their adoption.

Terraform's graceful stop (one Ctrl-C, or a lost network) cancels the requests in flight: the provider's
request contexts are cancelled on Stop. A create that AWS carried out but whose answer was cut off leaves
the object in AWS and nothing in the state, and the next apply fails on its name (EntityAlreadyExists,
AlreadyExistsException, InvalidLaunchTemplateName.AlreadyExistsException, InvalidGroup.Duplicate). Slow
creates make that window wide on a real account.

So an apply that does not finish records the creations it saw start and never finish
(`terraform.ApplyProgress.unfinished_creates`, kept by `StackDir.record_unfinished_creates`), and the
next `deploy`, `plan` or `destroy` imports each of them that exists before it goes on: only those, never
any object that merely has one of our names, and only when the imported object carries this stack's
STACK_TAG (else it is someone else's: it is dropped from the state again and named). Types whose
create is idempotent (SQS queues, SNS topics, ECS clusters, alarms, scaling policies, inline role
policies) need no import; buckets are named by a prefix, so an orphan bucket never blocks an apply (it
stays, empty, and is named by `IMPORT_NOT_POSSIBLE`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..echo import Echo, silent
from ..model.naming import STACK_TAG

_REFERENCE = re.compile(r"^\$\{(?P<type>\w+)\.(?P<name>\w+)\.\w+\}$")
IMPORTED_BY_NAME = {
    "aws_iam_role",
    "aws_iam_instance_profile",
    "aws_cloudwatch_log_group",
    "aws_autoscaling_group",
    "aws_cloudformation_stack",
    # PutParameter without Overwrite (the provider's create) fails with ParameterAlreadyExists.
    "aws_ssm_parameter",
}
IMPORT_NOT_POSSIBLE = {"aws_s3_bucket": "named by a prefix: an orphan bucket stays empty beside the new one"}


# Lookups of IDs AWS assigns (launch template and security group IDs): (type, name) -> ID or None.
Lookup = Callable[[str, str], "str | None"]


def import_id(address: str, resources: dict[str, Any], lookup: Lookup) -> str | None:
    """The ID `terraform import` takes for `address` of the synthesized JSON's `resources`; None when the
    type needs no import (idempotent create) or cannot be imported (see IMPORT_NOT_POSSIBLE)."""
    kind, _, name = address.partition(".")
    config = resources.get(kind, {}).get(name)
    if config is None:
        return None
    if kind in IMPORTED_BY_NAME:
        return str(config["name"])
    if kind == "aws_scheduler_schedule":
        return f"{config.get('group_name', 'default')}/{config['name']}"
    if kind == "aws_ecs_service":
        cluster = _referenced_name(config["cluster"], resources)
        return f"{cluster}/{config['name']}" if cluster else None
    if kind in {"aws_launch_template", "aws_security_group", "aws_iam_policy"}:
        return lookup(kind, str(config["name"]))
    return None


def _referenced_name(value: str, resources: dict[str, Any]) -> str | None:
    match = _REFERENCE.match(value)
    if not match:
        return value or None
    target = resources.get(match["type"], {}).get(match["name"], {})
    return target.get("name")


@dataclass
class Adoption:
    """Imports the recorded unfinished creations that exist; `terraform` is the stack's runner."""

    terraform: Any
    stack_name: str
    resources: dict[str, Any]
    lookup: Lookup
    echo: Echo = silent

    def run(self, recorded: list[str]) -> list[str]:
        """Adopt what exists of `recorded`; the addresses now in the state because of it."""
        in_state = set(self.terraform.state_list())
        candidates = [a for a in recorded if a not in in_state]
        imported = [a for a in candidates if self._try_import(a)]
        foreign = self._foreign(imported)
        if foreign:
            self.terraform.state_rm(sorted(foreign))
            for address, owner in sorted(foreign.items()):
                self.echo(
                    f"  {address} exists but is not {self.stack_name}'s ({STACK_TAG}={owner or 'none'}): "
                    "left alone; the apply will fail on its name until it is renamed or deleted"
                )
        adopted = [a for a in imported if a not in foreign]
        for address in adopted:
            self.echo(f"  adopted {address}: created by the interrupted apply, missing from the state")
        return adopted

    def _try_import(self, address: str) -> bool:
        kind = address.partition(".")[0]
        if kind in IMPORT_NOT_POSSIBLE:
            self.echo(f"  {address} may have been created by the interrupted apply: {IMPORT_NOT_POSSIBLE[kind]}")
            return False
        identifier = import_id(address, self.resources, self.lookup)
        return bool(identifier) and self.terraform.import_existing(address, identifier)

    def _foreign(self, imported: list[str]) -> dict[str, str | None]:
        """Imported addresses whose object does not carry this stack's tag: address -> the tag's value."""
        if not imported:
            return {}
        owners = {a: tags.get(STACK_TAG) for a, tags in self.terraform.resource_tags(imported).items()}
        return {a: owners.get(a) for a in imported if owners.get(a) != self.stack_name}


def aws_lookup(client: Callable[[str], Any], stack_name: str) -> Lookup:
    """IDs AWS assigned to the objects named `name` (launch templates and security groups are imported by
    ID, customer managed policies by ARN); None when there is none."""

    def lookup(kind: str, name: str) -> str | None:
        if kind == "aws_launch_template":
            found = client("ec2").describe_launch_templates(
                Filters=[{"Name": "launch-template-name", "Values": [name]}]
            )["LaunchTemplates"]
            return found[0]["LaunchTemplateId"] if found else None
        if kind == "aws_security_group":
            groups = client("ec2").describe_security_groups(
                Filters=[{"Name": "group-name", "Values": [name]}, {"Name": f"tag:{STACK_TAG}", "Values": [stack_name]}]
            )["SecurityGroups"]
            return groups[0]["GroupId"] if len(groups) == 1 else None
        if kind == "aws_iam_policy":
            pages = client("iam").get_paginator("list_policies").paginate(Scope="Local")
            return next((p["Arn"] for page in pages for p in page["Policies"] if p["PolicyName"] == name), None)
        return None

    return lookup
