"""Loading digits once, and preparing a drawing as MNIST was made."""
from __future__ import annotations

import numpy as np
import pytest

from chainrule.playground.digits import load_digits, prepare_drawing


def test_prepare_drawing_centres_like_mnist():
    pad = np.zeros((28, 28))
    pad[0:10, 0:4] = 255  # a short stroke in the corner
    x = prepare_drawing(pad.reshape(-1), 28).reshape(28, 28)
    rows, cols = np.nonzero(x > 0.05)
    assert rows.max() - rows.min() + 1 == 20          # scaled so the long side is 20
    cy = (x.sum(axis=1) @ np.arange(28)) / x.sum()
    cx = (x.sum(axis=0) @ np.arange(28)) / x.sum()
    assert abs(cy - 13.5) <= 1 and abs(cx - 13.5) <= 1  # centre of mass in the middle
    assert x.max() == pytest.approx(1.0)
    small = prepare_drawing(pad.reshape(-1), 8)
    assert small.shape == (64,) and small.max() == pytest.approx(1.0)
    assert prepare_drawing(np.zeros(784), 28) is None


def test_load_digits_falls_back_to_the_bundled_digits(tmp_path):
    d = load_digits(str(tmp_path))
    assert d.side == 8 and d.x_train.shape[1] == 64
    assert 0 <= d.x_train.min() and d.x_train.max() <= 1
    assert "bundled digits" in d.source and "--data-dir" in d.source
    assert load_digits(str(tmp_path)) is d  # loaded once, shared


def test_load_digits_reads_mnist_when_present(mnist_dir):
    from chainrule.playground import digits as session_module

    try:
        d = load_digits(str(mnist_dir))
        assert d.side == 28 and d.x_train.shape == (60000, 784) and d.x_test.shape == (10000, 784)
        assert 0 <= d.x_train.min() and d.x_train.max() <= 1
        assert "MNIST" in d.source
    finally:  # do not keep 200 MB alive for the rest of the test run
        session_module._DIGIT_CACHE.pop(str(mnist_dir), None)
