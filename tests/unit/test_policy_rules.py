"""Rules every synthesized IAM policy obeys, checked on the Terraform JSON of every example (and of a
model with Secrets): role inline policies, the client's managed policies, trust policies, and the
topic, queue and bucket resource policies.

1. Every action granted is in security/service-authorization.json, a dated extract of the AWS Service
   Authorization Reference (its source URLs are in the file).
2. No wildcard action, no NotAction/NotResource in an Allow.
3. `Resource: "*"` only for an action that takes no resource type in that extract, or that the
   statement pins to this stack through one of the action's own condition keys (ecs:cluster).
4. Nothing reaches another stack: an ARN pattern (resource, or an Arn*/​*Like condition value) must not
   match the same ARN of a stack named `<StackName>-x`, and a pattern with a wildcard must name this
   stack (or a resource of it).
5. An action that can change a group's size limits (one whose condition keys include
   autoscaling:MinSize / autoscaling:MaxSize) is granted only with conditions on both sizes.
6. The default client policy reads nothing account-wide and cannot change the group beyond its
   desired capacity (the rest is in the opt-in policies: synthesis/client_policy.py).
Each rule is also shown to fail on the statement it exists to catch.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import REPO, example_files, load_text, product_synth, seed_text

SAR = json.loads((REPO / "security" / "service-authorization.json").read_text())
IDENTITY_TYPES = ("aws_iam_role_policy", "aws_iam_policy")
RESOURCE_POLICY_TYPES = ("aws_sns_topic", "aws_sqs_queue", "aws_s3_bucket_policy", "aws_sqs_queue_policy")
SIZE_KEYS = ("autoscaling:MinSize", "autoscaling:MaxSize")
# The default client policy's account-wide grants, each reviewed: none returns another stack's data
# beyond names and sizes of Auto Scaling groups.
DEFAULT_CLIENT_ACCOUNT_WIDE = {
    "autoscaling:DescribeAutoScalingGroups": "group names, sizes and tags; no resource type exists",
    "autoscaling:DescribeScalingActivities": "scaling history; no resource type exists",
    "autoscaling:DescribeWarmPool": "warm pool sizes; no resource type exists",
    "sts:GetCallerIdentity": "the caller's own identity",
    "ecs:ListServices": "pinned to this stack's cluster by ecs:cluster",
    "ecs:ListTasks": "pinned to this stack's cluster by ecs:cluster",
}
SECRETS = (
    "\n  DB_TOKEN: arn:aws:ssm:us-west-2:123456789012:parameter/lab/token"
    '\n  DB_PASSWORD: "arn:aws:secretsmanager:us-west-2:123456789012:secret:lab/db-AbC123:password::"'
)


@dataclass(frozen=True)
class Policy:
    stack: str
    where: str
    """`<type>.<name>` in the stack's JSON, and which document (policy, trust)."""
    statements: tuple[dict, ...]


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def policies_of(doc: dict, stack: str) -> list[Policy]:
    found = []
    resources = doc["resource"]
    for type_ in (*IDENTITY_TYPES, *RESOURCE_POLICY_TYPES):
        for name, body in resources.get(type_, {}).items():
            if "policy" in body:
                found.append(Policy(stack, f"{type_}.{name}", tuple(json.loads(body["policy"])["Statement"])))
    for name, role in resources.get("aws_iam_role", {}).items():
        found.append(
            Policy(stack, f"aws_iam_role.{name} (trust)", tuple(json.loads(role["assume_role_policy"])["Statement"]))
        )
    return found


@pytest.fixture(scope="module")
def stacks(tmp_path_factory) -> dict[str, dict]:
    from ecs_autoscale.model.config import load_config

    folder = tmp_path_factory.mktemp("policies")
    configs = [load_config(path) for path in example_files()]
    configs.append(load_text(folder, seed_text(StackName="SecretsSeed", Secrets=SECRETS)))
    return {name: json.loads(Path(path).read_text()) for name, path in product_synth(configs, folder / "out").items()}


@pytest.fixture(scope="module")
def policies(stacks) -> list[Policy]:
    return [policy for stack, doc in stacks.items() for policy in policies_of(doc, stack)]


def allows(policy: Policy):
    for statement in policy.statements:
        if statement.get("Effect") == "Allow":
            yield statement


# --- the rules ---------------------------------------------------------------------------------------
def star_resource_problems(statement: dict) -> list[str]:
    if "*" not in as_list(statement.get("Resource", [])):
        return []
    problems = []
    pinned = {
        key
        for operator, keys in statement.get("Condition", {}).items()
        if not operator.endswith("IfExists")
        for key, value in keys.items()
        if "*" not in json.dumps(value)
    }
    for action in as_list(statement["Action"]):
        row = SAR["actions"][action]
        own_keys = {k for k in row["condition_keys"] if not k.startswith("aws:")}
        if row["resource_types"] and not pinned & own_keys:
            problems.append(f"Resource '*' for {action}, which takes {row['resource_types']}")
    return problems


def glob(pattern: str) -> re.Pattern:
    return re.compile("^" + "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern) + "$")


def other_stack_problems(stack: str, pattern: str) -> list[str]:
    """Does `pattern` (an ARN, possibly with wildcards) match something of the stack `<stack>-x`?"""
    if pattern == "*" or not isinstance(pattern, str):
        return []
    names = {stack, stack.lower()}
    named = any(name in pattern for name in names) or "${aws_" in pattern
    if ("*" in pattern or "?" in pattern) and not named:
        return [f"{pattern!r} has a wildcard and names nothing of {stack}"]
    problems = []
    for name in names:
        if name in pattern:
            probe = pattern.replace(name, f"{name}-x").replace("*", "a").replace("?", "a")
            if glob(pattern).match(probe):
                problems.append(f"{pattern!r} also matches {probe!r}, a stack named {name}-x")
    return problems


def condition_patterns(statement: dict) -> list[str]:
    return [
        value
        for operator, keys in statement.get("Condition", {}).items()
        if operator.removesuffix("IfExists").startswith("Arn") or "Like" in operator
        for values in keys.values()
        for value in as_list(values)
    ]


def size_condition_problems(statement: dict) -> list[str]:
    sized = [a for a in as_list(statement["Action"]) if set(SIZE_KEYS) & set(SAR["actions"][a]["condition_keys"])]
    if not sized:
        return []
    constrained = {
        key
        for operator, keys in statement.get("Condition", {}).items()
        if operator.startswith("Numeric") and not operator.endswith("IfExists")
        for key in keys
    }
    missing = [key for key in SIZE_KEYS if key not in constrained]
    return [f"{sized} without a condition on {missing}"] if missing else []


def statement_problems(stack: str, statement: dict) -> list[str]:
    if "NotAction" in statement or "NotResource" in statement:
        return ["NotAction/NotResource in an Allow"]
    problems = [f"wildcard action {a!r}" for a in as_list(statement["Action"]) if "*" in a or "?" in a]
    if problems:
        return problems
    problems += star_resource_problems(statement) + size_condition_problems(statement)
    for pattern in [*as_list(statement.get("Resource", [])), *condition_patterns(statement)]:
        problems += other_stack_problems(stack, pattern)
    return problems


# --- the review --------------------------------------------------------------------------------------
def test_the_review_reads_every_kind_of_policy(policies, stacks):
    wheres = {p.where.split(".")[0] for p in policies}
    assert {"aws_iam_role_policy", "aws_iam_policy", "aws_iam_role", "aws_sns_topic", "aws_sqs_queue"} <= wheres
    assert {p.stack for p in policies} == set(stacks)
    assert len(stacks) == len(example_files()) + 1


def test_every_granted_action_is_in_the_service_authorization_extract(policies):
    assert SAR["as_of"] and SAR["source"].startswith(
        "AWS Service Authorization Reference, https://docs.aws.amazon.com/"
    )
    granted = {a for p in policies for st in allows(p) if not _is_trust(st) for a in as_list(st["Action"])}
    missing = sorted(granted - set(SAR["actions"]))
    assert not missing, f"add these actions to security/service-authorization.json: {missing}"
    for action, row in SAR["actions"].items():
        for resource_type in row["resource_types"]:
            assert f"{action.split(':')[0]}:{resource_type.rstrip('*')}" in SAR["resources"], (action, resource_type)


def _is_trust(statement: dict) -> bool:
    return as_list(statement.get("Action")) == ["sts:AssumeRole"] and "Service" in statement.get("Principal", {})


def policy_problems(policy: Policy) -> list[str]:
    found = []
    for st in allows(policy):
        if _is_trust(st):  # who may assume a role: only its conditions' ARN patterns are rules here
            problems = [p for pattern in condition_patterns(st) for p in other_stack_problems(policy.stack, pattern)]
        else:
            problems = statement_problems(policy.stack, st)
        found += [f"{policy.stack} {policy.where} {st.get('Sid', '?')}: {problem}" for problem in problems]
    return found


def test_no_policy_breaks_a_rule(policies):
    found = [problem for policy in policies for problem in policy_problems(policy)]
    assert not found, "policy review failed:\n" + "\n".join(found)


def client_policy(doc: dict, stack: str, suffix: str = "") -> list[dict]:
    [policy] = [p for p in doc["resource"]["aws_iam_policy"].values() if p["name"] == f"{stack}-client{suffix}"]
    return json.loads(policy["policy"])["Statement"]


def test_default_client_policy_reads_nothing_account_wide(stacks):
    for stack, doc in stacks.items():
        wide = {a for st in client_policy(doc, stack) if "*" in as_list(st["Resource"]) for a in as_list(st["Action"])}
        assert wide <= set(DEFAULT_CLIENT_ACCOUNT_WIDE), f"{stack}: {sorted(wide - set(DEFAULT_CLIENT_ACCOUNT_WIDE))}"
        # --stack-name's read of every task definition is in its own, opt-in policy
        [opt_in] = client_policy(doc, stack, "-stack-name")
        assert opt_in["Action"] == ["ecs:DescribeTaskDefinition"] and opt_in["Resource"] == ["*"]


def test_default_client_policy_changes_the_group_only_by_its_desired_capacity(stacks):
    for stack, doc in stacks.items():
        group = {a for st in client_policy(doc, stack) for a in as_list(st["Action"]) if a.startswith("autoscaling:")}
        assert {a for a in group if not a.startswith("autoscaling:Describe")} == {"autoscaling:SetDesiredCapacity"}
        stop = {a for st in client_policy(doc, stack, "-stop") for a in as_list(st["Action"])}
        assert "autoscaling:UpdateAutoScalingGroup" in stop


def test_client_group_update_pins_min_to_zero_max_to_fleet_size_and_nothing_else_iam_can_see(stacks):
    from ecs_autoscale.model.config import load_config

    fleet = {load_config(path).stack_name: load_config(path).fleet_size for path in example_files()}
    for stack, doc in stacks.items():
        [update] = [
            st for st in client_policy(doc, stack, "-stop") if "autoscaling:UpdateAutoScalingGroup" in st["Action"]
        ]
        assert update["Condition"] == {
            "NumericEquals": {"autoscaling:MinSize": "0"},
            "NumericLessThanEquals": {"autoscaling:MaxSize": str(fleet.get(stack, 1))},
            "Null": {
                "autoscaling:VPCZoneIdentifiers": "true",
                "autoscaling:LaunchConfigurationName": "true",
                "autoscaling:InstanceTypes": "true",
            },
        }


def test_alerts_topic_admits_exactly_the_stacks_alarms(stacks):
    from ecs_autoscale.model.naming import ALARM_PURPOSES

    for stack, doc in stacks.items():
        [topic] = doc["resource"]["aws_sns_topic"].values()
        [publish] = [st for st in json.loads(topic["policy"])["Statement"] if st["Effect"] == "Allow"]
        arns = publish["Condition"]["ArnEquals"]["aws:SourceArn"]
        assert [arn.rsplit(":", 1)[1] for arn in arns] == [f"{stack}-{p}" for p in ALARM_PURPOSES]
        alarms = {a["alarm_name"] for a in doc["resource"]["aws_cloudwatch_metric_alarm"].values()}
        assert alarms <= {f"{stack}-{p}" for p in ALARM_PURPOSES}


# --- the rules can fail ------------------------------------------------------------------------------
STACK = "Megadetector"
ACCOUNT = "arn:aws:{service}:us-west-2:123456789012:{resource}"


@pytest.mark.parametrize(
    ("statement", "complaint"),
    [
        # finding 5: the topic policy before issue 20
        (
            {
                "Effect": "Allow",
                "Action": "sns:Publish",
                "Resource": ACCOUNT.format(service="sns", resource="Megadetector-alerts"),
                "Condition": {
                    "ArnLike": {"aws:SourceArn": ACCOUNT.format(service="cloudwatch", resource="alarm:Megadetector-*")}
                },
            },
            "a stack named Megadetector-x",
        ),
        # finding 2: the client's group update before issue 20 (MaxSize only)
        (
            {
                "Effect": "Allow",
                "Action": ["autoscaling:UpdateAutoScalingGroup"],
                "Resource": [
                    ACCOUNT.format(
                        service="autoscaling", resource="autoScalingGroup:*:autoScalingGroupName/Megadetector-gpu-fleet"
                    )
                ],
                "Condition": {"NumericLessThanEquals": {"autoscaling:MaxSize": "4"}},
            },
            "without a condition on ['autoscaling:MinSize']",
        ),
        (
            {
                "Effect": "Allow",
                "Action": ["autoscaling:UpdateAutoScalingGroup"],
                "Resource": [
                    ACCOUNT.format(
                        service="autoscaling", resource="autoScalingGroup:*:autoScalingGroupName/Megadetector-gpu-fleet"
                    )
                ],
                "Condition": {
                    "NumericLessThanEqualsIfExists": {"autoscaling:MaxSize": "4", "autoscaling:MinSize": "0"}
                },
            },
            "without a condition on",
        ),
        ({"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["*"]}, "Resource '*' for s3:GetObject"),
        (
            {"Effect": "Allow", "Action": ["ecs:ListTasks"], "Resource": ["*"]},
            "Resource '*' for ecs:ListTasks",
        ),
        (
            {
                "Effect": "Allow",
                "Action": ["ecs:StopTask"],
                "Resource": [ACCOUNT.format(service="ecs", resource="task/*")],
            },
            "has a wildcard and names nothing of Megadetector",
        ),
        (
            {
                "Effect": "Allow",
                "Action": ["sqs:SendMessage"],
                "Resource": [ACCOUNT.format(service="sqs", resource="Megadetector*")],
            },
            "a stack named Megadetector-x",
        ),
        ({"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}, "wildcard action 'sqs:*'"),
        ({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, "NotAction"),
    ],
)
def test_each_rule_catches_what_it_exists_for(statement, complaint):
    found = statement_problems(STACK, statement)
    assert any(complaint in problem for problem in found), found


def test_the_rules_accept_correctly_scoped_grants_of_the_coming_agent_permissions():
    group = ACCOUNT.format(
        service="autoscaling", resource="autoScalingGroup:*:autoScalingGroupName/Megadetector-gpu-fleet"
    )
    grants = [
        {
            "Effect": "Allow",
            "Action": ["ecs:GetTaskProtection"],
            "Resource": [ACCOUNT.format(service="ecs", resource="task/Megadetector/*")],
        },
        {
            "Effect": "Allow",
            "Action": ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"],
            "Resource": [group],
        },
        {
            "Effect": "Allow",
            "Action": ["ssm:GetParameter", "ssm:PutParameter"],
            "Resource": [ACCOUNT.format(service="ssm", resource="parameter/ecs-autoscale/Megadetector/agent")],
        },
    ]
    assert [statement_problems(STACK, st) for st in grants] == [[], [], []]


def test_the_default_client_policy_rule_fails_on_the_read_of_every_task_definition():
    assert "ecs:DescribeTaskDefinition" not in DEFAULT_CLIENT_ACCOUNT_WIDE
