"""IAM review as a test: who may do what in a synthesized stack (the seed and the spot example).

Read from the Terraform JSON users get (`ecs_autoscale.synthesis.synth.synthesize`), against expectations
written here from the model file, not from the construct code:
- no wildcard action (`*`, `sqs:*`, `s3:Get*`) and no NotAction/NotResource in any Allow;
- every resource is one of this stack's own queues, buckets, log group, cluster, container instances
  or tasks, the model and track-config objects named in the YAML, or the image's ECR repository;
  `*` only for the actions AWS documents as taking no resource (NO_RESOURCE_ACTIONS);
- each role holds exactly the grants in EXPECTED_GRANTS (the instance role: only what the ECS agent
  needs), so any new permission is a reviewed change of this file;
- trust policies let only ecs-tasks (task, execution roles; this account only), ec2 (instance role)
  or scheduler (the queue keep-alive; this account only) assume a role, and no managed or
  standalone policy is attached anywhere;
- bucket and queue resource policies only deny (TLS-only); they grant nothing to anyone.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import yaml
from helpers import EXAMPLES, SEED, product_synth

MODELS = [SEED, EXAMPLES / "fathomnet-spot.yaml"]

# Actions whose "Resource types" column is empty in the AWS Service Authorization Reference, i.e. that
# cannot be scoped and must use "*":
# - ecs:DiscoverPollEndpoint: https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerservice.html
# - ec2:DescribeTags (all EC2 Describe* actions): https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html
# - ecr:GetAuthorizationToken: https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerregistry.html
# - ecs:DescribeTaskDefinition: the ECS page above (no resource type, no condition key)
NO_RESOURCE_ACTIONS = frozenset(
    {
        "ecs:DiscoverPollEndpoint",
        "ec2:DescribeTags",
        "ecr:GetAuthorizationToken",
        "ecs:DescribeTaskDefinition",
    }
)

# role -> {resource label -> actions}; labels are resolved to this stack's ARNs by `own_resources`.
EXPECTED_GRANTS = {
    # The ECS container agent on a GPU instance: join and leave this cluster, report task and container
    # state, receive work, send telemetry, find its endpoints, and ship container logs (the docker awslogs
    # driver on EC2 writes with the instance's credentials). Less than AmazonEC2ContainerServiceforEC2Role:
    # no ecs:CreateCluster (the cluster exists).
    # The instance agent (agent/instance_agent.py): read the video queue's counts, drain its own
    # container instance, terminate its own instance and complete (or heartbeat) its termination hook,
    # halt the group (only to size 0, tag only the halted key: conditions checked in
    # test_agent_conditions_limit_the_group_to_halting), alert the topic, read the task protection of its
    # workers and the submit marker, record milestones in the log group, and pre-pull the model image.
    "instance": {
        "cluster": {
            "ecs:RegisterContainerInstance",
            "ecs:DeregisterContainerInstance",
            "ecs:SubmitContainerStateChange",
            "ecs:SubmitTaskStateChange",
            "ecs:SubmitAttachmentStateChanges",
        },
        "container instances": {
            "ecs:Poll",
            "ecs:StartTelemetrySession",
            "ecs:UpdateContainerInstancesState",
            "ecs:SubmitContainerStateChange",
            "ecs:SubmitTaskStateChange",
        },
        "*": {"ecs:DiscoverPollEndpoint", "ec2:DescribeTags", "ecr:GetAuthorizationToken"},
        "log streams": {"logs:CreateLogStream", "logs:PutLogEvents"},
        "video queue": {"sqs:GetQueueAttributes", "sqs:GetQueueUrl"},
        "autoscaling group": {
            "autoscaling:TerminateInstanceInAutoScalingGroup",
            "autoscaling:CompleteLifecycleAction",
            "autoscaling:RecordLifecycleActionHeartbeat",
            "autoscaling:UpdateAutoScalingGroup",
            "autoscaling:CreateOrUpdateTags",
        },
        "own tasks": {"ecs:GetTaskProtection"},
        "submit marker": {"ssm:GetParameter"},
        "alerts topic": {"sns:Publish"},
        "image repository": {"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"},
    },
    # Starting the task: pull the model image from its ECR repository, write the container's logs.
    "execution": {
        "log streams": {"logs:CreateLogStream", "logs:PutLogEvents"},
        "*": {"ecr:GetAuthorizationToken"},
        "image repository": {"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"},
    },
    # The worker (ecsprocess contract): take videos, report results and failures, read the model.
    "task": {
        "video queue": {
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:ChangeMessageVisibility",
            "sqs:GetQueueAttributes",
            "sqs:GetQueueUrl",
        },
        "track queue": {"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"},
        "dead queue": {"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"},
        "video bucket": {"s3:ListBucket"},
        "tracks bucket": {"s3:ListBucket"},
        "video objects": {"s3:GetObject", "s3:DeleteObject"},
        "tracks objects": {"s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"},
        "model object": {"s3:GetObject"},
        "track config object": {"s3:GetObject"},
        "own tasks": {"ecs:UpdateTaskProtection", "ecs:GetTaskProtection"},
    },
    # EventBridge Scheduler keeping the video queue active (synthesis/constructs/keepalive.py): set the one tag
    # the queue already carries (condition checked in test_constructs), nothing else.
    "queue-keepalive": {"video queue": {"sqs:TagQueue"}},
}
TRUSTED_SERVICE = {
    "instance": "ec2.amazonaws.com",
    "execution": "ecs-tasks.amazonaws.com",
    "task": "ecs-tasks.amazonaws.com",
    "queue-keepalive": "scheduler.amazonaws.com",
}
ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/"
    r"(?P<repo>[a-z0-9._/-]+?)(?:[:@].*)?$"
)
S3_URI = re.compile(r"^s3://(?P<bucket>[^/]+)/(?P<key>.+)$")
# Anything that can grant permissions besides the inline role policies reviewed here.
OTHER_GRANTING_RESOURCES = (
    "aws_iam_policy",
    "aws_iam_role_policy_attachment",
    "aws_iam_policy_attachment",
    "aws_iam_user",
    "aws_iam_user_policy",
    "aws_iam_group",
    "aws_iam_group_policy",
    "aws_iam_access_key",
    "aws_iam_role_policies_exclusive",
    "aws_iam_role_policy_attachments_exclusive",
)


# --- reading the synthesized stack ------------------------------------------------------------------
def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def only_name(doc: dict, section: str, type_: str) -> str:
    names = list(doc.get(section, {}).get(type_, {}))
    assert len(names) == 1, f"expected one {section} {type_}, found {names}"
    return names[0]


def own_resources(doc: dict, model: dict) -> dict[str, set[str]]:
    """Resource label -> the ARN strings (as synthesized) that belong to this model's stack."""
    stack = model["StackName"]
    partition = f"${{data.aws_partition.{only_name(doc, 'data', 'aws_partition')}.partition}}"
    region = f"${{data.aws_region.{only_name(doc, 'data', 'aws_region')}.name}}"
    account = f"${{data.aws_caller_identity.{only_name(doc, 'data', 'aws_caller_identity')}.account_id}}"
    resources = doc["resource"]

    def queue(suffix: str) -> str:
        found = [n for n, q in resources["aws_sqs_queue"].items() if q["name"] == f"{stack}-{suffix}.fifo"]
        assert len(found) == 1, f"no queue {stack}-{suffix}.fifo"
        return f"${{aws_sqs_queue.{found[0]}.arn}}"

    def bucket(purpose: str) -> str:
        found = [
            n for n, b in resources["aws_s3_bucket"].items() if b.get("bucket_prefix") == f"{stack.lower()}-{purpose}-"
        ]
        assert len(found) == 1, f"no {purpose} bucket"
        return f"${{aws_s3_bucket.{found[0]}.arn}}"

    def s3_object(uri: str) -> str:
        match = S3_URI.match(uri)
        return f"arn:{partition}:s3:::{match['bucket']}/{match['key']}"

    ecs = f"arn:{partition}:ecs:{region}:{account}"
    own = {
        # the agent names the video queue by its ARN (its policy is rendered before the queue exists)
        "video queue": {queue("video"), f"arn:{partition}:sqs:{region}:{account}:{stack}-video.fifo"},
        "track queue": {queue("track")},
        "dead queue": {queue("dead")},
        "video bucket": {bucket("video")},
        "tracks bucket": {bucket("tracks")},
        "video objects": {bucket("video") + "/*"},
        "tracks objects": {bucket("tracks") + "/*"},
        "model object": {s3_object(model["model_location"])},
        "track config object": {s3_object(model["track_config"])},
        "log streams": {f"arn:{partition}:logs:{region}:{account}:log-group:/ecs/{stack}:*"},
        "cluster": {f"{ecs}:cluster/{stack}"},
        "container instances": {f"{ecs}:container-instance/{stack}/*"},
        "own tasks": {f"{ecs}:task/{stack}/*"},
        "autoscaling group": {
            f"arn:{partition}:autoscaling:{region}:{account}:autoScalingGroup:*:autoScalingGroupName/{stack}-gpu-fleet"
        },
        "alerts topic": {f"arn:{partition}:sns:{region}:{account}:{stack}-alerts"},
        "submit marker": {f"arn:{partition}:ssm:{region}:{account}:parameter/ecs-autoscale/{stack}/last-submit"},
    }
    image = ECR_IMAGE.match(model["ContainerImage"])
    if image:
        repository = f"repository/{image['repo']}"
        own["image repository"] = {f"arn:{partition}:ecr:{image['region']}:{image['account']}:{repository}"}
    return own


def role_kind(role_name: str, stack: str) -> str:
    for kind in EXPECTED_GRANTS:
        if role_name == f"{stack}-{kind}":
            return kind
    raise AssertionError(f"unexpected IAM role {role_name!r} (not {stack}-instance/-execution/-task/-queue-keepalive)")


def role_policies(doc: dict, stack: str) -> dict[str, list[dict]]:
    """Role kind -> Allow/Deny statements of its inline policies (parsed from the JSON strings)."""
    roles = doc["resource"]["aws_iam_role"]
    out: dict[str, list[dict]] = {role_kind(r["name"], stack): [] for r in roles.values()}
    for address, policy in doc["resource"].get("aws_iam_role_policy", {}).items():
        match = re.fullmatch(r"\$\{aws_iam_role\.([\w-]+)\.(?:id|name)\}", policy["role"])
        assert match and match[1] in roles, f"{address} is not attached to a role of this stack: {policy['role']}"
        out[role_kind(roles[match[1]]["name"], stack)] += json.loads(policy["policy"])["Statement"]
    return out


def violations(doc: dict, model: dict) -> list[str]:
    """Every breach of the rules above (no wildcard action, own resources only) in the role policies."""
    own = own_resources(doc, model)
    allowed_arns = set().union(*own.values())
    found = []
    for kind, statements in role_policies(doc, model["StackName"]).items():
        for st in statements:
            if st.get("Effect") == "Allow":
                found += statement_violations(f"{kind} role, statement {st.get('Sid', '?')}", st, allowed_arns)
    return found


def statement_violations(where: str, st: dict, allowed_arns: set[str]) -> list[str]:
    if "NotAction" in st or "NotResource" in st or "Action" not in st or "Resource" not in st:
        return [f"{where}: Allow needs plain Action and Resource (no NotAction/NotResource)"]
    found = []
    actions, resources = as_list(st["Action"]), as_list(st["Resource"])
    for action in actions:
        if "*" in action or "?" in action:
            found.append(f"{where}: wildcard action {action!r}")
    for resource in resources:
        if resource == "*":
            unscopable = set(actions) - NO_RESOURCE_ACTIONS
            if unscopable:
                found.append(f"{where}: Resource '*' for {sorted(unscopable)}, which take a resource")
        elif resource not in allowed_arns:
            found.append(f"{where}: resource {resource!r} is not one of this stack's own")
    return found


def grants(doc: dict, model: dict) -> dict[str, dict[str, set[str]]]:
    """Role kind -> {resource label -> allowed actions}, as synthesized."""
    label_of = {arn: label for label, arns in own_resources(doc, model).items() for arn in arns}
    label_of["*"] = "*"
    out: dict[str, dict[str, set[str]]] = {}
    for kind, statements in role_policies(doc, model["StackName"]).items():
        table = out.setdefault(kind, {})
        for st in statements:
            assert st.get("Effect") == "Allow", f"{kind} role: unexpected {st.get('Effect')} statement"
            for resource in as_list(st["Resource"]):
                table.setdefault(label_of.get(resource, resource), set()).update(as_list(st["Action"]))
    return out


# --- fixtures -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stacks(tmp_path_factory) -> list[tuple[dict, dict]]:
    """(synthesized stack, model file as written) for the seed and the spot example."""
    from ecs_autoscale.model.config import load_config

    paths = product_synth([load_config(m) for m in MODELS], tmp_path_factory.mktemp("iam"))
    out = []
    for model_path in MODELS:
        model = yaml.safe_load(model_path.read_text())
        out.append((json.loads(Path(paths[model["StackName"]]).read_text()), model))
    return out


@pytest.fixture(params=[m.name for m in MODELS])
def stack(request, stacks) -> tuple[dict, dict]:
    return stacks[[m.name for m in MODELS].index(request.param)]


# --- the review -------------------------------------------------------------------------------------
def test_no_wildcard_action_and_only_own_resources(stack):
    doc, model = stack
    found = violations(doc, model)
    assert not found, "IAM review failed:\n" + "\n".join(found)


def test_each_role_holds_exactly_the_reviewed_grants(stack):
    doc, model = stack
    expected = copy.deepcopy(EXPECTED_GRANTS)
    if not ECR_IMAGE.match(model["ContainerImage"]):
        del expected["execution"]["*"], expected["execution"]["image repository"]
        del expected["instance"]["image repository"]
        expected["instance"]["*"].discard("ecr:GetAuthorizationToken")
    assert grants(doc, model) == expected


def test_agent_conditions_limit_the_group_to_halting(stack):
    """The instance agent may change its group only to size 0, and tag it only with the halted key."""
    doc, model = stack
    by_action = {a: st for st in role_policies(doc, model["StackName"])["instance"] for a in as_list(st["Action"])}
    # and, like the client's stop policy, never with subnets, a launch configuration or instance types
    assert by_action["autoscaling:UpdateAutoScalingGroup"]["Condition"] == {
        "NumericEquals": {"autoscaling:MaxSize": "0", "autoscaling:MinSize": "0"},
        "Null": {
            "autoscaling:VPCZoneIdentifiers": "true",
            "autoscaling:LaunchConfigurationName": "true",
            "autoscaling:InstanceTypes": "true",
        },
    }
    assert by_action["autoscaling:CreateOrUpdateTags"]["Condition"] == {
        "ForAllValues:StringEquals": {"aws:TagKeys": ["ecs-autoscale:halted"]}
    }


def test_instance_role_carries_only_what_the_ecs_agent_needs(stack):
    doc, model = stack
    actions = set().union(*grants(doc, model)["instance"].values())
    assert actions <= set().union(*EXPECTED_GRANTS["instance"].values())
    assert not {a for a in actions if a.split(":")[0] in ("s3", "iam", "kms", "secretsmanager")}
    assert {a for a in actions if a.startswith("ssm:")} == {"ssm:GetParameter"}  # the submit marker only
    assert not {a for a in actions if a.startswith("sqs:") and a not in ("sqs:GetQueueAttributes", "sqs:GetQueueUrl")}


def test_roles_trust_only_ecs_tasks_ec2_or_scheduler(stack):
    doc, model = stack
    account = f"${{data.aws_caller_identity.{only_name(doc, 'data', 'aws_caller_identity')}.account_id}}"
    roles = doc["resource"]["aws_iam_role"]
    assert {role_kind(r["name"], model["StackName"]) for r in roles.values()} == set(EXPECTED_GRANTS)
    for role in roles.values():
        kind = role_kind(role["name"], model["StackName"])
        trust = json.loads(role["assume_role_policy"])
        assert len(trust["Statement"]) == 1, role["name"]
        st = trust["Statement"][0]
        assert (st["Effect"], st["Action"], st["Principal"]) == (
            "Allow",
            "sts:AssumeRole",
            {"Service": TRUSTED_SERVICE[kind]},
        ), role["name"]
        if kind in ("task", "execution", "queue-keepalive"):  # confused-deputy guard: for this account only
            assert st["Condition"] == {"StringEquals": {"aws:SourceAccount": account}}, role["name"]
        else:  # EC2 service role: iam:PassRole (same account only) is the guard
            assert "Condition" not in st, role["name"]
        assert not {"managed_policy_arns", "inline_policy", "permissions_boundary"} & set(role), role["name"]


def test_nothing_else_grants_permissions(stack):
    doc, model = stack
    present = set(doc["resource"]) & set(OTHER_GRANTING_RESOURCES)
    # The one exception: the client's managed policies (reviewed in test_client_policy.py), attached to
    # nobody; the account chooses who runs the client.
    assert present <= {"aws_iam_policy"}, f"permissions outside the reviewed inline role policies: {sorted(present)}"
    stack = model["StackName"]
    assert sorted(p["name"] for p in doc["resource"].get("aws_iam_policy", {}).values()) == [
        f"{stack}-client",
        f"{stack}-client-stack-name",
        f"{stack}-client-stop",
    ]
    profiles = doc["resource"].get("aws_iam_instance_profile", {})
    instance_role = next(n for n, r in doc["resource"]["aws_iam_role"].items() if r["name"].endswith("-instance"))
    assert [p["role"] for p in profiles.values()] == [f"${{aws_iam_role.{instance_role}.name}}"]


def test_bucket_and_queue_policies_only_deny(stack):
    doc, _ = stack
    policies = [
        *doc["resource"].get("aws_s3_bucket_policy", {}).values(),
        *doc["resource"].get("aws_sqs_queue_policy", {}).values(),
        *doc["resource"]["aws_sqs_queue"].values(),
    ]  # queue policies are inline
    assert sum("policy" in p for p in policies) == 5, "two bucket and three queue TLS-only policies expected"
    for policy in policies:
        for st in json.loads(policy["policy"])["Statement"]:
            assert st["Effect"] == "Deny", st
            assert st["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}, st


# --- the review can fail ------------------------------------------------------------------------------
def add_task_statement(doc: dict, statement: dict) -> dict:
    broken = copy.deepcopy(doc)
    for policy in broken["resource"]["aws_iam_role_policy"].values():
        if policy["role"] == "${aws_iam_role.service_task_role.id}":
            parsed = json.loads(policy["policy"])
            parsed["Statement"].append(statement)
            policy["policy"] = json.dumps(parsed)
            return broken
    raise AssertionError("no task role policy found")


@pytest.mark.parametrize(
    ("statement", "complaint"),
    [
        ({"Sid": "Everything", "Effect": "Allow", "Action": "sqs:*", "Resource": "*"}, "wildcard action 'sqs:*'"),
        (
            {"Sid": "AnyBucket", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["*"]},
            "Resource '*' for ['s3:GetObject']",
        ),
        ({"Sid": "Admin", "Effect": "Allow", "Action": "*", "Resource": "*"}, "wildcard action '*'"),
        (
            {
                "Sid": "OtherQueue",
                "Effect": "Allow",
                "Action": "sqs:SendMessage",
                "Resource": "arn:aws:sqs:us-west-2:123456789012:someone-else.fifo",
            },
            "is not one of this stack's own",
        ),
        ({"Sid": "Inverted", "Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, "NotAction"),
    ],
)
def test_review_catches_a_broadened_task_role(stacks, statement, complaint):
    doc, model = stacks[0]
    found = violations(add_task_statement(doc, statement), model)
    assert any(complaint in v for v in found), found
