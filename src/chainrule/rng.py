"""The one random-number generator behind chainrule: initialisation, dropout, shuffling.

``cr.manual_seed(s)`` makes a whole run repeatable; ``get_state``/``set_state`` let a
checkpoint carry the generator so a resumed run draws the same numbers as an unbroken one.

As in PyTorch, where ``torch.Generator`` objects may be passed as ``generator=`` to the
functions that draw, every drawing function here (``F.dropout``, ``nn.Dropout``, ``nn.init``)
takes ``generator=``: a ``numpy.random.Generator`` of the caller's own (chainrule's counterpart
of ``torch.Generator``: seeded, with a state to save). Code that keeps several independent,
repeatable streams -- one per playground session, one per worker -- passes its own and never
touches the global one; ``None`` draws from the global generator.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ConfigError

_rng: np.random.Generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the global generator (PCG64) and return it."""
    global _rng
    _rng = np.random.default_rng(seed)
    return _rng


def get_rng() -> np.random.Generator:
    """The global generator used by ``randn``, ``rand``, ``nn.init`` and ``F.dropout``."""
    return _rng


def pick(generator: np.random.Generator | None, where: str = "generator") -> np.random.Generator:
    """``generator`` itself, or the global generator when it is None (what ``generator=`` means)."""
    if generator is None:
        return _rng
    if not isinstance(generator, np.random.Generator):
        raise ConfigError(f"{where}: generator must be a numpy.random.Generator "
                          f"(e.g. numpy.random.default_rng(0)) or None; got {type(generator).__name__}")
    return generator


def get_state() -> dict[str, Any]:
    """A JSON-serialisable snapshot of the global generator's state."""
    return dict(_rng.bit_generator.state)


def set_state(state: dict[str, Any]) -> None:
    """Restore a snapshot taken by :func:`get_state`."""
    _rng.bit_generator.state = state
