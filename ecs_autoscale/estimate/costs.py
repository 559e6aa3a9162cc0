"""Money: the GPU instances of one run, and what the deployed stack costs per month while at zero."""

from __future__ import annotations

from dataclasses import dataclass

from ..model.config import ModelConfig
from ..model.scaling_design import ScalingDesign
from .assumptions import Assumptions, Prices
from .model import Outcome
from .workload import Workload

HOURS_PER_MONTH = 730
"""AWS prices monthly storage and metrics on a 730-hour month."""
ALARM_METRICS = {"backstop scale-out": 6, "backstop idle": 4, "stuck videos": 4, "videos not taken": 3}
"""Metrics read by the stack's alarms (CloudWatch bills a metric-math alarm per metric it reads):
backstop scale-out (visible, delayed, in flight, group desired capacity, oldest age, received), idle
(visible, delayed, in flight, group desired capacity), stuck videos (visible, in flight, received,
instances in service), videos not taken (oldest age, received, in flight). The group metrics
themselves are free. tests/unit/test_constructs.py checks these counts against the synthesized alarms."""
STACK_ALARM_METRICS = sum(ALARM_METRICS.values())


@dataclass(frozen=True)
class RunCost:
    instance_type: str
    market: str
    hourly_usd: float | None
    gpu_hours: float
    idle_gpu_hours: float
    instance_usd: float | None
    ebs_usd: float

    @property
    def total_usd(self) -> float | None:
        return None if self.instance_usd is None else self.instance_usd + self.ebs_usd


def run_cost(outcome: Outcome, config: ModelConfig, prices: Prices) -> RunCost:
    """Priced as the first InstanceTypes entry: on-demand groups try the types in order, and a spot
    group's choice is not predictable."""
    instance_type = config.instance_types[0]
    hourly = prices.hourly(instance_type, config.spot)
    hours = outcome.instance_seconds / 3600
    ebs = config.volume_gb * prices.service("ebs_gp3_gb_month") / HOURS_PER_MONTH * hours
    return RunCost(
        instance_type=instance_type,
        market="spot" if config.spot else "on-demand",
        hourly_usd=hourly,
        gpu_hours=hours,
        idle_gpu_hours=outcome.idle_seconds / 3600,
        instance_usd=None if hourly is None else hourly * hours,
        ebs_usd=ebs,
    )


@dataclass(frozen=True)
class CostLine:
    item: str
    usd_month: float
    note: str


NO_CHARGE_AT_ZERO = (
    "SQS queues (billed per request; only the keep-alive tags the video queue at zero), ECS cluster, services and task "
    "definition, Auto Scaling group (and its free group metrics) and launch template at 0 "
    "instances, IAM roles, an SNS topic without messages, an empty log group; no NAT gateway, "
    "load balancer or Container Insights"
)
NOT_COUNTED = (
    "CloudWatch Logs ingestion while running ($0.50/GB), data transfer, the model image in ECR (outside this stack)"
)


def idle_monthly(
    config: ModelConfig, workload: Workload, a: Assumptions, prices: Prices, design: ScalingDesign
) -> list[CostLine]:
    keepalive_calls = round(HOURS_PER_MONTH * 60 / design.queue_keepalive_minutes)
    lines = [
        CostLine(
            "CloudWatch alarms",
            STACK_ALARM_METRICS * prices.service("cloudwatch_alarm_metric_month"),
            f"{STACK_ALARM_METRICS} alarm metrics: " + ", ".join(f"{name} ({n})" for name, n in ALARM_METRICS.items()),
        ),
        CostLine(
            "Queue keep-alive",
            keepalive_calls * (prices.service("scheduler_invocation") + prices.service("sqs_fifo_request")),
            f"{keepalive_calls:,} TagQueue calls a month by EventBridge Scheduler "
            "(list prices; both services' free tiers usually cover them)",
        ),
        CostLine(
            "S3 results",
            workload.videos * a.results_mb_per_video / 1024 * prices.service("s3_standard_gb_month"),
            f"{workload.videos} x {a.results_mb_per_video:g} MB .tracks.tar.gz; grows with every run",
        ),
    ]
    if design.warm_pool_size:
        lines.append(
            CostLine(
                "Warm pool volumes",
                design.warm_pool_size * config.volume_gb * prices.service("ebs_gp3_gb_month"),
                f"{design.warm_pool_size} stopped instance(s) x {config.volume_gb} GB gp3 root volume (stopped "
                "instances pay only for their volumes; refills after use are in the run's GPU hours)",
            )
        )
    if a.video_mb_kept_per_video:
        lines.append(
            CostLine(
                "S3 videos kept",
                workload.videos * a.video_mb_kept_per_video / 1024 * prices.service("s3_standard_gb_month"),
                f"{workload.videos} x {a.video_mb_kept_per_video:g} MB left in the video bucket",
            )
        )
    return lines
