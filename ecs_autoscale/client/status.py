"""What a stack is doing: queue depths, tasks, instances, scaling activity, and each video of a job.

Per-video state, from the most to the least certain source:
  done      the worker's `<stem>.tracks.tar.gz` is in the tracks bucket under the video's prefix (written
            after the message was sent), or a SUCCESS message for it sits in the dead queue;
  failed    a FAILED message for it (with "error") is in the dead queue, or its own video message was
            moved there after too many receives without a result;
  queued / running / pending
            no outcome yet: `queued` when no video is in flight, `running` when none is waiting, and
            `pending` (queued or running) when both exist - SQS cannot tell which message a worker holds
            without taking messages from the workers, which this never does;
  unsent    `submit` stopped between recording and sending; re-run it;
  unknown   no outcome and nothing left in the video queue (e.g. a consumer deleted the result message
            and the results are not at the expected key).
Outcomes seen are cached in the job ledger, so they survive the messages being consumed later.

Jobs sent by deepsea-ai's `ecsprocess` are read from its local job cache into the ledger first
(deepsea_cache.py). deepsea-ai's `monitor` receives track and dead messages and never releases them:
results are still found in the tracks bucket, outcomes it recorded in its cache are taken from there,
and when dead-queue messages are held by another reader the report says so (`held_dead_messages`):
their videos show `unknown` until the messages' visibility timeout ends.

The queues are read without stealing: the dead queue (no redrive policy) is peeked by receiving with a
short visibility and releasing at once (visibility 0). The track queue is never received from: its
redrive policy moves a message to the dead queue after a few receives, so every peek would use up one
of the real consumer's deliveries; results are found in the tracks bucket instead. The video queue is
never received from either (that would take work from the workers).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath
from typing import Iterable, Optional

from . import JobsError
from .aws import error_code
from .ledger import DONE, FAILED, QUEUED, SENDING, JobLedger, list_jobs
from .messages import message_uuid_of, parse_body
from .stack_info import StackInfo

RESULTS_SUFFIX = ".tracks.tar.gz"
PEEK_HOLD_SECONDS = 30
PEEK_MAX_MESSAGES = 2000
# Results older than the send (minus this allowance for clock skew) belong to an earlier run.
CLOCK_SKEW = timedelta(minutes=5)
STATES = ("done", "failed", "running", "pending", "queued", "unsent", "unknown")
REDRIVEN_ERROR = ("the video message went to the dead queue after repeated receives without a result "
                  "(worker crashed, was stopped or timed out)")


def results_key(video_key: str) -> str:
    """Where the worker writes a video's results: `<stem>.tracks.tar.gz` under the video's prefix."""
    path = PurePosixPath(video_key)
    return str(path.with_name(path.stem + RESULTS_SUFFIX))


# ---- the stack ------------------------------------------------------------------------------------------
def queue_depth(sqs, url: str) -> dict:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]).get("Attributes", {})
    return {"visible": int(attrs.get("ApproximateNumberOfMessages", 0)),
            "in_flight": int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0))}


def service_state(ecs, info: StackInfo) -> dict:
    services = ecs.describe_services(cluster=info.cluster_name, services=[info.service_name]).get("services", [])
    if not services:
        return {"status": "MISSING", "desired": 0, "running": 0, "pending": 0}
    s = services[0]
    return {"status": s.get("status"), "desired": s.get("desiredCount", 0), "running": s.get("runningCount", 0),
            "pending": s.get("pendingCount", 0)}


def scaling_state(aas, info: StackInfo) -> Optional[dict]:
    targets = aas.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[info.scalable_target_id],
                                            ScalableDimension="ecs:service:DesiredCount")["ScalableTargets"]
    if not targets:
        return None
    t = targets[0]
    suspended = t.get("SuspendedState") or {}
    return {"min": t["MinCapacity"], "max": t["MaxCapacity"],
            "suspended": {k: bool(suspended.get(k, False)) for k in
                          ("DynamicScalingInSuspended", "DynamicScalingOutSuspended", "ScheduledScalingSuspended")}}


def fleet_state(autoscaling, info: StackInfo) -> Optional[dict]:
    groups = autoscaling.describe_auto_scaling_groups(
        AutoScalingGroupNames=[info.autoscaling_group_name])["AutoScalingGroups"]
    if not groups:
        return None
    g = groups[0]
    return {"min": g["MinSize"], "max": g["MaxSize"], "desired": g["DesiredCapacity"],
            "instances": [{"id": i["InstanceId"], "state": i["LifecycleState"], "health": i.get("HealthStatus"),
                           "protected": bool(i.get("ProtectedFromScaleIn")), "type": i.get("InstanceType"),
                           "zone": i.get("AvailabilityZone")} for i in g.get("Instances", [])]}


def recent_activities(aws, info: StackInfo, count: int = 5) -> list[dict]:
    """Latest scaling activities of the instances (Auto Scaling) and the tasks (Application Auto Scaling),
    newest first. A source that cannot be read (permissions) is left out."""
    found = []
    try:
        for a in aws("autoscaling").describe_scaling_activities(
                AutoScalingGroupName=info.autoscaling_group_name, MaxRecords=count)["Activities"]:
            found.append({"time": _iso(a.get("StartTime")), "what": "instances", "status": a.get("StatusCode"),
                          "description": a.get("Description", ""), "cause": a.get("Cause", "")})
    except Exception as exc:  # informational section: never fail the whole status for it
        found.append({"time": "", "what": "instances", "status": "unavailable", "description": _why(exc),
                      "cause": ""})
    try:
        for a in aws("application-autoscaling").describe_scaling_activities(
                ServiceNamespace="ecs", ResourceId=info.scalable_target_id,
                ScalableDimension="ecs:service:DesiredCount", MaxResults=count)["ScalingActivities"]:
            found.append({"time": _iso(a.get("StartTime")), "what": "tasks", "status": a.get("StatusCode"),
                          "description": a.get("Description", ""), "cause": a.get("Cause", "")})
    except Exception as exc:
        found.append({"time": "", "what": "tasks", "status": "unavailable", "description": _why(exc), "cause": ""})
    dated = sorted((a for a in found if a["time"]), key=lambda a: a["time"], reverse=True)[:count]
    return dated + [a for a in found if not a["time"]]


def _why(exc: Exception) -> str:
    return f"not readable ({error_code(exc) or type(exc).__name__})"


def _iso(value) -> str:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value or "")


# ---- peeking a queue without taking its messages ---------------------------------------------------------
def peek_messages(sqs, url: str, max_messages: int = PEEK_MAX_MESSAGES) -> tuple[list[dict], bool]:
    """(messages, complete) of a queue without consuming them: receive with a short visibility, then
    release everything at once. Refuses (JobsError) a queue with a redrive policy, where each receive
    counts toward moving the message to a dead-letter queue.

    FIFO order means only the first message of each message group is visible while it is held; our
    messages use one group per video, so every video's message is seen.
    """
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"]).get("Attributes", {})
    if attrs.get("RedrivePolicy"):
        raise JobsError(f"{url}: has a redrive policy; peeking would count as deliveries (not done)")
    held: list[dict] = []
    complete = False
    try:
        while len(held) < max_messages:
            batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=PEEK_HOLD_SECONDS,
                                        WaitTimeSeconds=1, AttributeNames=["All"]).get("Messages", [])
            if not batch:
                complete = True
                break
            held.extend(batch)
    finally:
        release(sqs, url, held)
    return held, complete


def release(sqs, url: str, messages: list[dict]) -> None:
    """Make received messages visible again at once."""
    for start in range(0, len(messages), 10):
        chunk = messages[start:start + 10]
        sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0} for i, m in enumerate(chunk)])


def dead_outcomes(messages: Iterable[dict]) -> dict[str, tuple[str, Optional[str], Optional[str]]]:
    """{message_uuid: (state, results, error)} of dead-queue messages (a worker echoes the job's
    metadata_b64, so the uuid ties an outcome to one attempt of one video)."""
    by_uuid = {}
    for message in messages:
        body = parse_body(message.get("Body", ""))
        if not body or "video" not in body:
            continue
        status = str(body.get("status", "")).upper()
        if status == "SUCCESS":
            outcome = (DONE, body.get("results"), None)
        elif status == "FAILED":
            outcome = (FAILED, None, str(body.get("error") or "the worker reported FAILED without an error"))
        else:
            outcome = (FAILED, None, REDRIVEN_ERROR)
        uuid = message_uuid_of(body)
        if uuid:
            by_uuid[uuid] = outcome
    return by_uuid


# ---- a job's videos ----------------------------------------------------------------------------------
def fresh_results(s3, bucket: str, entries: dict[str, dict]) -> dict[str, str]:
    """{video key: results key} for videos whose results object exists and is newer than their send.

    One listing per folder of videos (not one request per video), folder level only.
    """
    wanted: dict[str, dict[str, tuple[str, Optional[datetime]]]] = {}
    for key, entry in entries.items():
        rkey = results_key(key)
        folder = str(PurePosixPath(rkey).parent)
        prefix = "" if folder == "." else folder + "/"
        wanted.setdefault(prefix, {})[rkey] = (key, _parse_time(entry.get("sent_at")))
    found = {}
    paginator = s3.get_paginator("list_objects_v2")
    for prefix, targets in wanted.items():
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
            for obj in page.get("Contents", []):
                if obj["Key"] in targets:
                    video, sent = targets[obj["Key"]]
                    if sent is None or obj["LastModified"] >= sent - CLOCK_SKEW:
                        found[video] = obj["Key"]
    return found


def _parse_time(text: Optional[str]) -> Optional[datetime]:
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def waiting_state(video_queue: dict) -> str:
    visible, in_flight = video_queue["visible"], video_queue["in_flight"]
    if visible and in_flight:
        return "pending"
    if in_flight:
        return "running"
    if visible:
        return "queued"
    return "unknown"


class JobView:
    """Per-video state of one job; `refresh` updates the ledger's cached outcomes."""

    def __init__(self, ledger: JobLedger) -> None:
        self.ledger = ledger

    def unresolved(self) -> dict[str, dict]:
        return {k: e for k, e in self.ledger.videos.items() if e.get("state") not in (DONE, FAILED)}

    def refresh(self, s3, tracks_bucket: str, dead: dict) -> bool:
        """Record outcomes from the tracks bucket and dead-queue messages; True when something changed."""
        changed = False
        pending = {k: e for k, e in self.unresolved().items() if e.get("state") == QUEUED}
        if pending:
            for video, rkey in fresh_results(s3, tracks_bucket, pending).items():
                changed |= self.ledger.record_outcome(video, DONE, results=rkey)
        for key, entry in self.unresolved().items():
            outcome = dead.get(entry.get("message_uuid") or "") if entry.get("state") == QUEUED else None
            if outcome:
                state, results, error = outcome
                changed |= self.ledger.record_outcome(key, state, results=results or (
                    results_key(key) if state == DONE else None), error=error)
        return changed

    def report(self, video_queue: dict) -> dict:
        videos = []
        for key, entry in sorted(self.ledger.videos.items()):
            state = entry.get("state")
            if state == SENDING:
                shown = "unsent"
            elif state in (DONE, FAILED):
                shown = state
            else:
                shown = waiting_state(video_queue)
            videos.append({"video": key, "state": shown, "results": entry.get("results"),
                           "error": entry.get("error"), "source": entry.get("source"),
                           "attempt": entry.get("attempt", 1), "sent_at": entry.get("sent_at")})
        counts = {s: 0 for s in STATES}
        for v in videos:
            counts[v["state"]] += 1
        return {"job": self.ledger.job_name, "total": len(videos), "counts": counts, "videos": videos}


def job_reports(aws, info: StackInfo, stack_dir: Path, job_names: list[str], video_queue: dict) -> dict:
    """{job: report} for the named jobs, refreshing (and caching) their outcomes."""
    ledgers = [JobLedger.load(stack_dir, name) for name in job_names]
    views = [JobView(ledger) for ledger in ledgers]
    dead: dict = {}
    held = 0
    if any(view.unresolved() for view in views):
        # Dead-queue messages in flight before our peek are held by another reader (deepsea-ai's
        # `monitor` never releases them): a peek cannot see them.
        held = queue_depth(aws("sqs"), info.dead_queue_url)["in_flight"]
        try:
            messages, _ = peek_messages(aws("sqs"), info.dead_queue_url)
        except JobsError:  # a dead queue with a redrive policy (not ours): failures show up as `unknown`
            messages = []
        dead = dead_outcomes(messages)
    reports = {}
    for view in views:
        if view.refresh(aws("s3"), info.tracks_bucket, dead):
            _save_outcomes(view.ledger)
        report = view.report(video_queue)
        if held and report["counts"]["unknown"]:
            report["held_dead_messages"] = held
            report["note"] = (f"{held} dead-queue message(s) are held by another reader (e.g. deepsea-ai monitor): "
                              "failures among the unknown videos show again when their visibility timeout ends")
        reports[view.ledger.job_name] = report
    return reports


def _save_outcomes(ledger: JobLedger) -> None:
    """Merge seen outcomes into the ledger on disk under its lock; a `submit` in progress owns the file
    (it would overwrite a concurrent write), so outcomes are then simply seen again next time."""
    with ledger.locked(wait=False) as ok:
        if not ok:
            return
        current = JobLedger.load(ledger.stack_dir, ledger.job_name)
        for key, entry in ledger.videos.items():
            if entry.get("state") in (DONE, FAILED):
                current.record_outcome(key, entry["state"], entry.get("results"), entry.get("error"),
                                       message_uuid=entry.get("message_uuid"))
        current.save()


def select_jobs(stack_dir: Path, job: Optional[str]) -> list[str]:
    known = list_jobs(stack_dir)
    if job is None:
        return known
    if job not in known:
        hint = f"known jobs: {', '.join(known)}" if known else "no job was submitted from this STACK_DIR"
        raise JobsError(f"job {job!r}: no ledger in {Path(stack_dir) / 'jobs'} and not in a deepsea-ai job cache "
                        f"({hint}; a job sent by deepsea-ai: point --deepsea-db at its sqlite_job_cache_*.db)")
    return [job]


def collect_status(aws, info: StackInfo, stack_dir: Path, job: Optional[str] = None, deepsea=None) -> dict:
    """Everything `status` shows, as one JSON-ready dict (`deepsea`: a DeepseaCache to read jobs from)."""
    from .control import read_stop_record
    from .deepsea_cache import sync_deepsea_jobs

    sync_deepsea_jobs(aws, info, stack_dir, deepsea, None if job is None else [job])
    sqs = aws("sqs")
    queues = {"video": queue_depth(sqs, info.video_queue_url), "track": queue_depth(sqs, info.track_queue_url),
              "dead": queue_depth(sqs, info.dead_queue_url)}
    stop_record = read_stop_record(stack_dir)
    return {
        "stack_name": info.stack_name,
        "region": info.region,
        "time": _iso(datetime.now(timezone.utc)),
        "stopped": {"since": stop_record["stopped_at"]} if stop_record else None,
        "queues": queues,
        "service": service_state(aws("ecs"), info),
        "task_scaling": scaling_state(aws("application-autoscaling"), info),
        "fleet": fleet_state(aws("autoscaling"), info),
        "activities": recent_activities(aws, info),
        "jobs": job_reports(aws, info, stack_dir, select_jobs(stack_dir, job), queues["video"]),
    }
