"""Synthesized Terraform JSON, construct by construct, for every examples/*.yaml (cdktf `Testing`), plus the
properties of the files users get (`synthesize`): no machine paths, identical bytes every time.

Every expected value is derived from the model file or from the product's own tables (names,
ScalingDesign), so a drift in either side fails here.
"""

from __future__ import annotations

import functools
import json
import os
import re
import tempfile
from pathlib import Path

import pytest
from helpers import (
    EXAMPLES,
    REPO,
    SEED,
    example_files,
    load_text,
    only_resource,
    product_synth,
    resources,
    seed_text,
    synth_in_memory,
)

from ecs_autoscale.model.config import load_config
from ecs_autoscale.model.naming import QUEUE_KEEPALIVE_TAG
from ecs_autoscale.model.scaling_design import QUEUE_INACTIVE_AFTER_MINUTES, design_for

SPOT = EXAMPLES / "fathomnet-spot.yaml"
GPU_AMI_PARAMETER = "/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id"
FOURTEEN_DAYS = 14 * 24 * 3600


@functools.cache
def example(path: Path) -> tuple:
    """(config, synthesized stack) of one model file, synthesized once per test process (~0.3 s warm)."""
    config = load_config(path)
    return config, synth_in_memory(config)


# Every examples/*.yaml, so a new example gets every `case` assertion (AMI parameter, force_delete, cost
# tags, subnets, monitoring, ...) without editing this file.
@pytest.fixture(scope="module", params=example_files(), ids=lambda path: path.stem)
def case(request):
    return example(request.param)


@pytest.fixture(scope="module")
def seed_doc():
    return example(SEED)[1]


@pytest.fixture(scope="module")
def spot_doc():
    return example(SPOT)[1]


@pytest.fixture(scope="module")
def big_fleet(tmp_path_factory):
    """A variant the examples do not cover: 16 instances, another region, user tags."""
    folder = tmp_path_factory.mktemp("big")
    config = load_text(folder, seed_text(FleetSize="16", Region="eu-west-1", Tags="{team: vision, cost-center: '42'}"))
    return config, synth_in_memory(config)


def ref(type_: str, name: str, attribute: str) -> str:
    return "${" + f"{type_}.{name}.{attribute}" + "}"


def name_of(doc: dict, type_: str, body: dict) -> str:
    """Logical name of a resource body inside `doc`."""
    return next(n for n, b in resources(doc, type_).items() if b is body)


def policy(body: dict, key: str = "policy") -> dict:
    return json.loads(body[key])


def assert_denies_insecure_transport(document: dict, service: str, resource_arns: list[str]) -> None:
    [statement] = document["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Principal"] == "*"
    assert statement["Action"] in (f"{service}:*", [f"{service}:*"])
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert sorted(statement["Resource"]) == sorted(resource_arns)


# --- queues ----------------------------------------------------------------------------------------------
def queues_by_name(doc: dict) -> dict[str, tuple[str, dict]]:
    return {body["name"]: (logical, body) for logical, body in resources(doc, "aws_sqs_queue").items()}


def test_three_fifo_queues_with_content_dedup_encryption_and_max_retention(case):
    config, doc = case
    names = config.names
    queues = queues_by_name(doc)
    assert set(queues) == {names.video_queue, names.track_queue, names.dead_queue}
    for _, body in queues.values():
        assert body["fifo_queue"] is True
        assert body["content_based_deduplication"] is True
        assert body["sqs_managed_sse_enabled"] is True
        assert body["message_retention_seconds"] == FOURTEEN_DAYS


def test_work_queues_hide_a_video_for_timeout_hours(case):
    config, doc = case
    queues = queues_by_name(doc)
    expected = int(config.timeout_hours * 3600)
    for queue in (config.names.video_queue, config.names.track_queue):
        assert queues[queue][1]["visibility_timeout_seconds"] == expected


def test_video_queue_redrives_to_dead_after_max_receive_count(case):
    config, doc = case
    queues = queues_by_name(doc)
    dead_logical, dead = queues[config.names.dead_queue]
    redrive = json.loads(queues[config.names.video_queue][1]["redrive_policy"])
    assert redrive == {
        "deadLetterTargetArn": ref("aws_sqs_queue", dead_logical, "arn"),
        "maxReceiveCount": config.max_receive_count,
    }
    assert "redrive_policy" not in dead


def test_track_queue_never_redrives_results_to_dead(case):
    # Peeking at results (`status`) counts as receives; a SUCCESS must never become a FAILED.
    config, doc = case
    assert "redrive_policy" not in queues_by_name(doc)[config.names.track_queue][1]


def own_queue_arn(name: str) -> str:
    """ARN of a queue of this stack as the constructs build it (plan-time partition/region/account)."""
    return (
        "arn:${data.aws_partition.account_partition.partition}:sqs:${data.aws_region.account_region.name}:"
        "${data.aws_caller_identity.account_caller.account_id}:" + name
    )


def test_dead_queue_accepts_redrive_only_from_this_stacks_video_queue(case):
    config, doc = case
    dead = queues_by_name(doc)[config.names.dead_queue][1]
    document = json.loads(dead["redrive_allow_policy"])
    assert document == {"redrivePermission": "byQueue", "sourceQueueArns": [own_queue_arn(config.names.video_queue)]}


def test_queue_policies_are_inline_so_creation_is_not_a_longer_chain(case):
    # Each separate queue resource adds ~30 s of the provider's propagation wait, in sequence.
    _, doc = case
    assert not resources(doc, "aws_sqs_queue_policy") and not resources(doc, "aws_sqs_queue_redrive_allow_policy")


def test_every_queue_is_tls_only(case):
    _, doc = case
    for body in resources(doc, "aws_sqs_queue").values():
        assert_denies_insecure_transport(json.loads(body["policy"]), "sqs", [own_queue_arn(body["name"])])


# --- storage ----------------------------------------------------------------------------------------------
def buckets_by_prefix(doc: dict) -> dict[str, str]:
    return {body["bucket_prefix"]: logical for logical, body in resources(doc, "aws_s3_bucket").items()}


def attached(doc: dict, type_: str, bucket_logical: str) -> list[dict]:
    """Bodies of `type_` resources that configure the given bucket."""
    return [b for b in resources(doc, type_).values() if b["bucket"] == ref("aws_s3_bucket", bucket_logical, "id")]


def test_two_buckets_named_by_prefix_never_force_destroyed(case):
    config, doc = case
    by_prefix = buckets_by_prefix(doc)
    assert set(by_prefix) == {config.names.video_bucket_prefix, config.names.tracks_bucket_prefix}
    for body in resources(doc, "aws_s3_bucket").values():
        assert body.get("force_destroy", False) is False
        assert "bucket" not in body, "a fixed name would collide globally; use the prefix"


@pytest.mark.parametrize("which", ["video", "tracks"])
def test_bucket_is_private_encrypted_owner_enforced_and_tls_only(case, which):
    config, doc = case
    prefix = getattr(config.names, f"{which}_bucket_prefix")
    logical = buckets_by_prefix(doc)[prefix]
    [block] = attached(doc, "aws_s3_bucket_public_access_block", logical)
    assert all(
        block[k] is True
        for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    )
    [encryption] = attached(doc, "aws_s3_bucket_server_side_encryption_configuration", logical)
    [rule] = encryption["rule"]
    assert rule["apply_server_side_encryption_by_default"]["sse_algorithm"] in ("AES256", "aws:kms")
    [ownership] = attached(doc, "aws_s3_bucket_ownership_controls", logical)
    assert ownership["rule"]["object_ownership"] == "BucketOwnerEnforced"
    [tls] = attached(doc, "aws_s3_bucket_policy", logical)
    arn = ref("aws_s3_bucket", logical, "arn")
    assert_denies_insecure_transport(policy(tls), "s3", [arn, f"{arn}/*"])


def test_only_the_tracks_bucket_is_versioned(case):
    config, doc = case
    by_prefix = buckets_by_prefix(doc)
    [tracks] = attached(doc, "aws_s3_bucket_versioning", by_prefix[config.names.tracks_bucket_prefix])
    assert tracks["versioning_configuration"]["status"] == "Enabled"
    assert attached(doc, "aws_s3_bucket_versioning", by_prefix[config.names.video_bucket_prefix]) == []


def test_tracks_lifecycle_waits_for_versioning(case):
    """Its noncurrent-version rule needs versioning on: the provider documents depends_on for this."""
    config, doc = case
    by_prefix = buckets_by_prefix(doc)
    [versioning] = [
        name
        for name, block in doc["resource"]["aws_s3_bucket_versioning"].items()
        if block in attached(doc, "aws_s3_bucket_versioning", by_prefix[config.names.tracks_bucket_prefix])
    ]
    [lifecycle] = attached(doc, "aws_s3_bucket_lifecycle_configuration", by_prefix[config.names.tracks_bucket_prefix])
    assert lifecycle["depends_on"] == [f"aws_s3_bucket_versioning.{versioning}"]
    [video_lifecycle] = attached(
        doc, "aws_s3_bucket_lifecycle_configuration", by_prefix[config.names.video_bucket_prefix]
    )
    assert "depends_on" not in video_lifecycle


# --- fleet ------------------------------------------------------------------------------------------------
def ami_data_sources(doc: dict) -> tuple[str, str]:
    """(ssm parameter data name, ami data name) of the GPU AMI lookup."""
    [ssm] = [n for n, b in doc["data"]["aws_ssm_parameter"].items() if b["name"] == GPU_AMI_PARAMETER]
    [ami] = doc["data"]["aws_ami"]
    return ssm, ami


def launch_template(doc: dict) -> dict:
    return only_resource(doc, "aws_launch_template")


def test_launch_template_image_is_the_gpu_ami_from_its_ssm_parameter(case):
    _, doc = case
    ssm, ami = ami_data_sources(doc)
    assert launch_template(doc)["image_id"] in (
        ref("data.aws_ssm_parameter", ssm, "insecure_value"),
        "${nonsensitive(" + f"data.aws_ssm_parameter.{ssm}.value)" + "}",
    )
    ami_body = doc["data"]["aws_ami"][ami]
    [image_filter] = [f for f in ami_body["filter"] if f["name"] == "image-id"]
    assert image_filter["values"] == [launch_template(doc)["image_id"]]
    assert ami_body["owners"] == ["amazon"]


def test_root_volume_is_block_device_volume_gb_root_on_the_amis_root_device_encrypted(case):
    config, doc = case
    _, ami = ami_data_sources(doc)
    [mapping] = launch_template(doc)["block_device_mappings"]
    assert mapping["device_name"] == ref("data.aws_ami", ami, "root_device_name")
    # BlockDeviceVolumeGBRoot, raised at plan time to the AMI's root snapshot size when that is larger
    # (EC2 refuses a volume smaller than its snapshot); tests/emulator/test_plan_moto.py checks the value.
    size = mapping["ebs"]["volume_size"]
    if size != config.volume_gb:
        assert re.fullmatch(
            r"\$\{max\("
            + str(config.volume_gb)
            + r", \[for m in data\.aws_ami\."
            + ami
            + r"\.block_device_mappings : .*\]\.\.\.\)\}",
            size,
        ), size
    assert mapping["ebs"]["encrypted"] in (True, "true")


def test_instances_require_imdsv2(case):
    _, doc = case
    options = launch_template(doc)["metadata_options"]
    assert options["http_tokens"] == "required"
    assert options["http_endpoint"] == "enabled"
    assert options["http_put_response_hop_limit"] == 1


def user_data_script(doc: dict) -> str:
    """The boot script: a readable local, gzipped into the launch template as Terraform writes it."""
    [(local_name, script)] = [(n, v) for n, v in doc["locals"].items() if n.endswith("user_data")]
    assert launch_template(doc)["user_data"] == "${base64gzip(local." + local_name + ")}"
    return script.replace("$${", "${").replace("%%{", "%{")


def agent_config_of(doc: dict) -> str:
    """The instance agent's JSON settings as the boot script writes them."""
    return user_data_script(doc).split("<<'AGENT_JSON'\n", 1)[1].split("\nAGENT_JSON\n", 1)[0]


def test_user_data_joins_the_cluster_with_gpu_support(case):
    config, doc = case
    script = user_data_script(doc)
    assert script.startswith("#!/bin/bash\n")
    settings = dict(line.split("=", 1) for line in script.splitlines() if re.fullmatch(r"ECS_[A-Z_]+=\S*", line))
    assert settings["ECS_CLUSTER"] == config.stack_name == config.names.cluster
    assert settings["ECS_ENABLE_GPU_SUPPORT"] == "true"
    # the instance agent pulls the image at boot; ECS must then use the cached copy
    assert settings["ECS_IMAGE_PULL_BEHAVIOR"] == "prefer-cached"
    assert settings["ECS_ENABLE_SPOT_INSTANCE_DRAINING"] == ("true" if config.spot else "false")
    assert settings["ECS_CONTAINER_STOP_TIMEOUT"] == f"{design_for(config).container_stop_timeout_seconds}s"
    assert "ECS_WARM_POOLS_CHECK" not in settings  # only with a warm pool


def test_user_data_template_text_never_interpolates(case):
    """A shell `${VAR}` in the script must reach the instance as written, not as a Terraform template."""
    _, doc = case
    [raw] = [v for n, v in doc["locals"].items() if n.endswith("user_data")]
    assert re.search(r"(?<!\$)\$\{", raw) is None and re.search(r"(?<!%)%\{", raw) is None


def test_detailed_monitoring_is_off(case):
    _, doc = case
    assert launch_template(doc)["monitoring"] == {"enabled": False}


def test_instances_and_volumes_carry_the_cost_tags(case, big_fleet):
    for config, doc in (case, big_fleet):
        expected = {"ManagedBy": "ecs-autoscale", "ecs-autoscale:stack": config.stack_name, **config.tags}
        group_tags = {t["key"]: t["value"] for t in autoscaling_group(doc)["tag"] if t["propagate_at_launch"]}
        assert expected.items() <= group_tags.items()  # the group's tags reach its instances
        [volumes] = [t for t in launch_template(doc)["tag_specifications"] if t["resource_type"] == "volume"]
        assert expected.items() <= volumes["tags"].items()


def test_only_https_leaves_the_instances(case):
    _, doc = case
    group = only_resource(doc, "aws_security_group")
    assert [(e["protocol"], e["from_port"], e["to_port"]) for e in group["egress"]] == [("tcp", 443, 443)]
    assert not group.get("ingress")


def autoscaling_group(doc: dict) -> dict:
    return only_resource(doc, "aws_autoscaling_group")


def test_group_idles_at_zero_and_terraform_never_resets_its_desired_capacity(case):
    config, doc = case
    group = autoscaling_group(doc)
    assert group["min_size"] == 0
    assert group["max_size"] == config.fleet_size
    assert "desired_capacity" not in group
    assert "desired_capacity" in group["lifecycle"]["ignore_changes"]


def test_group_never_keeps_an_instance_and_is_removed_before_its_cluster(case):
    # Instances unprotected and the group force-deleted: destroy never waits on an instance
    # (terraform-provider-aws #18849); the cluster they register with goes after them.
    _, doc = case
    group = autoscaling_group(doc)
    assert group["protect_from_scale_in"] is False
    assert group["force_delete"] is True
    cluster_logical = next(iter(resources(doc, "aws_ecs_cluster")))
    assert f"aws_ecs_cluster.{cluster_logical}" in group["depends_on"]


def test_group_publishes_the_metrics_the_backstop_alarms_read(case):
    _, doc = case
    group = autoscaling_group(doc)
    read = {
        q["metric"]["metric_name"]
        for a in alarms(doc)
        for q in a["metric_query"]
        if "metric" in q and q["metric"]["namespace"] == "AWS/AutoScaling"
    }
    assert read <= set(group["enabled_metrics"])
    assert group["metrics_granularity"] == "1Minute"


def test_no_capacity_provider_and_no_container_insights(case):
    _, doc = case
    assert not resources(doc, "aws_ecs_capacity_provider")
    assert not resources(doc, "aws_ecs_cluster_capacity_providers")
    assert only_resource(doc, "aws_ecs_cluster")["setting"] == [{"name": "containerInsights", "value": "disabled"}]


def test_group_runs_in_the_checked_networks_subnets(case):
    # The model file's Subnets, else its Vpc's subnets, else the default VPC's default-for-AZ ones. Every
    # variant and how the subnets are checked: tests/unit/test_network.py.
    config, doc = case
    group_subnets = autoscaling_group(doc)["vpc_zone_identifier"]
    if config.subnets:
        assert group_subnets == list(config.subnets)
    else:
        assert group_subnets == ref("data.aws_subnets", "network_subnets", "ids")
        [subnets] = doc["data"]["aws_subnets"].values()
        if config.vpc:
            assert subnets["filter"] == [{"name": "vpc-id", "values": [config.vpc]}]
        else:
            assert subnets["filter"] == [
                {"name": "vpc-id", "values": ["${one(data.aws_vpcs.network_default_vpc.ids)}"]},
                {"name": "default-for-az", "values": ["true"]},
            ]
    assert only_resource(doc, "aws_security_group")["vpc_id"] == ref("data.aws_vpc", "network_vpc", "id")


def test_group_launches_the_template_with_the_configured_instance_types(case):
    config, doc = case
    policy_ = autoscaling_group(doc)["mixed_instances_policy"]
    spec = policy_["launch_template"]["launch_template_specification"]
    assert spec["launch_template_id"] == ref(
        "aws_launch_template", name_of(doc, "aws_launch_template", launch_template(doc)), "id"
    )
    assert [o["instance_type"] for o in policy_["launch_template"]["override"]] == list(config.instance_types)


def test_on_demand_seed_and_spot_example_distribution(seed_doc, spot_doc):
    on_demand = autoscaling_group(seed_doc)["mixed_instances_policy"]["instances_distribution"]
    assert on_demand["on_demand_base_capacity"] == 0
    assert on_demand["on_demand_percentage_above_base_capacity"] == 100
    assert on_demand["on_demand_allocation_strategy"] == "prioritized"
    spot = autoscaling_group(spot_doc)["mixed_instances_policy"]["instances_distribution"]
    assert spot["on_demand_base_capacity"] == 0
    assert spot["on_demand_percentage_above_base_capacity"] == 0
    # the only Spot strategy that follows InstanceTypes' order of preference
    assert spot["spot_allocation_strategy"] == "capacity-optimized-prioritized"


@pytest.fixture(scope="module")
def warm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("warm")
    config = load_text(folder, seed_text(FleetSize="4", WarmPool="2"))
    return config, synth_in_memory(config)


def test_warm_pool_keeps_prepared_stopped_instances_with_a_plain_launch_template(warm):
    config, doc = warm
    design = design_for(config)
    group = autoscaling_group(doc)
    assert "mixed_instances_policy" not in group
    template = name_of(doc, "aws_launch_template", launch_template(doc))
    assert group["launch_template"] == {
        "id": ref("aws_launch_template", template, "id"),
        # a version number, not $Latest: a template change updates the group, which starts the refresh
        "version": ref("aws_launch_template", template, "latest_version"),
    }
    assert launch_template(doc)["instance_type"] == config.instance_types[0]
    # Pool = max(MinSize, MaxGroupPreparedCapacity - desired): WarmPool while idle, refilled only below it, so
    # the group and its pool never run more than FleetSize (+1 being prepared while one shuts down).
    assert group["warm_pool"] == {"pool_state": "Stopped", "min_size": 0, "max_group_prepared_capacity": 2}
    assert design.peak_instances == config.fleet_size + 1
    # Issue 19 item 5: the launch hook is declared WITH the group (a separate hook resource applies only to
    # instances launched after it: the pool's first instances were stopped unprepared).
    assert not resources(doc, "aws_autoscaling_lifecycle_hook")
    hooks = {h["lifecycle_transition"]: h for h in group["initial_lifecycle_hook"]}
    launch = hooks["autoscaling:EC2_INSTANCE_LAUNCHING"]
    assert (launch["name"], launch["default_result"], launch["heartbeat_timeout"]) == (
        config.names.warm_pool_hook,
        "CONTINUE",
        design.launch_heartbeat_seconds,
    )
    # Issue 19 item 6: a template change replaces stale pool instances (skip those already current).
    assert group["instance_refresh"] == {"strategy": "Rolling", "preferences": {"skip_matching": True}}
    settings = dict(
        line.split("=", 1) for line in user_data_script(doc).splitlines() if re.fullmatch(r"ECS_[A-Z_]+=\S*", line)
    )
    assert settings["ECS_WARM_POOLS_CHECK"] == "true"
    assert json.loads(agent_config_of(doc))["launch_hook_name"] == config.names.warm_pool_hook


def test_without_warm_pool_only_the_termination_hook_and_no_refresh(case):
    config, doc = case
    group = autoscaling_group(doc)
    assert not resources(doc, "aws_autoscaling_lifecycle_hook")
    assert "warm_pool" not in group and "instance_refresh" not in group
    assert [h["lifecycle_transition"] for h in group["initial_lifecycle_hook"]] == [
        "autoscaling:EC2_INSTANCE_TERMINATING"
    ]
    assert json.loads(agent_config_of(doc))["launch_hook_name"] is None


def test_the_group_never_terminates_a_busy_instance_of_its_own_accord(case):
    """Issue 19 items 4 and 8: every termination the group starts waits for the agent (the termination hook,
    declared with the group so it holds the first instances too); no AZ rebalancing after an agent terminates
    its own instance; no Spot capacity rebalancing (it terminates the old instance as soon as its
    replacement is healthy)."""
    config, doc = case
    design = design_for(config)
    group = autoscaling_group(doc)
    [hook] = [h for h in group["initial_lifecycle_hook"] if "TERMINATING" in h["lifecycle_transition"]]
    assert hook == {
        "name": config.names.termination_hook,
        "lifecycle_transition": "autoscaling:EC2_INSTANCE_TERMINATING",
        "heartbeat_timeout": design.termination_heartbeat_seconds,
        "default_result": "CONTINUE",
    }
    assert 30 <= design.termination_heartbeat_seconds <= 7200  # PutLifecycleHook's range
    assert group["suspended_processes"] == ["AZRebalance"]
    assert group["capacity_rebalance"] is False
    agent = json.loads(agent_config_of(doc))
    assert agent["termination_hook_name"] == config.names.termination_hook
    assert agent["heartbeat_seconds"] == design.termination_heartbeat_seconds


def test_the_submit_marker_is_a_plain_parameter_terraform_creates_and_then_leaves_to_the_client(case):
    config, doc = case
    parameter = only_resource(doc, "aws_ssm_parameter")
    assert parameter["name"] == config.names.submit_marker
    assert (parameter["type"], parameter["tier"], parameter["insecure_value"]) == ("String", "Standard", "0")
    assert parameter["lifecycle"] == {"ignore_changes": ["insecure_value"]}
    assert json.loads(agent_config_of(doc))["submit_parameter"] == config.names.submit_marker


# --- service -----------------------------------------------------------------------------------------------
def container(doc: dict) -> dict:
    [only] = json.loads(only_resource(doc, "aws_ecs_task_definition")["container_definitions"])
    return only


def test_task_definition_family_and_container_name(case):
    config, doc = case
    task = only_resource(doc, "aws_ecs_task_definition")
    assert task["family"] == config.task_definition
    assert task["requires_compatibilities"] == ["EC2"]
    assert container(doc)["name"] == config.stack_name
    assert container(doc)["image"] == config.container_image


def test_container_command_is_dettrack_with_track_config_and_model(case):
    config, doc = case
    assert container(doc)["command"] == [
        "dettrack",
        "-c",
        config.track_config.uri,
        "--model-s3",
        config.model_location.uri,
        *config.container_args,
    ]


def test_container_environment_is_the_worker_contract(case):
    config, doc = case
    env = {item["name"]: item["value"] for item in container(doc)["environment"]}
    assert len(env) == len(container(doc)["environment"]), "an environment name appears twice"
    buckets = buckets_by_prefix(doc)
    contract = {
        "PROCESSOR": config.stack_name,
        # Queue NAMES, not URLs: the worker and the client resolve them.
        "VIDEO_QUEUE": f"{config.stack_name}-video.fifo",
        "TRACK_QUEUE": f"{config.stack_name}-track.fifo",
        "DEAD_QUEUE": f"{config.stack_name}-dead.fifo",
        "VIDEO_BUCKET": ref("aws_s3_bucket", buckets[config.names.video_bucket_prefix], "bucket"),
        "TRACK_BUCKET": ref("aws_s3_bucket", buckets[config.names.tracks_bucket_prefix], "bucket"),
        "AWS_REGION": config.region,
        "DEFAULT_MAX_CALL_ATTEMPTS": "6",
    }
    assert env == {**config.environment, **contract}
    assert {env["VIDEO_QUEUE"], env["TRACK_QUEUE"], env["DEAD_QUEUE"]} == set(queues_by_name(doc))


def test_container_reserves_gpus_and_memory(case):
    config, doc = case
    assert container(doc)["resourceRequirements"] == [{"type": "GPU", "value": str(config.gpus_per_task)}]
    assert container(doc)["memoryReservation"] == config.memory_reservation_mib


def test_container_logs_to_its_log_group(case):
    config, doc = case
    log = container(doc)["logConfiguration"]
    assert log["logDriver"] == "awslogs"
    assert log["options"] == {
        "awslogs-group": f"/ecs/{config.stack_name}",
        "awslogs-region": config.region,
        "awslogs-stream-prefix": "task",
    }
    group = only_resource(doc, "aws_cloudwatch_log_group")
    assert group["name"] == f"/ecs/{config.stack_name}"
    assert group["retention_in_days"] == config.log_retention_days


def service(doc: dict) -> dict:
    return only_resource(doc, "aws_ecs_service")


def test_daemon_service_runs_one_task_on_every_instance(case):
    # Tasks follow instances: a registered instance gets its task at once, with no desired count to
    # keep in step and no placement backoff (ECS service throttle logic).
    config, doc = case
    body = service(doc)
    assert body["scheduling_strategy"] == "DAEMON"
    assert body["launch_type"] == "EC2"
    assert "desired_count" not in body and "capacity_provider_strategy" not in body
    assert body["name"] == config.names.worker_service(1) == config.stack_name
    task_logical = next(iter(resources(doc, "aws_ecs_task_definition")))
    assert body["task_definition"] == ref("aws_ecs_task_definition", task_logical, "arn")


def test_multi_gpu_types_get_one_daemon_service_per_gpu_slot(tmp_path):
    config = load_text(tmp_path, seed_text(InstanceTypes="[g5.12xlarge]", GpusPerTask="2"))
    doc = synth_in_memory(config)
    services = sorted(resources(doc, "aws_ecs_service").values(), key=lambda b: b["name"])
    assert [b["name"] for b in services] == [config.names.worker_service(1), config.names.worker_service(2)]
    assert all(b["scheduling_strategy"] == "DAEMON" for b in services)
    assert container(doc)["resourceRequirements"] == [{"type": "GPU", "value": "2"}]
    assert doc["output"]["tasks_per_instance"]["value"] == 2


# --- scaling -----------------------------------------------------------------------------------------------
def alarms(doc: dict) -> list[dict]:
    return list(resources(doc, "aws_cloudwatch_metric_alarm").values())


def alarm_named(config, doc: dict, suffix: str) -> dict:
    [alarm] = [a for a in alarms(doc) if a["alarm_name"] == f"{config.stack_name}-{suffix}"]
    return alarm


def scaling_policy(doc: dict, adjustment_type: str) -> tuple[str, dict]:
    [found] = [
        (n, b) for n, b in resources(doc, "aws_autoscaling_policy").items() if b["adjustment_type"] == adjustment_type
    ]
    return found


def metrics_of(alarm: dict) -> dict:
    return {q["id"]: q["metric"] for q in alarm["metric_query"] if "metric" in q}


def expression_of(alarm: dict) -> str:
    [expression] = [q for q in alarm["metric_query"] if q.get("return_data")]
    return expression["expression"]


def test_backstop_scale_out_alarm_counts_videos_without_a_task_one_datapoint_of_three(case):
    config, doc = case
    design = design_for(config)
    alarm = alarm_named(config, doc, "queue-has-videos")
    queue = {"QueueName": config.names.video_queue}
    group_logical = name_of(doc, "aws_autoscaling_group", autoscaling_group(doc))
    assert metrics_of(alarm) == {
        **{
            id: {"namespace": "AWS/SQS", "metric_name": name, "dimensions": queue, "period": 60, "stat": "Maximum"}
            for id, name in (
                ("visible", "ApproximateNumberOfMessagesVisible"),
                ("delayed", "ApproximateNumberOfMessagesDelayed"),
                ("in_flight", "ApproximateNumberOfMessagesNotVisible"),
                ("age", "ApproximateAgeOfOldestMessage"),
            )
        },
        "received": {
            "namespace": "AWS/SQS",
            "metric_name": "NumberOfMessagesReceived",
            "dimensions": queue,
            "period": 60,
            "stat": "Sum",
        },
        "desired": {
            "namespace": "AWS/AutoScaling",
            "metric_name": "GroupDesiredCapacity",
            "dimensions": {"AutoScalingGroupName": ref("aws_autoscaling_group", group_logical, "name")},
            "period": 60,
            "stat": "Maximum",
        },
    }
    not_taken = "FILL(age, 0) >= 1680 AND FILL(in_flight, 0) == 0 AND FILL(received, 0) == 0"
    assert design.not_taken_after_seconds == 28 * 60  # the stuck alarm's 30 min, less the 1-of-3 window
    assert expression_of(alarm) == (
        f"IF({not_taken}, 0, visible + delayed + in_flight - {design.tasks_per_instance} * FILL(desired, REPEAT))"
    )
    # M out of N: a late SQS minute reads as 0 in metric math and must not hold the alarm OK
    assert (alarm["datapoints_to_alarm"], alarm["evaluation_periods"]) == (1, 3)
    assert alarm["threshold"] == design.scale_out_threshold == 1
    assert alarm["comparison_operator"] == "GreaterThanOrEqualToThreshold"
    name, body = scaling_policy(doc, "ChangeInCapacity")
    assert alarm["alarm_actions"] == [ref("aws_autoscaling_policy", name, "arn")]
    assert body["autoscaling_group_name"] == ref("aws_autoscaling_group", group_logical, "name")
    assert body["estimated_instance_warmup"] == design.instance_warmup_seconds


def assert_steps_follow_design(config, doc) -> None:
    _, body = scaling_policy(doc, "ChangeInCapacity")
    as_tuples = [
        (
            int(s["metric_interval_lower_bound"]),
            None if s.get("metric_interval_upper_bound") is None else int(s["metric_interval_upper_bound"]),
            s["scaling_adjustment"],
        )
        for s in body["step_adjustment"]
    ]
    assert as_tuples == design_for(config).step_adjustments
    # Contiguous from the threshold up, open-ended at the top, the last step the whole fleet.
    assert as_tuples[0][0] == 0 and as_tuples[-1][1] is None
    for (_, upper, _), (lower, _, _) in zip(as_tuples, as_tuples[1:], strict=False):
        assert upper == lower
    assert as_tuples[-1][2] == config.fleet_size
    assert all(1 <= add <= config.fleet_size for _, _, add in as_tuples)


def test_scale_out_steps_follow_the_scaling_design(case):
    assert_steps_follow_design(*case)


def test_scale_out_steps_never_add_more_instances_than_uncovered_videos_need(big_fleet):
    config, doc = big_fleet
    assert_steps_follow_design(config, doc)
    tpi = design_for(config).tasks_per_instance
    for lower, _, add in design_for(config).step_adjustments:
        videos_at_lower = lower + 1  # bounds are relative to the threshold of 1
        assert add <= -(-videos_at_lower // tpi)


def test_backstop_idle_alarm_acts_only_while_the_group_is_up_and_never_on_missing_data(case):
    config, doc = case
    design = design_for(config)
    alarm = alarm_named(config, doc, "queue-idle")
    assert set(metrics_of(alarm)) == {"visible", "delayed", "in_flight", "desired"}
    # Issue 19 item 12: SQS reports the delayed and in-flight counts only while such messages exist, so their
    # absence is 0 (FILL(.., 1) read every empty queue as busy: the alarm never fired); only a missing
    # `visible` (an inactive queue) means unknown.
    assert expression_of(alarm) == (
        "IF(FILL(desired, REPEAT) > 0 AND FILL(visible, 1) + FILL(delayed, 0) + FILL(in_flight, 0) == 0, 1, 0)"
    )
    periods = config.scale_in_idle_minutes + design.backstop_idle_extra_minutes
    assert alarm["evaluation_periods"] == alarm["datapoints_to_alarm"] == periods
    name, body = scaling_policy(doc, "ExactCapacity")
    assert alarm["alarm_actions"] == [ref("aws_autoscaling_policy", name, "arn")]
    assert [
        (s.get("metric_interval_lower_bound"), s.get("metric_interval_upper_bound"), s["scaling_adjustment"])
        for s in body["step_adjustment"]
    ] == [("0", None, 0)]


def test_stuck_alarm_stops_the_group(case):
    config, doc = case
    alarm = alarm_named(config, doc, "videos-stuck")
    assert {m["metric_name"] for m in metrics_of(alarm).values()} == {
        "ApproximateNumberOfMessagesVisible",
        "ApproximateNumberOfMessagesNotVisible",
        "NumberOfMessagesReceived",
        "GroupInServiceInstances",
    }
    assert metrics_of(alarm)["received"]["stat"] == "Sum"
    assert "in_flight, 0) == 0" in expression_of(alarm)  # busy workers on long videos are not stuck
    assert alarm["evaluation_periods"] == alarm["datapoints_to_alarm"] == design_for(config).stuck_minutes
    policy_name, _ = scaling_policy(doc, "ExactCapacity")
    # No notification here: the videos-not-taken alarm notifies once, and stays in ALARM while the
    # fleet it stopped stays at 0 (this one turns OK a minute later, with no instance in service).
    assert alarm["alarm_actions"] == [ref("aws_autoscaling_policy", policy_name, "arn")]
    assert "ok_actions" not in alarm


def test_videos_not_taken_alarm_notifies_and_holds_while_nothing_is_taken(case):
    config, doc = case
    design = design_for(config)
    alarm = alarm_named(config, doc, "videos-not-taken")
    assert {m["metric_name"]: m["stat"] for m in metrics_of(alarm).values()} == {
        "ApproximateAgeOfOldestMessage": "Maximum",
        "ApproximateNumberOfMessagesNotVisible": "Maximum",
        "NumberOfMessagesReceived": "Sum",
    }
    assert expression_of(alarm) == (
        f"IF(FILL(age, 0) >= {design.not_taken_after_seconds} AND FILL(in_flight, 0) == 0 AND "
        "FILL(received, 0) == 0, 1, 0)"
    )
    # ALARM on the first datapoint, OK only after 3 clean minutes; no scaling action (it would repeat
    # every minute while in ALARM and undo a `resume`).
    assert (alarm["datapoints_to_alarm"], alarm["evaluation_periods"]) == (1, 3)
    assert alarm["treat_missing_data"] == "notBreaching"
    topic = ref("aws_sns_topic", next(iter(resources(doc, "aws_sns_topic"))), "arn")
    assert alarm["alarm_actions"] == alarm["ok_actions"] == [topic]


def test_idle_cost_counts_every_metric_the_alarms_read(case):
    from ecs_autoscale.estimate.costs import ALARM_METRICS
    from ecs_autoscale.model.naming import ALARM_PURPOSES

    config, doc = case
    names = {
        "backstop scale-out": "queue-has-videos",
        "backstop idle": "queue-idle",
        "stuck videos": "videos-stuck",
        "videos not taken": "videos-not-taken",
    }
    assert set(names) == set(ALARM_METRICS)
    assert set(names.values()) == set(ALARM_PURPOSES)  # what `status` shows and the client policy may read
    assert len(resources(doc, "aws_cloudwatch_metric_alarm")) == len(names)
    for item, suffix in names.items():
        assert len(metrics_of(alarm_named(config, doc, suffix))) == ALARM_METRICS[item], item


def test_alerts_topic_takes_only_this_stacks_alarms_over_tls(case):
    from ecs_autoscale.model.naming import ALARM_PURPOSES

    config, doc = case
    topic = only_resource(doc, "aws_sns_topic")
    assert topic["name"] == config.names.alerts_topic
    statements = {s["Sid"]: s for s in json.loads(topic["policy"])["Statement"]}
    allow = statements["StackAlarmsPublish"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Action"] == "sns:Publish"
    # exact ARNs: `alarm:<StackName>-*` would also admit the alarms of a stack named `<StackName>-x`
    arns = allow["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert [arn.rsplit(":alarm:", 1)[1] for arn in arns] == [config.names.alarm(p) for p in ALARM_PURPOSES]
    assert statements["DenyInsecureTransport"]["Effect"] == "Deny"


def test_no_queue_delays_a_video(case):
    """The agents decide on what their own workers do, not on a delay: a video is visible at once, and an idle
    worker's long poll takes it within seconds."""
    config, doc = case
    for queue in resources(doc, "aws_sqs_queue").values():
        assert "delay_seconds" not in queue, queue["name"]


def test_a_schedule_keeps_the_video_queue_active_by_setting_the_tag_it_already_has(case):
    """SQS counts a queue inactive after 6 h without messages or actions; its metrics then wake up to 15 min
    late. The schedule acts on the video queue well within that: TagQueue with the tag the queue carries, so
    nothing changes (no message touched, no drift). Issue 19 item 1: not GetQueueAttributes, which Scheduler
    refuses as a universal target (read-only prefix)."""
    config, doc = case
    design = design_for(config)
    schedule = only_resource(doc, "aws_scheduler_schedule")
    assert schedule["name"] == config.names.queue_keepalive
    assert schedule["schedule_expression"] == f"rate({design.queue_keepalive_minutes} minutes)"
    assert design.queue_keepalive_minutes <= QUEUE_INACTIVE_AFTER_MINUTES / 3  # misses cost nothing
    assert schedule["flexible_time_window"] == {"mode": "OFF"}
    target = schedule["target"]
    assert target["arn"] == "arn:aws:scheduler:::aws-sdk:sqs:tagQueue"
    video_logical, video = queues_by_name(doc)[config.names.video_queue]
    tag = {QUEUE_KEEPALIVE_TAG: config.names.queue_keepalive}
    assert json.loads(target["input"]) == {"QueueUrl": f"${{aws_sqs_queue.{video_logical}.url}}", "Tags": tag}
    assert video["tags"] == tag  # declared on the queue: the call changes nothing Terraform manages
    roles = {f"${{aws_iam_role.{n}.arn}}": (n, r) for n, r in resources(doc, "aws_iam_role").items()}
    role_name, role = roles[target["role_arn"]]
    assert role["name"] == config.names.queue_keepalive
    [policy] = [
        p for p in resources(doc, "aws_iam_role_policy").values() if p["role"] == ref("aws_iam_role", role_name, "id")
    ]
    [statement] = json.loads(policy["policy"])["Statement"]
    assert statement["Action"] == ["sqs:TagQueue"]
    assert statement["Condition"] == {"ForAllValues:StringEquals": {"aws:TagKeys": [QUEUE_KEEPALIVE_TAG]}}


def test_nothing_scales_on_cpu_or_memory(case):
    _, doc = case
    text = json.dumps(resources(doc, "aws_cloudwatch_metric_alarm")) + json.dumps(
        resources(doc, "aws_autoscaling_policy")
    )
    for forbidden in ("CPUUtilization", "MemoryUtilization", "TargetTrackingScaling"):
        assert forbidden not in text
    assert not resources(doc, "aws_appautoscaling_target")


# --- outputs, provider, terraform block ---------------------------------------------------------------------
def test_outputs_carry_the_values_the_client_reads(case):
    config, doc = case
    assert doc["output"]["stack_name"]["value"] == config.stack_name
    assert doc["output"]["region"]["value"] == config.region
    video_logical = queues_by_name(doc)[config.names.video_queue][0]
    assert doc["output"]["video_queue_url"]["value"] == ref("aws_sqs_queue", video_logical, "url")


def test_provider_region_and_default_tags_include_the_users_tags(case, big_fleet):
    for config, doc in (case, big_fleet):
        [provider] = doc["provider"]["aws"]
        assert provider["region"] == config.region
        [default_tags] = provider["default_tags"]
        assert config.tags.items() <= default_tags["tags"].items()
        assert default_tags["tags"]["ecs-autoscale:stack"] == config.stack_name


def test_region_reaches_the_worker_and_its_logs(big_fleet):
    config, doc = big_fleet
    assert config.region == "eu-west-1"
    env = {item["name"]: item["value"] for item in container(doc)["environment"]}
    assert env["AWS_REGION"] == "eu-west-1"
    assert container(doc)["logConfiguration"]["options"]["awslogs-region"] == "eu-west-1"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.strip().split("."))


def satisfies(version: str, constraints: str) -> bool:
    """Terraform version-constraint semantics for = != > >= < <= ~> (comma = and)."""
    have = _version(version)
    for part in constraints.split(","):
        match = re.fullmatch(r"\s*(=|!=|>=|<=|>|<|~>)?\s*([0-9.]+)\s*", part)
        assert match, f"unparseable constraint {part!r}"
        op, want_text = match[1] or "=", match[2]
        want = _version(want_text)
        padded = want + (0,) * (len(have) - len(want))
        if op == "~>":
            # ~> 5.100 allows 5.x >= 5.100; ~> 5.100.0 allows 5.100.x.
            prefix = want[:-1] if len(want) > 1 else want
            ok = have >= padded and have[: len(prefix)] == prefix
        else:
            ok = {
                "=": have == padded,
                "!=": have != padded,
                ">": have > padded,
                ">=": have >= padded,
                "<": have < padded,
                "<=": have <= padded,
            }[op]
        if not ok:
            return False
    return True


def test_constraint_checker_itself():
    assert satisfies("5.100.0", "~> 5.100") and not satisfies("6.0.0", "~> 5.100")
    assert satisfies("5.100.3", "~> 5.100.0") and not satisfies("5.101.0", "~> 5.100.0")
    assert satisfies("5.100.0", ">= 5.0, < 6.0") and not satisfies("4.67.0", ">= 5.0, < 6.0")


def test_provider_constraint_accepts_the_mirrored_5_100_0_and_not_6(case):
    _, doc = case
    aws = doc["terraform"]["required_providers"]["aws"]
    assert aws["source"] == "hashicorp/aws"
    assert satisfies("5.100.0", aws["version"])
    # The bindings (cdktf-cdktf-provider-aws 20.x) are generated for the 5.x schema.
    assert not satisfies("6.0.0", aws["version"])


def test_backend_is_local_with_a_relative_path(case):
    _, doc = case
    backend = doc["terraform"]["backend"]
    assert list(backend) == ["local"]
    assert not os.path.isabs(backend["local"]["path"])


# --- the files users get --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """Both examples through `synthesize` twice, into two folders (cache disabled)."""
    configs = [load_config(SEED), load_config(SPOT)]
    first = product_synth(configs, tmp_path_factory.mktemp("first"))
    second = product_synth(configs, tmp_path_factory.mktemp("second"))
    return configs, first, second


def test_synth_writes_the_cdktf_layout(shipped):
    configs, first, _ = shipped
    for config in configs:
        path = first[config.stack_name]
        assert path.parts[-3:] == ("stacks", config.stack_name, "cdk.tf.json")
        json.loads(path.read_text())


def test_no_absolute_path_of_the_machine_in_the_json(shipped):
    _, first, _ = shipped
    machine_paths = {str(REPO), str(REPO.resolve()), str(Path.home()), "/tmp", tempfile.gettempdir(), os.getcwd()}
    for path in first.values():
        text = path.read_text()
        machine_paths.add(str(path.parents[2]))
        for machine_path in machine_paths:
            assert machine_path not in text, f"{path.name} of {path.parent.name} contains {machine_path}"


def test_second_synth_gives_identical_bytes(shipped):
    configs, first, second = shipped
    for config in configs:
        assert first[config.stack_name].read_bytes() == second[config.stack_name].read_bytes()


def _strip_metadata(value):
    if isinstance(value, dict):
        return {k: _strip_metadata(v) for k, v in value.items() if k != "//"}
    if isinstance(value, list):
        return [_strip_metadata(v) for v in value]
    return value


def test_testing_harness_sees_what_ships(shipped, seed_doc, spot_doc):
    # The construct tests above use cdktf Testing; prove it is the same document as the shipped file.
    _, first, _ = shipped
    assert _strip_metadata(json.loads(first["Megadetector"].read_text())) == seed_doc
    assert _strip_metadata(json.loads(first["fathomnet-benthic"].read_text())) == spot_doc
