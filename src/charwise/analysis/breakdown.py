"""The error breakdown of Karpathy, Johnson & Fei-Fei 2015, section 4.4 ("peeling the onion").

An *error* is a character to which the model gave probability below 0.5. The errors are taken
away by a series of oracles, in this order, each taking only what the ones before left:

1. n-gram, n = 1..9: n-gram models counted on the training text; an error goes if the n-gram
   gives the right character at least 0.5 (the lowest such n takes it). "Optimistic": for each
   character the best of nine models is picked with hindsight.
2. dynamic memory, n = 100, 500, 1000, 5000: errors inside a word, from its second character on,
   when the whole word occurs as a substring of the n characters before it (the paper's "Mary
   ... Mary": an RNN that failed on a name fails again on its repetition, which a memory of the
   recent past, or dynamic evaluation, would fix).
3. rare words, n = 0..5: errors in words the training text holds at most n times (what more
   training data might fix).
4. word model: errors on the character after a space, a newline or a quote (the first letter of
   a word: choosing the next word is harder than finishing one).
5. punctuation: errors on punctuation (and symbols).
6. boost, s = 0.1..0.4: errors that the right character's probability raised by s would turn
   right, i.e. p >= 0.5 - s (how far the rest are from right).
7. the rest: p < 0.1 and none of the above.

Where this follows choices the paper leaves open (deviations, documented): a word is a maximal
run of `\\w` characters (letters, digits, underscore), case-sensitive; "punctuation" is every
character of Unicode category P* or S*; quotes are the ASCII and typographic quote marks; the
n-gram oracles are charwise's interpolated Kneser-Ney models (ngram/), each order counted on its
own; "right" for an oracle means probability >= 0.5, the complement of an error; the first
character of the text is not scored. The paper applied it to War and Peace.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data.vocab import codepoints
from ..errors import CharwiseError
from .predictions import ngram_char_probs, ngram_tables

GROUPS = (
    "n-gram",
    "dynamic memory",
    "rare words",
    "word model",
    "punctuation",
    "boost",
    "rest",
)
_AFTER = (("after space", " "), ("after newline", "\n"))


@dataclass(frozen=True)
class BreakdownOptions:
    threshold: float = 0.5  # an error: probability of the right character below this
    ngram_orders: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8, 9)  # the paper's 1..9
    memory_spans: tuple[int, ...] = (100, 500, 1000, 5000)  # the paper's dynamic memories
    rare_counts: tuple[int, ...] = (0, 1, 2, 3, 4, 5)  # "seen at most n times in training"
    boosts: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4)  # probability added to the right character
    smoothing: str = "kn"  # the n-gram oracles' smoothing (kn | wb)
    quotes: str = "\"'`\u201c\u201d\u2018\u2019\u00ab\u00bb"  # characters a "quote" may be
    word_pattern: str = r"\w+"  # what a word is

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise CharwiseError("the error threshold must be in (0, 1]")
        for name in ("ngram_orders", "memory_spans", "rare_counts", "boosts"):
            v = getattr(self, name)
            if list(v) != sorted(set(v)):
                raise CharwiseError(f"{name} must be increasing without repeats")
        if self.ngram_orders and self.ngram_orders[0] < 1:
            raise CharwiseError("n-gram orders must be at least 1")
        if self.memory_spans and self.memory_spans[0] < 1:
            raise CharwiseError("memory spans must be at least 1 character")
        if self.rare_counts and self.rare_counts[0] < 0:
            raise CharwiseError("rare-word counts must be at least 0")
        if self.boosts and not (0.0 < self.boosts[0] and self.boosts[-1] <= 1.0):
            raise CharwiseError("boosts must be in (0, 1]")


@dataclass
class Oracles:
    """What each oracle would explain in one text, whatever the model: steps in peeling order,
    each (group, category, (N,) bool). The boosts depend on the model and come later."""

    text_len: int
    opts: BreakdownOptions
    steps: list[tuple[str, str, np.ndarray]] = field(default_factory=list)


@dataclass
class Breakdown:
    """A model's errors peeled into categories (see the module docstring)."""

    categories: tuple[str, ...]  # (C,) in peeling order, "rest" last
    groups: tuple[str, ...]  # (C,) the group of each category
    counts: np.ndarray  # (C,) int64 errors each category took
    errors: int  # characters with p < threshold
    scored: int  # characters with a probability (all but the first)
    category: np.ndarray  # (N,) int16: index into categories per error, -1 elsewhere

    @property
    def fractions(self) -> np.ndarray:
        """(C,) share of the errors each category took (sums to 1 when there are errors)."""
        return self.counts / max(self.errors, 1)

    def group_counts(self) -> dict[str, int]:
        out = dict.fromkeys(GROUPS, 0)
        for g, n in zip(self.groups, self.counts.tolist(), strict=True):
            out[g] += n
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "scored": self.scored,
            "errors": self.errors,
            "error_rate": self.errors / max(self.scored, 1),
            "categories": [
                {"category": c, "group": g, "count": n, "fraction": f}
                for c, g, n, f in zip(
                    self.categories,
                    self.groups,
                    self.counts.tolist(),
                    self.fractions.tolist(),
                    strict=True,
                )
            ],
            "groups": self.group_counts(),
        }


# -- the oracles ----------------------------------------------------------------------------------
def _words(text: str, pattern: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group()) for m in re.finditer(pattern, text)]


def _memory_masks(text: str, words, spans: tuple[int, ...]) -> list[np.ndarray]:
    """For each span n: characters 2.. of words found whole in the n characters before them."""
    masks = [np.zeros(len(text), dtype=bool) for _ in spans]
    if not spans:
        return masks
    longest = spans[-1]
    for s, e, w in words:
        if e - s < 2:
            continue
        j = text.rfind(w, max(0, s - longest), s)  # the nearest earlier occurrence, whole
        if j < 0:
            continue
        k = int(np.searchsorted(spans, s - j))  # the smallest span that reaches back to it
        masks[k][s + 1 : e] = True
    return masks


def _rare_masks(text: str, train_text: str, words, opts: BreakdownOptions) -> list[np.ndarray]:
    """For each n: characters of words seen exactly n times in training (the smaller n took
    the ones seen fewer times)."""
    counts = Counter(re.findall(opts.word_pattern, train_text))
    masks = [np.zeros(len(text), dtype=bool) for _ in opts.rare_counts]
    index = {n: i for i, n in enumerate(opts.rare_counts)}
    for s, e, w in words:
        c = counts.get(w, 0)
        # the first listed n >= c takes the word
        k = next((index[n] for n in opts.rare_counts if n >= c), None)
        if k is not None:
            masks[k][s:e] = True
    return masks


def _char_class(text: str, test) -> np.ndarray:
    """(N,) bool: test(character) for each character, evaluated once per distinct one."""
    cps = codepoints(text)
    uniq, inv = np.unique(cps, return_inverse=True)
    return np.array([bool(test(chr(c))) for c in uniq.tolist()], dtype=bool)[inv.reshape(-1)]


def _shared_ids(text: str, train_text: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Both texts encoded with one vocabulary (the union of their characters)."""
    a, b = codepoints(text), codepoints(train_text)
    symbols = np.union1d(np.unique(a), np.unique(b))
    return np.searchsorted(symbols, a), np.searchsorted(symbols, b), len(symbols)


def ngram_oracle_probs(
    text: str, train_text: str, orders: tuple[int, ...], smoothing: str = "kn"
) -> dict[int, np.ndarray]:
    """order -> (N,) probability each n-gram (counted on train_text) gives each character of
    text. The slow part of build_oracles (one count of the training text per order)."""
    ids, train_ids, V = _shared_ids(text, train_text)
    return {n: ngram_char_probs(ngram_tables(train_ids, V, n, smoothing), ids) for n in orders}


def build_oracles(
    text: str,
    train_text: str,
    opts: BreakdownOptions | None = None,
    ngram_probs: Mapping[int, np.ndarray] | None = None,
) -> Oracles:
    """The model-independent oracles over `text`, for any number of models' breakdowns.

    ngram_probs: order -> (N,) n-gram probabilities already computed (ngram_oracle_probs);
    without it the n-grams are counted here on train_text.
    """
    opts = opts or BreakdownOptions()
    if not train_text:
        raise CharwiseError("the training text is empty")
    if ngram_probs is None:
        ngram_probs = ngram_oracle_probs(text, train_text, opts.ngram_orders, opts.smoothing)
    missing = [n for n in opts.ngram_orders if n not in ngram_probs]
    if missing:
        raise CharwiseError(f"no n-gram probabilities for order {missing[0]}")
    out = Oracles(len(text), opts)
    for n in opts.ngram_orders:
        p = np.asarray(ngram_probs[n], dtype=np.float64)
        if p.shape != (len(text),):
            raise CharwiseError(f"the {n}-gram probabilities do not match the text's length")
        out.steps.append(("n-gram", f"{n}-gram", np.nan_to_num(p) >= opts.threshold))
    words = _words(text, opts.word_pattern)
    for n, m in zip(opts.memory_spans, _memory_masks(text, words, opts.memory_spans), strict=True):
        out.steps.append(("dynamic memory", f"{n}-memory", m))
    for n, m in zip(opts.rare_counts, _rare_masks(text, train_text, words, opts), strict=True):
        out.steps.append(("rare words", f"rare-{n}", m))
    cps = codepoints(text).astype(np.int64)
    prev = np.concatenate([[-1], cps[:-1]])[: len(cps)]  # the character before each (-1: none)
    for name, ch in _AFTER:
        out.steps.append(("word model", name, prev == ord(ch)))
    quotes = np.array([ord(q) for q in opts.quotes], dtype=np.int64)
    out.steps.append(("word model", "after quote", np.isin(prev, quotes)))
    punct = _char_class(text, lambda c: unicodedata.category(c)[0] in "PS")
    out.steps.append(("punctuation", "punctuation", punct))
    return out


# -- one model's breakdown ------------------------------------------------------------------------
def error_breakdown(p: np.ndarray, oracles: Oracles) -> Breakdown:
    """Peel a model's errors with the oracles of its text.

    p: (N,) probability the model gave each character of the text from the ones before it
    (analysis.predictions' convention; NaN = not scored, as p[0]).
    """
    p = np.asarray(p, dtype=np.float64)
    if p.shape != (oracles.text_len,):
        raise CharwiseError(
            f"{p.shape[0] if p.ndim == 1 else p.shape} probabilities for a text of "
            f"{oracles.text_len} characters; give one per character"
        )
    opts = oracles.opts
    scored = np.isfinite(p)
    left = scored & (p < opts.threshold)
    category = np.full(len(p), -1, dtype=np.int16)
    steps = list(oracles.steps) + [
        ("boost", f"boost-{s:g}", p + s >= opts.threshold) for s in opts.boosts
    ]
    steps.append(("rest", "rest", np.ones(len(p), dtype=bool)))
    counts = np.zeros(len(steps), dtype=np.int64)
    for i, (_, _, explains) in enumerate(steps):
        hit = left & explains
        category[hit] = i
        counts[i] = int(hit.sum())
        left &= ~hit
    return Breakdown(
        tuple(c for _, c, _ in steps),
        tuple(g for g, _, _ in steps),
        counts,
        int(counts.sum()),
        int(scored.sum()),
        category,
    )


def error_breakdowns(
    probs: Mapping[str, np.ndarray],
    text: str,
    train_text: str,
    opts: BreakdownOptions | None = None,
    ngram_probs: Mapping[int, np.ndarray] | None = None,
) -> dict[str, Breakdown]:
    """Several models over one text (e.g. sizes): name -> (N,) probabilities -> Breakdowns,
    with the oracles built once."""
    if not probs:
        raise CharwiseError("give at least one model's per-character probabilities")
    oracles = build_oracles(text, train_text, opts, ngram_probs)
    return {name: error_breakdown(p, oracles) for name, p in probs.items()}
