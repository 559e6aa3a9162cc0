"""File writes that never leave half a file behind (outputs, synthesized JSON, reports).

`private=True`: readable by the owner only (0600 in a folder made 0700 if created here), for what can
hold state or secrets (STACK_DIR: plans, outputs, records; see stack_dir.py)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write via a temp file in the same folder + rename: readers see the old or the new file, never half."""
    path.parent.mkdir(mode=PRIVATE_DIR_MODE if private else 0o777, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE if private else 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if exc.filename is None:  # write/fsync errors (e.g. ENOSPC) name no file: name the one we kept whole
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, value: Any, *, private: bool = False) -> None:
    atomic_write(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode(), private=private)
