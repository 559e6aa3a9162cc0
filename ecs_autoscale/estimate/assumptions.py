"""Every timing and price the estimate depends on, as a named, documented number with its source.

What the deployed stack itself fixes (alarm periods, thresholds, cooldowns, step sizes, the capacity
provider's target and steps, the container's stopTimeout, FleetSize, ScaleInIdleMinutes, TimeoutHours,
MaxReceiveCount) is NOT here: the model reads it from `scaling_design.design_for(config)`
and the config, like the constructs do. What is here is how fast AWS and the container react, which
no config controls; override any of it with `--assume NAME=VALUE` (`--list-assumptions` lists them).
Timings are seconds.
"""
from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from typing import Iterable, Optional

PRICE_NAME_RE = re.compile(r"^price\.(?P<type>[a-z][a-z0-9-]*\.[a-z0-9]+)\.(?P<market>on_demand|spot)$")
SERVICE_PRICE_PREFIX = "price."


class AssumptionError(ValueError):
    """A bad `--assume`: one line naming the assumption and the fix."""


def _a(default: float, unit: str, meaning: str, source: str, *, minimum: float = 0.0,
       maximum: Optional[float] = None, integer: bool = False):
    return field(default=default, metadata={"unit": unit, "meaning": meaning, "source": source,
                                            "minimum": minimum, "maximum": maximum, "integer": integer})


ENGINEERING = "engineering estimate; measure yours with `ecs-autoscale status` and override"


@dataclass(frozen=True)
class Assumptions:
    # --- CloudWatch and Application Auto Scaling ---
    sqs_metric_delay_s: float = _a(
        60, "s", "from the end of a 1-minute SQS sample until an alarm can read it",
        "SQS pushes queue metrics to CloudWatch once a minute (SQS Developer Guide, 'Available CloudWatch "
        "metrics for Amazon SQS'); about one more minute until the alarm sees it: " + ENGINEERING)
    sqs_inactive_wakeup_s: float = _a(
        0, "s", "extra wait before SQS metrics resume for a queue that was idle for 6 h or more",
        "SQS Developer Guide: metrics of an inactive queue can take up to 15 minutes (900) to resume; 0 "
        "assumes the queue was used recently")
    container_insights_delay_s: float = _a(
        60, "s", "from the end of a 1-minute Container Insights sample (the service's desired task count) "
        "until the scale-out alarm can read it",
        "ECS publishes Container Insights service metrics once a minute (ECS Developer Guide, 'Amazon ECS "
        "Container Insights metrics'); set it above sqs_metric_delay_s to see the alarm repeat the last "
        "published desired count (FILL REPEAT) over a late minute: " + ENGINEERING)
    scaling_action_s: float = _a(
        10, "s", "from an alarm firing to the ECS service's new desired count and its tasks created",
        ENGINEERING)
    # --- ECS capacity provider (managed scaling, owned by ECS, not by this stack) ---
    capacity_metric_delay_s: float = _a(
        60, "s", "from a CapacityProviderReservation sample until its ECS-managed alarm reads it",
        "ECS publishes the metric every minute; the high alarm needs 1 datapoint (ECS Developer Guide, "
        "'Optimize Amazon ECS cluster auto scaling'): " + ENGINEERING)
    cp_scale_out_interval_s: float = _a(
        60, "s", "at most one capacity-provider scale-out per this interval while tasks wait",
        "one ECS-managed alarm evaluation per minute; set 300 (the instance warm-up) if your group only "
        "grows once per warm-up", minimum=1)
    cp_multi_az_rule: float = _a(
        1, "flag", "1: each scale-out adds exactly the minimum step (1 instance); 0: adds what waiting "
        "tasks need, up to the maximum step",
        "ECS API reference, ManagedScaling.minimumScalingStepSize: a group spanning more than one "
        "Availability Zone or instance type scales out by exactly the minimum step; this stack's group "
        "spans every default-VPC subnet", maximum=1, integer=True)
    cp_scale_in_datapoints: float = _a(
        15, "min", "minutes of CapacityProviderReservation below target before idle instances go",
        "ECS-managed low alarm: 15 datapoints of 1 minute (AWS blog 'Deep Dive on Amazon ECS Cluster "
        "Auto Scaling')", minimum=1, integer=True)
    cp_scale_in_fraction: float = _a(
        0.5, "fraction", "largest share of the group removed per capacity-provider scale-in step",
        "AWS What's New 2022-09-16: ECS scale-in steps remove up to 50% of the group", maximum=1)
    cp_scale_in_interval_s: float = _a(
        150, "s", "time between capacity-provider scale-in steps",
        "AWS blog 'Faster Scaling-in for Amazon ECS Cluster Auto Scaling': 334 -> 34 instances in 4 "
        "halving steps in about 10 minutes", minimum=1)
    asg_action_s: float = _a(10, "s", "from a capacity decision to the Auto Scaling group's launch or "
                             "terminate request", ENGINEERING)
    # --- EC2 instance and container ---
    instance_pending_s: float = _a(
        45, "s", "EC2 'pending' until 'running' (not billed)",
        "EC2 User Guide, instance lifecycle: pending is not billed; duration " + ENGINEERING)
    instance_boot_s: float = _a(
        90, "s", "'running' until the ECS agent has registered the instance (billed)",
        "ECS GPU-optimized AMI boot with NVIDIA driver and agent start: " + ENGINEERING)
    image_pull_s: float = _a(
        150, "s", "pull of the model image on a fresh instance (skipped when the instance has it)",
        "a 4-5 GB CUDA image from same-region ECR at ~30-50 MB/s download+extract: " + ENGINEERING)
    task_start_s: float = _a(
        30, "s", "container start, model download from S3 and GPU init until the worker polls the queue",
        ENGINEERING)
    instance_shutdown_s: float = _a(
        30, "s", "EC2 'shutting-down' until 'terminated' (not billed)",
        "EC2 User Guide, instance lifecycle: shutting-down is not billed; duration " + ENGINEERING)
    # --- storage and idle cost ---
    results_mb_per_video: float = _a(
        5, "MB", "size of one video's .tracks.tar.gz kept in the tracks bucket", ENGINEERING)
    video_mb_kept_per_video: float = _a(
        0, "MB", "video left in the video bucket after processing",
        "0: the client's default clean=True deletes each video once processed")
    container_insights_idle_metrics: float = _a(
        8, "metrics", "Container Insights metrics still published with zero tasks and instances "
        "(cluster: instance, task and service counts; service: desired/running/pending task, deployment "
        "and task-set counts)", "ECS Container Insights metric list: " + ENGINEERING, integer=True)

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def describe(name: str) -> dict:
    meta = {f.name: f for f in fields(Assumptions)}[name]
    return {"name": name, "default": meta.default, **{k: meta.metadata[k] for k in ("unit", "meaning", "source")}}


@dataclass(frozen=True)
class InstancePrice:
    on_demand: Optional[float]
    spot: Optional[float]
    gpus: Optional[int] = None


@dataclass(frozen=True)
class Prices:
    """Prices shipped in ecs_autoscale/data/prices.json (with their date), plus command-line overrides."""

    region: str
    on_demand_as_of: str
    spot_as_of: str
    on_demand_source: str
    spot_source: str
    instances: dict
    services: dict
    service_sources: dict
    overridden: tuple = ()

    def instance(self, instance_type: str) -> InstancePrice:
        return self.instances.get(instance_type, InstancePrice(None, None))

    def hourly(self, instance_type: str, spot: bool) -> Optional[float]:
        price = self.instance(instance_type)
        return price.spot if spot else price.on_demand

    def service(self, name: str) -> float:
        return self.services[name]


def load_prices() -> Prices:
    raw = json.loads(resources.files("ecs_autoscale").joinpath("data/prices.json").read_text())
    instances = {name: InstancePrice(p.get("on_demand"), p.get("spot"), p.get("gpus"))
                 for name, p in raw["instances"].items()}
    return Prices(
        region=raw["region"], on_demand_as_of=raw["on_demand_as_of"], spot_as_of=raw["spot_as_of"],
        on_demand_source=raw["on_demand_source"], spot_source=raw["spot_source"], instances=instances,
        services={name: s["usd"] for name, s in raw["services"].items()},
        service_sources={name: s["source"] for name, s in raw["services"].items()},
    )


def price_names(prices: Prices) -> list[str]:
    names = [f"price.{t}.{market}" for t in prices.instances for market in ("on_demand", "spot")]
    return names + [f"{SERVICE_PRICE_PREFIX}{s}" for s in prices.services]


def _number(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise AssumptionError(f"--assume {name}={text}: not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise AssumptionError(f"--assume {name}={text}: not a finite number")
    return value


def _check_range(name: str, value: float) -> float:
    meta = {f.name: f.metadata for f in fields(Assumptions)}[name]
    low, high = meta["minimum"], meta["maximum"]
    if value < low or (high is not None and value > high):
        span = f"from {low:g} to {high:g}" if high is not None else f"at least {low:g}"
        raise AssumptionError(f"--assume {name}={value:g}: must be {span} ({meta['unit']})")
    if meta["integer"] and value != int(value):
        raise AssumptionError(f"--assume {name}={value:g}: must be a whole number ({meta['unit']})")
    return value


def _unknown(name: str, prices: Prices) -> AssumptionError:
    known = Assumptions.names() + price_names(prices)
    near = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"did you mean {near[0]}?" if near else "see --list-assumptions"
    return AssumptionError(f"--assume {name}: unknown assumption ({hint})")


def apply_overrides(items: Iterable[str], assumptions: Optional[Assumptions] = None,
                    prices: Optional[Prices] = None) -> tuple[Assumptions, Prices]:
    """`NAME=VALUE` strings -> (Assumptions, Prices); raises AssumptionError (one line) on a bad one."""
    assumptions = assumptions or Assumptions()
    prices = prices or load_prices()
    timing_changes: dict[str, float] = {}
    instances = dict(prices.instances)
    services = dict(prices.services)
    overridden = list(prices.overridden)
    for item in items:
        name, sep, text = item.partition("=")
        name, text = name.strip(), text.strip()
        if not sep or not name or not text:
            raise AssumptionError(f"--assume {item!r}: expected NAME=VALUE, e.g. --assume image_pull_s=300")
        value = _number(name, text)
        price = PRICE_NAME_RE.match(name)
        if name in Assumptions.names():
            timing_changes[name] = _check_range(name, value)
        elif price:
            if value < 0:
                raise AssumptionError(f"--assume {name}={text}: a price cannot be negative")
            current = instances.get(price["type"], InstancePrice(None, None))
            instances[price["type"]] = replace(current, **{price["market"]: value})
        elif name.startswith(SERVICE_PRICE_PREFIX) and name.removeprefix(SERVICE_PRICE_PREFIX) in services:
            if value < 0:
                raise AssumptionError(f"--assume {name}={text}: a price cannot be negative")
            services[name.removeprefix(SERVICE_PRICE_PREFIX)] = value
        else:
            raise _unknown(name, prices)
        overridden.append(name)
    return (replace(assumptions, **timing_changes),
            replace(prices, instances=instances, services=services, overridden=tuple(overridden)))


def listing(prices: Optional[Prices] = None) -> str:
    """Human-readable table for `--list-assumptions`."""
    prices = prices or load_prices()
    lines = ["Timing and workload assumptions (override with --assume NAME=VALUE):", ""]
    for name in Assumptions.names():
        d = describe(name)
        lines.append(f"  {name} = {d['default']:g} {d['unit']}")
        lines.append(f"      {d['meaning']}")
        lines.append(f"      source: {d['source']}")
    lines += ["", f"Instance prices, USD per hour in {prices.region} "
              f"(on-demand as of {prices.on_demand_as_of}, spot as of {prices.spot_as_of}):", ""]
    for name, p in prices.instances.items():
        lines.append(f"  price.{name}.on_demand = {p.on_demand:g}    price.{name}.spot = {p.spot:g}")
    lines += ["", f"  on-demand source: {prices.on_demand_source}", f"  spot source: {prices.spot_source}",
              "  any other type: --assume price.TYPE.on_demand=USD (or .spot)", "", "Service prices, USD:", ""]
    for name, usd in prices.services.items():
        lines.append(f"  price.{name} = {usd:g}")
        lines.append(f"      source: {prices.service_sources[name]}")
    return "\n".join(lines)
