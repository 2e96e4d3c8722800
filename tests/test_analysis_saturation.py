"""Gate saturation: fractions counted on models whose gates are known by construction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from charwise.analysis import SaturationOptions, gate_saturation, record_gates
from charwise.config import ModelConfig
from charwise.errors import CharwiseError
from charwise.nn.model import CharRNN

V, H, E = 5, 4, 3


def _switch_model(kind: str, gate_biases: dict[int, list[float]]) -> CharRNN:
    """Every weight zero except: character 0 embeds as [10, 0, 0], and unit 0 of gate block 0
    reads it (weight 1). Gate block b of layer 0 gets bias gate_biases[b]; layer 1's gates are
    all sigmoid(0) = 0.5, never saturated. So gate 0 / unit 0 of layer 0 is sigmoid(10 + bias)
    after character 0 and sigmoid(bias) after any other, and every other unit is constant."""
    torch.manual_seed(0)
    m = CharRNN(ModelConfig(vocab_size=V, kind=kind, layers=2, hidden=H, embed=E)).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.zero_()
        m.embed.weight[0, 0] = 10.0
        w_ih, _, b_ih, _ = m.layer_weights(0)
        w_ih[0, 0] = 1.0
        for block, biases in gate_biases.items():
            b_ih[block * H : (block + 1) * H] = torch.tensor(biases)
    return m


def _ids(n: int = 400) -> np.ndarray:
    return np.random.default_rng(3).integers(0, V, n)


def test_lstm_fractions_match_the_gates_built_in():
    # PyTorch's LSTM blocks: input, forget, candidate, output
    m = _switch_model("lstm", {0: [-5.0, 5.0, 0.0, -5.0], 1: [-5.0] * H, 3: [5.0, 5.0, 0.0, 2.5]})
    ids = _ids()
    sat = gate_saturation(record_gates(m, ids))
    share0 = float(np.mean(ids == 0))
    assert sat.gates == ("input", "forget", "output") and sat.chars == len(ids)
    # input unit 0: right-saturated (sigmoid(5)) exactly after character 0, left otherwise
    assert sat.right["input", 0][0] == pytest.approx(share0)
    assert sat.left["input", 0][0] == pytest.approx(1 - share0)
    np.testing.assert_allclose(sat.right["input", 0][1:], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(sat.left["input", 0][1:], [0.0, 0.0, 1.0])
    np.testing.assert_allclose(sat.left["forget", 0], 1.0)
    # output: sigmoid(2.5) = 0.924 is right-saturated, sigmoid(0) = 0.5 is neither
    np.testing.assert_allclose(sat.right["output", 0], [1, 1, 0, 1])
    np.testing.assert_allclose(sat.left["output", 0], 0.0)
    for g in sat.gates:  # layer 1 sits at 0.5
        np.testing.assert_allclose(sat.left[g, 1], 0.0)
        np.testing.assert_allclose(sat.right[g, 1], 0.0)

    rows = {(r["gate"], r["layer"]): r for r in sat.summary()}
    assert rows["forget", 0]["share_left_often"] == 1.0
    assert rows["output", 0]["share_right_often"] == 0.75
    assert rows["output", 0]["share_unsaturated"] == 0.25
    assert rows["input", 0]["mean_right"] == pytest.approx((share0 + 1) / H)
    assert rows["input", 1]["share_unsaturated"] == 1.0


def test_thresholds_are_options():
    m = _switch_model("lstm", {3: [2.5, 1.0, 0.0, -1.0]})  # sigmoid: .92 .73 .5 .27
    ids = _ids(50)
    loose = gate_saturation(record_gates(m, ids), SaturationOptions(low=0.3, high=0.7))
    np.testing.assert_allclose(loose.right["output", 0], [1, 1, 0, 0])
    np.testing.assert_allclose(loose.left["output", 0], [0, 0, 0, 1])
    strict = gate_saturation(record_gates(m, ids))
    np.testing.assert_allclose(strict.right["output", 0], [1, 0, 0, 0])


def test_gru_gates_and_disk_recording_agree(tmp_path):
    # PyTorch's GRU blocks: reset, update, new
    m = _switch_model("gru", {0: [-5.0, 5.0, 0.0, 0.0], 1: [5.0, -5.0, 5.0, -5.0]})
    ids = _ids()
    in_memory = gate_saturation(record_gates(m, ids))
    on_disk = gate_saturation(record_gates(m, ids, out_dir=str(tmp_path / "acts"), chunk=37))
    assert in_memory.gates == ("reset", "update")
    share0 = float(np.mean(ids == 0))
    assert in_memory.right["reset", 0][0] == pytest.approx(share0)
    np.testing.assert_allclose(in_memory.right["update", 0], [1, 0, 1, 0])
    np.testing.assert_allclose(in_memory.left["update", 0], [0, 1, 0, 1])
    for key in in_memory.left:
        np.testing.assert_array_equal(in_memory.left[key], on_disk.left[key])
        np.testing.assert_array_equal(in_memory.right[key], on_disk.right[key])
    d = in_memory.to_dict()
    assert d["units"]["update/0"]["right"] == [1.0, 0.0, 1.0, 0.0] and len(d["summary"]) == 4


def test_refuses_models_without_gates_and_recordings_without_them():
    rnn = CharRNN(ModelConfig(vocab_size=V, kind="rnn", layers=1, hidden=H, embed=E))
    with pytest.raises(CharwiseError, match="no gates"):
        record_gates(rnn, _ids(10))
    from charwise.inspect import RecordOptions, record

    lstm = _switch_model("lstm", {})
    rec = record(lstm, _ids(10), list("abcde"), RecordOptions(quantities=("h",)))
    with pytest.raises(CharwiseError, match="quantities"):
        gate_saturation(rec)
    with pytest.raises(CharwiseError, match="has no gate"):
        gate_saturation(record_gates(lstm, _ids(10)), gates=("reset",))
    with pytest.raises(CharwiseError, match=r"need 0 <= low < high <= 1"):
        SaturationOptions(low=0.9, high=0.1)
