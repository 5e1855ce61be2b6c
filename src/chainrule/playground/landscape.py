"""The error mountain: the loss over a 2-D slice of weight space, with the optimizer's path.

A network with P parameters has a loss surface in P + 1 dimensions; a picture can show a
plane through it. The plane goes through the weights θ₀ at the moment it was taken, along two
directions d₁ and d₂:

    θ(a, b) = θ₀ + a·d₁ + b·d₂,   shown as L(θ(a, b)) on a coarse grid of (a, b)

* **two chosen weights**: d₁ and d₂ are unit vectors along two single weights, so ``a`` and
  ``b`` are how far each weight moves from its value at θ₀ while all others stay put;
* **two random directions**, filter-normalised as Li et al. (2018, "Visualizing the Loss
  Landscape of Neural Nets") do: Gaussian directions whose every filter (a row of a weight
  matrix: one neuron's incoming weights) is rescaled to the norm of the same row of θ₀, and
  zero on biases, so that a step of 1 is "as large as the weights themselves" in every layer.

The optimizer's path is drawn by projecting each recorded θₜ onto the plane (least squares in
the plane's coordinates), with the training loss the session measured at that step; because
the path leaves the plane, each point also carries its distance from it (``off_plane``): a
slice is a slice, and the page says so.

The grid costs one forward pass per point, so :func:`loss_surface` works on its own copy of
the weights (callers run it with ``asyncio.to_thread`` while training goes on).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..tensor import Tensor, no_grad

__all__ = ["PathPoint", "Plane", "Surface", "loss_function", "loss_surface", "random_plane",
           "weights_plane"]

Arrays = list[np.ndarray]


@dataclass
class PathPoint:
    """One recorded step: its plane coordinates, the training loss then, and how far θₜ is
    from the plane (0 when the path stays in it)."""

    step: int
    a: float
    b: float
    loss: float
    off_plane: float


@dataclass
class Plane:
    """θ(a, b) = θ₀ + a·d₁ + b·d₂ (one array per parameter), with the path recorded on it.

    ``labels`` name the two axes for the page, ``kind`` is ``"weights"`` or ``"random"``,
    ``step`` is when θ₀ was taken.
    """

    origin: Arrays
    d1: Arrays
    d2: Arrays
    labels: tuple[str, str]
    kind: str
    step: int
    path: list[PathPoint] = field(default_factory=list)

    def __post_init__(self) -> None:
        g11, g22 = _dot(self.d1, self.d1), _dot(self.d2, self.d2)
        g12 = _dot(self.d1, self.d2)
        self._gram = np.array([[g11, g12], [g12, g22]])
        if abs(np.linalg.det(self._gram)) <= 1e-12 * max(g11 * g22, 1e-300):
            raise ConfigError("landscape: the two directions must differ (they span no plane)")

    def point(self, a: float, b: float) -> Arrays:
        """The weights θ₀ + a·d₁ + b·d₂."""
        return [o + a * u + b * v for o, u, v in zip(self.origin, self.d1, self.d2)]

    def project(self, arrays: Sequence[np.ndarray]) -> tuple[float, float, float]:
        """(a, b) of the point of the plane nearest to ``arrays``, and the distance to it."""
        diff = [np.asarray(p, dtype=np.float64) - o for p, o in zip(arrays, self.origin)]
        rhs = np.array([_dot(diff, self.d1), _dot(diff, self.d2)])
        a, b = np.linalg.solve(self._gram, rhs)
        resid = [d - a * u - b * v for d, u, v in zip(diff, self.d1, self.d2)]
        return float(a), float(b), float(np.sqrt(_dot(resid, resid)))

    def record(self, step: int, arrays: Sequence[np.ndarray], loss: float) -> PathPoint:
        """Add the weights of ``step`` (with the training loss measured there) to the path."""
        a, b, off = self.project(arrays)
        pt = PathPoint(int(step), a, b, float(loss), off)
        self.path.append(pt)
        return pt

    def describe(self, n_examples: int) -> str:
        """What the picture is a slice of, in one sentence."""
        how = ("moving only these two weights, every other weight held at its value"
               if self.kind == "weights" else
               "two random directions scaled filter by filter to the size of the weights "
               "(Li et al. 2018), biases held")
        return (f"mean training loss over {n_examples} examples on the plane through the "
                f"weights at step {self.step}: {self.labels[0]} across, {self.labels[1]} up; "
                f"{how}. The path is projected onto this plane.")


def _dot(xs: Sequence[np.ndarray], ys: Sequence[np.ndarray]) -> float:
    return float(sum(np.vdot(x, y) for x, y in zip(xs, ys)))


def _snapshot(params: Sequence[Tensor | np.ndarray]) -> Arrays:
    # C order: the directions index weights by flat position (nn.Linear keeps Wᵀ row-major)
    return [np.array(p.data if isinstance(p, Tensor) else p, dtype=np.float64, order="C")
            for p in params]


def weights_plane(params: Sequence[Tensor], first: tuple[int, int], second: tuple[int, int],
                  labels: tuple[str, str], step: int = 0) -> Plane:
    """The plane along two single weights: ``(parameter position, flat index)`` each."""
    origin = _snapshot(params)
    dirs = []
    for which in (first, second):
        i, k = which
        if not (0 <= i < len(origin) and 0 <= k < origin[i].size):
            raise ConfigError(f"landscape: no weight {k} in parameter {i}")
        d = [np.zeros_like(o) for o in origin]
        d[i].reshape(-1)[k] = 1.0
        dirs.append(d)
    return Plane(origin, dirs[0], dirs[1], labels, "weights", step)


def random_plane(params: Sequence[Tensor], seed: int = 0, step: int = 0) -> Plane:
    """The plane along two filter-normalised random directions (biases not moved)."""
    origin = _snapshot(params)
    rng = np.random.default_rng(seed)
    dirs: list[Arrays] = []
    for _ in range(2):
        d = []
        for o in origin:
            if o.ndim < 2:  # biases: held, as Li et al. do
                d.append(np.zeros_like(o))
                continue
            r = rng.standard_normal(o.shape)
            rows, orows = r.reshape(o.shape[0], -1), o.reshape(o.shape[0], -1)
            scale = np.linalg.norm(orows, axis=1) / np.maximum(np.linalg.norm(rows, axis=1),
                                                               1e-12)
            d.append((rows * scale[:, None]).reshape(o.shape))
        dirs.append(d)
    return Plane(origin, dirs[0], dirs[1], ("direction 1", "direction 2"), "random", step)


def loss_function(params: Sequence[Tensor], forward: Callable[[Tensor], Tensor],
                  loss_fn: Callable[[Tensor, np.ndarray], Tensor], x: np.ndarray,
                  y: np.ndarray) -> Callable[[Sequence[np.ndarray]], float]:
    """``f(arrays) -> loss``: write ``arrays`` into ``params`` and evaluate, without a graph.

    ``params`` must be the tensors ``forward`` reads; pass those of a copy of the model
    (``copy.deepcopy``) when the live one keeps training in another thread.
    """
    xt = Tensor(np.asarray(x, dtype=np.float32))
    yt = np.asarray(y)

    def f(arrays: Sequence[np.ndarray]) -> float:
        for p, a in zip(params, arrays):
            p.data[...] = a
        with no_grad():
            return float(loss_fn(forward(xt), yt).item())

    return f


@dataclass(frozen=True)
class Surface:
    """The loss on a grid: ``loss[i, j]`` at ``a = alphas[j]``, ``b = betas[i]``."""

    alphas: np.ndarray
    betas: np.ndarray
    loss: np.ndarray
    description: str

    def to_message(self, plane: Plane) -> dict[str, Any]:
        """The ``landscape`` message: grid, path, axis labels, and what it is a slice of."""
        finite = np.where(np.isfinite(self.loss), self.loss, np.nan)
        return {"type": "landscape", "kind": plane.kind, "labels": list(plane.labels),
                "origin_step": plane.step, "alphas": self.alphas.tolist(),
                "betas": self.betas.tolist(),
                "loss": [[None if np.isnan(v) else round(float(v), 6) for v in row]
                         for row in finite],
                "path": [vars(p) for p in plane.path], "description": self.description}


def loss_surface(plane: Plane, loss_at: Callable[[Sequence[np.ndarray]], float], *,
                 n: int = 21, extent: float | None = None, n_examples: int = 0) -> Surface:
    """Evaluate ``loss_at(θ(a, b))`` on an ``n × n`` grid over ``[-extent, extent]²``.

    Without ``extent`` the grid covers the recorded path with a margin (at least ±1: for
    random directions, a move as large as the weights; for two weights, one unit).
    """
    if not 3 <= n <= 101:
        raise ConfigError(f"landscape: the grid must have from 3 to 101 points a side; got {n}")
    if extent is None:
        far = max([abs(c) for p in plane.path for c in (p.a, p.b)], default=0.0)
        extent = max(1.0, 1.25 * far)
    ticks = np.linspace(-extent, extent, n)
    loss = np.empty((n, n))
    for i, b in enumerate(ticks):
        for j, a in enumerate(ticks):
            loss[i, j] = loss_at(plane.point(float(a), float(b)))
    return Surface(ticks, ticks.copy(), loss, plane.describe(n_examples))
