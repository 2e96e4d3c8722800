"""The Trainer: one process's model, optimizer and data stream, and how each part of training is
done: the step (truncated BPTT with carried state, bf16 autocast, clipping, weight average),
validation keeping the best weights, samples, the divergence check, resumable saves.

When each happens is loop.py's; starting, resuming and fine-tuning a run are lifecycle.py's; the
state file's format is state.py's. Under torchrun every rank holds a Trainer and runs the loop;
only rank 0 validates, samples and writes files.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..config import RunConfig
from ..data.batches import StreamBatcher, WindowBatcher
from ..data.corpus import Corpus, split_ids
from ..fields import FieldError
from ..nn.build import build_model
from ..nn.devices import bf16_native, pick_device
from ..nn.model import detach_state
from ..runs.format import save_model
from ..use.evaluate import loss_over_ids
from ..use.sampling import SampleOptions, generate
from . import distributed as ddp
from .average import WeightAverage
from .errors import DivergedError
from .events import Callbacks, TrainResult
from .optimizer import make_optimizer
from .progress import Progress
from .records import SAMPLE_TEMPERATURE, LogWindow, RunLog
from .state import BEST_FILE, restore_train_state, save_train_state, saved_in


class Trainer:
    """One run's training on one process: the model, its optimizer, the data stream and the
    progress counters.

    Built from a RunConfig and the encoded corpus (and the weights to start from, when
    fine-tuning); `restore()` loads a saved state into it; `loop.run(trainer)` trains it until
    the run stops and returns a TrainResult. `train_step(lr)` is one optimisation step on the next
    batch (the benches time it alone). Under torchrun each rank holds one Trainer with its B / N
    streams of the global batch of B.
    """

    def __init__(
        self,
        cfg: RunConfig,
        run_dir: Path,
        corpus: Corpus,
        callbacks: Callbacks,
        init_weights: dict[str, torch.Tensor] | None = None,
        dist: ddp.Dist | None = None,
    ):
        self.cfg, self.tc, self.run_dir = cfg, cfg.train, Path(run_dir)
        device = pick_device(self.tc.device)
        self.dist = dist if dist is not None else ddp.setup(device.type)
        self.device = ddp.rank_device(self.dist, device)
        # Only rank 0 reports progress and writes records.
        self.cb = callbacks if self.dist.is_main else Callbacks()
        self.records = RunLog(self.run_dir, self.cb, writes=self.dist.is_main)
        if self.tc.batch_size % self.dist.world:
            raise FieldError(
                "batch_size",
                f"{{batch_size}} {self.tc.batch_size} (the global batch) must be divisible "
                f"by the number of processes ({self.dist.world})",
            )
        if self.tc.threads and self.device.type == "cpu":
            torch.set_num_threads(self.tc.threads)
        torch.manual_seed(self.tc.seed + self.dist.rank)
        self.vocab = corpus.vocab
        self.splits = split_ids(corpus.ids, cfg.data.split, cfg.data.split_rows)
        self.model = build_model(cfg.model).to(self.device)
        if self.model.carries_state:  # contiguous streams, the state carried across batches
            self.batches = StreamBatcher(
                self.splits.train,
                self.tc.batch_size // self.dist.world,
                self.tc.seq_len,
                self.dist.rank,
                self.dist.world,
                train_fraction=cfg.data.split[0],
            )
        else:  # random windows of the model's context, the same characters per step
            self.batches = WindowBatcher(
                self.splits.train,
                self.tc.batch_size * self.tc.seq_len,
                cfg.model.block,
                self.tc.seed,
                self.dist.rank,
                self.dist.world,
            )
        # Characters one step reads over all processes (the log's chars/s, chars_seen).
        self.chars_per_step = self.batches.B * self.batches.T * self.dist.world
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
        self.net = ddp.wrap(self.dist, self.model, self.device)
        if self.tc.compile:  # after DDP, as PyTorch recommends (DDP-aware graph splitting)
            self.net = torch.compile(self.net)
        self.amp = self.tc.amp and bf16_native(self.device)
        # Under autocast PyTorch runs cuDNN RNNs in float16 whatever the autocast dtype (only the
        # embedding and head use bf16), so the loss is scaled against fp16 gradient underflow.
        # With fused AdamW the scaler skips overflowing steps on the GPU, without a host sync;
        # Muon (not fused) costs one sync a step to read the scaler's overflow flag.
        # (On CPU autocast keeps bf16 throughout, whose fp32-sized exponent needs no scaling.)
        self.scaler = torch.amp.GradScaler(
            self.device.type, enabled=self.amp and self.device.type == "cuda"
        )
        self.progress = Progress(self.batches.steps_per_epoch)  # all restored on resume
        self.hidden = None  # the carried state of this rank's streams
        self.grad_norm = torch.zeros((), device=self.device)  # the last step's, before clipping

    # -- one optimisation step ----------------------------------------------------------------
    def train_step(self, lr: float, groups: int = 1) -> torch.Tensor:
        """One training step on batch `progress.pos` at learning rate `lr`, carrying the state
        from the previous one: one optimizer update, or `groups` updates on disjoint groups of
        the batch's streams (the batch-size schedule, schedule.update_groups), each group
        carrying its own streams' state. Returns the batch's mean loss, a 0-d tensor on the
        device (no host sync); leaves the last update's gradient norm before clipping in
        self.grad_norm."""
        pos = self.progress.pos
        # (B, T) int64 each, y = x shifted by one
        x, y = self.batches.batch(pos, self.progress.epoch)
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
        if pos == 0 or self.hidden is None:  # epoch boundary: streams restart, so does state
            self.hidden = self.model.init_state(self.batches.B, self.device)
        for g in self.opt.param_groups:  # a group may run at a multiple of it (Muon's)
            g["lr"] = lr * g.get("lr_scale", 1.0)
        groups = max(1, min(groups, x.shape[0]))  # every rank has the same B, so the same groups
        if groups == 1:
            loss, self.hidden = self._update(x, y, self.hidden)
            return loss
        # State tensors are (L, B, H): group i's streams are the same rows of x, y and the state.
        xs, ys = x.tensor_split(groups), y.tensor_split(groups)
        hs = [s.tensor_split(groups, dim=1) for s in self.hidden]
        losses, states = [], []
        for i in range(groups):
            loss, state = self._update(xs[i], ys[i], tuple(h[i] for h in hs))
            losses.append(loss * xs[i].shape[0])
            states.append(state)
        self.hidden = tuple(torch.cat(parts, dim=1) for parts in zip(*states, strict=True))
        return torch.stack(losses).sum() / x.shape[0]

    def _update(
        self, x: torch.Tensor, y: torch.Tensor, hidden: tuple[torch.Tensor, ...]
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """One optimizer update on x, y (b, T) from state `hidden` (tuple of (L, b, H); () for a
        transformer): (the mean loss, a 0-d tensor; the state after x, detached, fp32)."""
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            logits, hidden = self.net(x, hidden)  # logits: (b, T, V)
            loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1))
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        # The gradient norm (before clipping) stays on the device, summed per log window with no
        # host sync per step; under a GradScaler it is measured unscaled.
        self.scaler.unscale_(self.opt)
        clip = self.tc.grad_clip if self.tc.grad_clip > 0 else math.inf
        self.grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip).detach()
        self.scaler.step(self.opt)
        self.scaler.update()
        if self.avg is not None:
            self.avg.update(self.model)
        # Keep the values, cut the graph: gradients stop at the window edge (truncated BPTT).
        # float(): under autocast the cuDNN state comes back fp16; carry and save it as fp32.
        return loss.detach(), tuple(s.float() for s in detach_state(hidden))

    # -- what happens every so often -------------------------------------------------------------
    def log_window(self, window: LogWindow, lr: float) -> None:
        """Log the window's mean loss, gradient norm and speed; stop a run that diverged."""
        loss, grad_norm, chars_per_s = window.close(self.dist)
        if not math.isfinite(loss) or loss > self.tc.max_loss:
            raise self.diverged(loss)
        self.records.train(self.progress, loss, lr, grad_norm, chars_per_s)

    def evaluate_and_check(self) -> bool:
        """Validate (rank 0), keep the best weights, and say whether patience has run out."""
        p, stop = self.progress, False
        if self.dist.is_main:
            loss = self.validation_loss()
            if loss is None:  # no validation split: the latest weights are the model
                save_model(self.run_dir / BEST_FILE, self.best_model, {"step": p.step})
            else:
                if loss < p.best:
                    p.best, p.bad_evals = loss, 0
                    meta = {"step": p.step, "val_loss": p.best, "elapsed": p.elapsed}
                    save_model(self.run_dir / BEST_FILE, self.best_model, meta)
                else:
                    p.bad_evals += 1
                self.records.val(p, loss)
                stop = bool(self.tc.patience and p.bad_evals >= self.tc.patience)
        return ddp.any_flag(self.dist, stop)

    def validation_loss(self) -> float | None:
        """best_model's mean loss over the validation split (None without one), nats/char."""
        if len(self.splits.val) < 2:
            return None
        # On CPU validation stays fp32: the reported loss is exact, and it runs rarely.
        amp_dtype = torch.bfloat16 if self.amp and self.device.type == "cuda" else None
        total, n = loss_over_ids(
            self.best_model, np.asarray(self.splits.val), device=self.device, amp_dtype=amp_dtype
        )
        return total / n

    def write_sample(self) -> None:
        """A sample of the best_model weights into samples.jsonl, seeded by the step."""
        tc, seed = self.tc, self.tc.seed + self.progress.step
        opts = SampleOptions(length=tc.sample_length, temperature=SAMPLE_TEMPERATURE, seed=seed)
        text = generate(self.best_model, self.vocab, opts)[0]
        self.model.train()
        self.records.sample(self.progress, text)

    @property
    def best_model(self) -> torch.nn.Module:
        """The weights that validation, samples and model.safetensors use."""
        return self.avg.model if self.avg is not None else self.model

    # -- the resumable state ---------------------------------------------------------------------
    def save_state(self) -> None:
        """Write the resumable state (rank 0; the carried state of all ranks' streams)."""
        # The loss is checked once per log window, so weights gone NaN / inf since the last
        # check could reach a save: refuse, keeping the previous state resumable (what a
        # DivergedError reports as saved counts on it). One host sync per save.
        params = [p.detach() for p in self.model.parameters()]
        if not bool(torch.stack([torch.isfinite(p).all() for p in params]).all()):
            raise self.diverged(None)
        hidden = ddp.gather_streams(self.dist, self.hidden) if self.hidden is not None else None
        if self.dist.is_main:
            tc, step = self.tc, self.progress.step
            trainer = {
                **self.progress.record(),
                "global_batch": tc.batch_size,
                "chars_seen": step * self.chars_per_step,
                "grad_scale": self.scaler.get_scale() if self.scaler.is_enabled() else None,
                "average_updates": self.avg.updates if self.avg is not None else None,
            }
            average = self.avg.state_dict() if self.avg is not None else None
            save_train_state(self.run_dir, self.model, self.opt, hidden, trainer, average)
        ddp.barrier(self.dist)

    def restore(self) -> None:
        """Continue from the saved state: weights, optimizer, generators, counters, and this
        rank's share of the carried state (the world size may differ from the saving run's)."""
        st, hidden = restore_train_state(
            self.run_dir, self.model, self.opt, self.avg, self.tc.batch_size, self.tc.weight_decay
        )
        if self.scaler.is_enabled() and st.get("grad_scale"):  # no warm-up of the loss scale
            self.scaler = torch.amp.GradScaler(self.device.type, init_scale=st["grad_scale"])
        if self.dist.rank > 0:  # the state holds rank 0's generators: other ranks draw their own
            torch.manual_seed(self.tc.seed + self.dist.rank + 7919 * st["step"])
        if hidden is not None:
            b = self.batches.B
            sl = slice(self.dist.rank * b, (self.dist.rank + 1) * b)
            self.hidden = tuple(h[:, sl].to(self.device) for h in hidden)
        self.progress.restore(st)
        self.records.truncate(self.progress.step)

    # -- reports ---------------------------------------------------------------------------------
    def start_info(self) -> dict[str, Any]:
        """What Callbacks.on_start gets."""
        return {
            "params": self.model.num_params,
            "device": str(self.device),
            "world": self.dist.world,
            "steps_per_epoch": self.batches.steps_per_epoch,
            "train_chars": len(self.splits.train),
            "val_chars": len(self.splits.val),
            "step": self.progress.step,
            "vocab_size": self.vocab.size,
            "total_steps": self.progress.total_steps(self.tc),
            "max_time": self.tc.max_time,
            "elapsed": self.progress.elapsed,
        }

    def diverged(self, loss: float | None) -> DivergedError:
        """The error for a divergence now (`loss` None: the weights were found not finite)."""
        return DivergedError(
            step=self.progress.step,
            loss=loss,
            max_loss=self.tc.max_loss,
            vocab_size=self.vocab.size,
            run_dir=self.run_dir,
            saved=saved_in(self.run_dir),
            lr=self.tc.lr,
            save_every=self.tc.save_every,
        )

    def finish(self, stopped: str, already_finished: bool = False) -> TrainResult:
        """End the session: leave the process group; report and return the result."""
        # Drop the DDP wrapper (its reducer holds the process group) before the group goes, so
        # gloo's worker threads are joined now, not during interpreter shutdown.
        self.net = self.model
        ddp.teardown(self.dist)
        p = self.progress
        res = TrainResult(
            self.run_dir,
            p.step,
            p.epoch_float,
            p.best_val_loss,
            p.elapsed,
            stopped,
            already_finished,
        )
        if not already_finished:
            self.cb.on_end(res)
        return res
