"""onnxruntime-web, vendored: the two files of its npm package the exported page runs on.

The page needs only the CPU (WebAssembly) build: `ort.wasm.bundle.min.mjs`, the API with
Emscripten's loader inlined, and `ort-wasm-simd-threaded.wasm` (about 15 MB), plus its MIT
licence (web_assets/ort-LICENSE.txt: the npm package states it in package.json only).
The module is copied under a `.js` name: browsers refuse a module script served with a MIME
type other than JavaScript, and not every static server knows `.mjs` (`.js` all of them do).

Nothing is fetched at export or at run time. The files come from, in this order:
  1. --ort-web PATH: an onnxruntime-web npm folder (`npm install onnxruntime-web` makes
     node_modules/onnxruntime-web), its dist/ folder, or a folder vendored as below;
  2. charwise/export/web_assets/ort/ inside the package, which `make ort-web` fills (a wheel
     built after it carries them);
  3. ./node_modules/onnxruntime-web in the current folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..errors import CharwiseError

VERSION = "1.31.1"  # the onnxruntime-web release `make ort-web` installs and the tests run
VENDORED = Path(__file__).parent / "web_assets" / "ort"
# Name in the npm package's dist/ -> name in the exported folder's ort/.
FILES = {
    "ort.wasm.bundle.min.mjs": "ort.wasm.bundle.min.js",
    "ort-wasm-simd-threaded.wasm": "ort-wasm-simd-threaded.wasm",
}
LICENSE = Path(__file__).parent / "web_assets" / "ort-LICENSE.txt"
HOW = (
    "install it once with `make ort-web` (in a charwise checkout) or "
    f"`npm install onnxruntime-web@{VERSION}` and pass --ort-web node_modules/onnxruntime-web"
)


def _sources(folder: Path) -> dict[str, Path] | None:
    """{exported name: file} where `folder` holds every needed file, in npm or vendored layout."""
    for base in (folder / "dist", folder):
        for names in (FILES, {v: v for v in FILES.values()}):
            found = {out: base / src for src, out in names.items()}
            if all(p.is_file() for p in found.values()):
                return found | {"LICENSE": LICENSE}
    return None


def find(explicit: str | Path | None = None) -> dict[str, Path]:
    """The files to copy ({name in ort/: source}), from `explicit` or the default places."""
    if explicit is not None:
        folder = Path(explicit)
        if not folder.is_dir():
            raise CharwiseError(f"--ort-web: no such folder: {folder}")
        found = _sources(folder)
        if found is None:
            raise CharwiseError(
                f"--ort-web: {folder} holds no onnxruntime-web WebAssembly build "
                f"({', '.join(FILES)}); {HOW}"
            )
        return found
    for folder in (VENDORED, Path.cwd() / "node_modules" / "onnxruntime-web"):
        found = _sources(folder) if folder.is_dir() else None
        if found is not None:
            return found
    raise CharwiseError(f"the web export needs onnxruntime-web's files: {HOW}")


def copy_to(files: dict[str, Path], dest: Path) -> list[str]:
    """Copy the found files into `dest`; returns their names."""
    dest.mkdir(parents=True, exist_ok=True)
    for name, src in files.items():
        shutil.copyfile(src, dest / name)
    return sorted(files)


def vendor(npm_folder: str | Path) -> list[str]:
    """`make ort-web`'s step: copy the needed files of an installed npm package into the
    package's web_assets/ort/, the default source of every later web export."""
    return copy_to(find(npm_folder), VENDORED)
