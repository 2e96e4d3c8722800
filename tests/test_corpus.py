"""Corpus: file resolution, streaming encode, the on-disk cache, splits, built-in corpora."""

from __future__ import annotations

import numpy as np
import pytest

import charwise
from charwise.config import DataConfig
from charwise.data import corpus as corpus_mod
from charwise.data.corpora import CORPORA, corpus_files
from charwise.data.corpus import load_corpus, resolve_files, split_ids
from charwise.data.vocab import Vocab
from charwise.errors import CharwiseError
from conftest import tiny_config


def _load(paths, cache, **kw):
    return load_corpus(DataConfig(sources=tuple(str(p) for p in paths), **kw), cache_dir=cache)


@pytest.mark.parametrize(
    "fractions, sizes",
    [
        ((0.9, 0.05, 0.05), (900, 50, 50)),
        ((0.8, 0.15, 0.05), (800, 150, 50)),
        ((1.0, 0.0, 0.0), (1000, 0, 0)),
    ],
)
def test_split_sizes_are_contiguous(fractions, sizes):
    ids = np.arange(1000)
    s = split_ids(ids, fractions)
    assert (len(s.train), len(s.val), len(s.test)) == sizes
    assert np.array_equal(np.concatenate([s.train, s.val, s.test]), ids)


def test_split_rows_spreads_val_and_test_through_the_text_as_char_rnn_does():
    # char-rnn's loader: 4 rows of 250; each row's first 80% trains, the next 10% validates.
    s = split_ids(np.arange(1003), (0.8, 0.1, 0.1), rows=4)
    assert (len(s.train), len(s.val), len(s.test)) == (800, 100, 100)
    assert np.array_equal(s.val[:25], np.arange(200, 225))
    assert np.array_equal(s.val[25:50], np.arange(450, 475))
    assert np.array_equal(s.test[-25:], np.arange(975, 1000))  # the 3 left over are not used
    assert not set(s.train) & (set(s.val) | set(s.test))
    with pytest.raises(CharwiseError, match="split_rows 400 leaves rows of 2 characters"):
        split_ids(np.arange(1000), (0.8, 0.1, 0.1), rows=400)


def test_a_run_scores_its_own_row_split(tmp_path):
    from charwise.training.lifecycle import train

    text = tmp_path / "t.txt"
    text.write_text("".join(chr(97 + i % 26) for i in range(2000)))
    cfg = tiny_config([text], data={"split": (0.8, 0.1, 0.1), "split_rows": 5}, max_steps=1)
    train(cfg, tmp_path / "run")
    run = charwise.load(tmp_path / "run")
    assert run.data.split_rows == 5
    whole = load_corpus(run.data).ids
    assert np.array_equal(run.split("test"), split_ids(whole, run.data.split, 5).test)
    assert len(run.split("test")) == 200


def test_default_split_is_90_5_5():
    assert DataConfig(sources=("x",)).split == (0.9, 0.05, 0.05)


@pytest.mark.parametrize(
    "split, msg",
    [
        ((0.5, 0.2, 0.2), "add up to 1"),
        ((0.0, 0.5, 0.5), "positive"),
        ((1.2, -0.1, -0.1), "negative"),
        ((0.5, 0.5), "split needs 3 numbers"),
    ],
)
def test_bad_split_is_rejected(split, msg):
    with pytest.raises(CharwiseError, match=msg):
        DataConfig(sources=("x",), split=split)


def test_directory_with_glob(tmp_path):
    d = tmp_path / "src"
    (d / "sub").mkdir(parents=True)
    (d / ".hidden").mkdir()
    (d / "a.txt").write_text("alpha\n", encoding="utf-8")
    (d / "b.md").write_text("not me\n", encoding="utf-8")
    (d / "sub" / "c.txt").write_text("gamma ü\n", encoding="utf-8")
    (d / ".hidden" / "d.txt").write_text("hidden\n", encoding="utf-8")
    files = resolve_files([str(d)], "*.txt")
    assert [f.relative_to(d).as_posix() for f in files] == ["a.txt", "sub/c.txt"]
    c = load_corpus(DataConfig(sources=(str(d),), glob="*.txt"), cache_dir=tmp_path / "cache")
    assert c.vocab.decode(c.ids) == "alpha\ngamma ü\n"
    with pytest.raises(CharwiseError, match="no files matching"):
        resolve_files([str(d)], "*.rst")


def test_several_files_are_concatenated_in_order(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("first ", encoding="utf-8")
    b.write_text("second", encoding="utf-8")
    c = _load([b, a], tmp_path / "cache")
    assert c.vocab.decode(c.ids) == "secondfirst "


def test_second_load_hits_the_memory_mapped_cache(tmp_path, small_text, monkeypatch):
    cache = tmp_path / "cache"
    first = _load([small_text], cache)
    assert isinstance(first.ids, np.memmap)

    def no_encoding(*a, **k):
        raise AssertionError("the cache was not used")

    monkeypatch.setattr(corpus_mod, "encode_files", no_encoding)
    monkeypatch.setattr(corpus_mod, "count_symbols", no_encoding)
    second = _load([small_text], cache)
    assert isinstance(second.ids, np.memmap)
    assert np.array_equal(second.ids, first.ids)
    assert second.vocab == first.vocab
    # A different option is a different cache entry (so it is encoded again).
    with pytest.raises(AssertionError, match="cache was not used"):
        _load([small_text], cache, max_vocab=5)
    # Changed content is a different entry too.
    small_text.write_text(small_text.read_text(encoding="utf-8") + "x", encoding="utf-8")
    with pytest.raises(AssertionError, match="cache was not used"):
        _load([small_text], cache)


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7])
def test_streaming_encode_across_chunk_boundaries(tmp_path, monkeypatch, chunk):
    # 2-, 3- and 4-byte characters straddle every chunk boundary for some chunk size.
    text = "aé日😀b" * 7 + "\nЖжß — end 🎉"
    f = tmp_path / "t.txt"
    f.write_text(text, encoding="utf-8")
    monkeypatch.setattr(corpus_mod, "CHUNK_BYTES", chunk)
    c = _load([f], tmp_path / "cache")
    whole = Vocab.from_text(text)
    assert c.vocab == whole
    assert np.array_equal(np.asarray(c.ids), whole.encode(text))


def test_streaming_encode_bytes_mode(tmp_path, monkeypatch):
    raw = "héllo".encode() + b"\xff\x00 tail"
    f = tmp_path / "b.bin"
    f.write_bytes(raw)
    monkeypatch.setattr(corpus_mod, "CHUNK_BYTES", 3)
    c = _load([f], tmp_path / "cache", bytes_mode=True)
    assert c.vocab.bytes_mode
    assert bytes(c.vocab.symbols[i] for i in c.ids) == raw


def test_max_vocab_through_load_corpus(tmp_path):
    f = tmp_path / "t.txt"
    f.write_text("aaaa bbbb cc d", encoding="utf-8")
    c = _load([f], tmp_path / "cache", max_vocab=3)
    assert c.vocab.has_unk and c.vocab.size == 3
    assert c.vocab.decode(c.ids) == "aaaa\ufffdbbbb\ufffd\ufffd\ufffd\ufffd\ufffd"


def test_fixed_vocabulary_drops_and_counts_unknown_characters(tmp_path):
    f = tmp_path / "t.txt"
    f.write_text("abΩcaΩb", encoding="utf-8")
    c = load_corpus(
        DataConfig(sources=(str(f),)), vocab=Vocab.from_text("abc"), cache_dir=tmp_path / "cache"
    )
    assert c.unknown == 2 and "'Ω'" in c.unknown_chars
    assert c.vocab.decode(c.ids) == "abcab"


def test_input_errors_are_clear(tmp_path):
    with pytest.raises(CharwiseError, match="no such file or directory: .*missing.txt"):
        _load([tmp_path / "missing.txt"], tmp_path / "cache")
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(CharwiseError, match="file is empty"):
        _load([empty], tmp_path / "cache")
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"ok then " + "café".encode("latin-1"))
    with pytest.raises(CharwiseError, match=r"not valid UTF-8 \(byte 11\).*with bytes_mode"):
        _load([bad], tmp_path / "cache")
    # ... and --bytes reads it.
    c = _load([bad], tmp_path / "cache", bytes_mode=True)
    assert len(c.ids) == bad.stat().st_size


@pytest.mark.parametrize("chunk", [1, 3, 4, 8 << 20])
def test_undecodable_byte_position_is_exact_whatever_the_chunking(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(corpus_mod, "CHUNK_BYTES", chunk)
    bad = tmp_path / "bad.txt"
    bad.write_bytes("ü ok".encode() + b"\xe9\x41 more text")  # 0xe9 at byte 5 starts nothing valid
    with pytest.raises(CharwiseError, match=r"\(byte 5\)"):
        _load([bad], tmp_path / "cache")


def test_names_corpus_loads_offline(tmp_path):
    (f,) = corpus_files("names", tmp_path)
    lines = f.read_text(encoding="utf-8").splitlines()
    assert len(lines) > 4000
    assert all(line and line[0].isupper() for line in lines)
    assert len(set(lines)) == len(lines)
    c = load_corpus(DataConfig(corpus="names"), cache_dir=tmp_path)
    assert c.vocab.decode(c.ids[:200]).count("\n") > 10


def test_python_corpus_resolves_stdlib_files():
    files = corpus_files("python")
    assert len(files) > 100
    assert all(f.suffix == ".py" and f.is_file() for f in files[:50])
    assert not any("test" in f.parts or "site-packages" in f.parts for f in files)


def test_unknown_corpus_is_named():
    assert {"names", "python"} <= set(CORPORA)
    with pytest.raises(CharwiseError, match="unknown corpus 'nope'.*names"):
        corpus_files("nope")


def test_empty_files_found_in_a_directory_are_skipped(tmp_path):
    # A Python package: its empty __init__.py must not abort training on the folder.
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_bytes(b"")
    (pkg / "mod.py").write_text("x = 1\n", encoding="utf-8")
    assert [f.name for f in resolve_files([str(pkg)])] == ["mod.py"]
    c = _load([pkg], tmp_path / "cache")
    assert c.vocab.decode(c.ids) == "x = 1\n"
    # A file named explicitly, or a folder of nothing but empty files, is still an error.
    with pytest.raises(CharwiseError, match="file is empty: .*__init__.py"):
        resolve_files([str(pkg / "__init__.py")])
    (pkg / "mod.py").write_bytes(b"")
    with pytest.raises(CharwiseError, match="every file matching '\\*' in directory .* is empty"):
        resolve_files([str(pkg)])


def test_python_corpus_keeps_reading_its_empty_files(tmp_path):
    # The built-in corpus lists its files itself (empty __init__.py files included) and the
    # encoder reads an empty file as no text, so skipping in resolve_files does not touch it.
    assert any(f.stat().st_size == 0 for f in corpus_files("python"))
    empty, full = tmp_path / "e.py", tmp_path / "f.py"
    empty.write_bytes(b"")
    full.write_text("ab", encoding="utf-8")
    assert corpus_mod.count_symbols([empty, full], False).sum() == 2


def test_text_hash_depends_on_the_text_only(tmp_path, small_text):
    a = _load([small_text], tmp_path / "cache")
    b = load_corpus(
        DataConfig(sources=(str(small_text),)), vocab=a.vocab, cache_dir=tmp_path / "cache"
    )
    assert a.text_hash and a.text_hash == b.text_hash  # the vocabulary given does not matter
    with pytest.raises(corpus_mod.TextChangedError):
        load_corpus(
            DataConfig(sources=(str(small_text),)), cache_dir=tmp_path / "c2", expect_hash="0" * 32
        )
    assert not (tmp_path / "c2").exists()  # refused before anything was encoded
    small_text.write_text(small_text.read_text(encoding="utf-8") + "more", encoding="utf-8")
    assert _load([small_text], tmp_path / "cache").text_hash != a.text_hash
