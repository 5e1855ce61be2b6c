"""Two-dimensional toy problems in the spirit of the TensorFlow Playground.

Convention: points are generated in Playground units (the data fills roughly [-6, 6]²)
and then divided by 6, so features lie roughly in [-1, 1]² — a good range for a network
without further scaling (``mean`` 0, ``std`` 1). Labels are 0/1 with classes of (almost)
equal size. ``noise`` is the jitter: 0 gives clean shapes, 0.5 heavy overlap.

- ``circle``: class 1 a disc of radius 2.5, class 0 a ring between radius 3.5 and 5.
- ``xor``:    uniform in [-5, 5]², pushed 0.3 off the axes; class 1 where x·y > 0.
- ``gauss``:  two Gaussian blobs at (2, 2) (class 1) and (-2, -2) (class 0); noise widens them.
- ``spiral``: two interleaved spirals of 1.75 turns out to radius 5.
- ``moons``:  two interleaving half circles (as scikit-learn's make_moons), scaled by 3.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import catalogue
from ..errors import ConfigError
from .dataset import TensorDataset, train_test_indices
from .splits import DatasetSplits

TOY2D_NAMES: tuple[str, ...] = catalogue.names(catalogue.DATASETS, kind="toy2d")
SCALE = 6.0  # Playground units per output unit
RADIUS = 5.0


def _circle(n0: int, n1: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    r = np.concatenate([rng.uniform(0.7 * RADIUS, RADIUS, n0), rng.uniform(0, 0.5 * RADIUS, n1)])
    t = rng.uniform(0, 2 * np.pi, n0 + n1)
    pts = np.stack([r * np.sin(t), r * np.cos(t)], axis=1)
    return pts + rng.uniform(-RADIUS, RADIUS, pts.shape) * noise


def _xor(n0: int, n1: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    pad = 0.3
    # draw magnitudes, then choose quadrant signs so the class is fixed: class 1 has x*y > 0
    mag = rng.uniform(pad, RADIUS + pad, (n0 + n1, 2))
    sx = rng.choice([-1.0, 1.0], n0 + n1)
    same = np.concatenate([np.full(n0, -1.0), np.full(n1, 1.0)])
    pts = mag * np.stack([sx, sx * same], axis=1)
    return pts + rng.uniform(-RADIUS, RADIUS, pts.shape) * noise


def _gauss(n0: int, n1: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    # Playground: variance grows linearly from 0.5 (noise 0) to 4 (noise 0.5)
    sd = np.sqrt(0.5 + 7.0 * noise)
    centres = np.concatenate([np.full((n0, 2), -2.0), np.full((n1, 2), 2.0)])
    return centres + rng.normal(0.0, sd, centres.shape)


def _spiral(n0: int, n1: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    frac = rng.uniform(0, 1, n0 + n1)
    r = frac * RADIUS
    delta = np.concatenate([np.full(n0, np.pi), np.zeros(n1)])
    t = 1.75 * 2 * np.pi * frac + delta
    pts = np.stack([r * np.sin(t), r * np.cos(t)], axis=1)
    return pts + rng.uniform(-1, 1, pts.shape) * noise * RADIUS / 2


def _moons(n0: int, n1: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    t = rng.uniform(0, np.pi, n0 + n1)
    upper = np.stack([np.cos(t), np.sin(t)], axis=1)
    lower = np.stack([1 - np.cos(t), 0.5 - np.sin(t)], axis=1)
    is1 = np.concatenate([np.zeros(n0, bool), np.ones(n1, bool)])[:, None]
    pts = np.where(is1, lower, upper)
    pts = pts + rng.normal(0.0, noise, pts.shape)
    return (pts - [0.5, 0.25]) * 3.0


_GENERATORS = {"circle": _circle, "xor": _xor, "gauss": _gauss, "spiral": _spiral, "moons": _moons}


def _check_name(name: str) -> str:
    if not isinstance(name, str) or name.lower() not in _GENERATORS:
        raise ConfigError(f"unknown toy 2-D data set {name!r}; choose one of: {', '.join(TOY2D_NAMES)}")
    return name.lower()


def _check_size(where: str, n: int, noise: float) -> None:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 2:
        raise ConfigError(f"{where}: n must be an integer >= 2, got {n!r}")
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real) or not 0 <= noise <= 10:
        raise ConfigError(f"{where}: noise must be a number in [0, 10], got {noise!r}")


def _splits(key: str, x: np.ndarray, y: np.ndarray, test_fraction: float, n: int, noise: float,
            seed: int | None, classes: list[str] | None) -> DatasetSplits:
    """The train/test ``DatasetSplits`` of a synthetic 2-D problem (stratified when it has
    ``classes``; a regression problem has None)."""
    tr, te = train_test_indices(len(y), test_fraction, seed=seed, labels=y if classes else None)
    return DatasetSplits(
        name=key,
        train=TensorDataset(x[tr], y[tr]),
        test=TensorDataset(x[te], y[te]),
        task="classification" if classes else "regression",
        num_features=2,
        num_classes=len(classes) if classes else None,
        class_names=classes,
        feature_names=["x1", "x2"],
        mean=np.zeros(2, np.float32),
        std=np.ones(2, np.float32),
        source=f"synthetic ({key}, n={n}, noise={noise}, seed={seed})",
    )


def generate(name: str, n: int = 500, noise: float = 0.1, seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """Raw points of a toy problem, shuffled: X ``(n, 2)`` float32 in about [-1, 1], y ``(n,)`` int64.

    Class 0 gets ``n // 2`` points and class 1 the rest. Used by ``toy2d`` and by the
    playground, which needs points without a train/test split.
    """
    key = _check_name(name)
    _check_size("toy2d", n, noise)
    rng = np.random.default_rng(seed)
    n0 = int(n) // 2
    n1 = int(n) - n0
    pts = _GENERATORS[key](n0, n1, float(noise), rng)
    y = np.concatenate([np.zeros(n0, np.int64), np.ones(n1, np.int64)])
    perm = rng.permutation(int(n))
    return (pts[perm] / SCALE).astype(np.float32), y[perm]


def toy2d(
    name: str,
    n: int = 500,
    noise: float = 0.1,
    seed: int | None = 0,
    test_fraction: float = 0.5,
) -> DatasetSplits:
    """A toy binary classification problem in 2-D (``circle xor gauss spiral moons``).

    ``n`` points in total, split (stratified, deterministic given ``seed``) into train and
    test with ``test_fraction`` in test (0.5, as the Playground does). X ``(N, 2)`` float32
    roughly in [-1, 1]², y ``(N,)`` int64 in {0, 1}. Unknown names raise ``ConfigError``.
    """
    key = _check_name(name)
    x, y = generate(key, n=n, noise=noise, seed=seed)
    return _splits(key, x, y, test_fraction, n, noise, seed, classes=["0", "1"])


# ---- regression ---------------------------------------------------------------------------
# Points uniform in the Playground square [-6, 6]^2; the target is a value near [-1, 1] read at
# the point moved by the noise (so noise blurs the surface, as in the TensorFlow Playground).

REGRESSION_NAMES: tuple[str, ...] = catalogue.names(catalogue.DATASETS, kind="toy2d_regression")
_GAUSSIANS = ((-4.0, 2.5, 1.0), (0.0, 2.5, -1.0), (4.0, 2.5, 1.0),
              (-4.0, -2.5, -1.0), (0.0, -2.5, 1.0), (4.0, -2.5, -1.0))


def _plane_value(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x + y) / 10.0


def _multigauss_value(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # each bump is +-1 at its centre falling linearly to 0 at distance 2; the strongest wins
    bumps = np.stack([s * np.clip(1.0 - np.hypot(x - cx, y - cy) / 2.0, 0.0, 1.0)
                      for cx, cy, s in _GAUSSIANS])
    pick = np.argmax(np.abs(bumps), axis=0)
    return np.take_along_axis(bumps, pick[None], axis=0)[0]


_SURFACES = {"plane": _plane_value, "multigauss": _multigauss_value}


def regression2d(
    name: str,
    n: int = 500,
    noise: float = 0.1,
    seed: int | None = 0,
    test_fraction: float = 0.5,
) -> DatasetSplits:
    """A toy regression problem in 2-D (``plane``: a tilted plane; ``multigauss``: six bumps
    of alternating sign). X ``(N, 2)`` float32 in about [-1, 1]², y ``(N, 1)`` float32 in
    about [-1, 1]; split at random with ``test_fraction`` in test."""
    key = name.lower() if isinstance(name, str) else name
    if key not in _SURFACES:
        raise ConfigError(f"unknown 2-D regression problem {name!r}; choose one of: "
                          f"{', '.join(REGRESSION_NAMES)}")
    _check_size("regression2d", n, noise)
    rng = np.random.default_rng(seed)
    pts = rng.uniform(-SCALE, SCALE, (int(n), 2))
    jitter = rng.uniform(-SCALE, SCALE, pts.shape) * noise
    value = _SURFACES[key](pts[:, 0] + jitter[:, 0], pts[:, 1] + jitter[:, 1])
    x = (pts / SCALE).astype(np.float32)
    y = value.astype(np.float32)[:, None]
    return _splits(key, x, y, test_fraction, n, noise, seed, classes=None)


__all__ = ["toy2d", "generate", "regression2d", "TOY2D_NAMES", "REGRESSION_NAMES"]
