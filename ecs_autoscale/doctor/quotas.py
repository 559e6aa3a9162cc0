"""The GPU vCPU quota: can the most instances the stack runs at once (FleetSize, plus one being prepared for
the warm pool: ScalingDesign.peak_instances) run in this account?

EC2 counts running On-Demand instances and Spot requests against per-Region vCPU quotas, one per
instance-family group (EC2 User Guide, "On-Demand Instance quotas" and "Spot Instance quotas",
https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-spot-limits.html). A launch beyond the
quota fails (VcpuLimitExceeded, MaxSpotInstanceCountExceeded) and the Auto Scaling group stays short.
The quota is shared by every instance of the group in the account, not only this stack's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from ..model.instance_types import InstanceType, known
from .findings import DENIED, Finding, aws_error, fail, ok, warn

CHECK = "vCPU quota"


class Quota(NamedTuple):
    code: str
    name: str


# Service Quotas codes (service code "ec2"). Names as AWS's pages list them; Spot P quotas are
# split in two (P5 and newer vs P4/P3/P2).
ON_DEMAND_G = Quota("L-DB2E81BA", "Running On-Demand G and VT instances")
ON_DEMAND_P = Quota("L-417A185B", "Running On-Demand P instances")
SPOT_G = Quota("L-3819A6DF", "All G and VT Spot Instance Requests")
SPOT_P = Quota("L-7212CCBC", "All P4, P3 and P2 Spot Instance Requests")
SPOT_P5 = Quota("L-C4BD4855", "All P5 Spot Instance Requests")


def quota_for(spec: InstanceType, spot: bool) -> Quota:
    if spec.family.startswith("g"):
        return SPOT_G if spot else ON_DEMAND_G
    if not spot:
        return ON_DEMAND_P
    return SPOT_P5 if spec.family.startswith("p5") else SPOT_P


def read_quota(client: Any, quota: Quota) -> tuple[float, str]:
    """(vCPUs, "" or " (AWS default)"). An account never raised has no applied value for some quotas:
    GetServiceQuota then answers NoSuchResourceException and the AWS default applies."""
    try:
        return float(client.get_service_quota(ServiceCode="ec2", QuotaCode=quota.code)["Quota"]["Value"]), ""
    except Exception as exc:  # botocore ClientError
        if aws_error(exc)[0] != "NoSuchResourceException":
            raise
    value = client.get_aws_default_service_quota(ServiceCode="ec2", QuotaCode=quota.code)["Quota"]["Value"]
    return float(value), " (AWS default)"


def check_quotas(
    client_for: Callable[[str], object],
    region: str,
    names: tuple[str, ...],
    fleet_size: int,
    spot: bool,
    pool_spare: int = 0,
) -> list[Finding]:
    """One finding per quota the group draws from (G and P types can share a group). `pool_spare`: instances
    the warm pool may prepare beyond FleetSize at once (ScalingDesign.pool_spare_instances)."""
    groups: dict[Quota, list[InstanceType]] = {}
    for name in names:
        spec = known(name)
        groups.setdefault(quota_for(spec, spot), []).append(spec)
    client = client_for("service-quotas")
    return [_check_one(client, region, quota, specs, fleet_size, pool_spare) for quota, specs in groups.items()]


def _check_one(
    client: Any, region: str, quota: Quota, specs: list[InstanceType], fleet_size: int, pool_spare: int
) -> Finding:
    label = f"{quota.name} ({quota.code})"
    try:
        value, source = read_quota(client, quota)
    except Exception as exc:
        code, message = aws_error(exc)
        if code in DENIED:
            return warn(
                CHECK,
                f"cannot read {label} in {region}: {message}",
                "allow servicequotas:GetServiceQuota, or read it in the Service Quotas console",
            )
        return warn(
            CHECK,
            f"cannot read {label} in {region}: {code or type(exc).__name__}: {message}",
            "read it in the Service Quotas console",
        )
    largest = max(specs, key=lambda s: s.vcpus)
    smallest = min(specs, key=lambda s: s.vcpus)
    need = (fleet_size + pool_spare) * largest.vcpus
    have = int(value)
    spare = f" + {pool_spare} being prepared for the warm pool" if pool_spare else ""
    fleet = f"FleetSize {fleet_size}{spare} x {largest.vcpus} vCPUs ({'/'.join(s.name for s in specs)}) needs {need}"
    request = (
        f"request {need} in the Service Quotas console, or: aws service-quotas "
        f"request-service-quota-increase --service-code ec2 --quota-code {quota.code} "
        f"--desired-value {need} --region {region}"
    )
    if have >= need:
        return ok(CHECK, f"{label} is {have} vCPUs{source} in {region}; {fleet}")
    if have >= fleet_size * largest.vcpus:  # only the warm pool's spare does not fit: its refill waits
        return warn(
            CHECK,
            f"{label} is {have} vCPUs{source} in {region}: FleetSize {fleet_size} fits, but not an instance "
            f"prepared for the warm pool while another shuts down (the pool then refills late); {fleet}",
            request,
        )
    if have < smallest.vcpus:
        return fail(
            CHECK,
            f"{label} is {have} vCPUs{source} in {region}: not one {smallest.name} "
            f"({smallest.vcpus} vCPUs) can launch; {fleet}",
            request,
        )
    low, high = have // largest.vcpus, have // smallest.vcpus
    fits = str(high) if low == high else f"{low} to {high}"
    return warn(
        CHECK,
        f"{label} is {have} vCPUs{source} in {region}: {fits} of FleetSize {fleet_size} instances "
        f"can run at once; {fleet}",
        f"{request}; or lower FleetSize to {max(low, 1)}",
    )
