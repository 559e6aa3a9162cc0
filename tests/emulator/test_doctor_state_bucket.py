"""`doctor` with a `Backend:` checks the state bucket against the emulator, read-only: versioned, public
access blocked (the bucket's, or the account's), encrypted; a missing bucket fails, and without a
Backend there is no such check (the other doctor tests pin the full list)."""

from __future__ import annotations

from helpers import load_text, seed_text

from ecs_autoscale.doctor.state_bucket import BLOCK_SETTINGS, check_state_bucket

ACCOUNT = "123456789012"
BLOCKED = dict.fromkeys(BLOCK_SETTINGS, True)


def make_bucket(aws_client, name: str, *, versioned: bool = True, blocked: bool = True, encrypted: bool = True) -> None:
    s3 = aws_client("s3")
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    if versioned:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    if blocked:
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=BLOCKED)
    if not encrypted:
        return
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )


def check(aws_client, tmp_path, bucket: str, extra: str = ""):
    config = load_text(tmp_path, seed_text(Backend=f"\n  Bucket: {bucket}{extra}"))
    assert config.backend is not None
    return check_state_bucket(aws_client("s3"), lambda: aws_client("s3control"), config.backend, ACCOUNT)


def test_a_private_versioned_encrypted_bucket_passes(aws_client, tmp_path):
    make_bucket(aws_client, "state-ready")
    key = "arn:aws:kms:us-west-2:123456789012:alias/lab-state"
    assert check(aws_client, tmp_path, "state-ready", f"\n  KmsKeyId: {key}").line() == (
        "ok    state bucket: state-ready is versioned, blocks public access and is encrypted "
        f"(AES256, state objects with KMS key {key})"
    )


def test_an_unversioned_bucket_warns_with_the_command_that_fixes_it(aws_client, tmp_path):
    make_bucket(aws_client, "state-unversioned", versioned=False)
    finding = check(aws_client, tmp_path, "state-unversioned")
    assert (finding.level, finding.finding) == (
        "warn",
        "state-unversioned is not versioned: an overwritten or deleted state cannot be recovered",
    )
    assert "put-bucket-versioning --bucket state-unversioned" in finding.fix


def test_a_bucket_without_default_encryption_warns_and_says_how_to_turn_it_on(aws_client, tmp_path):
    """AWS has given every bucket SSE-S3 by default since January 2023 (S3 User Guide, "Setting default
    server-side encryption behavior for Amazon S3 buckets"); an S3-compatible store or the emulator may
    have none, and GetBucketEncryption then answers ServerSideEncryptionConfigurationNotFoundError."""
    make_bucket(aws_client, "state-plain", encrypted=False)
    finding = check(aws_client, tmp_path, "state-plain")
    assert (finding.level, finding.finding, finding.fix) == (
        "warn",
        "state-plain has no default encryption",
        "turn on default encryption (SSE-S3 or SSE-KMS)",
    )


class AccountWithoutBlock:
    """S3 Control as AWS answers for an account with no public access block. The emulator cannot serve
    S3 Control (its calls go to the host `<account>.<endpoint>`), so this one call is a stand-in."""

    def get_public_access_block(self, AccountId: str):
        from botocore.exceptions import ClientError

        error = {
            "Code": "NoSuchPublicAccessBlockConfiguration",
            "Message": "The public access block configuration was not found",
        }
        raise ClientError({"Error": error}, "GetPublicAccessBlock")


def test_a_bucket_without_a_public_access_block_fails_when_the_account_has_none_either(aws_client, tmp_path):
    make_bucket(aws_client, "state-open", blocked=False)
    config = load_text(tmp_path, seed_text(Backend="\n  Bucket: state-open"))
    assert config.backend is not None
    finding = check_state_bucket(aws_client("s3"), AccountWithoutBlock, config.backend, ACCOUNT)
    assert finding.level == "FAIL" and finding.finding.startswith("state-open does not block public access (")
    assert "put-public-access-block --bucket state-open" in finding.fix


def test_a_bucket_without_its_own_block_warns_when_the_accounts_cannot_be_read(aws_client, tmp_path):
    make_bucket(aws_client, "state-unknown", blocked=False)
    finding = check(aws_client, tmp_path, "state-unknown")  # the emulator: no S3 Control endpoint
    assert (finding.level, finding.finding) == (
        "warn",
        "state-unknown does not block public access itself (BlockPublicAcls, IgnorePublicAcls, "
        "BlockPublicPolicy, RestrictPublicBuckets off) and the account's block could not be read",
    )


def test_a_missing_bucket_fails(aws_client, tmp_path):
    finding = check(aws_client, tmp_path, "state-nowhere")
    assert finding.line() == (
        "FAIL  state bucket: bucket state-nowhere does not exist (create it (versioned, public access blocked) first)"
    )


def test_doctor_runs_the_check_only_with_a_backend(aws_client, ecs_cli, tmp_path):
    from helpers import write_model

    make_bucket(aws_client, "state-cli")
    with_backend = write_model(tmp_path, seed_text(StackName="StateCli", Backend="\n  Bucket: state-cli"), "b.yaml")
    without = write_model(tmp_path, seed_text(StackName="StateCli"), "n.yaml")
    lines = ecs_cli("doctor", with_backend, check=False).stdout.splitlines()
    assert "ok    state bucket: state-cli is versioned, blocks public access and is encrypted (AES256)" in lines
    assert not [line for line in ecs_cli("doctor", without, check=False).stdout.splitlines() if "state bucket" in line]
