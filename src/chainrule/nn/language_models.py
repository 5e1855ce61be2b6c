"""Language models: a GPT (decoder-only transformer) and a recurrent character model.

Both map integer token ids (N, T) to next-token logits (N, T, V), train with
``F.cross_entropy(logits, targets)`` over (N, T, V) and (N, T), and sample text with
``generate``. They are registered, so ``cr.save``/``cr.load`` rebuild them from the file.

GPT (as nanoGPT; Radford et al. 2019):

    x = wte(idx) + wpe(0..T-1)                       token + position embeddings (N, T, E)
    for each block:  x = x + attn(ln_1(x))           pre-LayerNorm, causal self-attention
                     x = x + mlp(ln_2(x))            Linear(E, 4E) -> GELU -> Linear(4E, E)
    logits = ln_f(x) @ wteᵀ                          the head shares the token embedding

The residual additions give the gradient a path from the loss to every block that passes
through no weight and no squashing nonlinearity (∂(x + f(x))/∂x = I + ∂f/∂x).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import catalogue
from ..errors import ConfigError, ShapeError
from ..ops.activation import softmax
from ..ops.linear import dropout, linear
from ..rng import get_rng
from ..tensor import Tensor, no_grad
from . import init
from .attention import MultiheadAttention
from .containers import ModuleList
from .embedding import Embedding
from .layers import GELU, Dropout, Linear, _positive_int
from .module import Module
from .norm import LayerNorm
from .registry import register


def _token_ids(model: str, idx: Any, vocab: int, block: int | None = None) -> np.ndarray:
    a = idx.data if isinstance(idx, Tensor) else np.asarray(idx)
    if a.dtype.kind not in "iu":
        if a.dtype.kind == "f" and a.size and np.all(np.mod(a, 1) == 0):
            a = a.astype(np.int64)
        else:
            raise ShapeError(f"{model}: input must be integer token ids (N, T); got dtype "
                             f"{a.dtype}")
    if a.ndim != 2:
        raise ShapeError(f"{model}: input must be token ids of shape (N, T); got {a.shape}")
    if block is not None and a.shape[1] > block:
        raise ShapeError(f"{model}: sequence length {a.shape[1]} exceeds block_size {block}")
    if a.size and (a.min() < 0 or a.max() >= vocab):
        raise ShapeError(f"{model}: token ids must lie in [0, {vocab - 1}]; got values from "
                         f"{a.min()} to {a.max()}")
    return a


class _LanguageModel(Module):
    """Shared by GPT and CharRNN: integer inputs, and sampling."""

    vocab_size: int
    block_size: int | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)  # token ids stay integers

    def generate(self, idx: Any, max_new_tokens: int, temperature: float = 1.0,
                 top_k: int | None = None, rng: np.random.Generator | None = None,
                 stop: int | None = None) -> np.ndarray:
        """Extend each row of ``idx`` (N, T) by sampling ``max_new_tokens`` tokens, one at a
        time, from ``softmax(logits / temperature)`` (optionally only the ``top_k`` most
        likely). Rows that produce the ``stop`` token stop growing (padded with it).
        Returns (N, T + max_new_tokens) ids; the model is left in evaluation mode."""
        if not temperature > 0:
            raise ConfigError(f"generate: temperature must be positive; got {temperature!r}")
        rng = rng or get_rng()
        seq = _token_ids(type(self).__name__, idx, self.vocab_size).astype(np.int64)
        done = np.zeros(len(seq), dtype=bool)
        self.eval()
        with no_grad():
            for _ in range(int(max_new_tokens)):
                ctx = seq if self.block_size is None else seq[:, -self.block_size:]
                logits = self(ctx).data[:, -1, :].astype(np.float64) / temperature
                if top_k is not None and top_k < logits.shape[-1]:
                    kth = np.sort(logits, axis=-1)[:, -top_k][:, None]
                    logits = np.where(logits < kth, -np.inf, logits)
                p = softmax(Tensor(logits, dtype=np.float64)).data
                # inverse-CDF sampling, one uniform number per row
                u = rng.random((len(p), 1))
                nxt = (p.cumsum(axis=-1) < u).sum(axis=-1).clip(0, p.shape[-1] - 1)
                if stop is not None:
                    nxt = np.where(done, stop, nxt)
                    done |= nxt == stop
                seq = np.concatenate([seq, nxt[:, None]], axis=1)
                if stop is not None and done.all():
                    break
        return seq


class MLP(Module):
    """Position-wise feed-forward: Linear(E, 4E) -> GELU -> Linear(4E, E) -> dropout."""

    def __init__(self, n_embd: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.c_fc = Linear(n_embd, 4 * n_embd)
        self.gelu = GELU()
        self.c_proj = Linear(4 * n_embd, n_embd)
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        result: Tensor = self.dropout(self.c_proj(self.gelu(self.c_fc(x))))
        return result


class Block(Module):
    """Pre-LN transformer block: ``x + attn(ln_1(x))`` then ``x + mlp(ln_2(x))``."""

    def __init__(self, n_embd: int, n_head: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.ln_1 = LayerNorm(n_embd)
        self.attn = MultiheadAttention(n_embd, n_head, dropout=dropout, batch_first=True)
        self.resid_dropout = Dropout(dropout)
        self.ln_2 = LayerNorm(n_embd)
        self.mlp = MLP(n_embd, dropout)

    def forward(self, x: Tensor) -> Tensor:
        h = self.ln_1(x)
        a, _ = self.attn(h, h, h, need_weights=False, is_causal=True)
        x = x + self.resid_dropout(a)
        result: Tensor = x + self.mlp(self.ln_2(x))
        return result


@register
class GPT(_LanguageModel):
    """A small GPT: ``GPT(vocab_size, block_size, n_layer, n_head, n_embd, dropout=0.0)``.

    ``forward(idx)`` maps token ids (N, T), T ≤ block_size, to logits (N, T, vocab_size).
    Initialised as nanoGPT: every Linear and Embedding weight N(0, 0.02), biases zero, and
    the projections that feed the residual stream (attention ``out_proj``, MLP ``c_proj``)
    N(0, 0.02/√(2·n_layer)) so the stream's variance does not grow with depth. The output
    head is tied to ``wte.weight`` (one Parameter, saved once, its gradient the sum of both
    uses).
    """

    def __init__(self, vocab_size: int, block_size: int, n_layer: int = 4, n_head: int = 4,
                 n_embd: int = 64, dropout: float = 0.0) -> None:
        super().__init__()
        self.vocab_size = _positive_int("GPT", "vocab_size", vocab_size)
        self.block_size = _positive_int("GPT", "block_size", block_size)
        self.n_layer = _positive_int("GPT", "n_layer", n_layer)
        self.n_head = _positive_int("GPT", "n_head", n_head)
        self.n_embd = _positive_int("GPT", "n_embd", n_embd)
        if self.n_embd % self.n_head:
            raise ConfigError(f"GPT: n_embd {n_embd} must be divisible by n_head {n_head}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) \
                or not 0 <= dropout < 1:
            raise ConfigError(f"GPT: dropout must be in [0, 1); got {dropout!r}")
        self.dropout = float(dropout)
        self.wte = Embedding(self.vocab_size, self.n_embd)
        self.wpe = Embedding(self.block_size, self.n_embd)
        self.drop = Dropout(self.dropout)
        self.h = ModuleList([Block(self.n_embd, self.n_head, self.dropout)
                             for _ in range(self.n_layer)])
        self.ln_f = LayerNorm(self.n_embd)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        std_proj = 0.02 / math.sqrt(2 * self.n_layer)
        for name, p in self.named_parameters():
            if name.endswith("bias") and ".ln_" not in name and not name.startswith("ln_"):
                init.zeros_(p)
            elif name.endswith(("out_proj.weight", "c_proj.weight")):
                init.normal_(p, 0.0, std_proj)
            elif ".ln_" in name or name.startswith("ln_"):
                continue  # LayerNorm: weight 1, bias 0 (set by the layer)
            else:
                init.normal_(p, 0.0, 0.02)

    def forward(self, idx: Any) -> Tensor:
        ids = _token_ids("GPT", idx, self.vocab_size, self.block_size)
        t = ids.shape[1]
        x = self.drop(self.wte(ids) + self.wpe(np.arange(t)))
        for block in self.h:
            x = block(x)
        x = self.ln_f(x)
        return linear(x, self.wte.weight)  # tied head: logits = x · wteᵀ

    def config(self) -> dict[str, Any]:
        return {"vocab_size": self.vocab_size, "block_size": self.block_size,
                "n_layer": self.n_layer, "n_head": self.n_head, "n_embd": self.n_embd,
                "dropout": self.dropout}


@register
class CharRNN(_LanguageModel):
    """A recurrent language model: Embedding -> RNN/GRU/LSTM (batch_first) -> Linear head.

    ``CharRNN(vocab_size, hidden_size=128, num_layers=1, cell='gru', embedding_dim=None)``;
    ``forward(idx)`` maps ids (N, T) to logits (N, T, vocab_size). With ``cell='rnn'`` (tanh)
    it shows gradients vanishing through time; ``'gru'`` and ``'lstm'`` keep them alive.
    """

    def __init__(self, vocab_size: int, hidden_size: int = 128, num_layers: int = 1,
                 cell: str = "gru", embedding_dim: int | None = None,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if cell not in catalogue.RECURRENT_CELLS:
            raise ConfigError(f"CharRNN: cell must be one of {', '.join(catalogue.RECURRENT_CELLS)}; "
                              f"got {cell!r}")
        self.vocab_size = _positive_int("CharRNN", "vocab_size", vocab_size)
        self.hidden_size = _positive_int("CharRNN", "hidden_size", hidden_size)
        self.num_layers = _positive_int("CharRNN", "num_layers", num_layers)
        self.embedding_dim = _positive_int("CharRNN", "embedding_dim",
                                           embedding_dim or self.hidden_size)
        self.cell = cell
        self.dropout = float(dropout)
        self.embed = Embedding(self.vocab_size, self.embedding_dim)
        self.rnn = catalogue.RECURRENT_CELLS[cell].resolve()(self.embedding_dim, self.hidden_size, self.num_layers,
                                batch_first=True, dropout=self.dropout)
        self.head = Linear(self.hidden_size, self.vocab_size)

    def forward(self, idx: Any) -> Tensor:
        ids = _token_ids("CharRNN", idx, self.vocab_size)
        h, _ = self.rnn(self.embed(ids))
        result: Tensor = self.head(dropout(h, self.dropout, self.training))
        return result

    def config(self) -> dict[str, Any]:
        return {"vocab_size": self.vocab_size, "hidden_size": self.hidden_size,
                "num_layers": self.num_layers, "cell": self.cell,
                "embedding_dim": self.embedding_dim, "dropout": self.dropout}


def gpt(vocab: int, block_size: int, n_layer: int = 4, n_head: int = 4, n_embd: int = 64,
        dropout: float = 0.0) -> GPT:
    """``nn.gpt(vocab, block_size, n_layer, n_head, n_embd)``: a nanoGPT-style model."""
    return GPT(vocab, block_size, n_layer, n_head, n_embd, dropout)


def char_rnn(vocab: int, hidden_size: int = 128, num_layers: int = 1, cell: str = "gru",
             embedding_dim: int | None = None, dropout: float = 0.0) -> CharRNN:
    """``nn.char_rnn(vocab, hidden_size, num_layers, cell)``: a recurrent language model."""
    return CharRNN(vocab, hidden_size, num_layers, cell, embedding_dim, dropout)


__all__ = ["GPT", "MLP", "Block", "CharRNN", "char_rnn", "gpt"]
