"""The emulator's rule registry (ecs_autoscale/emulator/rules.py) and the Scheduler rule's prefix list, without
an emulator: every rule names its AWS document and states itself; the read-only prefixes are the documented
ones (tests/emulator/test_emulator_rules.py shows each rule at work)."""

from __future__ import annotations

import re

import pytest

from ecs_autoscale.emulator import rules


def test_every_rule_names_its_aws_document_and_states_itself():
    assert rules.RULES
    for entry in rules.RULES.values():
        assert re.fullmatch(r"[a-z0-9]+\.[a-z0-9-]+", entry.id), entry.id
        assert entry.documents and entry.statement.endswith(".")
        for document in entry.documents:
            assert document.title and document.url.startswith("https://")
        assert entry.line().startswith(f"{entry.id}: {entry.statement} Source: ")


@pytest.mark.parametrize(
    "action, read_only",
    [
        ("getQueueUrl", True),
        ("listBrokers", True),
        ("receiveMessage", True),
        ("batchGetItem", True),
        ("isAuthorizedWithToken", True),
        ("GetQueueAttributes", True),
        ("sendMessage", False),
        ("tagQueue", False),
        ("setQueueAttributes", False),
        ("batchWriteItem", False),
    ],
)
def test_read_only_prefixes_are_the_documented_ones(action, read_only):
    problem = rules.read_only_universal_target(f"arn:aws:scheduler:::aws-sdk:sqs:{action}")
    assert (problem is not None) is read_only
    assert rules.read_only_universal_target("arn:aws:sqs:us-west-2:123456789012:videos") is None  # templated
