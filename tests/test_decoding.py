"""Decoding options besides beam search: the temperature schedule, the regex stop, --prime-file
(and the prime kept out of --novel), on the library, the command line and the notes it prints."""

from __future__ import annotations

import pytest

from charwise.cli import main
from charwise.config import DataConfig
from charwise.errors import CharwiseError
from charwise.ngram import NGramConfig, train_ngram
from charwise.runs.load import load
from charwise.use import sampling
from charwise.use.sampling import SampleOptions, generate


@pytest.fixture(scope="module")
def trained(overfit_run):
    run_dir, text = overfit_run
    return load(run_dir), text


def _one_error_line(capsys) -> str:
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("charwise: error: "), err
    return lines[0]


# -- temperature schedule -------------------------------------------------------------------------
def test_the_schedule_moves_linearly_from_temperature_to_temperature_end(trained, monkeypatch):
    run, _ = trained
    seen = []
    real = sampling.filter_logits

    def spy(logits, temperature, top_k, top_p):
        seen.append(temperature)
        return real(logits, temperature, top_k, top_p)

    monkeypatch.setattr(sampling, "filter_logits", spy)
    opts = SampleOptions(length=5, temperature=0.5, temperature_end=1.5, seed=0)
    generate(run.model, run.vocab, opts)
    assert seen == pytest.approx([0.5, 0.75, 1.0, 1.25, 1.5])
    seen.clear()
    generate(run.model, run.vocab, SampleOptions(length=3, temperature=0.7, seed=0))
    assert seen == pytest.approx([0.7] * 3)  # no schedule: one temperature throughout


def test_a_cold_start_follows_the_memorised_text_and_a_hot_end_leaves_it(trained):
    run, text = trained
    for seed in range(4):
        opts = SampleOptions(prime="t", length=29, temperature=0.01, temperature_end=100, seed=seed)
        out = generate(run.model, run.vocab, opts)[0]
        assert out[0] == text[1]  # near-argmax at first
        assert out[-10:] != text[-10:]  # near-uniform at the end


def test_temperature_end_needs_a_finite_start():
    with pytest.raises(CharwiseError, match="^temperature_end needs a finite temperature"):
        SampleOptions(temperature=float("inf"), temperature_end=1.0)
    with pytest.raises(CharwiseError, match="^temperature_end must be positive"):
        SampleOptions(temperature_end=0.0)


# -- regex stop -----------------------------------------------------------------------------------
def test_stop_regex_ends_after_the_first_match_and_keeps_it(trained):
    run, text = trained
    streamed = []
    opts = SampleOptions(prime="the cat", length=25, argmax=True, stop_regex=r"d.g")
    out = generate(run.model, run.vocab, opts, on_text=lambda s, p: streamed.append(p))
    assert out == [" sat; the dog"]
    assert "".join(streamed) == out[0]  # what was streamed is what was returned
    # The pattern sees the text generated so far (not the prime, as with stop_at).
    opts = SampleOptions(prime="t", length=40, argmax=True, stop_regex=r"\bthe\b")
    assert generate(run.model, run.vocab, opts) == ["he cat sat; the"]
    # No match: the full length, as with stop_at.
    opts = SampleOptions(prime="the", length=10, argmax=True, stop_regex="[0-9]")
    assert generate(run.model, run.vocab, opts) == [text[3:13]]


def test_stop_regex_ends_an_ngram_run_the_same_way(tmp_path):
    (tmp_path / "t.txt").write_text("one two three four\n" * 5, encoding="utf-8")
    data = DataConfig(sources=(str(tmp_path / "t.txt"),), split=(1.0, 0.0, 0.0))
    train_ngram(data, NGramConfig(order=4), out=tmp_path / "run")
    run = load(tmp_path / "run")
    out = run.sample(length=30, prime="one ", argmax=True, stop_regex=r"tw|thr?ee?")
    # The first text that matches ends it: "two" never gets its "o", "three" its last "e".
    assert out == "tw"
    out = run.sample(length=30, prime="one ", argmax=True, stop_regex=r"thr?ee?")
    assert out == "two thre"


@pytest.mark.parametrize(
    "kw, msg",
    [
        ({"stop_regex": "[a-"}, "^stop_regex is not a valid regular expression: unterminated"),
        ({"stop_regex": ""}, "^stop_regex must not be empty"),
        ({"stop_regex": "a", "stop_at": "b"}, "^stop_regex cannot be given with stop_at"),
    ],
)
def test_bad_stop_regex_is_a_clear_error(kw, msg):
    with pytest.raises(CharwiseError, match=msg):
        SampleOptions(**kw)


# -- the command line ----------------------------------------------------------------------------
def test_cli_schedule_regex_and_beam(overfit_run, capsys):
    run_dir, text = overfit_run
    base = ["sample", str(run_dir), "--prime", "the c", "--length", "20"]
    assert main([*base, "--stop-regex", r"d\wg", "--argmax"]) == 0
    assert capsys.readouterr().out == "the cat sat; the dog\n"
    assert main([*base, "--beam", "3"]) == 0
    cap = capsys.readouterr()
    assert cap.out == text[:25] + "\n" and cap.err == ""
    assert main([*base, "--beam", "3", "--num-samples", "2"]) == 0
    parts = capsys.readouterr().out.rstrip("\n").split("\n---\n")
    assert parts[0] == text[:25] and len(parts) == 2 and parts[1] != parts[0]
    assert main([*base, "-t", "0.5", "--temperature-end", "2", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("the c") and len(out) == 26


def test_cli_notes_options_a_decoding_mode_ignores(overfit_run, capsys):
    run_dir, _ = overfit_run
    base = ["sample", str(run_dir), "--length", "5"]
    assert main([*base, "--beam", "2", "-t", "0.5", "--temperature-end", "2"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("charwise: note: --beam") and "--temperature, --temperature-end" in err
    assert main([*base, "--length-penalty", "1", "--seed", "0"]) == 0
    assert "--length-penalty change nothing" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--stop-regex", "(a"], "--stop-regex is not a valid regular expression: missing )"),
        (["--stop-regex", "a", "--stop-at", "b"], "--stop-regex cannot be given with --stop-at"),
        (["--beam", "2", "--argmax"], "--beam cannot be given with --argmax"),
        (["--beam", "2", "-m", "3"], "--num-samples can be at most --beam"),
        (["--temperature-end", "-1"], "--temperature-end must be positive"),
    ],
)
def test_cli_decoding_errors_are_one_line(overfit_run, capsys, extra, message):
    assert main(["sample", str(overfit_run[0]), *extra]) == 2
    assert message in _one_error_line(capsys)


def test_help_describes_the_decoding_options(overfit_run, capsys):
    with pytest.raises(SystemExit):
        main(["sample", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for text in (
        "--beam N beam search: keep N candidate texts",
        "--length-penalty ALPHA beam search ranks texts by log-prob",
        "--stop-regex REGEX end a stream after the first match of this regular expression",
        "--temperature-end T the last character's temperature",
        "--prime-file FILE read the prime from this UTF-8 text file",
    ):
        assert text in out, text


# -- --prime-file ---------------------------------------------------------------------------------
def test_prime_file_is_the_prime_exactly(overfit_run, tmp_path, capsys):
    run_dir, text = overfit_run
    f = tmp_path / "prime.txt"
    f.write_bytes(b"the dog ran far.\r\nthe c")  # read as written: \r\n is not translated
    assert main(["sample", str(run_dir), "--prime-file", str(f)]) == 2
    assert "'\\r'" in _one_error_line(capsys)  # \r is not in the vocabulary
    f.write_text("the dog ran far.\nthe c", encoding="utf-8")
    assert main(["sample", str(run_dir), "--prime-file", str(f), "-n", "8", "--argmax"]) == 0
    assert capsys.readouterr().out == "the dog ran far.\nthe cat sat; \n"
    assert main(["sample", str(run_dir), "--prime", "the dog ran far.\\nthe c", "-n", "8",
                 "--argmax"]) == 0  # fmt: skip
    assert capsys.readouterr().out == "the dog ran far.\nthe cat sat; \n"


def test_prime_file_errors_are_one_line(overfit_run, tmp_path, capsys):
    run = ["sample", str(overfit_run[0])]
    cases = [
        (tmp_path / "none.txt", None, "no such prime file"),
        (tmp_path / "latin1.txt", "caf\xe9".encode("latin-1"), "is not valid UTF-8 (byte 3)"),
        (tmp_path / "empty.txt", b"", "is empty: --prime-file needs text"),
        (tmp_path / "greek.txt", "the Ωcat".encode(), "vocabulary: 'Ω'"),
    ]
    for path, body, message in cases:
        if body is not None:
            path.write_bytes(body)
        assert main([*run, "--prime-file", str(path)]) == 2
        line = _one_error_line(capsys)
        assert message in line and (body is None or str(path) in line or "empty" in line), line
    (tmp_path / "ok.txt").write_text("the", encoding="utf-8")
    assert main([*run, "--prime-file", str(tmp_path / "ok.txt"), "--prime", "a"]) == 2
    assert "--prime-file cannot be given with --prime" in _one_error_line(capsys)


def test_novel_leaves_the_primes_own_lines_out(overfit_run, tmp_path, capsys):
    # "the dog ran far." is not a line of the training text, so it would count as novel if the
    # prime's lines were taken for the model's. The model then finishes "the c" into the one
    # line it memorised, which is not novel: nothing is printed.
    run_dir, _ = overfit_run
    f = tmp_path / "prime.txt"
    f.write_text("the dog ran far.\nthe c", encoding="utf-8")
    args = ["sample", str(run_dir), "--novel", "--argmax", "--prime-file", str(f), "-n", "25"]
    assert main(args) == 0
    cap = capsys.readouterr()
    assert cap.out == "" and "no novel lines" in cap.err
    # The line the prime leaves open is the model's to finish, and is checked whole: primed
    # with "the dog", greedy decoding writes " ran far.", then the memorised line. The prime's
    # own "the dog ran far." is not printed; the model's is, once.
    f.write_text("the dog ran far.\nthe dog", encoding="utf-8")
    assert main([*args[:-2], "-n", "40"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "the dog ran far." and lines.count("the dog ran far.") == 1


def test_beam_search_through_the_cli_on_an_ngram_run(tmp_path, capsys):
    (tmp_path / "t.txt").write_text("ab ab abc\n" * 20, encoding="utf-8")
    assert main(["ngram", str(tmp_path / "t.txt"), "--order", "3", "--out",
                 str(tmp_path / "run")]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["sample", str(tmp_path / "run"), "--beam", "4", "--prime", "a", "-n", "8"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("a") and len(out) == 10
