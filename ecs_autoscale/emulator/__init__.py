"""Local AWS emulator (moto server + patches) for terraform apply/plan/destroy.

Importing this package is cheap: moto is only imported by `server.py` when the
emulator is actually started.
"""

from __future__ import annotations

REGION = "us-west-2"


def emulator_env(url: str) -> dict[str, str]:
    """Environment variables that point terraform (provider 5.100.0) and boto3
    at the emulator listening on `url` (e.g. "http://127.0.0.1:4566")."""
    return {
        # One endpoint for every service, STS included: honoured by the AWS SDK
        # for Go v2 (used by the provider) and by boto3 >= 1.28.
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        # Never fall back to the instance metadata service for credentials/region.
        "AWS_EC2_METADATA_DISABLED": "true",
    }
