"""Every AWS name the stack derives from StackName, with the rule each one must obey.

Names are fixed (not generated) wherever the worker contract or least-privilege IAM needs to know
them in advance; buckets use a prefix because S3 names are global and Terraform appends a unique
suffix. Validation checks every derived name, so a StackName that would break one AWS rule is
rejected before anything reaches Terraform.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# CloudFormation-style stack names, as users already write them: letter first, letters/digits/hyphens.
STACK_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")
# Terraform appends a 26-character unique suffix to bucket_prefix; S3 allows 63 characters in all.
BUCKET_PREFIX_MAX = 37
# The tag key naming the owning StackName, set on every resource by the provider's default tags (stack.py):
# how cfn_guard, the client and adoption tell this stack's objects from anyone else's.
STACK_TAG = "ecs-autoscale:stack"
# The tag the queue keep-alive schedule puts on the video queue every hour, with the value the queue already has
# (synthesis/constructs/queues.py declares it): TagQueue is an action on the queue, so the queue stays active,
# and nothing changes (no drift for Terraform, no message touched).
QUEUE_KEEPALIVE_TAG = "ecs-autoscale:keepalive"


@dataclass(frozen=True)
class NameRule:
    pattern: str
    max_len: int
    what: str
    detail: str = ""
    """The rule in words, for the error message."""


RULES = {
    "queue": NameRule(r"^[A-Za-z0-9_-]+\.fifo$", 80, "SQS FIFO queue name"),
    # S3 reserves the xn--, sthree- and amzn-s3-demo- prefixes (bucket naming rules).
    "bucket_prefix": NameRule(
        r"^(?!xn--|sthree-|amzn-s3-demo-)[a-z0-9][a-z0-9.-]*-$",
        BUCKET_PREFIX_MAX,
        "S3 bucket prefix",
        "it may not start with xn--, sthree- or amzn-s3-demo-",
    ),
    "cluster": NameRule(r"^[A-Za-z0-9_-]+$", 255, "ECS cluster name"),
    "service": NameRule(r"^[A-Za-z][A-Za-z0-9_-]*$", 255, "ECS service name"),
    "topic": NameRule(r"^[A-Za-z0-9_-]+$", 256, "SNS topic name"),
    "lifecycle_hook": NameRule(r"^[A-Za-z0-9\-_/]+$", 255, "lifecycle hook name"),
    "asg": NameRule(r"^[^:]+$", 255, "Auto Scaling group name"),
    "launch_template": NameRule(r"^[A-Za-z0-9().\-/_]+$", 128, "launch template name"),
    "role": NameRule(r"^[\w+=,.@-]+$", 64, "IAM role name"),
    "policy": NameRule(r"^[\w+=,.@-]+$", 128, "IAM policy name"),
    "log_group": NameRule(r"^[\w\-/.#]+$", 512, "CloudWatch log group name"),
    "alarm": NameRule(r"^[^\x00-\x1f]+$", 255, "CloudWatch alarm name"),
    "task_family": NameRule(r"^[A-Za-z0-9_-]+$", 255, "ECS task definition family"),
    "cfn_stack": NameRule(r"^[A-Za-z][A-Za-z0-9-]*$", 128, "CloudFormation stack name"),
    "schedule": NameRule(r"^[0-9a-zA-Z._-]+$", 64, "EventBridge Scheduler schedule name"),
    # SSM PutParameter: a.-z, A-Z, 0-9, _.-/ and a fully qualified name of at most 1011 characters.
    "ssm_parameter": NameRule(r"^/[A-Za-z0-9_./-]+$", 1011, "SSM parameter name"),
    "security_group": NameRule(r"^[\w .:/()#,@\[\]+=&;{}!$*-]+$", 255, "security group name"),
}


ALARM_PURPOSES = ("videos-not-taken", "videos-stuck", "queue-has-videos", "queue-idle")
"""The stack's alarms (synthesis/constructs/backstop_alarms.py), named `<StackName>-<purpose>`; `status`
shows them in this order (what matters most first) and the client policy may read exactly these."""


@dataclass(frozen=True)
class StackNames:
    """Names of everything one model's stack creates; `stack` is StackName as the user wrote it."""

    stack: str

    @property
    def slug(self) -> str:
        return self.stack.lower()

    @property
    def video_queue(self) -> str:
        return f"{self.stack}-video.fifo"

    @property
    def track_queue(self) -> str:
        return f"{self.stack}-track.fifo"

    @property
    def dead_queue(self) -> str:
        return f"{self.stack}-dead.fifo"

    @property
    def video_bucket_prefix(self) -> str:
        return f"{self.slug}-video-"

    @property
    def tracks_bucket_prefix(self) -> str:
        return f"{self.slug}-tracks-"

    @property
    def cluster(self) -> str:
        return self.stack

    @property
    def service(self) -> str:
        return self.stack

    def worker_service(self, slot: int) -> str:
        """Daemon service of GPU slot `slot` (1-based): one task per instance each, so an instance with
        n slots runs n services' tasks. The first keeps the StackName, as before."""
        return self.stack if slot == 1 else f"{self.stack}-gpu{slot}"

    @property
    def alerts_topic(self) -> str:
        return f"{self.stack}-alerts"

    @property
    def warm_pool_hook(self) -> str:
        """Launch lifecycle hook: a warm-pool instance waits until its agent has pulled the image."""
        return f"{self.stack}-prepare"

    @property
    def termination_hook(self) -> str:
        """Termination lifecycle hook: an instance the group terminates waits until its agent finds its
        workers quiet."""
        return f"{self.stack}-drain-workers"

    @property
    def submit_marker(self) -> str:
        """SSM parameter where `submit` records when it last queued videos; agents hold scale-in after it."""
        return f"/ecs-autoscale/{self.stack}/last-submit"

    @property
    def asg(self) -> str:
        return f"{self.stack}-gpu-fleet"

    @property
    def launch_template(self) -> str:
        return f"{self.stack}-gpu"

    @property
    def security_group(self) -> str:
        return f"{self.stack}-gpu-instances"

    @property
    def task_role(self) -> str:
        return f"{self.stack}-task"

    @property
    def execution_role(self) -> str:
        return f"{self.stack}-execution"

    @property
    def instance_role(self) -> str:
        return f"{self.stack}-instance"

    @property
    def client_policy(self) -> str:
        """Managed policy for the users who run the client (synthesis/client_policy.py)."""
        return f"{self.stack}-client"

    @property
    def client_stop_policy(self) -> str:
        """Opt-in managed policy for `stop` and `resume` (synthesis/client_policy.py)."""
        return f"{self.stack}-client-stop"

    @property
    def client_stack_name_policy(self) -> str:
        """Opt-in managed policy for the client's `--stack-name` (reads task definitions)."""
        return f"{self.stack}-client-stack-name"

    @property
    def log_group(self) -> str:
        return f"/ecs/{self.stack}"

    @property
    def lookup_stack(self) -> str:
        """The CloudFormation stack deepsea-ai looks up (`ecsprocess --cluster StackName`)."""
        return self.stack

    @property
    def lookup_family(self) -> str:
        """Task definition family of the lookup stack's record (never run; not the worker's family)."""
        return f"{self.stack}-deepsea-ai-lookup"

    @property
    def queue_keepalive(self) -> str:
        """The schedule that keeps the video queue active, and the role it acts with."""
        return f"{self.stack}-queue-keepalive"

    def alarm(self, purpose: str) -> str:
        """`<StackName>-<purpose>`, purpose one of ALARM_PURPOSES."""
        return f"{self.stack}-{purpose}"

    def derived(self) -> dict[str, tuple[str, str]]:
        """(rule key, name) for every derived name, keyed by what it names."""
        return {
            "video queue": ("queue", self.video_queue),
            "track queue": ("queue", self.track_queue),
            "dead queue": ("queue", self.dead_queue),
            "video bucket prefix": ("bucket_prefix", self.video_bucket_prefix),
            "tracks bucket prefix": ("bucket_prefix", self.tracks_bucket_prefix),
            "cluster": ("cluster", self.cluster),
            "worker service": ("service", self.worker_service(16)),
            "alerts topic": ("topic", self.alerts_topic),
            "warm-pool lifecycle hook": ("lifecycle_hook", self.warm_pool_hook),
            "termination lifecycle hook": ("lifecycle_hook", self.termination_hook),
            "submit marker parameter": ("ssm_parameter", self.submit_marker),
            "autoscaling group": ("asg", self.asg),
            "launch template": ("launch_template", self.launch_template),
            "security group": ("security_group", self.security_group),
            "task role": ("role", self.task_role),
            "execution role": ("role", self.execution_role),
            "instance role": ("role", self.instance_role),
            "client policy": ("policy", self.client_policy),
            "client stop policy": ("policy", self.client_stop_policy),
            "client stack-name policy": ("policy", self.client_stack_name_policy),
            "log group": ("log_group", self.log_group),
            "lookup stack": ("cfn_stack", self.lookup_stack),
            "lookup task family": ("task_family", self.lookup_family),
            "queue keep-alive schedule": ("schedule", self.queue_keepalive),
            "queue keep-alive role": ("role", self.queue_keepalive),
            **{f"{purpose} alarm": ("alarm", self.alarm(purpose)) for purpose in ALARM_PURPOSES},
        }

    def problems(self) -> list[str]:
        """Human-readable violations of AWS naming rules, empty when every name is legal."""
        found = []
        for what, (rule_key, name) in self.derived().items():
            rule = RULES[rule_key]
            if len(name) > rule.max_len:
                found.append(f"derived {what} {name!r} is {len(name)} characters, {rule.what} allows {rule.max_len}")
            elif not re.match(rule.pattern, name):
                found.append(
                    f"derived {what} {name!r} breaks the {rule.what} rule" + (f": {rule.detail}" if rule.detail else "")
                )
        return found


def max_stack_name_length() -> int:
    """Longest StackName whose derived names all fit (the bucket prefix is the binding limit)."""
    return BUCKET_PREFIX_MAX - len("-tracks-")
