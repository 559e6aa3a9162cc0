"""The model file: the original eight keys exactly as users write them, plus optional keys with defaults.

`load_config(path)` is the only entry point; every problem becomes one `ConfigError` line
`FILE:LINE: Field: problem (fix)`. This module must stay free of cdktf/jsii so `validate` is instant.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo

from .instance_types import InstanceTypeError, check_instance_types
from .naming import STACK_NAME_RE, StackNames, max_stack_name_length
from .yaml_source import ConfigError, YamlDocument, load_yaml

S3_URI_RE = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<key>\S+)$")
ECR_IMAGE_RE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/(?P<repo>[a-z0-9._/-]+)"
)
REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
INSTANCE_TYPE_RE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
VPC_ID_RE = re.compile(r"^vpc-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
SUBNET_ID_RE = re.compile(r"^subnet-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
TAG_KEY_RE = re.compile(r"^[\w .:/=+\-@]{1,128}$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# ECS `secrets` valueFrom (ECS Developer Guide, "Pass sensitive data to an Amazon ECS container"): the full
# ARN of an SSM parameter, or of a Secrets Manager secret (name, `-` and the 6 characters Secrets Manager
# appends), optionally followed by `:json-key:version-stage:version-id` to pick one key or version.
ARN_HEAD = r"^arn:(?P<partition>aws[a-z-]*):{service}:(?P<region>[a-z0-9-]+):(?P<account>\d{{12}}):"
SSM_PARAMETER_ARN_RE = re.compile(ARN_HEAD.format(service="ssm") + r"parameter/(?P<name>[A-Za-z0-9_.\-/]{1,2048})$")
SECRET_ARN_RE = re.compile(
    ARN_HEAD.format(service="secretsmanager")
    + r"secret:(?P<name>[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6})(?P<pick>:[^:]*:[^:]*:[^:]*)?$"
)
KMS_KEY_ARN_RE = re.compile(
    ARN_HEAD.format(service="kms")
    + r"key/(?P<key>(?:mrk-)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$"
)
KEY_ID = r"(?:mrk-)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32}"
KMS_STATE_KEY_RE = re.compile(ARN_HEAD.format(service="kms") + rf"(?:key/(?:{KEY_ID})|alias/[A-Za-z0-9/_-]{{1,250}})$")
# Environment names that look like they hold a secret (`validate` warns), matched in the upper-cased name:
# PASSWORD, PASSWD, SECRET, CREDENTIAL anywhere (DBPASSWORD); TOKEN anywhere (APITOKEN) but not TOKENS or
# TOKENIZ... (MAX_NEW_TOKENS, TOKENIZERS_PARALLELISM: counts and tokenizer settings of ML containers); KEY
# ending a `_`-separated part (API_KEY, APIKEY, SSHKEY; not KEYWORDS or KEYFRAME_INTERVAL), unless that part
# is an English word ending in KEY (MONKEY).
SECRET_NAME_RE = re.compile(r"PASSWORD|PASSWD|SECRET|CREDENTIAL|TOKEN(?!S|IZ)|KEY(?=_|$)")
NOT_SECRET_WORDS = frozenset({"MONKEY", "DONKEY", "TURKEY", "HOCKEY", "JOCKEY", "WHISKEY", "LACKEY"})
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
SQS_MAX_VISIBILITY_HOURS = 12
# Environment names the worker contract owns; users may not override them through Environment.
CONTRACT_ENV = (
    "PROCESSOR",
    "VIDEO_QUEUE",
    "TRACK_QUEUE",
    "DEAD_QUEUE",
    "VIDEO_BUCKET",
    "TRACK_BUCKET",
    "AWS_REGION",
    "DEFAULT_MAX_CALL_ATTEMPTS",
)
# Keys of old sample files that mean something else today.
STALE_KEYS = {"BlockDeviceVolumeGB": "BlockDeviceVolumeGBRoot"}


class MappingKeyError(ValueError):
    """A problem with one key of a mapping value (Tags, Environment), so the error names that key's
    line (`Tags.aws:owner`), not the line of the whole mapping."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


class S3Object(BaseModel):
    """An `s3://bucket/key` location named in the model file."""

    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def _s3_uri(value: Any) -> S3Object:
    if not isinstance(value, str):
        raise ValueError("must be a string like s3://bucket/key")
    match = S3_URI_RE.match(value)
    if not match:
        raise ValueError(f"{value!r} is not an s3://bucket/key URI")
    return S3Object(bucket=match["bucket"], key=match["key"])


class StateBackend(BaseModel):
    """Optional team state on S3 (one state object per workspace, S3-native lock file)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    bucket: str = Field(alias="Bucket", min_length=3, max_length=63, pattern=r"^[a-z0-9][a-z0-9.-]+[a-z0-9]$")
    key: str = Field("ecs-autoscale/terraform.tfstate", alias="Key", min_length=1)
    region: str | None = Field(None, alias="Region", pattern=REGION_RE.pattern)
    dynamodb_table: str | None = Field(None, alias="DynamoDBTable", min_length=3)
    kms_key_id: str | None = Field(None, alias="KmsKeyId", pattern=KMS_STATE_KEY_RE.pattern)
    """Customer-managed KMS key (key or alias ARN) the state objects are encrypted with (Terraform S3
    backend `kms_key_id`; whoever deploys needs kms:Encrypt, kms:Decrypt and kms:GenerateDataKey on it).
    Without it: the bucket's default encryption, SSE-S3 at least (encrypt = true)."""


def _doc(yaml_type: str, hint: str, shown: str | None = None) -> dict[str, JsonValue]:
    """A key's documentation beside its Field: its type as README's table shows it, and the hint its problems
    end with (FIX_HINTS). The Field's `description` is the README row's meaning. The default column comes
    from the Field's default (`shown_default`); `shown` words a default that is not a plain value."""
    doc: dict[str, JsonValue] = {"yaml_type": yaml_type, "hint": hint}
    if shown is not None:
        doc["shown"] = shown
    return doc


def shown_default(field: FieldInfo) -> str:
    """README's default column: `required`, a plain default as YAML writes it, or the Field's own words."""
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    if "shown" in extra:
        return str(extra["shown"])
    if field.is_required():
        return "required"
    default = field.default
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, (int, str)):
        return f"`{default}`"
    raise TypeError(f"{field.alias}: say how README shows its default {default!r} (_doc's shown=)")


class ModelConfig(BaseModel):
    """One model's stack. Aliases are the YAML keys; attribute names are for code."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)

    # --- the original keys (required, as users write them today) ---
    stack_name: str = Field(
        alias="StackName",
        description=(
            "Letter first, then letters, digits, `-`; at most 29 characters so that every derived AWS"
            " name (queues `<StackName>-video.fifo`, buckets `<stackname>-video-…`, roles, alarms) is"
            " legal. Also the container name, `PROCESSOR`, the log group `/ecs/<StackName>` and the "
            "Terraform workspace."
        ),
        json_schema_extra=_doc("string", "e.g. StackName: Megadetector"),
    )
    task_definition: str = Field(
        alias="TaskDefinition",
        pattern=r"^[A-Za-z0-9_-]{1,255}$",
        description="ECS task definition family.",
        json_schema_extra=_doc("string", "letters, digits, '-' and '_', e.g. strongsort-yolov5"),
    )
    container_image: str = Field(
        alias="ContainerImage",
        pattern=r"^\S{1,1024}$",
        description=("Image of the worker (`dettrack`). An ECR image gets a pull permission scoped to its repository."),
        json_schema_extra=_doc(
            "string", "an image reference such as 123456789012.dkr.ecr.us-west-2.amazonaws.com/repo:tag"
        ),
    )
    fleet_size: int = Field(
        alias="FleetSize",
        ge=1,
        le=1000,
        description=(
            "Maximum GPU instances (each runs its GPUs ÷ `GpusPerTask` tasks). `ecs-autoscale doctor`"
            " checks it against your vCPU quota."
        ),
        json_schema_extra=_doc("int ≥ 1", "the maximum number of GPU instances, an integer of 1 or more"),
    )
    volume_gb: int = Field(
        alias="BlockDeviceVolumeGBRoot",
        ge=8,
        le=16384,
        description=(
            "Root EBS volume (GB, gp3, encrypted) on the AMI's root device. Raised at plan time to "
            "the AMI's root snapshot size when smaller (EC2 cannot launch a volume smaller than its "
            "snapshot; old files ask for 10 GB); the plan shows the effective size."
        ),
        json_schema_extra=_doc(
            "int 8–16384", "root volume size in GB, an integer from 8 to 16384; the ECS GPU AMI needs 30+"
        ),
    )
    timeout_hours: float = Field(
        alias="TimeoutHours",
        gt=0,
        le=SQS_MAX_VISIBILITY_HOURS,
        allow_inf_nan=False,
        description=("Visibility timeout of the video and track queues (SQS caps it at 12 h)."),
        json_schema_extra=_doc(
            "number, 0 < h ≤ 12",
            f"hours per video, above 0 and at most {SQS_MAX_VISIBILITY_HOURS}, the SQS visibility limit",
        ),
    )
    model_location: S3Object = Field(
        alias="model_location",
        description="Passed as `--model-s3`; the task may read this object only.",
        json_schema_extra=_doc("`s3://bucket/key`", "e.g. s3://my-models/Megadetector.pt"),
    )
    track_config: S3Object = Field(
        alias="track_config",
        description="Passed as `-c`; the task may read this object only.",
        json_schema_extra=_doc("`s3://bucket/key`", "e.g. s3://my-configs/strong_sort_benthic.yaml"),
    )
    comment: Any = Field(None, alias="Comment", description="Ignored.", json_schema_extra=_doc("any", "", shown="—"))

    # --- new optional keys (defaults documented in README.md) ---
    region: str = Field(
        "us-west-2",
        alias="Region",
        pattern=REGION_RE.pattern,
        description="AWS region of the stack (written into the Terraform JSON).",
        json_schema_extra=_doc("string", "an AWS region such as us-west-2"),
    )
    instance_types: tuple[str, ...] = Field(
        ("g4dn.xlarge",),
        alias="InstanceTypes",
        min_length=1,
        max_length=20,
        description=(
            "NVIDIA GPU instance types, in order of preference: types of the dated table shipped in "
            "`ecs_autoscale/data/instance_types.json` (`ecs-autoscale validate "
            "--list-instance-types`), all of one architecture and one GPU count. CPU-only, AMD, "
            "Inferentia/Trainium and Graviton (g5g: AWS publishes no arm64 ECS GPU AMI) types are "
            "refused by `validate`."
        ),
        json_schema_extra=_doc(
            "list",
            "a list of NVIDIA GPU types such as [g4dn.xlarge, g5.xlarge]; `ecs-autoscale validate "
            "--list-instance-types` lists them",
            shown="`[g4dn.xlarge]`",
        ),
    )
    spot: bool = Field(
        False,
        alias="Spot",
        description=(
            "Spot instances (capacity-optimized-prioritized, so `InstanceTypes`' order is honoured as"
            " far as Spot capacity allows; ECS Spot draining; Capacity Rebalancing off, so the group never"
            " replaces a busy instance early). A Spot interruption (two minutes' notice) ends the running"
            " video, which runs again after `TimeoutHours`."
        ),
        json_schema_extra=_doc("bool", "true or false"),
    )
    max_receive_count: int = Field(
        3,
        alias="MaxReceiveCount",
        ge=1,
        le=1000,
        description=(
            "Receives of one video before it moves to the dead queue (the original used 600). The "
            "track queue has no redrive: reading results never turns a SUCCESS into a dead message."
        ),
        json_schema_extra=_doc("int 1–1000", "receives before a video message moves to the dead queue, 1 to 1000"),
    )
    log_retention_days: int = Field(
        30,
        alias="LogRetentionDays",
        description="Retention of `/ecs/<StackName>`.",
        json_schema_extra=_doc("CloudWatch period", "one of the CloudWatch retention periods, e.g. 30"),
    )
    tags: dict[str, str] = Field(
        default_factory=dict,
        alias="Tags",
        max_length=40,
        description=("Tags on every resource (plus `ManagedBy=ecs-autoscale`, `ecs-autoscale:stack`)."),
        json_schema_extra=_doc("mapping", "a mapping of tag names to string values", shown="`{}`"),
    )
    environment: dict[str, str] = Field(
        default_factory=dict,
        alias="Environment",
        description="Extra container environment; cannot override the contract variables.",
        json_schema_extra=_doc("mapping", "a mapping of NAME: value strings", shown="`{}`"),
    )
    secrets: dict[str, str] = Field(
        default_factory=dict,
        alias="Secrets",
        max_length=100,
        description=(
            "Container environment variables read at task start from an SSM parameter or a Secrets "
            "Manager secret, by full ARN (`NAME: arn:aws:ssm:…:parameter/…` or "
            "`arn:aws:secretsmanager:…:secret:name-AbCdEf`): the value is never in the task definition, "
            "the state or a plan. The task's execution role may read exactly these ARNs."
        ),
        json_schema_extra=_doc(
            "mapping",
            "a mapping of NAME: full ARN of an SSM parameter (arn:aws:ssm:REGION:ACCOUNT:parameter/NAME) "
            "or a Secrets Manager secret (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-AbCdEf)",
            shown="`{}`",
        ),
    )
    secrets_kms_key: str | None = Field(
        None,
        alias="SecretsKmsKey",
        pattern=KMS_KEY_ARN_RE.pattern,
        description=(
            "ARN of the customer-managed KMS key that encrypts the `Secrets` (SecureString parameters, "
            "secrets); the execution role may decrypt with it only through SSM and Secrets Manager. Not "
            "needed with the AWS-managed keys."
        ),
        json_schema_extra=_doc(
            "KMS key ARN",
            "a key ARN such as arn:aws:kms:us-west-2:123456789012:key/<key id> (not an alias)",
            shown="none",
        ),
    )
    container_args: tuple[str, ...] = Field(
        (),
        alias="ContainerArgs",
        description="Extra arguments appended to `dettrack -c … --model-s3 …`.",
        json_schema_extra=_doc("list", "a list of extra strings appended to the dettrack command", shown="`[]`"),
    )
    memory_reservation_mib: int = Field(
        3072,
        alias="MemoryReservationMiB",
        ge=128,
        le=1_000_000,
        description="Soft memory limit of the container.",
        json_schema_extra=_doc("int", "soft memory limit of the container in MiB, e.g. 3072"),
    )
    gpus_per_task: int = Field(
        1,
        alias="GpusPerTask",
        ge=1,
        le=16,
        description=("GPUs reserved per task; must divide the GPUs of the instance types (no idle, billed GPU)."),
        json_schema_extra=_doc("int", "GPUs reserved per task, e.g. 1"),
    )
    scale_in_idle_minutes: int = Field(
        5,
        alias="ScaleInIdleMinutes",
        ge=1,
        le=1440,
        description=(
            "Minutes an instance's workers stay idle, with no video waiting or delayed, before it leaves "
            "(its agent stops its workers and terminates it; videos on other instances do not keep it). "
            "Raise it when uploads between videos take longer, to keep a warm fleet."
        ),
        json_schema_extra=_doc(
            "int 1–1440", "minutes an instance's workers stay idle, with no video waiting, before it leaves, 1 to 1440"
        ),
    )
    warm_pool: int = Field(
        0,
        alias="WarmPool",
        ge=0,
        le=1000,
        description=(
            "Stopped instances kept prepared (image pulled) in the group's warm pool while it is idle: the"
            " first video runs in about 2 minutes instead of 4½, for the root volumes' cost while stopped "
            "(`estimate` shows it). The pool refills only while the group runs fewer, so at most FleetSize "
            "instances run, plus one being prepared while another shuts down (`doctor` checks that peak "
            "against your vCPU quota). Needs one on-demand instance type."
        ),
        json_schema_extra=_doc(
            "int 0–FleetSize",
            "stopped, prepared instances kept for a ~2-minute start (0 to FleetSize; one on-demand type)",
        ),
    )
    backend: StateBackend | None = Field(
        None,
        alias="Backend",
        description=(
            "Team state on S3: `Bucket` (required), `Key`, `Region`, `DynamoDBTable` (else S3-native locking), "
            "`KmsKeyId` (a KMS key or alias ARN for the state objects; else the bucket's default encryption). "
            "`doctor` checks that the bucket is versioned, blocks public access and is encrypted."
        ),
        json_schema_extra=_doc(
            "mapping",
            "a mapping with Bucket and optional Key, Region, DynamoDBTable, KmsKeyId",
            shown="local state in `STACK_DIR/state`",
        ),
    )
    cloudformation_lookup: bool = Field(
        True,
        alias="CloudFormationLookup",
        description=(
            "A CloudFormation stack named `StackName` holding only a copy of the worker contract's "
            "environment (one task definition, never run, free), so `deepsea-ai ecsprocess --cluster "
            "StackName` finds the stack. `false` where CloudFormation may not be used (deepsea-ai "
            "then cannot find the stack; `ecs-autoscale` clients are unaffected)."
        ),
        json_schema_extra=_doc(
            "bool",
            "true (default): a CloudFormation stack named StackName lets `deepsea-ai ecsprocess "
            "--cluster StackName` find this stack; false where CloudFormation may not be used",
        ),
    )
    vpc: str | None = Field(
        None,
        alias="Vpc",
        pattern=VPC_ID_RE.pattern,
        description="VPC of the GPU instances. Alone: all its subnets.",
        json_schema_extra=_doc(
            "`vpc-…` id",
            "the id of a VPC of the stack's Region, e.g. vpc-0abc1234def567890; leave it out for the default VPC",
            shown="the default VPC",
        ),
    )
    subnets: tuple[str, ...] = Field(
        (),
        alias="Subnets",
        max_length=64,
        description=(
            "Subnets of the GPU instances, all in one VPC (`Vpc`, if given). Each needs a way out to "
            "ECS, ECR and S3: a `0.0.0.0/0` route to a NAT gateway, or to an internet gateway with "
            "auto-assigned public IPv4. `plan` fails with one line naming any subnet without it, and "
            "when there is no default VPC and no `Vpc`/`Subnets`."
        ),
        json_schema_extra=_doc(
            "list of `subnet-…` ids",
            "a list of subnet ids, e.g. [subnet-0abc1234def567890, subnet-0def5678abc123456], each "
            "with a route out through a NAT gateway, or an internet gateway and public IPs",
            shown="the default VPC's default-for-AZ subnets",
        ),
    )

    @field_validator("model_location", "track_config", mode="before")
    @classmethod
    def _parse_s3(cls, value: Any) -> S3Object:
        return value if isinstance(value, S3Object) else _s3_uri(value)

    @field_validator("timeout_hours", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("must be a number of hours")
        return value

    @field_validator("stack_name")
    @classmethod
    def _stack_name(cls, value: str) -> str:
        if not STACK_NAME_RE.match(value):
            raise ValueError(f"{value!r} must start with a letter and hold only letters, digits and hyphens")
        limit = max_stack_name_length()
        if len(value) > limit:
            raise ValueError(f"{value!r} is {len(value)} characters; at most {limit} keep every AWS name legal")
        problems = StackNames(value).problems()
        if problems:
            raise ValueError(problems[0])
        return value

    @field_validator("instance_types", mode="before")
    @classmethod
    def _instance_types(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            for item in value:
                if not isinstance(item, str) or not INSTANCE_TYPE_RE.match(item):
                    raise ValueError(f"{item!r} is not an EC2 instance type like g4dn.xlarge")
            if len(set(value)) != len(value):
                raise ValueError("lists an instance type twice")
            return tuple(value)
        return value

    @field_validator("subnets", mode="before")
    @classmethod
    def _subnets(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            if not value:
                raise ValueError("is empty; leave it out to use the default VPC's default subnets")
            for item in value:
                if not isinstance(item, str) or not SUBNET_ID_RE.match(item):
                    raise ValueError(f"{_show(item)} is not a subnet id like subnet-0abc1234def567890")
            if len(set(value)) != len(value):
                raise ValueError("lists a subnet twice")
            return tuple(value)
        return value

    @field_validator("container_args", mode="before")
    @classmethod
    def _args(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(
                f"{value} is not a CloudWatch retention; use one of {', '.join(map(str, LOG_RETENTION_DAYS))}"
            )
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        for key, val in value.items():
            if not TAG_KEY_RE.match(key) or key.lower().startswith("aws:"):
                raise MappingKeyError(
                    key, "not a legal AWS tag key: 1 to 128 letters, digits, spaces or _.:/=+-@, not starting with aws:"
                )
            if len(val) > 256:
                raise MappingKeyError(key, f"tag value is {len(val)} characters, AWS allows 256")
        return value

    @field_validator("environment", "secrets")
    @classmethod
    def _environment(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            _check_env_name(key)
        return value

    @field_validator("secrets")
    @classmethod
    def _secrets(cls, value: dict[str, str]) -> dict[str, str]:
        for key, arn in value.items():
            match = SSM_PARAMETER_ARN_RE.match(arn) or SECRET_ARN_RE.match(arn)
            if not match:
                raise MappingKeyError(
                    key,
                    f"{_show(arn)} is not the full ARN of an SSM parameter (arn:aws:ssm:REGION:ACCOUNT:parameter/NAME) "
                    "or a Secrets Manager secret (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-AbCdEf)",
                )
            _check_arn_region(key, match)
        return value

    @model_validator(mode="after")
    def _consistency(self) -> ModelConfig:
        both = sorted(set(self.environment) & set(self.secrets))
        if both:
            raise ValueError(f"Secrets: {both[0]} is also in Environment; keep it in one of them")
        self._check_secret_partitions()
        if self.timeout_hours * 3600 < 60:
            raise ValueError("TimeoutHours: must be at least one minute (0.02 hours)")
        if self.warm_pool > self.fleet_size:
            raise ValueError(
                f"WarmPool: {self.warm_pool} prepared instances for a FleetSize of {self.fleet_size} "
                "would never all be used"
            )
        # A warm pool needs a plain launch template: EC2 Auto Scaling documented warm pools as unsupported
        # with a mixed instances policy or Spot (EC2 Auto Scaling User Guide, warm pools, limitations).
        if self.warm_pool and (self.spot or len(self.instance_types) > 1):
            raise ValueError(
                "WarmPool: needs one on-demand instance type (warm pools cannot launch Spot or mix instance types)"
            )
        return self

    def _check_secret_partitions(self) -> None:
        """The stack reads its secrets and key through its own partition (an ARN of aws-cn from an aws
        region cannot be granted); the KMS key must be where the secrets it decrypts are."""
        partition = region_partition(self.region)
        for name, arn in self.secrets.items():
            if arn.split(":")[1] != partition:
                raise ValueError(
                    f"Secrets: {name}: the ARN's partition is not {partition}, the partition of {self.region}"
                )
        if self.secrets_kms_key:
            key = KMS_KEY_ARN_RE.match(self.secrets_kms_key)
            assert key is not None  # the Field's pattern
            if not self.secrets:
                raise ValueError("SecretsKmsKey: no Secrets use it; remove it or add Secrets")
            if key["partition"] != partition:
                raise ValueError(
                    f"SecretsKmsKey: the ARN's partition is not {partition}, the partition of {self.region}"
                )
            regions = {arn.split(":")[3] for arn in self.secrets.values()}
            if key["region"] not in regions:
                raise ValueError(
                    f"SecretsKmsKey: key of {key['region']}, secrets of {', '.join(sorted(regions))}; a KMS key "
                    "decrypts only in its own region"
                )

    # --- derived values used by the constructs ---
    @property
    def names(self) -> StackNames:
        return StackNames(self.stack_name)

    @property
    def visibility_timeout_seconds(self) -> int:
        return int(round(self.timeout_hours * 3600))

    @property
    def ecr_repository(self) -> tuple[str, str, str] | None:
        """(account, region, repository) when ContainerImage is in ECR, for a scoped pull permission."""
        match = ECR_IMAGE_RE.match(self.container_image)
        return (match["account"], match["region"], match["repo"]) if match else None


def _check_env_name(key: str) -> None:
    if key in CONTRACT_ENV:
        raise MappingKeyError(key, "set by the stack (worker contract) and cannot be overridden")
    if not ENV_NAME_RE.match(key):
        raise MappingKeyError(
            key, "not a valid environment variable name: letters, digits and _, not starting with a digit"
        )


def region_partition(region: str) -> str:
    """The ARN partition of a region (AWS General Reference, "Amazon Resource Names")."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws-iso" if region.startswith("us-iso-") else ("aws-iso-b" if region.startswith("us-isob-") else "aws")


def _check_arn_region(key: str, match: re.Match[str]) -> None:
    region = match["region"]
    if not REGION_RE.match(region):
        raise MappingKeyError(key, f"{region!r} in the ARN is not an AWS region name")
    if match["partition"] != region_partition(region):
        raise MappingKeyError(
            key, f"partition {match['partition']!r} does not hold region {region} (use {region_partition(region)})"
        )


class KeyDoc(NamedTuple):
    key: str
    yaml_type: str
    default: str
    meaning: str
    hint: str


def key_docs() -> list[KeyDoc]:
    """Every model-file key's documentation, in the model's order (README's table, FIX_HINTS)."""
    docs = []
    for name, field in ModelConfig.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        docs.append(
            KeyDoc(
                key=field.alias or name,
                yaml_type=str(extra.get("yaml_type", "")),
                default=shown_default(field),
                meaning=field.description or "",
                hint=str(extra.get("hint", "")),
            )
        )
    return docs


def key_table() -> str:
    """README's table of the model-file keys (`scripts/docs` writes it there; `--check` in the tests)."""
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    rows += [f"| `{d.key}` | {d.yaml_type} | {d.default} | {d.meaning} |" for d in key_docs()]
    return "\n".join(rows) + "\n"


FIX_HINTS = {d.key: d.hint for d in key_docs() if d.hint}
"""The fix each key's problems suggest, from the fields' documentation."""
KNOWN_KEYS = tuple(f.alias or name for name, f in ModelConfig.model_fields.items())
NESTED_KEYS = {"Backend": tuple(f.alias or name for name, f in StateBackend.model_fields.items())}
REQUIRED_KEYS = tuple(f.alias or name for name, f in ModelConfig.model_fields.items() if f.is_required())


def _check_keys(doc: YamlDocument) -> None:
    for key in doc.data:
        key_str = str(key)
        if key_str in KNOWN_KEYS:
            continue
        line = doc.line_of(key_str)
        if key_str in STALE_KEYS:
            raise ConfigError(
                doc.path, line, key_str, "stale key from old sample files", f"rename it to {STALE_KEYS[key_str]}"
            )
        near = difflib.get_close_matches(key_str, KNOWN_KEYS, n=1, cutoff=0.6) or [
            k for k in KNOWN_KEYS if k.lower() == key_str.lower()
        ]
        fix = f"did you mean {near[0]}?" if near else f"known keys: {', '.join(KNOWN_KEYS)}"
        raise ConfigError(doc.path, line, key_str, "unknown key", fix)
    missing = [k for k in REQUIRED_KEYS if k not in doc.data]
    if missing:
        raise ConfigError(
            doc.path, None, missing[0], "required key is missing", f"add `{missing[0]}: ...`; {FIX_HINTS[missing[0]]}"
        )


# What a value that fails a `pattern` must look like, per field (pydantic would print the regex).
PATTERN_PROBLEMS = {
    "TaskDefinition": "is not a task definition family: 1 to 255 letters, digits, '-' and '_'",
    "ContainerImage": "is not an image reference: no spaces, at most 1024 characters",
    "Region": "is not an AWS region name",
    "Vpc": "is not a VPC id like vpc-0abc1234def567890",
    "SecretsKmsKey": "is not a KMS key ARN like arn:aws:kms:REGION:ACCOUNT:key/KEY-ID (aliases cannot be granted)",
    "Backend.Bucket": "is not an S3 bucket name",
    "Backend.Region": "is not an AWS region name",
    "Backend.KmsKeyId": "is not a KMS key or alias ARN like arn:aws:kms:REGION:ACCOUNT:key/KEY-ID",
}
# pydantic's words for Python types, in the words of the YAML the user wrote.
YAML_WORDS = (
    ("Tuple should", "List should"),
    ("a valid tuple", "a list"),
    (" after validation", ""),
    ("a valid dictionary or instance of StateBackend", "a mapping"),
    ("a valid dictionary", "a mapping"),
    ("Field required", "required key is missing"),
)


def _show(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _first_error(doc: YamlDocument, exc: ValidationError) -> ConfigError:
    err = exc.errors(include_url=False)[0]
    loc = [str(part) for part in err["loc"]]
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, MappingKeyError):
        loc.append(cause.key)
    field = ".".join(loc) if loc else None
    message = err["msg"].removeprefix("Value error, ")
    if not loc and ": " in message:  # model-level checks name their own field
        field, message = message.split(": ", 1)
    top = field.split(".")[0] if field else None
    value = err.get("input")
    if err["type"] == "extra_forbidden" and len(loc) > 1:
        message = "unknown key"
        known = NESTED_KEYS.get(top or "", ())
        near = difflib.get_close_matches(loc[-1], known, n=1, cutoff=0.6)
        if near:
            return ConfigError(doc.path, doc.line_of(field or ""), field, message, f"did you mean {near[0]}?")
    elif err["type"] == "string_pattern_mismatch":
        message = f"{_show(value)} {PATTERN_PROBLEMS.get(field or '', 'is not in the expected format')}"
    elif err["type"].endswith("_type") and not isinstance(value, (dict, list)):
        message = f"{message}, got {_show(value)}"
    for pydantic_words, yaml_words in YAML_WORDS:
        message = message.replace(pydantic_words, yaml_words)
    return ConfigError(doc.path, doc.line_of(field or ""), field, message, FIX_HINTS.get(top or "", ""))


def _check_instance_types(doc: YamlDocument, config: ModelConfig) -> None:
    """InstanceTypes against the shipped instance-type table (instance_types.py), with GpusPerTask."""
    try:
        check_instance_types(config.instance_types, config.gpus_per_task)
    except InstanceTypeError as exc:
        raise ConfigError(doc.path, doc.line_of(exc.field), exc.field, exc.problem, exc.fix) from None


def parse_config(doc: YamlDocument) -> ModelConfig:
    _check_keys(doc)
    try:
        config = ModelConfig.model_validate(doc.data)
    except ValidationError as exc:
        raise _first_error(doc, exc) from None
    _check_instance_types(doc, config)
    return config


def looks_secret(name: str) -> bool:
    """An environment variable name holding TOKEN, PASSWORD, SECRET or KEY as SECRET_NAME_RE says."""
    return any(SECRET_NAME_RE.search(part) for part in name.upper().split("_") if part not in NOT_SECRET_WORDS)


def environment_warnings(path: str | Path, config: ModelConfig) -> list[str]:
    """`validate`'s warnings (never errors): Environment names that look like secrets, one line each."""
    names = [name for name in config.environment if looks_secret(name)]
    if not names:
        return []
    doc = load_yaml(path)
    return [
        f"{path}:{doc.line_of(f'Environment.{name}')}: Environment.{name}: warning: looks like a secret; "
        "Environment values are plain text in the task definition, the Terraform state and saved plans "
        f"(move it to `Secrets: {{{name}: <ARN of an SSM parameter or Secrets Manager secret>}}`)"
        for name in names
    ]


def load_config(path: str | Path) -> ModelConfig:
    """Load and validate one model file; raises ConfigError (one line) on any problem."""
    return parse_config(load_yaml(path))
