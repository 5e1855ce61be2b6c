"""Export rules of the sequence layers: MultiheadAttention, RNN/GRU/LSTM, and the language
models built from them (GPT with its Block and MLP, CharRNN).

**Attention** is written out of opset-19 primitives (the ``Attention`` operator only arrives
in opset 23): one MatMul for the packed Q/K/V projection, a Reshape/Transpose into heads
(N, H, T, D), ``softmax(QKᵀ/√D + mask)·V`` as MatMul, Mul, Softmax, MatMul, and the output
projection. The causal mask is built from the input's own length (``Range`` and ``Greater``:
key j is hidden from query i when j > i), so the sequence axis stays dynamic.

**Recurrent layers** map onto ONNX's own ``RNN``, ``GRU`` and ``LSTM`` operators, one node per
layer, rather than an unrolled loop: the equations are the same (no peepholes, one
direction, ONNX's default activations), the sequence length stays dynamic, and the file does
not grow with the length. Only the gate blocks are reordered:

* GRU: chainrule (as PyTorch) stacks r, z, n; ONNX stacks z, r, h. ``linear_before_reset=1``
  is PyTorch's form ``n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))``.
* LSTM: chainrule stacks i, f, g, o; ONNX stacks i, o, f, c.

ONNX's recurrent operators take (T, N, I) (``layout=0``, the layout onnxruntime implements),
so a ``batch_first`` layer gets a Transpose on each side.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .feedforward import affine, lookup
from .graph import Graph, Rule, export_module

#: ONNX's gate order, as indices into chainrule's (PyTorch's) blocks
_GATE_ORDER = {"GRU": [1, 0, 2], "LSTM": [0, 3, 1, 2], "RNN": [0]}


# ----------------------------------------------------------------------------- attention
def _length(g: Graph, x: str, axis: int) -> str:
    """The scalar size of ``x``'s axis ``axis``, read at run time."""
    return g.op("Squeeze", [g.op("Shape", [x], start=axis, end=axis + 1), g.ints(0)])


def _causal(g: Graph, scores: str, q: str, k: str) -> str:
    """Hide key j from query i when j > i (top-left aligned, as chainrule's ``is_causal``)."""
    zero, one = g.const(np.array(0, np.int64), "zero"), g.const(np.array(1, np.int64), "one")
    rows = g.op("Unsqueeze", [g.op("Range", [zero, _length(g, q, 2), one]), g.ints(1)])  # (T, 1)
    cols = g.op("Range", [zero, _length(g, k, 2), one])                                   # (S,)
    hidden = g.op("Greater", [cols, rows])                                                # (T, S)
    return g.op("Where", [hidden, g.const(np.float32(-np.inf), "minus_inf"), scores])


def _heads(g: Graph, x: str, h: int, d: int) -> str:
    # (N, T, E) -> (N, T, H, D) -> (N, H, T, D)
    return g.op("Transpose", [g.op("Reshape", [x, g.ints(0, 0, h, d)])], perm=[0, 2, 1, 3])


def attention(g: Graph, m: Any, q: str, k: str, v: str, *, causal: bool = False,
              attn_mask: str | None = None, key_padding_mask: str | None = None,
              need_weights: bool = False, average_attn_weights: bool = True
              ) -> tuple[str, str | None]:
    """MultiheadAttention ``m`` on batch-first (N, T, E) query and (N, S, E) key/value names;
    returns the names of the output (N, T, E) and, when asked, the weights (N, T, S) averaged
    over heads (or (N, H, T, S)). ``attn_mask`` names an additive (T, S) float constant,
    ``key_padding_mask`` an additive (N, S) float value (−∞ where a key is hidden)."""
    e, h, d = m.embed_dim, m.num_heads, m.head_dim
    w = m.in_proj_weight.data
    b = None if m.in_proj_bias is None else m.in_proj_bias.data
    if q == k == v:  # self-attention: one GEMM for Q, K and V
        qkv = affine(g, q, w, b)                                          # (N, T, 3E)
        # (N, T, 3, H, D) -> (3, N, H, T, D); Gather picks Q, K, V off the first axis
        split = g.op("Transpose", [g.op("Reshape", [qkv, g.ints(0, 0, 3, h, d)])],
                     perm=[2, 0, 3, 1, 4])
        qh, kh, vh = (g.op("Gather", [split, g.const(np.array(i, np.int64), "index")], axis=0)
                      for i in range(3))
    else:
        qh, kh, vh = (_heads(g, affine(g, x, w[i * e:(i + 1) * e],
                                       None if b is None else b[i * e:(i + 1) * e]), h, d)
                      for i, x in enumerate((q, k, v)))
    kt = g.op("Transpose", [kh], perm=[0, 1, 3, 2])                      # (N, H, D, S)
    scores = g.op("Mul", [g.op("MatMul", [qh, kt]), g.const(np.float32(1 / np.sqrt(d)), "scale")])
    if attn_mask is not None:
        scores = g.op("Add", [scores, attn_mask])
    if key_padding_mask is not None:  # (N, S) -> (N, 1, 1, S)
        scores = g.op("Add", [scores, g.op("Unsqueeze", [key_padding_mask, g.ints(1, 2)])])
    if causal:
        scores = _causal(g, scores, qh, kh)
    weights = g.op("Softmax", [scores], axis=-1)                         # (N, H, T, S)
    merged = g.op("Reshape", [g.op("Transpose", [g.op("MatMul", [weights, vh])], perm=[0, 2, 1, 3]),
                              g.ints(0, 0, e)])                          # (N, T, E)
    out = affine(g, merged, m.out_proj.weight.data,
                 None if m.out_proj.bias is None else m.out_proj.bias.data)
    if not need_weights:
        return out, None
    if average_attn_weights:
        weights = g.op("ReduceMean", [weights, g.ints(1)], keepdims=0)  # (N, T, S)
    return out, weights


def swap_first_axes(g: Graph, x: str) -> str:
    """(T, N, ·) <-> (N, T, ·): between a layer's own layout and the one a node needs."""
    return g.op("Transpose", [x], perm=[1, 0, 2])


def _multihead_attention(g: Graph, m: Any, x: str, value: np.ndarray) -> str:
    # as a layer with one input (inside another model): self-attention, no mask, the output only
    xb = x if m.batch_first else swap_first_axes(g, x)
    out, _ = attention(g, m, xb, xb, xb)
    return out if m.batch_first else swap_first_axes(g, out)


# ----------------------------------------------------------------------------- recurrent
def recurrent(g: Graph, m: Any, x: str, h0: str | None = None, c0: str | None = None
              ) -> tuple[str, str, str | None]:
    """RNN/GRU/LSTM ``m`` on a (T, N, I) name, with optional (L, N, H) initial states;
    returns the names of the output (T, N, H), h_n (L, N, H) and, for an LSTM, c_n."""
    kind = type(m).__name__
    hs, order = m.hidden_size, _GATE_ORDER[kind]

    def reorder(a: np.ndarray) -> np.ndarray:  # gate blocks along the first axis
        return np.concatenate([a[i * hs:(i + 1) * hs] for i in order])[None]

    attrs: dict[str, Any] = {"hidden_size": hs}
    if kind == "GRU":
        attrs["linear_before_reset"] = 1
    if kind == "RNN" and m.nonlinearity == "relu":
        attrs["activations"] = ["Relu"]
    hn, cn = [], []
    for layer in range(m.num_layers):
        w_ih, w_hh, b_ih, b_hh = m._layer_params(layer)
        inputs = [x, g.const(reorder(w_ih.data), "W"), g.const(reorder(w_hh.data), "R")]
        if b_ih is not None:  # ONNX's B is [Wb, Rb] (1, 2·G·H)
            inputs.append(g.const(np.concatenate([reorder(b_ih.data), reorder(b_hh.data)], axis=1),
                                  "B"))
        else:
            inputs.append("")
        inputs.append("")  # sequence_lens: every sequence has the full length
        for state in (h0, c0) if kind == "LSTM" else (h0,):
            inputs.append("" if state is None else
                          g.op("Slice", [state, g.ints(layer), g.ints(layer + 1), g.ints(0)]))
        outs = g.ops(kind, inputs, 3 if kind == "LSTM" else 2, kind.lower(), **attrs)
        x = g.op("Squeeze", [outs[0], g.ints(1)])  # Y (T, 1, N, H): drop the direction axis
        hn.append(outs[1])
        if kind == "LSTM":
            cn.append(outs[2])

    def layers(states: list[str]) -> str:
        return states[0] if len(states) == 1 else g.op("Concat", states, axis=0)

    return x, layers(hn), (layers(cn) if cn else None)


def _recurrent(g: Graph, m: Any, x: str, value: np.ndarray) -> str:
    # as a layer with one input: zero initial state, the output sequence only
    y, _, _ = recurrent(g, m, swap_first_axes(g, x) if m.batch_first else x)
    return swap_first_axes(g, y) if m.batch_first else y


# ----------------------------------------------------------------------------- language models
def _mlp(g: Graph, m: Any, x: str, value: np.ndarray) -> str:
    for layer in (m.c_fc, m.gelu, m.c_proj, m.dropout):
        x, value = export_module(g, layer, x, value)
    return x


def _block(g: Graph, m: Any, x: str, value: np.ndarray) -> str:
    # x + attn(ln_1(x)) with the causal mask, then x + mlp(ln_2(x)); dropouts are identities
    h, hv = export_module(g, m.ln_1, x, value)
    a, _ = attention(g, m.attn, h, h, h, causal=True)
    x = g.op("Add", [x, a])
    y, _ = export_module(g, m.ln_2, x, hv)  # hv: only its shape matters, the same as x's
    y, _ = export_module(g, m.mlp, y, hv)
    return g.op("Add", [x, y])


def _gpt(g: Graph, m: Any, ids: str, value: np.ndarray) -> str:
    # wte[ids] + wpe[0..T-1]: T read from the ids, so the sequence axis is dynamic; a T beyond
    # block_size asks wpe for a row it does not have, which onnxruntime refuses
    tok = lookup(g, m.wte.weight.data, ids, "wte")                                    # (N, T, E)
    zero, one = g.const(np.array(0, np.int64), "zero"), g.const(np.array(1, np.int64), "one")
    positions = g.op("Range", [zero, _length(g, ids, 1), one])
    pos = g.op("Gather", [g.const(m.wpe.weight.data, "wpe"), positions], axis=0)      # (T, E)
    x, xv = g.op("Add", [tok, pos]), np.zeros((*value.shape, m.n_embd), np.float32)
    for block in m.h:
        x = _block(g, block, x, xv)
    x, _ = export_module(g, m.ln_f, x, xv)
    # the tied head: logits = x · wteᵀ, reading the one stored table through a Transpose
    wte_t = g.op("Transpose", [g.const(m.wte.weight.data, "wte_head")], perm=[1, 0])
    return g.op("MatMul", [x, wte_t])


def _char_rnn(g: Graph, m: Any, ids: str, value: np.ndarray) -> str:
    x, xv = export_module(g, m.embed, ids, value)        # (N, T, E)
    y, yv = export_module(g, m.rnn, x, xv)                # (N, T, H)
    return export_module(g, m.head, y, yv)[0]            # (N, T, V)


def rules() -> dict[type, Rule]:
    """Layer class -> rule, for the sequence layers and language models of ``chainrule.nn``."""
    from .. import nn
    from ..nn.language_models import MLP, Block

    return {nn.MultiheadAttention: _multihead_attention,
            nn.RNN: _recurrent, nn.GRU: _recurrent, nn.LSTM: _recurrent,
            MLP: _mlp, Block: _block, nn.GPT: _gpt, nn.CharRNN: _char_rnn}


__all__ = ["attention", "recurrent", "rules", "swap_first_axes"]
