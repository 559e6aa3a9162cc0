"""Rules every synthesized IAM policy obeys, checked on the Terraform JSON of every example (and of a
model with Secrets): role inline policies, the client's managed policies, trust policies, and the
topic, queue and bucket resource policies.

1. Every action granted is in security/service-authorization.json, a dated extract of the AWS Service
   Authorization Reference (its source URLs are in the file).
2. No wildcard action, no NotAction/NotResource in an Allow.
3. `Resource: "*"` only for an action that takes no resource type in that extract, or that the
   statement pins to this stack through one of the action's own condition keys (ecs:cluster) with a
   positive operator (ArnEquals, StringEquals; not IfExists, Not or Like) whose every value is the
   exact ARN of one of this stack's own resources (model/naming.py's StackNames).
4. Nothing reaches another stack: an ARN pattern (resource, or an Arn*/​*Like condition value) must not
   match the same ARN of a stack named `<StackName>-x`; a pattern with a wildcard must name this
   stack, or be a path under the ARN of one of its own Terraform resources (`${aws_x.y.arn}/*`: a
   wildcard straight after the reference, `${aws_x.y.arn}*`, also matches `<name>-x`); and no
   wildcard in an ARN's partition, service, region or account (the same name elsewhere).
5. An action that can change a group's size limits (one whose condition keys include
   autoscaling:MinSize / autoscaling:MaxSize) is granted only with MinSize capped at 0 and MaxSize
   capped at the stack's FleetSize (NumericEquals, NumericLessThanEquals or NumericLessThan; a key
   absent from the request matches none of them), and with `Null: true` on each of the action's keys
   for subnets, launch configuration and instance types (policy.py's UNCHANGED_GROUP_SETTINGS).
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
# The default client policy's account-wide grants, each reviewed: of other stacks, they return only what
# Auto Scaling's Describe calls return of every group (docs/operations.md, "Client permissions").
DEFAULT_CLIENT_ACCOUNT_WIDE = {
    "autoscaling:DescribeAutoScalingGroups": "group names, sizes, instances and tags; no resource type exists",
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
SECRETS_KMS_KEY = "arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@dataclass(frozen=True)
class Policy:
    stack: str
    where: str
    """`<type>.<name>` in the stack's JSON, and which document (policy, trust)."""
    statements: tuple[dict, ...]
    path: tuple[str, ...] = ()
    """Where the document is in the stack's JSON: ("resource", type, name, attribute)."""


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def policies_of(doc: dict, stack: str) -> list[Policy]:
    found = []
    resources = doc["resource"]
    for type_ in (*IDENTITY_TYPES, *RESOURCE_POLICY_TYPES):
        for name, body in resources.get(type_, {}).items():
            if "policy" in body:
                found.append(
                    Policy(
                        stack,
                        f"{type_}.{name}",
                        tuple(json.loads(body["policy"])["Statement"]),
                        ("resource", type_, name, "policy"),
                    )
                )
    for name, role in resources.get("aws_iam_role", {}).items():
        found.append(
            Policy(
                stack,
                f"aws_iam_role.{name} (trust)",
                tuple(json.loads(role["assume_role_policy"])["Statement"]),
                ("resource", "aws_iam_role", name, "assume_role_policy"),
            )
        )
    return found


def policy_documents(node, path: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Where a policy document (an object with a `Statement`) is, anywhere in a stack's JSON: in an
    attribute holding JSON text (as Terraform takes policies), in an object, or nested deeper in the JSON
    text of another attribute (a CloudFormation template body)."""
    if isinstance(node, str):
        try:
            node = json.loads(node)
        except ValueError:
            return set()
        if not isinstance(node, (dict, list)):
            return set()
    found = set()
    if isinstance(node, dict):
        if "Statement" in node:
            found.add(path)
        for key, value in node.items():
            found |= policy_documents(value, (*path, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found |= policy_documents(value, (*path, str(index)))
    return found


@pytest.fixture(scope="module")
def configs(tmp_path_factory) -> list:
    from ecs_autoscale.model.config import load_config

    folder = tmp_path_factory.mktemp("models")
    return [load_config(path) for path in example_files()] + [
        load_text(folder, seed_text(StackName="SecretsSeed", Secrets=SECRETS, SecretsKmsKey=SECRETS_KMS_KEY))
    ]


@pytest.fixture(scope="module")
def fleet_sizes(configs) -> dict[str, int]:
    return {config.stack_name: config.fleet_size for config in configs}


@pytest.fixture(scope="module")
def stacks(configs, tmp_path_factory) -> dict[str, dict]:
    out = tmp_path_factory.mktemp("policies") / "out"
    return {name: json.loads(Path(path).read_text()) for name, path in product_synth(configs, out).items()}


@pytest.fixture(scope="module")
def policies(stacks) -> list[Policy]:
    return [policy for stack, doc in stacks.items() for policy in policies_of(doc, stack)]


def allows(policy: Policy):
    for statement in policy.statements:
        if statement.get("Effect") == "Allow":
            yield statement


# --- the rules ---------------------------------------------------------------------------------------
POSITIVE_OPERATORS = ("ArnEquals", "StringEquals")


def own_resource_names(stack: str) -> set[str]:
    from ecs_autoscale.model.naming import StackNames

    return {name for _, name in StackNames(stack).derived().values()}


def names_own_resource(stack: str, value) -> bool:
    """Is `value` the exact ARN of one of this stack's resources (its last name segment one of them)?"""
    if not isinstance(value, str) or "*" in value or "?" in value or not value.startswith("arn:"):
        return False
    return re.split(r"[/:]", value)[-1] in own_resource_names(stack)


def star_resource_problems(stack: str, statement: dict) -> list[str]:
    if "*" not in as_list(statement.get("Resource", [])):
        return []
    problems = []
    pinned = {
        key
        for operator, keys in statement.get("Condition", {}).items()
        if operator in POSITIVE_OPERATORS
        for key, values in keys.items()
        if all(names_own_resource(stack, value) for value in as_list(values))
    }
    for action in as_list(statement["Action"]):
        row = SAR["actions"][action]
        own_keys = {k for k in row["condition_keys"] if not k.startswith("aws:")}
        if row["resource_types"] and not pinned & own_keys:
            problems.append(
                f"Resource '*' for {action}, which takes {row['resource_types']}, not pinned to {stack}'s own"
                f" resource by a positive condition on {sorted(own_keys) or 'a key it has'}"
            )
    return problems


def glob(pattern: str) -> re.Pattern:
    return re.compile("^" + "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern) + "$")


# `${aws_<type>.<name>.arn}/...`: a path under one of the stack's own resources (S3 objects of its bucket).
UNDER_OWN_RESOURCE = re.compile(r"^\$\{aws_\w+\.\w+\.arn\}/")


def other_stack_problems(stack: str, pattern: str) -> list[str]:
    """Does `pattern` (an ARN, possibly with wildcards) match something of the stack `<stack>-x`, or the
    same name in another partition, region or account?"""
    if pattern == "*" or not isinstance(pattern, str):
        return []
    wild = "*" in pattern or "?" in pattern
    if pattern.startswith("arn:") and any("*" in f or "?" in f for f in pattern.split(":", 5)[1:5]):
        return [f"{pattern!r} has a wildcard in its partition, service, region or account"]
    names = {stack, stack.lower()}
    named = any(name in pattern for name in names) or UNDER_OWN_RESOURCE.match(pattern)
    if wild and not named:
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


# The largest size each operator lets through, from its value (a key absent from the request matches none).
UPPER_BOUND_OPERATORS = {"NumericEquals": 0, "NumericLessThanEquals": 0, "NumericLessThan": 1}


def upper_bound(statement: dict, key: str) -> float | None:
    """The largest value of `key` the statement's conditions allow, None when nothing caps it."""
    bounds = []
    for operator, keys in statement.get("Condition", {}).items():
        if operator in UPPER_BOUND_OPERATORS and key in keys:
            try:
                bounds.append(max(float(v) - UPPER_BOUND_OPERATORS[operator] for v in as_list(keys[key])))
            except (TypeError, ValueError):
                continue
    return min(bounds) if bounds else None


def size_condition_problems(statement: dict, fleet_size: int | None = None) -> list[str]:
    """MinSize capped at 0 (no instance pinned on), MaxSize at FleetSize (any cap when not given), and
    nothing else IAM can see: subnets, launch configuration, instance types."""
    from ecs_autoscale.synthesis.policy import UNCHANGED_GROUP_SETTINGS

    sized = [a for a in as_list(statement["Action"]) if set(SIZE_KEYS) & set(SAR["actions"][a]["condition_keys"])]
    if not sized:
        return []
    problems = []
    low = upper_bound(statement, "autoscaling:MinSize")
    if low is None or low > 0:
        problems.append(f"{sized} without a condition capping autoscaling:MinSize at 0 (it could pin instances on)")
    high = upper_bound(statement, "autoscaling:MaxSize")
    if high is None or (fleet_size is not None and high > fleet_size):
        cap = "any bound" if fleet_size is None else f"FleetSize {fleet_size}"
        problems.append(f"{sized} without a condition capping autoscaling:MaxSize at {cap}")
    keys = {k for a in sized for k in SAR["actions"][a]["condition_keys"]}
    null = statement.get("Condition", {}).get("Null", {})
    loose = [k for k in UNCHANGED_GROUP_SETTINGS if k in keys and null.get(k) != "true"]
    if loose:
        problems.append(f"{sized} can also change {loose} (no Null: true on them)")
    return problems


def statement_problems(stack: str, statement: dict, fleet_size: int | None = None) -> list[str]:
    if "NotAction" in statement or "NotResource" in statement:
        return ["NotAction/NotResource in an Allow"]
    problems = [f"wildcard action {a!r}" for a in as_list(statement["Action"]) if "*" in a or "?" in a]
    if problems:
        return problems
    problems += star_resource_problems(stack, statement) + size_condition_problems(statement, fleet_size)
    for pattern in [*as_list(statement.get("Resource", [])), *condition_patterns(statement)]:
        problems += other_stack_problems(stack, pattern)
    return problems


# --- the review --------------------------------------------------------------------------------------
def test_the_review_reads_every_kind_of_policy(policies, stacks):
    wheres = {p.where.split(".")[0] for p in policies}
    assert {"aws_iam_role_policy", "aws_iam_policy", "aws_iam_role", "aws_sns_topic", "aws_sqs_queue"} <= wheres
    assert {p.stack for p in policies} == set(stacks)
    assert len(stacks) == len(example_files()) + 1
    for stack, doc in stacks.items():
        missed = policy_documents(doc) - {p.path for p in policies_of(doc, stack)}
        assert not missed, f"{stack}: policy documents the review does not read: {sorted(missed)}"
    # the model with Secrets and a KMS key: the execution role's kms:Decrypt is among what is reviewed
    decrypt = [st for p in policies if p.stack == "SecretsSeed" for st in p.statements if "kms:Decrypt" in st["Action"]]
    assert len(decrypt) == 1


def test_the_walk_finds_policies_the_review_would_miss():
    document = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*"}]})
    template = {"Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": {"Policies": [
        {"PolicyName": "p", "PolicyDocument": json.loads(document)}]}}}}  # fmt: skip
    doc = {
        "resource": {
            "aws_iam_user_policy": {"u": {"policy": document}},
            "aws_cloudformation_stack": {"s": {"template_body": json.dumps(template), "name": "x"}},
        },
        "data": {"aws_iam_policy_document": {"d": {"json": document}}},
    }
    assert policy_documents(doc) == {
        ("resource", "aws_iam_user_policy", "u", "policy"),
        ("resource", "aws_cloudformation_stack", "s", "template_body", "Resources", "Role", "Properties",
         "Policies", "0", "PolicyDocument"),
        ("data", "aws_iam_policy_document", "d", "json"),
    }  # fmt: skip
    assert policies_of(doc, "x") == []


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


def policy_problems(policy: Policy, fleet_size: int) -> list[str]:
    found = []
    for st in allows(policy):
        if _is_trust(st):  # who may assume a role: only its conditions' ARN patterns are rules here
            problems = [p for pattern in condition_patterns(st) for p in other_stack_problems(policy.stack, pattern)]
        else:
            problems = statement_problems(policy.stack, st, fleet_size)
        found += [f"{policy.stack} {policy.where} {st.get('Sid', '?')}: {problem}" for problem in problems]
    return found


def test_no_policy_breaks_a_rule(policies, fleet_sizes):
    found = [problem for policy in policies for problem in policy_problems(policy, fleet_sizes[policy.stack])]
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


def test_client_group_update_pins_min_to_zero_max_to_fleet_size_and_nothing_else_iam_can_see(stacks, fleet_sizes):
    for stack, doc in stacks.items():
        [update] = [
            st for st in client_policy(doc, stack, "-stop") if "autoscaling:UpdateAutoScalingGroup" in st["Action"]
        ]
        assert update["Condition"] == {
            "NumericEquals": {"autoscaling:MinSize": "0"},
            "NumericLessThanEquals": {"autoscaling:MaxSize": str(fleet_sizes[stack])},
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
GROUP = ACCOUNT.format(service="autoscaling", resource="autoScalingGroup:*:autoScalingGroupName/Megadetector-gpu-fleet")
NOTHING_ELSE = {
    "Null": {
        "autoscaling:VPCZoneIdentifiers": "true",
        "autoscaling:LaunchConfigurationName": "true",
        "autoscaling:InstanceTypes": "true",
    }
}


def update_group(**condition) -> dict:
    return {
        "Effect": "Allow",
        "Action": ["autoscaling:UpdateAutoScalingGroup"],
        "Resource": [GROUP],
        "Condition": condition,
    }


def list_tasks(**condition) -> dict:
    return {"Effect": "Allow", "Action": ["ecs:ListTasks"], "Resource": ["*"], "Condition": condition}


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
            update_group(NumericLessThanEquals={"autoscaling:MaxSize": "4"}, **NOTHING_ELSE),
            "without a condition capping autoscaling:MinSize at 0",
        ),
        (
            update_group(
                NumericLessThanEqualsIfExists={"autoscaling:MaxSize": "4", "autoscaling:MinSize": "0"}, **NOTHING_ELSE
            ),
            "without a condition capping autoscaling:MinSize at 0",
        ),
        # finding 2's attack with both sizes constrained: min 4 pins every instance on
        (
            update_group(
                NumericLessThanEquals={"autoscaling:MinSize": "4", "autoscaling:MaxSize": "4"}, **NOTHING_ELSE
            ),
            "without a condition capping autoscaling:MinSize at 0",
        ),
        # a lower bound constrains nothing that matters
        (
            update_group(NumericGreaterThanEquals={"autoscaling:MinSize": "0", "autoscaling:MaxSize": "0"}),
            "without a condition capping autoscaling:MaxSize",
        ),
        (
            update_group(Null={"autoscaling:MinSize": "false", "autoscaling:MaxSize": "false"}),
            "without a condition capping autoscaling:MinSize at 0",
        ),
        # the agent's halt grant before this fix: sizes pinned, subnets, launch configuration and types free
        (
            update_group(NumericEquals={"autoscaling:MinSize": "0", "autoscaling:MaxSize": "0"}),
            "can also change ['autoscaling:VPCZoneIdentifiers', 'autoscaling:LaunchConfigurationName'",
        ),
        ({"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["*"]}, "Resource '*' for s3:GetObject"),
        ({"Effect": "Allow", "Action": ["ecs:ListTasks"], "Resource": ["*"]}, "Resource '*' for ecs:ListTasks"),
        # `*` pinned by a negative operator, to another stack's cluster, or by a pattern: not pinned to this one
        (
            list_tasks(ArnNotEquals={"ecs:cluster": ACCOUNT.format(service="ecs", resource="cluster/Other")}),
            "Resource '*' for ecs:ListTasks",
        ),
        (
            list_tasks(ArnEquals={"ecs:cluster": ACCOUNT.format(service="ecs", resource="cluster/OtherLab")}),
            "Resource '*' for ecs:ListTasks",
        ),
        (
            list_tasks(ArnEquals={"ecs:cluster": ACCOUNT.format(service="ecs", resource="cluster/Megadetector-x")}),
            "Resource '*' for ecs:ListTasks",
        ),
        (
            list_tasks(
                ArnEqualsIfExists={"ecs:cluster": ACCOUNT.format(service="ecs", resource="cluster/Megadetector")}
            ),
            "Resource '*' for ecs:ListTasks",
        ),
        (list_tasks(StringLike={"ecs:cluster": "*Megadetector*"}), "Resource '*' for ecs:ListTasks"),
        (
            {
                "Effect": "Allow",
                "Action": ["ecs:StopTask"],
                "Resource": [ACCOUNT.format(service="ecs", resource="task/*")],
            },
            "has a wildcard and names nothing of Megadetector",
        ),
        # a wildcard straight after a Terraform reference extends the resource's name: `<cluster>-x`
        (
            {"Effect": "Allow", "Action": ["ecs:StopTask"], "Resource": ["${aws_ecs_cluster.service_cluster.arn}*"]},
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
        # the same name in any region and account
        (
            {"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": ["arn:aws:sqs:*:*:Megadetector-video.fifo"]},
            "has a wildcard in its partition, service, region or account",
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


def test_the_rules_accept_the_stacks_own_pins_and_paths():
    grants = [
        list_tasks(ArnEquals={"ecs:cluster": ACCOUNT.format(service="ecs", resource="cluster/Megadetector")}),
        update_group(NumericEquals={"autoscaling:MinSize": "0", "autoscaling:MaxSize": "0"}, **NOTHING_ELSE),
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["${aws_s3_bucket.buckets_video_bucket.arn}/*"]},
    ]
    assert [statement_problems(STACK, st) for st in grants] == [[], [], []]


def test_the_size_rule_caps_the_maximum_at_the_stacks_fleet_size():
    resize = update_group(
        NumericEquals={"autoscaling:MinSize": "0"}, NumericLessThanEquals={"autoscaling:MaxSize": "8"}, **NOTHING_ELSE
    )
    assert statement_problems(STACK, resize, fleet_size=8) == []
    assert statement_problems(STACK, resize, fleet_size=4) == [
        "['autoscaling:UpdateAutoScalingGroup'] without a condition capping autoscaling:MaxSize at FleetSize 4"
    ]
    under = update_group(NumericEquals={"autoscaling:MinSize": "0"}, NumericLessThan={"autoscaling:MaxSize": "5"})
    assert statement_problems(STACK, {**under, "Condition": {**under["Condition"], **NOTHING_ELSE}}, fleet_size=4) == []


def test_the_default_client_policy_rule_fails_on_the_read_of_every_task_definition():
    assert "ecs:DescribeTaskDefinition" not in DEFAULT_CLIENT_ACCOUNT_WIDE
