"""cr.gradcheck: finite differences in float64 against backpropagation."""
import re

import numpy as np
import pytest

import chainrule as cr
from chainrule.tensor import make


def t64(a, requires_grad=True):
    return cr.tensor(a, requires_grad=requires_grad, dtype=np.float64)


def wrong_square(x, factor=3.0):
    """x² with a deliberately wrong VJP (factor·x instead of 2x)."""
    return make(x.data ** 2, "wrong_square", (x, lambda g: g * factor * x.data))


def test_gradcheck_returns_true_for_correct_gradients():
    a = t64(np.linspace(-1, 1, 6).reshape(2, 3))
    b = t64(np.linspace(0.5, 2, 12).reshape(4, 3))
    assert cr.gradcheck(lambda p, q: (p[:, None, :] * q).tanh().sum(axis=2) @ q, [a, b]) is True


def test_gradcheck_catches_a_wrong_vjp_naming_input_element_and_both_values():
    x = t64([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(cr.GradcheckError) as info:
        cr.gradcheck(wrong_square, [x])
    msg = str(info.value)
    assert "input #0" in msg and "(2, 2)" in msg       # which input, and its shape
    assert "element (0, 0)" in msg                      # which element
    # both values: for s = Σ r·f(x), backprop gives r·3x, finite differences r·2x (x = 1 here)
    values = [float(v) for v in re.findall(r"give[s]? (-?[\d.]+(?:e[-+]?\d+)?)", msg)]
    assert len(values) == 2
    assert values[0] == pytest.approx(1.5 * values[1], rel=1e-4)


def test_gradcheck_names_the_failing_input_among_several_and_uses_its_name():
    a, b = t64([1.0, 2.0]), t64([3.0, 4.0])
    b.name = "weights"
    with pytest.raises(cr.GradcheckError, match=r"input #1 \('weights'\)"):
        cr.gradcheck(lambda p, q: p * 2 + wrong_square(q), [a, b])


def test_gradcheck_checks_only_inputs_marked_requires_grad():
    good = t64([1.0, 2.0])
    unchecked = t64([3.0, 4.0], requires_grad=False)
    assert cr.gradcheck(lambda p, q: p * wrong_square(q), [good, unchecked])


def test_gradcheck_checks_every_input_when_none_is_marked():
    with pytest.raises(cr.GradcheckError, match="input #1"):
        cr.gradcheck(lambda p, q: p * wrong_square(q), [np.array([1.0]), np.array([2.0])])


def test_gradcheck_works_in_float64_and_leaves_the_inputs_untouched():
    x = cr.tensor([1.0, 2.0], requires_grad=True)  # float32
    before = x.data.copy()
    seen = []
    cr.gradcheck(lambda t: seen.append(t.dtype) or t * t, [x])
    assert set(seen) == {np.dtype(np.float64)}
    np.testing.assert_array_equal(x.data, before)
    assert x.grad is None and x.dtype == np.float32


def test_gradcheck_perturbs_inputs_of_any_memory_layout():
    w = cr.from_numpy(np.asfortranarray(np.arange(6.0).reshape(2, 3)), requires_grad=True)
    assert cr.gradcheck(lambda a: (a * a).sum(axis=0), [w])
    bad = lambda a: make(a.data.sum(axis=0), "bad", (a, lambda g: np.zeros((2, 3))))  # noqa: E731
    with pytest.raises(cr.GradcheckError, match=r"element \(0, 0\)"):
        cr.gradcheck(bad, [w])


def test_gradcheck_tolerances_decide_how_close_is_close_enough():
    x = t64([1.0, 2.0])
    slightly = lambda t: wrong_square(t, factor=2.0 + 1e-5)  # noqa: E731 - relative error 5e-6
    assert cr.gradcheck(slightly, [x])
    with pytest.raises(cr.GradcheckError):
        cr.gradcheck(slightly, [x], atol=0.0, rtol=1e-7)


def test_gradcheck_eps_is_the_finite_difference_step():
    # a kink at 0: a big step straddling it averages the two slopes and disagrees
    x = t64([1e-3])
    assert cr.gradcheck(lambda t: t.abs(), [x], eps=1e-6)
    with pytest.raises(cr.GradcheckError):
        cr.gradcheck(lambda t: t.abs(), [x], eps=1e-2)


def test_gradcheck_handles_scalar_outputs_and_inputs():
    assert cr.gradcheck(lambda t: (t * t).sum(), [t64(np.arange(3.0))])
    assert cr.gradcheck(lambda t: t.exp(), [t64(0.5)])


def test_gradcheck_works_inside_no_grad():
    with cr.no_grad():
        assert cr.gradcheck(lambda t: t * t, [t64([1.0])])


def test_gradcheck_reports_an_output_that_does_not_depend_on_the_inputs():
    with pytest.raises(cr.GradcheckError, match="does not depend"):
        cr.gradcheck(lambda t: cr.tensor([1.0]), [t64([1.0])])


def test_gradcheck_reports_a_function_that_returns_no_tensor():
    with pytest.raises(cr.GradcheckError, match="must return a Tensor"):
        cr.gradcheck(lambda t: t.data * 2, [t64([1.0])])


def test_gradcheck_error_is_a_chainrule_error_and_an_assertion_error():
    assert issubclass(cr.GradcheckError, cr.ChainruleError)
    assert issubclass(cr.GradcheckError, AssertionError)


def test_gradcheck_default_tolerances_are_the_documented_ones():
    import inspect
    params = inspect.signature(cr.gradcheck).parameters
    assert (params["eps"].default, params["atol"].default, params["rtol"].default) == \
        (1e-6, 1e-5, 1e-3)
