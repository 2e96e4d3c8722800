"""Counting character n-grams with numpy: an exact context trie built one level at a time.

Level m holds the contexts of length m (the m characters before a target). A context of level m+1
is its level-m parent plus one *older* character, so it is named exactly by the integer key
`parent_index * (V + 1) + older_char` (V + 1: a padding symbol stands for "before the start of the
text"). Each level is one `np.unique` over the positions still in play: no hashing, no collisions,
no Python loop over characters.

Why it scales: a context seen once in training (a *singleton*) stays a singleton at every longer
length, and its only continuation is the character that followed it. So a singleton is stored once,
as the training position where it occurs, and its longer versions are matched later by comparing
characters with the training text. Positions leave the counting as soon as their context becomes a
singleton; for a 20-gram most positions leave after about 8 levels.

Counts per (context, next character) pair are raw counts at the top level (and at every level for
Witten-Bell); for Kneser-Ney's lower levels they are continuation counts: the number of distinct
characters seen before the (context, next) pair (Chen & Goodman 1998).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Level:
    """One context length m. Non-singleton contexts are nodes 0..n_nodes-1 (level 0: the root).

    node_keys: (n_nodes,) int64 sorted keys parent*(V+1)+older_char (empty at level 0)
    single_keys: (S,) int64 sorted keys of the singleton contexts that first appear at this level
    single_pos: (S,) int64 the training position of each (its target is train[pos])
    pair_keys: (P,) int64 sorted node*V + next_char of the node contexts' continuations
    pair_counts: (P,) int64 raw or continuation counts of those pairs (all >= 1)
    """

    node_keys: np.ndarray
    single_keys: np.ndarray
    single_pos: np.ndarray
    pair_keys: np.ndarray
    pair_counts: np.ndarray

    @property
    def n_nodes(self) -> int:
        return max(len(self.node_keys), 1)


def _empty() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


def older_chars(ids: np.ndarray, pos: np.ndarray, distance: int, pad: int) -> np.ndarray:
    """(K,) positions -> (K,) int64 characters `distance` before them (pad before the start)."""
    src = pos - distance
    out = np.full(len(pos), pad, dtype=np.int64)
    ok = src >= 0
    out[ok] = ids[src[ok]]
    return out


def build_levels(ids: np.ndarray, vocab_size: int, order: int, smoothing: str) -> list[Level]:
    """(N,) training ids -> `order` Levels (context lengths 0 .. order-1)."""
    V, base, pad = vocab_size, vocab_size + 1, vocab_size
    w_all = np.asarray(ids, dtype=np.int64)
    active = np.arange(len(w_all), dtype=np.int64)  # positions whose context is a node
    node = np.zeros(len(w_all), dtype=np.int64)  # their node index at the current level
    node_keys, single_keys, single_pos = _empty(), _empty(), _empty()
    levels: list[Level] = []
    for m in range(order):
        w = w_all[active]
        top = m == order - 1
        if top or smoothing == "wb":  # raw counts of (context, next)
            pair_keys, pair_counts = np.unique(node * V + w, return_counts=True)
        if not top:
            # Children: this context extended by the character m+1 before the target.
            keys = node * base + older_chars(w_all, active, m + 1, pad)
            ukeys, first, inv, kcount = np.unique(
                keys, return_index=True, return_inverse=True, return_counts=True
            )
            if smoothing == "kn":
                # Continuation count of (context, next): distinct (child, next) pairs under it.
                child_pairs = np.unique(inv * V + w)
                parent_pairs = (ukeys[child_pairs // V] // base) * V + child_pairs % V
                pair_keys, pair_counts = np.unique(parent_pairs, return_counts=True)
        levels.append(
            Level(node_keys, single_keys, single_pos, pair_keys, pair_counts.astype(np.int64))
        )
        if top:
            break
        single = kcount == 1
        single_keys, single_pos = ukeys[single], active[first[single]]
        keep = ~single
        node_keys = ukeys[keep]
        renumber = np.cumsum(keep) - 1
        stay = keep[inv]
        active, node = active[stay], renumber[inv[stay]]
    return levels
