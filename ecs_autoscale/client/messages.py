"""The video job message, exactly as `ecsprocess` sends it and `dettrack` parses it.

Body (JSON): {"video": KEY, "clean": "True"|"False", "user_name": USER, "metadata_b64":
base64(json({"message_uuid": UUID4})), "job_name": JOB, "args": EXTRA_ARGS}. The worker echoes these
fields back with "status" ("SUCCESS" + "results" to the track queue, "FAILED" + "error" to the dead
queue), which is how a result is matched to the message that asked for it (message_uuid).
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from datetime import datetime, timezone
from typing import Optional

GROUP_ID_MAX = 128
# SQS accepts alphanumerics and ASCII punctuation in MessageGroupId / MessageDeduplicationId.
_GROUP_ID_FORBIDDEN = re.compile(r"[^A-Za-z0-9!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]")


def new_message_uuid() -> str:
    return str(uuid.uuid4())


def encode_metadata(message_uuid: str) -> str:
    return base64.b64encode(json.dumps({"message_uuid": message_uuid}).encode()).decode()


def decode_metadata(metadata_b64: str) -> dict:
    """The metadata a body carries ({} when absent or unreadable: older clients sent none)."""
    try:
        value = json.loads(base64.b64decode(metadata_b64, validate=True))
    except (ValueError, TypeError):
        return {}
    return value if isinstance(value, dict) else {}


def job_body(video_key: str, job_name: str, clean: bool, user_name: str, args: str, message_uuid: str) -> dict:
    return {
        "video": video_key,
        "clean": "True" if clean else "False",
        "user_name": user_name,
        "metadata_b64": encode_metadata(message_uuid),
        "job_name": job_name,
        "args": args,
    }


def encode_body(body: dict) -> str:
    return json.dumps(body)


def parse_body(text: str) -> Optional[dict]:
    """A message body as a dict, None when it is not a JSON object (never raises)."""
    try:
        value = json.loads(text)
    except (ValueError, TypeError):
        return None
    return value if isinstance(value, dict) else None


def message_uuid_of(body: dict) -> Optional[str]:
    value = decode_metadata(str(body.get("metadata_b64", ""))).get("message_uuid")
    return str(value) if value else None


def message_group_id(video_name: str, now: Optional[datetime] = None) -> str:
    """`<UTC %Y%m%dT%H%M%S>-<video name>` like ecsprocess; characters SQS refuses (spaces, non-ASCII)
    become '_' and the id is cut to SQS's 128 characters, where the original send would have failed."""
    now = now or datetime.now(timezone.utc)
    group = f"{now.astimezone(timezone.utc):%Y%m%dT%H%M%S}-{video_name}"
    return _GROUP_ID_FORBIDDEN.sub("_", group)[:GROUP_ID_MAX]


def deduplication_id(job_name: str, video_key: str, attempt: int = 1) -> str:
    """Same job + video (+ attempt) -> same id, so SQS drops a repeated send within its 5-minute
    deduplication window even when the local ledger could not record the first one."""
    return hashlib.sha256(f"{job_name}\n{video_key}\n{attempt}".encode()).hexdigest()


def caller_user_name(sts) -> str:
    """IAM user (or assumed-role session) name of the caller, as ecsprocess reports it; the local user
    name when AWS cannot tell."""
    try:
        arn = sts.get_caller_identity()["Arn"]
        return arn.rsplit("/", 1)[-1] if "/" in arn else arn.rsplit(":", 1)[-1]
    except Exception:  # no STS access: the name is informational only
        import getpass

        return getpass.getuser()
