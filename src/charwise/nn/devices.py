"""Which device to run on, and whether bf16 matmuls are native there."""

from __future__ import annotations

import torch

from ..fields import FieldError, shown


def pick_device(name: str) -> torch.device:
    """ "auto" | "cpu" | "cuda" | "cuda:N" | "mps" -> the torch.device, or a FieldError on the
    `device` field when the name is unknown or that device is not on this machine."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):  # torch's own message lists two dozen backends
        device = None
    # Only the backends charwise supports; "cuda:1" names one GPU of several.
    if device is None or device.type not in ("cpu", "cuda", "mps"):
        raise FieldError(
            "device", f"unknown {{device}} {shown(name)}; choose auto, cpu, cuda (or cuda:N) or mps"
        )
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise FieldError(
                "device",
                f"{{device}} {name}: no CUDA GPU is available (try {{device}} auto or cpu)",
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise FieldError(
                "device",
                f"{{device}} {name}: there is no such GPU ({torch.cuda.device_count()} available)",
            )
    if device.type == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise FieldError("device", f"{{device}} {name}: Apple's MPS backend is not available")
    return device


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
