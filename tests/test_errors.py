"""The error hierarchy and the messages of the errors a user can cause in the engine."""
import re

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import errors

BUILTIN_BASE = {
    "ShapeError": ValueError, "BackwardError": RuntimeError, "GradcheckError": AssertionError,
    "AnomalyError": FloatingPointError, "ConfigError": ValueError, "DataError": ValueError,
    "DatasetNotFoundError": FileNotFoundError, "DownloadError": OSError,
    "ModelFileError": ValueError,
}


@pytest.mark.parametrize("name", sorted(BUILTIN_BASE))
def test_every_error_is_a_chainrule_error_and_the_builtin_a_user_would_expect(name):
    cls = getattr(cr, name)
    assert cls is getattr(errors, name)
    assert issubclass(cls, cr.ChainruleError) and issubclass(cls, BUILTIN_BASE[name])


def test_every_exported_error_is_a_chainrule_error():
    for name in errors.__all__:
        assert issubclass(getattr(cr, name), cr.ChainruleError)


# (what the user did, the error, what the message must say)
CASES = {
    "matmul shapes": (lambda: cr.zeros(2, 3) @ cr.zeros(4, 5), cr.ShapeError,
                      [r"matmul", r"\(2, 3\)", r"\(4, 5\)"]),
    "matmul vector shapes": (lambda: cr.zeros(3) @ cr.zeros(4), cr.ShapeError,
                             [r"matmul", r"\(3,\)", r"\(4,\)"]),
    "matmul batch dims": (lambda: cr.zeros(2, 3, 4) @ cr.zeros(5, 4, 2), cr.ShapeError,
                          [r"matmul", r"\(2, 3, 4\)", r"\(5, 4, 2\)"]),
    "matmul 0-d": (lambda: cr.zeros(()) @ cr.zeros(3), cr.ShapeError, [r"matmul", r"dimension"]),
    "add broadcast": (lambda: cr.zeros(2, 3) + cr.zeros(4), cr.ShapeError,
                      [r"add", r"\(2, 3\)", r"\(4,\)", r"broadcast"]),
    "mul broadcast with ndarray": (lambda: np.zeros(5) * cr.zeros(2), cr.ShapeError,
                                   [r"mul", r"\(5,\)", r"\(2,\)"]),
    "backward non-scalar": (lambda: (cr.zeros(2, 3, requires_grad=True) * 2).backward(),
                            cr.BackwardError, [r"scalar", r"\(2, 3\)", r"grad"]),
    "backward no grad": (lambda: cr.zeros(1).backward(), cr.BackwardError,
                         [r"does not require grad"]),
    "backward grad shape": (lambda: (cr.zeros(2, requires_grad=True) * 2).backward(np.ones(3)),
                            cr.ShapeError, [r"\(3,\)", r"\(2,\)"]),
    "unknown reduction": (lambda: F.mse_loss(cr.zeros(2), cr.zeros(2), reduction="avg"),
                          cr.ConfigError, [r"mse_loss", r"'mean'", r"'sum'", r"'none'", r"'avg'"]),
    "cross-entropy labels": (lambda: F.cross_entropy(cr.zeros(2, 3), np.array([0, 5])),
                             cr.DataError, [r"cross_entropy", r"\[0, 2\]", r"5"]),
    "reshape": (lambda: cr.zeros(2, 3).reshape(4, 2), cr.ShapeError, [r"\(2, 3\)", r"\(4, 2\)"]),
    "axis": (lambda: cr.zeros(2, 3).sum(axis=2), cr.ShapeError, [r"axis 2", r"\(2, 3\)"]),
    "index": (lambda: cr.zeros(2, 3)[5], cr.ShapeError, [r"\(2, 3\)"]),
    "linear": (lambda: F.linear(cr.zeros(2, 5), cr.zeros(3, 4)), cr.ShapeError,
               [r"linear", r"\(2, 5\)", r"\(3, 4\)"]),
    "mse shapes": (lambda: F.mse_loss(cr.zeros(3, 1), cr.zeros(3)), cr.ShapeError,
                   [r"mse_loss", r"\(3, 1\)", r"\(3,\)"]),
    "dropout p": (lambda: F.dropout(cr.zeros(2), 1.2), cr.ConfigError, [r"dropout", r"1\.2"]),
    "requires_grad int": (lambda: cr.tensor([1], dtype=np.int32, requires_grad=True),
                          cr.ConfigError, [r"int32"]),
    "bad data": (lambda: cr.tensor({"a": 1}), cr.DataError, [r"tensor"]),
    "negative shape": (lambda: cr.zeros(-2), cr.ConfigError, [r"-2"]),
    "retain_grad": (lambda: cr.zeros(2).retain_grad(), cr.BackwardError, [r"retain_grad"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_error_message_names_the_op_and_the_values_seen(case):
    action, cls, fragments = CASES[case]
    with pytest.raises(cls) as info:
        action()
    assert isinstance(info.value, cr.ChainruleError)
    for fragment in fragments:
        assert _search(fragment, str(info.value)), f"{fragment!r} not in {info.value}"


def _search(pattern, text):
    return re.search(pattern, text) is not None


def test_shape_errors_can_be_caught_as_value_error():
    with pytest.raises(ValueError):
        cr.zeros(2) + cr.zeros(3)
