"""The tied output layer (`tie_embedding`): the input embedding read backwards.

Press & Wolf 2017 ("Using the Output Embedding to Improve Language Models") and Inan, Khosravi &
Socher 2017 ("Tying Word Vectors and Word Classifiers"): the output layer's (V, E) matrix is the
input embedding's, and the top hidden state reaches its width through a learned projection P
(E, H) when E != H:  logits = E (P h) + b.

The matrix is stored once, as `embed.weight`: the head keeps the embedding module in a tuple,
not as a submodule, so the state dict (and safetensors, which refuses tensors that share
memory) holds it under one name, and a deepcopy ties the copy to the copy's embedding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class TiedHead(nn.Module):
    """h (..., H) -> logits (..., V) = E (P h) + b; E = the embedding's (V, E) weight."""

    def __init__(self, embed: nn.Embedding, hidden: int):
        super().__init__()
        V, E = embed.weight.shape
        self._embed = (embed,)  # not registered: its weight is saved once, as embed.weight
        # No bias in P: the head's own bias b is the only shift the logits need.
        self.proj = nn.Linear(hidden, E, bias=False) if E != hidden else None
        self.bias = nn.Parameter(torch.zeros(V))

    @property
    def weight(self) -> torch.Tensor:
        """The output matrix, (V, E): the embedding's own tensor (`head.weight is
        embed.weight`)."""
        return self._embed[0].weight

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if self.proj is not None:
            h = self.proj(h)  # (..., E)
        return F.linear(h, self.weight, self.bias)

    def matrix(self) -> torch.Tensor:
        """The head as one (V, H) matrix, E @ P (for the sampler's snapshot)."""
        return self.weight if self.proj is None else self.weight @ self.proj.weight
