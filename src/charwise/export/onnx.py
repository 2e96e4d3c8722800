"""ONNX: the one-step model, exported with torch.onnx (torch.export + onnxscript) and checked
against PyTorch with onnxruntime.

    model.onnx   inputs   ids (B,) int64, h (L, B, H) float32 [, c (L, B, H): an LSTM's cells]
                 outputs  logits (B, V) float32, h_out [, c_out]: the state for the next step
    model.json   what the graph expects (kind, layers, hidden, vocabulary size, state names)
    vocab.json   the vocabulary, charwise's format (code points or bytes <-> ids)
    README.md    the model card and how to run the graph

The graph is `CharRNN.step_unchecked`, the written-out cells `step` and the sampler use, so the
exported logits are those of `charwise sample`'s network, not a re-implementation of it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import __version__
from ..atomic import atomic_write
from ..data.vocab import Vocab
from ..errors import CharwiseError
from ..nn.model import CharRNN, State
from .check import Check

FORMAT = "charwise-onnx"
FORMAT_VERSION = 1


class OneStep(nn.Module):
    """CharRNN.step as a graph with plain tensor inputs: ids (B,), h (L, B, H) [, c (L, B, H)]
    -> logits (B, V), h_out [, c_out]."""

    def __init__(self, model: CharRNN):
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        logits, new = self.model.step_unchecked(ids, tuple(state))
        return (logits, *new)


def state_names(kind: str) -> list[str]:
    """The graph's state inputs: h, plus c for an LSTM (outputs add "_out")."""
    return ["h", "c"] if kind == "lstm" else ["h"]


def _needs(*modules: str) -> None:
    """A clear error where an optional dependency of the export is missing."""
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise CharwiseError(
            f"the ONNX export needs {', '.join(missing)}: pip install 'charwise[export]'"
        )


@contextlib.contextmanager
def _quiet():
    """torch.onnx reports progress on logging and warnings; a library stays silent."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def export_graph(model: CharRNN, path: Path) -> None:
    """Write the one-step graph of `model` (any device, float32) to `path`, batch size dynamic."""
    _needs("onnx", "onnxscript")
    cpu = CharRNN(model.cfg)
    cpu.load_state_dict({k: v.detach().float().cpu() for k, v in model.state_dict().items()})
    step = OneStep(cpu.eval()).eval()
    names = state_names(model.cfg.kind)
    state = cpu.init_state(1)
    batch = torch.export.Dim("batch")
    dynamic = ({0: batch}, tuple({1: batch} for _ in names))  # ids, then *state
    with _quiet(), torch.inference_mode(False):
        program = torch.onnx.export(
            step,
            (torch.zeros(1, dtype=torch.long), *state),
            dynamo=True,
            dynamic_shapes=dynamic,
            input_names=["ids", *names],
            output_names=["logits", *(f"{n}_out" for n in names)],
            verbose=False,
        )
        program.model.metadata_props.update(
            {"charwise_version": __version__, "charwise_format": FORMAT}
        )
        program.save(str(path), external_data=False)


def manifest(model: CharRNN, vocab: Vocab, opset: int) -> dict:
    """model.json: what a runtime needs to drive the graph."""
    cfg = model.cfg
    names = state_names(cfg.kind)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "charwise_version": __version__,
        "kind": cfg.kind,
        "layers": cfg.layers,
        "hidden": cfg.hidden,
        "vocab_size": vocab.size,
        "opset": opset,
        "inputs": ["ids", *names],
        "outputs": ["logits", *(f"{n}_out" for n in names)],
        "state": names,
        "state_shape": ["layers", "batch", "hidden"],
    }


def opset_of(path: Path) -> int:
    import onnx

    m = onnx.load(str(path), load_external_data=False)
    return next(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))


@torch.inference_mode()
def check_graph(model: CharRNN, path: Path, ids: list[int]) -> Check:
    """Step `ids` through model.step and through onnxruntime's run of the graph at `path`, each
    carrying its own state, and compare the logits after every character."""
    _needs("onnxruntime")
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # a one-row step gains nothing from threads
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    names = state_names(model.cfg.kind)
    device = model.head.weight.device
    state: State = model.init_state(1)
    feeds = {n: s.float().cpu().numpy() for n, s in zip(names, state, strict=True)}
    worst = 0.0
    for i in ids:
        logits, state = model.step(torch.tensor([i], device=device), state)
        out = sess.run(None, {"ids": np.array([i], dtype=np.int64), **feeds})
        feeds = dict(zip(names, out[1:], strict=True))
        worst = max(worst, float(np.abs(out[0] - logits.float().cpu().numpy()).max()))
    return Check("onnxruntime", len(ids), worst)


def write_onnx(model: CharRNN, vocab: Vocab, folder: Path) -> list[str]:
    """model.onnx, model.json and vocab.json in `folder`; returns the names written."""
    path = folder / "model.onnx"
    export_graph(model, path)
    info = manifest(model, vocab, opset_of(path))
    atomic_write(folder / "model.json", json.dumps(info, indent=2))
    atomic_write(folder / "vocab.json", vocab.to_json())
    return ["model.onnx", "model.json", "vocab.json"]


USAGE = """
## Use it

`model.onnx` advances the network by one character: `ids` (B,) int64 and the state in
(`h`, and `c` for an LSTM, each (layers, B, hidden) float32, zeros to start), `logits` (B, V)
and the new state (`h_out`, `c_out`) out. `vocab.json` maps ids to characters (`symbols` are
Unicode code points, or bytes when `mode` is `bytes`). With onnxruntime:

```python
import json, numpy as np, onnxruntime as ort

meta = json.load(open("model.json"))
symbols = json.load(open("vocab.json"))["symbols"]
index = {chr(s): i for i, s in enumerate(symbols)}
sess = ort.InferenceSession("model.onnx")
state = {n: np.zeros((meta["layers"], 1, meta["hidden"]), np.float32) for n in meta["state"]}
rng, out, x = np.random.default_rng(0), [], index["\\n"] if "\\n" in index else 0
for _ in range(200):
    logits, *new = sess.run(None, {"ids": np.array([x], np.int64), **state})
    state = dict(zip(meta["state"], new))
    p = np.exp((logits[0] - logits[0].max()) / 0.8); p /= p.sum()
    x = int(rng.choice(len(p), p=p))
    out.append(chr(symbols[x]))
print("".join(out))
```
"""
