"""doctor's look at the team state bucket (model file `Backend:`): the Terraform state holds every
attribute of the stack in plain text, so its bucket must be private, versioned and encrypted.

Read-only: GetBucketVersioning, GetPublicAccessBlock (the bucket's, then the account's through S3
Control), GetBucketEncryption. What the S3 User Guide says each is for:
- "Using versioning in S3 buckets", and the Terraform S3 backend's own advice to enable versioning:
  an overwritten or deleted state can be recovered.
- "Blocking public access to your Amazon S3 storage": all four settings, on the bucket or the account.
- "Setting default server-side encryption behavior for Amazon S3 buckets".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..model.config import StateBackend
from .findings import DENIED, Finding, aws_error, fail, ok, warn

CHECK = "state bucket"
BLOCK_SETTINGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


def _block_of(get: Callable[[], Any]) -> dict:
    try:
        return dict(get()["PublicAccessBlockConfiguration"])
    except Exception as exc:
        if aws_error(exc)[0] in ("NoSuchPublicAccessBlockConfiguration", "NoSuchPublicAccessBlock"):
            return {}
        raise


def _open_settings(s3: Any, s3control: Callable[[], Any], bucket: str, account: str | None) -> tuple[list[str], bool]:
    """(settings neither the bucket nor the account turns on, whether the account's could be read).
    S3 applies the most restrictive combination of the two (S3 User Guide, "Blocking public access")."""
    bucket_block = _block_of(lambda: s3.get_public_access_block(Bucket=bucket))
    open_settings = [s for s in BLOCK_SETTINGS if not bucket_block.get(s)]
    if not open_settings or not account:
        return open_settings, not open_settings
    try:
        account_block = _block_of(lambda: s3control().get_public_access_block(AccountId=account))
    except Exception:  # denied, or an endpoint without S3 Control: say what the bucket alone shows
        return open_settings, False
    return [s for s in open_settings if not account_block.get(s)], True


def _encryption(s3: Any, bucket: str) -> str | None:
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    except Exception as exc:
        if aws_error(exc)[0] == "ServerSideEncryptionConfigurationNotFoundError":
            return None
        raise
    algorithms = [r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in rules]
    return next((a for a in algorithms if a), None)


def check_state_bucket(s3: Any, s3control: Callable[[], Any], backend: StateBackend, account: str | None) -> Finding:
    bucket = backend.bucket
    try:
        versioning = s3.get_bucket_versioning(Bucket=bucket).get("Status")
        open_settings, account_read = _open_settings(s3, s3control, bucket, account)
        encryption = _encryption(s3, bucket)
    except Exception as exc:
        code, message = aws_error(exc)
        if code == "NoSuchBucket":
            return fail(CHECK, f"bucket {bucket} does not exist", "create it (versioned, public access blocked) first")
        if code in DENIED:
            return warn(
                CHECK,
                f"cannot read the settings of {bucket} ({code})",
                "check by hand that it is versioned, blocks public access and is encrypted",
            )
        raise
    block_fix = f"aws s3api put-public-access-block --bucket {bucket} --public-access-block-configuration " + ",".join(
        f"{s}=true" for s in BLOCK_SETTINGS
    )
    if open_settings and not account_read:
        return warn(
            CHECK,
            f"{bucket} does not block public access itself ({', '.join(open_settings)} off) and the account's "
            "block could not be read",
            f"check the account's public access block, or {block_fix}",
        )
    if open_settings:
        return fail(
            CHECK,
            f"{bucket} does not block public access ({', '.join(open_settings)} off); the state holds the "
            "whole stack in plain text",
            block_fix,
        )
    problems = []
    if versioning != "Enabled":
        problems.append(
            (
                "is not versioned: an overwritten or deleted state cannot be recovered",
                f"aws s3api put-bucket-versioning --bucket {bucket} --versioning-configuration Status=Enabled",
            )
        )
    if encryption is None:
        problems.append(("has no default encryption", "turn on default encryption (SSE-S3 or SSE-KMS)"))
    if problems:
        return warn(CHECK, f"{bucket} " + "; ".join(p for p, _ in problems), "; ".join(f for _, f in problems))
    key = f", state objects with KMS key {backend.kms_key_id}" if backend.kms_key_id else ""
    return ok(CHECK, f"{bucket} is versioned, blocks public access and is encrypted ({encryption}{key})")
