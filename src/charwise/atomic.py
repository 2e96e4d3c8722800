"""Files replaced whole or not at all: write to a temporary name in the same folder, flush it to
disk, rename it over the target (atomic on POSIX). A crash mid-write leaves the previous file
(a checkpoint, a cache entry) as it was, and no temporary behind."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def replace_atomically(path: Path, write: Callable[[Path], T]) -> T:
    """write(tmp_path), then fsync and rename tmp_path over `path`; returns write's result."""
    path = Path(path)
    # The host as well as the process: a cache folder may be shared by the nodes of a cluster.
    tmp = path.with_name(f".{path.name}.{socket.gethostname()}.{os.getpid()}.tmp")
    try:
        result = write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return result


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write `data` (text is UTF-8) to `path` through a temporary file and a rename."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    replace_atomically(path, lambda tmp: Path(tmp).write_bytes(raw))
