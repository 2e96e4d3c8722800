"""`charwise compare`: n-grams and an RNN on the same split, one row each."""

from __future__ import annotations

import json
import math

import pytest

from charwise.cli import main
from charwise.config import DataConfig
from charwise.errors import CharwiseError
from charwise.experiments.compare import CompareConfig, compare, format_table
from charwise.runs.load import load


def test_compare_rows(small_text, tmp_path):
    data = DataConfig(sources=(str(small_text),), split=(0.8, 0.1, 0.1))
    cfg = CompareConfig(
        orders=(1, 4),
        models=("lstm",),
        budget=30,
        max_steps=3,
        hidden=16,
        embed=8,
        layers=1,
        batch_size=4,
        seq_len=16,
        device="cpu",
        sample_length=30,
    )
    seen = []
    rows = compare(data, cfg, tmp_path / "runs", on_row=seen.append)
    assert (
        [r.model for r in rows]
        == ["1-gram (kn)", "4-gram (kn)", "LSTM 1x16"]
        == [r.model for r in seen]
    )
    uni, four, lstm = rows
    assert all(math.isfinite(r.val_bpc) and math.isfinite(r.test_bpc) for r in rows)
    assert four.val_bpc < uni.val_bpc  # context helps on this repetitive text
    assert lstm.size_unit == "params" and lstm.extra["steps"] == 3
    # A 1x16 LSTM with an 8-wide embedding: embedding, W_ih, W_hh, two biases, the head.
    V = load(tmp_path / "runs" / "lstm").vocab.size
    assert lstm.size == V * 8 + 4 * 16 * 8 + 4 * 16 * 16 + 2 * 4 * 16 + 16 * V + V
    assert (tmp_path / "runs" / "lstm" / "config.json").exists()
    assert all(len(r.sample) == 30 for r in rows)
    table = format_table(rows)
    assert "4-gram (kn)" in table and f"{four.val_bpc:.4f}" in table


def test_compare_config_is_validated():
    with pytest.raises(CharwiseError, match="unknown model"):
        CompareConfig(models=("mamba",))
    with pytest.raises(CharwiseError, match="nothing to compare"):
        CompareConfig(orders=(), models=())


def test_cli_compare_json(small_text, capsys):
    assert (
        main(
            [
                "compare",
                str(small_text),
                "--orders",
                "2,3",
                "--models",
                "",
                "--json",
                "--sample-length",
                "20",
                "--split",
                "0.8,0.1,0.1",
            ]
        )
        == 0
    )
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["model"] for r in rows] == ["2-gram (kn)", "3-gram (kn)"]
    assert rows[1]["val_bpc"] < rows[0]["val_bpc"]
    assert main(["compare", str(small_text), "--orders", "x"]) == 2
