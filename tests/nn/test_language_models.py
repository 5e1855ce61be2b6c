"""nn.gpt and nn.char_rnn: shapes, causality, tied head, training reduces the loss, the
same numbers as an identically-weighted PyTorch model, save/load round trips, sampling."""
import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn, optim
from chainrule.errors import ConfigError, ShapeError

RNG = np.random.default_rng(0)


def test_gpt_maps_ids_to_next_token_logits_with_a_tied_head():
    m = nn.gpt(11, 8, n_layer=2, n_head=2, n_embd=16)
    out = m(RNG.integers(0, 11, (3, 8)))
    assert out.shape == (3, 8, 11)
    names = [n for n, _ in m.named_parameters()]
    assert names[0] == "wte.weight" and not any("head" in n for n in names)
    assert "h.1.attn.in_proj_weight" in names and "h.0.mlp.c_fc.weight" in names


def test_gpt_is_causal_a_later_token_never_changes_earlier_logits():
    m = nn.gpt(7, 6, n_layer=2, n_head=2, n_embd=8).astype(np.float64)
    a = RNG.integers(0, 7, (1, 6))
    b = a.copy()
    b[0, 4:] = (b[0, 4:] + 1) % 7
    np.testing.assert_allclose(m(a).data[:, :4], m(b).data[:, :4], atol=1e-12)


def test_gpt_gradients_pass_gradcheck():
    m = nn.gpt(5, 4, n_layer=1, n_head=2, n_embd=4).astype(np.float64)
    ids, y = RNG.integers(0, 5, (2, 4)), RNG.integers(0, 5, (2, 4))
    names = [n for n, _ in m.named_parameters()]
    picks = ["wte.weight", "h.0.attn.in_proj_weight", "h.0.ln_2.weight"]

    def fn(*ps):
        for name, p in zip(picks, ps):
            mod = m
            *path, attr = name.split(".")
            for part in path:
                mod = mod[int(part)] if part.isdigit() else getattr(mod, part)
            setattr(mod, attr, p)
        return F.cross_entropy(m(ids), y)

    params = dict(m.named_parameters())
    assert set(picks) <= set(names)
    assert cr.gradcheck(fn, [cr.tensor(params[n].data, requires_grad=True, dtype=np.float64)
                             for n in picks])


def test_gpt_matches_the_same_model_in_pytorch(torch):
    tnn = torch.nn

    class TBlock(tnn.Module):
        def __init__(self, e, h):
            super().__init__()
            self.ln_1, self.ln_2 = tnn.LayerNorm(e), tnn.LayerNorm(e)
            self.attn = tnn.MultiheadAttention(e, h, batch_first=True)
            self.mlp = tnn.ModuleDict({"c_fc": tnn.Linear(e, 4 * e),
                                       "c_proj": tnn.Linear(4 * e, e)})

        def forward(self, x):
            t = x.shape[1]
            mask = torch.triu(torch.ones(t, t, dtype=torch.bool), 1)
            h = self.ln_1(x)
            x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
            return x + self.mlp["c_proj"](tnn.functional.gelu(self.mlp["c_fc"](self.ln_2(x))))

    class TGPT(tnn.Module):
        def __init__(self, v, b, n, h, e):
            super().__init__()
            self.wte, self.wpe = tnn.Embedding(v, e), tnn.Embedding(b, e)
            self.h = tnn.ModuleList([TBlock(e, h) for _ in range(n)])
            self.ln_f = tnn.LayerNorm(e)

        def forward(self, idx):
            x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
            for blk in self.h:
                x = blk(x)
            return self.ln_f(x) @ self.wte.weight.T

    cm = nn.gpt(9, 6, n_layer=2, n_head=2, n_embd=8).astype(np.float64)
    tm = TGPT(9, 6, 2, 2, 8).double()
    tm.load_state_dict({k: torch.tensor(v) for k, v in cm.state_dict().items()})
    ids, y = RNG.integers(0, 9, (3, 6)), RNG.integers(0, 9, (3, 6))
    loss = F.cross_entropy(cm(ids), y)
    loss.backward()
    tl = tnn.functional.cross_entropy(tm(torch.tensor(ids)).reshape(-1, 9),
                                      torch.tensor(y).reshape(-1))
    tl.backward()
    # GELU's erf is a 1.2e-7-accurate fit (NumPy has no erf): agreement to ~1e-9, not 1e-15
    assert abs(loss.item() - tl.item()) < 1e-8
    tp = dict(tm.named_parameters())
    for name, p in cm.named_parameters():
        np.testing.assert_allclose(p.grad, tp[name].grad.numpy(), atol=1e-8, err_msg=name)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_char_rnn_maps_ids_to_logits_and_names_its_layers_as_pytorch(cell):
    m = nn.char_rnn(6, hidden_size=8, cell=cell)
    assert m(RNG.integers(0, 6, (2, 5))).shape == (2, 5, 6)
    assert "rnn.weight_hh_l0" in dict(m.named_parameters())


@pytest.mark.parametrize("build", [lambda: nn.gpt(8, 8, 1, 2, 8),
                                   lambda: nn.char_rnn(8, 12, 1, "gru")])
def test_a_few_adam_steps_fit_a_repeating_sequence(build):
    cr.manual_seed(0)
    m = build()
    seq = np.tile(np.arange(8), 3)[None]
    ids, y = seq[:, :8], seq[:, 1:9]
    opt = optim.Adam(m.parameters(), lr=0.02)
    first = None
    for _ in range(40):
        loss = F.cross_entropy(m(ids), y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.2 * first


@pytest.mark.parametrize("build", [lambda: nn.gpt(8, 8, 2, 2, 8, dropout=0.1),
                                   lambda: nn.char_rnn(8, 6, 2, "lstm")])
def test_language_models_round_trip_through_save_and_load(tmp_path, build):
    m = build().eval()
    cr.save(m, tmp_path / "lm.safetensors")
    back = cr.load(tmp_path / "lm.safetensors").eval()
    assert type(back) is type(m) and back.config() == m.config()
    ids = RNG.integers(0, 8, (2, 8))
    np.testing.assert_array_equal(back(ids).data, m(ids).data)
    if isinstance(back, nn.GPT):
        assert len(back.state_dict()) == len(m.state_dict())
        ids1 = RNG.integers(0, 8, (1, 3))
        loss = back(ids1).sum()
        loss.backward()
        assert back.wte.weight.grad is not None


def test_generate_is_reproducible_and_stops_at_the_stop_token():
    m = nn.gpt(5, 4, 1, 1, 8)
    a = m.generate(np.zeros((3, 1), int), 10, temperature=0.8, rng=np.random.default_rng(0))
    b = m.generate(np.zeros((3, 1), int), 10, temperature=0.8, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (3, 11) and a.min() >= 0 and a.max() < 5
    s = m.generate(np.zeros((4, 1), int), 50, rng=np.random.default_rng(1), stop=0)
    for row in s:
        ends = np.flatnonzero(row[1:] == 0)
        assert ends.size == 0 or np.all(row[1 + ends[0]:] == 0)


def test_language_models_refuse_bad_input_and_sizes():
    m = nn.gpt(5, 4, 1, 1, 8)
    with pytest.raises(ShapeError, match="block_size 4"):
        m(np.zeros((1, 5), int))
    with pytest.raises(ShapeError, match=r"\[0, 4\]"):
        m(np.full((1, 2), 5))
    with pytest.raises(ConfigError, match="divisible"):
        nn.gpt(5, 4, 1, 3, 8)
    with pytest.raises(ConfigError, match="cell"):
        nn.char_rnn(5, cell="transformer")
    with pytest.raises(ConfigError, match="temperature"):
        m.generate(np.zeros((1, 1), int), 2, temperature=0)
