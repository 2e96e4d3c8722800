"""Beam search: on models whose distribution is known (a hand-set table over every prefix, an
n-gram counted on a tiny text) it returns the highest-scoring text found by enumerating all
of them; beam 1 is greedy and a wider beam beats it on a constructed case; the length penalty
decides between a short stopped text and a long one; RNN and n-gram runs answer it through the
same Run.generate."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from charwise.config import DataConfig
from charwise.data.vocab import Vocab
from charwise.errors import CharwiseError
from charwise.ngram import NGramConfig, train_ngram
from charwise.runs.load import load
from charwise.use.beam import beam_search, length_normalised
from charwise.use.sampling import SampleOptions, decode
from charwise.use.stopping import StopRule

VOCAB = Vocab.from_text("abc\n")  # ids in sorted order: "\n" 0, a 1, b 2, c 3


class TableDecoder:
    """A model given as a function: prefix (tuple of ids read after the first) -> (V,)
    log-probabilities of the next id. Each row keeps its prefix."""

    def __init__(self, table, n: int):
        self.table, self.rows = table, [() for _ in range(n)]
        self.started = False

    def advance(self, x: torch.Tensor) -> torch.Tensor:
        if self.started:  # the first input is the start character: not part of the prefix
            self.rows = [p + (int(c),) for p, c in zip(self.rows, x.tolist(), strict=True)]
        self.started = True
        return torch.stack([self.table(p) for p in self.rows])

    def keep(self, rows: torch.Tensor) -> None:
        self.rows = [self.rows[r] for r in rows.tolist()]


def random_table(seed: int, V: int = VOCAB.size):
    """A distribution over every prefix, fixed by the seed: nothing like a Markov chain."""

    def table(prefix: tuple[int, ...]) -> torch.Tensor:
        g = torch.Generator().manual_seed(hash((seed, prefix)) % 2**31)
        return torch.log_softmax(3 * torch.randn(V, generator=g), -1)

    return table


def logp_of(table, seq: tuple[int, ...]) -> float:
    return sum(float(table(seq[:i])[c]) for i, c in enumerate(seq))


def _beam(table, width: int, length: int, **kw) -> list[str]:
    return beam_search(TableDecoder(table, width), 0, VOCAB, width, length, **kw)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_wide_enough_beam_returns_the_most_likely_text_of_all(seed):
    # V ** (length - 1) rows keep every prefix, so the search is exhaustive: it must agree
    # with enumerating all 4 ** 5 texts.
    table, length = random_table(seed), 5
    every = itertools.product(range(VOCAB.size), repeat=length)
    best = max(every, key=lambda s: logp_of(table, s))
    got = _beam(table, VOCAB.size ** (length - 1), length)
    assert got == [VOCAB.decode(best)]


def test_beam_1_is_greedy_and_a_beam_of_2_beats_it():
    # First character: a 0.6, b 0.4. After a: every character 1/4. After b: b 0.9.
    # Greedy takes a (0.6) and ends at 0.6 * 0.25 = 0.15; the best text is bb at 0.4 * 0.9 = 0.36.
    def table(prefix):
        if not prefix:
            p = [0.0, 0.6, 0.4, 0.0]
        elif prefix[0] == 1:
            p = [0.25] * 4
        else:
            p = [0.02, 0.04, 0.9, 0.04]
        return torch.log(torch.tensor(p) + 1e-12)

    greedy, beam = _beam(table, 1, 2)[0], _beam(table, 2, 2)[0]
    assert greedy[0] == "a" and beam == "bb"
    ids = lambda s: tuple(int(i) for i in VOCAB.encode(s))  # noqa: E731
    assert logp_of(table, ids(beam)) > logp_of(table, ids(greedy)) + 0.8  # 0.36 vs 0.15


def test_the_length_penalty_chooses_between_a_short_stopped_text_and_a_long_one():
    # From the start, "\n" (which stops) and "a" are equally likely; after "a", "a" is all but
    # certain. With alpha 0 the one-character text wins (log 0.5 > log 0.5 + 4 log 0.99); a
    # length penalty of 1 prefers the long one.
    def table(prefix):
        p = [0.5, 0.5, 0.0, 0.0] if not prefix else [0.004, 0.99, 0.003, 0.003]
        return torch.log(torch.tensor(p) + 1e-12)

    stop = StopRule(at="\n")
    assert _beam(table, 3, 5, stop=stop) == [""]
    assert _beam(table, 3, 5, stop=stop, alpha=1.0) == ["aaaaa"]
    assert length_normalised(-1.0, 1, 1.0) == -1.0 and length_normalised(-2.0, 7, 1.0) == -1.0


def test_keep_returns_the_best_texts_in_order():
    table, length = random_table(7), 4
    every = itertools.product(range(VOCAB.size), repeat=length)
    ranked = sorted(every, key=lambda s: logp_of(table, s), reverse=True)
    got = _beam(table, VOCAB.size ** (length - 1), length, keep=3)
    assert got == [VOCAB.decode(s) for s in ranked[:3]]


def test_length_0_gives_empty_texts_and_a_tiny_vocabulary_fewer():
    table = random_table(5)
    assert _beam(table, 3, 0, keep=2) == ["", ""]
    assert len(_beam(table, 8, 1, keep=8)) == VOCAB.size  # only 4 one-character texts exist


def test_a_regex_stop_keeps_its_match_in_beam_search():
    def table(prefix):  # "ab" then "c" then anything: the most likely text is "abc..."
        nxt = {0: 1, 1: 2, 2: 3}.get(len(prefix), 1)
        p = torch.full((VOCAB.size,), 0.01)
        p[nxt] = 0.97
        return torch.log(p)

    assert _beam(table, 2, 6, stop=StopRule(regex="b+c")) == ["abc"]
    assert _beam(table, 2, 6, stop=StopRule(at="bc")) == ["a"]


# -- through the Run interface -------------------------------------------------------------------
NGRAM_TEXT = "abca\nbcab\ncabc\nacb\n" * 3


@pytest.fixture(scope="module")
def ngram_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("beam_ngram")
    (base / "t.txt").write_text(NGRAM_TEXT, encoding="utf-8")
    data = DataConfig(sources=(str(base / "t.txt"),), split=(1.0, 0.0, 0.0))
    train_ngram(data, NGramConfig(order=3), out=base / "run")
    return load(base / "run")


def test_an_ngram_runs_beam_returns_its_most_likely_text(ngram_run):
    run, length, prime = ngram_run, 4, "ca"
    V = run.vocab.size

    def logp(seq):
        ctx = [int(i) for i in run.vocab.encode(prime)]
        total = 0.0
        for c in seq:
            total += math.log(run.model.distribution(ctx)[c])
            ctx.append(c)
        return total

    best = max(itertools.product(range(V), repeat=length), key=logp)
    opts = SampleOptions(length=length, prime=prime, beam=V ** (length - 1))
    assert run.generate(opts) == [run.vocab.decode(best)]
    # The Python API's shortcut takes the same options.
    assert run.sample(length=length, prime=prime, beam=V ** (length - 1)) == run.vocab.decode(best)


def test_an_rnn_runs_beam_continues_what_it_memorised(overfit_run):
    run_dir, text = overfit_run
    run = load(run_dir)
    got = run.generate(SampleOptions(prime="the c", length=20, beam=3))
    assert got == [text[5:25]]
    # Beam 1 is greedy: the same text as --argmax, on a longer stretch too.
    greedy = run.generate(SampleOptions(prime="t", length=29, argmax=True))
    assert run.generate(SampleOptions(prime="t", length=29, beam=1)) == greedy


def test_beam_scores_at_least_as_high_as_samples(overfit_run):
    # The RNN's own loss over each text: beam's text is more likely than any sample's.
    run = load(overfit_run[0])
    prime = "the"

    def nats(text):
        total, n = run.loss_over_ids(run.vocab.encode(prime + text))
        return total

    beam = run.generate(SampleOptions(prime=prime, length=30, beam=4))[0]
    samples = run.generate(SampleOptions(prime=prime, length=30, num_samples=8, seed=0))
    assert all(nats(beam) <= nats(s) + 1e-4 for s in samples)


def test_beam_search_streams_its_texts_once_at_the_end(ngram_run):
    got = []
    texts = ngram_run.generate(
        SampleOptions(length=6, beam=4, num_samples=2), lambda s, piece: got.append((s, piece))
    )
    assert got == list(enumerate(texts)) and len(texts) == 2


def test_decode_is_the_one_path_for_a_new_kind():
    # Any object with advance/keep is a model for sampling and beam search alike.
    table = random_table(3)
    best = _beam(table, 64, 4)
    got = decode(lambda ids, n: TableDecoder(table, n), VOCAB, SampleOptions(length=4, beam=64))
    assert got == best
    sampled = decode(lambda ids, n: TableDecoder(table, n), VOCAB, SampleOptions(length=4, seed=1))
    assert len(sampled[0]) == 4


@pytest.mark.parametrize(
    "kw, msg",
    [
        ({"beam": 0}, "^beam must be at least 1"),
        ({"beam": 2, "argmax": True}, "^beam cannot be given with argmax"),
        ({"beam": 2, "num_samples": 3}, "^num_samples can be at most beam"),
        ({"length_penalty": -1.0}, "^length_penalty must not be negative"),
    ],
)
def test_bad_beam_options_are_clear_errors(kw, msg):
    with pytest.raises(CharwiseError, match=msg):
        SampleOptions(**kw)
