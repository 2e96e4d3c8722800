"""The check every export ends with: the exported model, loaded back, against the run's."""

from __future__ import annotations

from dataclasses import dataclass

TOLERANCE = 1e-4  # largest |logit difference| accepted (fp32 kernels that sum in another order)
CHECK_CHARS = 200  # characters stepped through, the state carried from each to the next


@dataclass(frozen=True)
class Check:
    """How far the exported model's logits are from PyTorch's over a text."""

    what: str  # what was compared, for the report ("onnxruntime", "from_pretrained")
    chars: int  # characters compared
    max_diff: float  # largest |logit difference| over them

    @property
    def ok(self) -> bool:
        return self.max_diff <= TOLERANCE
