"""Which device to run on, and whether bf16 matmuls are native there."""

from __future__ import annotations

import torch

from .errors import CharwiseError


def pick_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise CharwiseError("--device cuda: no CUDA GPU is available (try --device auto or cpu)")
    if name == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise CharwiseError("--device mps: Apple's MPS backend is not available")
    return torch.device(name)


def bf16_native(device: torch.device) -> bool:
    """Whether bf16 autocast pays off here: CUDA GPUs, and CPUs with native bf16 (AVX512-BF16 or
    AMX), where oneDNN's bf16 LSTM trains ~1.4x faster at the same loss per step
    (bench/RESULTS.md)."""
    if device.type == "cuda":
        return True
    if device.type == "cpu":
        return bool(
            torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
        )
    return False
