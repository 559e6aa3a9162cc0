"""Real Terraform (hashicorp/aws 5.100.0) against the emulator with its AWS rules, on a hand-written minimal
stack shaped as issue 19 plans the fleet and the keep-alive: `initial_lifecycle_hook` blocks (a launch hook
and a termination hook), a warm pool with MinSize 0, `suspended_processes = ["AZRebalance"]`, no capacity
rebalance, the launch template's `latest_version` with an `instance_refresh` block, and a Scheduler
keep-alive. What AWS refuses fails the apply; what AWS accepts applies, plans no change and destroys.
"""

from __future__ import annotations

import json

from helpers import terraform, terraform_env

from ecs_autoscale.aws_target import emulator_env
from ecs_autoscale.group import POOL_TERMINATING, release_warm_pool_terminating

NAME = "rules-tf"
OLD_KEEPALIVE = "arn:aws:scheduler:::aws-sdk:sqs:getQueueAttributes"
NEW_KEEPALIVE = "arn:aws:scheduler:::aws-sdk:sqs:tagQueue"


def stack() -> dict:
    hooks = [
        {
            "name": "prepare",
            "lifecycle_transition": "autoscaling:EC2_INSTANCE_LAUNCHING",
            "heartbeat_timeout": 900,
            "default_result": "CONTINUE",
        },
        {
            "name": "drain",
            "lifecycle_transition": "autoscaling:EC2_INSTANCE_TERMINATING",
            "heartbeat_timeout": 3600,
            "default_result": "CONTINUE",
        },
    ]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "scheduler.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    return {
        "terraform": {"required_providers": {"aws": {"source": "hashicorp/aws", "version": "5.100.0"}}},
        "provider": {"aws": [{"region": "us-west-2"}]},
        "variable": {"keepalive_target": {"type": "string"}, "user_data": {"type": "string"}},
        "data": {
            "aws_vpc": {"default": {"default": True}},
            "aws_subnets": {"default": {"filter": [{"name": "vpc-id", "values": ["${data.aws_vpc.default.id}"]}]}},
        },
        "resource": {
            "aws_sqs_queue": {"videos": {"name": f"{NAME}-videos"}},
            "aws_iam_role": {"keepalive": {"name": f"{NAME}-keepalive", "assume_role_policy": json.dumps(trust)}},
            "aws_iam_role_policy": {
                "keepalive": {
                    "name": "tag-video-queue",
                    "role": "${aws_iam_role.keepalive.id}",
                    "policy": json.dumps(
                        {
                            "Version": "2012-10-17",
                            "Statement": [
                                {"Effect": "Allow", "Action": "sqs:TagQueue", "Resource": "${aws_sqs_queue.videos.arn}"}
                            ],
                        }
                    ),
                }
            },
            "aws_scheduler_schedule": {
                "keepalive": {
                    "name": f"{NAME}-keepalive",
                    "schedule_expression": "rate(60 minutes)",
                    "flexible_time_window": [{"mode": "OFF"}],
                    "target": [
                        {
                            "arn": "${var.keepalive_target}",
                            "role_arn": "${aws_iam_role.keepalive.arn}",
                            "input": '{"QueueUrl": "${aws_sqs_queue.videos.url}", "Tags": {"keepalive": "1"}}',
                            "retry_policy": [{"maximum_retry_attempts": 0}],
                        }
                    ],
                    "depends_on": ["aws_iam_role_policy.keepalive"],
                }
            },
            "aws_launch_template": {
                "gpu": {
                    "name": f"{NAME}-gpu",
                    "image_id": "ami-12c6146b",
                    "instance_type": "g4dn.xlarge",
                    "update_default_version": True,
                    "user_data": "${base64encode(var.user_data)}",
                    "metadata_options": [{"http_endpoint": "enabled", "http_tokens": "required"}],
                }
            },
            "aws_autoscaling_group": {
                "gpu": {
                    "name": f"{NAME}-gpu",
                    "min_size": 0,
                    "max_size": 4,
                    "vpc_zone_identifier": "${data.aws_subnets.default.ids}",
                    "launch_template": [
                        {"id": "${aws_launch_template.gpu.id}", "version": "${aws_launch_template.gpu.latest_version}"}
                    ],
                    "initial_lifecycle_hook": hooks,
                    "warm_pool": [{"pool_state": "Stopped", "min_size": 0, "max_group_prepared_capacity": 2}],
                    "suspended_processes": ["AZRebalance"],
                    "capacity_rebalance": False,
                    "protect_from_scale_in": False,
                    "force_delete": True,
                    "instance_refresh": [
                        {"strategy": "Rolling", "preferences": [{"skip_matching": True, "min_healthy_percentage": 100}]}
                    ],
                    "lifecycle": {"ignore_changes": ["desired_capacity"]},
                }
            },
        },
    }


def test_planned_fleet_and_keepalive_apply_refresh_and_destroy(emulator, aws_client, tmp_path):
    workdir = tmp_path / "stack"
    workdir.mkdir()
    (workdir / "main.tf.json").write_text(json.dumps(stack(), indent=1))
    env = terraform_env(tmp_path, emulator_env(emulator))
    asg, group = aws_client("autoscaling"), f"{NAME}-gpu"

    def apply(target: str, user_data: str, ok: tuple[int, ...] = (0,)):
        args = ["apply", "-auto-approve", "-no-color", f"-var=keepalive_target={target}", f"-var=user_data={user_data}"]
        return terraform(args, workdir, env, ok_codes=ok)

    def pool() -> dict[str, dict]:
        return {i["InstanceId"]: i for i in asg.describe_warm_pool(AutoScalingGroupName=group)["Instances"]}

    def complete(hook: str, instances) -> None:
        for instance in instances:
            asg.complete_lifecycle_action(
                AutoScalingGroupName=group,
                LifecycleHookName=hook,
                InstanceId=instance,
                LifecycleActionResult="CONTINUE",
            )

    terraform(["init", "-no-color"], workdir, env)
    # Today's keep-alive: AWS refuses the schedule, so the apply fails (issue 19, defect 1).
    failed = apply(OLD_KEEPALIVE, "#!/bin/bash\necho v1\n", ok=(1,))
    assert "ValidationException" in failed.stderr and "getQueueAttributes API is not supported" in failed.stderr

    apply(NEW_KEEPALIVE, "#!/bin/bash\necho v1\n")
    # initial_lifecycle_hook: the hooks existed before PutWarmPool launched the pool, so it waits to be prepared.
    first = pool()
    assert [i["LifecycleState"] for i in first.values()] == ["Warmed:Pending:Wait"] * 2
    [described] = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"]
    assert [p["ProcessName"] for p in described["SuspendedProcesses"]] == ["AZRebalance"]
    complete("prepare", first)
    keepalive = f"-var=keepalive_target={NEW_KEEPALIVE}"
    plan = ["plan", "-detailed-exitcode", "-no-color", keepalive]
    terraform([*plan, "-var=user_data=#!/bin/bash\necho v1\n"], workdir, env)  # 0: no changes

    # A redeploy with a new launch template: the provider starts an instance refresh; the stale pool
    # instances leave through the termination hook, new ones come through the launch hook. Stopped, no
    # agent completes the termination hook: plain Terraform leaves them waiting its heartbeat timeout, and
    # `ecs-autoscale deploy` releases them after the apply with this very call.
    apply(NEW_KEEPALIVE, "#!/bin/bash\necho v2\n")
    [refresh] = asg.describe_instance_refreshes(AutoScalingGroupName=group)["InstanceRefreshes"]
    assert refresh["Status"] == "InProgress" and refresh["Preferences"]["SkipMatching"] is True
    assert {first_id: pool()[first_id]["LifecycleState"] for first_id in first} == dict.fromkeys(
        first, POOL_TERMINATING
    )
    assert sorted(release_warm_pool_terminating(asg, group, "drain")) == sorted(first)
    fresh = pool()
    assert len(fresh) == 2 and not set(fresh) & set(first)
    assert {i["LaunchTemplate"]["Version"] for i in fresh.values()} == {"2"}
    complete("prepare", fresh)
    [refresh] = asg.describe_instance_refreshes(AutoScalingGroupName=group)["InstanceRefreshes"]
    assert refresh["Status"] == "Successful"
    terraform([*plan, "-var=user_data=#!/bin/bash\necho v2\n"], workdir, env)

    terraform(["destroy", "-auto-approve", "-no-color", keepalive, "-var=user_data=x"], workdir, env)
    assert asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"] == []
    ids = list(first) + list(fresh)
    reservations = aws_client("ec2").describe_instances(InstanceIds=ids)["Reservations"]
    assert {i["State"]["Name"] for r in reservations for i in r["Instances"]} == {"terminated"}
    assert terraform(["state", "list"], workdir, env).stdout.strip() == ""
