"""Inside the playground's MNIST net: what the first layer looks for, what it gets wrong, and
which pixels of a drawing pushed its prediction.

* :func:`first_layer_images`: each hidden unit's 784 incoming weights as a 28×28 picture
  (grey is 0, light positive, dark negative, each unit on its own scale): the pattern that
  excites that unit most.
* :func:`score_test_set`: the confusion matrix (:func:`chainrule.training.metrics.confusion_matrix`)
  and the misclassified test examples with their predicted and true classes.
* :func:`gradient_sizes`: ``‖∂L/∂W‖`` per layer, as on the 2-D tab.
* :func:`saliency`: ``∂(class score)/∂(input)`` for a drawing, by one backward pass to the
  input: the pixels where ink would raise (or lower) the chosen class's score.

Pictures travel as base64 uint8 rows, as the rest of the protocol sends them.
"""
from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..ops.shape import getitem
from ..tensor import Tensor, graph_order, no_grad
from ..training.metrics import confusion_matrix

__all__ = ["MistakeReport", "Saliency", "first_layer_images", "gradient_sizes", "saliency",
           "score_test_set"]


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype=np.uint8).tobytes()).decode("ascii")


def _signed_u8(a: np.ndarray) -> tuple[np.ndarray, float]:
    """Map ``a`` to 0..255 with 0 at 127.5 and ±max|a| at the ends; also return max|a|."""
    a = np.nan_to_num(np.asarray(a, dtype=np.float64))
    scale = float(np.max(np.abs(a))) if a.size else 0.0
    if scale == 0:
        return np.full(a.shape, 128, dtype=np.uint8), 0.0
    return np.round((a / scale + 1.0) * 127.5).astype(np.uint8), scale


def first_layer_images(weight: np.ndarray, side: int = 28,
                       max_units: int = 64) -> list[dict[str, Any]]:
    """The first ``max_units`` hidden units' incoming weights as ``side × side`` pictures.

    ``weight`` is the first layer's (hidden, side·side) matrix. Each entry:
    ``{"unit", "image" (base64 uint8, row-major), "scale" (the weight at full light/dark)}``.
    """
    w = np.asarray(weight)
    if w.ndim != 2 or w.shape[1] != side * side:
        raise ConfigError(f"first-layer weights must be (hidden, {side * side}); got {w.shape}")
    out = []
    for unit in range(min(len(w), max_units)):
        u8, scale = _signed_u8(w[unit])
        out.append({"unit": unit, "image": _b64(u8), "scale": round(scale, 6)})
    return out


@dataclass(frozen=True)
class MistakeReport:
    """Predictions on the test set: accuracy, confusion matrix (rows: true class, columns:
    predicted), and up to ``limit`` misclassified examples (index, predicted, true,
    probability given to the prediction), most confident mistakes first."""

    accuracy: float
    confusion: np.ndarray
    wrong: tuple[tuple[int, int, int, float], ...]
    n_wrong: int

    def to_message(self, images: np.ndarray | None = None) -> dict[str, Any]:
        """The ``mnist_insides`` part for the page; ``images`` (N, 784) in [0, 1] adds each
        mistake's picture."""
        wrong = []
        for i, p, t, conf in self.wrong:
            item: dict[str, Any] = {"index": i, "predicted": p, "true": t,
                                    "confidence": round(conf, 4)}
            if images is not None:
                item["image"] = _b64(np.round(np.clip(images[i], 0, 1) * 255))
            wrong.append(item)
        return {"accuracy": round(self.accuracy, 4), "confusion": self.confusion.tolist(),
                "wrong": wrong, "n_wrong": self.n_wrong}


def score_test_set(forward: Callable[[Tensor], Tensor], x: np.ndarray, y: np.ndarray, *,
                limit: int = 24, chunk: int = 1000) -> MistakeReport:
    """Run the net over ``x`` (no graph, in chunks) and report what it gets wrong."""
    y = np.asarray(y).reshape(-1)
    probs = np.empty((len(x), 10), dtype=np.float64)
    with no_grad():
        for s in range(0, len(x), chunk):
            z = np.asarray(forward(Tensor(np.asarray(x[s:s + chunk], dtype=np.float32))).data,
                           dtype=np.float64)
            e = np.exp(z - z.max(axis=1, keepdims=True))
            probs[s:s + chunk] = e / e.sum(axis=1, keepdims=True)
    pred = probs.argmax(axis=1)
    cm = confusion_matrix(pred, y, num_classes=10)
    bad = np.flatnonzero(pred != y)
    conf = probs[bad, pred[bad]]
    top = bad[np.argsort(-conf, kind="stable")[:limit]]
    wrong = tuple((int(i), int(pred[i]), int(y[i]), float(probs[i, pred[i]])) for i in top)
    return MistakeReport(float(np.mean(pred == y)) if len(y) else float("nan"), cm, wrong,
                         len(bad))


def gradient_sizes(weights: Sequence[Tensor]) -> list[float | None]:
    """``‖∂L/∂W‖`` (L2 norm) of each layer's weight after a backward pass, input side first
    (None for a layer that has no gradient yet)."""
    return [None if w.grad is None else
            float(np.sqrt(np.sum(np.square(w.grad, dtype=np.float64)))) for w in weights]


@dataclass(frozen=True)
class Saliency:
    """``∂ score[cls] / ∂ x`` for one input: ``grad`` (784,), and the class and its score."""

    cls: int
    score: float
    grad: np.ndarray

    def to_message(self, side: int = 28) -> dict[str, Any]:
        u8, scale = _signed_u8(self.grad.reshape(side, side))
        return {"type": "saliency", "class": self.cls, "score": round(self.score, 6),
                "image": _b64(u8), "scale": scale, "side": side}


def saliency(forward: Callable[[Tensor], Tensor], x: np.ndarray, cls: int) -> Saliency:
    """The gradient of class ``cls``'s score (its logit) with respect to the input ``x``.

    One forward and one backward pass with the *input* as the leaf that wants a gradient
    (Simonyan et al. 2013): positive where more ink would raise the score. The network's own
    parameter gradients are left as they were.
    """
    if not 0 <= int(cls) < 10:
        raise ConfigError(f"saliency: the class must be a digit from 0 to 9; got {cls}")
    xt = Tensor(np.asarray(x, dtype=np.float32).reshape(1, -1), requires_grad=True)
    out = forward(xt)
    score = getitem(out, (0, int(cls)))
    # backward from one logit; parameters' .grad are restored afterwards
    leaves = [n for n in graph_order(score) if not n._edges and n is not xt]
    saved = [(p, p.grad) for p in leaves]
    for p in leaves:
        p.grad = None  # backward adds into an existing .grad in place
    try:
        score.backward()
        g = np.array(xt.grad, dtype=np.float64).reshape(-1)
    finally:
        for p, old in saved:
            p.grad = old
    return Saliency(int(cls), float(score.item()), g)
