"""Tensor and the creation functions: dtypes, attributes, conversions, detach."""
import numpy as np
import pytest

import chainrule as cr


# --------------------------------------------------------------- dtypes
@pytest.mark.parametrize("data", [np.array([1.5, 2.5]), [1.5, 2.5], 3.0,
                                  np.array([1.0], dtype=np.float16)],
                         ids=["float64 array", "list", "python float", "float16"])
def test_float_data_becomes_float32_by_default(data):
    assert cr.tensor(data).dtype == np.float32


@pytest.mark.parametrize("data", [[1, 2, 3], np.arange(3), np.array([True, False]), 7],
                         ids=["int list", "int64 array", "bool", "python int"])
def test_integer_and_bool_data_become_float32_by_default(data):
    t = cr.tensor(data)
    assert t.dtype == np.float32
    np.testing.assert_array_equal(t.data, np.asarray(data, dtype=np.float32))


def test_float64_is_kept_when_asked():
    t = cr.tensor([1.0, 2.0], dtype=np.float64)
    assert t.dtype == np.float64
    assert cr.tensor(np.ones(2), dtype="float64").dtype == np.float64


def test_integer_dtype_is_kept_when_asked():
    t = cr.tensor([1, 2], dtype=np.int64)
    assert t.dtype == np.int64


def test_only_floating_point_tensors_can_require_grad():
    with pytest.raises(cr.ConfigError, match="floating-point"):
        cr.tensor([1, 2], dtype=np.int64, requires_grad=True)


def test_non_numeric_data_raises_data_error():
    with pytest.raises(cr.DataError, match="dtype"):
        cr.tensor(["a", "b"])
    with pytest.raises(cr.DataError):
        cr.tensor([[1.0, 2.0], [3.0]])  # ragged


def test_tensor_of_a_tensor_takes_its_values():
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    b = cr.tensor(a)
    np.testing.assert_array_equal(b.data, a.data)
    assert not b.requires_grad and b.is_leaf


def test_tensor_copies_its_data_so_in_place_updates_do_not_reach_the_source():
    src = np.zeros(3, dtype=np.float32)
    t = cr.tensor(src, requires_grad=True)
    t.data -= 1.0  # what an optimizer step does
    np.testing.assert_array_equal(src, np.zeros(3))


def test_from_numpy_keeps_the_dtype_and_shares_memory():
    a = np.arange(4.0)  # float64
    t = cr.from_numpy(a)
    assert t.dtype == np.float64
    a[0] = 10.0
    assert t.data[0] == 10.0
    assert cr.from_numpy(np.arange(3, dtype=np.int32)).dtype == np.int32


def test_from_numpy_rejects_non_arrays():
    with pytest.raises(cr.DataError, match="numpy.ndarray"):
        cr.from_numpy([1.0, 2.0])


# --------------------------------------------------------------- creation functions
@pytest.mark.parametrize("fn", [cr.zeros, cr.ones, cr.randn, cr.rand])
def test_creation_takes_shape_as_varargs_or_tuple_and_defaults_to_float32(fn):
    assert fn(2, 3).shape == (2, 3)
    assert fn((2, 3)).shape == (2, 3)
    assert fn([4]).shape == (4,)
    assert fn().shape == ()
    assert fn(2, 3).dtype == np.float32
    assert fn(2, dtype=np.float64).dtype == np.float64
    t = fn(2, requires_grad=True)
    assert t.requires_grad and t.is_leaf


@pytest.mark.parametrize("fn", [cr.zeros, cr.ones, cr.randn, cr.rand])
def test_creation_rejects_bad_shapes(fn):
    with pytest.raises(cr.ConfigError, match="negative"):
        fn(2, -1)
    with pytest.raises(cr.ConfigError, match="integers"):
        fn("a")


def test_zeros_and_ones_values():
    np.testing.assert_array_equal(cr.zeros(2, 2).data, np.zeros((2, 2)))
    np.testing.assert_array_equal(cr.ones(3).data, np.ones(3))


def test_zeros_like_and_ones_like_keep_shape_and_dtype():
    x = cr.tensor(np.ones((2, 3)), dtype=np.float64)
    for t in (cr.zeros_like(x), cr.ones_like(x)):
        assert t.shape == (2, 3) and t.dtype == np.float64
    assert cr.ones_like(np.zeros(2)).data.tolist() == [1.0, 1.0]


def test_randn_and_rand_are_reproducible_with_manual_seed():
    cr.manual_seed(123)
    a, b = cr.randn(5), cr.rand(5)
    cr.manual_seed(123)
    np.testing.assert_array_equal(cr.randn(5).data, a.data)
    np.testing.assert_array_equal(cr.rand(5).data, b.data)


def test_rand_is_uniform_in_0_1_and_randn_is_standard_normal():
    cr.manual_seed(0)
    u, n = cr.rand(10000).data, cr.randn(10000).data
    assert u.min() >= 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.02
    assert abs(n.mean()) < 0.05 and abs(n.std() - 1) < 0.05


@pytest.mark.parametrize("args, expected", [((5,), np.arange(5)), ((1, 4), np.arange(1, 4)),
                                            ((0, 1, 0.25), np.arange(0, 1, 0.25)),
                                            ((5, 0, -2), np.arange(5, 0, -2))])
def test_arange_matches_numpy_in_float32(args, expected):
    t = cr.arange(*args)
    assert t.dtype == np.float32
    np.testing.assert_array_equal(t.data, expected.astype(np.float32))


def test_arange_dtype_and_requires_grad():
    t = cr.arange(3, dtype=np.float64, requires_grad=True)
    assert t.dtype == np.float64 and t.requires_grad


def test_arange_with_only_stop_and_a_step_uses_the_step():
    np.testing.assert_array_equal(cr.arange(10, step=2).data, [0, 2, 4, 6, 8])


# --------------------------------------------------------------- attributes and conversions
def test_array_like_attributes():
    t = cr.tensor(np.zeros((2, 3, 4)))
    assert t.shape == (2, 3, 4) and t.ndim == 3 and t.size == 24 and t.dtype == np.float32
    assert isinstance(t.data, np.ndarray)
    assert len(t) == 2


def test_a_new_leaf_has_no_grad_and_is_a_leaf():
    t = cr.tensor([1.0], requires_grad=True)
    assert t.grad is None and t.is_leaf and t.op == "leaf" and t.parents == ()


def test_op_results_record_their_op_and_parents():
    a, b = cr.tensor([1.0], requires_grad=True), cr.tensor([2.0])
    c = a * b
    assert c.op == "mul" and not c.is_leaf
    assert c.parents == (a,)  # only inputs that require grad are kept


def test_numpy_returns_the_underlying_array():
    t = cr.tensor([1.0, 2.0])
    assert t.numpy() is t.data
    assert np.asarray(t) is t.data
    assert np.asarray(t, dtype=np.float64).dtype == np.float64


def test_np_array_of_a_tensor_is_a_copy():
    t = cr.tensor([1.0, 2.0])
    a = np.array(t)
    a[0] = 100.0
    assert t.data[0] == 1.0


def test_item_float_int_and_tolist():
    assert cr.tensor(2.5).item() == 2.5
    assert isinstance(cr.tensor([[3.0]]).item(), float)
    assert float(cr.tensor(1.5)) == 1.5 and int(cr.tensor(2.0)) == 2
    assert cr.tensor([[1.0, 2.0]]).tolist() == [[1.0, 2.0]]


def test_item_of_several_elements_raises_shape_error_naming_the_shape():
    with pytest.raises(cr.ShapeError, match=r"\(2,\)"):
        cr.tensor([1.0, 2.0]).item()


def test_truth_value_of_several_elements_is_ambiguous():
    assert bool(cr.tensor([1.0])) is True
    with pytest.raises(cr.ShapeError, match="ambiguous"):
        bool(cr.tensor([1.0, 2.0]))


def test_len_of_a_0d_tensor_raises_shape_error():
    with pytest.raises(cr.ShapeError, match="0-d"):
        len(cr.tensor(1.0))


def test_comparisons_give_boolean_arrays_without_gradient():
    t = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for result, expected in [(t < 2, [True, False, False]), (t <= 2, [True, True, False]),
                             (t > cr.tensor(2.0), [False, False, True]),
                             (t >= 2, [False, True, True])]:
        assert isinstance(result, np.ndarray) and result.dtype == bool
        np.testing.assert_array_equal(result, expected)


def test_argmax_and_argmin_return_index_arrays():
    t = cr.tensor([[1.0, 5.0], [7.0, 2.0]])
    np.testing.assert_array_equal(t.argmax(axis=1), [1, 0])
    np.testing.assert_array_equal(t.argmin(axis=0), [0, 1])
    assert t.argmax() == 2


def test_repr_shows_values_and_whether_it_requires_grad():
    r = repr(cr.tensor([1.0, 2.0], requires_grad=True))
    assert r.startswith("tensor(") and "1." in r and "requires_grad=True" in r
    assert "float64" in repr(cr.tensor([1.0], dtype=np.float64))
    assert "op=add" in repr(cr.tensor([1.0], requires_grad=True) + 1)


# --------------------------------------------------------------- detach and astype
def test_detach_shares_data_but_leaves_the_graph():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    d = y.detach()
    assert d.is_leaf and not d.requires_grad and d.grad is None
    assert np.shares_memory(d.data, y.data)
    (d * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])  # d is a constant: no path through y


def test_astype_converts_and_casts_the_gradient_back():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x.astype(np.float64)
    assert y.dtype == np.float64
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])


def test_zero_grad_forgets_the_gradient():
    x = cr.tensor([1.0], requires_grad=True)
    (x * 3).sum().backward()
    x.zero_grad()
    assert x.grad is None


# --------------------------------------------------------------- the public names (DESIGN §2)
ENGINE_NAMES = ["Tensor", "tensor", "from_numpy", "zeros", "ones", "randn", "rand", "arange",
                "no_grad", "detect_anomaly", "gradcheck", "concatenate", "stack", "where",
                "maximum", "minimum", "manual_seed", "ChainruleError"]
FUNCTIONAL_NAMES = ["relu", "leaky_relu", "gelu", "sigmoid", "tanh", "softmax", "log_softmax",
                    "logsumexp", "mse_loss", "l1_loss", "huber_loss", "cross_entropy",
                    "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
                    "linear", "dropout", "conv2d", "max_pool2d", "avg_pool2d", "batch_norm"]
TENSOR_METHODS = ["exp", "log", "sqrt", "abs", "tanh", "sigmoid", "relu", "clip", "sum", "mean",
                  "max", "min", "var", "reshape", "transpose", "T", "flatten", "backward",
                  "zero_grad", "detach", "numpy", "item", "retain_grad"]


@pytest.mark.parametrize("name", ENGINE_NAMES)
def test_engine_names_are_exported_by_chainrule(name):
    assert hasattr(cr, name) and name in cr.__all__


@pytest.mark.parametrize("name", FUNCTIONAL_NAMES)
def test_functional_names_are_exported_by_nn_functional(name):
    import chainrule.nn.functional as F
    assert callable(getattr(F, name)) and name in F.__all__


@pytest.mark.parametrize("name", TENSOR_METHODS)
def test_tensor_has_the_documented_methods(name):
    assert hasattr(cr.Tensor, name)
