"""Structure metrics of samples (analysis.structure, analysis.cfunctions) on small texts."""

from __future__ import annotations

import math
import random
import shutil

import numpy as np
import pytest

from charwise.analysis.cfunctions import (
    available_parser,
    c_functions,
    fake_typedefs,
    parse_c_functions,
    prepared,
)
from charwise.analysis.structure import (
    KINDS,
    bracket_metrics,
    build_corpus_index,
    latex_metrics,
    line_metrics,
    novel_rate,
    quote_metrics,
    structure_metrics,
    window_hashes,
)
from charwise.errors import CharwiseError

C_TEXT = """#include <linux/foo.h>
#define MAX(a, b) ((a) > (b) ? (a) : (b))

struct point {
\tint x, y;
};

/* a comment with { braces } */
static int __init add(struct point *p, u32 n)
{
\tconst char *s = "}{";
\tif (n) {
\t\treturn p->x + n;
\t}
\treturn 0;
}

static void walk(struct list_head *head)
{
\tstruct item *it;

\tlist_for_each_entry(it, head, node) {
\t\tkfree(it);
\t}
}
"""


# -- brackets and quotes --------------------------------------------------------------------------
def test_brackets_count_type_agreement_over_any_distance():
    m = bracket_metrics("f(a[1]) {\n  g();\n}\n")
    assert m["brackets_matched"] == 1.0 and m["brackets_unopened"] == 0.0
    assert m["brackets_max_depth"] == 2.0
    assert m["brackets_lines_balanced"] == 1.0  # "}" alone has no ( ) [ ]: not counted
    bad = bracket_metrics("{ ( ] }\n")  # ] meets (: wrong; } then meets {: right
    assert bad["brackets_matched"] == 0.5
    assert bad["brackets_lines_balanced"] == 0.0


def test_closers_with_nothing_open_are_counted_apart():
    m = bracket_metrics(") ) (x)\n")
    assert m["brackets_unopened"] == pytest.approx(2 / 3)
    assert m["brackets_matched"] == 1.0  # of the closers that met an open bracket


def test_several_samples_are_scored_each_then_pooled():
    # Joined, the second sample's ) would close the first one's (.
    m = bracket_metrics(["(((\n", ")))\n"])
    assert m["brackets_unopened"] == 1.0
    assert m["brackets_max_depth"] == 1.5  # mean of 3 and 0
    assert math.isnan(bracket_metrics("no brackets\n")["brackets_matched"])


def test_shuffling_a_text_breaks_its_brackets():
    rng = random.Random(0)
    text = "".join(rng.choice(["(a[b]c)", "{x(y)}", "[z]"]) + "\n" for _ in range(300))
    chars = list(text)
    rng.shuffle(chars)
    assert bracket_metrics(text)["brackets_matched"] == 1.0
    assert bracket_metrics("".join(chars))["brackets_matched"] < 0.6


def test_quotes_balance_per_line_escapes_and_char_literals_aside():
    m = quote_metrics('a = "x";\nb = "y;\nc = "q\\"r";\nd = \'"\';\nno quote\n')
    assert m["quotes_lines_balanced"] == pytest.approx(2 / 3)  # lines 1 and 3 of 1, 2, 3
    # the last line is cut (no newline): left out
    assert math.isnan(quote_metrics('cut "here')["quotes_lines_balanced"])


# -- LaTeX ----------------------------------------------------------------------------------------
def test_latex_environments_pair_by_name():
    ok = "\\begin{proof}\n\\begin{enumerate}\n\\item x\n\\end{enumerate}\n\\end{proof}\n"
    m = latex_metrics(ok)
    assert m["latex_end_matched"] == 1.0 and m["latex_end_unopened"] == 0.0
    assert m["latex_envs_per_10k"] == pytest.approx(4e4 / len(ok))
    bad = latex_metrics("\\begin{lemma}\n\\end{proof}\n\\end{lemma}\n")
    assert bad["latex_end_matched"] == 0.0  # proof closes lemma; then lemma has nothing open
    assert bad["latex_end_unopened"] == 0.5


def test_latex_math_balances_per_complete_paragraph():
    text = "Let $x$ be $y$.\n\nThen $z is.\n\nAnd \\$5 costs $$a$$.\n\ncut $"
    m = latex_metrics(text)
    assert m["latex_math_balanced"] == pytest.approx(2 / 3)  # the last paragraph was cut


# -- C --------------------------------------------------------------------------------------------
def test_c_functions_cut_out_complete_top_level_definitions():
    fs = c_functions(C_TEXT)
    assert len(fs) == 2  # not the struct, the macro or the comment
    assert fs[0].startswith("static int __init add(") and fs[0].endswith("}")
    assert '"}{"' in fs[0]  # the string literal's braces did not end it
    assert fs[1].startswith("static void walk(")
    # cut inside the second function: only the first one is complete
    assert len(c_functions(C_TEXT[: C_TEXT.index("kfree")])) == 1


def test_a_text_begun_inside_a_function_yields_no_statement_blocks():
    inner = "\t\treturn 1;\n\t}\n\tif (x) {\n\t\ty();\n\t}\n}\n\nint f(void)\n{\n\treturn 0;\n}\n"
    assert c_functions(inner) == ["int f(void)\n{\n\treturn 0;\n}"]


def test_fake_typedefs_declare_types_not_products():
    body = "int f(u32 a, foo_t b)\n{\n\tmy_type *p;\n\tstruct page *page;\n\treturn a * b;\n}"
    assert fake_typedefs(body) == ["foo_t", "my_type", "u32"]
    assert "typedef int u32;" in prepared(body)
    assert "__init" not in prepared("static int __init f(void) { return 0; }")


@pytest.mark.skipif(available_parser("pycparser") == "none", reason="pycparser not installed")
def test_pycparser_parses_kernel_style_functions_and_rejects_broken_ones():
    r = parse_c_functions(C_TEXT, parser="pycparser")
    assert (r.functions, r.parsed, r.parser) == (2, 2, "pycparser")
    broken = "int f(int x)\n{\n\treturn (x + ;\n}\n\nint g(void)\n{\n\treturn 1;\n}\n"
    r = parse_c_functions(broken, parser="pycparser")
    assert (r.functions, r.parsed) == (2, 1) and r.rate == 0.5


@pytest.mark.skipif(shutil.which("gcc") is None, reason="no gcc")
def test_gcc_counts_only_syntax_errors():
    # `undeclared` is a semantic error gcc reports; only syntax counts
    text = "int f(int x)\n{\n\treturn undeclared + x;\n}\n\nint g(void)\n{\n\treturn (1;\n}\n"
    r = parse_c_functions(text, parser="gcc")
    assert (r.functions, r.parsed, r.parser) == (2, 1, "gcc")


def test_no_function_or_no_parser_gives_nan(monkeypatch):
    assert math.isnan(parse_c_functions("just prose.\n").rate)
    monkeypatch.setattr("charwise.analysis.cfunctions.available_parser", lambda p: "none")
    r = parse_c_functions(C_TEXT)
    assert r.functions == 2 and r.parser == "none" and math.isnan(r.rate)


# -- lines and novel windows ----------------------------------------------------------------------
def test_line_lengths_against_the_corpus():
    corpus = "ab\nabcd\n" * 50
    same = line_metrics("abcd\nab\n", corpus)
    assert same["line_length_tv"] == 0.0 and same["line_length_ks"] == 0.0
    assert same["line_length_mean"] == 3.0 and same["line_length_std"] == 1.0
    other = line_metrics("abcdefgh\nabcdefgh\nab\nunfinished line", corpus)
    assert other["line_length_mean"] == 6.0  # the cut last line left out
    assert other["line_length_tv"] == pytest.approx(2 / 3)
    assert other["line_length_ks"] == pytest.approx(1 - 1 / 3)  # CDFs at length 4: 1/3 vs 1


def test_window_hashes_equal_exactly_for_equal_windows():
    h = window_hashes("abcabcabx", 3)
    assert len(h) == 7 and h[0] == h[3] and h[1] == h[4] and h[5] != h[0]
    assert len(window_hashes("ab", 3)) == 0


def test_novel_rate_counts_windows_missing_from_the_corpus():
    rng = random.Random(1)
    corpus = "".join(rng.choice("abcdefgh \n") for _ in range(5000))
    assert novel_rate(corpus[1000:1400], corpus) == 0.0
    fresh = "".join(rng.choice("abcdefgh \n") for _ in range(400))
    assert novel_rate(fresh, corpus) == 1.0  # 20 random characters never repeat by chance
    # each sample on its own: the window across the two pieces is not a sample's
    assert novel_rate([corpus[:30], corpus[100:130]], corpus) == 0.0
    assert math.isnan(novel_rate("short", corpus))
    half = corpus[2000:2100] + fresh[:100]
    assert 0.4 < novel_rate(half, corpus) < 0.7


def test_novel_rate_handles_characters_beyond_ascii():
    corpus = "naïve café — ünïcödé text, " * 10
    assert novel_rate("naïve café — ünïcödé", corpus) == 0.0
    assert novel_rate("naive cafe -- unicode", corpus) == 1.0


# -- all of them ----------------------------------------------------------------------------------
def test_structure_metrics_computes_the_kinds_asked_for():
    corpus = C_TEXT * 3
    all_ = structure_metrics(C_TEXT, corpus)
    for key in ("brackets_matched", "quotes_lines_balanced", "latex_end_matched",
                "c_parse_rate", "line_length_tv", "novel_20"):  # fmt: skip
        assert key in all_
    assert all_["novel_20"] == 0.0 and all_["brackets_matched"] == 1.0
    assert math.isnan(all_["latex_end_matched"])  # nothing to measure in C
    only = structure_metrics(C_TEXT, corpus, kinds=("brackets", "novel"))
    assert set(only) == {k for k in all_ if k.startswith(("brackets", "novel"))}
    idx = build_corpus_index(corpus)
    assert structure_metrics(C_TEXT, idx, kinds=("lines",)) == structure_metrics(
        C_TEXT, corpus, kinds=("lines",)
    )
    assert all(isinstance(v, float) for v in all_.values())
    assert set(KINDS) == {"brackets", "quotes", "latex", "c", "lines", "novel"}


def test_unknown_kind_is_a_clear_error():
    with pytest.raises(CharwiseError, match="unknown structure metric 'parens'"):
        structure_metrics("x", "y", kinds=("parens",))


def test_an_empty_sample_gives_nan_not_an_error():
    m = structure_metrics("", "some corpus\n")
    assert all(math.isnan(v) or v == 0.0 for v in m.values())
    assert np.isnan(m["novel_20"])
