"""Adoption of what an interrupted apply created but could not record (ecs_autoscale/deployment/adoption.py).

The pieces without AWS: the unfinished creations read from Terraform's apply stream, the import ID of
each resource type of the synthesized stack, and the adoption's decisions over a fake runner. The whole
path (a real interrupted-apply record, real `terraform import` against the emulator) is in
tests/emulator/test_lifecycle.py.
"""

from __future__ import annotations

import io

import pytest
from helpers import load_text, seed_text, synth_in_memory

from ecs_autoscale.deployment.adoption import Adoption, import_id
from ecs_autoscale.deployment.terraform import ApplyProgress, Terraform, TerraformFailed
from ecs_autoscale.model.naming import STACK_TAG
from ecs_autoscale.stack_dir import StackDir, StackDirUnreadable

# As Terraform 1.x prints them (-no-color): two creations finish, two are cut off, one is a replacement.
APPLY_STREAM = """\
aws_iam_role.fleet_instance_role: Creating...
aws_sqs_queue.queues_dead: Creating...
aws_iam_role.fleet_instance_role: Creation complete after 1s [id=Seed-instance]
aws_iam_instance_profile.fleet_instance_profile: Creating...
aws_launch_template.fleet_launch_template: Creating...
aws_sqs_queue.queues_dead: Still creating... [10s elapsed]
aws_sqs_queue.queues_dead: Creation complete after 25s [id=https://sqs/x]
Interrupt received.
Please wait for Terraform to exit or data loss may occur.
Gracefully shutting down...
Stopping operation...
"""


def test_unfinished_creates_are_those_started_and_never_complete_in_start_order():
    progress = ApplyProgress(echo=lambda line: None)
    for line in APPLY_STREAM.splitlines():
        progress(line)
    assert progress.unfinished_creates == [
        "aws_iam_instance_profile.fleet_instance_profile",
        "aws_launch_template.fleet_launch_template",
    ]


@pytest.fixture(scope="module")
def stack_resources(tmp_path_factory) -> dict:
    config = load_text(tmp_path_factory.mktemp("model"), seed_text(StackName="Orphans", TaskDefinition="orphans"))
    return synth_in_memory(config)["resource"]


def looked_up(kind: str, name: str) -> str:
    return f"looked-up:{kind}:{name}"


@pytest.mark.parametrize(
    "address, expected",
    [
        ("aws_iam_role.fleet_instance_role", "Orphans-instance"),
        ("aws_iam_instance_profile.fleet_instance_profile", "Orphans-instance"),
        ("aws_cloudwatch_log_group.service_logs", "/ecs/Orphans"),
        ("aws_autoscaling_group.fleet_group", "Orphans-gpu-fleet"),
        ("aws_cloudformation_stack.lookup_stack", "Orphans"),
        ("aws_ecs_service.service_service", "Orphans/Orphans"),  # cluster/service, the cluster by reference
        ("aws_scheduler_schedule.keepalive_schedule", "default/Orphans-queue-keepalive"),  # group/name
        ("aws_launch_template.fleet_launch_template", "looked-up:aws_launch_template:Orphans-gpu"),
        ("aws_security_group.fleet_instances", "looked-up:aws_security_group:Orphans-gpu-instances"),
        ("aws_iam_policy.client_policy", "looked-up:aws_iam_policy:Orphans-client"),
        # Idempotent creates: a second create finds the first, nothing to import.
        ("aws_sqs_queue.queues_video", None),
        ("aws_sns_topic.scaling_alerts", None),
        ("aws_ecs_cluster.service_cluster", None),
        ("aws_cloudwatch_metric_alarm.scaling_queue_idle", None),
        ("aws_iam_role_policy.fleet_instance_policy", None),
        # Named by a prefix: cannot be found, never blocks.
        ("aws_s3_bucket.buckets_video_bucket", None),
        ("aws_iam_role.not_in_this_stack", None),
    ],
)
def test_import_id_of_each_type_of_the_stack(stack_resources, address, expected):
    assert import_id(address, stack_resources, looked_up) == expected


def test_every_resource_of_the_stack_whose_create_is_not_idempotent_has_an_import_id(stack_resources):
    """A new resource type in the stack must be classified here, or an interrupted apply could block it."""
    idempotent = {
        "aws_sqs_queue",
        "aws_sns_topic",
        "aws_ecs_cluster",
        "aws_cloudwatch_metric_alarm",
        "aws_autoscaling_policy",
        "aws_autoscaling_lifecycle_hook",
        "aws_iam_role_policy",
        "aws_ecs_task_definition",  # a new revision, never a name clash
    }
    bucket_parts = {kind for kind in stack_resources if kind.startswith("aws_s3_bucket")}  # PUTs on the bucket
    for kind, named in stack_resources.items():
        if kind in idempotent | bucket_parts:
            continue
        for name in named:
            assert import_id(f"{kind}.{name}", stack_resources, looked_up), f"{kind}.{name}"


class FakeTerraform:
    def __init__(self, state: list[str], exists: set[str], tags: dict[str, dict]) -> None:
        self.state, self.exists, self.tags = list(state), exists, tags
        self.imports: list[tuple[str, str]] = []

    def state_list(self) -> list[str]:
        return list(self.state)

    def import_existing(self, address: str, identifier: str) -> bool:
        self.imports.append((address, identifier))
        if identifier in self.exists:
            self.state.append(address)
            return True
        return False

    def resource_tags(self, addresses: list[str]) -> dict[str, dict]:
        return {a: self.tags.get(a, {}) for a in addresses}

    def state_rm(self, addresses: list[str]) -> None:
        self.state = [a for a in self.state if a not in addresses]


def test_adoption_imports_what_exists_and_is_ours_and_drops_what_is_not(stack_resources):
    role, profile, logs = (
        "aws_iam_role.fleet_instance_role",
        "aws_iam_instance_profile.fleet_instance_profile",
        "aws_cloudwatch_log_group.service_logs",
    )
    template, bucket, done = (
        "aws_launch_template.fleet_launch_template",
        "aws_s3_bucket.buckets_video_bucket",
        "aws_sqs_queue.queues_dead",
    )
    tf = FakeTerraform(
        state=[done, template],  # recorded tainted: already in the state, left to Terraform
        exists={"Orphans-instance", "/ecs/Orphans"},  # the profile's name is the role's too
        tags={role: {STACK_TAG: "Orphans"}, profile: {STACK_TAG: "Orphans"}, logs: {STACK_TAG: "SomeoneElse"}},
    )
    said: list[str] = []
    adopted = Adoption(tf, "Orphans", stack_resources, looked_up, said.append).run(
        [done, role, profile, logs, template, bucket]
    )
    assert adopted == [role, profile]
    assert [a for a, _ in tf.imports] == [role, profile, logs]
    assert logs not in tf.state  # someone else's log group is dropped from the state again
    assert any(logs in line and "SomeoneElse" in line and "left alone" in line for line in said)
    assert any(bucket in line and "prefix" in line for line in said)


def test_the_record_adds_up_across_interrupted_applies_and_an_unreadable_one_says_so(tmp_path):
    sd = StackDir(tmp_path)
    assert sd.unfinished_creates() == []
    sd.record_unfinished_creates([])
    assert not sd.unfinished_creates_file.exists()  # nothing cut off, nothing written
    sd.record_unfinished_creates(["a.x", "b.y"])
    sd.record_unfinished_creates(["b.y", "c.z"])
    assert sd.unfinished_creates() == ["a.x", "b.y", "c.z"]
    sd.unfinished_creates_file.write_text("{not json")
    with pytest.raises(StackDirUnreadable, match="unfinished-creates.json cannot be read.*delete it"):
        sd.unfinished_creates()
    sd.clear_unfinished_creates()
    assert sd.unfinished_creates() == []


@pytest.mark.parametrize(
    "exit_code, stderr, outcome",
    [
        (0, "", True),
        (1, "Error: Cannot import non-existent remote object", False),
        (1, "Error: reading IAM Role: AccessDenied", TerraformFailed),
    ],
)
def test_import_existing_tells_imported_from_absent_and_fails_on_anything_else(tmp_path, exit_code, stderr, outcome):
    fake = tmp_path / "terraform"
    fake.write_text(f"#!/bin/sh\necho '{stderr}' >&2\nexit {exit_code}\n")
    fake.chmod(0o755)
    tf = Terraform(tmp_path, executable=str(fake), echo=lambda line: None, err=io.StringIO())
    if outcome is TerraformFailed:
        with pytest.raises(TerraformFailed, match="terraform import"):
            tf.import_existing("aws_iam_role.x", "x")
    else:
        assert tf.import_existing("aws_iam_role.x", "x") is outcome
