"""The run directory's files: written atomically, read with clear errors, never executing code.

    config.json         format + versions, model / data / train configs, text sources and hash
    vocab.json          the vocabulary
    model.safetensors   weights with the best validation loss (metadata: step, val loss)
    state.safetensors   resumable state (training/state.py)
    log.jsonl, samples.jsonl, train_lines.npy

Every file is written to a temporary name in the same folder and renamed over the old one, so a
crash mid-write leaves the previous checkpoint loadable. This module knows files, not models:
loading a run into a model is runs/load.py's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..atomic import atomic_write, replace_atomically
from ..config import RunConfig
from ..data.vocab import Vocab
from ..errors import CharwiseError
from ..fields import FieldError
from ..version import FORMAT, FORMAT_VERSION, __version__

CONFIG_FILE = "config.json"
VOCAB_FILE = "vocab.json"
MODEL_FILE = "model.safetensors"
STATE_FILE = "state.safetensors"


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """safetensors file with the format stamp in its metadata, written atomically."""
    cpu = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    meta = {"format": FORMAT, "format_version": str(FORMAT_VERSION), **metadata}
    replace_atomically(path, lambda tmp: save_file(cpu, str(tmp), metadata=meta))


def load_tensors(
    path: Path, device: str | torch.device = "cpu"
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """A safetensors file written by charwise -> (tensors, metadata); clear errors otherwise."""
    path = Path(path)
    if not path.exists():
        raise CharwiseError(f"missing file: {path}")
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CharwiseError(
            f"{path} is corrupted or not a safetensors file ({str(e).splitlines()[0]})"
        ) from None
    check_format(meta.get("format"), meta.get("format_version"), path)
    return tensors, meta


def json_metadata(meta: dict[str, str], key: str, path: Path) -> dict[str, Any]:
    """A JSON object stored under `key` in a safetensors file's metadata ({} when absent)."""
    try:
        value = json.loads(meta.get(key, "{}"))
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise CharwiseError(f"{path} is damaged: its {key!r} metadata is not a JSON object")
    return value


def check_format(fmt: Any, version: Any, path: Path) -> None:
    if fmt != FORMAT:
        raise CharwiseError(f"{path} was not written by charwise (format {fmt!r})")
    try:
        v = int(version)
    except (TypeError, ValueError):
        raise CharwiseError(f"{path} has an unreadable format version {version!r}") from None
    if v > FORMAT_VERSION:
        raise CharwiseError(
            f"{path} has format version {v}, newer than this charwise reads "
            f"({FORMAT_VERSION}): upgrade charwise"
        )


def check_finite(tensors: dict[str, torch.Tensor], path: Path) -> None:
    """Flipped bits can leave a valid header over NaN / inf weights, which then sample garbage
    or crash far from the cause. One pass over the weights (milliseconds even for large models)
    catches that at load time."""
    for name, t in tensors.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise CharwiseError(
                f"{path} is damaged: the weights hold non-finite values (NaN or inf) in {name}"
            )


# -- config.json and vocab.json ------------------------------------------------------------------
def write_config(run_dir: Path, body: dict[str, Any], vocab: Vocab) -> None:
    """config.json (`body` stamped with the format and versions) and vocab.json."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    stamped = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "charwise_version": __version__,
        **body,
    }
    atomic_write(run_dir / CONFIG_FILE, json.dumps(stamped, indent=2, ensure_ascii=False))
    atomic_write(run_dir / VOCAB_FILE, vocab.to_json())


def save_config(run_dir: Path, cfg: RunConfig, vocab: Vocab, extra: dict | None = None) -> None:
    """An RNN run's config.json: the RunConfig's sections plus `extra` (sources, text hash)."""
    write_config(run_dir, {**cfg.to_dict(), **(extra or {})}, vocab)


def read_config(run_dir: Path) -> dict[str, Any]:
    """config.json as a dict, after checking that this is a charwise run directory we can read."""
    run_dir = Path(run_dir)
    path = run_dir / CONFIG_FILE
    if not run_dir.exists():
        raise CharwiseError(f"no such run directory: {run_dir}")
    if not path.exists():
        raise CharwiseError(f"{run_dir} is not a charwise run directory (no config.json)")
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CharwiseError(f"{path} is corrupted (not valid JSON: {e})") from None
    if not isinstance(d, dict):
        raise CharwiseError(f"{path} is not a charwise config")
    check_format(d.get("format"), d.get("format_version"), path)
    for section in ("model", "data", "train"):  # code below calls .get() on each
        if section in d and not isinstance(d[section], dict):
            raise CharwiseError(f"{path} is damaged: the {section} section is not an object")
    return d


def parse_config(parse, d: dict[str, Any], path: Path):
    """parse(d) (e.g. RunConfig.from_dict) with its errors blamed on the file at `path`, naming
    fields as the file spells them: "runs/x/config.json is damaged: hidden must be ..."."""
    try:
        return parse(d)
    except FieldError as e:
        raise CharwiseError(f"{path} is damaged: {e.worded(lambda f: f)}") from None
    except CharwiseError as e:
        raise CharwiseError(f"{path} is damaged: {e}") from None


def run_config(d: dict[str, Any], path: Path) -> RunConfig:
    """An RNN run's RunConfig from its config.json dict (read from `path`)."""
    return parse_config(RunConfig.from_dict, d, path)


def read_vocab(run_dir: Path) -> Vocab:
    path = Path(run_dir) / VOCAB_FILE
    if not path.exists():
        raise CharwiseError(f"{run_dir} has no vocab.json")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise CharwiseError(
            f"{path} is damaged: not UTF-8 text (byte 0x{e.object[e.start]:02x} at {e.start})"
        ) from None
    return Vocab.from_json(text, source=str(path))


def save_model(path: Path, model: torch.nn.Module, meta: dict[str, Any]) -> None:
    """Weights of the (uncompiled, unwrapped) model + JSON metadata (step, val loss, ...)."""
    save_tensors(path, model.state_dict(), {"info": json.dumps(meta)})
