"""Partition, region and account of the deployment, for ARNs that IAM policies scope to."""

from __future__ import annotations

from cdktf_cdktf_provider_aws.data_aws_caller_identity import DataAwsCallerIdentity
from cdktf_cdktf_provider_aws.data_aws_partition import DataAwsPartition
from cdktf_cdktf_provider_aws.data_aws_region import DataAwsRegion

from .component import Component, Scope


class AccountContext(Component):
    """Resolves at plan time, so the synthesized JSON stays account-independent."""

    def __init__(self, scope: Scope, id: str) -> None:
        super().__init__(scope, id)
        self.partition = DataAwsPartition(self.stack, self.child_id("partition")).partition
        self.region = DataAwsRegion(self.stack, self.child_id("region")).name
        self.account_id = DataAwsCallerIdentity(self.stack, self.child_id("caller")).account_id

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        """`arn:<partition>:<service>:<region>:<account>:<resource>` with plan-time values."""
        reg = self.region if region else ""
        acct = self.account_id if account else ""
        return f"arn:{self.partition}:{service}:{reg}:{acct}:{resource}"
