"""The deploy lifecycle end to end: real `ecs-autoscale` processes running real Terraform (provider from the
mirror) against the emulator the tests start (conftest.py).

Deployments are module-scoped and shared where the assertions are about the same deployment: the seed
example (outputs, worker contract, no-change redeploy and plan, concurrent deploy, destroy) and the
second example (reviewed plans, survives the seed's destroy). Tests that change a shared deployment run
after those that read it (file order). The interrupted apply and the S3 backend use their own
StackNames; `cdktf deploy` is in test_cdktf_deploy.py.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path

import pytest
from helpers import CLI, EXAMPLES, SEED, seed_text, write_model
from support.cli_runs import managed_addresses, one_line, outputs_of, planned_creates, read_until, start_cli, state_of

FATHOMNET = EXAMPLES / "fathomnet-spot.yaml"


# --- shared deployments ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def seed(ecs_cli, tmp_path_factory):
    """The seed example deployed as users would: `deploy examples/megadetector.yaml STACK_DIR`."""
    stack_dir = tmp_path_factory.mktemp("megadetector")
    deployed = ecs_cli("deploy", SEED, stack_dir, "--auto-approve")
    return stack_dir, deployed


@pytest.fixture(scope="module")
def fathomnet(ecs_cli, tmp_path_factory):
    stack_dir = tmp_path_factory.mktemp("fathomnet")
    ecs_cli("deploy", FATHOMNET, stack_dir, "--auto-approve")
    return stack_dir


# --- deploy ----------------------------------------------------------------------------------------------
def test_deploy_without_terminal_or_auto_approve_fails_at_once(ecs_cli, tmp_path):
    stack_dir = tmp_path / "stack"
    refused = ecs_cli("deploy", SEED, stack_dir, check=False)
    assert refused.returncode == 1
    assert "no terminal" in one_line(refused.stderr) and "--auto-approve" in refused.stderr
    assert not stack_dir.exists()


def test_deploy_of_a_stopped_stack_is_refused_until_resume(ecs_cli, tmp_path):
    # An apply would restore the limits `stop` lowered: an emergency stop must not be undone silently.
    stack_dir = tmp_path / "stack"
    stack_dir.mkdir()
    (stack_dir / "stopped.json").write_text('{"stopped_at": "2026-11-25T00:00:00Z"}')
    refused = ecs_cli("deploy", SEED, stack_dir, "--auto-approve", check=False)
    assert refused.returncode == 1
    assert "is stopped" in one_line(refused.stderr) and "ecs-autoscale resume" in refused.stderr
    assert sorted(p.name for p in stack_dir.iterdir()) == ["stopped.json"]


def test_provider_mirror_and_endpoint_are_checked_before_anything_runs(ecs_cli, tmp_path):
    stack_dir = tmp_path / "stack"
    bad_mirror = ecs_cli("deploy", SEED, stack_dir, "--auto-approve", "--provider-mirror", tmp_path, check=False)
    assert bad_mirror.returncode == 2
    assert "has no registry.terraform.io/hashicorp/aws/" in bad_mirror.stderr
    bad_url = ecs_cli("plan", SEED, stack_dir, env={"ECS_AUTOSCALE_ENDPOINT_URL": "localhost:4566"}, check=False)
    assert bad_url.returncode == 2 and "is not a URL like http://127.0.0.1:4566" in bad_url.stderr
    assert not stack_dir.exists()


def test_plan_works_with_a_relative_stack_dir_as_in_the_readme(cli_env, tmp_path):
    # `deploy examples/x.yaml stacks/x` is the documented form; terraform runs in STACK_DIR/terraform.
    model = write_model(tmp_path, seed_text(StackName="RelativeDir"))
    proc = subprocess.run(
        [str(CLI), "plan", str(model), "stacks/relative"],
        cwd=tmp_path,
        env=cli_env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "stacks" / "relative" / "plans" / "review.tfplan").is_file()


def test_deploy_writes_every_stack_output_state_plan_and_log(seed, emulator):
    from ecs_autoscale.model.outputs import STACK_OUTPUTS

    stack_dir, deployed = seed
    outputs = outputs_of(stack_dir)
    assert set(outputs) == {output.name for output in STACK_OUTPUTS}
    # capacity_provider_name stays, empty, for scripts that read it (the group is sized directly now).
    assert outputs["capacity_provider_name"] == ""
    assert all(value not in ("", None) for name, value in outputs.items() if name != "capacity_provider_name"), outputs
    assert outputs["stack_name"] == "Megadetector" and outputs["region"] == "us-west-2"
    assert outputs["video_queue_name"] == "Megadetector-video.fifo"
    assert outputs["video_queue_url"].startswith(emulator)
    assert outputs["tracks_bucket"].startswith("megadetector-tracks-")

    # State: local backend inside STACK_DIR, workspace = StackName, holding everything the plan created.
    state = state_of(stack_dir, "Megadetector")
    assert managed_addresses(state) == planned_creates(stack_dir / "plans" / "deploy.json")
    state_files = [p.relative_to(stack_dir) for p in stack_dir.rglob("*.tfstate") if ".terraform" not in p.parts]
    assert state_files == [Path("state/Megadetector/terraform.tfstate")]  # .terraform/ holds backend settings
    assert "Apply complete!" in (stack_dir / "logs" / "apply.log").read_text()
    assert "aws_sqs_queue.queues_video" in (stack_dir / "plans" / "deploy.txt").read_text()

    # Progress: what was created and how long it took, not Terraform's full output.
    assert re.search(r"\[\d+/\d+\] created aws_sqs_queue\.queues_video \(\d", deployed.stdout)
    assert "Creation complete after" not in deployed.stdout  # Terraform's own lines stay in the log

    readme = (stack_dir / "README.md").read_text()
    for value in (outputs["video_queue_name"], outputs["tracks_bucket"], f"ecs-autoscale submit {stack_dir}"):
        assert value in readme


def test_task_definition_carries_the_worker_environment_contract(seed, aws_client):
    from ecs_autoscale.model.config import load_config

    stack_dir, _ = seed
    outputs = outputs_of(stack_dir)
    config = load_config(SEED)
    task = aws_client("ecs").describe_task_definition(taskDefinition=outputs["task_definition_arn"])["taskDefinition"]
    (container,) = task["containerDefinitions"]
    assert container["name"] == "Megadetector"
    assert container["image"] == config.container_image
    assert container["command"][:4] == ["dettrack", "-c", config.track_config.uri, "--model-s3"]
    assert container["command"][4] == config.model_location.uri
    environment = {item["name"]: item["value"] for item in container["environment"]}
    assert environment == {
        "PROCESSOR": "Megadetector",
        "VIDEO_QUEUE": outputs["video_queue_name"],
        "TRACK_QUEUE": outputs["track_queue_name"],
        "DEAD_QUEUE": outputs["dead_queue_name"],
        "VIDEO_BUCKET": outputs["video_bucket"],
        "TRACK_BUCKET": outputs["tracks_bucket"],
        "AWS_REGION": "us-west-2",
        "DEFAULT_MAX_CALL_ATTEMPTS": "6",
    }


def test_cloudformation_lookup_stack_lists_a_task_definition_with_the_same_contract(seed, aws_client):
    """What deepsea-ai reads: ListStackResources(StackName) -> first AWS::ECS::TaskDefinition -> its env."""
    stack_dir, _ = seed
    outputs = outputs_of(stack_dir)
    ecs = aws_client("ecs")
    (stack,) = aws_client("cloudformation").describe_stacks(StackName="Megadetector")["Stacks"]
    # made with the deployer's credentials: no service role
    assert stack["StackStatus"] == "CREATE_COMPLETE" and "RoleARN" not in stack
    assert {"Key": "ecs-autoscale:stack", "Value": "Megadetector"} in stack["Tags"]
    summaries = aws_client("cloudformation").list_stack_resources(StackName="Megadetector")["StackResourceSummaries"]
    assert [r["ResourceType"] for r in summaries] == ["AWS::ECS::TaskDefinition"]
    record = ecs.describe_task_definition(taskDefinition=summaries[0]["PhysicalResourceId"])["taskDefinition"]
    worker = ecs.describe_task_definition(taskDefinition=outputs["task_definition_arn"])["taskDefinition"]
    assert record["family"] == "Megadetector-deepsea-ai-lookup" != worker["family"]
    assert "taskRoleArn" not in record and "executionRoleArn" not in record

    def env(task):
        return {e["name"]: e["value"] for e in task["containerDefinitions"][0]["environment"]}

    assert env(record) == env(worker)


def test_second_deploy_and_plan_after_deploy_report_no_changes(seed, ecs_cli):
    stack_dir, _ = seed
    serial = state_of(stack_dir, "Megadetector")["serial"]

    again = ecs_cli("deploy", SEED, stack_dir, "--auto-approve", "-v")
    assert "0 to add, 0 to change, 0 to destroy" in again.stdout
    assert "No changes: Megadetector is up to date." in again.stdout
    assert "Your infrastructure matches the configuration." in again.stdout  # -v: Terraform's own output
    assert state_of(stack_dir, "Megadetector")["serial"] == serial

    reviewed = ecs_cli("plan", SEED, stack_dir)
    assert "No changes" in reviewed.stdout
    plan = json.loads((stack_dir / "plans" / "review.json").read_text())
    assert {tuple(c["change"]["actions"]) for c in plan["resource_changes"]} <= {("no-op",), ("read",)}


def test_outputs_rewrites_outputs_json_from_the_state(seed, ecs_cli):
    stack_dir, _ = seed
    written = outputs_of(stack_dir)
    (stack_dir / "outputs.json").unlink()
    shown = ecs_cli("outputs", SEED, stack_dir)
    assert outputs_of(stack_dir) == written
    assert f"video_queue_url = {written['video_queue_url']}" in shown.stdout


def test_a_stack_dir_holds_one_model_only(seed, ecs_cli):
    stack_dir, _ = seed
    identity = (stack_dir / "stack.json").read_text()
    refused = ecs_cli("deploy", FATHOMNET, stack_dir, "--auto-approve", check=False)
    assert refused.returncode == 1
    assert "holds stack 'Megadetector', not 'fathomnet-benthic'" in one_line(refused.stderr)
    assert (stack_dir / "stack.json").read_text() == identity


def test_second_concurrent_deploy_of_one_stack_dir_fails_at_once(seed, ecs_cli, cli_env):
    stack_dir, _ = seed
    serial = state_of(stack_dir, "Megadetector")["serial"]
    first = start_cli(cli_env, "deploy", SEED, stack_dir, "--auto-approve")
    try:
        read_until(first, r"^Planning Megadetector")  # holds the STACK_DIR lock from here to its end
        second = ecs_cli("deploy", SEED, stack_dir, "--auto-approve", check=False, timeout=60)
    finally:
        rest, errors = first.communicate(timeout=900)
    assert second.returncode == 1
    line = one_line(second.stderr)
    assert f"{stack_dir} is in use by `ecs-autoscale deploy` (pid {first.pid}" in line
    assert "nothing was changed" in line
    assert first.returncode == 0, errors
    assert "No changes" in rest
    assert state_of(stack_dir, "Megadetector")["serial"] == serial


# --- reviewed plans ----------------------------------------------------------------------------------------
def test_reviewed_plan_is_applied_exactly_and_a_changed_or_stale_one_is_refused(
    fathomnet, ecs_cli, aws_client, tmp_path
):
    stack_dir = fathomnet
    review = stack_dir / "plans" / "review.tfplan"
    changed = write_model(tmp_path, FATHOMNET.read_text().replace("LogRetentionDays: 90", "LogRetentionDays: 60"))
    assert changed.read_text() != FATHOMNET.read_text()

    planned = ecs_cli("plan", changed, stack_dir)
    assert f"--plan-file {review}" in planned.stdout
    assert "0 to add, 1 to change, 0 to destroy" in planned.stdout
    assert "~ aws_cloudwatch_log_group.service_logs" in planned.stdout
    assert "retention_in_days" in (stack_dir / "plans" / "review.txt").read_text()

    other_model = ecs_cli("deploy", FATHOMNET, stack_dir, "--plan-file", review, check=False)
    assert other_model.returncode == 1 and "changed since" in one_line(other_model.stderr)

    applied = ecs_cli("deploy", changed, stack_dir, "--plan-file", review)  # no --auto-approve: it was reviewed
    assert "Apply complete! Resources: 0 added, 1 changed, 0 destroyed." in applied.stdout
    (group,) = aws_client("logs").describe_log_groups(logGroupNamePrefix="/ecs/fathomnet-benthic")["logGroups"]
    assert group["retentionInDays"] == 60

    twice = ecs_cli("deploy", changed, stack_dir, "--plan-file", review, check=False)
    assert twice.returncode == 1 and "already applied" in one_line(twice.stderr)

    # A plan reviewed before someone else changed the stack is stale: Terraform refuses, we explain.
    ecs_cli("plan", FATHOMNET, stack_dir)
    ecs_cli("deploy", FATHOMNET, stack_dir, "--auto-approve")
    stale = ecs_cli("deploy", FATHOMNET, stack_dir, "--plan-file", review, check=False)
    assert stale.returncode == 1
    assert "Saved plan is stale" in stale.stderr  # Terraform's own words reach the user
    last = stale.stderr.rstrip().splitlines()[-1]
    assert last.startswith("ecs-autoscale: `terraform apply` failed") and "run `ecs-autoscale plan` again" in last


# --- destroy -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lingering(seed, aws_client):
    """The seed's group with two instances: one in Standby (AWS never scales it in: an instance that is
    slow to go), and one registered with the cluster, whose container instance outlives it as one
    whose agent was disconnected at termination does (ECS deregisters only connected ones)."""
    stack_dir, _ = seed
    outputs = outputs_of(stack_dir)
    asg, group = aws_client("autoscaling"), outputs["autoscaling_group_name"]
    asg.update_auto_scaling_group(AutoScalingGroupName=group, MaxSize=2, DesiredCapacity=2)
    standby, registered = [
        i["InstanceId"]
        for i in asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"][0]["Instances"]
    ]
    asg.enter_standby(AutoScalingGroupName=group, InstanceIds=[standby], ShouldDecrementDesiredCapacity=True)
    aws_client("ecs").register_container_instance(
        cluster=outputs["cluster_name"],
        instanceIdentityDocument=json.dumps(
            {"instanceId": registered, "region": outputs["region"], "accountId": "123456789012"}
        ),
    )
    return {"group": group, "standby": standby}


def test_destroy_gives_up_in_one_line_while_an_instance_stays_and_removes_nothing(seed, lingering, ecs_cli):
    stack_dir, _ = seed
    before = managed_addresses(state_of(stack_dir, "Megadetector"))
    stuck = ecs_cli("destroy", SEED, stack_dir, "--auto-approve", "--instance-wait-seconds", "2", check=False)
    assert stuck.returncode == 1
    assert (
        f"waiting for 1 instance(s) of {lingering['group']} to terminate: 1 Standby ({lingering['standby']})"
        in stuck.stdout
    )
    line = one_line(stuck.stderr)
    assert f"1 instance(s) still in {lingering['group']} after 2s (1 Standby ({lingering['standby']}))" in line
    assert "nothing was removed" in line and "--instance-wait-seconds" in line
    assert managed_addresses(state_of(stack_dir, "Megadetector")) == before
    assert (stack_dir / "outputs.json").exists()


def test_destroy_refuses_queued_videos_then_keeps_only_the_results_bucket(
    seed, fathomnet, lingering, ecs_cli, aws_client, cli_env
):
    stack_dir, _ = seed
    outputs = outputs_of(stack_dir)
    sqs, s3 = aws_client("sqs"), aws_client("s3")
    before = managed_addresses(state_of(stack_dir, "Megadetector"))

    sqs.send_message(QueueUrl=outputs["video_queue_url"], MessageBody='{"video": "dive/a.mp4"}', MessageGroupId="test")
    refused = ecs_cli("destroy", SEED, stack_dir, "--auto-approve", check=False)
    assert refused.returncode == 1
    assert "--discard-queued-videos" in one_line(refused.stderr)
    assert managed_addresses(state_of(stack_dir, "Megadetector")) == before
    sqs.purge_queue(QueueUrl=outputs["video_queue_url"])

    s3.put_object(Bucket=outputs["video_bucket"], Key="dive/a.mp4", Body=b"video")
    refused = ecs_cli("destroy", SEED, stack_dir, "--auto-approve", check=False)
    assert refused.returncode == 1
    assert "dive/a.mp4" in one_line(refused.stderr) and "--delete-uploaded-videos" in refused.stderr
    s3.delete_object(Bucket=outputs["video_bucket"], Key="dive/a.mp4")

    s3.put_object(Bucket=outputs["tracks_bucket"], Key="dive/a.tracks.tar.gz", Body=b"result")
    destroy = start_cli(cli_env, "destroy", SEED, stack_dir, "--auto-approve")
    try:
        # It waits, saying for what, until the group holds no instance; then the standby one goes.
        seen = "".join(
            read_until(
                destroy,
                rf"waiting for 1 instance\(s\) of {lingering['group']} to terminate: "
                "1 Standby",
            )
        )
        aws_client("autoscaling").terminate_instance_in_auto_scaling_group(
            InstanceId=lingering["standby"], ShouldDecrementDesiredCapacity=False
        )
        rest, errors = destroy.communicate(timeout=900)
    finally:
        if destroy.poll() is None:
            destroy.kill()
    assert destroy.returncode == 0, errors
    assert f"keeps the results bucket {outputs['tracks_bucket']} (1 object(s))" in seen
    assert "Scaled Megadetector to zero: group Megadetector-gpu-fleet holds no instance." in rest
    # The container instance its terminated instance left would have made DeleteCluster fail.
    assert "Deregistered 1 container instance(s) left in cluster Megadetector" in rest
    assert f"kept the results bucket {outputs['tracks_bucket']}" in rest

    # Terraform manages nothing any more; the kept bucket is recorded; outputs of deleted queues are gone.
    assert managed_addresses(state_of(stack_dir, "Megadetector")) == set()
    kept = json.loads((stack_dir / "kept-resources.json").read_text())["kept"]
    assert [k["name"] for k in kept] == [outputs["tracks_bucket"]]
    assert not (stack_dir / "outputs.json").exists()
    assert outputs["tracks_bucket"] in (stack_dir / "README.md").read_text()

    # In AWS: the tracks bucket and nothing else of Megadetector.
    assert s3.get_object(Bucket=outputs["tracks_bucket"], Key="dive/a.tracks.tar.gz")["Body"].read() == b"result"
    buckets = {b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith("megadetector-")}
    assert buckets == {outputs["tracks_bucket"]}
    assert sqs.list_queues(QueueNamePrefix="Megadetector").get("QueueUrls", []) == []
    clusters = aws_client("ecs").describe_clusters(clusters=["Megadetector"])["clusters"]
    assert all(c["status"] == "INACTIVE" for c in clusters)
    assert (
        aws_client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=["Megadetector-gpu-fleet"])[
            "AutoScalingGroups"
        ]
        == []
    )
    roles = [r["RoleName"] for r in aws_client("iam").list_roles()["Roles"]]
    assert [r for r in roles if r.startswith("Megadetector-")] == []
    logs = aws_client("logs").describe_log_groups(logGroupNamePrefix="/ecs/Megadetector")["logGroups"]
    assert logs == []
    alarms = aws_client("cloudwatch").describe_alarms(AlarmNamePrefix="Megadetector-")["MetricAlarms"]
    assert alarms == []
    groups = aws_client("ec2").describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["Megadetector-gpu-instances"]}]
    )["SecurityGroups"]
    assert groups == []
    # The deepsea-ai lookup stack is gone, and CloudFormation deregistered its task definition.
    with pytest.raises(Exception, match="does not exist"):
        aws_client("cloudformation").describe_stacks(StackName="Megadetector")
    assert (
        aws_client("ecs").list_task_definitions(familyPrefix="Megadetector-deepsea-ai-lookup", status="ACTIVE")[
            "taskDefinitionArns"
        ]
        == []
    )

    # The other model, in its own STACK_DIR and workspace, is untouched.
    other = outputs_of(fathomnet)
    assert sqs.get_queue_url(QueueName=other["video_queue_name"])["QueueUrl"]
    services = aws_client("ecs").describe_services(cluster=other["cluster_name"], services=[other["service_name"]])[
        "services"
    ]
    assert [s["status"] for s in services] == ["ACTIVE"]
    assert "No changes" in ecs_cli("plan", FATHOMNET, fathomnet).stdout


# --- interrupted apply --------------------------------------------------------------------------------------
def test_interrupted_apply_leaves_a_state_the_next_deploy_converges_from(ecs_cli, cli_env, aws_client, tmp_path):
    model = write_model(tmp_path, seed_text(StackName="Interrupted", TaskDefinition="interrupted"))
    stack_dir = tmp_path / "stack"
    deploy = start_cli(cli_env, "deploy", model, stack_dir, "--auto-approve")
    try:
        read_until(deploy, r"\[\d+/\d+\] created ")  # Terraform is creating resources
        deploy.send_signal(signal.SIGINT)  # what Ctrl-C does to our process (Terraform runs in its own session)
    finally:
        rest, errors = deploy.communicate(timeout=600)
    assert deploy.returncode == 130, errors
    assert errors.rstrip().splitlines()[-1].startswith("ecs-autoscale: interrupted: Terraform stopped cleanly")
    assert "Interrupt received" in (stack_dir / "logs" / "apply.log").read_text()
    state = state_of(stack_dir, "Interrupted")
    partial = managed_addresses(state)
    planned = planned_creates(stack_dir / "plans" / "deploy.json")
    assert partial and partial < planned  # stopped part-way, with what it created recorded
    # Creations cut short after AWS answered are recorded as tainted: Terraform replaces them on the next
    # apply. Those cut off mid-request are recorded in STACK_DIR: the next deploy imports the ones AWS made.
    tainted = sum(1 for r in state["resources"] for i in r["instances"] if i.get("status") == "tainted")
    record = stack_dir / "unfinished-creates.json"
    unfinished = set(json.loads(record.read_text())["addresses"]) if record.exists() else set()
    tainted_addresses = {
        f"{r['type']}.{r['name']}"
        for r in state["resources"]
        if any(i.get("status") == "tainted" for i in r["instances"])
    }
    assert tainted_addresses <= unfinished  # started, never finished

    converged = ecs_cli("deploy", model, stack_dir, "--auto-approve")
    said = re.search(r"Adopted (\d+) resource", converged.stdout)
    assert bool(said) == bool(unfinished)
    adopted = int(said[1]) if said else 0
    assert adopted <= len(unfinished - partial)
    # An adopted object may lack what its create would have done after the cut (a role in a profile).
    add, change, destroy = map(
        int, re.search(r"(\d+) to add, (\d+) to change, (\d+) to destroy", converged.stdout).groups()
    )
    assert (add, destroy) == (len(planned - partial) - adopted + tainted, tainted) and change <= adopted
    assert not (stack_dir / "unfinished-creates.json").exists()
    assert managed_addresses(state_of(stack_dir, "Interrupted")) == planned
    assert "No changes" in ecs_cli("plan", model, stack_dir).stdout

    # Clean up with the loud flag: the results bucket goes too, and nothing is recorded as kept.
    tracks = outputs_of(stack_dir)["tracks_bucket"]
    gone = ecs_cli("destroy", model, stack_dir, "--auto-approve", "--delete-results-bucket-and-results")
    assert "DELETES the results bucket" in gone.stdout
    assert managed_addresses(state_of(stack_dir, "Interrupted")) == set()
    assert not (stack_dir / "kept-resources.json").exists()
    assert tracks not in {b["Name"] for b in aws_client("s3").list_buckets()["Buckets"]}


ORPHANS = [  # as an apply interrupted mid-request records them: AWS made the first four
    "aws_iam_role.fleet_instance_role",
    "aws_iam_instance_profile.fleet_instance_profile",
    "aws_launch_template.fleet_launch_template",
    "aws_cloudwatch_log_group.service_logs",
    "aws_iam_role.keepalive_role",  # cut off before AWS made it: nothing to adopt
]


def make_orphans(aws_client, stack_dir: Path, name: str) -> str:
    """What AWS holds after creates whose answers were cut off, and the apply's record of them; the
    launch template's ID."""
    from ecs_autoscale.stack_dir import StackDir

    tags = {"ecs-autoscale:stack": name, "ManagedBy": "ecs-autoscale"}
    tag_list = [{"Key": k, "Value": v} for k, v in tags.items()]
    iam = aws_client("iam")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"Service": "ec2.amazonaws.com"}}]}  # fmt: skip
    iam.create_role(RoleName=f"{name}-instance", AssumeRolePolicyDocument=json.dumps(trust), Tags=tag_list)
    iam.create_instance_profile(InstanceProfileName=f"{name}-instance", Tags=tag_list)
    template = aws_client("ec2").create_launch_template(
        LaunchTemplateName=f"{name}-gpu",
        LaunchTemplateData={"InstanceType": "g4dn.xlarge"},
        TagSpecifications=[{"ResourceType": "launch-template", "Tags": tag_list}],
    )["LaunchTemplate"]["LaunchTemplateId"]
    aws_client("logs").create_log_group(logGroupName=f"/ecs/{name}", tags=tags)
    StackDir(stack_dir).record_unfinished_creates(ORPHANS)
    return template


def launch_templates_named(aws_client, name: str) -> list[str]:
    found = aws_client("ec2").describe_launch_templates()["LaunchTemplates"]
    return [t["LaunchTemplateId"] for t in found if t["LaunchTemplateName"] == name]


def test_deploy_adopts_what_an_interrupted_apply_created_and_only_that(ecs_cli, aws_client, tmp_path):
    """The race above made certain. The next deploy imports the recorded objects AWS made (the launch
    template by the ID AWS gave it) instead of failing on their names; without the adoption it fails
    with EntityAlreadyExists (tried once)."""
    name = "Adopt"
    model = write_model(tmp_path, seed_text(StackName=name, TaskDefinition="adopt"))
    stack_dir = tmp_path / "stack"
    template = make_orphans(aws_client, stack_dir, name)

    deployed = ecs_cli("deploy", model, stack_dir, "--auto-approve")
    assert "Adopted 4 resource(s) into the state." in deployed.stdout
    for address in ORPHANS[:4]:
        assert f"adopted {address}:" in deployed.stdout
    assert not (stack_dir / "unfinished-creates.json").exists()
    state = state_of(stack_dir, name)
    ids = {f"{r['type']}.{r['name']}": r["instances"][0]["attributes"]["id"] for r in state["resources"]
           if r["mode"] == "managed"}  # fmt: skip
    assert ids["aws_launch_template.fleet_launch_template"] == template  # adopted, not a second one
    assert ids["aws_iam_role.keepalive_role"] == f"{name}-queue-keepalive"  # created as usual
    assert "No changes" in ecs_cli("plan", model, stack_dir).stdout
    ecs_cli("destroy", model, stack_dir, "--auto-approve", "--delete-results-bucket-and-results")
    assert launch_templates_named(aws_client, f"{name}-gpu") == []


def test_destroy_after_an_interrupted_first_deploy_removes_what_it_created(ecs_cli, aws_client, tmp_path):
    """Destroy adopts first: what the interrupted deploy created does not outlive the stack."""
    name = "AdoptGone"
    model = write_model(tmp_path, seed_text(StackName=name, TaskDefinition="adopt-gone"))
    stack_dir = tmp_path / "stack"
    assert "Plan for AdoptGone" in ecs_cli("plan", model, stack_dir).stdout  # STACK_DIR and workspace, no resources
    make_orphans(aws_client, stack_dir, name)

    gone = ecs_cli("destroy", model, stack_dir, "--auto-approve", "--delete-results-bucket-and-results")
    assert "Adopted 4 resource(s) into the state." in gone.stdout
    assert launch_templates_named(aws_client, f"{name}-gpu") == []
    iam = aws_client("iam")
    assert f"{name}-instance" not in {r["RoleName"] for r in iam.list_roles()["Roles"]}
    assert f"{name}-instance" not in {
        p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]
    }
    assert not aws_client("logs").describe_log_groups(logGroupNamePrefix=f"/ecs/{name}")["logGroups"]


# --- S3 backend ----------------------------------------------------------------------------------------------
def test_s3_backend_keeps_one_state_per_workspace_in_the_bucket(ecs_cli, aws_client, tmp_path):
    """`Backend` in the model file: state in S3 (workspace = StackName), nothing under STACK_DIR/state."""
    aws_client("s3").create_bucket(
        Bucket="team-tfstate-lifecycle", CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
    )
    text = seed_text(StackName="TeamStack", TaskDefinition="team-stack")
    model = write_model(tmp_path, text + "Backend:\n  Bucket: team-tfstate-lifecycle\n")
    stack_dir = tmp_path / "stack"
    planned = ecs_cli("plan", model, stack_dir)
    assert re.search(r"Plan for TeamStack: \d+ to add, 0 to change, 0 to destroy", planned.stdout)
    keys = [o["Key"] for o in aws_client("s3").list_objects_v2(Bucket="team-tfstate-lifecycle")["Contents"]]
    assert keys == ["ecs-autoscale/TeamStack/ecs-autoscale/terraform.tfstate"]
    assert not (stack_dir / "state").exists()


# --- emulator command ---------------------------------------------------------------------------------------
def test_emulator_command_serves_aws_on_loopback_until_interrupted(cli_env):
    import socket
    import time

    from ecs_autoscale.aws_target import AwsTarget

    with socket.socket() as probe:  # a free port (tiny race with other processes, acceptable here)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = start_cli(cli_env, "emulator", "--port", port)
    try:
        assert f"http://127.0.0.1:{port}" in server.stdout.readline()
        sqs = AwsTarget(endpoint_url=f"http://127.0.0.1:{port}").client("sqs", "us-west-2")
        for _ in range(100):  # bounded: at most ~20 s for the server to start
            try:
                sqs.create_queue(QueueName="emulator-cli-check")
                break
            except Exception:
                time.sleep(0.2)
        assert sqs.get_queue_url(QueueName="emulator-cli-check")["QueueUrl"]

        taken = subprocess.run(
            [str(CLI), "emulator", "--port", str(port)],
            env=cli_env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
        )
        assert taken.returncode == 1
        assert f"cannot listen on 127.0.0.1:{port}" in one_line(taken.stderr)
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=60)
    assert server.returncode == 0
