"""`charwise train TEXT... --out RUN_DIR` (or --corpus NAME, --resume RUN_DIR, --init-from RUN)."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tqdm import tqdm

from ..config import DataConfig, ModelConfig, RunConfig, TrainConfig
from ..errors import CharwiseError
from ..nn.devices import pick_device
from ..runs.format import read_config
from ..training.distributed import launched_rank
from ..training.errors import DivergedError, RunExistsError, RunTextChangedError
from ..training.events import Callbacks, TrainResult
from ..training.lifecycle import FINETUNE_MODEL_SETTINGS, RESUME_CHANGEABLE, resume, train
from ..training.optimizer import resolve_optimizer
from ._options import add_options, build, collect, data_config
from .flags import flag

EXAMPLES = """examples:
  charwise train --corpus names --out runs/names --max-time 120
  charwise train book.txt --out runs/book --hidden 512 --layers 3 --dropout 0.2
  charwise train book.txt --out runs/book-tf --model transformer --max-time 600
  charwise train src/ --glob '*.c' --out runs/c --max-time 3600
  charwise train --resume runs/book --max-steps 20000
  charwise train poems.txt --init-from runs/book --out runs/poems --lr 1e-3
  torchrun --nproc_per_node 4 -m charwise train big.txt --out runs/big
"""


@dataclass(frozen=True)
class TrainCommand:
    """`charwise train`'s own options; the rest are the run's configs'."""

    out: str | None = None  # run directory to create (the shareable model folder)
    resume: str | None = None  # continue this interrupted or finished run
    init_from: str | None = None  # start from this run's weights (fine-tune)
    quiet: bool = False  # no progress bar or samples


def register(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a model on text files or a built-in corpus",
        description="Train a character-level LSTM / GRU / RNN.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_options(p, TrainCommand)
    add_options(p.add_argument_group("data"), DataConfig, positional="sources")
    add_options(p.add_argument_group("model"), ModelConfig, skip={"vocab_size"})
    add_options(p.add_argument_group("training"), TrainConfig)
    p.set_defaults(func=run)


def run(args) -> int:
    """Train a new run, fine-tune one (--init-from) or resume one (--resume)."""
    cmd = build(args, TrainCommand)
    cb = Callbacks() if cmd.quiet else ProgressCallbacks()
    train_kw = collect(args, TrainConfig)
    model_kw = collect(args, ModelConfig, skip={"vocab_size"})
    data_kw = collect(args, DataConfig)
    if cmd.resume:
        if data_kw.get("sources") or data_kw.get("corpus") or cmd.init_from:
            raise CharwiseError(
                "--resume continues a run with its own data; give no text, --corpus or --init-from"
            )
        # Every option given that the run fixed when it started, named as typed, in one message.
        fixed = ["--out"] if cmd.out is not None else []
        fixed += [flag(k) for k in model_kw]
        fixed += [flag(k) for k in data_kw]
        fixed += [flag(k) for k in train_kw if k not in RESUME_CHANGEABLE]
        if fixed:
            raise CharwiseError(
                f"these settings cannot change on --resume: {', '.join(fixed)} (they are fixed "
                f"when a run starts; start a new --out, or fine-tune with --init-from "
                f"{cmd.resume})"
            )
        with _advised():
            res = resume(cmd.resume, cb, overrides=train_kw)
    else:
        if not cmd.out:
            raise CharwiseError("give --out RUN_DIR (where the model is written)")
        data = data_config(args)
        if cmd.init_from:
            model_kw = _fine_tune_model_options(cmd.init_from, model_kw)
        model = ModelConfig(vocab_size=1, **model_kw)
        cfg = RunConfig(model=model, data=data, train=TrainConfig(**train_kw))
        muon_only = [flag(k) for k in ("muon_scale", "muon_decay") if k in train_kw]
        if muon_only:
            device = pick_device(cfg.train.device)
            used = resolve_optimizer(cfg.train.optimizer, model.kind, device)
            if used != "muon":
                why = " (auto's choice on this machine)" if cfg.train.optimizer == "auto" else ""
                raise CharwiseError(
                    f"{', '.join(muon_only)} set Muon's updates; this run trains with "
                    f"{used}{why} (--optimizer muon uses them)"
                )
        with _advised():
            res = train(cfg, cmd.out, cb, init_from=cmd.init_from)
    if launched_rank() != 0:  # torchrun: the notes below once, from rank 0
        return 130 if res.stopped == "interrupted" else 0
    if res.already_finished:
        # Name the limit that ends it: raising another one (--max-steps on a run that stops at
        # its default 10 epochs) changes nothing, which a generic hint left users to discover.
        limit = flag(res.stopped)
        value = read_config(res.run_dir).get("train", {}).get(res.stopped)
        at = f" ({value:g})" if isinstance(value, (int, float)) else ""
        print(
            f"charwise: note: {res.run_dir} already finished: its {limit} limit{at} ends it at "
            f"step {res.steps}, so there is nothing to train. To go on, resume with a higher "
            f"{limit}",
            file=sys.stderr,
        )
        return 0
    if res.stopped == "interrupted":
        print(
            f"charwise: interrupted at step {res.steps}; state saved. Resume with: "
            f"charwise train --resume {res.run_dir}",
            file=sys.stderr,
        )
        return 130
    return 0


def _fine_tune_model_options(init_from: str, given: dict) -> dict:
    """The model options for fine-tuning: the architecture comes from the base run (its weights
    must fit), so giving it is an error, not silently ignored; regularisation given here
    applies, and otherwise the base run's carries over."""
    arch = [flag(k) for k in given if k not in FINETUNE_MODEL_SETTINGS]
    if arch:
        raise CharwiseError(
            f"{', '.join(arch)} cannot be given with --init-from: the architecture comes from "
            f"the base run {init_from}"
        )
    base = read_config(init_from).get("model")
    base = base if isinstance(base, dict) else {}
    return {
        **{k: base[k] for k in FINETUNE_MODEL_SETTINGS if k in base},
        **given,
    }


@contextmanager
def _advised() -> Iterator[None]:
    """The training library's typed errors as one `charwise: error:` line each, with what to
    type next."""
    try:
        yield
    except DivergedError as e:
        raise CharwiseError(divergence_advice(e)) from None
    except RunExistsError as e:
        raise CharwiseError(
            f"{e}; resume it with --resume {e.run_dir} or choose another --out"
        ) from None
    except RunTextChangedError as e:
        raise CharwiseError(
            f"{e}; to train on the new text, fine-tune from it: charwise train TEXT "
            f"--init-from {e.run_dir} --out NEW_DIR"
        ) from None


def divergence_advice(e: DivergedError) -> str:
    """What diverged, what is kept, and the command that can actually follow it."""
    if e.loss is None:  # found at a save: no loss was checked since the weights went bad
        what = f"training diverged by step {e.step} (the weights are not finite);"
    elif math.isfinite(e.loss):
        # A finite loss over the threshold may be the threshold's fault (a --max-loss below
        # where this text's loss starts): a lower --lr would then stop at the same place.
        what = (
            f"training diverged at step {e.step} (loss {e.loss:.4g}, --max-loss "
            f"{e.max_loss:g}); if {e.max_loss:g} is too low for this text (a model that knows "
            f"nothing scores ln({e.vocab_size}) = {math.log(e.vocab_size):.3g}), raise "
            f"--max-loss, else"
        )
    else:
        what = f"training diverged at step {e.step} (loss {e.loss:.4g}, --max-loss {e.max_loss:g});"
    d, lr = e.run_dir, f"{e.lr / 10:g}"
    if e.saved == "state":  # resumable from the last save, before it diverged
        then = (
            f"the last good checkpoint is intact in {d}. Resume it with a lower learning "
            f"rate (now {e.lr:g}) or --grad-clip: charwise train --resume {d} --lr {lr}"
        )
    elif e.saved == "best":  # best weights, but no resumable state yet
        then = (
            f"the last good checkpoint is intact in {d}, but no resumable state was saved "
            f"yet (--save-every {e.save_every}). Start again with a lower --lr (now "
            f"{e.lr:g}) or --grad-clip in a new --out, or continue from its best "
            f"weights with --init-from {d} --out NEW_DIR --lr {lr}"
        )
    else:
        then = (
            f"no checkpoint was saved yet. Start again with a lower --lr (now {e.lr:g}) "
            f"or --grad-clip; the same --out {d} may be reused"
        )
    return f"{what} {then}"


# The final validation loss this many times the best counts as overfitting (noise is ~0.5%).
OVERFIT_RATIO = 1.02


class ProgressCallbacks(Callbacks):
    """A tqdm bar with loss, bits per char, chars/s and ETA; samples printed as they come."""

    def __init__(self):
        self.bar = None
        self.val = None
        self.last_val_loss: float | None = None  # nats/char, the latest evaluation's
        self.best_step: int | None = None  # the step of the best evaluation seen by this process

    def on_start(self, info) -> None:
        w = f", {info['world']} processes" if info["world"] > 1 else ""
        print(
            f"charwise: {info['params']:,} parameters, vocabulary {info['vocab_size']}, "
            f"{info['train_chars']:,} train / {info['val_chars']:,} val characters, "
            f"{info['steps_per_epoch']} step{'s' if info['steps_per_epoch'] != 1 else ''} per "
            f"epoch, on {info['device']}{w}",
            file=sys.stderr,
        )
        # The bar counts steps towards the step/epoch limit (tqdm's ETA); with only --max-time it
        # shows the time left instead.
        self.bar = tqdm(
            initial=info["step"],
            total=info["total_steps"],
            unit="step",
            dynamic_ncols=True,
            file=sys.stderr,
        )
        self.max_time = info["max_time"]

    def on_step(self, rec) -> None:
        self.bar.update(rec["step"] - self.bar.n)
        post = {
            "loss": f"{rec['loss']:.3f}",
            "bpc": f"{rec['bpc']:.3f}",
            "chars/s": f"{rec['chars_per_s']:,.0f}",
            "ep": f"{rec['epoch']:.2f}",
        }
        if self.val is not None:
            post["val_bpc"] = f"{self.val:.3f}"
        if self.max_time:
            post["left"] = f"{max(0.0, self.max_time - rec['elapsed']):.0f}s"
        self.bar.set_postfix(post, refresh=True)

    def on_eval(self, rec) -> None:
        self.val = rec["val_bpc"]
        self.last_val_loss = rec["val_loss"]
        if rec["val_loss"] <= rec["best_val_loss"]:
            self.best_step = rec["step"]
        tqdm.write(  # a classmethod: clears and redraws any open bar
            f"step {rec['step']}: val {rec['val_loss']:.4f} nats/char, "
            f"{rec['val_bpc']:.4f} bits/char (best {rec['best_val_loss']:.4f} nats)",
            file=sys.stderr,
        )

    def on_sample(self, rec) -> None:
        tqdm.write(f"--- sample at step {rec['step']} ---\n{rec['text']}\n---", file=sys.stderr)

    def on_end(self, res: TrainResult) -> None:
        if self.bar is not None:
            self.bar.close()
        best = f"{res.best_val_loss:.4f} nats/char" if res.best_val_loss is not None else "n/a"
        print(
            f"charwise: stopped ({res.stopped}) after {res.steps} steps, {res.epochs:.2f} epochs, "
            f"{res.elapsed:.0f} s; best val loss {best}; model in {res.run_dir}",
            file=sys.stderr,
        )
        # Say so when the run ended far above its best: the text is overfitted (model.safetensors
        # keeps the best weights, but the user should know the later steps were wasted). A run
        # that --patience stopped already acted on it, so it gets no advice to use --patience.
        if (
            res.stopped != "patience"
            and res.best_val_loss is not None
            and self.last_val_loss is not None
            and self.last_val_loss > OVERFIT_RATIO * res.best_val_loss
        ):
            at = f" (step {self.best_step})" if self.best_step is not None else ""
            print(
                f"charwise: note: validation loss rose from its best, {res.best_val_loss:.4f}"
                f"{at}, to {self.last_val_loss:.4f} nats/char: the model overfits this text. "
                f"model.safetensors keeps the best weights; more text, a shorter run (--max-time, "
                f"--epochs), --patience N or more --dropout would help.",
                file=sys.stderr,
            )
