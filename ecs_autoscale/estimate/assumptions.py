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
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import EcsAutoscaleError
from ..model.scaling_design import SERVICE_THROTTLE_MAX_MINUTES, SERVICE_THROTTLE_SOURCE

PRICE_NAME_RE = re.compile(r"^price\.(?P<type>[a-z][a-z0-9-]*\.[a-z0-9]+)\.(?P<market>on_demand|spot)$")
SERVICE_PRICE_PREFIX = "price."


class AssumptionError(EcsAutoscaleError, ValueError):
    """A bad `--assume`: one line naming the assumption and the fix."""


def _a(
    default: float,
    unit: str,
    meaning: str,
    source: str,
    *,
    minimum: float = 0.0,
    maximum: float | None = None,
    integer: bool = False,
) -> Any:
    return field(
        default=default,
        metadata={
            "unit": unit,
            "meaning": meaning,
            "source": source,
            "minimum": minimum,
            "maximum": maximum,
            "integer": integer,
        },
    )


ENGINEERING = "engineering estimate; measure yours with `ecs-autoscale report` and override (--assume-from its --json)"


@dataclass(frozen=True)
class Assumptions:
    # --- CloudWatch alarms and Auto Scaling ---
    sqs_metric_delay_s: float = _a(
        60,
        "s",
        "from the end of a 1-minute SQS sample until an alarm can read it",
        "SQS pushes queue metrics to CloudWatch once a minute (SQS Developer Guide, 'Available CloudWatch "
        "metrics for Amazon SQS'); about one more minute until the alarm sees it: " + ENGINEERING,
    )
    sqs_inactive_wakeup_s: float = _a(
        900,
        "s",
        "extra wait before SQS metrics resume for a queue nobody touched for 6 h or more",
        "SQS Developer Guide, 'Available CloudWatch metrics for Amazon SQS': a queue is inactive after six "
        "hours without messages or API calls, and 'a delay of up to 15 minutes occurs in CloudWatch metrics "
        "when a queue is activated from an inactive state'. 900 is a lab that submits every few days; 0 a "
        "queue in use. This stack's queue keep-alive schedule keeps its queue active: the original's only",
    )
    asg_metric_delay_s: float = _a(
        60,
        "s",
        "from the end of a 1-minute Auto Scaling group sample (GroupDesiredCapacity, "
        "GroupInServiceInstances) until an alarm can read it",
        "EC2 Auto Scaling User Guide, 'Monitor CloudWatch metrics for your Auto Scaling groups': group metrics "
        "at one-minute granularity, no charge; set it above sqs_metric_delay_s to see FILL(desired, REPEAT) "
        "carry a late minute: " + ENGINEERING,
    )
    scaling_action_s: float = _a(
        10, "s", "from an alarm firing to the scaling policy's new desired capacity", ENGINEERING
    )
    client_action_s: float = _a(
        2,
        "s",
        "from `submit` queuing a video to its SetDesiredCapacity call taking effect",
        "two API calls (GetQueueAttributes, SetDesiredCapacity): " + ENGINEERING,
    )
    asg_action_s: float = _a(
        10, "s", "from a capacity decision to the Auto Scaling group's launch or terminate request", ENGINEERING
    )
    sqs_count_lag_s: float = _a(
        60,
        "s",
        "how far GetQueueAttributes' live counts (read by the instance agent) lag the queue",
        "SQS API reference, GetQueueAttributes (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/"
        "APIReference/API_GetQueueAttributes.html): the approximate counts 'may not achieve consistency until "
        "at least 1 minute after the producers stop sending messages': at least 1 minute, not a maximum. The "
        "agent's counts only hold its idle clock back; they never decide a kill (its own workers do), so a "
        "longer lag costs idle minutes, not videos (try 300)",
    )
    agent_kill_gap_s: float = _a(
        0.05,
        "s",
        "from the agent's final read of its workers' counters to their SIGKILL, plus the network time of a "
        "long poll's answer: a video that becomes visible in this gap and is taken by that idle worker is cut",
        "the agent's last look (ScalingDesign.quiet_seconds) runs its slow checks (nvidia-smi, task "
        "protection) before its final read of the /proc and cgroup counters, and nothing but that read comes "
        "before the SIGKILL (milestones are written after it): about 0.2 ms for one worker on the test host "
        "(tests/unit/test_instance_agent.py checks the order); the rest is an in-region long poll's answer "
        "in flight, a few milliseconds: " + ENGINEERING,
    )
    terminate_turn_s: float = _a(
        2,
        "s",
        "how long one agent's own termination keeps the group's scaling activity in progress, so that other "
        "agents' TerminateInstanceInAutoScalingGroup calls answer ScalingActivityInProgress and wait their turn",
        "the agent completes its own termination hook right after its terminate (its workers are killed and "
        "fenced) and records two milestones in between; AWS documents the error, not how long an activity "
        "refuses others (try instance_shutdown_s if it counts the instance's shutdown): " + ENGINEERING,
    )
    placement_delay_s: float = _a(
        10,
        "s",
        "from capacity changing (an instance registering, a task stopping) to the ECS scheduler placing a task there",
        "ECS places daemon tasks when an instance registers: " + ENGINEERING + "; the original stack's "
        "replica tasks can wait longer (the service throttle logic spaces the restarts of tasks that fail to "
        f"start up to {SERVICE_THROTTLE_MAX_MINUTES} minutes apart, daemon tasks included: "
        f"{SERVICE_THROTTLE_SOURCE}), which this model does not charge to it",
    )
    # --- ECS managed scaling: the original stack's empty instances (this stack has no capacity provider) ---
    capacity_metric_delay_s: float = _a(
        60,
        "s",
        "from a CapacityProviderReservation sample until its ECS-managed alarm reads it",
        "ECS publishes the metric every minute (ECS Developer Guide, managed scaling behavior): " + ENGINEERING,
    )
    cp_scale_in_datapoints: float = _a(
        15,
        "min",
        "minutes of CapacityProviderReservation below target before empty instances go",
        "ECS Developer Guide, managed scaling behavior: 'CloudWatch scale-in alarms require 15 data points (15 "
        "minutes) before the scale-in process ... starts'",
        minimum=1,
        integer=True,
    )
    cp_scale_in_fraction: float = _a(
        0.5,
        "fraction",
        "largest share of the group removed per capacity-provider scale-in step",
        "ECS Developer Guide, managed scaling behavior: less than 50% each minute; AWS blog 'Faster Scaling-in "
        "for Amazon ECS Cluster Auto Scaling'",
        maximum=1,
    )
    cp_scale_in_interval_s: float = _a(
        150,
        "s",
        "time between capacity-provider scale-in steps",
        "AWS blog 'Faster Scaling-in for Amazon ECS Cluster Auto Scaling': 334 -> 34 instances in 4 "
        "halving steps in about 10 minutes",
        minimum=1,
    )
    # --- EC2 instance and container ---
    instance_pending_s: float = _a(
        45,
        "s",
        "EC2 'pending' until 'running' (not billed)",
        "EC2 User Guide, instance lifecycle: pending is not billed; duration " + ENGINEERING,
    )
    instance_boot_s: float = _a(
        90,
        "s",
        "'running' until the ECS agent has registered the instance (billed)",
        "ECS GPU-optimized AMI boot with NVIDIA driver and agent start: " + ENGINEERING,
    )
    docker_ready_s: float = _a(
        30,
        "s",
        "'running' until docker accepts the instance agent's image pull (this stack pulls at boot)",
        ENGINEERING,
    )
    image_pull_s: float = _a(
        150,
        "s",
        "pull of the model image on a fresh instance (skipped when the instance has it)",
        "a 4-5 GB CUDA image from same-region ECR at ~30-50 MB/s download+extract: " + ENGINEERING,
    )
    task_start_s: float = _a(
        30, "s", "container start, model download from S3 and GPU init until the worker polls the queue", ENGINEERING
    )
    instance_shutdown_s: float = _a(
        30,
        "s",
        "EC2 'shutting-down' until 'terminated' (not billed)",
        "EC2 User Guide, instance lifecycle: shutting-down is not billed; duration " + ENGINEERING,
    )
    warm_start_s: float = _a(
        30,
        "s",
        "a stopped warm-pool instance from start to 'running' (not billed)",
        "EC2 Auto Scaling User Guide, warm pools: stopped instances are started on scale-out: " + ENGINEERING,
    )
    warm_boot_s: float = _a(
        45,
        "s",
        "a warm-pool instance from 'running' to registered with ECS (no first-boot setup, image cached)",
        ENGINEERING,
    )
    # --- storage ---
    results_mb_per_video: float = _a(
        5, "MB", "size of one video's .tracks.tar.gz kept in the tracks bucket", ENGINEERING
    )
    video_mb_kept_per_video: float = _a(
        0,
        "MB",
        "video left in the video bucket after processing",
        "0: the client's default clean=True deletes each video once processed",
    )

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


@dataclass(frozen=True)
class AwsRule:
    """A documented AWS behaviour the design depends on: what it is, where AWS says so, and what the
    design and this model do about it."""

    name: str
    rule: str
    source: str
    handling: str


SQS_METRICS_DOC = (
    "SQS Developer Guide, 'Available CloudWatch metrics for Amazon SQS', "
    "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html"
)
METRIC_MATH_DOC = (
    "CloudWatch User Guide, 'Using metric math', "
    "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html"
)
LIFECYCLE_HOOKS_DOC = (
    "EC2 Auto Scaling User Guide, 'Amazon EC2 Auto Scaling lifecycle hooks', "
    "https://docs.aws.amazon.com/autoscaling/ec2/userguide/lifecycle-hooks.html; EC2 Auto Scaling API Reference, "
    "LifecycleHook (GlobalTimeout), PutLifecycleHook (HeartbeatTimeout), "
    "https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_LifecycleHook.html"
)
WARM_POOLS_DOC = (
    "EC2 Auto Scaling User Guide, 'Warm pools for Amazon EC2 Auto Scaling', "
    "https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-warm-pools.html; EC2 Auto Scaling "
    "API Reference, PutWarmPool, https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_PutWarmPool.html"
)

AWS_RULES = (
    AwsRule(
        "metric-math-missing-data",
        "In metric math 'missing values in a time series are treated as 0' in arithmetic, FILL replaces them, "
        "IF drops a datapoint whose condition has no value, and FILL gives an alarm a latest datapoint, so a "
        "late SQS minute reads as 'no videos' and a 1-out-of-1 alarm stays OK while videos wait.",
        METRIC_MATH_DOC + " (missing values; FILL in alarms: 'You can work around this by using a M out of N alarm')",
        "backstop scale-out alarm is 1 out of 3; the model evaluates the alarms' own expression strings "
        "(synthesis/alarm_expressions.py) with these rules, minute by minute, on late and missing data",
    ),
    AwsRule(
        "sqs-metric-reporting",
        "SQS reports ApproximateNumberOfMessagesVisible and NumberOfMessagesReceived 'if the queue is active', "
        "ApproximateNumberOfMessagesDelayed only 'if delayed messages exist', ApproximateNumberOfMessagesNotVisible "
        "only 'if in-flight messages exist', ApproximateAgeOfOldestMessage only while the queue holds a message.",
        SQS_METRICS_DOC + " (Reporting behavior column)",
        "an empty queue has no delayed or in-flight datapoint: the backstop idle alarm fills them with 0 and a "
        "missing visible datapoint with 1 (FILL(visible, 1) + FILL(delayed, 0) + FILL(in_flight, 0)); the old "
        "FILL(delayed, 1) + FILL(in_flight, 1) never read an empty queue as idle, so it never fired. The model's "
        "samples report exactly these datapoints",
    ),
    AwsRule(
        "sqs-inactive-queue",
        "A queue counts as active while it holds messages or any action accesses it; six hours without either "
        "and it stops publishing metrics, which resume up to 15 minutes late.",
        SQS_METRICS_DOC,
        "a schedule tags the video queue every hour (TagQueue with the tag it already has), so it never goes "
        "inactive and the backstop alarm sees another client's videos as quickly after days of silence as on a "
        "queue in use; submit and the agents do not wait for metrics anyway (sqs_inactive_wakeup_s, default "
        "900, applies to the original)",
    ),
    AwsRule(
        "scheduler-read-only-targets",
        "EventBridge Scheduler's universal targets refuse read-only API actions: any action beginning with get, "
        "describe, list, poll, receive, ... (its own example: sqs:getQueueURL is not supported).",
        "EventBridge Scheduler User Guide, 'Using universal targets', section 'Unsupported actions', "
        "https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-targets-universal.html",
        "the keep-alive calls sqs:tagQueue (a write that changes nothing), not sqs:getQueueAttributes, which "
        "CreateSchedule refuses; not a timing, so not modelled",
    ),
    AwsRule(
        "sqs-count-lag-lower-bound",
        "GetQueueAttributes counts are approximate and 'may not achieve consistency until at least 1 minute "
        "after the producers stop sending messages': the lag has a lower bound, not an upper one.",
        "SQS API Reference, GetQueueAttributes, "
        "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_GetQueueAttributes.html",
        "the counts never decide a kill: each agent kills only after its own workers were idle and a last "
        "quiet look saw no byte move (a receive stops it); a lagging count only holds its idle clock back. "
        "Residual: a video visible inside agent_kill_gap_s and taken by that idle worker, counted as cut. "
        "--assume sqs_count_lag_s=300 still cuts no video",
    ),
    AwsRule(
        "draining-stops-daemon-tasks",
        "Setting a container instance to DRAINING stops its RUNNING service tasks, daemon tasks included (a "
        "daemon service runs one task on each ACTIVE container instance).",
        "ECS Developer Guide, 'Draining Amazon ECS container instances', "
        "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/container-instance-draining.html; ECS "
        "Developer Guide, 'Amazon ECS services' (daemon scheduling strategy), "
        "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_services.html",
        "the agent decides first, on its own workers, kills them, then fences and drains: a drain never stops "
        "a worker the agent meant to leave alone; modelled in that order",
    ),
    AwsRule(
        "termination-lifecycle-hook",
        "A termination lifecycle hook holds an instance the group terminates in Terminating:Wait (running, "
        "billed) until CompleteLifecycleAction or the heartbeat timeout (30-7200 s, extended by each "
        "heartbeat); at most the global timeout, min(48 h, 100 x HeartbeatTimeout).",
        LIFECYCLE_HOOKS_DOC,
        "what the group terminates itself (the backstop idle and stuck alarms, a halt, a stop) waits for its "
        "agent to find its workers quiet, heartbeating while they are busy (termination_heartbeat_seconds, "
        "1800 s); the agents' own terminations have already stopped their workers. Modelled: held instances "
        "keep working and taking videos, and go when quiet, or at the timeouts (then a busy worker is cut)",
    ),
    AwsRule(
        "az-rebalance",
        "After instances are terminated explicitly, leaving the Availability Zones unbalanced, AZRebalance "
        "launches new instances before it terminates old ones, which can start a fresh GPU instance that "
        "idles and terminate a busy one.",
        "EC2 Auto Scaling User Guide, 'Suspend and resume processes' (AZRebalance; rebalancing activities), "
        "https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-suspend-resume-processes.html",
        "AZRebalance is suspended on the group: agents terminate their own instances without the group "
        "undoing it; not modelled (nothing rebalances)",
    ),
    AwsRule(
        "capacity-rebalancing",
        "With Capacity Rebalancing, Auto Scaling launches a replacement for a Spot instance at elevated "
        "interruption risk and, without a termination lifecycle hook, terminates the old instance as soon as "
        "the new one passes its health checks.",
        "EC2 Auto Scaling User Guide, 'Capacity Rebalancing in Auto Scaling to replace at-risk Spot Instances', "
        "https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-capacity-rebalancing.html",
        "off: the group itself never cuts a Spot instance's video; not modelled",
    ),
    AwsRule(
        "spot-interruption",
        "A Spot interruption stops or terminates the instance after a two-minute notice; a video it was "
        "processing is never deleted, so SQS hands it out again only after its visibility timeout, and that "
        "receive counts toward the dead-letter queue's MaxReceiveCount.",
        "EC2 User Guide, 'Spot Instance interruptions', "
        "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/spot-interruptions.html; SQS Developer Guide, "
        "'Amazon SQS visibility timeout', "
        "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-visibility-timeout.html",
        "a real interruption still ends its video: it returns after TimeoutHours, one receive counted; "
        "not modelled (the estimate has no interruptions)",
    ),
    AwsRule(
        "warm-pool-size",
        "A warm pool holds max(MinSize, MaxGroupPreparedCapacity - desired capacity) instances, and "
        "MaxGroupPreparedCapacity bounds the pool and the group's instances together; it refills with new "
        "instances. Lifecycle hooks added after the group exists miss its first instances: they must be "
        "declared with the group.",
        WARM_POOLS_DOC,
        "MinSize 0, MaxGroupPreparedCapacity = WarmPool: the pool refills only while the group runs fewer than "
        "WarmPool instances, so at most max(FleetSize, WarmPool) run, plus one still shutting down while its "
        "replacement is prepared (ScalingDesign.peak_instances, which doctor checks against the vCPU quota); "
        "its launch hook is declared with the group "
        "(initial_lifecycle_hook) so the first pool instances are prepared too. Modelled: refills are new "
        "instances, billed while they boot and pull the image, then stopped",
    ),
    AwsRule(
        "instance-refresh-warm-pool",
        "A launch template change leaves existing instances as they are; an instance refresh replaces the "
        "warm pool's instances after the InService ones.",
        "EC2 Auto Scaling User Guide, 'Use an instance refresh to update instances in an Auto Scaling group' "
        "(warm pools), https://docs.aws.amazon.com/autoscaling/ec2/userguide/asg-instance-refresh.html",
        "a deploy that changes the launch template starts an instance refresh, so no pool instance keeps a "
        "stale AMI or image; not modelled (one deployment per estimate)",
    ),
    AwsRule(
        "terminate-scaling-activity-in-progress",
        "TerminateInstanceInAutoScalingGroup can answer ScalingActivityInProgress (HTTP 400) while another "
        "scaling activity runs.",
        "EC2 Auto Scaling API Reference, TerminateInstanceInAutoScalingGroup (Errors), "
        "https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_TerminateInstanceInAutoScalingGroup.html",
        "the agent retries it with jittered backoff for up to 5 minutes (its workers are already stopped and "
        "fenced, so a late terminate costs only that instance's time) and completes its own termination hook "
        "at once, so agents leaving together take turns of terminate_turn_s; asg_action_s stands for the "
        "call. Waits beyond the agent's 5 minutes (then it stays and idles again) are not modelled",
    ),
    AwsRule(
        "managed-scaling-steps",
        "An ECS capacity provider whose group spans several Availability Zones or instance types scales "
        "out by exactly minimumScalingStepSize, and blocks further scale-out while an instance is inside "
        "instanceWarmupPeriod; it starts at two instances from zero.",
        "ECS API reference, ManagedScaling; ECS Developer Guide, 'Amazon ECS managed scaling behavior'",
        "not used: the group is sized directly (submit, step-scaling alarm), the whole fleet at once",
    ),
    AwsRule(
        "capacity-provider-hop",
        "Tasks of a capacity provider wait in PROVISIONING for the CapacityProviderReservation metric and "
        "its alarm before an instance launches; without managed scaling, unplaceable tasks fail and the "
        f"service scheduler spaces their restarts up to {SERVICE_THROTTLE_MAX_MINUTES} minutes apart.",
        f"ECS Developer Guide, managed scaling behavior; {SERVICE_THROTTLE_SOURCE}",
        "no capacity provider: instances launch from the queue signal, daemon tasks follow them",
    ),
    AwsRule(
        "managed-scale-in",
        "ECS managed scaling scales in after 15 one-minute datapoints below target, at most 50% a "
        "minute, and lifts managed termination protection only from empty instances.",
        "ECS Developer Guide, managed scaling behavior",
        "this stack: each agent terminates its own instance after ScaleInIdleMinutes of its own idle workers; "
        "modelled for the original stack's empty instances (cp_scale_in_*)",
    ),
    AwsRule(
        "alarm-actions-repeat",
        "An alarm with an Auto Scaling action invokes it once a minute while it stays in ALARM.",
        "CloudWatch User Guide, 'Using Amazon CloudWatch alarms' (alarm actions)",
        "the backstop idle alarm only breaches while the group is above 0, so it stops once it has acted "
        "and never undoes a later submit; the model re-evaluates every alarm every minute",
    ),
    AwsRule(
        "original-termination-protection",
        "The original stack's tasks never scale in and managed termination protection keeps every "
        "instance that holds a task, so its 180-minute alarm cannot bring a fleet that ran a job to zero.",
        "deepsea-ai CDK source (ecs_task_autoscaling.ts); ECS Developer Guide, managed termination protection",
        "modelled: the original's instances with tasks stay; the estimate reports them as still running",
    ),
    AwsRule(
        "step-scaling-warmup",
        "While instances added by a step policy warm up, a repeated alarm in the same step adds nothing "
        "and a larger step adds only the difference.",
        "EC2 Auto Scaling User Guide, 'Step and simple scaling policies' (instance warm-up)",
        "the backstop alarm's repeats and its 3-minute window never add instances twice; modelled",
    ),
    AwsRule(
        "gpu-instance-types",
        "ECS places a task only where its GPUs are free; the ECS GPU-optimized AL2023 AMI is x86_64 and NVIDIA-only.",
        "ECS Developer Guide, 'Amazon ECS task definitions for GPU workloads' and 'Amazon ECS-optimized Linux AMIs'",
        "validate rejects unknown, non-GPU and arm64 types; one daemon task per GpusPerTask GPUs",
    ),
    AwsRule(
        "crash-loop",
        "A worker that dies before receiving leaves videos visible with a receive count that never rises: "
        "no dead-letter move, no idle, the fleet runs on.",
        "SQS Developer Guide, dead-letter queues (maxReceiveCount counts receives)",
        "the agent halts the stack after 3 worker exits in 15 min while videos wait; an alarm stops the "
        "group after 30 min without a receive; modelled with --workers-fail exit (the model restarts a "
        "failed worker after placement_delay_s, without ECS's restart backoff) and --workers-fail hang",
    ),
    AwsRule(
        "oldest-message-age",
        "ApproximateAgeOfOldestMessage is the age of the oldest message not yet deleted, counted from its "
        "send: it keeps growing while no worker takes a video, and a stopped fleet does not reset it.",
        SQS_METRICS_DOC,
        "after 30 min of age with nothing in flight or received, the backstop scale-out reads 0 (the stuck "
        "alarm's stopped fleet is not relaunched a minute later: without it, a 30-minute relaunch cycle) and "
        "the videos-not-taken alarm notifies; modelled with --workers-fail hang",
    ),
)


def describe(name: str) -> dict[str, Any]:
    meta = {f.name: f for f in fields(Assumptions)}[name]
    return {"name": name, "default": meta.default, **{k: meta.metadata[k] for k in ("unit", "meaning", "source")}}


@dataclass(frozen=True)
class InstancePrice:
    on_demand: float | None
    spot: float | None
    gpus: int | None = None


@dataclass(frozen=True)
class Prices:
    """Prices shipped in ecs_autoscale/data/prices.json (with their date), plus command-line overrides."""

    region: str
    on_demand_as_of: str
    spot_as_of: str
    on_demand_source: str
    spot_source: str
    instances: dict[str, InstancePrice]
    services: dict[str, float]
    service_sources: dict[str, str]
    overridden: tuple[str, ...] = ()

    def instance(self, instance_type: str) -> InstancePrice:
        return self.instances.get(instance_type, InstancePrice(None, None))

    def hourly(self, instance_type: str, spot: bool) -> float | None:
        price = self.instance(instance_type)
        return price.spot if spot else price.on_demand

    def service(self, name: str) -> float:
        return self.services[name]


def load_prices() -> Prices:
    raw = json.loads(resources.files("ecs_autoscale").joinpath("data/prices.json").read_text())
    instances = {
        name: InstancePrice(p.get("on_demand"), p.get("spot"), p.get("gpus")) for name, p in raw["instances"].items()
    }
    return Prices(
        region=raw["region"],
        on_demand_as_of=raw["on_demand_as_of"],
        spot_as_of=raw["spot_as_of"],
        on_demand_source=raw["on_demand_source"],
        spot_source=raw["spot_source"],
        instances=instances,
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


ASSUME_FROM_KEY = "assumptions"
"""`report --json` writes measured timings under this key; `--assume-from` reads it there."""


def read_assume_file(path: Path) -> list[str]:
    """The `NAME=VALUE` items of an `--assume-from FILE`, in the file's order.

    FILE is a JSON object mapping assumption names (those of --list-assumptions, prices included) to
    numbers, either the whole file ({"image_pull_s": 240, ...}) or under the key "assumptions" (what
    `ecs-autoscale report --json` prints, so its output is used as is). A bad file, a value that is not a
    number or an unknown name is one AssumptionError line naming the file and the field.
    """
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise AssumptionError(
            f"--assume-from {path}: not found (a JSON file, e.g. from `ecs-autoscale report --json`)"
        ) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise AssumptionError(f"--assume-from {path}: not readable JSON ({exc})") from None
    where = ""
    if isinstance(data, dict) and isinstance(data.get(ASSUME_FROM_KEY), dict):
        data, where = data[ASSUME_FROM_KEY], f"{ASSUME_FROM_KEY}."
    if not isinstance(data, dict):
        raise AssumptionError(
            f'--assume-from {path}: expected a JSON object of assumption names to numbers, e.g. {{"image_pull_s": 240}}'
        )
    items = []
    for name, value in data.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise AssumptionError(f"{path}: {where}{name}: {json.dumps(value)} is not a number")
        items.append(f"{name}={value!r}")
    try:
        apply_overrides(items)  # each name and value checked as --assume checks them, then told by the file
    except AssumptionError as exc:
        raise AssumptionError(f"{path}: {where}{str(exc).removeprefix('--assume ')}") from None
    return items


def apply_overrides(
    items: Iterable[str], assumptions: Assumptions | None = None, prices: Prices | None = None
) -> tuple[Assumptions, Prices]:
    """`NAME=VALUE` strings -> (Assumptions, Prices); raises AssumptionError (one line) on a bad one. A name
    given twice takes its last value (so `--assume` after `--assume-from` items wins)."""
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
            instances[price["type"]] = replace(current, **{price["market"]: value})  # type: ignore[arg-type]
        elif name.startswith(SERVICE_PRICE_PREFIX) and name.removeprefix(SERVICE_PRICE_PREFIX) in services:
            if value < 0:
                raise AssumptionError(f"--assume {name}={text}: a price cannot be negative")
            services[name.removeprefix(SERVICE_PRICE_PREFIX)] = value
        else:
            raise _unknown(name, prices)
        overridden.append(name)
    return (
        replace(assumptions, **timing_changes),
        replace(prices, instances=instances, services=services, overridden=tuple(dict.fromkeys(overridden))),
    )


def listing(prices: Prices | None = None) -> str:
    """Human-readable table for `--list-assumptions`."""
    prices = prices or load_prices()
    lines = ["Timing and workload assumptions (override with --assume NAME=VALUE):", ""]
    for name in Assumptions.names():
        d = describe(name)
        lines.append(f"  {name} = {d['default']:g} {d['unit']}")
        lines.append(f"      {d['meaning']}")
        lines.append(f"      source: {d['source']}")
    lines += [
        "",
        f"Instance prices, USD per hour in {prices.region} "
        f"(on-demand as of {prices.on_demand_as_of}, spot as of {prices.spot_as_of}):",
        "",
    ]
    for name, p in prices.instances.items():
        lines.append(f"  price.{name}.on_demand = {p.on_demand:g}    price.{name}.spot = {p.spot:g}")
    lines += [
        "",
        f"  on-demand source: {prices.on_demand_source}",
        f"  spot source: {prices.spot_source}",
        "  any other type: --assume price.TYPE.on_demand=USD (or .spot)",
        "",
        "Service prices, USD:",
        "",
    ]
    for name, usd in prices.services.items():
        lines.append(f"  price.{name} = {usd:g}")
        lines.append(f"      source: {prices.service_sources[name]}")
    lines += ["", "AWS rules the design depends on (not overridable; the model applies them):", ""]
    for rule in AWS_RULES:
        lines += [f"  {rule.name}: {rule.rule}", f"      source: {rule.source}", f"      design: {rule.handling}"]
    return "\n".join(lines)
