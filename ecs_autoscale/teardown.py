"""What `destroy` does outside Terraform: guards for the user's data, scale to zero, results bucket.

Order matters: refuse while videos are queued, stop tasks and instances (so Terraform never waits on a
protected instance), then keep the results bucket by removing it from the state (AWS keeps it, Terraform
forgets it) unless the user asked, loudly, to delete results too.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from .aws_target import AwsTarget
from .client.control import unprotect_instances
from .config import ModelConfig

Echo = Callable[[str], None]
TASK_STOP_TIMEOUT_SECONDS = 600
_REFERENCE = re.compile(r"^\$\{(?P<address>aws_s3_bucket\.[\w-]+)\.\w+\}$")


def results_bucket_addresses(tf_json: dict) -> list[str]:
    """Addresses of the tracks (results) bucket and of every aws_s3_bucket_* resource configuring it,
    found through the `tracks_bucket` output of the synthesized stack."""
    expression = tf_json.get("output", {}).get("tracks_bucket", {}).get("value", "")
    match = _REFERENCE.match(expression)
    if not match:
        raise ValueError("the synthesized stack has no `tracks_bucket` output naming an aws_s3_bucket")
    bucket = match["address"]
    found = [bucket]
    for resource_type, resources in tf_json.get("resource", {}).items():
        if not resource_type.startswith("aws_s3_bucket_"):
            continue
        for name, body in resources.items():
            if str(body.get("bucket", "")).startswith("${" + bucket + "."):
                found.append(f"{resource_type}.{name}")
    return found


@dataclass
class StackTeardown:
    target: AwsTarget
    config: ModelConfig
    outputs: dict[str, Any]
    echo: Echo

    def _client(self, service: str) -> Any:
        return self.target.client(service, self.config.region)

    # ---- guards ---------------------------------------------------------------------------------
    def videos_in_queue(self) -> int:
        """Videos waiting or in progress in the video queue (0 when the queue is already gone)."""
        sqs = self._client("sqs")
        url = self.outputs.get("video_queue_url")
        try:
            if not url:
                url = sqs.get_queue_url(QueueName=self.config.names.video_queue)["QueueUrl"]
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
                "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed"])["Attributes"]
        except sqs.exceptions.QueueDoesNotExist:
            return 0
        return sum(int(value) for value in attributes.values())

    def first_object(self, bucket: Optional[str]) -> Optional[str]:
        """Key of one object in `bucket` (None when empty or gone)."""
        if not bucket:
            return None
        s3 = self._client("s3")
        try:
            listing = s3.list_objects_v2(Bucket=bucket, MaxKeys=1)
        except s3.exceptions.NoSuchBucket:
            return None
        contents = listing.get("Contents", [])
        return contents[0]["Key"] if contents else None

    def count_objects(self, bucket: Optional[str], limit: int = 10_000) -> tuple[int, bool]:
        """(objects counted, more exist) up to `limit`."""
        if not bucket:
            return 0, False
        s3 = self._client("s3")
        count = 0
        try:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                count += page.get("KeyCount", 0)
                if count >= limit:
                    return count, True
        except s3.exceptions.NoSuchBucket:
            return 0, False
        return count, False

    # ---- scale to zero --------------------------------------------------------------------------
    def scale_to_zero(self, timeout: float = TASK_STOP_TIMEOUT_SECONDS) -> None:
        """Service to 0 tasks (waiting for running ones to stop), fleet to 0 unprotected instances."""
        names = self.config.names
        ecs = self._client("ecs")
        try:
            ecs.update_service(cluster=names.cluster, service=names.service, desiredCount=0)
        except (ecs.exceptions.ServiceNotFoundException, ecs.exceptions.ServiceNotActiveException,
                ecs.exceptions.ClusterNotFoundException):
            pass
        else:
            self._wait_for_tasks_to_stop(ecs, timeout)
        autoscaling = self._client("autoscaling")
        groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[names.asg])["AutoScalingGroups"]
        for group in groups:
            # Managed termination protection marks busy instances; no task runs any more.
            unprotect_instances(autoscaling, names.asg, [i["InstanceId"] for i in group.get("Instances", [])])
            autoscaling.update_auto_scaling_group(AutoScalingGroupName=names.asg, MinSize=0, DesiredCapacity=0)
        self.echo(f"Scaled {self.config.stack_name} to zero: service at 0 tasks, fleet at 0 instances.")

    def _wait_for_tasks_to_stop(self, ecs: Any, timeout: float) -> None:
        names = self.config.names
        deadline = time.monotonic() + timeout
        while True:
            services = ecs.describe_services(cluster=names.cluster, services=[names.service])["services"]
            running = sum(s.get("runningCount", 0) + s.get("pendingCount", 0) for s in services)
            if running == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{running} task(s) of {names.service} still run after {int(timeout)}s; "
                                   "check `ecs-autoscale status`, then run destroy again")
            self.echo(f"  waiting for {running} task(s) of {names.service} to stop ...")
            time.sleep(10)

    # ---- deleting results (only when asked) -----------------------------------------------------
    def empty_bucket(self, bucket: str) -> int:
        """Delete every object version and delete marker; returns how many were deleted."""
        s3 = self._client("s3")
        deleted = 0
        try:
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
                batch = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                         for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
                for start in range(0, len(batch), 1000):
                    s3.delete_objects(Bucket=bucket, Delete={"Objects": batch[start:start + 1000], "Quiet": True})
                deleted += len(batch)
        except s3.exceptions.NoSuchBucket:
            return 0
        return deleted
