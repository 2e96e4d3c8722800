"""A run's lifecycle: start one (`train`), continue one (`resume`), start from another run's
weights (fine-tuning, `init_from`), and what each may change. The training itself is the
Trainer's (trainer.py) and the loop's (loop.py).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from ..config import RunConfig, kind_default
from ..data.corpus import Corpus, TextChangedError, load_corpus
from ..data.novelty import save_line_hashes
from ..errors import CharwiseError
from ..fields import FieldError, literal
from ..nn.devices import pick_device
from ..runs.format import read_config, read_vocab, run_config, save_config
from ..runs.load import load
from . import distributed as ddp
from .errors import RunExistsError, RunTextChangedError
from .events import Callbacks, TrainResult
from .loop import run
from .optimizer import resolve_optimizer
from .records import LOG_FILE, SAMPLES_FILE
from .state import BEST_FILE, STATE_FILE
from .trainer import Trainer

DEFAULT_EPOCHS = 10  # when no limit is given at all

# TrainConfig fields --resume may change. Besides the limits and how often things happen, the
# optimisation settings that the saved state does not depend on: the learning rate (set afresh
# every step), its floor, clipping, the divergence threshold, weight decay (re-applied after the
# optimizer state is loaded) and the sample length. The rest (batch, window, optimizer, betas,
# schedule shape, seed, EMA) define what the saved state means and stay fixed.
RESUME_CHANGEABLE = frozenset(
    {
        "max_steps",
        "max_time",
        "epochs",
        "patience",
        "eval_every",
        "sample_every",
        "save_every",
        "log_every",
        "device",
        "threads",
        "compile",
        "amp",
        "lr",
        "min_lr_ratio",
        "grad_clip",
        "max_loss",
        "weight_decay",
        "sample_length",
    }
)
# Regularisation settings a fine-tuning run (--init-from) may set; the rest of the model (the
# architecture) comes from the base run, since its weights must fit.
FINETUNE_MODEL_SETTINGS = ("dropout", "embed_dropout", "weight_drop", "attn_dropout")


def _with_default_limit(cfg: RunConfig) -> RunConfig:
    tc = cfg.train
    if tc.max_steps is None and tc.max_time is None and tc.epochs is None:
        return replace(cfg, train=replace(tc, epochs=DEFAULT_EPOCHS))
    return cfg


def _absolute_sources(cfg: RunConfig) -> RunConfig:
    """Text sources as absolute paths, so config.json lets the run be resumed (or evaluated)
    from any working directory."""
    sources = tuple(os.path.abspath(src) for src in cfg.data.sources)
    return replace(cfg, data=replace(cfg.data, sources=sources))


def _source_candidates(cfg: RunConfig, run_dir: Path) -> list[RunConfig]:
    """cfg with absolute text sources, one per place the text may be, best guess first. Runs
    started before sources were stored absolute may hold relative ones, typed relative to the
    directory the run was started in, which config.json does not record: the current directory
    (the behaviour before), then the run directory's parent folders, the usual places to start
    from (`charwise train data/x.txt --out runs/x` started in the project folder). Every folder
    holding all the files is a candidate; the caller keeps the first whose text is the run's."""
    rel = [src for src in cfg.data.sources if not os.path.isabs(src)]
    if not rel:
        return [cfg]
    out = []
    for base in [Path.cwd(), *Path(os.path.abspath(run_dir)).parents]:
        if all((base / src).exists() for src in rel):
            sources = tuple(os.path.normpath(base / src) for src in cfg.data.sources)
            out.append(replace(cfg, data=replace(cfg.data, sources=sources)))
    if not out:
        raise CharwiseError(
            f"cannot find the run's text {rel[0]} (a path relative to where the run was "
            f"started) from here or from {run_dir}'s parent folders; resume from the folder it "
            "was started in"
        )
    return out


def _resume_corpus(
    cfg: RunConfig, run_dir: Path, vocab, text_hash: str | None, cache_dir: Path | None
) -> tuple[Corpus, RunConfig]:
    """The run's text, checked against the hash stored when it started (runs from before the
    hash was stored have none: nothing to check them against), and cfg with its sources."""
    for located in _source_candidates(cfg, run_dir):
        try:
            corpus = load_corpus(
                located.data, vocab=vocab, cache_dir=cache_dir, expect_hash=text_hash
            )
        except TextChangedError:  # another candidate folder may hold the run's own text
            continue
        # Without a hash, characters the run's vocabulary lacks show it is another text (its
        # own was encoded with that vocabulary, so it has none).
        if text_hash or not corpus.unknown:
            return corpus, located
    raise RunTextChangedError(run_dir)


def _fine_tune_config(cfg: RunConfig, base: Any, init_from: str | Path) -> RunConfig:
    """cfg for fine-tuning `base`: its architecture, cfg's regularisation, and its text mode."""
    given = {k: getattr(cfg.model, k) for k in FINETUNE_MODEL_SETTINGS}
    if cfg.model.kind != base.model.cfg.kind and cfg.model.dropout == kind_default(
        cfg.model.kind, "dropout"
    ):
        # A ModelConfig left at its kind (a GRU's) with another base kind says nothing about
        # dropout: the base run's carries over (the CLI passes only what was typed).
        del given["dropout"]
    model = replace(base.model.cfg, **given)
    # The vocabulary is the base run's, so is the text mode: bytes cannot be encoded with a
    # character vocabulary. Without --bytes the mode follows the base run; asking for bytes
    # when it was trained on characters is a contradiction to report.
    if cfg.data.max_vocab is not None:
        raise FieldError(
            "max_vocab",
            "{max_vocab} cannot be given with {init_from}: the vocabulary is the base run's "
            f"({literal(init_from)})",
        )
    if cfg.data.bytes_mode and not base.vocab.bytes_mode:
        raise FieldError(
            "bytes_mode",
            f"the base run {literal(init_from)} was trained on characters, not raw bytes: "
            "fine-tune it without {bytes_mode} (the mode must match the base run)",
        )
    data = replace(cfg.data, bytes_mode=base.vocab.bytes_mode)
    return replace(cfg, model=model, data=data)


def train(
    cfg: RunConfig,
    out: str | Path,
    callbacks: Callbacks | None = None,
    init_from: str | Path | None = None,
    cache_dir: Path | None = None,
) -> TrainResult:
    """Train a new model on cfg.data into run directory `out`. With `init_from`, start from that
    run's weights (fine-tuning): its architecture, vocabulary and text mode (bytes or
    characters) are kept; cfg.model's regularisation (FINETUNE_MODEL_SETTINGS)
    applies.

    Raises RunExistsError when `out` holds a run already, DivergedError when the loss
    diverges (with what `out` keeps), CharwiseError for other bad input."""
    if not isinstance(cfg, RunConfig):
        raise CharwiseError(f"cfg must be a charwise.RunConfig, not {type(cfg).__name__}")
    out = Path(out)
    # Checked before any text is read or model built: these fail at the first write otherwise.
    if out.exists() and not out.is_dir():
        raise FieldError("out", f"{{out}} {literal(out)} is a file, not a run directory")
    if (out / STATE_FILE).exists() or (out / BEST_FILE).exists():
        raise RunExistsError(out)
    cfg = _absolute_sources(_with_default_limit(cfg))
    device = pick_device(cfg.train.device)
    dist = ddp.setup(device.type)
    init_weights = None
    if init_from is not None:
        base = load(init_from)
        if not isinstance(base.model, torch.nn.Module):
            raise FieldError(
                "init_from", f"{{init_from}} needs a trained network's run, not {base.label}"
            )
        cfg = _fine_tune_config(cfg, base, init_from)
        try:
            with ddp.local_first(dist):
                corpus = load_corpus(cfg.data, vocab=base.vocab, cache_dir=cache_dir)
        except CharwiseError as e:
            raise CharwiseError(f"vocabulary mismatch with {init_from}: {e}") from None
        if corpus.unknown:
            raise CharwiseError(
                f"vocabulary mismatch: the new text has characters the model in "
                f"{init_from} does not know: {corpus.unknown_chars}"
            )
        init_weights = base.model.state_dict()
    else:
        with ddp.local_first(dist):
            corpus = load_corpus(cfg.data, cache_dir=cache_dir)
        cfg = replace(cfg, model=replace(cfg.model, vocab_size=corpus.vocab.size))
    # "auto" becomes the optimizer it stands for here (after fine-tuning settled the kind), so
    # config.json names the one used and --resume on another machine keeps it.
    opt = resolve_optimizer(cfg.train.optimizer, cfg.model.kind, device)
    cfg = replace(cfg, train=replace(cfg.train, optimizer=opt))
    trainer = Trainer(cfg, out, corpus, callbacks or Callbacks(), init_weights, dist)
    if trainer.dist.is_main:
        # A run folder reused after an attempt that saved no checkpoint (it diverged at once):
        # its records belong to that attempt, not to this run.
        if (out / "config.json").exists():
            for name in (LOG_FILE, SAMPLES_FILE):
                (out / name).unlink(missing_ok=True)
        save_config(
            out,
            cfg,
            corpus.vocab,
            {
                "sources": list(corpus.files),
                "params": trainer.model.num_params,
                # What --resume checks the text against (see resume).
                "text_hash": corpus.text_hash,
            },
        )
        # Every line of the text given, its validation and test parts too: --novel answers "is
        # this line in my text?"; with the train split alone, real lines from the last 10%
        # counted as invented.
        save_line_hashes(out, corpus.ids, corpus.vocab)
    ddp.barrier(trainer.dist)
    return run(trainer)


def resume(
    run_dir: str | Path,
    callbacks: Callbacks | None = None,
    overrides: dict[str, Any] | None = None,
    cache_dir: Path | None = None,
) -> TrainResult:
    """Continue an interrupted (or finished) run where it stopped. `overrides` may change the
    settings in RESUME_CHANGEABLE (limits, how often things happen, the learning rate, clipping,
    ...), not the model, the data or what the saved state depends on.

    Raises RunTextChangedError when the run's text is no longer the one it started on,
    DivergedError when the loss diverges, CharwiseError for other bad input."""
    run_dir = Path(run_dir)
    stored = read_config(run_dir)
    cfg = run_config(stored, run_dir / "config.json")
    bad = set(overrides or {}) - RESUME_CHANGEABLE
    if bad:
        names = ", ".join("{" + k + "}" for k in sorted(bad))
        raise FieldError(min(bad), f"these settings cannot change when a run resumes: {names}")
    cfg = replace(cfg, train=replace(cfg.train, **(overrides or {})))
    vocab = read_vocab(run_dir)
    dist = ddp.setup(pick_device(cfg.train.device).type)
    with ddp.local_first(dist):
        corpus, located = _resume_corpus(cfg, run_dir, vocab, stored.get("text_hash"), cache_dir)
    trainer = Trainer(located, run_dir, corpus, callbacks or Callbacks(), dist=dist)
    trainer.restore()
    # Recorded only when the run goes on: a finished run is left as it is. Relative sources
    # found from here are stored absolute (the next resume finds them), and a run from before
    # the text hash was stored gets one.
    changed = bool(overrides) or located != cfg or not stored.get("text_hash")
    finished = trainer.progress.finished_reason(trainer.tc) is not None
    if changed and not finished and trainer.dist.is_main:
        save_config(
            run_dir,
            located,
            vocab,
            {
                "params": stored.get("params", trainer.model.num_params),
                "text_hash": corpus.text_hash,
                "sources": list(corpus.files),
            },
        )
    return run(trainer)
