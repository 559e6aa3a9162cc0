"""Local AWS emulator (moto server + patches) for terraform apply/plan/destroy.

Importing this package is cheap: moto is only imported by `server.py` when the
emulator is actually started.
"""

from __future__ import annotations

from urllib.parse import urlsplit

REGION = "us-west-2"


def emulator_env(url: str) -> dict[str, str]:
    """Environment variables that point terraform (hashicorp/aws 5.100.0) and
    boto3 at the emulator listening on `url` (e.g. "http://127.0.0.1:4566").

    No change to the Terraform JSON is needed: the provider (AWS SDK for Go v2)
    and boto3 (>= 1.28) send every service, STS included, to AWS_ENDPOINT_URL.
    Callers should not pass on inherited AWS_* variables (a profile, a session
    token or an AWS_ENDPOINT_URL_<SERVICE> would win over these).
    """
    parts = urlsplit(url.rstrip("/"))
    if parts.hostname == "localhost":
        # S3 must be addressed path-style (http://host/bucket): the provider only
        # does that for an IP-literal endpoint (it has no env var for
        # s3_use_path_style), while "bucket.localhost" does not resolve.
        parts = parts._replace(netloc=parts.netloc.replace("localhost", "127.0.0.1", 1))
    return {
        "AWS_ENDPOINT_URL": parts.geturl(),
        # Any static credentials do: moto accepts them all (account 123456789012).
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": REGION,  # provider and SDKs
        "AWS_DEFAULT_REGION": REGION,  # boto3 / AWS CLI
        # Never ask the instance metadata service for credentials or the region.
        "AWS_EC2_METADATA_DISABLED": "true",
    }
