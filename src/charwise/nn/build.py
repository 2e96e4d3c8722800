"""The network of a ModelConfig: a CharRNN for the recurrent kinds, a CharTransformer for
"transformer". Training and loading build models here, so neither asks which kind it holds."""

from __future__ import annotations

from torch import nn

from ..config import ModelConfig
from .model import CharRNN
from .transformer import CharTransformer


def build_model(cfg: ModelConfig) -> nn.Module:
    """A freshly initialised network for cfg (on the CPU, in training mode)."""
    return CharTransformer(cfg) if cfg.kind == "transformer" else CharRNN(cfg)
