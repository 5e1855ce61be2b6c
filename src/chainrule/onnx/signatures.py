"""The graph inputs and outputs of a layer exported on its own when its ``forward`` takes or
returns more than one tensor, mirroring that ``forward``:

* ``MultiheadAttention``: ``example_input`` is one (N, T, E) array (self-attention: input
  ``input``) or a tuple ``(query, key, value)`` (inputs ``query``, ``key``, ``value``).
  ``kwargs`` as ``forward``'s: ``is_causal`` (the mask is built in the graph from the length),
  ``need_weights`` (default True, as ``forward``: a second output ``attn_weights``),
  ``average_attn_weights``, ``attn_mask`` (a (T, S) boolean or float array, stored as a
  constant, so T and S are then fixed), ``key_padding_mask`` (an example (N, S) array: the
  graph gets an input ``key_padding_mask`` of its dtype, boolean True or float added).
  Outputs ``output`` and ``attn_weights``.
* ``RNN``/``GRU``: ``example_input`` is ``x`` or ``(x, h0)``; ``LSTM``: ``x`` or
  ``(x, (h0, c0))``. Inputs ``input``, ``h0``, ``c0``; outputs ``output``, ``h_n``, ``c_n``.

Batch and sequence axes are dynamic (``N``, ``T``; ``S`` for a cross-attention key length);
with ``batch_first=False`` the layouts are (T, N, ·) as in ``forward``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from .graph import Graph
from .sequence import attention, recurrent, swap_first_axes


@dataclass
class Port:
    """One graph input or output: its ONNX name, element type (TensorProto enum) and dims
    (ints fixed, strings symbolic)."""

    name: str
    elem_type: int
    dims: list[int | str]


@dataclass
class Signature:
    """What :func:`layer_call` built: the graph inputs, the outputs as (graph value, port) and
    chainrule's own outputs for the example (to compare, and for the record)."""

    inputs: list[Port]
    outputs: list[tuple[str, Port]]
    values: list[np.ndarray]


def _array(x: Any, what: str) -> np.ndarray:
    from ..tensor import Tensor

    a = np.asarray(x.data if isinstance(x, Tensor) else x)
    if a.dtype.kind not in "fiub":
        raise ConfigError(f"onnx.export: {what} must be a numeric array; got dtype {a.dtype}")
    return a


def _attention_call(g: Graph, m: Any, example: Any, kwargs: dict, input_name: str,
                    output_name: str) -> Signature:
    allowed = ("is_causal", "need_weights", "average_attn_weights", "attn_mask", "key_padding_mask")
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ConfigError(f"onnx.export: MultiheadAttention takes no keyword {', '.join(unknown)}; "
                          f"it takes {', '.join(allowed)}")
    tp = g.onnx.TensorProto
    cross = isinstance(example, (tuple, list))
    if cross and len(example) != 3:
        raise ConfigError("onnx.export: MultiheadAttention's example_input is one (N, T, E) array "
                          f"(self-attention) or (query, key, value); got {len(example)} arrays")
    q, k, v = (_array(a, n).astype(np.float32) for a, n in zip(example, ("query", "key", "value"))) \
        if cross else (_array(example, "example_input").astype(np.float32),) * 3
    need = bool(kwargs.get("need_weights", True))
    average = bool(kwargs.get("average_attn_weights", True))
    causal = bool(kwargs.get("is_causal", False))
    attn_mask, kp = kwargs.get("attn_mask"), kwargs.get("key_padding_mask")
    call = dict(kwargs)
    if kp is not None:
        kp = _array(kp, "key_padding_mask")
        kp = kp.astype(bool) if kp.dtype == bool else kp.astype(np.float32)
        call["key_padding_mask"] = kp
    from ..tensor import no_grad

    with no_grad():  # chainrule's own call checks every shape and mask
        out, weights = m(q, k if cross else q, v if cross else q, **call)
    values = [np.asarray(out.data)] + ([np.asarray(weights.data)] if weights is not None else [])

    bf = m.batch_first
    n_t: list[int | str] = ["N", "T"] if bf else ["T", "N"]
    n_s: list[int | str] = ["N", "S"] if bf else ["S", "N"]
    t_len, s_len = (q.shape[1], k.shape[1]) if bf else (q.shape[0], k.shape[0])
    t_dim: int | str = "T"
    s_dim: int | str = "S" if cross else "T"
    mask_name = None
    if attn_mask is not None:
        a = _array(attn_mask, "attn_mask")
        if a.shape != (t_len, s_len):
            raise ConfigError(f"onnx.export: MultiheadAttention's attn_mask must be (T, S) = "
                              f"({t_len}, {s_len}) to be exported (a per-head (N·H, T, S) mask "
                              f"would fix the batch); give key_padding_mask for per-example masks")
        a = np.where(a, -np.inf, 0) if a.dtype == bool else a
        mask_name = g.const(a.astype(np.float32), "attn_mask")
        t_dim, s_dim = t_len, s_len  # a constant mask fixes both lengths
        n_t = ["N", t_len] if bf else [t_len, "N"]
        n_s = ["N", s_len] if bf else [s_len, "N"]
    e = m.embed_dim
    ports = ([Port("query", tp.FLOAT, [*n_t, e]), Port("key", tp.FLOAT, [*n_s, e]),
              Port("value", tp.FLOAT, [*n_s, e])] if cross
             else [Port(input_name, tp.FLOAT, [*n_t, e])])
    names = [p.name for p in ports] * (1 if cross else 3)

    def first(x: str) -> str:
        return x if bf else swap_first_axes(g, x)

    qb, kb, vb = (first(x) for x in names) if cross else (first(names[0]),) * 3
    kp_name = None
    if kp is not None:
        ports.append(Port("key_padding_mask", tp.BOOL if kp.dtype == bool else tp.FLOAT, ["N", s_dim]))
        kp_name = ("key_padding_mask" if kp.dtype != bool else
                   g.op("Where", ["key_padding_mask", g.const(np.float32(-np.inf), "minus_inf"),
                                  g.const(np.float32(0), "zero")]))
    out_name, w_name = attention(g, m, qb, kb, vb, causal=causal, attn_mask=mask_name,
                                 key_padding_mask=kp_name, need_weights=need,
                                 average_attn_weights=average)
    outputs = [(first(out_name), Port(output_name, tp.FLOAT, [*n_t, e]))]
    if w_name is not None:
        dims: list[int | str] = ["N", t_dim, s_dim] if average else ["N", m.num_heads, t_dim, s_dim]
        outputs.append((w_name, Port("attn_weights", tp.FLOAT, dims)))
    return Signature(ports, outputs, values)


def _recurrent_call(g: Graph, m: Any, example: Any, kwargs: dict, input_name: str,
                    output_name: str) -> Signature:
    kind = type(m).__name__
    if kwargs:
        raise ConfigError(f"onnx.export: {kind} takes no keyword arguments; got {', '.join(sorted(kwargs))}")
    tp = g.onnx.TensorProto
    state_form = "(x, (h0, c0))" if kind == "LSTM" else "(x, h0)"
    if isinstance(example, (tuple, list)):
        if len(example) != 2:
            raise ConfigError(f"onnx.export: {kind}'s example_input is x or {state_form}; "
                              f"got {len(example)} items")
        x, hx = example
        if kind == "LSTM":
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise ConfigError(f"onnx.export: LSTM's example_input is x or {state_form}")
            states = [_array(s, n).astype(np.float32) for s, n in zip(hx, ("h0", "c0"))]
        else:
            states = [_array(hx, "h0").astype(np.float32)]
    else:
        x, states = example, []
    x = _array(x, "example_input").astype(np.float32)
    from ..tensor import no_grad

    with no_grad():
        hx_arg = (tuple(states) if kind == "LSTM" else states[0]) if states else None
        y, finals = m(x, hx_arg)
    finals = list(finals) if kind == "LSTM" else [finals]
    values = [np.asarray(y.data)] + [np.asarray(f.data) for f in finals]

    seq: list[int | str] = ["N", "T"] if m.batch_first else ["T", "N"]
    layers, h = m.num_layers, m.hidden_size
    ports = [Port(input_name, tp.FLOAT, [*seq, m.input_size])]
    ports += [Port(n, tp.FLOAT, [layers, "N", h]) for n in ("h0", "c0")[:len(states)]]
    xt = swap_first_axes(g, input_name) if m.batch_first else input_name
    out, hn, cn = recurrent(g, m, xt, *(p.name for p in ports[1:]))
    if m.batch_first:
        out = swap_first_axes(g, out)
    outputs = [(out, Port(output_name, tp.FLOAT, [*seq, h])), (hn, Port("h_n", tp.FLOAT, [layers, "N", h]))]
    if cn is not None:
        outputs.append((cn, Port("c_n", tp.FLOAT, [layers, "N", h])))
    return Signature(ports, outputs, values)


def layer_call(g: Graph, model: Any, example: Any, kwargs: dict | None, input_name: str,
               output_name: str) -> Signature | None:
    """The signature of a layer with several inputs or outputs; None for any other model
    (one input, one output: the ordinary path)."""
    from .. import nn

    if type(model) is nn.MultiheadAttention:
        return _attention_call(g, model, example, dict(kwargs or {}), input_name, output_name)
    if type(model) in (nn.RNN, nn.GRU, nn.LSTM):
        return _recurrent_call(g, model, example, dict(kwargs or {}), input_name, output_name)
    return None


__all__ = ["Port", "Signature", "layer_call"]
