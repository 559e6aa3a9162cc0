"""S3 object tags for uploaded videos (cost accounting), like deepsea-ai tags every upload.

Two sources, merged (later wins): `--tags-from CONFIG.ini`, a deepsea-ai config file whose `[tags]`
section (organization, project_number, stage, application) gives the seven tags deepsea-ai 1.25 sets:
`<org>:project-number`, `<org>:owner`, `<org>:description`, `<org>:stage`, `<org>:application`,
`<org>:deletion-date` (90 days ahead, %Y%m%dT%H%M%SZ) and `<org>:created-by`; and `--tag KEY=VALUE`.
Everything is checked against S3's tag rules before anything is uploaded: at most 10 tags per object,
keys 1-128 and values 0-256 characters of letters, digits, spaces and + - = . _ : / @, no `aws:` key.
"""

from __future__ import annotations

import configparser
import re
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from . import JobsError

MAX_TAGS = 10
_ALLOWED = re.compile(r"^[\w .:/=+\-@]*$")
_DISALLOWED_CHAR = re.compile(r"[^\w .:/=+\-@]")
DEEPSEA_TAG_KEYS = ("organization", "project_number", "stage", "application")
DELETION_DAYS = 90


def parse_tag_options(values: Iterable[str]) -> dict[str, str]:
    tags = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise JobsError(f"--tag {value!r}: write KEY=VALUE, e.g. --tag project=dive-survey")
        tags[key.strip()] = val.strip()
    return tags


def read_deepsea_config(path: Path) -> configparser.ConfigParser:
    """deepsea-ai's CONFIG.ini (`submit --tags-from`), or one line saying why not."""
    parser = configparser.ConfigParser()
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except (OSError, configparser.Error, UnicodeDecodeError) as exc:
        raise JobsError(f"--tags-from {path}: unreadable ({' '.join(str(exc).split())})") from None
    return parser


def deepsea_config_tags(path: Path, user_name: str, description: str, now: datetime | None = None) -> dict[str, str]:
    """The tags deepsea-ai's `Config.get_tags(description)` builds from CONFIG.ini's [tags]."""
    parser = read_deepsea_config(path)
    if not parser.has_section("tags"):
        raise JobsError(
            f"--tags-from {path}: no [tags] section (deepsea-ai's config.ini has one with "
            f"{', '.join(DEEPSEA_TAG_KEYS)})"
        )
    missing = [k for k in DEEPSEA_TAG_KEYS if not parser.has_option("tags", k)]
    if missing:
        raise JobsError(
            f"--tags-from {path}: [tags] lacks {', '.join(missing)} (deepsea-ai needs {', '.join(DEEPSEA_TAG_KEYS)})"
        )
    section = parser["tags"]
    org = section["organization"]
    deletion = ((now or datetime.now(timezone.utc)) + timedelta(days=DELETION_DAYS)).strftime("%Y%m%dT%H%M%SZ")
    return {
        f"{org}:project-number": section["project_number"],
        f"{org}:owner": user_name,
        # deepsea-ai puts the input path here; S3 refuses some characters paths may hold.
        f"{org}:description": _DISALLOWED_CHAR.sub("_", description)[:256],
        f"{org}:stage": section["stage"],
        f"{org}:application": section["application"],
        f"{org}:deletion-date": deletion,
        f"{org}:created-by": user_name,
    }


def check_tags(tags: dict[str, str], source: str = "--tag") -> dict[str, str]:
    if len(tags) > MAX_TAGS:
        raise JobsError(f"{source}: {len(tags)} tags, S3 allows {MAX_TAGS} per object")
    for key, value in tags.items():
        if not 1 <= len(key) <= 128 or not _ALLOWED.match(key) or key.lower().startswith("aws:"):
            raise JobsError(
                f"{source}: tag key {key!r} is not a legal S3 tag key (1-128 letters, digits, spaces "
                "or + - = . _ : / @, not starting with aws:)"
            )
        if len(value) > 256 or not _ALLOWED.match(value):
            raise JobsError(
                f"{source}: tag {key}={value!r} has a value S3 refuses (at most 256 letters, digits, "
                "spaces or + - = . _ : / @)"
            )
    return tags


def upload_tagging(tags: dict[str, str]) -> str | None:
    """The `Tagging` argument of an upload (URL-encoded), None without tags."""
    return urlencode(tags) if tags else None


def merge_object_tags(s3: Any, bucket: str, key: str, tags: dict[str, str]) -> bool:
    """Add `tags` to an object already in the bucket, keeping its other tags; True when it changed."""
    if not tags:
        return False
    current = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key).get("TagSet", [])}
    merged = {**current, **tags}
    if merged == current:
        return False
    if len(merged) > MAX_TAGS:
        raise JobsError(
            f"s3://{bucket}/{key} already has {len(current)} tags: adding {len(tags)} would exceed S3's {MAX_TAGS}"
        )
    s3.put_object_tagging(
        Bucket=bucket, Key=key, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in merged.items()]}
    )
    return True
