"""The video job message, exactly as deepsea-ai 1.25's `ecsprocess` sends it and `dettrack` parses it.

Body (JSON, indented by 4 like deepsea-ai's): {"video": KEY, "clean": "True"|"False", "user_name": USER,
"metadata_b64": base64(json({"message_uuid": UUID4})), "job_name": JOB, "args": EXTRA_ARGS}, in that
order; "args" only when extra arguments are given (surrounding double quotes stripped, as deepsea-ai
does). USER is the last `/` part of the caller's ARN cut at `@` ("Unknown" when STS cannot tell).
The worker echoes these fields back with "status" ("SUCCESS" + "results" to the track queue,
"FAILED" + "error" to the dead queue), which is how a result is matched to the message that asked
for it (message_uuid).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from datetime import datetime, timezone
from typing import Any

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
    body = {
        "video": video_key,
        "clean": "True" if clean else "False",
        "user_name": user_name,
        "metadata_b64": encode_metadata(message_uuid),
        "job_name": job_name,
    }
    args = (args or "").strip('"')
    if args:
        body["args"] = args
    return body


def encode_body(body: dict) -> str:
    return json.dumps(body, indent=4)


def parse_body(text: str) -> dict | None:
    """A message body as a dict, None when it is not a JSON object (never raises)."""
    try:
        value = json.loads(text)
    except (ValueError, TypeError):
        return None
    return value if isinstance(value, dict) else None


def message_uuid_of(body: dict) -> str | None:
    value = decode_metadata(str(body.get("metadata_b64", ""))).get("message_uuid")
    return str(value) if value else None


def message_group_id(video_name: str, now: datetime | None = None) -> str:
    """`<UTC %Y%m%dT%H%M%S>-<video name>` like ecsprocess; characters SQS refuses (spaces, non-ASCII)
    become '_' and the id is cut to SQS's 128 characters, where the original send would have failed."""
    now = now or datetime.now(timezone.utc)
    group = f"{now.astimezone(timezone.utc):%Y%m%dT%H%M%S}-{video_name}"
    return _GROUP_ID_FORBIDDEN.sub("_", group)[:GROUP_ID_MAX]


def deduplication_id(job_name: str, video_key: str, attempt: int = 1) -> str:
    """Same job + video (+ attempt) -> same id, so SQS drops a repeated send within its 5-minute
    deduplication window even when the local ledger could not record the first one."""
    return hashlib.sha256(f"{job_name}\n{video_key}\n{attempt}".encode()).hexdigest()


def user_name_of(arn: str) -> str:
    """deepsea-ai's user name of a caller ARN: the last `/` part, cut at `@` (an assumed-role session
    named after an e-mail address gives the address's local part; the root ARN stays whole)."""
    return arn.split("/")[-1].split("@")[0]


def caller_user_name(sts: Any) -> str:
    """The caller's user name as deepsea-ai sends it; "Unknown" (deepsea-ai's word) when STS refuses or
    there are no credentials. A network failure is raised (the caller retries it)."""
    from .network_retry import is_network_error

    try:
        return user_name_of(sts.get_caller_identity()["Arn"])
    except Exception as exc:  # no STS access: the name is informational only
        if is_network_error(exc):
            raise
        return "Unknown"
