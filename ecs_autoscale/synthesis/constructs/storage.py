"""S3: the video (input) bucket and the tracks (results) bucket of one stack.

Both: SSE-S3 encryption, all public access blocked, bucket-owner-enforced ownership, TLS only, and
unfinished multipart uploads cleaned after 7 days. Neither is force-destroyed: Terraform refuses to
delete a bucket that still holds videos or results. The tracks bucket is versioned, since results are
the product and an overwrite must be recoverable.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from cdktf_cdktf_provider_aws.s3_bucket_lifecycle_configuration import (
    S3BucketLifecycleConfiguration,
    S3BucketLifecycleConfigurationRule,
    S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload,
    S3BucketLifecycleConfigurationRuleFilter,
    S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration,
)
from cdktf_cdktf_provider_aws.s3_bucket_ownership_controls import (
    S3BucketOwnershipControls,
    S3BucketOwnershipControlsRule,
)
from cdktf_cdktf_provider_aws.s3_bucket_policy import S3BucketPolicy
from cdktf_cdktf_provider_aws.s3_bucket_public_access_block import S3BucketPublicAccessBlock
from cdktf_cdktf_provider_aws.s3_bucket_server_side_encryption_configuration import (
    S3BucketServerSideEncryptionConfigurationA,
    S3BucketServerSideEncryptionConfigurationRuleA,
    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA,
)
from cdktf_cdktf_provider_aws.s3_bucket_versioning import S3BucketVersioningA, S3BucketVersioningVersioningConfiguration

from ..addresses import RESULTS_BUCKET, RESULTS_BUCKET_PART, SecureBucketElements
from ..policy import deny_insecure_transport
from .component import Component, Scope


@dataclass(frozen=True)
class BucketsProps:
    video_bucket_prefix: str
    tracks_bucket_prefix: str
    noncurrent_results_days: int = 90
    """Days an overwritten or deleted result stays recoverable in the versioned tracks bucket."""
    abort_multipart_days: int = 7


class SecureBucket(Component):
    """One private, encrypted, TLS-only bucket with a generated globally unique name."""

    def __init__(
        self, scope: Scope, id: str, *, prefix: str, versioned: bool, noncurrent_days: int, abort_multipart_days: int
    ) -> None:
        super().__init__(scope, id)
        self.elements = elements = SecureBucketElements(self.id, versioned)
        """Its resources' ids and addresses, declared without cdktf (ecs_autoscale/synthesis/addresses.py)."""
        self.bucket = S3Bucket(self.stack, elements.bucket.id, bucket_prefix=prefix, force_destroy=False)
        bucket_id = self.bucket.id
        S3BucketPublicAccessBlock(
            self.stack,
            elements.public_access_block.id,
            bucket=bucket_id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
        )
        S3BucketOwnershipControls(
            self.stack,
            elements.ownership.id,
            bucket=bucket_id,
            rule=S3BucketOwnershipControlsRule(object_ownership="BucketOwnerEnforced"),
        )
        S3BucketServerSideEncryptionConfigurationA(
            self.stack,
            elements.encryption.id,
            bucket=bucket_id,
            rule=[
                S3BucketServerSideEncryptionConfigurationRuleA(
                    apply_server_side_encryption_by_default=(
                        S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
                            sse_algorithm="AES256"
                        )
                    ),
                )
            ],
        )
        S3BucketPolicy(
            self.stack,
            elements.tls_only.id,
            bucket=bucket_id,
            policy=deny_insecure_transport("s3", [self.bucket.arn, f"{self.bucket.arn}/*"]),
        )
        rules = [
            S3BucketLifecycleConfigurationRule(
                id="abort-incomplete-multipart-uploads",
                status="Enabled",
                filter=[S3BucketLifecycleConfigurationRuleFilter(prefix="")],
                abort_incomplete_multipart_upload=[
                    S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload(
                        days_after_initiation=abort_multipart_days
                    )
                ],
            )
        ]
        if versioned:
            versioning = S3BucketVersioningA(
                self.stack,
                elements.versioning.id,
                bucket=bucket_id,
                versioning_configuration=S3BucketVersioningVersioningConfiguration(status="Enabled"),
            )
            rules.append(
                S3BucketLifecycleConfigurationRule(
                    id="expire-overwritten-results",
                    status="Enabled",
                    filter=[S3BucketLifecycleConfigurationRuleFilter(prefix="")],
                    noncurrent_version_expiration=[
                        S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration(noncurrent_days=noncurrent_days)
                    ],
                )
            )
        # The noncurrent-version rule needs versioning on first (the provider documents depends_on
        # here); node.add_dependency would write no depends_on in cdktf.
        S3BucketLifecycleConfiguration(
            self.stack,
            elements.lifecycle.id,
            bucket=bucket_id,
            rule=rules,
            depends_on=[versioning] if versioned else None,
        )

    @property
    def name(self) -> str:
        return self.bucket.bucket

    @property
    def arn(self) -> str:
        return self.bucket.arn


class VideoBuckets(Component):
    def __init__(self, scope: Scope, id: str, props: BucketsProps) -> None:
        super().__init__(scope, id)
        self.video = SecureBucket(
            self,
            "video",
            prefix=props.video_bucket_prefix,
            versioned=False,
            noncurrent_days=props.noncurrent_results_days,
            abort_multipart_days=props.abort_multipart_days,
        )
        # Its addresses are RESULTS_BUCKET, which `destroy` keeps.
        self.tracks = SecureBucket(
            self,
            RESULTS_BUCKET_PART,
            prefix=props.tracks_bucket_prefix,
            versioned=RESULTS_BUCKET.versioned,
            noncurrent_days=props.noncurrent_results_days,
            abort_multipart_days=props.abort_multipart_days,
        )
