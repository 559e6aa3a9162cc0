"""The emulator patches `report` and the submit bench rely on (moto in-process, with every patch applied):

- history: launches and terminations of a group's instances are Auto Scaling activities, as on AWS,
  answered by DescribeScalingActivities newest first and paged;
- queue_scale: a full queue answers the same counts and the send path the same checks as moto did,
  now without a pass over every message per send.
"""

from __future__ import annotations

import os
import re
import time

import pytest

pytestmark = pytest.mark.slow  # moto in-process


@pytest.fixture
def aws(monkeypatch):
    for name in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    from ecs_autoscale.emulator import patches

    patches.apply_all()
    import boto3
    from moto import mock_aws

    with mock_aws():
        yield lambda service: boto3.client(service, region_name="us-west-2")


def make_group(aws, name="fleet", max_size=3):
    aws("ec2").create_launch_template(
        LaunchTemplateName=f"{name}-lt", LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "g4dn.xlarge"}
    )
    aws("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName=name,
        MinSize=0,
        MaxSize=max_size,
        DesiredCapacity=0,
        LaunchTemplate={"LaunchTemplateName": f"{name}-lt"},
        AvailabilityZones=["us-west-2a"],
    )


def instance_ids(aws, name="fleet"):
    group = aws("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    return sorted(i["InstanceId"] for i in group["Instances"])


def test_every_launch_and_termination_is_an_activity_naming_its_instance(aws):
    asg = aws("autoscaling")
    make_group(aws)
    make_group(aws, "other")
    assert asg.describe_scaling_activities(AutoScalingGroupName="fleet")["Activities"] == []
    asg.set_desired_capacity(AutoScalingGroupName="fleet", DesiredCapacity=2)
    asg.set_desired_capacity(AutoScalingGroupName="other", DesiredCapacity=1)
    first, second = instance_ids(aws)
    # The instance agent leaves this way; scale-in takes the other one.
    asg.terminate_instance_in_auto_scaling_group(InstanceId=first, ShouldDecrementDesiredCapacity=True)
    asg.set_desired_capacity(AutoScalingGroupName="fleet", DesiredCapacity=0)

    activities = asg.describe_scaling_activities(AutoScalingGroupName="fleet")["Activities"]
    assert len(activities) == 4
    assert [a["Description"] for a in activities[:2]] == [
        f"Terminating EC2 instance: {second}",
        f"Terminating EC2 instance: {first}",
    ]
    assert sorted(a["Description"] for a in activities[2:]) == [
        f"Launching a new EC2 instance: {i}" for i in (first, second)
    ]
    assert all(a["AutoScalingGroupName"] == "fleet" and a["StatusCode"] == "Successful" for a in activities)
    assert all(a["StartTime"] <= a["EndTime"] for a in activities)
    starts = [a["StartTime"] for a in activities]
    assert starts == sorted(starts, reverse=True)  # newest first
    assert "in response to a user request" in activities[1]["Cause"]
    assert "difference between desired and actual capacity" in activities[0]["Cause"]
    assert re.match(r"At \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ an instance was started", activities[-1]["Cause"])
    # EC2 keeps the launch time for the same instance.
    reservations = aws("ec2").describe_instances(InstanceIds=[first])["Reservations"]
    assert reservations[0]["Instances"][0]["LaunchTime"] <= activities[1]["StartTime"]


def test_activities_are_paged_and_filtered_as_aws_does(aws):
    asg = aws("autoscaling")
    make_group(aws, max_size=5)
    asg.set_desired_capacity(AutoScalingGroupName="fleet", DesiredCapacity=5)
    pages, token = [], None
    while True:
        page = asg.describe_scaling_activities(
            AutoScalingGroupName="fleet", MaxRecords=2, **({"NextToken": token} if token else {})
        )
        pages.append(page["Activities"])
        token = page.get("NextToken")
        if not token:
            break
    assert [len(p) for p in pages] == [2, 2, 1]
    every = [a for p in pages for a in p]
    one = asg.describe_scaling_activities(ActivityIds=[every[3]["ActivityId"]])["Activities"]
    assert [a["ActivityId"] for a in one] == [every[3]["ActivityId"]]
    paginated = [a for p in asg.get_paginator("describe_scaling_activities").paginate() for a in p["Activities"]]
    assert {a["ActivityId"] for a in paginated} == {a["ActivityId"] for a in every}


def test_a_full_queue_answers_the_same_counts_and_checks(aws):
    from botocore.exceptions import ClientError

    sqs = aws("sqs")
    url = sqs.create_queue(QueueName="q.fifo", Attributes={"FifoQueue": "true", "DelaySeconds": "600"})["QueueUrl"]
    for i in range(30):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}", MessageGroupId=f"g{i}", MessageDeduplicationId=f"d{i}")
    sqs.send_message(QueueUrl=url, MessageBody="again", MessageGroupId="g0", MessageDeduplicationId="d0")  # dropped
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (attrs["ApproximateNumberOfMessagesDelayed"], attrs["ApproximateNumberOfMessages"]) == ("30", "0")
    assert attrs["ContentBasedDeduplication"] == "false" and attrs["FifoQueue"] == "true"
    with pytest.raises(ClientError, match="MessageDeduplicationId provided explicitly"):
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g")

    sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "0"})
    for i in range(5):
        sqs.send_message(QueueUrl=url, MessageBody=f"n{i}", MessageGroupId=f"h{i}", MessageDeduplicationId=f"e{i}")
    held = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, VisibilityTimeout=60)["Messages"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    counts = [attrs[f"ApproximateNumberOfMessages{s}"] for s in ("", "Delayed", "NotVisible")]
    assert counts == ["3", "30", str(len(held))]


def test_log_events_are_filtered_by_stream_prefix_as_aws_does(aws):
    from botocore.exceptions import ClientError

    logs = aws("logs")
    logs.create_log_group(logGroupName="/ecs/S")
    for stream in ("ecs-autoscale-agent/i-1", "ecs-autoscale-agent/i-2", "worker/S/abc"):
        logs.create_log_stream(logGroupName="/ecs/S", logStreamName=stream)
        logs.put_log_events(
            logGroupName="/ecs/S",
            logStreamName=stream,
            logEvents=[{"timestamp": int(time.time() * 1000), "message": stream}],
        )
    mine = logs.filter_log_events(logGroupName="/ecs/S", logStreamNamePrefix="ecs-autoscale-agent/")["events"]
    assert sorted(e["message"] for e in mine) == ["ecs-autoscale-agent/i-1", "ecs-autoscale-agent/i-2"]
    assert len(logs.filter_log_events(logGroupName="/ecs/S")["events"]) == 3
    assert logs.filter_log_events(logGroupName="/ecs/S", logStreamNamePrefix="none/")["events"] == []
    with pytest.raises(ClientError, match="Cannot specify both"):
        logs.filter_log_events(logGroupName="/ecs/S", logStreamNamePrefix="x", logStreamNames=["worker/S/abc"])


def test_a_mixed_instances_policy_launches_its_first_type(aws):
    aws("ec2").create_launch_template(LaunchTemplateName="mixed-lt", LaunchTemplateData={"ImageId": "ami-12c6146b"})
    aws("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName="mixed",
        MinSize=0,
        MaxSize=2,
        DesiredCapacity=0,
        AvailabilityZones=["us-west-2a"],
        MixedInstancesPolicy={
            "LaunchTemplate": {
                "LaunchTemplateSpecification": {"LaunchTemplateName": "mixed-lt", "Version": "$Latest"},
                "Overrides": [{"InstanceType": "g5.xlarge"}, {"InstanceType": "g4dn.xlarge"}],
            },
            "InstancesDistribution": {"OnDemandAllocationStrategy": "prioritized"},
        },
    )
    aws("autoscaling").set_desired_capacity(AutoScalingGroupName="mixed", DesiredCapacity=2)
    ids = instance_ids(aws, "mixed")
    found = aws("ec2").describe_instances(InstanceIds=ids)["Reservations"]
    assert {i["InstanceType"] for r in found for i in r["Instances"]} == {"g5.xlarge"}
