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
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Optional, Sequence

from . import JobsError
from .aws import error_code

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


def collect_videos(inputs: Sequence[Path]) -> tuple[list[Video], list[Path]]:
    """(videos in a stable order, ignored non-video files) from files and folders (searched recursively).

    A file named explicitly must be a video; inside folders, other files and hidden entries are ignored.
    Two inputs that map to one S3 key would be one job: refused, with both paths.
    """
    videos: dict[str, Video] = {}
    ignored: list[Path] = []

    def add(path: Path) -> None:
        key = video_key(path)
        resolved = path.resolve()
        other = videos.get(key)
        if other is not None:
            if other.path.resolve() != resolved:
                raise JobsError(f"{path} and {other.path} would both upload to video key {key!r} (one job per key): "
                                "submit them separately or rename one")
            return
        videos[key] = Video(path=Path(os.path.abspath(path)), key=key, size=path.stat().st_size)

    for given in inputs:
        path = Path(given)
        if not path.exists():
            raise JobsError(f"{path}: not found (check the path)")
        if path.is_dir():
            for found in sorted(p for p in path.rglob("*") if p.is_file()):
                if _hidden(found, path):
                    continue
                if is_video(found):
                    add(found)
                else:
                    ignored.append(found)
        elif is_video(path):
            add(path)
        else:
            raise JobsError(f"{path}: not a video (accepted suffixes: {' '.join(VIDEO_SUFFIXES)}, any case)")
    return list(videos.values()), ignored


def transfer_config(part_size_mb: int = DEFAULT_PART_SIZE_MB):
    """Multipart above one part, parts uploaded in parallel (boto3 TransferConfig)."""
    from boto3.s3.transfer import TransferConfig

    part = max(MIN_PART_SIZE_MB, int(part_size_mb)) * 1024 * 1024
    return TransferConfig(multipart_threshold=part, multipart_chunksize=part, max_concurrency=8)


def remote_size(s3, bucket: str, key: str) -> Optional[int]:
    """Size of s3://bucket/key, None when there is no such object."""
    try:
        return int(s3.head_object(Bucket=bucket, Key=key)["ContentLength"])
    except Exception as exc:  # botocore ClientError
        if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def ensure_uploaded(s3, bucket: str, video: Video, config, on_bytes: Callable[[int], None]) -> bool:
    """Upload `video` unless the bucket already holds it; True when it was uploaded.

    An object of the same size is taken as this video (the original skipped any existing object); one
    of another size is a different video under the same key and is never overwritten.
    """
    existing = remote_size(s3, bucket, video.key)
    if existing == video.size:
        return False
    if existing is not None:
        raise JobsError(f"s3://{bucket}/{video.key} already holds a different object ({existing} bytes, "
                        f"{video.path} has {video.size}): rename the local file or remove that object")
    s3.upload_file(str(video.path), bucket, video.key, Config=config, Callback=on_bytes)
    return True


class ByteProgress:
    """Thread-safe byte counter behind a click progress bar on stderr (the transfer calls back from
    its worker threads)."""

    def __init__(self, total: int, label: str, enabled: bool = True) -> None:
        import sys

        import click

        self._lock = threading.Lock()
        self._bar = click.progressbar(length=max(total, 1), label=label, file=sys.stderr,
                                      show_pos=False, show_percent=True, show_eta=True) if enabled else None

    def __enter__(self) -> "ByteProgress":
        if self._bar:
            self._bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._bar:
            self._bar.__exit__(*exc)

    def __call__(self, count: int) -> None:
        if self._bar:
            with self._lock:
                self._bar.update(count)
