"""`ecs-autoscale doctor` without AWS: no credentials, conditions the emulator cannot produce (an expired
token; a denial from Service Quotas or ECR; throttling) through botocore's Stubber on a real client, the
quota each instance type draws from, route classification, and what importing doctor loads. Its checks
against the emulator are in tests/emulator/test_doctor_emulator.py; the advice `deploy` gives on a failure
whose cause doctor checks, in tests/unit/test_failure_advice.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support.doctor import REPO, config_of, denied, failing_client, model, only_finding

from ecs_autoscale.doctor.checks import check_identity, check_image
from ecs_autoscale.doctor.network import _way_out
from ecs_autoscale.doctor.quotas import ON_DEMAND_G, ON_DEMAND_P, SPOT_G, SPOT_P, SPOT_P5, check_quotas, quota_for
from ecs_autoscale.emulator import sealed_env
from ecs_autoscale.model.instance_types import lookup

# --- credentials ------------------------------------------------------------------------------------------
CLI = Path(sys.executable).with_name("ecs-autoscale")


def doctor_without_emulator(path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """`ecs-autoscale doctor` aimed at real AWS with nothing to sign a request with: no credentials
    variable or file, no instance metadata, every proxy a closed port. Nothing can leave the machine."""
    return subprocess.run(
        [str(CLI), "doctor", str(path), *args],
        env=sealed_env({"AWS_EC2_METADATA_DISABLED": "true", **env}),
        capture_output=True,
        text=True,
        timeout=120,
    )


NO_CREDENTIALS = (
    "FAIL  credentials: no AWS credentials found (configure them, pass --profile NAME, or --endpoint-url "
    "for an emulator)"
)


@pytest.mark.parametrize(
    "env",
    [{}, {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE"}],  # none at all (NoCredentialsError), half (Partial...)
    ids=["none", "partial"],
)
def test_no_credentials_fail_saying_how_to_give_them(tmp_path, env):
    assert only_finding(doctor_without_emulator(model(tmp_path), **env)) == NO_CREDENTIALS


def test_an_unknown_profile_fails_naming_it(tmp_path):
    proc = doctor_without_emulator(model(tmp_path), "--profile", "doctor-nowhere")
    assert only_finding(proc) == (
        "FAIL  credentials: The config profile (doctor-nowhere) could not be found (check --profile and ~/.aws/config)"
    )


def test_expired_credentials_fail_with_its_code():
    # STS GetCallerIdentity needs no permission (STS API Reference), so rejected credentials are the only
    # other answer: ExpiredToken is what an expired SSO or assumed-role session gets.
    sts = failing_client(
        "sts", "get_caller_identity", "ExpiredToken", "The security token included in the request is expired", 403
    )
    finding, account_id = check_identity(lambda: sts, "us-west-2")
    assert (finding.line(), account_id) == (
        "FAIL  credentials: rejected by AWS STS: ExpiredToken: The security token included in the request is "
        "expired (refresh them (e.g. `aws sso login`), or pass another --profile)",
        "",
    )


# --- quotas -----------------------------------------------------------------------------------------------
def test_each_type_draws_from_its_documented_quota():
    assert [
        quota_for(lookup(name), spot=False) for name in ("g4dn.xlarge", "g6e.xlarge", "p3.2xlarge", "p5.48xlarge")
    ] == [ON_DEMAND_G, ON_DEMAND_G, ON_DEMAND_P, ON_DEMAND_P]
    assert [
        quota_for(lookup(name), spot=True) for name in ("g5.xlarge", "p4d.24xlarge", "p5.48xlarge", "p5en.48xlarge")
    ] == [SPOT_G, SPOT_P, SPOT_P5, SPOT_P5]


def test_a_quota_that_cannot_be_read_warns_and_says_where_to_read_it():
    message = denied("servicequotas:GetServiceQuota", "arn:aws:servicequotas:us-west-2:123456789012:ec2/L-DB2E81BA")
    sq = failing_client("service-quotas", "get_service_quota", "AccessDeniedException", message)
    [finding] = check_quotas(lambda service: sq, "us-west-2", ("g4dn.xlarge",), 4, False)
    assert finding.line() == (
        f"warn  vCPU quota: cannot read Running On-Demand G and VT instances (L-DB2E81BA) in us-west-2: {message} "
        "(allow servicequotas:GetServiceQuota, or read it in the Service Quotas console)"
    )
    sq = failing_client("service-quotas", "get_service_quota", "TooManyRequestsException", "Rate exceeded")
    [finding] = check_quotas(lambda service: sq, "us-west-2", ("g4dn.xlarge",), 4, False)
    assert finding.line() == (
        "warn  vCPU quota: cannot read Running On-Demand G and VT instances (L-DB2E81BA) in us-west-2: "
        "TooManyRequestsException: Rate exceeded (read it in the Service Quotas console)"
    )


# --- instance types, image, objects ------------------------------------------------------------------------
def test_an_image_that_cannot_be_looked_up_warns(tmp_path):
    message = denied("ecr:DescribeImages", f"arn:aws:ecr:us-west-2:123456789012:repository/{REPO}")
    ecr = failing_client("ecr", "describe_images", "AccessDeniedException", message)
    assert check_image(lambda region: ecr, config_of(tmp_path), "123456789012").line() == (
        f"warn  image: cannot look up {REPO}:1.0 in registry 123456789012 (us-west-2): {message} (allow "
        "ecr:DescribeImages to check it; the stack's execution role may pull from this repository, but a "
        "repository in another account must also allow it in its policy)"
    )


# --- network --------------------------------------------------------------------------------------------
def test_a_blackhole_route_is_no_way_out():
    nat_route = {"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-0123", "State": "blackhole"}
    table = {"Routes": [{"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local"}, nat_route]}
    assert _way_out({"SubnetId": "subnet-1"}, table) == "its 0.0.0.0/0 route is a blackhole (its target is gone)"
    assert _way_out({"SubnetId": "subnet-1"}, {"Routes": [{**nat_route, "State": "active"}]}) == "through NAT"


def test_doctor_never_loads_cdktf_or_jsii():
    code = (
        "import sys, ecs_autoscale.doctor, ecs_autoscale.deployment.failure_advice, ecs_autoscale.cli.doctor; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('cdktf', 'jsii', 'constructs', "
        "'cdktf_cdktf_provider_aws')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout.strip()) == (0, "[]"), proc.stderr
