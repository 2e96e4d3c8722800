"""An RNN run (`charwise train`): a CharRNN behind the Run interface."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.vocab import Vocab
from ..errors import CharwiseError
from ..nn.build import build_model
from ..nn.devices import pick_device
from ..nn.model import CharRNN
from ..use.evaluate import loss_over_ids
from ..use.sampling import SampleOptions, generate
from .format import (
    MODEL_FILE,
    STATE_FILE,
    check_finite,
    json_metadata,
    load_tensors,
    run_config,
)
from .run import Run


class RNNRun(Run):
    """`model` is the CharRNN (eval mode) with the run's best weights, or its last ones."""

    model: CharRNN

    def generate(
        self, opts: SampleOptions, on_text: Callable[[int, str], None] | None = None
    ) -> list[str]:
        return generate(self.model, self.vocab, opts, on_text)

    def loss_over_ids(self, ids: np.ndarray) -> tuple[float, int]:
        return loss_over_ids(self.model, ids)

    def network(self) -> CharRNN:
        return self.model

    def describe(self) -> dict[str, Any]:
        m = self.model.cfg
        out: dict[str, Any] = {
            "headline": f"{cell_name(m)} {m.layers}x{m.hidden} (embedding {m.embed}"
            f"{', tied to the output' if m.tie_embedding else ''}, dropout {m.dropout}), "
            f"{self.model.num_params:,} parameters",
            "params": self.model.num_params,
            "best_val_loss": self.info.get("val_loss"),
        }
        # Without a validation yet, load() fell back to the resumable state: its step is the
        # last one, not the step of a best checkpoint.
        out["best_step"] = self.info.get("step") if out["best_val_loss"] is not None else None
        if (self.path / STATE_FILE).exists():
            _, meta = load_tensors(self.path / STATE_FILE)
            last = json_metadata(meta, "trainer", self.path / STATE_FILE)
            out["steps"] = last.get("step")
            out["epochs"] = _epochs_trained(last)
            out["time_trained_s"] = last.get("elapsed")
            out["chars_seen"] = last.get("chars_seen")
        return out


def cell_name(m) -> str:
    """A ModelConfig's cell as people name it: "GRU", "LN-LSTM", "Mogrifier GRU (4 rounds)",
    "mLSTM" (the multiplicative LSTM)."""
    cell = "mLSTM" if m.multiplicative else m.kind.upper()
    name = ("LN-" if m.layer_norm else "") + cell
    return f"Mogrifier {name} ({m.mogrify} rounds)" if m.mogrify else name


def _epochs_trained(trainer: dict) -> float | None:
    """Fractional passes over the train split, as the saved state records them (runs saved
    before it did: the step's epoch counter, or None)."""
    ep = trainer.get("epochs_trained", trainer.get("epoch"))
    return float(ep) if isinstance(ep, int | float) else None


def load_weights_into(model: torch.nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    own = model.state_dict()
    if set(own) != set(tensors) or any(own[k].shape != tensors[k].shape for k in own):
        raise CharwiseError(f"{path} does not match the model described in config.json")
    check_finite(tensors, path)
    model.load_state_dict(tensors)


def load_rnn(
    run_dir: Path,
    cfg: dict[str, Any],
    vocab: Vocab,
    device: str = "cpu",
    weights: str = "best",
    run_class: type[RNNRun] | None = None,
) -> RNNRun:
    """Read an RNN run directory (runs/load.py calls this). Other networks trained by the same
    loop (the transformer) are read the same way into their own `run_class`."""
    # A clear error for "foo", or "cuda" on a machine without one (a torch.device too).
    device = pick_device(str(device))
    rc = run_config(cfg, run_dir / "config.json")
    if rc.model.vocab_size != vocab.size:
        raise CharwiseError(
            f"{run_dir}: config.json and vocab.json disagree on the vocabulary size"
        )
    # The random initialisation is overwritten at once; drawing it from a forked generator
    # leaves the caller's torch.manual_seed sequence as it was.
    with torch.random.fork_rng(devices=[]):
        model = build_model(rc.model)
    path = run_dir / (MODEL_FILE if weights == "best" else STATE_FILE)
    if weights == "best" and not path.exists() and (run_dir / STATE_FILE).exists():
        path = run_dir / STATE_FILE  # interrupted before its first validation
    tensors, meta = load_tensors(path, device="cpu")
    key = "trainer" if path.name == STATE_FILE else "info"
    if key == "trainer":
        tensors = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    info = json_metadata(meta, key, path)
    load_weights_into(model, tensors, path)
    model.to(device).eval()
    return (run_class or RNNRun)(run_dir, model, vocab, cfg, rc.data, info)
