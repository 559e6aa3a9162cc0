"""The submit marker: an SSM parameter in which `ecs-autoscale submit` records when it last queued videos.

The instance agents hold their scale-in for `ScalingDesign.submit_hold_seconds` after it: an agent whose
lagging queue counts still read 0 (SQS API Reference, GetQueueAttributes: "at least 1 minute") must not
terminate an instance the submit just counted on when it sized the group. Clients other than `submit` do
not write it; their videos reach an idle worker through its long poll, or the backstop alarm.

Standard tier (free), a plain String: it holds an epoch second, nothing secret. Terraform creates it with
"0" and ignores its value afterwards (the client owns it at run time).
"""

from __future__ import annotations

from cdktf import TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.ssm_parameter import SsmParameter

from .component import Component, Scope


class SubmitMarker(Component):
    def __init__(self, scope: Scope, id: str, *, name: str, stack_name: str) -> None:
        super().__init__(scope, id)
        self.parameter = SsmParameter(
            self.stack,
            self.child_id("parameter"),
            name=name,
            type="String",
            tier="Standard",
            insecure_value="0",
            description=f"When ecs-autoscale submit last queued videos to {stack_name} (epoch seconds)",
            lifecycle=TerraformResourceLifecycle(ignore_changes=["insecure_value"]),
        )
