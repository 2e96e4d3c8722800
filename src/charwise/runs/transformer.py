"""A transformer run (`charwise train --model transformer`): a CharTransformer behind the Run
interface. Sampling and scoring go through the same functions as an RNN's (use/sampling.py and
use/evaluate.py read a bounded-context model with a key/value cache and sliding windows), so
only what it is and what it lacks differ. Inspection records it through inspect_model()
(inspect/record_windowed.py); it has no recurrent network() to export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..data.vocab import Vocab
from ..nn.transformer import CharTransformer
from .rnn import RNNRun, load_rnn
from .run import NoNetworkError


class TransformerRun(RNNRun):
    """`model` is the CharTransformer (eval mode) with the run's best weights, or its last ones."""

    def network(self):
        raise NoNetworkError(
            f"this is {self.label}: it has no recurrent network (export and dynamic "
            "evaluation need one); `charwise eval` scores it, `charwise sample` samples it "
            "and `charwise inspect` looks inside it"
        )

    def inspect_model(self) -> CharTransformer:
        return self.model

    @property
    def label(self) -> str:
        return "a transformer run"

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        m = self.model.cfg
        out["headline"] = (
            f"transformer {m.layers} layers x {m.hidden} wide, {m.heads} heads, context "
            f"{m.block} (dropout {m.dropout}), {self.model.num_params:,} parameters"
        )
        return out


def load_transformer(
    run_dir: Path, cfg: dict[str, Any], vocab: Vocab, device: str = "cpu", weights: str = "best"
) -> TransformerRun:
    """Read a transformer run directory (runs/load.py calls this)."""
    return load_rnn(run_dir, cfg, vocab, device, weights, run_class=TransformerRun)
