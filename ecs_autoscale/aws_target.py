"""Where commands act: real AWS (standard credential chain, optional profile) or an emulator endpoint.

One object gives Terraform its environment and boto3 its clients, so the provider and the client can
never point at two different places.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ENDPOINT_ENV = "ECS_AUTOSCALE_ENDPOINT_URL"
EMULATOR_REGION = "us-west-2"
"""The region an emulator target is given (the bundled emulator's moto serves every region)."""


@dataclass(frozen=True)
class AwsTarget:
    endpoint_url: str | None = None
    """An AWS emulator (e.g. `ecs-autoscale emulator`) for every service; None means real AWS."""
    profile: str | None = None
    """A named profile of ~/.aws/config; None keeps the standard credential chain."""
    provider_mirror: Path | None = None
    """Folder holding registry.terraform.io/hashicorp/aws (air-gapped installs)."""

    def terraform_env(self, cli_config_file: Path | None = None) -> dict[str, str]:
        """Variables added to Terraform's environment (the caller writes `cli_config_file`)."""
        env: dict[str, str] = {}
        if self.profile:
            env["AWS_PROFILE"] = self.profile
        if self.endpoint_url:
            env.update(emulator_env(self.endpoint_url))
        if cli_config_file is not None:
            # Absolute: terraform runs in STACK_DIR/terraform, so a relative STACK_DIR would miss it.
            env["TF_CLI_CONFIG_FILE"] = str(Path(cli_config_file).resolve())
        return env

    def client(self, service: str, region: str) -> Any:
        """A boto3 client for `service` in `region`, at the same target Terraform uses."""
        import boto3

        if self.endpoint_url:
            env = emulator_env(self.endpoint_url)
            session = boto3.session.Session(
                aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"), aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY")
            )
            return session.client(
                service, region_name=region, endpoint_url=env.get("AWS_ENDPOINT_URL", self.endpoint_url)
            )
        session = boto3.session.Session(profile_name=self.profile) if self.profile else boto3.session.Session()
        return session.client(service, region_name=region)


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
        "AWS_REGION": EMULATOR_REGION,  # provider and SDKs
        "AWS_DEFAULT_REGION": EMULATOR_REGION,  # boto3 / AWS CLI
        # Never ask the instance metadata service for credentials or the region.
        "AWS_EC2_METADATA_DISABLED": "true",
    }
