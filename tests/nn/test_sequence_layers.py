"""Embedding, LayerNorm, ModuleList/ModuleDict, MultiheadAttention, RNN/GRU/LSTM: PyTorch's
parameter names (state dicts load both ways), values and gradients against PyTorch in
float64, finite-difference checks, weight tying, save/load."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import ConfigError, ShapeError

RNG = np.random.default_rng(0)


def from_torch(cm, tm):
    """Copy a torch module's state into the chainrule twin; both to float64."""
    cm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    cm.astype(np.float64)
    tm.double()
    assert set(dict(cm.named_parameters())) == set(dict(tm.named_parameters()))


def assert_same_forward_and_backward(torch, cm, tm, x, pick=lambda o: o, call=None):
    call = call or (lambda m, a: m(a))
    from_torch(cm, tm)
    cm.zero_grad()
    tm.zero_grad()
    cx = cr.tensor(x, requires_grad=True, dtype=np.float64)
    tx = torch.tensor(x, requires_grad=True)
    co, to = pick(call(cm, cx)), pick(call(tm, tx))
    g = RNG.standard_normal(co.shape)
    co.backward(g)
    to.backward(torch.tensor(g))
    np.testing.assert_allclose(co.data, to.detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(cx.grad, tx.grad.numpy(), atol=1e-10)
    tgrads = dict(tm.named_parameters())
    for name, p in cm.named_parameters():
        np.testing.assert_allclose(p.grad, tgrads[name].grad.numpy(), atol=1e-10,
                                   err_msg=name)


def test_embedding_layer_matches_pytorch(torch):
    cm, tm = nn.Embedding(10, 4), torch.nn.Embedding(10, 4)
    from_torch(cm, tm)
    idx = RNG.integers(0, 10, (3, 5))
    out = cm(idx)
    tout = tm(torch.tensor(idx))
    g = RNG.standard_normal(out.shape)
    out.backward(g)
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(out.data, tout.detach().numpy())
    np.testing.assert_allclose(cm.weight.grad, tm.weight.grad.numpy(), atol=1e-12)


def test_embedding_initialises_standard_normal_and_zeroes_the_padding_row():
    cr.manual_seed(0)
    e = nn.Embedding(2000, 8, padding_idx=3)
    assert abs(e.weight.data.std() - 1) < 0.05
    np.testing.assert_array_equal(e.weight.data[3], 0)


@pytest.mark.parametrize("shape", [(4, 6), (2, 3, 6)])
def test_layer_norm_layer_matches_pytorch(torch, shape):
    assert_same_forward_and_backward(torch, nn.LayerNorm(6), torch.nn.LayerNorm(6),
                                     RNG.standard_normal(shape))


def test_layer_norm_without_affine_has_no_parameters():
    assert nn.LayerNorm((2, 3), elementwise_affine=False).parameters() == []
    with pytest.raises(ConfigError, match="normalized_shape"):
        nn.LayerNorm(0)


def test_module_list_names_parameters_by_index_and_rebuilds_from_config():
    ml = nn.ModuleList([nn.Linear(2, 3), nn.Linear(3, 1)])
    ml.append(nn.LayerNorm(1))
    assert [n for n, _ in ml.named_parameters()] == [
        "0.weight", "0.bias", "1.weight", "1.bias", "2.weight", "2.bias"]
    assert len(ml) == 3 and isinstance(ml[1], nn.Linear) and len(ml[:2]) == 2
    again = nn.from_config(ml.to_config())
    assert [n for n, _ in again.named_parameters()] == [n for n, _ in ml.named_parameters()]


def test_module_dict_names_parameters_by_key_and_rebuilds_from_config():
    md = nn.ModuleDict({"enc": nn.Linear(2, 2), "dec": nn.Linear(2, 1)})
    assert [n for n, _ in md.named_parameters()] == [
        "enc.weight", "enc.bias", "dec.weight", "dec.bias"]
    assert "enc" in md and list(md.keys()) == ["enc", "dec"]
    again = nn.from_config(md.to_config())
    assert list(again.keys()) == ["enc", "dec"]
    with pytest.raises(ConfigError, match="no module 'x'"):
        md["x"]
    with pytest.raises(ConfigError, match="not a Module"):
        nn.ModuleList([nn.Linear(1, 1), 3])


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("mask", ["none", "causal bool", "float", "key padding"])
def test_multihead_attention_matches_pytorch(torch, need_weights, batch_first, mask):
    e, h, n, t = 8, 2, 3, 5
    torch.manual_seed(0)
    cm = nn.MultiheadAttention(e, h, batch_first=batch_first)
    tm = torch.nn.MultiheadAttention(e, h, batch_first=batch_first)
    x = RNG.standard_normal((n, t, e) if batch_first else (t, n, e))
    kw = {}
    if mask == "causal bool":
        kw["attn_mask"] = np.triu(np.ones((t, t), bool), 1)
    elif mask == "float":
        kw["attn_mask"] = RNG.standard_normal((n * h, t, t))
    elif mask == "key padding":
        kp = np.zeros((n, t), bool)
        kp[:, -1] = True
        kw["key_padding_mask"] = kp

    def call(m, a):
        is_torch = not isinstance(a, cr.Tensor)
        args = {k: (torch.tensor(v) if is_torch else v) for k, v in kw.items()}
        out, w = m(a, a, a, need_weights=need_weights, **args)
        assert (w is None) == (not need_weights)
        return out + (0 if w is None else w.sum() * 0.1)

    assert_same_forward_and_backward(torch, cm, tm, x, call=call)


def test_is_causal_alone_equals_the_causal_mask():
    mha = nn.MultiheadAttention(4, 2, batch_first=True).astype(np.float64)
    x = cr.tensor(RNG.standard_normal((2, 5, 4)), dtype=np.float64)
    a, _ = mha(x, x, x, is_causal=True, need_weights=False)
    b, _ = mha(x, x, x, attn_mask=np.triu(np.ones((5, 5), bool), 1))
    np.testing.assert_allclose(a.data, b.data, atol=1e-12)


def test_multihead_attention_passes_gradcheck_with_cross_attention():
    mha = nn.MultiheadAttention(4, 2, batch_first=True).astype(np.float64)
    q, kv = RNG.standard_normal((2, 3, 4)), RNG.standard_normal((2, 5, 4))
    assert cr.gradcheck(lambda a, b: mha(a, b, b, need_weights=False)[0],
                        [cr.tensor(q, requires_grad=True, dtype=np.float64),
                         cr.tensor(kv, requires_grad=True, dtype=np.float64)])


def test_multihead_attention_dropout_acts_in_training_only():
    cr.manual_seed(0)
    mha = nn.MultiheadAttention(4, 1, dropout=0.5, batch_first=True)
    x = cr.tensor(RNG.standard_normal((2, 6, 4)))
    a, _ = mha(x, x, x, need_weights=False)
    mha.eval()
    b, _ = mha(x, x, x, need_weights=False)
    c, _ = mha(x, x, x, need_weights=False)
    assert not np.allclose(a.data, b.data)
    np.testing.assert_array_equal(b.data, c.data)


def test_multihead_attention_refuses_bad_sizes():
    with pytest.raises(ConfigError, match="divisible"):
        nn.MultiheadAttention(6, 4)
    with pytest.raises(ShapeError, match=r"\(N, T, E\)"):
        m = nn.MultiheadAttention(4, 2, batch_first=True)
        m(cr.zeros(2, 3, 5), cr.zeros(2, 3, 5), cr.zeros(2, 3, 5))


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("batch_first", [True, False])
def test_recurrent_layers_match_pytorch(torch, kind, batch_first):
    torch.manual_seed(1)
    cm = getattr(nn, kind)(4, 3, num_layers=2, batch_first=batch_first)
    tm = getattr(torch.nn, kind)(4, 3, num_layers=2, batch_first=batch_first)
    x = RNG.standard_normal((2, 5, 4))

    def pick(o):
        out, state = o
        final = state[1] if kind == "LSTM" else state   # c_n for the LSTM, h_n otherwise
        return out.sum(axis=-1) + final.sum() if hasattr(out, "sum") else out

    assert_same_forward_and_backward(torch, cm, tm, x, pick=lambda o: o[0])
    assert_same_forward_and_backward(torch, cm, tm, x, pick=pick)


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
def test_recurrent_layers_pass_gradcheck_through_time(kind):
    m = getattr(nn, kind)(2, 3, batch_first=True).astype(np.float64)
    x = cr.tensor(RNG.standard_normal((2, 4, 2)), requires_grad=True, dtype=np.float64)
    names = [n for n, _ in m.named_parameters()]

    def fn(x_, *ps):
        for name, p in zip(names, ps):   # the checked copies stand in for the parameters
            setattr(m, name, p)
        return m(x_)[0]

    assert cr.gradcheck(fn, [x] + [cr.tensor(p.data, requires_grad=True, dtype=np.float64)
                                   for p in m.parameters()])


def test_recurrent_state_shapes_and_initial_state():
    lstm = nn.LSTM(3, 5, num_layers=2, batch_first=True)
    out, (h, c) = lstm(cr.zeros(4, 7, 3))
    assert out.shape == (4, 7, 5) and h.shape == c.shape == (2, 4, 5)
    with pytest.raises(ShapeError, match=r"\(num_layers, N, hidden_size\)"):
        nn.GRU(3, 5, batch_first=True)(cr.zeros(4, 7, 3), cr.zeros(1, 4, 4))
    with pytest.raises(ConfigError, match="bidirectional"):
        nn.RNN(3, 5, bidirectional=True)


def test_tied_weight_is_one_parameter_saved_once_with_summed_gradients(tmp_path):
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(5, 3)
            self.head = nn.Linear(3, 5, bias=False)
            self.head.weight = self.emb.weight

        def forward(self, idx):
            return self.head(self.emb(idx))

    m = Tied()
    assert [n for n, _ in m.named_parameters()] == ["emb.weight"]
    assert list(m.state_dict()) == ["emb.weight"]
    idx = np.array([[0, 1, 1]])
    g = RNG.standard_normal((1, 3, 5)).astype(np.float32)
    m.emb(idx)  # no backward: a use without a loss contributes nothing
    out = m.head(m.emb(idx))
    out.backward(g)
    w = m.emb.weight.data
    via_head = g.reshape(-1, 5).T @ w[idx.reshape(-1)]
    via_emb = np.zeros_like(w)
    np.add.at(via_emb, idx.reshape(-1), g.reshape(-1, 5) @ w)
    np.testing.assert_allclose(m.emb.weight.grad, via_head + via_emb, rtol=1e-5, atol=1e-6)
    cr.save(m.state_dict(), tmp_path / "tied.safetensors")
    fresh = Tied()
    fresh.load_state_dict(cr.load(tmp_path / "tied.safetensors"))
    assert fresh.head.weight is fresh.emb.weight
    np.testing.assert_array_equal(fresh.head.weight.data, w)


def test_a_model_file_declaring_a_huge_layer_norm_is_refused_before_allocating(tmp_path):
    import json
    import struct

    from chainrule.errors import ModelFileError

    cr.save(nn.Sequential(nn.LayerNorm(4)), tmp_path / "ln.safetensors")
    raw = (tmp_path / "ln.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    arch = json.loads(header["__metadata__"]["architecture"])
    arch["layers"][0]["normalized_shape"] = [30, 30, 30, 30, 30]   # 24 M floats from 32 bytes
    header["__metadata__"]["architecture"] = json.dumps(arch)
    text = json.dumps(header).encode()
    (tmp_path / "bad.safetensors").write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + n:])
    with pytest.raises(ModelFileError, match="parameter memory"):
        cr.load(tmp_path / "bad.safetensors")
