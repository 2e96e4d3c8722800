"""Truncated-BPTT batches: B contiguous streams, each batch continuing the last one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from charwise.commands.flags import flag
from charwise.data.batches import StreamBatcher
from charwise.errors import CharwiseError


def test_stream_k_of_batch_i_plus_1_continues_stream_k_of_batch_i():
    ids = (np.arange(1000) * 7919 % 65521).astype(np.uint16)  # distinct, not monotone
    b = StreamBatcher(ids, batch_size=4, seq_len=8)
    assert b.stream_len == 250 and len(b) == (250 - 1) // 8
    batches = list(b)
    assert len(batches) == len(b)
    for i, (x, y) in enumerate(batches):
        assert x.shape == y.shape == (4, 8) and x.dtype == torch.int64
        for k in range(4):
            start = k * 250 + i * 8
            assert x[k].tolist() == ids[start : start + 8].tolist()
            assert y[k].tolist() == ids[start + 1 : start + 9].tolist()  # next character
    for i in range(len(batches) - 1):
        x0, y0 = batches[i]
        x1, _ = batches[i + 1]
        # The next window starts with the character the last window's final target was.
        assert torch.equal(x1[:, 0], y0[:, -1])
        # ...and each stream's text is contiguous across the two windows.
        for k in range(4):
            joined = torch.cat([x0[k], x1[k]]).tolist()
            s = k * 250 + i * 8
            assert joined == ids[s : s + 16].tolist()


def test_ranks_take_disjoint_blocks_of_the_global_streams():
    ids = np.arange(2000, dtype=np.int64)
    whole = StreamBatcher(ids, batch_size=4, seq_len=8)
    parts = [StreamBatcher(ids, batch_size=2, seq_len=8, rank=r, world=2) for r in range(2)]
    for step in (0, 5):
        x, y = whole.batch(step)
        xs = torch.cat([p.batch(step)[0] for p in parts])
        ys = torch.cat([p.batch(step)[1] for p in parts])
        assert torch.equal(x, xs) and torch.equal(y, ys)


def test_memory_mapped_ids_are_not_copied(tmp_path):
    path = tmp_path / "ids.npy"
    np.save(path, np.arange(500, dtype=np.uint8))
    ids = np.load(path, mmap_mode="r")
    b = StreamBatcher(ids, batch_size=2, seq_len=4)
    assert np.shares_memory(b.streams, ids)
    assert b.batch(1)[0][1].tolist() == [(250 + 4 + j) % 256 for j in range(4)]


def test_too_short_corpus_names_the_need_and_the_option():
    with pytest.raises(CharwiseError) as e:
        StreamBatcher(np.arange(20), batch_size=4, seq_len=8)
    msg = str(e.value)
    # 4 streams of 8 steps need 4 * (8 + 1) characters.
    assert "20 characters" in msg and "needs at least 36" in msg
    # The library names the settings by field; the CLI words them as flags (test_cli.py).
    assert "lower batch_size or seq_len" in msg and e.value.worded(flag) == msg.replace(
        "batch_size or seq_len", "--batch-size or --seq-len"
    )
    # Exactly enough is enough.
    assert len(StreamBatcher(np.arange(36), batch_size=4, seq_len=8)) == 1
