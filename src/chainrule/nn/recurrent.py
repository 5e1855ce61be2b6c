"""Recurrent layers RNN, GRU and LSTM, written step by step from the ops, so that
backpropagation through time is the engine's ordinary backward pass over an unrolled graph.

PyTorch's names, signatures, parameter names (``weight_ih_l0`` (G·H, I), ``weight_hh_l0``
(G·H, H), ``bias_ih_l0``, ``bias_hh_l0``, gate order r z n for the GRU and i f g o for the
LSTM) and initialisation (every weight and bias U(-1/√H, 1/√H)), so state dicts map over.

Why gradients vanish along a sequence: for the tanh RNN ``h_t = tanh(x_t W_ihᵀ + h_{t-1}
W_hhᵀ + b)``, the chain rule gives ``∂h_t/∂h_{t-1} = diag(1 - h_t²) W_hh``, and a gradient
reaching step t from step T has been multiplied by T - t such factors. When their norms are
below one, it shrinks geometrically (``chainrule`` docs: learn-backpropagation.md).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError, ShapeError
from ..ops.combine import stack
from ..ops.linear import dropout, linear
from ..ops.unary import sigmoid, tanh
from ..tensor import Tensor
from . import init
from .layers import _positive_int
from .module import Module, empty_parameter
from .registry import register


class _RNNBase(Module):
    _gates = 1
    _mode = "RNN"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False) -> None:
        super().__init__()
        name = type(self).__name__
        self.input_size = _positive_int(name, "input_size", input_size)
        self.hidden_size = _positive_int(name, "hidden_size", hidden_size)
        self.num_layers = _positive_int(name, "num_layers", num_layers)
        if bidirectional:
            raise ConfigError(f"{name}: bidirectional=True is not supported")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) \
                or not 0 <= dropout < 1:
            raise ConfigError(f"{name}: dropout must be in [0, 1); got {dropout!r}")
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.bidirectional = False
        g = self._gates * self.hidden_size
        for layer in range(self.num_layers):
            width = self.input_size if layer == 0 else self.hidden_size
            setattr(self, f"weight_ih_l{layer}", empty_parameter(g, width))
            setattr(self, f"weight_hh_l{layer}", empty_parameter(g, self.hidden_size))
            if self.bias:
                setattr(self, f"bias_ih_l{layer}", empty_parameter(g))
                setattr(self, f"bias_hh_l{layer}", empty_parameter(g))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _layer_params(self, layer: int) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        d = self.__dict__
        return (d[f"weight_ih_l{layer}"], d[f"weight_hh_l{layer}"],
                d.get(f"bias_ih_l{layer}"), d.get(f"bias_hh_l{layer}"))

    def _initial(self, hx: Any, n: int, dtype: np.dtype) -> Tensor:
        shape = (self.num_layers, n, self.hidden_size)
        if hx is None:
            return Tensor(np.zeros(shape, dtype=dtype), dtype=dtype)
        h = hx if isinstance(hx, Tensor) else Tensor(hx, dtype=dtype)
        if h.shape != shape:
            raise ShapeError(f"{type(self).__name__}: initial state must be (num_layers, N, "
                             f"hidden_size) = {shape}; got {h.shape}")
        return h

    def _cell(self, xw_t: Tensor, state: tuple[Tensor, ...], w_hh: Tensor,
              b_hh: Tensor | None) -> tuple[Tensor, ...]:
        raise NotImplementedError

    def _run(self, x: Tensor, states: list[tuple[Tensor, ...]]
             ) -> tuple[Tensor, list[tuple[Tensor, ...]]]:
        """Unroll every layer over the sequence. x: (N, T, I) -> (N, T, H)."""
        finals = []
        for layer in range(self.num_layers):
            w_ih, w_hh, b_ih, b_hh = self._layer_params(layer)
            if layer and self.dropout and self.training:
                x = dropout(x, self.dropout, True)
            # the input projections of all steps in one product: (N, T, G·H) -> (T, N, G·H)
            xw = linear(x, w_ih, b_ih).transpose(1, 0, 2)
            state = states[layer]
            outs = []
            for t in range(x.shape[1]):
                state = self._cell(xw[t], state, w_hh, b_hh)
                outs.append(state[0])
            finals.append(state)
            x = stack(outs, axis=1)
        return x, finals

    def _input(self, input: Any) -> Tensor:
        x = input if isinstance(input, Tensor) else Tensor(input)
        name = type(self).__name__
        if x.ndim != 3 or x.shape[-1] != self.input_size:
            layout = "(N, T, input_size)" if self.batch_first else "(T, N, input_size)"
            raise ShapeError(f"{name}: input must be {layout} with input_size = "
                             f"{self.input_size}; got shape {x.shape}")
        return x if self.batch_first else x.transpose(1, 0, 2)

    def _output(self, y: Tensor) -> Tensor:
        return y if self.batch_first else y.transpose(1, 0, 2)

    def config(self) -> dict[str, Any]:
        return {"input_size": self.input_size, "hidden_size": self.hidden_size,
                "num_layers": self.num_layers, "bias": self.bias,
                "batch_first": self.batch_first, "dropout": self.dropout}


@register
class RNN(_RNNBase):
    """Elman RNN with tanh: ``h_t = tanh(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh)``.

    ``forward(input, hx=None)`` -> ``(output, h_n)``: output (N, T, H) with ``batch_first``
    (else (T, N, H)), the top layer's state at every step; h_n (num_layers, N, H).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ConfigError(f"RNN: nonlinearity must be 'tanh' or 'relu'; got "
                              f"{nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional)

    def _cell(self, xw_t: Tensor, state: tuple[Tensor, ...], w_hh: Tensor,
              b_hh: Tensor | None) -> tuple[Tensor, ...]:
        pre = xw_t + linear(state[0], w_hh, b_hh)
        return (tanh(pre) if self.nonlinearity == "tanh" else pre.relu(),)

    def forward(self, input: Any, hx: Any = None) -> tuple[Tensor, Tensor]:
        x = self._input(input)
        h0 = self._initial(hx, x.shape[0], x.dtype)
        y, finals = self._run(x, [(h0[i],) for i in range(self.num_layers)])
        return self._output(y), stack([s[0] for s in finals], axis=0)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "nonlinearity": self.nonlinearity}


@register
class GRU(_RNNBase):
    """Gated recurrent unit, PyTorch's equations (gates r, z, n):

        r = σ(x W_irᵀ + b_ir + h W_hrᵀ + b_hr),   z = σ(x W_izᵀ + b_iz + h W_hzᵀ + b_hz)
        n = tanh(x W_inᵀ + b_in + r ⊙ (h W_hnᵀ + b_hn)),   h' = (1 - z) ⊙ n + z ⊙ h

    The ``z ⊙ h`` term is an additive path from h to h': gradients can cross many steps
    without being squashed by a tanh each time. Returns ``(output, h_n)`` as RNN.
    """

    _gates = 3

    def _cell(self, xw_t: Tensor, state: tuple[Tensor, ...], w_hh: Tensor,
              b_hh: Tensor | None) -> tuple[Tensor, ...]:
        h = state[0]
        hs = self.hidden_size
        hw = linear(h, w_hh, b_hh)
        r = sigmoid(xw_t[:, :hs] + hw[:, :hs])
        z = sigmoid(xw_t[:, hs:2 * hs] + hw[:, hs:2 * hs])
        n = tanh(xw_t[:, 2 * hs:] + r * hw[:, 2 * hs:])
        return (n + z * (h - n),)   # (1 - z)·n + z·h

    def forward(self, input: Any, hx: Any = None) -> tuple[Tensor, Tensor]:
        x = self._input(input)
        h0 = self._initial(hx, x.shape[0], x.dtype)
        y, finals = self._run(x, [(h0[i],) for i in range(self.num_layers)])
        return self._output(y), stack([s[0] for s in finals], axis=0)


@register
class LSTM(_RNNBase):
    """Long short-term memory, PyTorch's equations (gates i, f, g, o):

        i = σ(·), f = σ(·), g = tanh(·), o = σ(·)   each of x W_ihᵀ + b_ih + h W_hhᵀ + b_hh
        c' = f ⊙ c + i ⊙ g,   h' = o ⊙ tanh(c')

    ``forward(input, (h0, c0)=None)`` -> ``(output, (h_n, c_n))``.
    """

    _gates = 4

    def _cell(self, xw_t: Tensor, state: tuple[Tensor, ...], w_hh: Tensor,
              b_hh: Tensor | None) -> tuple[Tensor, ...]:
        h, c = state
        hs = self.hidden_size
        gates = xw_t + linear(h, w_hh, b_hh)
        i = sigmoid(gates[:, :hs])
        f = sigmoid(gates[:, hs:2 * hs])
        g = tanh(gates[:, 2 * hs:3 * hs])
        o = sigmoid(gates[:, 3 * hs:])
        c_new = f * c + i * g
        return o * tanh(c_new), c_new

    def forward(self, input: Any, hx: Any = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        x = self._input(input)
        n = x.shape[0]
        if hx is None:
            h0 = self._initial(None, n, x.dtype)
            c0 = self._initial(None, n, x.dtype)
        else:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise ConfigError("LSTM: the initial state must be a pair (h0, c0)")
            h0 = self._initial(hx[0], n, x.dtype)
            c0 = self._initial(hx[1], n, x.dtype)
        y, finals = self._run(x, [(h0[i], c0[i]) for i in range(self.num_layers)])
        return self._output(y), (stack([s[0] for s in finals], axis=0),
                                 stack([s[1] for s in finals], axis=0))


__all__ = ["GRU", "LSTM", "RNN"]
