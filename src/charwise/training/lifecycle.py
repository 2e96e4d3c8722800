"""The training loop: truncated BPTT with carried state, AdamW + warm-up/cosine, clipping,
periodic validation / samples / resumable saves, time budget, Ctrl-C safety, torchrun/DDP.

Only rank 0 logs, validates, samples and writes files; every rank runs the same loop.
"""

from __future__ import annotations

import json
import math
import os
import signal
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..config import RunConfig, TrainConfig
from ..data.batches import StreamBatcher
from ..data.corpus import Corpus, TextChangedError, load_corpus, split_ids
from ..data.novelty import save_line_hashes
from ..errors import CharwiseError
from ..fields import FieldError
from ..nn.devices import bf16_native, pick_device
from ..nn.model import CharRNN, detach_state
from ..runs.format import read_config, read_vocab, run_config, save_config, save_model
from ..runs.load import load
from ..use.evaluate import LN2, loss_over_ids
from ..use.sampling import SampleOptions, generate
from . import distributed as ddp
from .average import WeightAverage
from .schedule import learning_rate, progress
from .state import load_train_state, optimizer_from_flat, save_train_state

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
FINETUNE_MODEL_SETTINGS = ("dropout", "embed_dropout", "weight_drop")


@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    epochs: float
    best_val_loss: float | None
    elapsed: float
    stopped: str  # "max_steps" | "max_time" | "epochs" | "patience" | "interrupted"
    # True when a resumed run had already reached its limits: nothing was trained, validated,
    # sampled or logged in this session.
    already_finished: bool = False


class Callbacks:
    """Hooks the CLI uses to show progress; the library itself never prints."""

    def on_start(self, info: dict[str, Any]) -> None: ...
    def on_step(self, rec: dict[str, Any]) -> None: ...
    def on_eval(self, rec: dict[str, Any]) -> None: ...
    def on_sample(self, rec: dict[str, Any]) -> None: ...
    def on_end(self, result: TrainResult) -> None: ...


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    # Decay matrices only: biases, embeddings' scale and gains should not be pulled to zero.
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and not n.startswith("embed")]
    other = [
        p for n, p in model.named_parameters() if not (p.dim() >= 2 and not n.startswith("embed"))
    ]
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": other, "weight_decay": 0.0},
    ]
    if cfg.optimizer == "adamw":
        # Fused: one pass over each parameter instead of several: on the CPU 2.1 instead of
        # 9.6 ms a step for a 2x512 LSTM on two threads (bench/optimizer.py); on CUDA one
        # kernel for all parameters, and GradScaler's inf check stays on the GPU.
        fused = next(model.parameters()).device.type in ("cpu", "cuda") or None
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, cfg.beta2), fused=fused)
    if cfg.optimizer == "rmsprop":  # char-rnn's: alpha 0.95
        return torch.optim.RMSprop(groups, lr=cfg.lr, alpha=0.95)
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9)


class _Interrupt:
    """First Ctrl-C: finish the current step, save, stop. Second: stop at once. SIGTERM (what
    schedulers such as Slurm send before a kill, and torchrun to its workers when it stops,
    e.g. on a double Ctrl-C) is always the first kind: finish the step, save, stop."""

    def __init__(self):
        self.requested = False
        self.immediate = False  # set once the state is saved: then any Ctrl-C stops at once
        self._first = 0.0
        self._old: dict[int, Any] = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old[signal.SIGINT] = signal.signal(signal.SIGINT, self._handle)
            self._old[signal.SIGTERM] = signal.signal(signal.SIGTERM, self._terminate)
        return self

    def _handle(self, signum, frame):
        # Under torchrun one Ctrl-C arrives twice: from the terminal and forwarded by torchrun's
        # agent. A repeat within 2 s is the same press, not the second one.
        if self.immediate or (self.requested and time.monotonic() - self._first > 2.0):
            raise KeyboardInterrupt
        if not self.requested:
            self.requested, self._first = True, time.monotonic()

    def _terminate(self, signum, frame):
        if not self.requested:
            self.requested, self._first = True, time.monotonic()

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


class Trainer:
    def __init__(
        self,
        cfg: RunConfig,
        run_dir: Path,
        corpus: Corpus,
        callbacks: Callbacks,
        init_weights: dict[str, torch.Tensor] | None = None,
        dist: ddp.Dist | None = None,
    ):
        self.cfg, self.tc, self.run_dir, self.cb = cfg, cfg.train, Path(run_dir), callbacks
        self.device = pick_device(self.tc.device)
        self.dist = dist if dist is not None else ddp.setup(self.device.type)
        if not self.dist.is_main:
            self.cb = Callbacks()  # only rank 0 reports progress
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
            torch.cuda.set_device(self.device)
        if self.tc.batch_size % self.dist.world:
            raise CharwiseError(
                f"--batch-size {self.tc.batch_size} (the global batch) must be divisible "
                f"by the number of processes ({self.dist.world})"
            )
        if self.tc.threads and self.device.type == "cpu":
            torch.set_num_threads(self.tc.threads)
        torch.manual_seed(self.tc.seed + self.dist.rank)
        self.vocab = corpus.vocab
        self.splits = split_ids(corpus.ids, cfg.data.split)
        self.batches = StreamBatcher(
            self.splits.train,
            self.tc.batch_size // self.dist.world,
            self.tc.seq_len,
            self.dist.rank,
            self.dist.world,
            train_fraction=cfg.data.split[0],
        )
        self.model = CharRNN(cfg.model).to(self.device)
        if init_weights is not None:
            self.model.load_state_dict(init_weights)
        self.opt = make_optimizer(self.model, self.tc)
        # The weight average (rank 0 only: it is what rank 0 validates, samples and saves).
        self.avg = (
            WeightAverage(self.model, self.tc.ema)
            if self.tc.ema > 0 and self.dist.is_main
            else None
        )
        # self.net is what the step calls (DDP-wrapped, compiled); self.model stays the plain
        # module that validation, sampling and saving use (no `module.` / `_orig_mod.` keys).
        self.net = self.model
        if self.dist.enabled:
            self.net = torch.nn.parallel.DistributedDataParallel(
                self.net, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        if self.tc.compile:  # after DDP, as PyTorch recommends (DDP-aware graph splitting)
            self.net = torch.compile(self.net)
        self.amp = self.tc.amp and bf16_native(self.device)
        # Under autocast PyTorch runs cuDNN RNNs in float16 whatever the autocast dtype (only the
        # embedding and head use bf16), so the loss is scaled against fp16 gradient underflow.
        # With fused AdamW the scaler skips overflowing steps on the GPU, without a host sync.
        # (On CPU autocast keeps bf16 throughout, whose fp32-sized exponent needs no scaling.)
        self.scaler = torch.amp.GradScaler(
            self.device.type, enabled=self.amp and self.device.type == "cuda"
        )
        # progress counters (all restored on resume)
        self.step, self.epoch, self.pos = 0, 0, 0
        self.elapsed, self.best, self.bad_evals = 0.0, math.inf, 0
        self.hidden = None
        self.grad_norm_sum = torch.zeros((), device=self.device)  # over the current log window

    # -- persistence --------------------------------------------------------------------------
    def trainer_state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "epoch": self.epoch,
            "pos": self.pos,
            "epochs_trained": round(self.epoch_float, 4),  # what `charwise info` reports
            "elapsed": self.elapsed,
            "best_val_loss": None if math.isinf(self.best) else self.best,
            "bad_evals": self.bad_evals,
            "global_batch": self.tc.batch_size,
            "chars_seen": self.step * self.tc.batch_size * self.tc.seq_len,
            "grad_scale": self.scaler.get_scale() if self.scaler.is_enabled() else None,
            "average_updates": self.avg.updates if self.avg is not None else None,
        }

    @property
    def best_model(self) -> CharRNN:
        """The weights that validation, samples and model.safetensors use."""
        return self.avg.model if self.avg is not None else self.model

    def save_state(self) -> None:
        # The loss is checked once per log window, so weights gone NaN / inf since the last
        # check could reach a save: refuse, keeping the previous state resumable (the advice
        # after a divergence counts on it). One host sync per save.
        params = [p.detach() for p in self.model.parameters()]
        if not bool(torch.stack([torch.isfinite(p).all() for p in params]).all()):
            raise CharwiseError(
                f"training diverged by step {self.step} (the weights are not finite); "
                f"{self.recovery_advice()}"
            )
        hidden = ddp.gather_streams(self.dist, self.hidden) if self.hidden is not None else None
        if self.dist.is_main:
            average = self.avg.state_dict() if self.avg is not None else None
            save_train_state(
                self.run_dir, self.model, self.opt, hidden, self.trainer_state(), average
            )
        ddp.barrier(self.dist)

    def restore(self) -> None:
        tensors, st = load_train_state(self.run_dir)
        if st.get("global_batch", self.tc.batch_size) != self.tc.batch_size:
            raise CharwiseError("the saved state was trained with a different --batch-size")
        self.model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        optimizer_from_flat(
            self.opt,
            {k: v.to(self.device) if not k.endswith(".step") else v for k, v in tensors.items()},
            st["optimizer"],
        )
        # Loading the optimizer state also restores the saved param groups' hyperparameters:
        # put back the (possibly changed on --resume) weight decay of the decayed group.
        self.opt.param_groups[0]["weight_decay"] = self.tc.weight_decay
        if self.avg is not None:
            if st.get("average_updates") is None:
                raise CharwiseError("the saved state has no weight average: resume without --ema")
            self.avg.load_state_dict(
                {k[8:]: v for k, v in tensors.items() if k.startswith("average.")},
                st["average_updates"],
            )
        torch.set_rng_state(tensors["rng.cpu"])
        if "rng.cuda" in tensors and self.device.type == "cuda":
            torch.cuda.set_rng_state(tensors["rng.cuda"])
        if self.scaler.is_enabled() and st.get(
            "grad_scale"
        ):  # no warm-up of the loss scale after a resume
            self.scaler = torch.amp.GradScaler(self.device.type, init_scale=st["grad_scale"])
        if self.dist.rank > 0:  # the state holds rank 0's generators: other ranks draw their own
            torch.manual_seed(self.tc.seed + self.dist.rank + 7919 * st["step"])
        if "hidden.0" in tensors:
            b = self.batches.B
            sl = slice(self.dist.rank * b, (self.dist.rank + 1) * b)
            n = sum(1 for k in tensors if k.startswith("hidden."))
            self.hidden = tuple(tensors[f"hidden.{i}"][:, sl].to(self.device) for i in range(n))
        self.step, self.epoch, self.pos = st["step"], st["epoch"], st["pos"]
        self.elapsed, self.bad_evals = st["elapsed"], st["bad_evals"]
        self.best = st["best_val_loss"] if st["best_val_loss"] is not None else math.inf
        if self.dist.is_main:
            _truncate_jsonl(self.run_dir / "log.jsonl", self.step)
            _truncate_jsonl(self.run_dir / "samples.jsonl", self.step)

    def log(self, rec: dict[str, Any], file: str = "log.jsonl") -> None:
        with open(self.run_dir / file, "a", encoding="utf-8") as f:
            # Strict JSON: a NaN / inf figure is written as null.
            clean = {
                k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in rec.items()
            }
            f.write(json.dumps(clean, ensure_ascii=False) + "\n")

    # -- one optimisation step ---------------------------------------------------------------
    def train_step(self, lr: float) -> torch.Tensor:
        x, y = self.batches.batch(self.pos)
        if self.device.type != "cpu":
            # One (B, T+1) block, y being x shifted by one: a single copy to the device, from
            # pinned memory so it runs asynchronously while the host prepares the next step.
            block = torch.empty(
                (x.shape[0], x.shape[1] + 1), dtype=x.dtype, pin_memory=self.device.type == "cuda"
            )
            block[:, :-1] = x
            block[:, -1] = y[:, -1]
            block = block.to(self.device, non_blocking=True)
            x, y = block[:, :-1], block[:, 1:]
        if self.pos == 0 or self.hidden is None:  # epoch boundary: streams restart, so does state
            self.hidden = self.model.init_state(self.batches.B, self.device)
        for g in self.opt.param_groups:
            g["lr"] = lr
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            logits, hidden = self.net(x, self.hidden)
            loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1))
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        # The gradient norm (before clipping) is summed on the device and logged per window,
        # with no host sync per step; under a GradScaler it is measured unscaled.
        self.scaler.unscale_(self.opt)
        clip = self.tc.grad_clip if self.tc.grad_clip > 0 else math.inf
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        self.grad_norm_sum += norm.detach().float()
        self.scaler.step(self.opt)
        self.scaler.update()
        if self.avg is not None:
            self.avg.update(self.model)
        # Keep the values, cut the graph: gradients stop at the window edge (truncated BPTT).
        # float(): under autocast the cuDNN state comes back fp16; carry and save it as fp32.
        self.hidden = tuple(s.float() for s in detach_state(hidden))
        return loss.detach()

    # -- evaluation and samples (rank 0) ---------------------------------------------------------
    def validate(self) -> dict[str, Any] | None:
        if len(self.splits.val) < 2:
            return None
        # On CPU validation stays fp32: the reported loss is exact, and it runs rarely.
        amp_dtype = torch.bfloat16 if self.amp and self.device.type == "cuda" else None
        total, n = loss_over_ids(
            self.best_model, np.asarray(self.splits.val), device=self.device, amp_dtype=amp_dtype
        )
        return {
            "event": "val",
            "step": self.step,
            "epoch": round(self.epoch_float, 4),
            "val_loss": total / n,
            "val_bpc": total / n / LN2,
            "elapsed": round(self.elapsed, 2),
        }

    def write_sample(self) -> None:
        opts = SampleOptions(
            length=self.tc.sample_length, temperature=0.8, seed=self.tc.seed + self.step
        )
        text = generate(self.best_model, self.vocab, opts)[0]
        self.model.train()
        rec = {
            "step": self.step,
            "elapsed": round(self.elapsed, 2),
            "temperature": 0.8,
            "text": text,
        }
        self.log(rec, "samples.jsonl")
        self.cb.on_sample(rec)

    @property
    def epoch_float(self) -> float:
        return self.epoch + self.pos / self.batches.steps_per_epoch

    # -- the loop --------------------------------------------------------------------------------
    def stop_reason(self) -> str | None:
        tc = self.tc
        if tc.max_steps and self.step >= tc.max_steps:
            return "max_steps"
        if tc.epochs and self.epoch_float >= tc.epochs - 1e-9:
            return "epochs"
        if tc.max_time and self.elapsed >= tc.max_time:
            return "max_time"
        return None

    def total_steps(self) -> int | None:
        """The step at which a step or epoch limit ends the run (None: only time limits it)."""
        limits = [self.tc.max_steps] if self.tc.max_steps else []
        if self.tc.epochs:
            limits.append(math.ceil(self.tc.epochs * self.batches.steps_per_epoch))
        return min(limits) if limits else None

    def finished_reason(self) -> str | None:
        """Why a restored run has nothing left to train (None: it has)."""
        if self.tc.patience and self.bad_evals >= self.tc.patience:
            return "patience"
        return self.stop_reason()

    def run(self) -> TrainResult:
        tc, main = self.tc, self.dist.is_main
        done = self.finished_reason()
        if done:
            # A resumed run already at its limits: validating, sampling and logging again would
            # only duplicate the last records (and count against --patience).
            self.net = self.model
            ddp.teardown(self.dist)
            best = None if math.isinf(self.best) else self.best
            return TrainResult(
                self.run_dir, self.step, self.epoch_float, best, self.elapsed, done, True
            )
        self.model.train()
        self.cb.on_start(
            {
                "params": self.model.num_params,
                "device": str(self.device),
                "world": self.dist.world,
                "steps_per_epoch": self.batches.steps_per_epoch,
                "train_chars": len(self.splits.train),
                "val_chars": len(self.splits.val),
                "step": self.step,
                "vocab_size": self.vocab.size,
                "total_steps": self.total_steps(),
                "max_time": tc.max_time,
                "elapsed": self.elapsed,
            }
        )
        stopped, window_loss, window_steps = None, torch.zeros((), device=self.device), 0
        self.grad_norm_sum.zero_()
        t_last, window_time = time.perf_counter(), 0.0
        lr = tc.lr  # set by every step; read only once a step has run

        def end_window() -> None:
            """Log the window's mean loss, gradient norm and speed, and start a new window."""
            nonlocal window_steps, window_time
            t0 = time.perf_counter()
            # The global batch's mean loss; one host sync per log window.
            loss = float(ddp.mean(self.dist, window_loss) / window_steps)
            # DDP all-reduced the gradients: every rank has the same norm.
            grad_norm = float(self.grad_norm_sum) / window_steps
            self.grad_norm_sum.zero_()
            window_time += time.perf_counter() - t0
            chars = window_steps * tc.batch_size * tc.seq_len
            self.after_window(loss, chars / max(window_time, 1e-9), lr, grad_norm)
            window_loss.zero_()
            window_steps, window_time = 0, 0.0

        with _Interrupt() as intr:
            while True:
                stopped = self.stop_reason()
                if stopped or ddp.any_flag(self.dist, intr.requested):
                    stopped = stopped or "interrupted"
                    # A partial window is logged, or its losses would be lost (every rank gets
                    # here together: the flag was agreed between ranks).
                    if window_steps:
                        end_window()
                    break
                prog = progress(tc, self.step, self.elapsed, self.epoch_float)
                lr = learning_rate(tc, self.step, prog, self.epoch)
                t0 = time.perf_counter()
                window_loss += self.train_step(lr)
                window_time += time.perf_counter() - t0
                window_steps += 1
                self.step += 1
                self.pos += 1
                if self.pos >= self.batches.steps_per_epoch:
                    self.epoch, self.pos = self.epoch + 1, 0
                now = time.perf_counter()
                self.elapsed += ddp.broadcast_float(self.dist, now - t_last)
                t_last = now
                if self.step % tc.log_every == 0 or self.stop_reason():
                    end_window()
                if self.step % tc.eval_every == 0 and self.evaluate_and_check():
                    stopped = "patience"
                    break
                if main and self.step % tc.sample_every == 0:
                    self.write_sample()
                if self.step % tc.save_every == 0:
                    self.save_state()
            # Still under the handler: a Ctrl-C during the final validation or sample (a while
            # on a large validation split) must not lose the run, so its state is saved first;
            # from then on a Ctrl-C stops at once.
            final_eval = stopped not in ("patience", "interrupted") and self.step % tc.eval_every
            final_sample = main and stopped != "interrupted" and self.step % tc.sample_every
            if final_eval or final_sample:
                self.save_state()
                intr.immediate = True
                try:
                    if final_eval:
                        self.evaluate_and_check()
                    if final_sample:
                        self.write_sample()
                except KeyboardInterrupt:
                    stopped = "interrupted"
                else:
                    self.save_state()
                finally:
                    intr.immediate = False
            else:
                self.save_state()
        # Drop the DDP wrapper (its reducer holds the process group) before the group goes, so
        # gloo's worker threads are joined now, not during interpreter shutdown.
        self.net = self.model
        ddp.teardown(self.dist)
        res = TrainResult(
            self.run_dir,
            self.step,
            self.epoch_float,
            None if math.isinf(self.best) else self.best,
            self.elapsed,
            stopped,
        )
        self.cb.on_end(res)
        return res

    def after_window(
        self, loss: float, chars_per_s: float, lr: float, grad_norm: float | None = None
    ) -> None:
        if not math.isfinite(loss) or loss > self.tc.max_loss:
            # A finite loss over the threshold may be the threshold's fault (a --max-loss below
            # where this text's loss starts): a lower --lr would then stop at the same place.
            low = (
                f"; if {self.tc.max_loss:g} is too low for this text (a model that knows nothing "
                f"scores ln({self.vocab.size}) = {math.log(self.vocab.size):.3g}), raise "
                f"--max-loss, else"
                if math.isfinite(loss)
                else ";"
            )
            raise CharwiseError(
                f"training diverged at step {self.step} (loss {loss:.4g}, --max-loss "
                f"{self.tc.max_loss:g}){low} {self.recovery_advice()}"
            )
        rec = {
            "event": "train",
            "step": self.step,
            "epoch": round(self.epoch_float, 4),
            "loss": loss,
            "bpc": loss / LN2,
            "lr": lr,
            "grad_norm": grad_norm,
            "chars_per_s": round(chars_per_s, 1),
            "elapsed": round(self.elapsed, 2),
        }
        self.cb.on_step(rec)
        if self.dist.is_main:
            self.log(rec)

    def recovery_advice(self) -> str:
        """What is kept after a divergence, and the command that can actually follow it."""
        d, lr = self.run_dir, f"{self.tc.lr / 10:g}"
        if (d / "state.safetensors").exists():  # resumable from the last save, before it diverged
            return (
                f"the last good checkpoint is intact in {d}. Resume it with a lower learning "
                f"rate (now {self.tc.lr:g}) or --grad-clip: charwise train --resume {d} --lr {lr}"
            )
        if (d / "model.safetensors").exists():  # best weights, but no resumable state yet
            return (
                f"the last good checkpoint is intact in {d}, but no resumable state was saved "
                f"yet (--save-every {self.tc.save_every}). Start again with a lower --lr (now "
                f"{self.tc.lr:g}) or --grad-clip in a new --out, or continue from its best "
                f"weights with --init-from {d} --out NEW_DIR --lr {lr}"
            )
        return (
            f"no checkpoint was saved yet. Start again with a lower --lr (now {self.tc.lr:g}) "
            f"or --grad-clip; the same --out {d} may be reused"
        )

    def evaluate_and_check(self) -> bool:
        """Validate (rank 0), keep the best weights, and say whether patience has run out."""
        stop = False
        if self.dist.is_main:
            rec = self.validate()
            if rec is None:  # no validation split: the latest weights are the model
                save_model(self.run_dir / "model.safetensors", self.best_model, {"step": self.step})
            else:
                improved = rec["val_loss"] < self.best
                if improved:
                    self.best, self.bad_evals = rec["val_loss"], 0
                    save_model(
                        self.run_dir / "model.safetensors",
                        self.best_model,
                        {"step": self.step, "val_loss": self.best, "elapsed": self.elapsed},
                    )
                else:
                    self.bad_evals += 1
                rec["best_val_loss"] = self.best
                self.log(rec)
                self.cb.on_eval(rec)
                stop = bool(self.tc.patience and self.bad_evals >= self.tc.patience)
        return ddp.any_flag(self.dist, stop)


def _truncate_jsonl(path: Path, step: int) -> None:
    """Drop records past `step` (written after the last state save, before a crash)."""
    if not path.exists():
        return
    keep = [
        ln
        for ln in path.read_text(encoding="utf-8").splitlines()
        if ln.strip() and json.loads(ln).get("step", 0) <= step
    ]
    path.write_text("".join(ln + "\n" for ln in keep), encoding="utf-8")


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
    raise CharwiseError(
        f"the training text changed since the run in {run_dir} started, so it cannot be "
        f"resumed; to train on the new text, fine-tune from it: charwise train TEXT "
        f"--init-from {run_dir} --out NEW_DIR"
    )


def _fine_tune_config(cfg: RunConfig, base: Any, init_from: str | Path) -> RunConfig:
    """cfg for fine-tuning `base`: its architecture, cfg's regularisation, and its text mode."""
    model = replace(base.model.cfg, **{k: getattr(cfg.model, k) for k in FINETUNE_MODEL_SETTINGS})
    # The vocabulary is the base run's, so is the text mode: bytes cannot be encoded with a
    # character vocabulary. Without --bytes the mode follows the base run; asking for bytes
    # when it was trained on characters is a contradiction to report.
    if cfg.data.max_vocab is not None:
        raise CharwiseError(
            f"--max-vocab cannot be given with --init-from: the vocabulary is the base run's "
            f"({init_from})"
        )
    if cfg.data.bytes_mode and not base.vocab.bytes_mode:
        raise CharwiseError(
            f"the base run {init_from} was trained on characters, not raw bytes: "
            "fine-tune it without --bytes (the mode must match the base run)"
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
    characters) are kept; cfg.model's regularisation (dropout, embed_dropout, weight_drop)
    applies."""
    if not isinstance(cfg, RunConfig):
        raise CharwiseError(f"cfg must be a charwise.RunConfig, not {type(cfg).__name__}")
    out = Path(out)
    # Checked before any text is read or model built: these fail at the first write otherwise.
    if out.exists() and not out.is_dir():
        raise CharwiseError(f"--out {out} is a file, not a run directory")
    if (out / "state.safetensors").exists() or (out / "model.safetensors").exists():
        raise CharwiseError(
            f"{out} already holds a run; resume it with --resume {out} or choose another --out"
        )
    cfg = _absolute_sources(_with_default_limit(cfg))
    dist = ddp.setup(pick_device(cfg.train.device).type)
    init_weights = None
    if init_from is not None:
        base = load(init_from)
        if not base.has_network:
            raise CharwiseError("--init-from needs an RNN run, not an n-gram run")
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
    trainer = Trainer(cfg, out, corpus, callbacks or Callbacks(), init_weights, dist)
    if trainer.dist.is_main:
        # A run folder reused after an attempt that saved no checkpoint (it diverged at once):
        # its records belong to that attempt, not to this run.
        if (out / "config.json").exists():
            for name in ("log.jsonl", "samples.jsonl"):
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
    return trainer.run()


def resume(
    run_dir: str | Path,
    callbacks: Callbacks | None = None,
    overrides: dict[str, Any] | None = None,
    cache_dir: Path | None = None,
) -> TrainResult:
    """Continue an interrupted (or finished) run where it stopped. `overrides` may change the
    settings in RESUME_CHANGEABLE (limits, how often things happen, the learning rate, clipping,
    ...), not the model, the data or what the saved state depends on."""
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
    if changed and trainer.finished_reason() is None and trainer.dist.is_main:
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
    return trainer.run()
