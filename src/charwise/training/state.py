"""Resumable training state in one safetensors file (no pickle), written atomically.

Tensors: `model.*` (latest weights), `average.*` (the weight average, with --ema),
`opt.<param>.<name>` (optimizer moments), `rng.cpu` / `rng.cuda` (generator states), `hidden.<i>`
(the carried TBPTT state, all streams).
metadata["trainer"]: JSON with step, data position, epochs trained, best loss, patience, elapsed
time, optimizer param groups and the global batch size.

The state is written between steps, so weights, optimizer, generators and data position agree:
a resumed run continues exactly as an uninterrupted one would (on CPU, bit for bit).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ..errors import CharwiseError
from ..fields import FieldError
from ..runs.format import load_tensors, save_tensors
from .average import WeightAverage
from .errors import Saved
from .optimizer import set_weight_decay

STATE_FILE = "state.safetensors"
BEST_FILE = "model.safetensors"  # the best weights by validation loss (runs/format.py writes it)


def saved_in(run_dir: Path) -> Saved:
    """What `run_dir` holds to continue from."""
    if (Path(run_dir) / STATE_FILE).exists():
        return "state"
    if (Path(run_dir) / BEST_FILE).exists():
        return "best"
    return "nothing"


def optimizer_to_flat(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """optimizer.state_dict() -> (tensors, JSON-able rest)."""
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"opt.{pid}.{k}"] = v
            else:
                scalars[f"{pid}.{k}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_from_flat(
    opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], rest: dict[str, Any]
) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, v in tensors.items():
        if key.startswith("opt."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = v
    for key, v in rest.get("scalars", {}).items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = v
    groups = rest["param_groups"]
    for g in groups:
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
    try:
        opt.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError) as e:
        raise CharwiseError(
            f"the saved optimizer state does not fit this optimizer ({e})"
        ) from None


def save_train_state(
    run_dir: Path,
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    hidden: tuple[torch.Tensor, ...] | None,
    trainer: dict[str, Any],
    average: dict[str, torch.Tensor] | None = None,
) -> None:
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors.update({f"average.{k}": v for k, v in (average or {}).items()})
    opt_t, opt_rest = optimizer_to_flat(opt)
    tensors.update(opt_t)
    tensors["rng.cpu"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    for i, h in enumerate(hidden or ()):
        tensors[f"hidden.{i}"] = h
    body = {**trainer, "optimizer": opt_rest}
    save_tensors(Path(run_dir) / STATE_FILE, tensors, {"trainer": json.dumps(body)})


def load_train_state(run_dir: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    path = Path(run_dir) / STATE_FILE
    if not path.exists():
        raise CharwiseError(
            f"{run_dir} has no resumable state ({STATE_FILE}); it cannot be resumed"
        )
    tensors, meta = load_tensors(path)
    try:
        trainer = json.loads(meta["trainer"])
    except (KeyError, json.JSONDecodeError):
        raise CharwiseError(f"{path} has no readable trainer state") from None
    return tensors, trainer


def restore_train_state(
    run_dir: Path,
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    average: WeightAverage | None,
    global_batch: int,
    weight_decay: float,
) -> tuple[dict[str, Any], tuple[torch.Tensor, ...] | None]:
    """Load the saved state into `model`, `opt` (onto the model's device), `average` and the
    CPU / CUDA generators. Returns metadata["trainer"] and the carried state of all
    `global_batch` streams ((layers, global_batch, hidden) each; None when none was saved)."""
    tensors, trainer = load_train_state(run_dir)
    if trainer.get("global_batch", global_batch) != global_batch:
        raise FieldError("batch_size", "the saved state was trained with a different {batch_size}")
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    device = next(model.parameters()).device
    optimizer_from_flat(
        opt,
        {k: v.to(device) if not k.endswith(".step") else v for k, v in tensors.items()},
        trainer["optimizer"],
    )
    # Loading the optimizer state also restores the saved param groups' hyperparameters: put
    # back the (possibly changed on --resume) weight decay of the decayed group.
    set_weight_decay(opt, weight_decay)
    if average is not None:
        if trainer.get("average_updates") is None:
            raise FieldError("ema", "the saved state has no weight average: resume without {ema}")
        average.load_state_dict(
            {k[8:]: v for k, v in tensors.items() if k.startswith("average.")},
            trainer["average_updates"],
        )
    torch.set_rng_state(tensors["rng.cpu"])
    if "rng.cuda" in tensors and device.type == "cuda":
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    n = sum(1 for k in tensors if k.startswith("hidden."))
    hidden = tuple(tensors[f"hidden.{i}"] for i in range(n)) if n else None
    return trainer, hidden
