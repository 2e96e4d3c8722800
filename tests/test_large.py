"""Large corpora: the streamed encoder equals a whole-file encode, memory-mapped batches equal
in-memory batches, peak memory while encoding does not grow with the corpus, and --max-vocab maps
rare characters to <unk>."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from charwise.cli import main as cli_main
from charwise.config import DataConfig
from charwise.data import corpus as corpus_mod
from charwise.data.batches import StreamBatcher
from charwise.data.corpus import load_corpus, split_ids
from charwise.data.vocab import Vocab

MIXED = "naïve café — 日本語 😀 «ok» (x) [y]\n" * 40 + "rare: ☃ ✓ ∑\n"


@pytest.fixture
def texts(tmp_path):
    a = tmp_path / "a.txt"
    b = tmp_path / "b.txt"
    a.write_text(MIXED, encoding="utf-8")
    b.write_text("second file ünïcode 😀\n" * 30, encoding="utf-8")
    return [a, b]


@pytest.mark.parametrize("chunk", [1, 3, 7, 4096])
def test_streamed_encode_equals_whole_file_encode(texts, tmp_path, monkeypatch, chunk):
    # Chunks of 1, 3 and 7 bytes split every multi-byte UTF-8 character (2, 3 and 4 bytes long)
    # across reads; the incremental decoder must stitch them back.
    monkeypatch.setattr(corpus_mod, "CHUNK_BYTES", chunk)
    c = load_corpus(DataConfig(sources=tuple(map(str, texts))), cache_dir=tmp_path / f"c{chunk}")
    whole = "".join(t.read_text(encoding="utf-8") for t in texts)
    expected = Vocab.from_text(whole)
    assert c.vocab == expected
    np.testing.assert_array_equal(np.asarray(c.ids), expected.encode(whole))
    assert isinstance(c.ids, np.memmap)  # training reads it from disk, not from RAM


@pytest.mark.parametrize("chunk", [5, 4096])
def test_streamed_encode_bytes_mode(texts, tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(corpus_mod, "CHUNK_BYTES", chunk)
    c = load_corpus(
        DataConfig(sources=tuple(map(str, texts)), bytes_mode=True),
        cache_dir=tmp_path / f"b{chunk}",
    )
    raw = b"".join(t.read_bytes() for t in texts)
    assert c.vocab.bytes_mode and c.vocab.symbols == tuple(sorted(set(raw)))
    np.testing.assert_array_equal(np.asarray(c.ids), c.vocab.encode(raw))


def test_fixed_vocab_drops_unknown_without_a_whole_copy(texts, tmp_path, monkeypatch):
    """Encoding with a vocabulary that lacks some characters (evaluation, fine-tuning): the file
    holds exactly the kept characters, whatever the chunk size."""
    monkeypatch.setattr(corpus_mod, "CHUNK_BYTES", 5)
    vocab = Vocab.from_text("abcdefghijklmnopqrstuvwxyz \n")
    c = load_corpus(DataConfig(sources=(str(texts[0]),)), vocab=vocab, cache_dir=tmp_path / "c")
    whole = texts[0].read_text(encoding="utf-8")
    kept = "".join(ch for ch in whole if ch in set("abcdefghijklmnopqrstuvwxyz \n"))
    np.testing.assert_array_equal(np.asarray(c.ids), vocab.encode(kept))
    assert c.unknown == len(whole) - len(kept)
    assert "☃" in c.unknown_chars or "U+" in c.unknown_chars


def test_content_hash_does_not_depend_on_the_chunk_size(texts, monkeypatch):
    key = corpus_mod._content_key(texts, "x")
    monkeypatch.setattr(corpus_mod, "CHUNK_BYTES", 3)
    assert corpus_mod._content_key(texts, "x") == key
    texts[1].write_text("changed\n", encoding="utf-8")
    assert corpus_mod._content_key(texts, "x") != key


@pytest.mark.parametrize("world", [1, 2, 4])
def test_memory_mapped_batches_equal_in_memory_batches(tmp_path, world):
    rng = np.random.default_rng(0)
    text = "".join(rng.choice(list("abcdefgh \n"), size=20_000))
    f = tmp_path / "t.txt"
    f.write_text(text, encoding="utf-8")
    c = load_corpus(DataConfig(sources=(str(f),)), cache_dir=tmp_path / "c")
    assert isinstance(c.ids, np.memmap)
    train = split_ids(c.ids, (0.9, 0.05, 0.05)).train
    in_memory = np.array(train)  # a plain in-RAM copy
    B, T = 8, 16
    full = StreamBatcher(in_memory, B, T)
    shards = [StreamBatcher(train, B // world, T, rank=r, world=world) for r in range(world)]
    assert all(len(s) == len(full) for s in shards)
    for step in (0, 1, len(full) // 2, len(full) - 1):
        x, y = full.batch(step)
        xs, ys = zip(*(s.batch(step) for s in shards), strict=True)
        # The ranks' streams, in rank order, are exactly the single process's streams.
        assert torch.equal(torch.cat(xs), x) and torch.equal(torch.cat(ys), y)
        assert x.dtype == torch.int64 and torch.equal(x[:, 1:], y[:, :-1])


def test_max_vocab_maps_rare_characters_to_unk(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus_mod, "CHUNK_BYTES", 7)
    f = tmp_path / "t.txt"
    f.write_text("aaaa bbb cc d\n" * 50 + "éü☃", encoding="utf-8")
    c = load_corpus(DataConfig(sources=(str(f),), max_vocab=5), cache_dir=tmp_path / "c")
    v = c.vocab
    # The 4 most frequent characters ('a', ' ', 'b', 'c') plus <unk>.
    assert v.size == 5 and v.has_unk and v.symbols == tuple(sorted(map(ord, "a bc")))
    ids = np.asarray(c.ids)
    assert len(ids) == len(f.read_text(encoding="utf-8"))  # nothing dropped: rare -> <unk>
    assert int((ids == v.unk_id).sum()) == 50 * 2 + 3  # 'd', '\n' and the 3 rare characters
    assert c.unknown == 0
    # Without the cap, every character has its own id.
    full = load_corpus(DataConfig(sources=(str(f),)), cache_dir=tmp_path / "c")
    assert not full.vocab.has_unk and full.vocab.size == 9


def test_max_vocab_on_the_command_line(tmp_path):
    f = tmp_path / "t.txt"
    f.write_text(("the cat sat on the mat\n" * 200) + "zqxj☃\n", encoding="utf-8")
    out = tmp_path / "run"
    rc = cli_main(
        [
            "train",
            str(f),
            "--out",
            str(out),
            "--max-vocab",
            "8",
            "--max-steps",
            "2",
            "--hidden",
            "8",
            "--layers",
            "1",
            "--embed",
            "4",
            "--batch-size",
            "2",
            "--seq-len",
            "8",
            "--device",
            "cpu",
            "--quiet",
            "--eval-every",
            "2",
        ]
    )
    assert rc == 0
    vocab = json.loads((out / "vocab.json").read_text(encoding="utf-8"))
    cfg = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert vocab["unk"] is True and len(vocab["symbols"]) == 7
    assert cfg["model"]["vocab_size"] == 8 and cfg["data"]["max_vocab"] == 8
    assert cli_main(["train", str(f), "--out", str(tmp_path / "r2"), "--max-vocab", "1"]) == 2


@pytest.mark.skipif(platform.system() != "Linux", reason="reads /proc/self/status")
def test_encoding_memory_does_not_grow_with_the_corpus(tmp_path):
    """Encode 4 MB and 32 MB corpora in fresh processes with 1 MiB chunks: the peak RSS grows by
    far less than the corpus (a whole-file encode holds several copies of it: text, code points,
    int64 indices)."""
    script = textwrap.dedent("""
        import sys
        from pathlib import Path
        from charwise.data import corpus
        from charwise.config import DataConfig

        def hwm_mb():  # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from before exec()
            for ln in open("/proc/self/status"):
                if ln.startswith("VmHWM:"):
                    return int(ln.split()[1]) // 1024

        corpus.CHUNK_BYTES = 1 << 20
        path, cache = Path(sys.argv[1]), Path(sys.argv[2])
        base = hwm_mb()
        c = corpus.load_corpus(DataConfig(sources=(str(path),)), cache_dir=cache)
        assert len(c.ids) == path.stat().st_size
        print(hwm_mb() - base)
    """)
    line = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit " * 2 + "\n").encode()
    grow = {}
    for mb in (4, 32):
        f = tmp_path / f"c{mb}.txt"
        with open(f, "wb") as fh:
            for _ in range(mb * (1 << 20) // len(line)):
                fh.write(line)
        p = subprocess.run(
            [sys.executable, "-c", script, str(f), str(tmp_path / f"cache{mb}")],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        assert p.returncode == 0, p.stderr[-2000:]
        grow[mb] = int(p.stdout.strip())
        f.unlink()
    # 8x the text: the peak grows by the 28 MB of extra output pages the memory map touches (1
    # byte per character) and little more; a whole-file encode would add ~25 bytes per extra
    # character (text, UTF-32 code points, int64 indices...), ~700 MB.
    assert grow[32] - grow[4] < 64, grow


def test_train_line_hashes_read_in_chunks_equal_one_pass():
    from charwise.data.novelty import line_hashes

    rng = np.random.default_rng(2)
    text = "".join(rng.choice(list("ab\n"), size=3000)) + "tail without newline"
    v = Vocab.from_text(text + "\n")
    ids = v.encode(text)
    one = line_hashes(ids, v, chunk=len(ids) + 1)
    lines = {ln for ln in text.split("\n") if ln}
    assert len(one) == len(lines)
    for chunk in (1, 2, 7, 100):  # lines straddling 1, 2, many chunk edges
        np.testing.assert_array_equal(line_hashes(ids, v, chunk=chunk), one)
