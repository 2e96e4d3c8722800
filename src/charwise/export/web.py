"""Web: a folder that samples in the browser alone, from any static file server.

    index.html, page.js, sampler.js   the page (web_assets/): prime, temperature, top-k, seed,
                                      length, and a chars/s readout
    model.onnx, model.json, vocab.json   the one-step graph (onnx.py), with the run's summary
    ort/                              onnxruntime-web's WebAssembly build (ortweb.py), vendored
    README.md                         the model card and how to serve the folder

Every file the page loads is in the folder: it fetches nothing from anywhere else.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..atomic import atomic_write
from ..data.vocab import Vocab
from ..nn.model import CharRNN
from . import ortweb
from .card import RunSummary
from .onnx import write_onnx

ASSETS = Path(__file__).parent / "web_assets"
PAGE = ("index.html", "page.js", "sampler.js")


def write_web(
    model: CharRNN, vocab: Vocab, folder: Path, summary: RunSummary, ort_web: str | None
) -> list[str]:
    """The page, the model and onnxruntime-web in `folder`; returns the names written."""
    ort_files = ortweb.find(ort_web)  # first: a missing onnxruntime-web fails before any work
    written = write_onnx(model, vocab, folder)
    meta = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    meta |= {"name": summary.name, "text": summary.text_name, "val_loss": summary.val_loss}
    atomic_write(folder / "model.json", json.dumps(meta, indent=2, ensure_ascii=False))
    for name in PAGE:
        shutil.copyfile(ASSETS / name, folder / name)
    written += list(PAGE)
    written += [f"ort/{n}" for n in ortweb.copy_to(ort_files, folder / "ort")]
    return written


USAGE = """
## Use it

This folder samples in a web browser alone: open it from any static file server, e.g.

```bash
python -m http.server --directory path/to/this/folder 8000   # then open http://127.0.0.1:8000/
```

(browsers do not run WebAssembly modules from `file://` pages, hence the server). The page
loads only files of this folder: `model.onnx` (the network, one character per step),
`vocab.json`, and onnxruntime-web's WebAssembly build in `ort/` (MIT licence, `ort/LICENSE`).
Type a prime, set the temperature, top-k, length and a seed, and press Sample; the readout
shows characters per second. The same seed gives the same text as
`charwise sample RUN --seed S` with the same prime, temperature and top-k, except where a
draw falls within rounding (~1e-6) of the boundary between two characters. Any static host
(GitHub Pages, S3, nginx) serves it as is.
"""
