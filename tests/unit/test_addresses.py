"""The addresses `destroy` keeps are declared by the stack (ecs_autoscale/synthesis/addresses.py), not recovered from
the JSON; here the declaration is checked against every example's synthesized JSON, so it cannot drift."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest
from helpers import example_files, synth_in_memory

from ecs_autoscale.model.config import load_config
from ecs_autoscale.synthesis.addresses import RESULTS_BUCKET, SecureBucketElements, address_part, child_id


@functools.cache
def synthesized(path: Path) -> dict:
    return synth_in_memory(load_config(path))


def bucket_and_settings(doc: dict, bucket: str) -> set[str]:
    """Read from the JSON alone: `bucket` and every aws_s3_bucket_* resource that configures it."""
    found = {bucket}
    for resource_type, resources in doc["resource"].items():
        if resource_type.startswith("aws_s3_bucket_"):
            for name, body in resources.items():
                if str(body.get("bucket", "")).startswith("${" + bucket + "."):
                    found.add(f"{resource_type}.{name}")
    return found


@pytest.mark.parametrize("path", example_files(), ids=lambda path: path.stem)
def test_results_bucket_declaration_is_exactly_what_the_stack_synthesizes(path: Path) -> None:
    doc = synthesized(path)
    output = re.fullmatch(r"\$\{(aws_s3_bucket\.\w+)\.bucket\}", doc["output"]["tracks_bucket"]["value"])
    assert output, doc["output"]["tracks_bucket"]
    assert output[1] == RESULTS_BUCKET.bucket.address
    declared = RESULTS_BUCKET.addresses()
    assert len(set(declared)) == len(declared)
    assert set(declared) == bucket_and_settings(doc, RESULTS_BUCKET.bucket.address)
    present = {f"{type_}.{name}" for type_, resources in doc["resource"].items() for name in resources}
    assert set(declared) <= present


def test_bucket_first_then_settings_by_type() -> None:
    unversioned = SecureBucketElements("b_x", versioned=False)
    assert unversioned.addresses() == (
        "aws_s3_bucket.b_x_bucket",
        "aws_s3_bucket_lifecycle_configuration.b_x_lifecycle",
        "aws_s3_bucket_ownership_controls.b_x_ownership",
        "aws_s3_bucket_policy.b_x_tls_only",
        "aws_s3_bucket_public_access_block.b_x_public_access_block",
        "aws_s3_bucket_server_side_encryption_configuration.b_x_encryption",
    )
    assert SecureBucketElements("b_x", versioned=True).addresses() == (
        *unversioned.addresses(),
        "aws_s3_bucket_versioning.b_x_versioning",
    )


def test_ids_follow_the_component_rule() -> None:
    assert address_part("video-queue") == "video_queue"
    assert child_id("queues", "dead-letter") == "queues_dead_letter"
