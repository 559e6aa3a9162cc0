"""Synthesized Terraform JSON, construct by construct, for both examples (cdktf `Testing`), plus the
properties of the files users get (`synthesize`): no machine paths, identical bytes every time.

Every expected value is derived from the model file or from the product's own tables (names,
ScalingDesign, OUTPUT_DESCRIPTIONS), so a drift in either side fails here.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

import pytest

from ecs_autoscale.config import load_config
from ecs_autoscale.scaling_design import design_for
from helpers import (REPO, SEED, EXAMPLES, hcl_call_argument, load_text, only_resource, product_synth, references,
                     resources, seed_text, synth_in_memory)

SPOT = EXAMPLES / "fathomnet-spot.yaml"
GPU_AMI_PARAMETER = "/aws/service/ecs/optimized-ami/amazon-linux-2/gpu/recommended/image_id"
FOURTEEN_DAYS = 14 * 24 * 3600


@pytest.fixture(scope="module", params=[SEED, SPOT], ids=["seed", "spot"])
def case(request):
    """(config, synthesized stack) of one example; synthesized once per module."""
    config = load_config(request.param)
    return config, synth_in_memory(config)


@pytest.fixture(scope="module")
def seed_doc():
    return synth_in_memory(load_config(SEED))


@pytest.fixture(scope="module")
def spot_doc():
    return synth_in_memory(load_config(SPOT))


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
    assert redrive == {"deadLetterTargetArn": ref("aws_sqs_queue", dead_logical, "arn"),
                       "maxReceiveCount": config.max_receive_count}
    assert "redrive_policy" not in dead


def test_track_queue_never_redrives_results_to_dead(case):
    # Peeking at results (`status`) counts as receives; a SUCCESS must never become a FAILED.
    config, doc = case
    assert "redrive_policy" not in queues_by_name(doc)[config.names.track_queue][1]


def own_queue_arn(name: str) -> str:
    """ARN of a queue of this stack as the constructs build it (plan-time partition/region/account)."""
    return ("arn:${data.aws_partition.account_partition.partition}:sqs:${data.aws_region.account_region.name}:"
            "${data.aws_caller_identity.account_caller.account_id}:" + name)


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
    assert all(block[k] is True for k in ("block_public_acls", "block_public_policy", "ignore_public_acls",
                                          "restrict_public_buckets"))
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
    [versioning] = [name for name, block in doc["resource"]["aws_s3_bucket_versioning"].items()
                    if block in attached(doc, "aws_s3_bucket_versioning", by_prefix[config.names.tracks_bucket_prefix])]
    [lifecycle] = attached(doc, "aws_s3_bucket_lifecycle_configuration", by_prefix[config.names.tracks_bucket_prefix])
    assert lifecycle["depends_on"] == [f"aws_s3_bucket_versioning.{versioning}"]
    [video_lifecycle] = attached(doc, "aws_s3_bucket_lifecycle_configuration",
                                 by_prefix[config.names.video_bucket_prefix])
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
    assert launch_template(doc)["image_id"] in (ref("data.aws_ssm_parameter", ssm, "insecure_value"),
                                                "${nonsensitive(" + f"data.aws_ssm_parameter.{ssm}.value)" + "}")
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
    # (EC2 refuses a volume smaller than its snapshot); tests/test_plan_moto.py checks the value.
    size = mapping["ebs"]["volume_size"]
    if size != config.volume_gb:
        assert re.fullmatch(r"\$\{max\(" + str(config.volume_gb) + r", \[for m in data\.aws_ami\." + ami
                            + r"\.block_device_mappings : .*\]\.\.\.\)\}", size), size
    assert mapping["ebs"]["encrypted"] in (True, "true")


def test_instances_require_imdsv2(case):
    _, doc = case
    options = launch_template(doc)["metadata_options"]
    assert options["http_tokens"] == "required"
    assert options["http_endpoint"] == "enabled"
    assert options["http_put_response_hop_limit"] == 1


def test_user_data_joins_the_cluster_with_gpu_support(case):
    config, doc = case
    script = hcl_call_argument(launch_template(doc)["user_data"], "base64encode")
    assert script.startswith("#!/bin/bash\n")
    settings = dict(line.split("=", 1) for line in script.splitlines() if re.fullmatch(r"ECS_[A-Z_]+=\S*", line))
    assert settings["ECS_CLUSTER"] == config.stack_name == config.names.cluster
    assert settings["ECS_ENABLE_GPU_SUPPORT"] == "true"
    assert settings["ECS_IMAGE_PULL_BEHAVIOR"] in ("default", "always", "once", "prefer-cached")
    assert settings["ECS_ENABLE_SPOT_INSTANCE_DRAINING"] == ("true" if config.spot else "false")


def autoscaling_group(doc: dict) -> dict:
    return only_resource(doc, "aws_autoscaling_group")


def test_group_idles_at_zero_and_terraform_never_resets_its_desired_capacity(case):
    config, doc = case
    group = autoscaling_group(doc)
    assert group["min_size"] == 0
    assert group["max_size"] == config.fleet_size
    assert "desired_capacity" not in group
    assert "desired_capacity" in group["lifecycle"]["ignore_changes"]
    assert group["protect_from_scale_in"] is True
    assert {"key": "AmazonECSManaged", "value": "true", "propagate_at_launch": True} in group["tag"]


def test_group_runs_in_the_checked_networks_subnets(case):
    # Which subnets and how they are checked: tests/test_network.py.
    _, doc = case
    assert autoscaling_group(doc)["vpc_zone_identifier"] == ref("data.aws_subnets", "network_subnets", "ids")
    assert only_resource(doc, "aws_security_group")["vpc_id"] == ref("data.aws_vpc", "network_vpc", "id")


def test_group_launches_the_template_with_the_configured_instance_types(case):
    config, doc = case
    policy_ = autoscaling_group(doc)["mixed_instances_policy"]
    spec = policy_["launch_template"]["launch_template_specification"]
    assert spec["launch_template_id"] == ref("aws_launch_template", name_of(doc, "aws_launch_template",
                                                                             launch_template(doc)), "id")
    assert [o["instance_type"] for o in policy_["launch_template"]["override"]] == list(config.instance_types)


def test_on_demand_seed_and_spot_example_distribution(seed_doc, spot_doc):
    on_demand = autoscaling_group(seed_doc)["mixed_instances_policy"]["instances_distribution"]
    assert on_demand["on_demand_base_capacity"] == 0
    assert on_demand["on_demand_percentage_above_base_capacity"] == 100
    spot = autoscaling_group(spot_doc)["mixed_instances_policy"]["instances_distribution"]
    assert spot["on_demand_base_capacity"] == 0
    assert spot["on_demand_percentage_above_base_capacity"] == 0
    assert spot["spot_allocation_strategy"] in ("price-capacity-optimized", "capacity-optimized",
                                                "capacity-optimized-prioritized")


def test_capacity_provider_scales_the_group_and_protects_busy_instances(case):
    _, doc = case
    provider = only_resource(doc, "aws_ecs_capacity_provider")["auto_scaling_group_provider"]
    group_name = name_of(doc, "aws_autoscaling_group", autoscaling_group(doc))
    assert provider["auto_scaling_group_arn"] == ref("aws_autoscaling_group", group_name, "arn")
    assert provider["managed_termination_protection"] == "ENABLED"
    scaling = provider["managed_scaling"]
    assert scaling["status"] == "ENABLED"
    assert scaling["target_capacity"] == 100


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
    assert container(doc)["command"] == ["dettrack", "-c", config.track_config.uri,
                                         "--model-s3", config.model_location.uri, *config.container_args]


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
    assert log["options"] == {"awslogs-group": f"/ecs/{config.stack_name}", "awslogs-region": config.region,
                              "awslogs-stream-prefix": "task"}
    group = only_resource(doc, "aws_cloudwatch_log_group")
    assert group["name"] == f"/ecs/{config.stack_name}"
    assert group["retention_in_days"] == config.log_retention_days


def service(doc: dict) -> dict:
    return only_resource(doc, "aws_ecs_service")


def test_service_starts_at_zero_and_terraform_never_resets_its_count(case):
    _, doc = case
    assert service(doc)["desired_count"] == 0
    assert "desired_count" in service(doc)["lifecycle"]["ignore_changes"]


def test_service_places_one_task_per_instance_on_the_capacity_provider(case):
    config, doc = case
    assert {"type": "distinctInstance"} in service(doc)["placement_constraints"]
    [strategy] = service(doc)["capacity_provider_strategy"]
    provider_logical, provider = next(iter(resources(doc, "aws_ecs_capacity_provider").items()))
    assert strategy["capacity_provider"] in (provider["name"], ref("aws_ecs_capacity_provider", provider_logical,
                                                                   "name"))
    assert provider["name"] == config.names.capacity_provider
    assert "launch_type" not in service(doc)


def test_service_is_created_after_its_capacity_provider_is_attached_to_the_cluster(case):
    # ECS rejects a service whose strategy names a capacity provider the cluster does not have yet, and
    # the association needs the provider. Names alone give Terraform no order: a reference must.
    _, doc = case
    [(association_logical, association)] = resources(doc, "aws_ecs_cluster_capacity_providers").items()
    [provider_logical] = resources(doc, "aws_ecs_capacity_provider")
    assert f"aws_ecs_capacity_provider.{provider_logical}" in references(association)
    assert f"aws_ecs_cluster_capacity_providers.{association_logical}" in references(service(doc))


# --- scaling -----------------------------------------------------------------------------------------------
def alarms(doc: dict) -> list[dict]:
    return list(resources(doc, "aws_cloudwatch_metric_alarm").values())


def scaling_policy(doc: dict, adjustment_type: str) -> tuple[str, dict]:
    [found] = [(n, b) for n, b in resources(doc, "aws_appautoscaling_policy").items()
               if b["step_scaling_policy_configuration"]["adjustment_type"] == adjustment_type]
    return found


def alarm_of(doc: dict, adjustment_type: str) -> dict:
    policy_name, _ = scaling_policy(doc, adjustment_type)
    [alarm] = [a for a in alarms(doc) if a["alarm_actions"] == [ref("aws_appautoscaling_policy", policy_name, "arn")]]
    return alarm


def test_scale_out_alarm_fires_on_the_first_uncovered_video_within_a_minute(case):
    # Uncovered backlog: videos waiting or in progress minus the tasks already asked for, so tasks
    # still waiting for an instance are not asked for again after the cooldown.
    config, doc = case
    alarm = alarm_of(doc, "ChangeInCapacity")
    metrics = {q["id"]: q["metric"] for q in alarm["metric_query"] if "metric" in q}
    service_logical = next(iter(resources(doc, "aws_ecs_service")))
    queue = {"QueueName": config.names.video_queue}
    assert metrics == {
        "visible": {"namespace": "AWS/SQS", "metric_name": "ApproximateNumberOfMessagesVisible",
                    "dimensions": queue, "period": 60, "stat": "Maximum"},
        "in_flight": {"namespace": "AWS/SQS", "metric_name": "ApproximateNumberOfMessagesNotVisible",
                      "dimensions": queue, "period": 60, "stat": "Maximum"},
        "desired": {"namespace": "ECS/ContainerInsights", "metric_name": "DesiredTaskCount",
                    "dimensions": {"ClusterName": config.names.cluster,
                                   "ServiceName": ref("aws_ecs_service", service_logical, "name")},
                    "period": 60, "stat": "Maximum"},
    }
    [expression] = [q for q in alarm["metric_query"] if q.get("return_data")]
    assert expression["expression"] == "visible + in_flight - FILL(FILL(desired, REPEAT), 0)"
    # the desired count exists only with Container Insights on
    assert {"name": "containerInsights", "value": "enabled"} in only_resource(doc, "aws_ecs_cluster")["setting"]
    assert alarm["evaluation_periods"] == 1
    assert alarm["threshold"] == design_for(config).scale_out_threshold == 1
    assert alarm["comparison_operator"] == "GreaterThanOrEqualToThreshold"
    _, body = scaling_policy(doc, "ChangeInCapacity")
    assert body["step_scaling_policy_configuration"]["cooldown"] == design_for(config).scale_out_cooldown_seconds


def test_scale_in_alarm_needs_the_queue_idle_including_in_flight_videos(case):
    config, doc = case
    alarm = alarm_of(doc, "ExactCapacity")
    metrics = {q["id"]: q["metric"] for q in alarm["metric_query"] if "metric" in q}
    assert {m["metric_name"] for m in metrics.values()} == {"ApproximateNumberOfMessagesVisible",
                                                             "ApproximateNumberOfMessagesNotVisible"}
    for metric in metrics.values():
        assert metric["namespace"] == "AWS/SQS"
        assert metric["dimensions"] == {"QueueName": config.names.video_queue}
        assert metric["period"] == 60
    [expression] = [q for q in alarm["metric_query"] if q.get("return_data")]
    terms = re.split(r"\s*\+\s*", expression["expression"].strip())
    assert sorted(terms) == sorted(metrics), "the alarm must watch visible + in-flight, nothing else"
    assert alarm["threshold"] == 0
    assert alarm["comparison_operator"] == "LessThanOrEqualToThreshold"
    assert alarm["evaluation_periods"] == config.scale_in_idle_minutes
    assert alarm.get("datapoints_to_alarm", alarm["evaluation_periods"]) == config.scale_in_idle_minutes
    policy_name, _ = scaling_policy(doc, "ExactCapacity")
    assert alarm["alarm_actions"] == [ref("aws_appautoscaling_policy", policy_name, "arn")]


def test_scale_in_sets_the_task_count_to_exactly_zero(case):
    _, doc = case
    _, body = scaling_policy(doc, "ExactCapacity")
    [step] = body["step_scaling_policy_configuration"]["step_adjustment"]
    assert step["scaling_adjustment"] == 0
    assert step["metric_interval_upper_bound"] == "0"
    assert step.get("metric_interval_lower_bound") is None


def test_scaling_target_is_the_services_task_count_up_to_fleet_size(case):
    config, doc = case
    target_logical, target = next(iter(resources(doc, "aws_appautoscaling_target").items()))
    assert target["min_capacity"] == 0
    assert target["max_capacity"] == config.fleet_size
    assert target["scalable_dimension"] == "ecs:service:DesiredCount"
    service_logical = next(iter(resources(doc, "aws_ecs_service")))
    assert target["resource_id"] == f"service/{config.names.cluster}/" + ref("aws_ecs_service", service_logical,
                                                                              "name")
    for body in resources(doc, "aws_appautoscaling_policy").values():
        assert body["resource_id"] == ref("aws_appautoscaling_target", target_logical, "resource_id")
        assert body["policy_type"] == "StepScaling"


def assert_steps_follow_design(config, doc) -> None:
    _, body = scaling_policy(doc, "ChangeInCapacity")
    steps = body["step_scaling_policy_configuration"]["step_adjustment"]
    expected = design_for(config).step_adjustments
    as_tuples = [(int(s["metric_interval_lower_bound"]),
                  None if s.get("metric_interval_upper_bound") is None else int(s["metric_interval_upper_bound"]),
                  s["scaling_adjustment"]) for s in steps]
    assert as_tuples == expected
    # Contiguous from the threshold up, open-ended at the top, never adding more than the fleet holds.
    assert as_tuples[0][0] == 0 and as_tuples[-1][1] is None
    for (_, upper, _), (lower, _, _) in zip(as_tuples, as_tuples[1:]):
        assert upper == lower
    assert all(1 <= add <= config.fleet_size for _, _, add in as_tuples)


def test_scale_out_steps_follow_the_scaling_design(case):
    assert_steps_follow_design(*case)


def test_scale_out_steps_grow_with_backlog_for_a_big_fleet(big_fleet):
    config, doc = big_fleet
    assert_steps_follow_design(config, doc)
    _, body = scaling_policy(doc, "ChangeInCapacity")
    assert len(body["step_scaling_policy_configuration"]["step_adjustment"]) > 1


def test_nothing_scales_on_cpu_or_memory(case):
    _, doc = case
    text = json.dumps(resources(doc, "aws_cloudwatch_metric_alarm")) + json.dumps(
        resources(doc, "aws_appautoscaling_policy"))
    for forbidden in ("CPUUtilization", "MemoryUtilization", "ECSServiceAverageCPUUtilization",
                      "TargetTrackingScaling"):
        assert forbidden not in text
    assert {m for a in alarms(doc) for m in [a.get("namespace")] if m} <= {"AWS/SQS"}


# --- outputs, provider, terraform block ---------------------------------------------------------------------
def test_outputs_are_exactly_the_documented_ones(case):
    from ecs_autoscale.stack import OUTPUT_DESCRIPTIONS

    config, doc = case
    assert set(doc["output"]) == set(OUTPUT_DESCRIPTIONS)
    for name, body in doc["output"].items():
        assert body["description"] == OUTPUT_DESCRIPTIONS[name]
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
            ok = have >= padded and have[:len(prefix)] == prefix
        else:
            ok = {"=": have == padded, "!=": have != padded, ">": have > padded, ">=": have >= padded,
                  "<": have < padded, "<=": have <= padded}[op]
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
    machine_paths = {str(REPO), str(REPO.resolve()), str(Path.home()), "/tmp", tempfile.gettempdir(),
                     os.getcwd()}
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
