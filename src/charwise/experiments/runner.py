"""One experiment, end to end: find its text, train its run (or resume it to its budget), score
it on the validation and test splits, sample it at each temperature, and write what the page
shows into the experiment's folder:

    runs/experiments/NAME/            (NAME-long for --long)
        run/           the run directory (charwise sample / inspect / serve take it)
        metrics.json   losses, settings, the command and machine, the experiment's own views
        samples.json   one sample per temperature
"""

from __future__ import annotations

import json
import math
import os
import platform
import shlex
import time
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic import atomic_write
from ..config import DEVICES, DataConfig, ModelConfig, RunConfig
from ..errors import CharwiseError
from ..fields import option, validate
from ..ngram import NGramConfig, train_ngram
from ..ngram.cache import cache_loss_over_ids as ngram_cache_loss
from ..ngram.cache import static_probs
from ..ngram.cache import tune_cache as tune_ngram_cache
from ..nn.devices import pick_device
from ..runs.dynamic import cache_evaluate, dynamic_evaluate
from ..runs.format import read_config
from ..runs.load import load
from ..runs.run import Run
from ..training.events import Callbacks
from ..training.lifecycle import resume, train
from ..training.state import BEST_FILE, STATE_FILE
from ..use.cache import CacheConfig
from ..use.evaluate import EvalResult
from ..use.sampling import SampleOptions
from ..version import __version__
from . import views
from .registry import DATA_ENV, DEFAULT_DATA, Experiment, Text

METRICS_FILE = "metrics.json"
SAMPLES_FILE = "samples.json"
RUN_SUBDIR = "run"
DEFAULT_OUT = Path("runs") / "experiments"
# Validation characters the n-gram's cache is tuned on: its counts need text to build up (on War
# and Peace 30,000 chose a weight that scored 0.004 worse on test than 200,000 did).
NGRAM_CACHE_TUNE_CHARS = 200_000


@dataclass(frozen=True)
class ExperimentOptions:
    """What `charwise experiment NAME` may change about an experiment."""

    long: bool = False  # the long budget that aims at the post's quality (hours, a GPU)
    data: str | None = None  # the data folder (default: $CHARWISE_DATA, else ../shared/data)
    text: str | None = None  # the text file itself (needed by paulgraham and enwik8)
    out: str | None = None  # the experiment's folder (default: runs/experiments/NAME[-long])
    max_steps: int | None = option(None, ge=1)  # train this many steps, not the budget's
    max_time: float | None = option(None, gt=0)  # also stop after this many seconds
    device: str = option("auto", choices=DEVICES)  # where to train and sample
    threads: int | None = option(None, ge=1)  # CPU threads (default: torch's, all cores)
    seed: int = option(1337, seed=True)  # training and sampling seed

    def __post_init__(self) -> None:
        validate(self)


def data_folder(opts: ExperimentOptions) -> Path:
    return Path(opts.data or os.environ.get(DATA_ENV) or DEFAULT_DATA)


def data_config(exp: Experiment, opts: ExperimentOptions) -> DataConfig:
    """The experiment's DataConfig (see text_data)."""
    return text_data(exp.text, exp.name, opts)


def text_data(t: Text, name: str, opts: ExperimentOptions) -> DataConfig:
    """The DataConfig of experiment `name`'s text `t`; a missing text is a one-line error saying
    where it comes from and how to point charwise at it."""
    if opts.text:
        path = Path(opts.text)
        if not path.is_file():
            raise CharwiseError(f"--text {opts.text}: no such file ({name}: {t.origin})")
    elif t.user:
        raise CharwiseError(f"experiment {name} needs --text PATH: {t.origin}")
    elif t.corpus:
        return t.data_config(corpus=t.corpus)
    else:
        folder = data_folder(opts)
        path = folder / t.file
        if not path.is_file():
            raise CharwiseError(
                f"experiment {name} needs {t.file}, which is not in {folder} (give --data "
                f"DIR, set ${DATA_ENV}, or --text PATH); it is {t.origin}"
            )
    if t.size is not None and path.stat().st_size != t.size:
        raise CharwiseError(
            f"{path} has {path.stat().st_size:,} bytes; experiment {name} needs the "
            f"{t.size:,}-byte file ({t.origin})"
        )
    return t.data_config(sources=(str(path),))


def out_folder(exp: Experiment, opts: ExperimentOptions) -> Path:
    return Path(opts.out) if opts.out else DEFAULT_OUT / (exp.name + ("-long" if opts.long else ""))


def run_config(exp: Experiment, opts: ExperimentOptions) -> RunConfig:
    b = exp.budget(opts.long)
    tc = b.train_config(
        max_steps=opts.max_steps,
        max_time=opts.max_time,
        device=opts.device,
        threads=opts.threads,
        seed=opts.seed,
    )
    return RunConfig(b.model_config(), data_config(exp, opts), tc)


# Training settings a run keeps when resumed: a different value means a different experiment.
FIXED_TRAIN = ("batch_size", "seq_len", "lr", "seed")


def has_run(run_dir: Path) -> bool:
    return (run_dir / STATE_FILE).exists() or (run_dir / BEST_FILE).exists()


def check_existing(cfg: RunConfig, run_dir: Path) -> None:
    """A run of other model settings in the way is an error, not silently reused."""
    if not has_run(run_dir):
        return
    saved = read_config(run_dir)
    want = {k: v for k, v in asdict(cfg.model).items() if k != "vocab_size"}
    # A setting the saved run predates was its default then (every new field defaults to the
    # behaviour before it), so a run started by an older charwise still counts as the same.
    defaults = {f.name: f.default for f in fields(ModelConfig)}
    have = {k: saved.get("model", {}).get(k, defaults.get(k)) for k in want}
    for k in FIXED_TRAIN:  # what the saved state depends on (resume keeps the saved value)
        want[k], have[k] = getattr(cfg.train, k), saved.get("train", {}).get(k)
    if want != have:
        changed = ", ".join(k for k in want if want[k] != have[k])
        raise CharwiseError(
            f"{run_dir} holds a run with other settings ({changed}); remove it or give "
            "another --out"
        )


def train_or_resume(cfg: RunConfig, run_dir: Path, cb: Callbacks):
    """Train a new run, or bring an existing one to cfg's limits (a finished one: nothing to
    do)."""
    if not has_run(run_dir):
        return train(cfg, run_dir, cb)
    check_existing(cfg, run_dir)
    limits = ("max_steps", "max_time", "device", "threads")
    return resume(run_dir, cb, overrides={k: getattr(cfg.train, k) for k in limits})


def split_loss(run: Run, name: str) -> dict[str, float] | None:
    ids = run.split(name)
    if len(ids) < 2:
        return None
    r = run.evaluate(ids)
    return {"nats_per_char": r.nats_per_char, "bits_per_char": r.bits_per_char, "chars": r.chars}


def dynamic_test(run: Run, cache: bool = False) -> dict[str, float]:
    """The test split scored with dynamic evaluation at its defaults (runs/dynamic.py), with
    the continuous cache at its defaults (use/cache.py) if `cache`."""
    r = dynamic_evaluate(run, split="test", cache=CacheConfig() if cache else None)
    return _scored(r.result, r.chars_per_s)


def cache_test(run: Run) -> dict[str, float]:
    """The test split scored with the continuous cache at its defaults, no gradient steps."""
    r = cache_evaluate(run, split="test")
    return _scored(r.result, r.chars_per_s)


def _scored(r: EvalResult, chars_per_s: float) -> dict[str, float]:
    return {
        "nats_per_char": r.nats_per_char,
        "bits_per_char": r.bits_per_char,
        "chars": r.chars,
        "chars_per_s": round(chars_per_s, 1),
    }


def ngram_baseline(data: DataConfig, order: int, cache: bool = False) -> dict[str, Any]:
    """An interpolated Kneser-Ney n-gram counted on the run's train split, scored on its val
    and test splits: the count-based line the RNN's curve is drawn against. With `cache`, also
    the test split with a cache of its own (ngram/cache.py; its order and weight chosen on the
    first NGRAM_CACHE_TUNE_CHARS of val), the baseline for the network's cache rows."""
    t0 = time.perf_counter()
    res = train_ngram(data, NGramConfig(order=order))
    out: dict[str, Any] = {"order": order}
    # Each split's probabilities once: the static scores and the cache's mix both read them.
    probs = {
        name: static_probs(res.model, ids)
        for name, ids in (("val", res.val), ("test", res.test))
        if len(ids) >= 2
    }
    for name, p in probs.items():
        out[name] = _nats(float(-np.log(p).sum()), len(p))
    if cache and len(probs) == 2:
        cfg, _ = tune_ngram_cache(res.model, res.val[: NGRAM_CACHE_TUNE_CHARS + 1])
        total, n = ngram_cache_loss(res.model, res.test, cfg, static=probs["test"])
        out["test_cache"] = {**_nats(total, n), "cache": asdict(cfg)}
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def _nats(total: float, n: int) -> dict[str, float]:
    return {"nats_per_char": total / n, "bits_per_char": total / n / math.log(2), "chars": n}


def machine(device: str) -> str:
    """One line naming what produced the numbers."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    where = device
    if device.startswith("cuda") and torch.cuda.is_available():
        where = torch.cuda.get_device_name(0)
    return (
        f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads; trained on "
        f"{where}; torch {torch.__version__}, charwise {__version__}"
    )


def command_line(exp: Any, opts: ExperimentOptions) -> str:
    """The command that reproduces this experiment (the options that were given). Every
    ExperimentOptions field's flag is `--field-name` (commands/flags.py has no exception for
    them; this layer does not import the command line's)."""
    parts = ["charwise", "experiment", exp.name]
    defaults = ExperimentOptions()
    for k, v in asdict(opts).items():
        if v == getattr(defaults, k):
            continue
        flag = "--" + k.replace("_", "-")
        parts += [flag] if v is True else [flag, str(v)]
    return shlex.join(parts)


def run_experiment(
    exp: Experiment, opts: ExperimentOptions, cb: Callbacks | None = None
) -> dict[str, Any]:
    """Train (or resume) and measure `exp`; returns what metrics.json holds."""
    cfg = run_config(exp, opts)  # a missing text fails here, before any folder is made
    out = out_folder(exp, opts)
    run_dir = out / RUN_SUBDIR
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    res = train_or_resume(cfg, run_dir, cb or Callbacks())
    wall = time.perf_counter() - t0
    if res.stopped == "interrupted":
        raise CharwiseError(
            f"interrupted at step {res.steps}; run the same command again to continue"
        )
    saved = read_config(run_dir)
    # Scored and sampled where it trained: a --long run's 5M-character test split needs the GPU.
    run = load(run_dir, device=_device(saved))
    samples = []
    for i, temp in enumerate(exp.temperatures):
        so = SampleOptions(length=exp.sample_length, temperature=temp, seed=opts.seed + i)
        samples.append({"temperature": temp, "seed": so.seed, "text": run.generate(so)[0]})
    metrics: dict[str, Any] = {
        "experiment": exp.name,
        "title": exp.title,
        "long": opts.long,
        "command": command_line(exp, opts),
        "machine": machine(_device(saved)),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "text": exp.text.label if not opts.text else opts.text,
        "text_chars": int(sum(len(run.split(s)) for s in ("train", "val", "test"))),
        "vocab_size": run.vocab.size,
        "model": {k: saved["model"][k] for k in ("kind", "layers", "hidden", "embed", "dropout")},
        "params": run.model.num_params,
        "train": {
            "steps": res.steps,
            "epochs": round(res.epochs, 3),
            "seconds": round(res.elapsed, 1),
            "wall_seconds": round(wall, 1),
            "stopped": res.stopped,
            "batch_size": saved["train"]["batch_size"],
            "seq_len": saved["train"]["seq_len"],
            "best_step": run.info.get("step"),
        },
        "val": split_loss(run, "val"),
        "test": split_loss(run, "test"),
        "unit": "byte" if exp.bits_per_byte else "char",
        "run_dir": str(run_dir),
    }
    if exp.dynamic and metrics["test"] is not None:
        metrics["test_dynamic"] = dynamic_test(run)
    if exp.cache and metrics["test"] is not None:
        metrics["test_cache"] = cache_test(run)
        metrics["test_dynamic_cache"] = dynamic_test(run, cache=True)
    if exp.ngram_order:
        metrics["ngram"] = ngram_baseline(cfg.data, exp.ngram_order, cache=exp.cache)
    if exp.line_list:
        metrics["names"] = [views.line_view(run_dir, run.vocab, s) for s in samples]
    if exp.evolution:
        metrics["evolution"] = views.evolution(run_dir, exp.evolution)
    structure = views.structure(run, samples)
    if structure is not None:
        metrics["structure"] = structure
    atomic_write(out / SAMPLES_FILE, json.dumps(samples, ensure_ascii=False, indent=1) + "\n")
    atomic_write(out / METRICS_FILE, json.dumps(_finite(metrics), ensure_ascii=False, indent=1))
    return metrics


def _device(saved: dict[str, Any]) -> str:
    """Where the run trained: its configured device, `auto` resolved as training resolves it."""
    return pick_device(saved.get("train", {}).get("device", "auto")).type


def _finite(x: Any) -> Any:
    """Strict JSON: NaN / inf -> null, numpy scalars -> Python numbers."""
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x


def read_metrics(folder: Path) -> dict[str, Any] | None:
    """A finished experiment's metrics.json (None when there is none)."""
    path = Path(folder) / METRICS_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def read_samples(folder: Path) -> list[dict[str, Any]]:
    path = Path(folder) / SAMPLES_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
