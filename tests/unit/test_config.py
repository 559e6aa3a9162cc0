"""The config API (`load_config`): the seed as users write it, defaults, typo and stale-key help,
StackName length limits, and the values derived for the constructs.

The malformed-file corpus (one error line per broken file, through the CLI) lives elsewhere; these
tests pin the behaviour of the API itself.
"""

from __future__ import annotations

import pytest
import yaml
from helpers import SEED, load_text, seed_text

from ecs_autoscale.model.config import KNOWN_KEYS, REQUIRED_KEYS, ConfigError, load_config
from ecs_autoscale.model.naming import BUCKET_PREFIX_MAX, RULES, StackNames, max_stack_name_length

ORIGINAL_KEYS = (
    "StackName",
    "TaskDefinition",
    "ContainerImage",
    "FleetSize",
    "BlockDeviceVolumeGBRoot",
    "TimeoutHours",
    "model_location",
    "track_config",
)
# Terraform's bucket_prefix appends a 26-character unique suffix; a bucket name holds at most 63.
TERRAFORM_BUCKET_SUFFIX = 26


def config_error(tmp_path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_text(tmp_path, text)
    return caught.value


# --- the seed, exactly as users write it --------------------------------------------------------------
def test_seed_file_is_the_original_eight_keys_plus_comment():
    written = yaml.safe_load(SEED.read_text())
    assert set(written) == {*ORIGINAL_KEYS, "Comment"}


def test_seed_loads_with_every_value_as_written():
    config = load_config(SEED)
    assert config.stack_name == "Megadetector"
    assert config.task_definition == "strongsort-yolov5"
    assert config.container_image == "168552337187.dkr.ecr.us-west-2.amazonaws.com/mbari/strongsort-yolov5:1.10.0"
    assert config.fleet_size == 1
    assert config.volume_gb == 10
    assert config.timeout_hours == 2
    assert config.model_location.bucket == "deepsea-ai-168552337187-models"
    assert config.model_location.key == "Megadetector.pt"
    assert config.model_location.uri == "s3://deepsea-ai-168552337187-models/Megadetector.pt"
    assert config.track_config.uri == "s3://deepsea-ai-168552337187-track-conf/strong_sort_benthic.yaml"
    assert config.comment == "This stack deploys the Megadetector YOLOv5 model"


def test_required_keys_are_exactly_the_original_eight():
    assert set(REQUIRED_KEYS) == set(ORIGINAL_KEYS)


def test_comment_may_hold_anything_and_is_optional(tmp_path):
    assert load_text(tmp_path, seed_text(Comment="[a, list, {of: things}]")).comment == ["a", "list", {"of": "things"}]
    assert load_text(tmp_path, seed_text(Comment=None)).comment is None


# --- defaults of the optional keys --------------------------------------------------------------------
OPTIONAL_DEFAULTS = {
    "Region": ("region", "us-west-2"),
    "InstanceTypes": ("instance_types", ("g4dn.xlarge",)),
    "Spot": ("spot", False),
    "MaxReceiveCount": ("max_receive_count", 3),
    "LogRetentionDays": ("log_retention_days", 30),
    "Tags": ("tags", {}),
    "Environment": ("environment", {}),
    "Secrets": ("secrets", {}),
    "SecretsKmsKey": ("secrets_kms_key", None),
    "ContainerArgs": ("container_args", ()),
    "MemoryReservationMiB": ("memory_reservation_mib", 3072),
    "GpusPerTask": ("gpus_per_task", 1),
    "ScaleInIdleMinutes": ("scale_in_idle_minutes", 5),
    "WarmPool": ("warm_pool", 0),
    "Backend": ("backend", None),
    "CloudFormationLookup": ("cloudformation_lookup", True),
    "Vpc": ("vpc", None),
    "Subnets": ("subnets", ()),
}


def test_every_optional_key_has_a_tested_default():
    # A new optional key must get its default pinned here (and documented in README.md).
    assert set(KNOWN_KEYS) - set(ORIGINAL_KEYS) - {"Comment"} == set(OPTIONAL_DEFAULTS)


@pytest.mark.parametrize("key", sorted(OPTIONAL_DEFAULTS))
def test_default_of_optional_key(key):
    attribute, default = OPTIONAL_DEFAULTS[key]
    assert getattr(load_config(SEED), attribute) == default


def test_optional_keys_as_written_in_the_spot_example():
    config = load_config(SEED.parent / "fathomnet-spot.yaml")
    assert config.instance_types == ("g4dn.xlarge", "g5.xlarge")
    assert config.spot is True
    assert config.max_receive_count == 2
    assert config.log_retention_days == 90
    assert config.scale_in_idle_minutes == 10
    assert config.container_args == ("--conf-thres", "0.2")
    assert config.environment == {"LOG_LEVEL": "INFO"}
    assert config.tags == {"project": "fathomnet", "owner": "video-lab"}


def test_a_single_instance_type_may_be_written_as_a_string(tmp_path):
    assert load_text(tmp_path, seed_text(InstanceTypes="g5.xlarge")).instance_types == ("g5.xlarge",)


# --- unknown and stale keys ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("FleetSzie", "FleetSize"),
        ("Stackname", "StackName"),
        ("TimeoutHour", "TimeoutHours"),
        ("model-location", "model_location"),
        ("instancetypes", "InstanceTypes"),
        ("MaxRecieveCount", "MaxReceiveCount"),
    ],
)
def test_unknown_key_is_an_error_suggesting_the_nearest_known_key(tmp_path, typo, meant):
    error = config_error(tmp_path, seed_text(**{typo: "3"}))
    assert error.field == typo
    assert error.problem == "unknown key"
    assert f"did you mean {meant}?" in error.fix
    lines = (tmp_path / "model.yaml").read_text().splitlines()
    assert lines[error.line - 1].startswith(f"{typo}:")


def test_unknown_key_far_from_any_known_key_lists_the_known_keys(tmp_path):
    error = config_error(tmp_path, seed_text(Zebra="1"))
    assert error.problem == "unknown key"
    assert "known keys:" in error.fix and "StackName" in error.fix


def test_unknown_key_wins_over_a_missing_required_key(tmp_path):
    # A typo of a required key must name the typo, not just "FleetSize is missing".
    text = seed_text(FleetSize=None, FleetSzie="4")
    error = config_error(tmp_path, text)
    assert error.field == "FleetSzie"
    assert "did you mean FleetSize?" in error.fix


def test_stale_block_device_key_says_what_to_rename(tmp_path):
    text = seed_text(BlockDeviceVolumeGBRoot=None, BlockDeviceVolumeGB="100")
    error = config_error(tmp_path, text)
    assert error.field == "BlockDeviceVolumeGB"
    assert "rename it to BlockDeviceVolumeGBRoot" in error.fix
    assert text.splitlines()[error.line - 1].startswith("BlockDeviceVolumeGB:")


def test_error_renders_as_one_line_file_line_field_problem_fix(tmp_path):
    error = config_error(tmp_path, seed_text(FleetSzie="3"))
    rendered = str(error)
    assert "\n" not in rendered
    assert rendered == f"{tmp_path / 'model.yaml'}:{error.line}: FleetSzie: unknown key (did you mean FleetSize?)"


# --- StackName and every derived AWS name --------------------------------------------------------------
def test_longest_stack_name_is_set_by_the_tracks_bucket_prefix():
    assert max_stack_name_length() == 29
    assert 29 + len("-tracks-") == BUCKET_PREFIX_MAX
    assert BUCKET_PREFIX_MAX + TERRAFORM_BUCKET_SUFFIX == 63


def test_29_character_stack_name_gives_legal_names_everywhere(tmp_path):
    name = "A" + "b1-" * 9 + "Z"
    assert len(name) == 29
    config = load_text(tmp_path, seed_text(StackName=name))
    names = config.names
    assert names.problems() == []
    for what, (rule_key, derived) in names.derived().items():
        assert len(derived) <= RULES[rule_key].max_len, what
    # S3 wants lowercase; the full bucket name (prefix + Terraform's suffix) stays within 63.
    for prefix in (names.video_bucket_prefix, names.tracks_bucket_prefix):
        assert prefix == prefix.lower()
        assert len(prefix) + TERRAFORM_BUCKET_SUFFIX <= 63


def test_30_character_stack_name_is_rejected_with_the_limit(tmp_path):
    name = "A" * 30
    error = config_error(tmp_path, seed_text(StackName=name))
    assert error.field == "StackName"
    assert "29" in error.problem
    assert StackNames(name).problems(), "the naming rules themselves must flag the too-long bucket prefix"


@pytest.mark.parametrize("bad", ["1model", "my_model", "my model", "'-lead'", "Mega.detector"])
def test_stack_name_must_start_with_a_letter_and_hold_letters_digits_hyphens(tmp_path, bad):
    error = config_error(tmp_path, seed_text(StackName=bad))
    assert error.field == "StackName"
    assert "letter" in error.problem


@pytest.mark.parametrize(
    "text, field, words",
    [
        ("WarmPool: 5", "WarmPool", "FleetSize of 1"),
        ("WarmPool: 1\nSpot: true", "WarmPool", "one on-demand instance type"),
        ("WarmPool: 1\nInstanceTypes: [g4dn.xlarge, g5.xlarge]", "WarmPool", "one on-demand instance type"),
        ("WarmPool: -1", "WarmPool", "greater than or equal to 0"),
    ],
)
def test_warm_pool_needs_room_in_the_fleet_and_a_plain_on_demand_group(tmp_path, text, field, words):
    error = config_error(tmp_path, seed_text() + text + "\n")
    assert error.field == field
    assert words in error.problem


def test_warm_pool_within_the_fleet_is_accepted(tmp_path):
    assert load_text(tmp_path, seed_text(FleetSize="3") + "WarmPool: 3\n").warm_pool == 3


def test_derived_names_follow_stack_name():
    names = load_config(SEED).names
    assert (names.video_queue, names.track_queue, names.dead_queue) == (
        "Megadetector-video.fifo",
        "Megadetector-track.fifo",
        "Megadetector-dead.fifo",
    )
    assert (names.video_bucket_prefix, names.tracks_bucket_prefix) == ("megadetector-video-", "megadetector-tracks-")
    assert names.cluster == names.service == "Megadetector"
    assert names.log_group == "/ecs/Megadetector"


# --- TimeoutHours -> SQS visibility --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("hours", "seconds"), [("2", 7200), ("0.5", 1800), ("12", 43200), ("1.25", 4500), ("0.02", 72)]
)
def test_timeout_hours_becomes_visibility_seconds(tmp_path, hours, seconds):
    assert load_text(tmp_path, seed_text(TimeoutHours=hours)).visibility_timeout_seconds == seconds


@pytest.mark.parametrize("hours", ["12.5", "13", "0", "-1", "0.01", "true", "two"])
def test_timeout_hours_outside_sqs_limits_is_rejected(tmp_path, hours):
    error = config_error(tmp_path, seed_text(TimeoutHours=hours))
    assert error.field == "TimeoutHours"
    assert error.fix


# --- ECR repository (scoped image pull permission) ----------------------------------------------------
@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (
            "168552337187.dkr.ecr.us-west-2.amazonaws.com/mbari/strongsort-yolov5:1.10.0",
            ("168552337187", "us-west-2", "mbari/strongsort-yolov5"),
        ),
        (
            "123456789012.dkr.ecr.eu-central-1.amazonaws.com/detector@sha256:" + "a" * 64,
            ("123456789012", "eu-central-1", "detector"),
        ),
        (
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/models/yolo",
            ("123456789012", "us-east-1", "team/models/yolo"),
        ),
        ("mbari/strongsort-yolov5:1.10.0", None),
        ("ghcr.io/mbari-org/strongsort:latest", None),
    ],
)
def test_ecr_repository_is_parsed_from_container_image(tmp_path, image, expected):
    assert load_text(tmp_path, seed_text(ContainerImage=image)).ecr_repository == expected


# --- Vpc and Subnets ------------------------------------------------------------------------------------
def test_vpc_and_subnets_as_written(tmp_path):
    config = load_text(
        tmp_path, seed_text(Vpc="vpc-0abc1234def567890", Subnets="[subnet-0abc1234def567890, subnet-1234abcd]")
    )
    assert config.vpc == "vpc-0abc1234def567890"
    assert config.subnets == ("subnet-0abc1234def567890", "subnet-1234abcd")


def test_a_single_subnet_may_be_written_as_a_string(tmp_path):
    assert load_text(tmp_path, seed_text(Subnets="subnet-1234abcd")).subnets == ("subnet-1234abcd",)


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("Vpc", "vpc-12345", "'vpc-12345' is not a VPC id like vpc-0abc1234def567890"),
        ("Vpc", "default", "'default' is not a VPC id"),
        ("Subnets", "[subnet-1234abcd, sg-1234abcd]", "'sg-1234abcd' is not a subnet id like subnet-0abc1234def567890"),
        ("Subnets", "[subnet-1234abcd, subnet-1234abcd]", "lists a subnet twice"),
        ("Subnets", "[]", "is empty; leave it out to use the default VPC's default subnets"),
        ("Subnets", "{a: subnet-1234abcd}", "valid tuple"),
    ],
)
def test_a_malformed_vpc_or_subnet_id_is_one_line_naming_the_key(tmp_path, key, value, problem):
    error = config_error(tmp_path, seed_text(**{key: value}))
    line = str(error)
    assert f"model.yaml:10: {key}: " in line and "\n" not in line
    assert problem in line or (problem == "valid tuple" and "should be a list" in line), line
