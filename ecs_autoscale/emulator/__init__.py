"""Local AWS emulator (moto server + patches) for terraform apply/plan/destroy.

Importing this package is cheap: moto is only imported by `server.py` when the
emulator is actually started.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit

REGION = "us-west-2"
# The discard port: nothing listens there, so a request that would leave the machine fails at once.
CLOSED_PORT_PROXY = "http://127.0.0.1:9"


def sealed_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without anything that could reach a real AWS account or the network:
    no inherited AWS_*, TF_* or ECS_AUTOSCALE_* variable or proxy, no credentials or config file, every
    proxy a closed port except for loopback; then `extra` (e.g. `emulator_env(url)`)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "TF_", "ECS_AUTOSCALE_"))
        and k.lower() not in ("http_proxy", "https_proxy", "no_proxy")
    }
    env.update(
        {
            "HTTP_PROXY": CLOSED_PORT_PROXY,
            "HTTPS_PROXY": CLOSED_PORT_PROXY,
            "NO_PROXY": "127.0.0.1,localhost",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "CHECKPOINT_DISABLE": "1",
        }
    )
    env.update(extra or {})
    return env


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
