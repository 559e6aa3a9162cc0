"""Base of the stack's building blocks: one component per concern, with readable Terraform addresses.

A component plays the part of a CDK construct (typed props in, resources and references out), but
adds its Terraform elements straight to the stack, with ids prefixed by its own: the queue `video` of
component `queues` is `aws_sqs_queue.queues_video`. cdktf uses an element's id unchanged as its
logical id when the element sits directly in the stack; nested in a construct it gets a hashed id,
and overriding the stack's id allocation instead costs one Node-to-Python callback per element
(three jsii round trips, ~40% of each model's synth time: bench/bench_synth.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from cdktf import TerraformStack
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy

from ..addresses import address_part, child_id
from ..policy import Statement, policy_document


class Component:
    def __init__(self, scope: Scope, id: str) -> None:
        if isinstance(scope, Component):
            self.stack: TerraformStack = scope.stack
            self.id = scope.child_id(id)
        else:
            self.stack = scope
            self.id = address_part(id)

    def child_id(self, id: str) -> str:
        """Stack-wide id of this component's element or sub-component `id` (cdktf refuses a duplicate id
        in one scope, so a clash fails the synth instead of merging two resources)."""
        return child_id(self.id, id)

    def role_with_policy(
        self,
        id: str,
        *,
        name: str,
        trust: str,
        policy_name: str,
        statements: Sequence[Statement],
        policy_id: str | None = None,
    ) -> tuple[IamRole, IamRolePolicy]:
        """An IAM role (`trust`: its assume-role policy) with one inline policy of `statements`; the
        policy's element id is `policy_id`, by default `<id>_policy`."""
        role = IamRole(self.stack, self.child_id(id), name=name, assume_role_policy=trust)
        policy = IamRolePolicy(
            self.stack,
            self.child_id(policy_id or f"{id}_policy"),
            name=policy_name,
            role=role.id,
            policy=policy_document(statements),
        )
        return role, policy


Scope = TerraformStack | Component
"""Where a component goes: the stack itself, or a component that it is part of."""
