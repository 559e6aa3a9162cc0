"""`ecs-autoscale doctor`: a read-only pre-flight of one model file against an AWS account (issue 11).

`run(config, client)` returns one Finding per check, in the order a first deploy would meet them:
credentials, instance types offered, vCPU quota, AMI, network, image, model_location, track_config,
and the state bucket when the model file names one (Backend).
Every AWS call is a Describe/Get/List/Head (tests hold the emulator to that); nothing is created,
changed or deleted. No cdktf: the checks read the same tables the stack is built from (instance_types,
ami). The CLI (cli/doctor.py) only prints.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..errors import aws_errors
from ..model.config import ModelConfig
from ..model.scaling_design import design_for
from .checks import check_ami, check_identity, check_image, check_object, check_offerings
from .findings import FAIL, OK, WARN, Finding, aws_error, warn
from .network import check_network
from .quotas import check_quotas
from .state_bucket import check_state_bucket

__all__ = ["Finding", "OK", "WARN", "FAIL", "run", "network_of"]

Client = Callable[[str, str], object]
"""client(service, region) -> a boto3 client, e.g. AwsTarget.client."""


def network_of(config: ModelConfig) -> tuple[str | None, Sequence[str] | None]:
    """(vpc_id, subnet_ids) the stack launches into (the model file's Vpc and Subnets); (None, None) is
    the default VPC's default-for-AZ subnets."""
    return config.vpc, (tuple(config.subnets) or None)


def run(config: ModelConfig, client: Client) -> list[Finding]:
    region = config.region
    identity, account = check_identity(lambda: client("sts", region), region)
    if identity.blocking:
        return [identity]
    ec2 = client("ec2", region)
    s3 = client("s3", region)
    vpc_id, subnet_ids = network_of(config)
    checks: list[tuple[str, Callable[[], Finding | list[Finding]]]] = [
        ("instance types", lambda: check_offerings(ec2, config)),
        (
            "vCPU quota",
            lambda: check_quotas(
                lambda service: client(service, region),
                region,
                config.instance_types,
                config.fleet_size,
                config.spot,
                design_for(config).pool_spare_instances,
            ),
        ),
        ("AMI", lambda: check_ami(client("ssm", region), ec2, config)),
        ("network", lambda: check_network(ec2, region, vpc_id, subnet_ids)),
        ("image", lambda: check_image(lambda image_region: client("ecr", image_region), config, account)),
        ("model_location", lambda: check_object(s3, "model_location", config.model_location)),
        ("track_config", lambda: check_object(s3, "track_config", config.track_config)),
    ]
    backend = config.backend
    if backend is not None:
        state_region = backend.region or region
        checks.append(
            (
                "state bucket",
                lambda: check_state_bucket(
                    client("s3", state_region), lambda: client("s3control", state_region), backend, account
                ),
            )
        )
    findings = [identity]
    for name, check in checks:
        try:
            result = check()
        except Exception as exc:
            if not isinstance(exc, aws_errors()):
                raise
            # An answer the check does not expect (throttling, an outage, a denied call it does not
            # name): say it could not check rather than stop the other checks.
            code, message = aws_error(exc)
            result = warn(
                name,
                f"could not check: {code or type(exc).__name__}: {message}",
                "run doctor again, or check it by hand",
            )
        findings += result if isinstance(result, list) else [result]
    return findings
