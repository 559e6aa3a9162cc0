"""boto3 clients for one stack, cached, at the same target (real AWS or the emulator) as Terraform."""

from __future__ import annotations

from typing import Any

from ..aws_target import AwsTarget


class AwsClients:
    def __init__(self, region: str, endpoint_url: str | None = None, profile: str | None = None) -> None:
        self.region = region
        self.target = AwsTarget(endpoint_url=endpoint_url, profile=profile)
        self._clients: dict[str, Any] = {}

    def __call__(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.target.client(service, self.region)
        return self._clients[service]

    def for_region(self, region: str) -> AwsClients:
        """Same target and credentials, another region (the stack's own region once it is known)."""
        if region == self.region:
            return self
        return AwsClients(region, self.target.endpoint_url, self.target.profile)


def default_region(profile: str | None = None) -> str | None:
    """Region of the standard chain (AWS_REGION, AWS_DEFAULT_REGION, the profile's config), if any."""
    import boto3

    session = boto3.session.Session(profile_name=profile) if profile else boto3.session.Session()
    return session.region_name
