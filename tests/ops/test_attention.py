"""F.scaled_dot_product_attention: values and gradients against finite differences and
PyTorch (plain, causal, boolean and float masks, broadcast batch axes), stability, dropout."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.errors import ConfigError, ShapeError


def t64(a, requires_grad=True):
    return cr.tensor(a, requires_grad=requires_grad, dtype=np.float64)


@st.composite
def qkv(draw):
    lead = tuple(draw(st.lists(st.integers(1, 2), min_size=0, max_size=2)))
    t, s = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    d, dv = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    return (rng.standard_normal(lead + (t, d)), rng.standard_normal(lead + (s, d)),
            rng.standard_normal(lead + (s, dv)))


@settings(deadline=None, max_examples=30)
@given(case=qkv(), causal=st.booleans())
def test_attention_passes_gradcheck(case, causal):
    q, k, v = case
    if causal and q.shape[-2] > k.shape[-2]:
        causal = False  # top-left causal alignment leaves no key for late queries: NaN rows
    assert cr.gradcheck(lambda a, b, c: F.scaled_dot_product_attention(a, b, c,
                                                                        is_causal=causal),
                        [t64(q), t64(k), t64(v)])


@settings(deadline=None, max_examples=20)
@given(case=qkv())
def test_attention_with_a_float_mask_and_broadcast_key_passes_gradcheck(case):
    q, k, v = case
    mask = np.random.default_rng(0).standard_normal(q.shape[-2:-1] + k.shape[-2:-1])
    k1, v1 = k[..., :1, :, :] if k.ndim > 3 else k, v[..., :1, :, :] if v.ndim > 3 else v
    assert cr.gradcheck(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, mask),
                        [t64(q), t64(k1), t64(v1)])


def _torch_case(torch, q, k, v, **kw):
    cs = [t64(a) for a in (q, k, v)]
    ts = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    tkw = {key: (torch.tensor(val) if isinstance(val, np.ndarray) else val)
           for key, val in kw.items()}
    out = F.scaled_dot_product_attention(*cs, **kw)
    tout = torch.nn.functional.scaled_dot_product_attention(*ts, **tkw)
    g = np.random.default_rng(3).standard_normal(out.shape)
    out.backward(g)
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(out.data, tout.detach().numpy(), atol=1e-12)
    for c, t in zip(cs, ts):
        np.testing.assert_allclose(c.grad, t.grad.numpy(), atol=1e-12)


@pytest.mark.parametrize("kind", ["plain", "causal", "bool mask", "float mask", "scale"])
def test_attention_matches_pytorch(torch, kind):
    rng = np.random.default_rng(2)
    q, k, v = (rng.standard_normal((2, 3, 5, 4)) for _ in range(3))
    kw = {"plain": {}, "causal": {"is_causal": True},
          "bool mask": {"attn_mask": (rng.random((5, 5)) > 0.3) | np.eye(5, dtype=bool)},
          "float mask": {"attn_mask": rng.standard_normal((2, 1, 5, 5))},
          "scale": {"scale": 0.3}}[kind]
    _torch_case(torch, q, k, v, **kw)


def test_causal_attention_ignores_the_future():
    rng = np.random.default_rng(4)
    q, k, v = (rng.standard_normal((1, 1, 4, 2)) for _ in range(3))
    out = F.scaled_dot_product_attention(t64(q, False), t64(k, False), t64(v, False),
                                         is_causal=True).data
    v2 = v.copy()
    v2[..., 3, :] += 100  # change only the last key's value
    out2 = F.scaled_dot_product_attention(t64(q, False), t64(k, False), t64(v2, False),
                                          is_causal=True).data
    np.testing.assert_allclose(out[..., :3, :], out2[..., :3, :])
    np.testing.assert_allclose(out[..., 0, :], v[..., 0, :])  # the first query sees one key


def test_huge_scores_do_not_overflow():
    q = t64(np.full((1, 2, 3), 1e4), False)
    out = F.scaled_dot_product_attention(q, q, t64(np.eye(2, 3)[None], False))
    assert np.isfinite(out.data).all()


def test_dropout_zeroes_weights_in_training_only():
    cr.manual_seed(0)
    rng = np.random.default_rng(5)
    q, k, v = (t64(rng.standard_normal((2, 6, 3)), False) for _ in range(3))
    plain = F.scaled_dot_product_attention(q, k, v).data
    dropped = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5).data
    off = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5, training=False).data
    assert not np.allclose(plain, dropped)
    np.testing.assert_array_equal(plain, off)


def test_dropout_gradient_passes_gradcheck_with_a_fixed_mask():
    rng = np.random.default_rng(6)
    q, k, v = (rng.standard_normal((2, 3, 2)) for _ in range(3))

    def fn(a, b, c):
        cr.manual_seed(7)  # the same dropout mask on every evaluation
        return F.scaled_dot_product_attention(a, b, c, dropout_p=0.3)

    assert cr.gradcheck(fn, [t64(q), t64(k), t64(v)])


def test_mismatched_shapes_and_bad_arguments_are_named():
    a = t64(np.zeros((2, 3, 4)), False)
    with pytest.raises(ShapeError, match="same last"):
        F.scaled_dot_product_attention(a, t64(np.zeros((2, 3, 5)), False), a)
    with pytest.raises(ConfigError, match="dropout_p"):
        F.scaled_dot_product_attention(a, a, a, dropout_p=1.0)
    with pytest.raises(ConfigError, match="not both"):
        F.scaled_dot_product_attention(a, a, a, attn_mask=np.ones((3, 3), bool), is_causal=True)
    with pytest.raises(ShapeError, match="broadcast"):
        F.scaled_dot_product_attention(a, a, a, attn_mask=np.zeros((2, 2)))


@pytest.mark.parametrize("causal", [False, True])
def test_packed_self_attention_equals_split_heads_and_passes_gradcheck(causal):
    from chainrule.ops.attention import packed_self_attention

    rng = np.random.default_rng(8)
    n, t, h, d = 2, 4, 2, 3
    qkv = rng.standard_normal((n, t, 3 * h * d))
    out = packed_self_attention(t64(qkv, False), h, is_causal=causal).data
    heads = qkv.reshape(n, t, 3, h, d).transpose(2, 0, 3, 1, 4)
    ref = F.scaled_dot_product_attention(*(t64(a, False) for a in heads), is_causal=causal).data
    np.testing.assert_allclose(out, ref.transpose(0, 2, 1, 3).reshape(n, t, h * d), atol=1e-12)
    assert cr.gradcheck(lambda x: packed_self_attention(x, h, is_causal=causal), [t64(qkv)])


def test_packed_self_attention_refuses_a_width_not_divisible_into_heads():
    from chainrule.ops.attention import packed_self_attention

    with pytest.raises(ShapeError, match="num_heads"):
        packed_self_attention(t64(np.zeros((1, 2, 9)), False), 2)


def test_rows_far_below_their_blocks_maximum_keep_full_precision():
    # one row's scores sit 200 below another's: a shared shift would underflow it to 0/0
    q = np.array([[[10.0], [-10.0]]])
    k = np.array([[[10.0], [9.0]]])
    v = np.array([[[1.0], [2.0]]])
    out = F.scaled_dot_product_attention(t64(q, False), t64(k, False), t64(v, False), scale=1.0)
    s = q[0] @ k[0].T
    p = np.exp(s - s.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(out.data[0], p @ v[0], rtol=1e-12)
    assert np.isfinite(out.data).all()
