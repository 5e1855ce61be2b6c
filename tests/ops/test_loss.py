"""Losses: mse l1 huber cross_entropy nll binary_cross_entropy(_with_logits), each with
reduction='mean' | 'sum' | 'none'."""
import numpy as np
import pytest
from conftest import floats64, shapes
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
import chainrule.nn.functional as F

REDUCTIONS = ["mean", "sum", "none"]


def t64(a, requires_grad=True):
    return cr.tensor(a, requires_grad=requires_grad, dtype=np.float64)


def reduce(per, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction](per)


def _np_log_softmax(z):
    m = z.max(axis=1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))


def _bce_logits(z, t):
    return np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))


# name -> (loss, per-element NumPy reference, offset strategy keeping pred - target off kinks)
ELEMENTWISE = {
    "mse_loss": (F.mse_loss, lambda p, t: (p - t) ** 2, 0.0),
    "l1_loss": (F.l1_loss, lambda p, t: np.abs(p - t), 1e-3),
    "huber_loss": (F.huber_loss, lambda p, t: np.where(np.abs(p - t) <= 1, 0.5 * (p - t) ** 2,
                                                       np.abs(p - t) - 0.5), 1e-3),
    "binary_cross_entropy_with_logits": (F.binary_cross_entropy_with_logits, _bce_logits, 0.0),
}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data(), shape=shapes())
def test_elementwise_loss_matches_numpy_and_passes_gradcheck(name, reduction, data, shape):
    fn, ref, gap = ELEMENTWISE[name]
    t = data.draw(floats64(shape, lo=0.0, hi=1.0))
    # pred - target stays away from 0 (l1) and ±delta (huber), where the loss has kinks
    d = data.draw(floats64(shape, gap=gap, avoid=(0.0, 1.0, -1.0)))
    p = t + d
    out = fn(t64(p), t64(t), reduction=reduction)
    np.testing.assert_allclose(out.data, reduce(ref(p, t), reduction), rtol=1e-12, atol=1e-12)
    assert out.shape == (shape if reduction == "none" else ())
    assert cr.gradcheck(lambda a, b: fn(a, b, reduction=reduction), [t64(p), t64(t)])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data(), shape=shapes())
def test_binary_cross_entropy_matches_numpy_and_passes_gradcheck(reduction, data, shape):
    p = data.draw(floats64(shape, lo=0.05, hi=0.95))
    t = data.draw(floats64(shape, lo=0.0, hi=1.0))
    out = F.binary_cross_entropy(t64(p), t64(t), reduction=reduction)
    ref = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    np.testing.assert_allclose(out.data, reduce(ref, reduction), rtol=1e-12)
    assert cr.gradcheck(lambda a, b: F.binary_cross_entropy(a, b, reduction=reduction),
                        [t64(p), t64(t)])


def test_huber_delta_sets_where_the_loss_turns_linear():
    out = F.huber_loss(t64([0.0, 0.0]), t64([1.0, 5.0]), reduction="none", delta=2.0)
    np.testing.assert_allclose(out.data, [0.5, 2.0 * (5.0 - 1.0)])


def test_huber_with_a_non_positive_delta_raises_config_error():
    with pytest.raises(cr.ConfigError, match="delta"):
        F.huber_loss(t64([0.0]), t64([1.0]), delta=0.0)


def test_binary_cross_entropy_clamps_log_at_minus_100_as_pytorch():
    p = t64([0.0, 1.0])
    out = F.binary_cross_entropy(p, t64([1.0, 0.0], requires_grad=False), reduction="none")
    np.testing.assert_allclose(out.data, [100.0, 100.0])
    out.sum().backward()
    assert np.isfinite(p.grad).all()


def test_binary_cross_entropy_rejects_values_outside_0_1_with_a_hint_about_logits():
    with pytest.raises(cr.DataError, match="with_logits"):
        F.binary_cross_entropy(t64([1.5]), t64([1.0]))


def test_binary_cross_entropy_with_logits_is_stable_for_huge_logits():
    z = cr.tensor([1e4, -1e4, 30.0], requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = F.binary_cross_entropy_with_logits(z, np.array([0.0, 1.0, 1.0]), reduction="none")
        out.sum().backward()
    np.testing.assert_allclose(out.data, [1e4, 1e4, np.log1p(np.exp(-30.0))], rtol=1e-6)
    np.testing.assert_allclose(z.grad, [1.0, -1.0, 0.0], atol=1e-7)


# --------------------------------------------------------------- cross-entropy and nll
@st.composite
def logits_and_labels(draw, lo=-5.0, hi=5.0):
    n, c = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    z = draw(floats64((n, c), lo=lo, hi=hi))
    y = np.array(draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    return z, y


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(zy=logits_and_labels())
def test_cross_entropy_with_integer_labels_matches_numpy_and_passes_gradcheck(reduction, zy):
    z, y = zy
    out = F.cross_entropy(t64(z), y, reduction=reduction)
    ref = -_np_log_softmax(z)[np.arange(len(y)), y]
    np.testing.assert_allclose(out.data, reduce(ref, reduction), rtol=1e-12, atol=1e-12)
    assert cr.gradcheck(lambda a: F.cross_entropy(a, y, reduction=reduction), [t64(z)])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data(), zy=logits_and_labels())
def test_cross_entropy_with_probability_targets_matches_numpy_and_passes_gradcheck(
        reduction, data, zy):
    z, _ = zy
    raw = data.draw(floats64(z.shape, lo=0.01, hi=1.0))
    t = raw / raw.sum(axis=1, keepdims=True)
    out = F.cross_entropy(t64(z), t64(t), reduction=reduction)
    ref = -(t * _np_log_softmax(z)).sum(axis=1)
    np.testing.assert_allclose(out.data, reduce(ref, reduction), rtol=1e-12, atol=1e-12)
    assert cr.gradcheck(lambda a, b: F.cross_entropy(a, b, reduction=reduction),
                        [t64(z), t64(t)])


def test_cross_entropy_with_one_hot_targets_equals_integer_labels():
    z = t64(np.random.default_rng(0).standard_normal((4, 3)))
    y = np.array([2, 0, 1, 1])
    a = F.cross_entropy(z, y)
    b = F.cross_entropy(z, np.eye(3)[y])
    np.testing.assert_allclose(a.data, b.data)


@pytest.mark.parametrize("labels", [np.array([0, 2], dtype=np.int32), np.array([0.0, 2.0]),
                                    cr.tensor([0, 2]), [0, 2]], ids=["int32", "float", "tensor",
                                                                     "list"])
def test_cross_entropy_accepts_labels_of_any_integer_valued_kind(labels):
    z = t64([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    expected = F.cross_entropy(z, np.array([0, 2])).item()
    assert F.cross_entropy(z, labels).item() == pytest.approx(expected)


def test_cross_entropy_is_one_fused_graph_node():
    z = t64(np.zeros((2, 3)))
    out = F.cross_entropy(z, np.array([0, 1]))
    assert out.op == "cross_entropy" and out.parents == (z,)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_is_stable_for_logits_of_magnitude_1e3(dtype):
    z = cr.tensor([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, 1000.0],
                   [1000.0, 1000.0, 1000.0]], requires_grad=True, dtype=dtype)
    y = np.array([1, 2, 0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = F.cross_entropy(z, y, reduction="none")
        out.sum().backward()
    np.testing.assert_allclose(out.data, [2000.0, 0.0, np.log(3.0)], rtol=1e-6)
    np.testing.assert_allclose(z.grad, [[1, -1, 0], [0, 0, 0], [-2 / 3, 1 / 3, 1 / 3]],
                               atol=1e-6)
    assert out.dtype == dtype and z.grad.dtype == dtype


def test_cross_entropy_with_probability_targets_is_stable_for_huge_logits():
    z = cr.tensor([[1000.0, -1000.0, 0.0], [-1e4, 1e4, 0.0]], requires_grad=True)
    t = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = F.cross_entropy(z, t, reduction="none")
        out.sum().backward()
    np.testing.assert_allclose(out.data, [1000.0, 10000.0])
    np.testing.assert_allclose(z.grad, [[0.5, -0.5, 0.0], [0.0, 1.0, -1.0]], atol=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(zy=logits_and_labels())
def test_nll_loss_matches_numpy_and_passes_gradcheck(reduction, zy):
    z, y = zy
    out = F.nll_loss(t64(z), y, reduction=reduction)
    np.testing.assert_allclose(out.data, reduce(-z[np.arange(len(y)), y], reduction))
    assert cr.gradcheck(lambda a: F.nll_loss(a, y, reduction=reduction), [t64(z)])


def test_nll_of_log_softmax_equals_cross_entropy():
    z = t64(np.random.default_rng(3).standard_normal((5, 4)))
    y = np.array([0, 3, 1, 1, 2])
    np.testing.assert_allclose(F.nll_loss(F.log_softmax(z, axis=1), y).data,
                               F.cross_entropy(z, y).data)


@pytest.mark.parametrize("fn", [F.cross_entropy, F.nll_loss], ids=["cross_entropy", "nll"])
def test_class_labels_out_of_range_raise_data_error_naming_the_range(fn):
    with pytest.raises(cr.DataError, match=r"\[0, 2\].*3 classes"):
        fn(cr.zeros(2, 3), np.array([0, 3]))


@pytest.mark.parametrize("fn", [F.cross_entropy, F.nll_loss], ids=["cross_entropy", "nll"])
def test_non_integer_class_labels_raise_data_error(fn):
    with pytest.raises(cr.DataError, match="whole numbers"):
        fn(cr.zeros(2, 3), np.array([0.5, 1.0]))


@pytest.mark.parametrize("fn", [F.cross_entropy, F.nll_loss], ids=["cross_entropy", "nll"])
def test_wrong_number_of_labels_raises_shape_error(fn):
    with pytest.raises(cr.ShapeError, match=r"\(2,\).*\(3,\)"):
        fn(cr.zeros(2, 3), np.array([0, 1, 2]))


def test_nll_of_log_probabilities_that_are_not_2d_raises_shape_error():
    with pytest.raises(cr.ShapeError, match=r"\(N, C\).*\(2, 3, 4\)"):
        F.nll_loss(cr.zeros(2, 3, 4), np.array([0, 1]))


def test_one_dimensional_logits_raise_shape_error():
    with pytest.raises(cr.ShapeError, match=r"\(N, C\).*\(4,\)"):
        F.cross_entropy(cr.zeros(4), np.array([0]))


def test_sequence_logits_with_labels_of_the_wrong_shape_raise_shape_error():
    with pytest.raises(cr.ShapeError, match=r"\(2, 3\).*\(2,\)"):
        F.cross_entropy(cr.zeros(2, 3, 4), np.array([0, 1]))


# --------------------------------------------------------------- every loss
ALL_LOSSES = {
    "mse_loss": lambda r: F.mse_loss(cr.zeros(2, 2), cr.ones(2, 2), reduction=r),
    "l1_loss": lambda r: F.l1_loss(cr.zeros(2, 2), cr.ones(2, 2), reduction=r),
    "huber_loss": lambda r: F.huber_loss(cr.zeros(2, 2), cr.ones(2, 2), reduction=r),
    "cross_entropy": lambda r: F.cross_entropy(cr.zeros(2, 2), np.array([0, 1]), reduction=r),
    "nll_loss": lambda r: F.nll_loss(cr.zeros(2, 2), np.array([0, 1]), reduction=r),
    "binary_cross_entropy": lambda r: F.binary_cross_entropy(cr.ones(2, 2) * 0.5, cr.ones(2, 2),
                                                             reduction=r),
    "binary_cross_entropy_with_logits":
        lambda r: F.binary_cross_entropy_with_logits(cr.zeros(2, 2), cr.ones(2, 2), reduction=r),
}


@pytest.mark.parametrize("name", sorted(ALL_LOSSES))
def test_unknown_reduction_raises_config_error_listing_the_valid_ones(name):
    with pytest.raises(cr.ConfigError) as info:
        ALL_LOSSES[name]("average")
    msg = str(info.value)
    assert name in msg and "'average'" in msg
    assert all(f"'{r}'" in msg for r in REDUCTIONS)


@pytest.mark.parametrize("name", sorted(ALL_LOSSES))
def test_loss_sum_is_mean_times_count_and_none_keeps_one_value_per_example(name):
    mean, total, none = (ALL_LOSSES[name](r) for r in REDUCTIONS)
    assert mean.shape == () and total.shape == ()
    assert total.item() == pytest.approx(mean.item() * none.size)
    assert none.data.sum() == pytest.approx(total.item())


@pytest.mark.parametrize("name", sorted(ALL_LOSSES))
def test_loss_of_float32_inputs_is_float32(name):
    assert ALL_LOSSES[name]("mean").dtype == np.float32


@pytest.mark.parametrize("fn", [F.mse_loss, F.l1_loss, F.huber_loss, F.binary_cross_entropy,
                                F.binary_cross_entropy_with_logits])
def test_elementwise_loss_of_mismatched_shapes_raises_shape_error_naming_both(fn):
    with pytest.raises(cr.ShapeError, match=r"\(4, 1\).*\(4,\)"):
        fn(cr.ones(4, 1) * 0.5, cr.ones(4))


def test_loss_targets_may_be_arrays_and_get_no_gradient():
    p = t64([0.5, 2.0])
    F.mse_loss(p, np.array([1.0, 1.0])).backward()
    np.testing.assert_allclose(p.grad, [-0.5, 1.0])


def test_cross_entropy_over_sequences_passes_gradcheck():
    rng = np.random.default_rng(0)
    logits, y = rng.standard_normal((2, 3, 4)), rng.integers(0, 4, (2, 3))
    for reduction in ("mean", "sum", "none"):
        assert cr.gradcheck(lambda z, r=reduction: F.cross_entropy(z, y, reduction=r),
                            [cr.tensor(logits, requires_grad=True, dtype=np.float64)])


def test_cross_entropy_over_sequences_matches_pytorch(torch):
    rng = np.random.default_rng(1)
    logits, y = rng.standard_normal((2, 5, 3)), rng.integers(0, 3, (2, 5))
    z = cr.tensor(logits, requires_grad=True, dtype=np.float64)
    per = F.cross_entropy(z, y, reduction="none")
    assert per.shape == (2, 5)
    F.cross_entropy(z, y).backward()
    tz = torch.tensor(logits, requires_grad=True)
    tl = torch.nn.functional.cross_entropy(tz.permute(0, 2, 1), torch.tensor(y))
    tl.backward()
    assert abs(per.data.mean() - tl.item()) < 1e-12
    np.testing.assert_allclose(z.grad, tz.grad.numpy(), atol=1e-12)


def test_cross_entropy_sequence_labels_in_pytorchs_layout_get_a_hint():
    from chainrule.errors import ShapeError
    with pytest.raises(ShapeError, match="transpose"):
        F.cross_entropy(cr.zeros(2, 3, 5), np.zeros((2, 5), dtype=int))


def test_cross_entropy_of_logits_with_no_classes_raises_shape_error():
    with pytest.raises(cr.ShapeError, match="no classes"):
        F.cross_entropy(np.zeros((3, 0), np.float32), np.zeros(3, int))


def test_cross_entropy_of_a_row_holding_nan_is_nan_and_other_rows_stay_finite():
    z = np.array([[1.0, np.nan, 0.0], [1.0, 2.0, 0.5]], np.float32)
    per = F.cross_entropy(z, np.array([0, 1]), reduction="none").data
    assert np.isnan(per[0]) and np.isfinite(per[1])
