"""Finding videos on disk and uploading them to the video bucket under the original key layout.

Key layout: exactly deepsea-ai's `ecsprocess` (its `upload_tag.get_prefix`), so one video sent by
either client is one object and one job. Of the markers `Volumes/`, `mnt/`, `Users/`, `home/`, in that
order, the first one found anywhere in the absolute path (a substring: `myVolumes/` counts) is used; the
key is the text of the video's folder after the LAST occurrence of that marker, then the file name:
  /Volumes/M3/dive-1234/clip.mov      -> M3/dive-1234/clip.mov
  /home/alice/Volumes/M3/clip.mov     -> M3/clip.mov        (Volumes/ is looked for before home/)
  /Volumes/A/Volumes/B/clip.mov       -> B/clip.mov         (the last occurrence)
  /Users/bob/myVolumes/x/clip.mov     -> x/clip.mov         (substring match)
  /Volumes/clip.mov                   -> Volumes/clip.mov   (the folder itself does not end in the marker)
A path with no marker keeps everything after the root (/data/v/clip.mov -> data/v/clip.mov), where
deepsea-ai would send the unusable key `//clip.mov`. deepsea-ai applies the rule to the path as typed
(a relative path loses its folders); this client to the absolute path. Workers write results under
the same prefix.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import error_code
from . import JobsError

VIDEO_SUFFIXES = (".mov", ".avi", ".mp4", ".mpg", ".mpeg", ".m4v", ".wmv", ".mkv")
KEY_MARKERS = ("Volumes/", "mnt/", "Users/", "home/")  # deepsea-ai's order; the first one found wins
DEFAULT_PART_SIZE_MB = 64
MIN_PART_SIZE_MB = 5  # S3's smallest multipart part


@dataclass(frozen=True)
class Video:
    path: Path
    key: str
    size: int

    @property
    def name(self) -> str:
        return self.path.name


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


RESULTS_SUFFIX = ".tracks.tar.gz"


def results_key(video_key: str) -> str:
    """Where the worker writes a video's results: `<stem>.tracks.tar.gz` under the video's prefix."""
    path = PurePosixPath(video_key)
    return str(path.with_name(path.stem + RESULTS_SUFFIX))


def video_key(path: Path) -> str:
    """S3 key of a local video (see module docstring)."""
    full = PurePosixPath(Path(os.path.abspath(path)).as_posix())
    text, folder = str(full), str(full.parent)
    for marker in KEY_MARKERS:
        if marker in text:
            prefix = folder.split(marker)[-1].lstrip("/")
            if prefix:
                return f"{prefix}/{full.name}"
            break
    return text.lstrip("/")


def _hidden(path: Path, root: Path) -> bool:
    # Skips dot files and folders, notably macOS `._clip.mov` resource forks on external volumes.
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def excluded(relative: str, exclude: Sequence[str]) -> bool:
    """deepsea-ai's --exclude: any of the strings occurs in the path (as given under the input folder,
    folders included, so `--exclude tmp` also skips tmp/clip.mov; deepsea-ai only tests file names)."""
    return any(text and text in relative for text in exclude)


def collect_videos(
    inputs: Sequence[Path], exclude: Sequence[str] = (), skipped: list[Path] | None = None
) -> tuple[list[Video], list[Path]]:
    """(videos in a stable order, ignored non-video files) from files and folders (searched recursively).

    A file named explicitly must be a video; inside folders, other files and hidden entries are ignored.
    Videos whose path under its input (or file name, for a file given) contains an `exclude` string are
    left out and appended to `skipped`. Two inputs that map to one S3 key would be one job: refused,
    with both paths.
    """
    videos: dict[str, Video] = {}
    ignored: list[Path] = []
    skipped = [] if skipped is None else skipped

    def add(path: Path) -> None:
        key = video_key(path)
        resolved = path.resolve()
        other = videos.get(key)
        if other is not None:
            if other.path.resolve() != resolved:
                raise JobsError(
                    f"{path} and {other.path} would both upload to video key {key!r} (one job per key): "
                    "submit them separately or rename one"
                )
            return
        videos[key] = Video(path=Path(os.path.abspath(path)), key=key, size=path.stat().st_size)

    for given in inputs:
        for found, relative in _candidates(Path(given), ignored):
            if excluded(relative, exclude):
                skipped.append(found)
            else:
                add(found)
    return list(videos.values()), ignored


def _candidates(path: Path, ignored: list[Path]) -> Iterator[tuple[Path, str]]:
    """(video, the path `--exclude` looks at) of one input; a folder's non-video files go to `ignored`."""
    if not path.exists():
        raise JobsError(f"{path}: not found (check the path)")
    if not path.is_dir():
        if not is_video(path):
            raise JobsError(f"{path}: not a video (accepted suffixes: {' '.join(VIDEO_SUFFIXES)}, any case)")
        yield path, path.name
        return
    for found in sorted(p for p in path.rglob("*") if p.is_file()):
        if _hidden(found, path):
            continue
        if not is_video(found):
            ignored.append(found)
        else:
            yield found, found.relative_to(path).as_posix()


def transfer_config(part_size_mb: int = DEFAULT_PART_SIZE_MB, max_bandwidth: int | None = None) -> Any:
    """Multipart above one part, parts uploaded in parallel (boto3 TransferConfig); `max_bandwidth`
    (bytes per second) caps the upload rate of all parts together (None: no cap)."""
    from boto3.s3.transfer import TransferConfig

    part = max(MIN_PART_SIZE_MB, int(part_size_mb)) * 1024 * 1024
    return TransferConfig(
        multipart_threshold=part, multipart_chunksize=part, max_concurrency=8, max_bandwidth=max_bandwidth
    )


_RATE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmg]?)(i?)(b|bits?|bytes?)?(?:/s)?\s*$", re.I)


def parse_rate(text: str) -> int:
    """Bytes per second from '20' (MB/s), '20MB/s', '500KB/s', '1.5GB/s', '100Mbit/s', '64MiB/s'.
    K/M/G are powers of 1000 (Ki/Mi/Gi of 1024); B is bytes, only 'bit' counts bits."""
    match = _RATE.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a rate such as 20MB/s, 500KB/s or 100Mbit/s")
    number, prefix, binary, unit = float(match[1]), match[2].lower(), match[3], match[4] or ""
    if not prefix and not unit:
        prefix = "m"  # a plain number is MB/s
    scale = {"": 1, "k": 1, "m": 2, "g": 3}[prefix]
    factor = (1024 if binary else 1000) ** scale if prefix else 1
    bits = unit.lower().startswith("bit")
    rate = number * factor / (8 if bits else 1)
    if rate < 1024:
        raise ValueError(f"{text!r} is below 1024 bytes/s")
    return int(rate)


def remote_size(s3: Any, bucket: str, key: str) -> int | None:
    """Size of s3://bucket/key, None when there is no such object."""
    try:
        return int(s3.head_object(Bucket=bucket, Key=key)["ContentLength"])
    except Exception as exc:  # botocore ClientError
        if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


NOT_LOOKED_UP = -1
"""`existing` of ensure_uploaded: the bucket was not listed, so ask S3 about this one key."""


def existing_sizes(s3: Any, bucket: str, keys: Sequence[str]) -> dict[str, int]:
    """{key: size} of those `keys` already in the bucket: one listing per folder (ListObjectsV2, the folder
    as prefix, "/" as delimiter), instead of one HeadObject per video."""
    wanted: dict[str, set[str]] = {}
    for key in keys:
        folder = str(PurePosixPath(key).parent)
        wanted.setdefault("" if folder == "." else folder + "/", set()).add(key)
    found: dict[str, int] = {}
    paginator = s3.get_paginator("list_objects_v2")
    for prefix, targets in wanted.items():
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
            found.update({o["Key"]: int(o["Size"]) for o in page.get("Contents", []) if o["Key"] in targets})
    return found


def ensure_uploaded(
    s3: Any,
    bucket: str,
    video: Video,
    config: Any,
    on_bytes: Callable[[int], None],
    tags: dict[str, str] | None = None,
    existing: int | None = NOT_LOOKED_UP,
) -> bool:
    """Upload `video` unless the bucket already holds it; True when it was uploaded.

    `existing`: the size of the object already at the video's key as listed (None: none), or
    NOT_LOOKED_UP to ask S3 now. An object of the same size is taken as this video (the original skipped
    any existing object); one of another size is a different video under the same key and is never
    overwritten. `tags` go on the new object, or are added to the one already there (deepsea-ai tags every
    video it meets). A video below the multipart threshold, without a bandwidth cap, is one PutObject; the
    others go through the transfer manager (parts in parallel, the cap).
    """
    from .object_tags import merge_object_tags, upload_tagging

    if existing == NOT_LOOKED_UP:
        existing = remote_size(s3, bucket, video.key)
    if existing == video.size:
        merge_object_tags(s3, bucket, video.key, tags or {})
        return False
    if existing is not None:
        raise JobsError(
            f"s3://{bucket}/{video.key} already holds a different object ({existing} bytes, "
            f"{video.path} has {video.size}): rename the local file or remove that object"
        )
    tagging = upload_tagging(tags or {})
    if single_request(video, config):
        s3.put_object(
            Bucket=bucket, Key=video.key, Body=video.path.read_bytes(), **({"Tagging": tagging} if tagging else {})
        )
        on_bytes(video.size)
        return True
    s3.upload_file(
        str(video.path),
        bucket,
        video.key,
        Config=config,
        Callback=on_bytes,
        ExtraArgs={"Tagging": tagging} if tagging else None,
    )
    return True


def single_request(video: Video, config: Any) -> bool:
    """One PutObject does: below the multipart threshold, and no bandwidth cap to honour."""
    return video.size < config.multipart_threshold and not config.max_bandwidth


class ByteProgress:
    """Thread-safe byte counter behind a click progress bar on stderr (the transfer calls back from
    its worker threads)."""

    def __init__(self, total: int, label: str, enabled: bool = True) -> None:
        import sys

        import click

        self._lock = threading.Lock()
        self._bar = (
            click.progressbar(
                length=max(total, 1), label=label, file=sys.stderr, show_pos=False, show_percent=True, show_eta=True
            )
            if enabled
            else None
        )

    def __enter__(self) -> ByteProgress:
        if self._bar:
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bar:
            self._bar.__exit__(*exc)

    def __call__(self, count: int) -> None:
        if self._bar:
            with self._lock:
                self._bar.update(count)


class RewindableBytes:
    """Progress callback that can take back the bytes of an upload attempt that is started over."""

    def __init__(self, bar: Callable[[int], None]) -> None:
        self.bar, self.sent, self.lock = bar, 0, threading.Lock()

    def __call__(self, count: int) -> None:  # called from the transfer's threads
        with self.lock:
            self.sent += count
        self.bar(count)

    def rewind(self) -> None:
        with self.lock:
            sent, self.sent = self.sent, 0
        self.bar(-sent)
