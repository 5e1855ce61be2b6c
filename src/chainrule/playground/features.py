"""Input features of the 2-D playground: what the first layer sees of a point (x₁, x₂).

As in the TensorFlow Playground a learner may feed the network more than the raw coordinates:
squares, their product and sines. Each is a column computed from the point; a network with
x₁x₂ solves XOR with no hidden layer, and sines make the spiral learnable by a small net.
The page draws each chosen feature as an input node with its own heat map.

Coordinates lie in about [-1, 1]; the sines take π·x so that they make one full wave across
the square (sin x₁ itself would be almost a straight line there).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

# name -> (label on the page, function of the (N, 2) points giving (N,) values)
FEATURES: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]] = {
    "x1": ("x₁", lambda p: p[:, 0]),
    "x2": ("x₂", lambda p: p[:, 1]),
    "x1sq": ("x₁²", lambda p: p[:, 0] ** 2),
    "x2sq": ("x₂²", lambda p: p[:, 1] ** 2),
    "x1x2": ("x₁x₂", lambda p: p[:, 0] * p[:, 1]),
    "sin_x1": ("sin πx₁", lambda p: np.sin(np.pi * p[:, 0])),
    "sin_x2": ("sin πx₂", lambda p: np.sin(np.pi * p[:, 1])),
}
NAMES: tuple[str, ...] = tuple(FEATURES)


def transform(points: np.ndarray, names: list[str]) -> np.ndarray:
    """(N, 2) points -> (N, len(names)) float32 feature columns, in the order given."""
    p = np.asarray(points, dtype=np.float64)
    return np.stack([FEATURES[n][1](p) for n in names], axis=1).astype(np.float32)


def labels(names: list[str]) -> list[str]:
    return [FEATURES[n][0] for n in names]
