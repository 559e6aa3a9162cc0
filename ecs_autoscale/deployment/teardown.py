"""What `destroy` does outside Terraform: the plan (what it removes and keeps, decided before anything
changes), the guards for the user's data, and the fleet brought to zero so Terraform never hangs.

Order matters:
1. Refuse while videos are queued or uploads wait in the video bucket (unless told otherwise).
2. Group min/max/desired 0, then WAIT until it holds no instance. Terraform would delete the group
   (force_delete) and the cluster at once, and an instance still shutting down keeps its container
   instance registered; DeleteCluster then fails with ClusterContainsContainerInstancesException
   (terraform-provider-aws 5.100 retries it for 10 minutes, then gives up). Waiting here shows
   progress and ends with one clear line instead.
3. Deregister (force) any container instance still registered: ECS deregisters a terminated instance
   by itself only if its agent was connected at the time (ECS API reference,
   DeregisterContainerInstance); any other would block DeleteCluster until the provider's retries run out.
4. Keep the results bucket by removing it from the state (AWS keeps it, Terraform forgets it) unless
   the user asked, loudly, to delete results too; then `terraform destroy`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..aws_target import AwsTarget
from ..echo import Echo
from ..errors import EcsAutoscaleError
from ..group import read_group, release_terminating, unprotect_instances
from ..model.config import ModelConfig
from ..synthesis.addresses import RESULTS_BUCKET

INSTANCE_WAIT_SECONDS = 600
POLL_SECONDS = 10


class TeardownTimeout(EcsAutoscaleError, TimeoutError):
    """Instances still in the group after the wait: one line naming them; nothing was removed."""


# ---- the plan -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DestroyOptions:
    delete_results: bool = False
    """Delete the tracks bucket with every result (all versions) instead of keeping it."""
    discard_queued_videos: bool = False
    delete_uploaded_videos: bool = False
    instance_wait_seconds: int = INSTANCE_WAIT_SECONDS


@dataclass(frozen=True)
class DestroyPlan:
    """What `destroy` will remove and keep, from the state and AWS as they are before any change."""

    stack_name: str
    video_queue: str
    removing: tuple[str, ...]
    """State addresses Terraform destroys."""
    keep: tuple[str, ...]
    """The results bucket and its settings: taken out of the state, kept in AWS."""
    results_managed: bool
    """The state manages a results bucket (False once an earlier destroy kept it)."""
    tracks_bucket: str | None
    results: int
    results_more: bool
    video_bucket: str | None
    queued_videos: int
    first_upload: str | None
    options: DestroyOptions
    outputs: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def deletes_results(self) -> bool:
        return self.options.delete_results and self.results_managed and bool(self.tracks_bucket)

    def refusal(self) -> str | None:
        """One line when the user's data stops the destroy, None when it may go on."""
        if self.queued_videos and not self.options.discard_queued_videos:
            return (
                f"{self.queued_videos} video(s) are queued or in progress in {self.video_queue}; wait for them "
                "(`ecs-autoscale status`), or pass --discard-queued-videos"
            )
        if self.first_upload and not self.options.delete_uploaded_videos:
            return (
                f"the video bucket {self.video_bucket} still holds uploaded videos (e.g. {self.first_upload}); "
                "download what you need, then pass --delete-uploaded-videos"
            )
        return None

    def summary(self, region: str) -> list[str]:
        """The lines shown before the confirmation."""
        count = f"{self.results}{'+' if self.results_more else ''}"
        lines = [
            f"Destroy {self.stack_name} ({region}): removes {len(self.removing)} resources, after bringing "
            "its GPU instances to zero."
        ]
        if self.keep:
            lines.append(
                f"  keeps the results bucket {self.tracks_bucket} ({count} object(s)) and its "
                f"{len(self.keep) - 1} settings; they leave Terraform's state, AWS keeps them"
            )
        elif self.results_managed:
            lines.append(f"  ! DELETES the results bucket {self.tracks_bucket} and its {count} result(s), all versions")
        if self.queued_videos:
            lines.append(f"  ! discards {self.queued_videos} queued or running video(s)")
        return lines


def plan_destroy(teardown: StackTeardown, managed: list[str], options: DestroyOptions) -> DestroyPlan:
    """Decide what `destroy` does; reads AWS (queue depth, buckets) but changes nothing. The results
    bucket's addresses are the stack's declaration (addresses.RESULTS_BUCKET)."""
    results = [a for a in RESULTS_BUCKET.addresses() if a in managed]
    keep = () if options.delete_results else tuple(results)
    outputs = teardown.outputs
    tracks, videos = outputs.get("tracks_bucket"), outputs.get("video_bucket")
    count, more = teardown.count_objects(tracks)
    return DestroyPlan(
        stack_name=teardown.config.stack_name,
        video_queue=teardown.config.names.video_queue,
        removing=tuple(a for a in managed if a not in keep),
        keep=keep,
        results_managed=bool(results),
        tracks_bucket=tracks,
        results=count,
        results_more=more,
        video_bucket=videos,
        queued_videos=teardown.videos_in_queue(),
        first_upload=teardown.first_object(videos),
        options=options,
        outputs=outputs,
    )


# ---- AWS, outside Terraform ---------------------------------------------------------------------------
@dataclass
class StackTeardown:
    target: AwsTarget
    config: ModelConfig
    outputs: dict[str, Any]
    echo: Echo
    poll_seconds: float = POLL_SECONDS

    def _client(self, service: str) -> Any:
        return self.target.client(service, self.config.region)

    # ---- guards ---------------------------------------------------------------------------------
    def videos_in_queue(self) -> int:
        """Videos waiting, delayed or in progress in the video queue (0 when the queue is already gone)."""
        sqs = self._client("sqs")
        url = self.outputs.get("video_queue_url")
        try:
            if not url:
                url = sqs.get_queue_url(QueueName=self.config.names.video_queue)["QueueUrl"]
            attributes = sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            )["Attributes"]
        except sqs.exceptions.QueueDoesNotExist:
            return 0
        return sum(int(value) for value in attributes.values())

    def first_object(self, bucket: str | None) -> str | None:
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

    def count_objects(self, bucket: str | None, limit: int = 10_000) -> tuple[int, bool]:
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

    # ---- the fleet to zero ----------------------------------------------------------------------
    def scale_to_zero(self, timeout: float = INSTANCE_WAIT_SECONDS) -> None:
        """Group min/max/desired 0, then wait until it holds no instance (TeardownTimeout after `timeout`)."""
        name = self.config.names.asg
        autoscaling = self._client("autoscaling")
        group = read_group(autoscaling, name)
        if group is None:
            self.echo(f"No Auto Scaling group {name} (already gone): nothing to scale to zero.")
            return
        autoscaling.update_auto_scaling_group(AutoScalingGroupName=name, MinSize=0, MaxSize=0, DesiredCapacity=0)
        protected = [i["InstanceId"] for i in group.instances if i.get("ProtectedFromScaleIn")]
        if protected:  # only a group deployed by an older version (ECS managed termination protection)
            unprotect_instances(autoscaling, name, protected)
            autoscaling.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=0)
        self._wait_for_no_instances(autoscaling, name, timeout)
        self.echo(f"Scaled {self.config.stack_name} to zero: group {name} holds no instance.")

    def _wait_for_no_instances(self, autoscaling: Any, name: str, timeout: float) -> None:
        started = time.monotonic()
        shown = None
        while True:
            group = read_group(autoscaling, name)
            # The stack's termination hook holds each instance until its agent finds its workers quiet; the
            # queue is empty (step 1), so there is nothing to wait for: release them, then look again.
            if group is not None and release_terminating(autoscaling, group, self.config.names.termination_hook):
                group = read_group(autoscaling, name)
            if group is None or not group.instances:
                return
            left = group.instances
            states = _describe_instances(left)
            waited = time.monotonic() - started
            if waited >= timeout:
                raise TeardownTimeout(
                    f"{len(left)} instance(s) still in {name} after {int(waited)}s ({states}); nothing was "
                    "removed and the group stays at 0: check them in the EC2 console (a lifecycle hook? an "
                    "instance stuck shutting down?), then run destroy again (--instance-wait-seconds to wait longer)"
                )
            if states != shown:
                self.echo(f"  waiting for {len(left)} instance(s) of {name} to terminate: {states} [{int(waited)}s]")
                shown = states
            time.sleep(min(self.poll_seconds, max(0.0, timeout - waited)) or 0.1)

    def deregister_container_instances(self) -> int:
        """Force-deregister every container instance still registered with the cluster; returns how many."""
        ecs = self._client("ecs")
        cluster = self.config.names.cluster
        try:
            arns = [
                arn
                for page in ecs.get_paginator("list_container_instances").paginate(cluster=cluster)
                for arn in page.get("containerInstanceArns", [])
            ]
        except ecs.exceptions.ClusterNotFoundException:
            return 0
        for arn in arns:
            # force: a container instance whose EC2 instance is gone cannot drain its tasks any more.
            ecs.deregister_container_instance(cluster=cluster, containerInstance=arn, force=True)
        if arns:
            self.echo(
                f"Deregistered {len(arns)} container instance(s) left in cluster {cluster} (instances "
                "terminated while their ECS agent was disconnected)."
            )
        return len(arns)

    # ---- deleting results (only when asked) -----------------------------------------------------
    def empty_bucket(self, bucket: str) -> int:
        """Delete every object version and delete marker; returns how many were deleted."""
        s3 = self._client("s3")
        deleted = 0
        try:
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
                batch = [
                    {"Key": v["Key"], "VersionId": v["VersionId"]}
                    for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
                ]
                for start in range(0, len(batch), 1000):
                    s3.delete_objects(Bucket=bucket, Delete={"Objects": batch[start : start + 1000], "Quiet": True})
                deleted += len(batch)
        except s3.exceptions.NoSuchBucket:
            return 0
        return deleted


def _describe_instances(instances: Any) -> str:
    """'2 Terminating, 1 InService (i-0abc, i-0def, ...)'"""
    counts: dict[str, int] = {}
    for i in instances:
        counts[i.get("LifecycleState", "?")] = counts.get(i.get("LifecycleState", "?"), 0) + 1
    ids = [i.get("InstanceId", "?") for i in instances]
    shown = ", ".join(ids[:3]) + (", ..." if len(ids) > 3 else "")
    return ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) + f" ({shown})"
