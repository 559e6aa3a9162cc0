"""The request check of the emulator (ecs_autoscale/emulator/{wire,model_check,request_log}.py).

Wire requests are made by real boto3 clients (botocore's own serializers, one per protocol) and
captured before they are sent, so the reader is tested against the formats AWS SDKs really write:
every valid call must read back as its parameters with no problem, and each kind of invalid one
(parameter_validation off, as a client without botocore's checks would send it) must be named.
The end-to-end path through a real emulator: tests/emulator/test_request_check_emulator.py.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
from urllib.parse import urlsplit

import boto3
import botocore.session
import pytest
from botocore.config import Config
from support.request_check import SQS_ATTRIBUTE_NAMES

from ecs_autoscale.emulator.model_check import check, java_pattern, verdict
from ecs_autoscale.emulator.request_log import RequestLog, report
from ecs_autoscale.emulator.wire import HttpRequest, Unparseable, parse

# The services Terraform and the client call (emulator traffic of the end-to-end tests).
STACK_SERVICES = (
    "sqs",
    "ecs",
    "logs",
    "ssm",
    "application-autoscaling",
    "autoscaling",
    "ec2",
    "iam",
    "sts",
    "s3",
    "cloudwatch",
)


class _Captured(Exception):
    def __init__(self, request):
        self.request = request


@functools.cache
def _client(service: str, validate: bool):
    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-west-2")
    client = session.client(
        service,
        endpoint_url="http://127.0.0.1:9",
        config=Config(parameter_validation=validate, retries={"max_attempts": 0}, s3={"addressing_style": "path"}),
    )

    def capture(request, **_):
        raise _Captured(request)

    client.meta.events.register("before-send", capture)
    return client


def wire(service: str, operation: str, params: dict, validate: bool = True) -> HttpRequest:
    """The HTTP request boto3 would send for `operation(**params)`, without sending it."""
    client = _client(service, validate)
    with pytest.raises(_Captured) as captured:
        getattr(client, botocore.xform_name(operation))(**params)
    sent = captured.value.request
    url = urlsplit(sent.url)
    body = sent.body or b""
    body = body.read() if hasattr(body, "read") else body
    headers = {k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in sent.headers.items()}
    return HttpRequest(
        sent.method, url.path or "/", url.query, headers, body.encode() if isinstance(body, str) else bytes(body)
    )


def problems_of(request: HttpRequest) -> list[tuple[str, str]]:
    return check(parse(request))


VALID = [
    (
        "sqs",
        "CreateQueue",
        {
            "QueueName": "Jobs-video.fifo",
            "Attributes": {"FifoQueue": "true", "VisibilityTimeout": "7200"},
            "tags": {"ManagedBy": "ecs-autoscale"},
        },
    ),
    (
        "ecs",
        "RegisterTaskDefinition",
        {
            "family": "strongsort-yolov5",
            "requiresCompatibilities": ["EC2"],
            "containerDefinitions": [
                {
                    "name": "M",
                    "image": "repo/img:1",
                    "memoryReservation": 3072,
                    "essential": True,
                    "resourceRequirements": [{"type": "GPU", "value": "1"}],
                }
            ],
        },
    ),
    (
        "autoscaling",
        "CreateAutoScalingGroup",
        {
            "AutoScalingGroupName": "M-gpu",
            "MinSize": 0,
            "MaxSize": 3,
            "VPCZoneIdentifier": "subnet-1,subnet-2",
            "MixedInstancesPolicy": {
                "LaunchTemplate": {
                    "LaunchTemplateSpecification": {"LaunchTemplateId": "lt-0123456789abcdef0", "Version": "$Latest"},
                    "Overrides": [{"InstanceType": "g4dn.xlarge"}, {"InstanceType": "g5.xlarge"}],
                }
            },
            "Tags": [{"Key": "AmazonECSManaged", "Value": "true", "PropagateAtLaunch": True}],
            "TerminationPolicies": [],
        },
    ),
    (
        "autoscaling",
        "PutScheduledUpdateGroupAction",
        {
            "AutoScalingGroupName": "M-gpu",
            "ScheduledActionName": "a",
            "StartTime": dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
        },
    ),
    (
        "iam",
        "CreateRole",
        {
            "RoleName": "M-instance",
            "AssumeRolePolicyDocument": "{}",
            "Tags": [{"Key": "ManagedBy", "Value": "ecs-autoscale"}],
        },
    ),
    ("sns", "CreateTopic", {"Name": "t", "Attributes": {"DisplayName": "x", "Policy": "{}"}}),  # query maps
    (
        "ec2",
        "DescribeSubnets",
        {
            "Filters": [{"Name": "vpc-id", "Values": ["vpc-1"]}, {"Name": "default-for-az", "Values": ["true"]}],
            "MaxResults": 50,
        },
    ),
    (
        "ec2",
        "CreateLaunchTemplate",
        {
            "LaunchTemplateName": "M-gpu",
            "LaunchTemplateData": {
                "ImageId": "ami-1",
                "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 30, "Encrypted": True}}],
                "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "w"}]}],
                "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 1},
            },
        },
    ),
    (
        "cloudwatch",
        "PutMetricAlarm",
        {  # smithy-rpc-v2-cbor
            "AlarmName": "M-backlog",
            "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 0.5,
            "Metrics": [{"Id": "backlog", "Expression": "visible + inflight", "ReturnData": True}],
        },
    ),
    (
        "cloudwatch",
        "GetMetricData",
        {
            "MetricDataQueries": [{"Id": "a", "Expression": "SEARCH('x', 'Sum', 60)"}],
            "StartTime": dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc),
            "EndTime": dt.datetime(2030, 1, 2, tzinfo=dt.timezone.utc),
        },
    ),
    (
        "s3",
        "PutBucketLifecycleConfiguration",
        {
            "Bucket": "m-video-1",
            "LifecycleConfiguration": {
                "Rules": [
                    {
                        "ID": "old",
                        "Status": "Enabled",
                        "Filter": {"Prefix": ""},
                        "NoncurrentVersionExpiration": {"NoncurrentDays": 7},
                    },
                    {
                        "ID": "abort",
                        "Status": "Enabled",
                        "Filter": {"Prefix": "videos/"},
                        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                    },
                ]
            },
        },
    ),
    (
        "s3",
        "PutObject",
        {
            "Bucket": "m-video-1",
            "Key": "dive 1/vïdeo.mp4",
            "Body": b"x",
            "Metadata": {"job": "dive-1"},
            "ContentType": "video/mp4",
        },
    ),
    ("s3", "ListObjectsV2", {"Bucket": "m-video-1", "Prefix": "dive-1/", "Delimiter": "/", "MaxKeys": 10}),
    ("s3", "PutBucketTagging", {"Bucket": "m-video-1", "Tagging": {"TagSet": [{"Key": "a", "Value": "b"}]}}),
    ("lambda", "ListFunctions", {"MaxItems": 5, "Marker": "m"}),  # rest-json, query string members
    (
        "lambda",
        "TagResource",
        {"Resource": "arn:aws:lambda:us-west-2:123456789012:function:f", "Tags": {"a": "b"}},
    ),  # rest-json body
]


@pytest.mark.parametrize("service, operation, params", VALID, ids=[f"{s}-{o}" for s, o, _ in VALID])
def test_a_valid_request_reads_back_as_its_parameters(service, operation, params):
    call, problems = verdict(parse(wire(service, operation, params)))
    assert (call.service, call.operation) == (service, operation)
    for name, value in params.items():
        if name != "Body":  # a payload stays bytes
            assert call.params[name] == value, name
    assert problems == []


INVALID = [
    # (service, operation, params, member, words of the problem)
    (
        "sqs",
        "CreateQueue",
        {"QueueName": "Jobs", "Attributes": {"VisibiltyTimeout": "60"}},
        "Attributes (key 'VisibiltyTimeout')",
        "is not one of All, Policy",
    ),
    (
        "iam",
        "CreateRole",
        {"RoleName": "R" * 65, "AssumeRolePolicyDocument": "{}"},
        "RoleName",
        "65 characters, at most 64 allowed",
    ),
    (
        "iam",
        "CreateRole",
        {"RoleName": "bad role", "AssumeRolePolicyDocument": "{}"},
        "RoleName",
        "does not match the pattern",
    ),
    ("iam", "TagRole", {"RoleName": "r", "Tags": [{"Key": "a#b", "Value": "v"}]}, "Tags[0].Key", "pattern"),
    (
        "cloudwatch",
        "PutMetricAlarm",
        {"AlarmName": "a", "EvaluationPeriods": 1, "ComparisonOperator": "Bigger"},
        "ComparisonOperator",
        "'Bigger' is not one of",
    ),
    (
        "autoscaling",
        "CreateAutoScalingGroup",
        {"AutoScalingGroupName": "g", "MinSize": 0},
        "(input)",
        'Missing required parameter in input: "MaxSize"',
    ),
    ("ec2", "DescribeSubnets", {"MaxResults": 2000}, "MaxResults", "2000 is above the maximum 1000"),
    (
        "ecs",
        "RegisterTaskDefinition",
        {"family": "f", "containerDefinitions": [{"name": "c", "memory": "lots"}]},
        "containerDefinitions[0].memory",
        "Invalid type",
    ),
    (
        "autoscaling",
        "SetDesiredCapacity",
        {"AutoScalingGroupName": "g", "DesiredCapacity": "two"},
        "DesiredCapacity",
        "Invalid type",
    ),
    (
        "s3",
        "PutBucketVersioning",
        {"Bucket": "b", "VersioningConfiguration": {"Status": "On"}},
        "VersioningConfiguration.Status",
        "'On' is not one of Enabled, Suspended",
    ),
    ("s3", "PutObject", {"Bucket": "b", "Key": "k", "StorageClass": "COLD"}, "StorageClass", "not one of"),
]


@pytest.mark.parametrize(
    "service, operation, params, member, words", INVALID, ids=[f"{s}-{o}-{m}" for s, o, _, m, _ in INVALID]
)
def test_an_invalid_request_is_named_with_member_and_problem(service, operation, params, member, words):
    problems = problems_of(wire(service, operation, params, validate=False))
    assert any(m == member and words in text for m, text in problems), problems


def signed(service: str, body: bytes = b"", method: str = "POST", path: str = "/", **headers: str) -> HttpRequest:
    """A request signed for `service` (the checker reads the scope, not the signature)."""
    auth = (
        f"AWS4-HMAC-SHA256 Credential=test/20300101/us-west-2/{service}/aws4_request, SignedHeaders=host, Signature=0"
    )
    return HttpRequest(
        method, path, "", {"authorization": auth, **{k.replace("_", "-"): v for k, v in headers.items()}}, body
    )


def form_request(service: str, body: str) -> HttpRequest:
    return signed(service, body.encode(), content_type="application/x-www-form-urlencoded; charset=utf-8")


def test_an_unknown_query_parameter_and_a_wrong_api_version_are_problems():
    base = "Action=SetDesiredCapacity&AutoScalingGroupName=g&DesiredCapacity=1"
    assert problems_of(form_request("autoscaling", base + "&Version=2011-01-01")) == []
    assert problems_of(form_request("autoscaling", base + "&Version=2011-01-01&Honor=true")) == [
        ("Honor", "unknown parameter")
    ]
    assert [m for m, _ in problems_of(form_request("autoscaling", base + "&Version=2010-08-01"))] == ["Version"]


@pytest.mark.parametrize(
    "request_, words",
    [
        (HttpRequest("POST", "/", "", {"x-amz-target": "AmazonSQS.CreateQueue"}, b"{}"), "no SigV4 signature"),
        (signed("sqs", b"{}", x_amz_target="AmazonSQS.MakeQueue"), "sqs has no operation 'MakeQueue'"),
        (signed("sqs", b"{nope", x_amz_target="AmazonSQS.CreateQueue"), "body is not JSON"),
        (signed("sqs", b"{}", x_amz_target="AmazonSNS.CreateQueue"), "does not start with 'AmazonSQS'"),
        (signed("s3", method="PATCH", path="/a/b/c"), "no s3 operation is PATCH"),
        (signed("s3", b"<nope", method="PUT", path="/b", content_type="application/xml"), "body is not XML"),
        (form_request("nosuchservice", "Action=X"), "which no botocore service model signs as"),
        (signed("ecs", b"{}"), "not a request of any ecs protocol"),
    ],
    ids=[
        "unsigned",
        "unknown-operation",
        "bad-json",
        "wrong-target",
        "no-rest-route",
        "bad-xml",
        "unknown-service",
        "no-protocol",
    ],
)
def test_an_unreadable_request_says_why(request_, words):
    with pytest.raises(Unparseable, match=words):
        parse(request_)


def test_the_recorder_flags_an_invalid_request_and_passes_it_on_unchanged():
    from werkzeug.test import EnvironBuilder

    request = wire("sqs", "CreateQueue", {"QueueName": "q", "Attributes": {"Bogus": "1"}}, validate=False)
    environ = EnvironBuilder(method="POST", path="/", headers=request.headers, data=request.body).get_environ()
    seen = []

    def app(env, start_response):
        seen.append(env["wsgi.input"].read())
        start_response("200 OK", [])
        return [b""]

    log = RequestLog()
    log.wrap(app)(environ, lambda *a: None)
    assert seen == [request.body]
    [rejection] = log.take_unreported()
    assert rejection.lines() == [
        f"sqs CreateQueue (from boto3): Attributes (key 'Bogus'): 'Bogus' is not one of {SQS_ATTRIBUTE_NAMES}"
    ]
    assert log.take_unreported() == []  # reported once


def test_an_unreadable_request_is_a_rejection_not_skipped_and_repeats_are_counted():
    log = RequestLog()
    log.record(HttpRequest("GET", "/", "", {}))
    log.record(HttpRequest("GET", "/", "", {}))
    assert report(log.rejections).splitlines()[1:] == [
        "? GET / (from unknown): unreadable: no SigV4 signature (Authorization header or X-Amz-Credential): "
        "AWS cannot route it [2 requests]"
    ]


def test_every_pattern_of_the_stack_services_compiles():
    session = botocore.session.get_session()
    uncompiled = [
        (service, name)
        for service in STACK_SERVICES
        for model in [session.get_service_model(service)]
        for name in model.shape_names
        if "pattern" in model.shape_for(name).metadata
        and java_pattern(model.shape_for(name).metadata["pattern"]) is None
    ]
    assert uncompiled == []


@pytest.mark.parametrize(
    "pattern, value, matches",
    [
        (r"\p{Print}+", "policy-1", True),
        (r"^\p{Print}+$", "pólicy", False),  # Java's \p{Print} is ASCII
        (r"^[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\r\n\t]*$", "a 😀 b", True),  # surrogate pair
        (r"^[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\r\n\t]*$", "a\x01", False),
        (r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+", "Grüße 1", True),
        (r"[\w+=,.@-]+", "role name", False),  # AWS matches the whole value
        (r"[a-zA-Z0-9_.-]+", '"table"', False),  # aws/aws-cli#790
    ],
)
def test_java_patterns_mean_what_aws_means(pattern, value, matches):
    assert bool(java_pattern(pattern).fullmatch(value)) is matches


def test_a_body_that_never_arrived_whole_is_left_out():
    log = RequestLog()
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/", "CONTENT_LENGTH": "100", "wsgi.input": io.BytesIO(b"{}")}
    log.wrap(lambda env, start: [b""])(environ, lambda *a: None)
    assert log.rejections == [] and sum(log.operations.values()) == 0
