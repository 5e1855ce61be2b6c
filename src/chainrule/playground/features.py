"""Input features of the 2-D playground: what the first layer sees of a point (x₁, x₂).

As in the TensorFlow Playground a learner may feed the network more than the raw coordinates:
squares, their product and sines. Each is a column computed from the point; a network with
x₁x₂ solves XOR with no hidden layer, and sines make the spiral learnable by a small net.
The page draws each chosen feature as an input node with its own heat map.

The features mean what TensorFlow Playground's mean. Its plane spans −6..6 and its sine
feature is sin x₁: about two waves across the plane. chainrule's toy problems fill about
−1..1 (inputs of order one, so that the default learning rate suits every problem), which is
TensorFlow Playground's plane scaled by 1/6; the same feature -- the same two waves -- is
therefore sin 6x₁ here, and the page labels it so. (Squares and the product need no such
factor: scaling the plane scales them, their picture stays the same.)
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

SINE_SCALE = 6.0   # TensorFlow Playground's half-width (6) over ours (1)

# name -> (label on the page, function of the (N, 2) points giving (N,) values)
FEATURES: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]] = {
    "x1": ("x₁", lambda p: p[:, 0]),
    "x2": ("x₂", lambda p: p[:, 1]),
    "x1sq": ("x₁²", lambda p: p[:, 0] ** 2),
    "x2sq": ("x₂²", lambda p: p[:, 1] ** 2),
    "x1x2": ("x₁x₂", lambda p: p[:, 0] * p[:, 1]),
    "sin_x1": ("sin 6x₁", lambda p: np.sin(SINE_SCALE * p[:, 0])),
    "sin_x2": ("sin 6x₂", lambda p: np.sin(SINE_SCALE * p[:, 1])),
}
NAMES: tuple[str, ...] = tuple(FEATURES)


def transform(points: np.ndarray, names: list[str]) -> np.ndarray:
    """(N, 2) points -> (N, len(names)) float32 feature columns, in the order given."""
    p = np.asarray(points, dtype=np.float64)
    return np.stack([FEATURES[n][1](p) for n in names], axis=1).astype(np.float32)


def labels(names: list[str]) -> list[str]:
    return [FEATURES[n][0] for n in names]
