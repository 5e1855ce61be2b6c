"""Embedding: a trainable lookup table from integer ids to vectors (the calculus is in
``ops/embedding.py``)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from ..ops.embedding import embedding
from ..tensor import Tensor
from . import init
from .layers import _positive_int
from .module import Module, empty_parameter
from .registry import register


@register
class Embedding(Module):
    """``weight[input]``: integer ids of any shape S -> vectors S + (embedding_dim,).

    ``weight`` is (num_embeddings, embedding_dim), initialised N(0, 1) as in PyTorch.
    ``padding_idx`` names a row kept at zero that receives no gradient.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int,
                 padding_idx: int | None = None) -> None:
        super().__init__()
        self.num_embeddings = _positive_int("Embedding", "num_embeddings", num_embeddings)
        self.embedding_dim = _positive_int("Embedding", "embedding_dim", embedding_dim)
        if padding_idx is not None:
            if not isinstance(padding_idx, (int, np.integer)) or isinstance(padding_idx, bool) \
                    or not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ConfigError(f"Embedding: padding_idx must be an index into the "
                                  f"{self.num_embeddings} rows; got {padding_idx!r}")
            padding_idx = int(padding_idx) % self.num_embeddings
        self.padding_idx = padding_idx
        self.weight = empty_parameter(self.num_embeddings, self.embedding_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)  # ids stay integers (Module would make floats)

    def forward(self, input: Any) -> Tensor:
        return embedding(input, self.weight, self.padding_idx)

    def config(self) -> dict[str, Any]:
        return {"num_embeddings": self.num_embeddings, "embedding_dim": self.embedding_dim,
                "padding_idx": self.padding_idx}


__all__ = ["Embedding"]
