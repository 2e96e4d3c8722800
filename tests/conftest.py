"""Shared fixtures: tiny texts and configs, a private cache folder, one CPU thread per test
(the suite runs on 2 cores; small models gain nothing from more threads)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("CHARWISE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    torch.set_num_threads(1)
    yield


@pytest.fixture
def small_text(tmp_path):
    """A ~6 KB text with quotes, brackets and non-ASCII characters."""
    lines = []
    for i in range(120):
        lines.append(f'Line {i}: "héllo wörld" (n={i % 7}) [ok] — naïve café {i * 3 % 11}')
    p = tmp_path / "small.txt"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p
