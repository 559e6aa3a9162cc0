"""The deepsea-ai lookup stack as synthesized (ecs_autoscale/synthesis/constructs/lookup.py): a CloudFormation
stack named StackName whose template holds only a task definition with the worker contract's environment, made
with the deployer's own credentials (no standing role); `CloudFormationLookup: false` leaves it out. Deployed
behaviour (moto's CloudFormation, with emulator patches) is tested in test_lifecycle.py and test_deepsea_ai.py."""

from __future__ import annotations

import json

import pytest
from helpers import SEED, load_text, only_resource, resources, seed_text, synth_in_memory


@pytest.fixture(scope="module")
def seed_doc():
    from ecs_autoscale.model.config import load_config

    return synth_in_memory(load_config(SEED))


@pytest.fixture(scope="module")
def template(seed_doc) -> dict:
    return json.loads(only_resource(seed_doc, "aws_cloudformation_stack")["template_body"])


def test_stack_is_named_stack_name_and_made_with_the_deployers_credentials(seed_doc):
    stack = only_resource(seed_doc, "aws_cloudformation_stack")
    assert stack["name"] == "Megadetector"
    assert stack["on_failure"] == "DELETE"  # a failed create never leaves a ROLLBACK_COMPLETE stack on the name
    # No service role: no standing role can deregister the account's task definitions.
    assert "iam_role_arn" not in stack and "depends_on" not in stack
    assert not [r for r in resources(seed_doc, "aws_iam_role").values() if "lookup" in r["name"]]
    assert not {"capabilities", "parameters", "template_url", "notification_arns"} & set(stack)


def test_a_stack_bound_to_the_earlier_service_role_is_replaced_not_updated(seed_doc):
    """CloudFormation keeps a stack's role when an update names none: the earlier versions' stacks must be
    replaced (timeout_in_minutes is ForceNew in the AWS provider; their state has none)."""
    stack = only_resource(seed_doc, "aws_cloudformation_stack")
    assert stack["timeout_in_minutes"] == 10


def test_template_holds_one_task_definition_and_nothing_that_grants_or_runs(template):
    assert set(template) == {"AWSTemplateFormatVersion", "Description", "Resources"}
    (resource,) = template["Resources"].values()
    assert resource["Type"] == "AWS::ECS::TaskDefinition"
    props = resource["Properties"]
    assert props["Family"] == "Megadetector-deepsea-ai-lookup"
    assert not {"TaskRoleArn", "ExecutionRoleArn", "Volumes", "Cpu", "Memory"} & set(props)
    (container,) = props["ContainerDefinitions"]
    assert container["Name"] == "Megadetector"
    assert not {"Command", "EntryPoint", "LogConfiguration", "ResourceRequirements", "Secrets"} & set(container)
    assert "never run" in container["DockerLabels"]["ecs-autoscale.purpose"]
    # What AWS requires of an EC2 task definition's container: a name, an image, a memory figure.
    assert container["Image"] and container["MemoryReservation"] > 0 and props["RequiresCompatibilities"] == ["EC2"]


def test_environment_is_the_worker_containers_contract(seed_doc, template):
    from ecs_autoscale.model.config import CONTRACT_ENV

    (resource,) = template["Resources"].values()
    record = {e["Name"]: e["Value"] for e in resource["Properties"]["ContainerDefinitions"][0]["Environment"]}
    worker = json.loads(only_resource(seed_doc, "aws_ecs_task_definition")["container_definitions"])[0]
    worker_env = {e["name"]: e["value"] for e in worker["environment"]}
    assert set(record) == set(CONTRACT_ENV)
    assert record == {k: worker_env[k] for k in CONTRACT_ENV}
    # deepsea-ai reads these six; the bucket names are Terraform references resolved at apply time.
    assert record["VIDEO_BUCKET"] == "${aws_s3_bucket.buckets_video_bucket.bucket}"
    assert record["VIDEO_QUEUE"] == "Megadetector-video.fifo"


def test_extra_environment_stays_out_of_the_record(tmp_path):
    doc = synth_in_memory(load_text(tmp_path, seed_text(Environment="{LOG_LEVEL: DEBUG}")))
    text = only_resource(doc, "aws_cloudformation_stack")["template_body"]
    assert "LOG_LEVEL" not in text


def test_opt_out_leaves_no_cloudformation(tmp_path):
    doc = synth_in_memory(load_text(tmp_path, seed_text(CloudFormationLookup="false")))
    assert resources(doc, "aws_cloudformation_stack") == {}


def test_opt_out_must_be_a_boolean(tmp_path):
    from ecs_autoscale.model.config import ConfigError

    with pytest.raises(ConfigError, match=r"CloudFormationLookup: .*(CloudFormation may not be used)"):
        load_text(tmp_path, seed_text(CloudFormationLookup="'no'"))


def test_lookup_names_fit_aws_limits_for_the_longest_stack_name():
    from ecs_autoscale.model.naming import StackNames, max_stack_name_length

    names = StackNames("A" * max_stack_name_length())
    assert names.problems() == []
    assert len(names.lookup_family) <= 255
