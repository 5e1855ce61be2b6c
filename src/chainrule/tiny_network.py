"""The network of ``chainrule explain`` and ``chainrule graph``: small enough to check by hand."""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import catalogue
from .errors import ConfigError
from .ops.linear import linear
from .ops.loss import mse_loss
from .tensor import Tensor

__all__ = ["TinyNetwork", "parse_weight"]


class TinyNetwork:
    """The network of ``chainrule explain``: 2 inputs → 2 hidden neurons → 1 sigmoid output.

    One training example, mean squared error, numbers small enough to check by hand::

        z1 = W1·x + b1        (2,)   W1: (2, 2), b1: (2,)
        h  = act(z1)          (2,)   act: sigmoid (default), tanh or relu
        z2 = W2·h + b2        (1,)   W2: (1, 2), b2: (1,)
        ŷ  = σ(z2)            (1,)
        L  = (ŷ − y)²         ()

    Tensors carry a leading batch axis of 1 (``x`` is (1, 2)), as real batches do.
    The default numbers follow the classic worked example of backpropagation
    (inputs 0.05 and 0.10, weights 0.15 ... 0.45, biases 0.35 and 0.60, target 0.01).
    """

    PARAMS = ("W1", "b1", "W2", "b2")
    ACTIVATIONS = catalogue.TINY_NETWORK_ACTIVATIONS

    def __init__(self, activation: str = "sigmoid", x: Sequence[float] = (0.05, 0.10),
                 y: float = 0.01) -> None:
        if activation not in self.ACTIVATIONS:
            raise ConfigError(f"tiny network: activation must be one of "
                              f"{', '.join(self.ACTIVATIONS)}; got {activation!r}")
        if len(x) != 2:
            raise ConfigError(f"tiny network: the input has 2 numbers; got {len(x)}")
        self.activation = activation
        self.x = Tensor(np.array([x], dtype=np.float32))
        self.x.name = "x"
        self.y = Tensor(np.array([[y]], dtype=np.float32))
        self.y.name = "y"
        self.W1 = self._param("W1", [[0.15, 0.20], [0.25, 0.30]])
        self.b1 = self._param("b1", [0.35, 0.35])
        self.W2 = self._param("W2", [[0.40, 0.45]])
        self.b2 = self._param("b2", [0.60])

    @staticmethod
    def _param(name: str, values: Any) -> Tensor:
        t = Tensor(np.array(values, dtype=np.float32), requires_grad=True)
        t.name = name
        return t

    def parameters(self) -> list[Tensor]:
        """W1, b1, W2, b2 (the leaves that gradient descent updates)."""
        return [self.W1, self.b1, self.W2, self.b2]

    def param(self, name: str) -> Tensor:
        """A parameter by name (``"W1"``, ``"b1"``, ``"W2"``, ``"b2"``)."""
        if name not in self.PARAMS:
            raise ConfigError(f"tiny network has no parameter {name!r}; it has "
                              f"{', '.join(self.PARAMS)}")
        return getattr(self, name)

    def forward(self) -> dict[str, Tensor]:
        """Run the network once; the named tensors of the forward pass, in order."""
        z1 = linear(self.x, self.W1, self.b1)
        h = getattr(z1, self.activation)()
        z2 = linear(h, self.W2, self.b2)
        y_hat = z2.sigmoid()
        loss = mse_loss(y_hat, self.y)
        out = {"z1": z1, "h": h, "z2": z2, "ŷ": y_hat, "L": loss}
        for k, t in out.items():
            t.name = k
        return out

    def loss(self) -> Tensor:
        """The loss L of one forward pass (a function to hand to :func:`explain`)."""
        return self.forward()["L"]


def parse_weight(spec: str) -> tuple[str, tuple[int, ...]]:
    """``"W1[0,1]"`` → ``("W1", (0, 1))``; ``"b2"`` → ``("b2", ())`` (first element)."""
    m = re.fullmatch(r"\s*([A-Za-z_][A-Za-z_0-9]*)\s*(?:\[\s*([0-9,\s]*)\])?\s*", spec)
    if not m:
        raise ConfigError(f"cannot read the weight {spec!r}; write it like W1[0,1] or b2[0]")
    idx = tuple(int(p) for p in m.group(2).split(",") if p.strip()) if m.group(2) else ()
    return m.group(1), idx
