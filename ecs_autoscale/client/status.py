"""What a stack is doing: why nothing runs (if so), queues, workers, instances, alarms, and each video of a job.

Read-only, and robust: a section AWS will not show (missing resource, no permission) is one line in
the output, never a failure of the whole command.

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
short visibility and releasing at once (visibility 0). The track queue has no redrive policy either,
but it is never received from: it belongs to the results consumer (ecsprocess / deepsea-ai), a peek
would hide its messages for the hold time and block their FIFO groups meanwhile, and the tracks bucket
tells the same thing. The video queue is never received from (that would take work from the workers).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from ..errors import error_code
from ..group import read_group
from ..model.naming import ALARM_PURPOSES
from ..model.scaling_design import STUCK_MINUTES
from ..stack_dir import StackDir
from . import JobsError
from .group_sizing import queue_counts
from .ledger import DONE, FAILED, QUEUED, SENDING, JobLedger, list_jobs
from .messages import message_uuid_of, parse_body
from .stack_info import StackInfo
from .uploads import results_key

if TYPE_CHECKING:
    from ecs_autoscale.client.aws import AwsClients
    from ecs_autoscale.client.deepsea_cache import DeepseaCache

PEEK_HOLD_SECONDS = 30
PEEK_MAX_MESSAGES = 2000
# Results older than the send (minus this allowance for clock skew) belong to an earlier run.
CLOCK_SKEW = timedelta(minutes=5)
STATES = ("done", "failed", "running", "pending", "queued", "unsent", "unknown")

REDRIVEN_ERROR = (
    "the video message went to the dead queue after repeated receives without a result "
    "(worker crashed, was stopped or timed out)"
)


# ---- the stack ------------------------------------------------------------------------------------------
def queue_depth(sqs: Any, url: str) -> dict:
    """Videos waiting (visible), delayed (sent with a delay by some client) and in flight."""
    counts = queue_counts(sqs, url)
    return {"visible": counts.waiting, "delayed": counts.delayed, "in_flight": counts.in_flight}


def tasks_state(ecs: Any, info: StackInfo) -> dict:
    """Worker tasks of the daemon services, summed, with the services ECS does not know."""
    names = list(info.services)
    found = {}
    for start in range(0, len(names), 10):  # DescribeServices takes at most 10
        for s in ecs.describe_services(cluster=info.cluster_name, services=names[start : start + 10]).get(
            "services", []
        ):
            found[s["serviceName"]] = s
    active = [found[n] for n in names if found.get(n, {}).get("status") == "ACTIVE"]
    return {
        "running": sum(s.get("runningCount", 0) for s in active),
        "pending": sum(s.get("pendingCount", 0) for s in active),
        "services": len(active),
        "missing": [n for n in names if n not in {s["serviceName"] for s in active}],
    }


def fleet_state(autoscaling: Any, info: StackInfo) -> dict | None:
    """The group's limits, halted tag, instances (with counts by lifecycle state) and warm pool."""
    group = read_group(autoscaling, info.autoscaling_group_name)
    if group is None:
        return None
    instances = [
        {
            "id": i["InstanceId"],
            "state": i["LifecycleState"],
            "health": i.get("HealthStatus"),
            "protected": bool(i.get("ProtectedFromScaleIn")),
            "type": i.get("InstanceType"),
            "zone": i.get("AvailabilityZone"),
        }
        for i in group.instances
    ]
    return {
        "min": group.min,
        "max": group.max,
        "desired": group.desired,
        "halted": group.halted,
        "by_state": _count(i["state"] for i in instances),
        "instances": instances,
        "warm_pool": _section(lambda: warm_pool_state(autoscaling, group.name)),
    }


def warm_pool_state(autoscaling: Any, group_name: str) -> dict | None:
    """None when the group has no warm pool."""
    pages = autoscaling.get_paginator("describe_warm_pool").paginate(AutoScalingGroupName=group_name)
    config, instances = None, []
    for page in pages:
        config = config or page.get("WarmPoolConfiguration")
        instances += page.get("Instances", [])
    if not config:
        return None
    return {
        "state": config.get("PoolState"),
        "min": config.get("MinSize", 0),
        "max_prepared": config.get("MaxGroupPreparedCapacity"),
        "by_state": _count(i.get("LifecycleState", "?") for i in instances),
    }


def alarm_states(cloudwatch: Any, info: StackInfo) -> dict:
    """{alarm name: {state, reason, since}} of the stack's alarms; a missing one is None."""
    names = [f"{info.alarm_prefix}-{purpose}" for purpose in ALARM_PURPOSES]
    found = {a["AlarmName"]: a for a in cloudwatch.describe_alarms(AlarmNames=names).get("MetricAlarms", [])}
    return {
        name: (
            {
                "state": found[name].get("StateValue"),
                "reason": found[name].get("StateReason", ""),
                "since": _iso(found[name].get("StateUpdatedTimestamp")),
            }
            if name in found
            else None
        )
        for name in names
    }


def recent_activities(autoscaling: Any, info: StackInfo, count: int = 5) -> list[dict]:
    """Latest scaling activities of the group, newest first."""
    activities = autoscaling.describe_scaling_activities(
        AutoScalingGroupName=info.autoscaling_group_name, MaxRecords=count
    )["Activities"]
    return [
        {
            "time": _iso(a.get("StartTime")),
            "status": a.get("StatusCode"),
            "description": a.get("Description", ""),
            "cause": a.get("Cause", ""),
        }
        for a in activities[:count]
    ]


def attention(info: StackInfo, stack_dir: Path, fleet: dict, alarms: dict, stopped: dict | None) -> list[str]:
    """Why nothing runs, with the fix: the lines `status` shows first."""
    lines = []
    if isinstance(fleet, dict) and fleet.get("halted") is not None:
        lines.append(
            f"HALTED by an instance agent: {fleet['halted']}. Workers could not take videos: check the "
            f"image and model files and the log group /ecs/{info.stack_name}, then "
            f"`ecs-autoscale resume {stack_dir}`."
        )
    states = alarms if isinstance(alarms, dict) else {}
    not_taken, stuck = (states.get(f"{info.alarm_prefix}-{p}") for p in ("videos-not-taken", "videos-stuck"))
    if isinstance(not_taken, dict) and not_taken.get("state") == "ALARM":
        lines.append(
            f"VIDEOS NOT TAKEN since {not_taken['since']}: the oldest video has waited {STUCK_MINUTES} min or "
            "more and no worker is taking one, so no alarm adds instances. Unless the stack is stopped or halted "
            f"(below), check the image and model files and the log group /ecs/{info.stack_name}, and the "
            f"GPU vCPU quota (`ecs-autoscale doctor CONFIG`); then `ecs-autoscale resume {stack_dir}` "
            "launches what the queued videos need."
        )
    if isinstance(stuck, dict) and stuck.get("state") == "ALARM":
        lines.append(
            f"VIDEOS STUCK since {stuck['since']}: {stuck['reason']} The alarm sets the group to 0: check "
            f"the image and model files and the log group /ecs/{info.stack_name}, then "
            f"`ecs-autoscale resume {stack_dir}`."
        )
    if stopped:
        lines.append(
            f"STOPPED since {stopped['since']} by `ecs-autoscale stop`; undo with `ecs-autoscale resume {stack_dir}`."
        )
    elif isinstance(fleet, dict) and fleet.get("max") == 0 and fleet.get("halted") is None:
        lines.append(
            f"STOPPED: the group's maximum is 0 (stopped from elsewhere?); `ecs-autoscale resume "
            f"{stack_dir}` sets it back to FleetSize."
        )
    return lines


def _count(states: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for state in states:
        counts[state] = counts.get(state, 0) + 1
    return counts


def _section(read: Any) -> Any:
    """What `read()` returns, or {"error": ...} when AWS refuses: status shows what it can."""
    try:
        return read()
    except Exception as exc:  # informational: never fail the whole status for one section
        return {"error": _why(exc)}


def _why(exc: Exception) -> str:
    return f"not readable ({error_code(exc) or type(exc).__name__})"


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value or "")


# ---- peeking a queue without taking its messages ---------------------------------------------------------
def peek_messages(sqs: Any, url: str, max_messages: int = PEEK_MAX_MESSAGES) -> tuple[list[dict], bool]:
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
            batch = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=PEEK_HOLD_SECONDS,
                WaitTimeSeconds=1,
                AttributeNames=["All"],
            ).get("Messages", [])
            if not batch:
                complete = True
                break
            held.extend(batch)
    finally:
        release(sqs, url, held)
    return held, complete


def release(sqs: Any, url: str, messages: list[dict]) -> None:
    """Make received messages visible again at once."""
    for start in range(0, len(messages), 10):
        chunk = messages[start : start + 10]
        sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0} for i, m in enumerate(chunk)
            ],
        )


def dead_outcomes(messages: Iterable[dict]) -> dict[str, tuple[str, str | None, str | None]]:
    """{message_uuid: (state, results, error)} of dead-queue messages (a worker echoes the job's
    metadata_b64, so the uuid ties an outcome to one attempt of one video)."""
    by_uuid: dict[str, tuple[str, str | None, str | None]] = {}
    for message in messages:
        body = parse_body(message.get("Body", ""))
        if not body or "video" not in body:
            continue
        status = str(body.get("status", "")).upper()
        outcome: tuple[str, str | None, str | None]
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
def fresh_results(s3: Any, bucket: str, entries: dict[str, dict]) -> dict[str, str]:
    """{video key: results key} for videos whose results object exists and is newer than their send.

    One listing per folder of videos (not one request per video), folder level only.
    """
    wanted: dict[str, dict[str, tuple[str, datetime | None]]] = {}
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


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def waiting_state(video_queue: dict) -> str:
    visible = video_queue["visible"] + video_queue.get("delayed", 0)
    in_flight = video_queue["in_flight"]
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

    def refresh(self, s3: Any, tracks_bucket: str, dead: dict) -> bool:
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
                changed |= self.ledger.record_outcome(
                    key, state, results=results or (results_key(key) if state == DONE else None), error=error
                )
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
            videos.append(
                {
                    "video": key,
                    "state": shown,
                    "results": entry.get("results"),
                    "error": entry.get("error"),
                    "source": entry.get("source"),
                    "attempt": entry.get("attempt", 1),
                    "sent_at": entry.get("sent_at"),
                }
            )
        counts = {s: 0 for s in STATES}
        for v in videos:
            counts[v["state"]] += 1
        return {"job": self.ledger.job_name, "total": len(videos), "counts": counts, "videos": videos}


def job_reports(aws: AwsClients, info: StackInfo, stack_dir: Path, job_names: list[str], video_queue: dict) -> dict:
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
            report["note"] = (
                f"{held} dead-queue message(s) are held by another reader (e.g. deepsea-ai monitor): "
                "failures among the unknown videos show again when their visibility timeout ends"
            )
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
                current.record_outcome(
                    key,
                    entry["state"],
                    entry.get("results"),
                    entry.get("error"),
                    message_uuid=entry.get("message_uuid"),
                )
        current.save()


def select_jobs(stack_dir: Path, job: str | None) -> list[str]:
    known = list_jobs(stack_dir)
    if job is None:
        return known
    if job not in known:
        hint = f"known jobs: {', '.join(known)}" if known else "no job was submitted from this STACK_DIR"
        raise JobsError(
            f"job {job!r}: no ledger in {Path(stack_dir) / 'jobs'} and not in a deepsea-ai job cache "
            f"({hint}; a job sent by deepsea-ai: point --deepsea-db at its sqlite_job_cache_*.db)"
        )
    return [job]


def collect_status(
    aws: AwsClients, info: StackInfo, stack_dir: Path, job: str | None = None, deepsea: DeepseaCache | None = None
) -> dict:
    """Everything `status` shows, as one JSON-ready dict (a section AWS refuses is {"error": ...};
    `deepsea`: a DeepseaCache to read jobs from)."""
    from .deepsea_cache import sync_deepsea_jobs

    sync_deepsea_jobs(aws, info, stack_dir, deepsea, None if job is None else [job])
    sqs = aws("sqs")
    queues = {
        "video": queue_depth(sqs, info.video_queue_url),
        "track": queue_depth(sqs, info.track_queue_url),
        "dead": queue_depth(sqs, info.dead_queue_url),
    }
    stop_record = StackDir(stack_dir).read_stop_record()
    stopped = {"since": stop_record.get("stopped_at", "?")} if stop_record else None
    fleet = _section(lambda: fleet_state(aws("autoscaling"), info))
    alarms = _section(lambda: alarm_states(aws("cloudwatch"), info))
    return {
        "stack_name": info.stack_name,
        "region": info.region,
        "time": _iso(datetime.now(timezone.utc)),
        "attention": attention(info, stack_dir, fleet, alarms, stopped),
        "stopped": stopped,
        "queues": queues,
        "tasks": _section(lambda: tasks_state(aws("ecs"), info)),
        "fleet": fleet,
        "alarms": alarms,
        "activities": _section(lambda: recent_activities(aws("autoscaling"), info)),
        "jobs": job_reports(aws, info, stack_dir, select_jobs(stack_dir, job), queues["video"]),
    }
