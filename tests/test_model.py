"""CharRNN: shapes, the one-step API against the fused kernel, initialisation, carried state."""

from __future__ import annotations

import pytest
import torch

from charwise.config import ModelConfig
from charwise.nn import cells
from charwise.nn import model as model_module
from charwise.nn.model import CharRNN, detach_state, locked_dropout

V, L, H, E, B, T = 11, 2, 16, 6, 4, 8
KINDS = ["lstm", "gru", "rnn"]


def _model(kind: str, **kw) -> CharRNN:
    torch.manual_seed(0)
    return CharRNN(ModelConfig(vocab_size=V, kind=kind, layers=L, hidden=H, embed=E, **kw)).eval()


def _random_state(m: CharRNN, batch: int):
    g = torch.Generator().manual_seed(1)
    return tuple(0.5 * torch.randn(s.shape, generator=g) for s in m.init_state(batch))


@pytest.mark.parametrize("kind", KINDS)
def test_forward_shapes(kind):
    m = _model(kind)
    x = torch.randint(V, (B, T))
    logits, state = m(x)
    assert logits.shape == (B, T, V)
    assert len(state) == (2 if kind == "lstm" else 1)
    assert all(s.shape == (L, B, H) for s in state)
    logits, state, hidden = m(x, state, return_hidden=True)
    assert hidden.shape == (B, T, H)


@pytest.mark.parametrize("kind", KINDS)
def test_init_state_is_zero_with_the_right_shapes(kind):
    m = _model(kind)
    st = m.init_state(3)
    assert len(st) == (2 if kind == "lstm" else 1)
    assert all(s.shape == (L, 3, H) and not s.any() for s in st)
    # A zero state and no state are the same thing.
    x = torch.randint(V, (3, 5))
    assert torch.equal(m(x)[0], m(x, st)[0])


@pytest.mark.parametrize("kind", KINDS)
def test_step_equals_forward_one_character_at_a_time(kind):
    m = _model(kind)
    x = torch.randint(V, (B, T))
    state0 = _random_state(m, B)
    with torch.no_grad():
        ref, ref_state = m(x, state0)
        state, outs = state0, []
        for t in range(T):
            logits, state = m.step(x[:, t], state)
            outs.append(logits)
    got = torch.stack(outs, 1)
    assert got.shape == (B, T, V)
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=0)
    for a, b in zip(state, ref_state, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_step_takes_a_python_int_and_no_state():
    m = _model("lstm")
    logits, state = m.step(3)
    ref, _ = m(torch.tensor([[3]]))
    torch.testing.assert_close(logits, ref[:, 0], atol=1e-5, rtol=0)
    assert state[0].shape == (L, 1, H)


def test_lstm_forget_gate_bias_is_one():
    m = _model("lstm")
    for k in range(L):
        _, _, b_ih, b_hh = m.layer_weights(k)
        total = (b_ih + b_hh).detach()
        torch.testing.assert_close(total[H : 2 * H], torch.ones(H))  # PyTorch order i, f, g, o
        # The other gates keep PyTorch's small random init.
        assert not torch.allclose(total[:H], torch.ones(H))


@pytest.mark.parametrize("kind", KINDS)
def test_state_carried_across_windows_equals_one_long_window(kind):
    m = _model(kind)
    x = torch.randint(V, (B, 2 * T))
    with torch.no_grad():
        whole, _ = m(x)
        a, st = m(x[:, :T])
        b, _ = m(x[:, T:], detach_state(st))
    torch.testing.assert_close(torch.cat([a, b], 1), whole, atol=1e-5, rtol=0)


def test_written_out_lstm_cell_gates_match_formula():
    m = _model("lstm")
    w_ih, w_hh, b_ih, b_hh = (t.detach() for t in m.layer_weights(0))
    x = m.embed.weight[:B].detach()
    h0, c0 = (s[0] for s in _random_state(m, B))
    h, c, gates = cells.lstm_cell(x @ w_ih.T + b_ih, h0, c0, w_hh, b_hh)
    oracle = torch.nn.LSTMCell(E, H).requires_grad_(False)
    for name, w in (("weight_ih", w_ih), ("weight_hh", w_hh), ("bias_ih", b_ih), ("bias_hh", b_hh)):
        getattr(oracle, name).copy_(w)
    ref_h, ref_c = oracle(x, (h0, c0))
    torch.testing.assert_close(h, ref_h, atol=1e-6, rtol=0)
    torch.testing.assert_close(c, ref_c, atol=1e-6, rtol=0)
    assert set(gates) == {"input", "forget", "cell", "output"}


def test_num_params_counts_everything():
    m = _model("lstm")
    G = 4
    expected = V * E + (G * H * E + G * H * H + 2 * G * H) + (G * H * H * 2 + 2 * G * H) + H * V + V
    assert m.num_params == expected


@pytest.mark.parametrize("kind", KINDS)
def test_weight_drop_masks_recurrent_weights_only_while_training(kind):
    """--weight-drop: in training each window's W_hh loses about p of its entries (and their
    gradients); in eval the full weights run, exactly as without it."""
    plain, wd = _model(kind, dropout=0.0), _model(kind, dropout=0.0, weight_drop=0.5)
    x = torch.randint(V, (B, T))
    torch.testing.assert_close(wd(x)[0], plain(x)[0])  # eval: no mask
    wd.train()
    plain.train()
    torch.testing.assert_close(plain(x)[0], plain.eval()(x)[0])  # no dropout: train == eval
    logits, _ = wd(x)
    assert not torch.allclose(logits, plain(x)[0])
    logits.sum().backward()
    for k in range(L):
        g = getattr(wd.rnn, f"weight_hh_l{k}").grad
        zero = float((g == 0).float().mean())
        assert 0.4 < zero < 0.6, (k, zero)  # the dropped half gets no gradient
        assert (getattr(wd.rnn, f"weight_ih_l{k}").grad != 0).float().mean() > 0.9


@pytest.mark.parametrize("kind", KINDS)
def test_layerwise_training_path_is_the_same_network(kind, monkeypatch):
    """With dropout the model runs one layer at a time (to drop between layers); with the masks
    made identities that path equals the fused multi-layer call, outputs, state and gradients."""
    m = _model(kind, dropout=0.3)
    x = torch.randint(V, (B, T))
    state = _random_state(m, B)
    ref_logits, ref_state = m(x, state)  # eval: one fused call
    ref_logits.sum().backward()
    ref_grads = [p.grad.clone() for p in m.parameters()]
    m.zero_grad()
    monkeypatch.setattr(model_module, "locked_dropout", lambda t, p: t)
    m.train()
    logits, new = m(x, state)
    torch.testing.assert_close(logits, ref_logits)
    for a, b in zip(new, ref_state, strict=True):
        torch.testing.assert_close(a, b)
    logits.sum().backward()
    for g, r in zip((p.grad for p in m.parameters()), ref_grads, strict=True):
        torch.testing.assert_close(g, r)


def test_locked_dropout_uses_one_mask_per_sequence():
    torch.manual_seed(0)
    x = torch.ones(64, 50, 32)
    y = locked_dropout(x, 0.25)
    assert torch.equal(y, y[:, :1].expand_as(y))  # the same mask at every time step
    assert y.unique().tolist() == pytest.approx([0.0, 4 / 3])
    assert abs(float((y[:, 0] == 0).float().mean()) - 0.25) < 0.05
    assert locked_dropout(x, 0.0) is x


def test_dropout_trains_with_fresh_masks_per_window_and_none_in_eval():
    m = _model("lstm", dropout=0.5)
    x = torch.randint(V, (B, T))
    m.train()
    assert not torch.allclose(m(x)[0], m(x)[0])  # a new mask each call
    m.eval()
    torch.testing.assert_close(m(x)[0], _model("lstm")(x)[0])  # off in eval: the same network


def test_embed_dropout_drops_whole_embedding_features_per_sequence(monkeypatch):
    # Only the embedding is dropped (dropout 0 elsewhere), still through the layer-wise path.
    m = _model("lstm", embed_dropout=0.5)
    x = torch.randint(V, (B, T))
    seen = []
    real = model_module.locked_dropout

    def spy(t, p):
        seen.append((tuple(t.shape), p))
        return real(t, p)

    monkeypatch.setattr(model_module, "locked_dropout", spy)
    m.train()
    assert not torch.allclose(m(x)[0], m(x)[0])  # masked, a new mask each call
    assert seen[0] == ((B, T, E), 0.5)  # the embedding, with one mask per sequence
    m.eval()
    torch.testing.assert_close(m(x)[0], _model("lstm")(x)[0])  # off in eval: the same network
