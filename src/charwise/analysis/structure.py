"""Structure of samples: what "unreasonable effectiveness" means, measured.

For samples of any run (RNN or n-gram) and the training text they imitate:

    brackets   brackets_matched         share of closing ) ] } meeting an open bracket whose
                                        innermost one is of their own type (one stack for all
                                        three): type agreement over any distance
               brackets_unopened        share of closers with nothing open at all (text cut
                                        from inside a block has some)
               brackets_lines_balanced  share of lines with ( ) [ ] on which both balance
               brackets_max_depth       mean over samples of the deepest nesting of ( [ {
    quotes     quotes_lines_balanced    share of lines with a double quote that have an even
                                        number of them (escaped \\" and the literal '"' skipped)
    latex      latex_end_matched        share of \\end{X} meeting an open environment whose
                                        innermost one is X
               latex_end_unopened       share of \\end with no environment open
               latex_envs_per_10k       \\begin and \\end per 10,000 characters
               latex_math_balanced      share of paragraphs with $ that have an even number
    c          c_parse_rate             share of complete top-level C functions that parse
               c_functions_per_10k      such functions per 10,000 characters (cfunctions.py)
    lines      line_length_mean/_std    of the sample's complete lines
               line_length_tv           total variation distance between the sample's and the
                                        corpus's line-length histograms (lengths >= 200 pooled)
               line_length_ks           the largest gap between their cumulative distributions
    novel      novel_20                 share of the sample's 20-character windows that occur
                                        nowhere in the corpus (hashed windows, see CorpusIndex)

A metric the sample gives nothing to measure (no closing bracket, no C function) is NaN. Lines
and paragraphs a sample ends inside are left out: they were cut, not written. Brackets count
everywhere (in strings and comments too), for the samples and the corpus alike: the corpus's
own value, computed by the same function on held-out text, is the yardstick.

`structure_metrics(sample, corpus, kinds)` computes the groups in `kinds`; a sample is one text
or a sequence of texts (each scored on its own, then pooled). The corpus may be a CorpusIndex
(`corpus_index(text)`), which calls on the same corpus share: the last two are also cached.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..errors import CharwiseError
from .cfunctions import parse_c_functions

KINDS = ("brackets", "quotes", "latex", "c", "lines", "novel")
WINDOW = 20  # the novel-substring window (characters)
MAX_LINE = 200  # line lengths from here on share one histogram bin
_OPEN, _CLOSE = "([{", ")]}"
_HASH_BASE = np.uint64(0x9E3779B97F4A7C15)  # odd: multiplication by it is a bijection mod 2**64

Samples = str | Sequence[str]


def _texts(sample: Samples) -> list[str]:
    return [sample] if isinstance(sample, str) else [str(s) for s in sample]


def _ratio(num: float, den: float) -> float:
    return num / den if den else math.nan


def _complete_lines(text: str) -> list[str]:
    """The lines of text that end with a newline (the last, cut one is left out)."""
    return text.split("\n")[:-1]


# -- brackets and quotes --------------------------------------------------------------------------
def bracket_metrics(sample: Samples) -> dict[str, float]:
    """brackets_matched, brackets_unopened, brackets_lines_balanced, brackets_max_depth."""
    closers = matched = unopened = 0
    depths = []
    lines_with = lines_ok = 0
    for text in _texts(sample):
        stack: list[str] = []
        deepest = 0
        for ch in text:
            if ch in _OPEN:
                stack.append(ch)
                deepest = max(deepest, len(stack))
            elif ch in _CLOSE:
                closers += 1
                if not stack:
                    unopened += 1
                elif stack.pop() == _OPEN[_CLOSE.index(ch)]:
                    matched += 1
                # a closer of another type pops what it meets, as a parser recovering would
        depths.append(deepest)
        for line in _complete_lines(text):
            if not any(c in line for c in "()[]"):
                continue
            lines_with += 1
            lines_ok += _line_balanced(line)
    return {
        "brackets_matched": _ratio(matched, closers - unopened),
        "brackets_unopened": _ratio(unopened, closers),
        "brackets_lines_balanced": _ratio(lines_ok, lines_with),
        "brackets_max_depth": float(np.mean(depths)) if depths else math.nan,
    }


def _line_balanced(line: str) -> bool:
    """( ) and [ ] each close what the line opened, in order, and nothing more."""
    stack: list[str] = []
    for ch in line:
        if ch in "([":
            stack.append(ch)
        elif ch in ")]":
            if not stack or stack.pop() != "(["[")]".index(ch)]:
                return False
    return not stack


_QUOTE_NOISE = re.compile(r"\\.|'\"'")  # an escaped character, C's character literal '"'


def quote_metrics(sample: Samples) -> dict[str, float]:
    """quotes_lines_balanced: share of complete lines with a " that have an even number."""
    with_q = ok = 0
    for text in _texts(sample):
        for line in _complete_lines(text):
            n = _QUOTE_NOISE.sub("", line).count('"')
            if n:
                with_q += 1
                ok += n % 2 == 0
    return {"quotes_lines_balanced": _ratio(ok, with_q)}


# -- LaTeX ----------------------------------------------------------------------------------------
_ENV = re.compile(r"\\(begin|end)\s*\{([^{}\n]*)\}")
_DOLLAR = re.compile(r"(?<!\\)\$")


def latex_metrics(sample: Samples) -> dict[str, float]:
    """latex_end_matched, latex_envs_per_10k, latex_math_balanced (see the module docstring)."""
    ends = matched = unopened = envs = chars = 0
    paras_with = paras_ok = 0
    for text in _texts(sample):
        chars += len(text)
        stack: list[str] = []
        for m in _ENV.finditer(text):
            envs += 1
            name = m.group(2).strip()
            if m.group(1) == "begin":
                stack.append(name)
                continue
            ends += 1
            if stack and stack[-1] == name:
                matched += 1
                stack.pop()
            elif stack:  # a wrong \end closes the innermost environment anyway
                stack.pop()
            else:
                unopened += 1
        # the last paragraph may have been cut
        for para in re.split(r"\n\s*\n", text)[:-1]:
            n = len(_DOLLAR.findall(para.replace("$$", "")))
            if n or "$$" in para:
                paras_with += 1
                paras_ok += n % 2 == 0
    return {
        "latex_end_matched": _ratio(matched, ends - unopened),
        "latex_end_unopened": _ratio(unopened, ends),
        "latex_envs_per_10k": _ratio(1e4 * envs, chars),
        "latex_math_balanced": _ratio(paras_ok, paras_with),
    }


# -- C --------------------------------------------------------------------------------------------
def c_metrics(sample: Samples, parser: str = "auto") -> dict[str, float]:
    """c_parse_rate and c_functions_per_10k (analysis.cfunctions)."""
    r = parse_c_functions(_texts(sample), parser)
    return {"c_parse_rate": r.rate, "c_functions_per_10k": _ratio(1e4 * r.functions, r.chars)}


# -- the corpus side: line lengths and hashed windows ---------------------------------------------
def _codes(text: str) -> np.ndarray:
    """(N,) uint64 code points of text."""
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)


def window_hashes(text: str, width: int = WINDOW) -> np.ndarray:
    """(N - width + 1,) uint64 polynomial hash of every width-character window of text.

    Arithmetic mod 2**64 (numpy wraps): two distinct windows share a hash with probability
    about 2**-64, so over a 10-million-window corpus a sample window is misjudged "seen" with
    probability ~1e-12.
    """
    c = _codes(text)
    n = len(c) - width + 1
    if n <= 0:
        return np.zeros(0, dtype=np.uint64)
    h = np.zeros(n, dtype=np.uint64)
    for j in range(width):
        h = h * _HASH_BASE + c[j : j + n]
    return h


def line_length_histogram(text: str, max_line: int = MAX_LINE) -> np.ndarray:
    """(max_line + 1,) counts of complete lines by length; the last bin holds >= max_line."""
    c = _codes(text)
    nl = np.flatnonzero(c == 10)
    lengths = np.diff(np.r_[-1, nl]) - 1
    return np.bincount(np.minimum(lengths, max_line), minlength=max_line + 1).astype(np.float64)


@dataclass(frozen=True)
class CorpusIndex:
    """What the metrics need of a corpus: its sorted distinct window hashes and its line-length
    histogram. 8 bytes per corpus character (80 MB for 10 MB of text)."""

    windows: np.ndarray  # (W,) sorted distinct uint64 window hashes
    width: int
    line_hist: np.ndarray  # (MAX_LINE + 1,) line counts by length
    chars: int

    def seen(self, hashes: np.ndarray) -> np.ndarray:
        """(M,) hashes -> (M,) bool: which occur in the corpus."""
        if not len(self.windows):
            return np.zeros(len(hashes), dtype=bool)
        i = np.minimum(np.searchsorted(self.windows, hashes), len(self.windows) - 1)
        return self.windows[i] == hashes


def build_corpus_index(text: str, width: int = WINDOW) -> CorpusIndex:
    """Index a corpus (about 1 s per 5 MB of text)."""
    if width < 1:
        raise CharwiseError("the novel-substring window must be at least 1 character")
    windows = np.unique(window_hashes(text, width))
    return CorpusIndex(windows, width, line_length_histogram(text), len(text))


@lru_cache(maxsize=2)
def corpus_index(text: str, width: int = WINDOW) -> CorpusIndex:
    """build_corpus_index, cached for the last two corpora (calls on one corpus share it)."""
    return build_corpus_index(text, width)


def line_metrics(sample: Samples, corpus: str | CorpusIndex) -> dict[str, float]:
    """line_length_mean, _std, _tv and _ks of the sample's complete lines against the corpus."""
    texts = _texts(sample)
    idx = corpus if isinstance(corpus, CorpusIndex) else corpus_index(corpus)
    lengths = np.array([len(x) for t in texts for x in _complete_lines(t)], dtype=np.float64)
    if not len(lengths) or not idx.line_hist.sum():
        nan = math.nan
        mean = float(lengths.mean()) if len(lengths) else nan
        std = float(lengths.std()) if len(lengths) else nan
        return {"line_length_mean": mean, "line_length_std": std, "line_length_tv": nan,
                "line_length_ks": nan}  # fmt: skip
    hist = np.bincount(np.minimum(lengths, MAX_LINE).astype(np.int64), minlength=MAX_LINE + 1)
    p, q = hist / hist.sum(), idx.line_hist / idx.line_hist.sum()
    return {
        "line_length_mean": float(lengths.mean()),
        "line_length_std": float(lengths.std()),
        "line_length_tv": float(0.5 * np.abs(p - q).sum()),
        "line_length_ks": float(np.abs(np.cumsum(p) - np.cumsum(q)).max()),
    }


def novel_rate(sample: Samples, corpus: str | CorpusIndex, width: int = WINDOW) -> float:
    """Share of the sample's width-character windows (within each text) not in the corpus;
    NaN when the sample has no window that long."""
    idx = corpus if isinstance(corpus, CorpusIndex) else corpus_index(corpus, width)
    if idx.width != width:
        raise CharwiseError(f"the corpus index holds {idx.width}-character windows, not {width}")
    total = novel = 0
    for text in _texts(sample):
        h = window_hashes(text, width)
        total += len(h)
        novel += int((~idx.seen(h)).sum())
    return _ratio(novel, total)


# -- all of them ----------------------------------------------------------------------------------
def structure_metrics(
    sample: Samples, corpus: str | CorpusIndex, kinds: tuple[str, ...] = KINDS
) -> dict[str, float]:
    """The metric groups in `kinds` (see KINDS and the module docstring) of a sample (one text
    or several) against the training text `corpus` (or its CorpusIndex): {name: value}."""
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise CharwiseError(f"unknown structure metric {bad[0]!r}; choose from {', '.join(KINDS)}")
    texts = _texts(sample)
    out: dict[str, float] = {}
    if "brackets" in kinds:
        out.update(bracket_metrics(texts))
    if "quotes" in kinds:
        out.update(quote_metrics(texts))
    if "latex" in kinds:
        out.update(latex_metrics(texts))
    if "c" in kinds:
        out.update(c_metrics(texts))
    if "lines" in kinds or "novel" in kinds:
        idx = corpus if isinstance(corpus, CorpusIndex) else corpus_index(corpus)
        if "lines" in kinds:
            out.update(line_metrics(texts, idx))
        if "novel" in kinds:
            out[f"novel_{idx.width}"] = novel_rate(texts, idx, idx.width)
    return out
