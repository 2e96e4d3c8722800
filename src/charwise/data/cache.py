"""Where charwise keeps what it derives from texts (encoded ids, built-in corpora)."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """$CHARWISE_CACHE, else ~/.cache/charwise (XDG), else a temporary folder."""
    env = os.environ.get("CHARWISE_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "charwise"
