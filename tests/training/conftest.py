"""Small, fast problems for the training tests."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn


def blobs(n=120, seed=0):
    """Three Gaussian blobs in 4-D: an easy 3-class problem (X float32 (n, 4), y int64 (n,))."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centres = np.array([[2, 0, 0, 0], [0, 2, 0, 0], [0, 0, 2, 0]], np.float32)
    x = centres[y] + rng.normal(scale=0.6, size=(n, 4)).astype(np.float32)
    return x.astype(np.float32), y.astype(np.int64)


def mlp(seed=0, dropout=0.0):
    cr.manual_seed(seed)
    layers = [nn.Linear(4, 16), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers, nn.Linear(16, 3))


@pytest.fixture
def data():
    return blobs(120, 0), blobs(60, 1)
