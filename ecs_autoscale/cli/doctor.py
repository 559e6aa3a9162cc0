"""`doctor`: print the read-only pre-flight findings of one model file (checks in ecs_autoscale/doctor)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .errors import endpoint_option, failures, load_configs, profile_option

if TYPE_CHECKING:
    from ecs_autoscale.doctor.findings import Finding
    from ecs_autoscale.model.config import ModelConfig


@click.command()
@click.argument("config_path", metavar="CONFIG.yaml", type=click.Path(dir_okay=False, path_type=Path))
@endpoint_option()
@profile_option
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON (level, check, finding, fix).")
def doctor(config_path: Path, endpoint_url: str | None, profile: str | None, as_json: bool) -> None:
    """Check an AWS account is ready for CONFIG.yaml's stack, before the first deploy.

    Read-only: it only describes, gets, lists and heads; it never creates, changes or deletes anything,
    and never runs Terraform. One line per finding, `ok|warn|FAIL  CHECK: FINDING (FIX)`, in the
    Region of the model file:

    \b
      credentials     who you are (STS GetCallerIdentity)
      instance types  InstanceTypes are offered in the Region
      vCPU quota      the Service Quotas GPU vCPU quota (On-Demand, or Spot with Spot: true) covers
                      FleetSize x the types' vCPUs; the quota is shared with every G/P instance
                      of the account
      AMI             the ECS GPU AMI's public SSM parameter resolves to an available image
      network         the fleet's subnets (Vpc/Subnets, else the default VPC's default-for-AZ
                      subnets) have a 0.0.0.0/0 route: to an internet gateway with public IPs,
                      or to NAT (the rules plan enforces); security groups and ACLs are not read
      image           ContainerImage exists in ECR and its Region matches the stack's (other
                      registries cannot be checked and must be public)
      model_location, track_config
                      the objects exist and your credentials can read them

    FAIL means the stack would not work (no instance, no task); warn means it works but slower,
    capped or unchecked. Exit status 1 when any finding is FAIL, else 0.

    \b
    Examples:
      ecs-autoscale doctor examples/megadetector.yaml
      ecs-autoscale doctor examples/megadetector.yaml --profile lab --json
      ecs-autoscale doctor examples/megadetector.yaml --endpoint-url http://127.0.0.1:4566
    """
    from ..aws_target import AwsTarget
    from ..doctor import run

    (config,) = load_configs([config_path])
    with failures():
        findings = run(config, AwsTarget(endpoint_url=endpoint_url, profile=profile).client)
    blocking = sum(f.blocking for f in findings)
    if as_json:
        report = {"config": str(config_path), "stack": config.stack_name, "region": config.region}
        click.echo(json.dumps({**report, "blocking": blocking, "findings": [f.as_dict() for f in findings]}, indent=2))
    else:
        _show_findings(config, findings, blocking)
    if blocking:
        raise click.exceptions.Exit(1)


def _show_findings(config: ModelConfig, findings: list[Finding], blocking: int) -> None:
    for finding in findings:
        click.echo(finding.line())
    counts = {level: sum(f.level == level for f in findings) for level in ("ok", "warn", "FAIL")}
    verdict = (
        f"fix the FAIL line{'s' if blocking > 1 else ''} before `ecs-autoscale deploy`"
        if blocking
        else "ready for `ecs-autoscale deploy`"
    )
    click.echo(
        f"{config.stack_name} in {config.region}: {counts['ok']} ok, {counts['warn']} warn, "
        f"{counts['FAIL']} FAIL: {verdict}"
    )
