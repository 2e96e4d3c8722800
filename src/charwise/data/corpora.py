"""Built-in corpora that work offline right after install (`--corpus NAME`, `charwise corpora`)."""

from __future__ import annotations

import random
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import names  # ships the census lists dist.male.first / dist.female.first

from ..atomic import atomic_write
from ..errors import CharwiseError
from .cache import default_cache_dir


@dataclass(frozen=True)
class BuiltinCorpus:
    name: str
    description: str


CORPORA = {
    "names": BuiltinCorpus(
        "names",
        "about 5,000 US first names, one per line (the `names` package's "
        "1990 census lists): the post's baby-names experiment",
    ),
    "python": BuiltinCorpus(
        "python",
        "this Python's standard library source (about 12 MB of .py "
        "files, tests left out): a code corpus like the post's Linux run",
    ),
}


def _names_text() -> str:
    base = Path(names.__file__).parent
    seen: dict[str, None] = {}
    for fname in ("dist.female.first", "dist.male.first"):
        for line in (base / fname).read_text(encoding="ascii").splitlines():
            if line.strip():
                seen.setdefault(line.split()[0].capitalize(), None)
    lines = list(seen)
    # A fixed shuffle so that no split holds only rare names (the lists are sorted by frequency).
    random.Random(0).shuffle(lines)
    return "\n".join(lines) + "\n"


def _python_files() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = {"site-packages", "dist-packages", "test", "tests", "idle_test", "__pycache__"}
    return sorted(f for f in root.rglob("*.py") if not skip.intersection(f.relative_to(root).parts))


def corpus_files(name: str, cache_dir: Path | None = None) -> list[Path]:
    """The files of built-in corpus `name` (generated into the cache folder where needed)."""
    if name not in CORPORA:
        raise CharwiseError(f"unknown corpus {name!r}; built-in corpora: {', '.join(CORPORA)}")
    if name == "python":
        return _python_files()
    out = (Path(cache_dir) if cache_dir else default_cache_dir()) / "corpora" / f"{name}.txt"
    text = _names_text()
    if not out.exists() or out.read_text(encoding="utf-8") != text:
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(out, text)
    return [out]
