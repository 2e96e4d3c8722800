"""The run directory: a self-contained, shareable model folder. Loading it never executes code.

    config.json         format + versions, model / data / train configs
    vocab.json          the vocabulary
    model.safetensors   weights with the best validation loss (metadata: step, val loss)
    state.safetensors   resumable state: last weights, optimizer tensors, RNG, carried hidden
                        state; metadata["trainer"] holds step, data position, schedule, ... as JSON
    log.jsonl, samples.jsonl

Every file is written to a temporary name in the same folder and renamed over the old one, so a
crash mid-write leaves the previous checkpoint loadable.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import save_file

from .. import __version__
from ..config import RunConfig
from ..data.vocab import Vocab
from ..errors import CharwiseError
from ..nn.devices import pick_device
from ..nn.model import CharRNN

FORMAT = "charwise-run"
FORMAT_VERSION = 1


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write `data` to `path` via a temporary file + fsync + rename (atomic on POSIX)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # the old file stays; leave no half-written temporary behind
        tmp.unlink(missing_ok=True)
        raise


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """safetensors save through a temporary file, so the old file survives a crash."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    cpu = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    try:
        save_file(
            cpu,
            str(tmp),
            metadata={"format": FORMAT, "format_version": str(FORMAT_VERSION), **metadata},
        )
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # the old file stays; leave no half-written temporary behind
        tmp.unlink(missing_ok=True)
        raise


def load_tensors(
    path: Path, device: str | torch.device = "cpu"
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Load a safetensors file written by charwise: (tensors, metadata). Clear errors otherwise."""
    path = Path(path)
    if not path.exists():
        raise CharwiseError(f"missing file: {path}")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt", device=str(device)) as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CharwiseError(
            f"{path} is corrupted or not a safetensors file ({str(e).splitlines()[0]})"
        ) from None
    _check_format(meta.get("format"), meta.get("format_version"), path)
    return tensors, meta


def _check_format(fmt: Any, version: Any, path: Path) -> None:
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


# -- config and vocabulary ---------------------------------------------------------------------
def save_config(run_dir: Path, cfg: RunConfig, vocab: Vocab, extra: dict | None = None) -> None:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    body = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "charwise_version": __version__,
        **cfg.to_dict(),
        **(extra or {}),
    }
    atomic_write(run_dir / "config.json", json.dumps(body, indent=2, ensure_ascii=False))
    atomic_write(run_dir / "vocab.json", vocab.to_json())


def read_config(run_dir: Path) -> dict[str, Any]:
    """config.json as a dict, after checking that this is a charwise run directory we can read."""
    run_dir = Path(run_dir)
    path = run_dir / "config.json"
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
    _check_format(d.get("format"), d.get("format_version"), path)
    for section in ("model", "data", "train"):  # code below calls .get() on each
        if section in d and not isinstance(d[section], dict):
            raise CharwiseError(f"{path} is damaged: the {section} section is not an object")
    return d


def run_config(cfg: dict[str, Any], path: Path) -> RunConfig:
    """RunConfig.from_dict for a config.json read from `path`. Its checks speak of command-line
    options ("--hidden must be at least 1"); here the fault is in the file, so say so."""
    try:
        return RunConfig.from_dict(cfg)
    except CharwiseError as e:
        msg = str(e)
        if msg.startswith("config.json: "):  # "config.json: bad ModelConfig (...)" and the like
            msg = f"{path} is damaged: {msg.removeprefix('config.json: ')}"
        elif msg.startswith("config.json"):  # "config.json has no model section"
            msg = f"{path}{msg.removeprefix('config.json')}"
        else:  # "--seq-len must ..." -> "seq_len must ...", the key as config.json spells it
            msg = re.sub(r"--([a-z][a-z-]*)", lambda m: m.group(1).replace("-", "_"), msg)
            msg = f"{path} is damaged: {msg}"
        raise CharwiseError(msg) from None


def read_vocab(run_dir: Path) -> Vocab:
    path = Path(run_dir) / "vocab.json"
    if not path.exists():
        raise CharwiseError(f"{run_dir} has no vocab.json")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise CharwiseError(
            f"{path} is damaged: not UTF-8 text (byte 0x{e.object[e.start]:02x} at {e.start})"
        ) from None
    return Vocab.from_json(text, source=str(path))


# -- the model ---------------------------------------------------------------------------------
def save_model(path: Path, model: CharRNN, meta: dict[str, Any]) -> None:
    """Weights of the (uncompiled, unwrapped) model + JSON metadata (step, val loss, ...)."""
    save_tensors(path, model.state_dict(), {"info": json.dumps(meta)})


def load_weights_into(model: CharRNN, tensors: dict[str, torch.Tensor], path: Path) -> None:
    own = model.state_dict()
    if set(own) != set(tensors) or any(own[k].shape != tensors[k].shape for k in own):
        raise CharwiseError(f"{path} does not match the model described in config.json")
    check_finite(tensors, path)
    model.load_state_dict(tensors)


def check_finite(tensors: dict[str, torch.Tensor], path: Path) -> None:
    """Flipped bits can leave a valid header over NaN / inf weights, which then sample garbage
    or crash far from the cause. One pass over the weights (milliseconds even for large models)
    catches that at load time."""
    for name, t in tensors.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise CharwiseError(
                f"{path} is damaged: the weights hold non-finite values (NaN or inf) in {name}"
            )


@dataclass
class Run:
    """A loaded run directory: model (eval mode), vocabulary, config and checkpoint info."""

    path: Path
    model: Any  # CharRNN, or an n-gram model for `charwise ngram` runs
    vocab: Vocab
    config: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.config["model"]["kind"]


def load(run_dir: str | Path, device: str | torch.device = "cpu", weights: str = "best") -> Run:
    """Load a run directory for sampling / evaluation / inspection.

    weights="best" reads model.safetensors (best validation loss); "last" reads the resumable
    state's latest weights. A GPU-trained run loads on a CPU: tensors are mapped to `device`.
    """
    if weights not in ("best", "last"):
        raise CharwiseError(f"weights must be 'best' or 'last', not {weights!r}")
    run_dir = Path(run_dir)
    cfg = read_config(run_dir)
    vocab = read_vocab(run_dir)
    if cfg.get("model", {}).get("kind") == "ngram":
        from ..ngram import load_ngram

        return load_ngram(run_dir, cfg, vocab)
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
        model = CharRNN(rc.model)
    path = run_dir / ("model.safetensors" if weights == "best" else "state.safetensors")
    if weights == "best" and not path.exists() and (run_dir / "state.safetensors").exists():
        path = run_dir / "state.safetensors"  # interrupted before its first validation
    tensors, meta = load_tensors(path, device="cpu")
    key = "trainer" if path.name == "state.safetensors" else "info"
    if key == "trainer":
        tensors = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        info = json.loads(meta.get(key, "{}"))
    except json.JSONDecodeError:
        info = None
    if not isinstance(info, dict):
        raise CharwiseError(f"{path} is damaged: its {key!r} metadata is not a JSON object")
    load_weights_into(model, tensors, path)
    model.to(device).eval()
    return Run(run_dir, model, vocab, cfg, info)
