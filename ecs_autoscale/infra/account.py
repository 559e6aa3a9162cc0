"""Partition, region and account of the deployment, for ARNs that IAM policies scope to."""
from __future__ import annotations

from constructs import Construct
from cdktf_cdktf_provider_aws.data_aws_caller_identity import DataAwsCallerIdentity
from cdktf_cdktf_provider_aws.data_aws_partition import DataAwsPartition
from cdktf_cdktf_provider_aws.data_aws_region import DataAwsRegion


class AccountContext(Construct):
    """Resolves at plan time, so the synthesized JSON stays account-independent."""

    def __init__(self, scope: Construct, id: str) -> None:
        super().__init__(scope, id)
        self.partition = DataAwsPartition(self, "partition").partition
        self.region = DataAwsRegion(self, "region").name
        self.account_id = DataAwsCallerIdentity(self, "caller").account_id

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        """`arn:<partition>:<service>:<region>:<account>:<resource>` with plan-time values."""
        reg = self.region if region else ""
        acct = self.account_id if account else ""
        return f"arn:{self.partition}:{service}:{reg}:{acct}:{resource}"
