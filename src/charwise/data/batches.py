"""Training batches. `StreamBatcher` (RNNs): truncated-BPTT batches, B parallel streams of T
steps, each stream a contiguous slice of text. `WindowBatcher` (the transformer, which carries no
state): windows drawn at random places of the text.

The train split is cut into `global_batch` equal contiguous streams. Batch i holds, for every
stream k, characters [i*T, (i+1)*T] of stream k, so stream k of batch i+1 continues exactly where
stream k of batch i stopped and the model's hidden state can be carried across batches
(torch-rnn's "remember states"; pytorch/examples' `repackage_hidden`). Under DDP each rank takes a
disjoint block of streams, so N ranks with B streams each see what one process with N*B streams
sees.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..fields import FieldError


class StreamBatcher:
    """Serves (x, y) batches of shape (B, T) int64 from a (N,) id array (memory-mapped is fine).

    `rank`/`world` select this process's streams out of `batch_size * world` global streams.
    """

    def __init__(
        self,
        ids: np.ndarray,
        batch_size: int,
        seq_len: int,
        rank: int = 0,
        world: int = 1,
        train_fraction: float = 1.0,
    ):
        self.B, self.T = batch_size, seq_len
        n_streams = batch_size * world
        self.stream_len = len(ids) // n_streams
        self.steps_per_epoch = (self.stream_len - 1) // seq_len
        if self.steps_per_epoch < 1:
            need = n_streams * (seq_len + 1)
            if train_fraction < 1.0:
                # `ids` is the training split: say so, and what the whole text would need.
                raise FieldError(
                    "batch_size",
                    f"the text is too short for {n_streams} streams of {seq_len} steps: its "
                    f"training split ({train_fraction:.0%} of it) has {len(ids):,} characters and "
                    f"needs at least {need:,} (a text of about "
                    f"{math.ceil(need / train_fraction):,}); lower {{batch_size}} or "
                    "{seq_len}, or give {split} a larger train fraction",
                )
            raise FieldError(
                "batch_size",
                f"the training text is too short for {n_streams} streams of {seq_len} steps: "
                f"it has {len(ids):,} characters and needs at least {need:,}; lower "
                "{batch_size} or {seq_len}",
            )
        # (n_streams, stream_len) view, then this rank's rows: no copy of the corpus.
        grid = ids[: n_streams * self.stream_len].reshape(n_streams, self.stream_len)
        self.streams = grid[rank * batch_size : (rank + 1) * batch_size]

    def batch(self, step: int, epoch: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch `step` of an epoch (any epoch: every one reads the same streams): x, y (B, T)
        int64, y being x shifted one character on."""
        t0 = step * self.T
        block = np.asarray(self.streams[:, t0 : t0 + self.T + 1], dtype=np.int64)
        block = torch.from_numpy(block)
        return block[:, :-1], block[:, 1:]

    def __iter__(self):
        for i in range(self.steps_per_epoch):
            yield self.batch(i)

    def __len__(self) -> int:
        return self.steps_per_epoch


class WindowBatcher:
    """Serves (x, y) batches of B windows of T = `window` characters, each at a random place of
    the (N,) ids, for a model that reads every window from its start (no state carried).

    A step reads about `chars_per_step` characters over all processes (batch_size x seq_len, as
    an RNN's step does), so the two kinds take steps of the same size: W = chars_per_step //
    window windows in all (at least `world`, rounded down to a multiple of it), W / world on
    this rank. Window starts come from a generator seeded by (seed, epoch, step), the same on
    every rank, and rank r takes windows [rB, (r+1)B): any world size sees the same global
    batch, and a resumed run the same windows, without saving a generator. An epoch is
    N // (W x window) steps (windows are drawn with replacement: an epoch reads N characters,
    not every one of them once).
    """

    def __init__(
        self,
        ids: np.ndarray,
        chars_per_step: int,
        window: int,
        seed: int,
        rank: int = 0,
        world: int = 1,
    ):
        if len(ids) < window + 1:
            raise FieldError(
                "block",
                f"the training text has {len(ids):,} characters, too few for one window of "
                f"{window} (it needs {window + 1:,}); lower {{block}}",
            )
        windows = max(world, chars_per_step // window // world * world)
        self.ids, self.T, self.seed = ids, window, seed
        self.B, self.windows, self.rank = windows // world, windows, rank
        self.steps_per_epoch = max(1, len(ids) // (windows * window))
        self._offsets = np.arange(window + 1)

    def batch(self, step: int, epoch: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch `step` of epoch `epoch`: x, y (B, T) int64, y being x shifted one on."""
        rng = np.random.default_rng([self.seed, epoch, step])
        starts = rng.integers(0, len(self.ids) - self.T, size=self.windows)
        mine = starts[self.rank * self.B : (self.rank + 1) * self.B]
        block = np.asarray(self.ids[mine[:, None] + self._offsets], dtype=np.int64)
        block = torch.from_numpy(block)
        return block[:, :-1], block[:, 1:]

    def __len__(self) -> int:
        return self.steps_per_epoch
