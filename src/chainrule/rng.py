"""The one random-number generator behind chainrule: initialisation, dropout, shuffling.

``cr.manual_seed(s)`` makes a whole run repeatable; ``get_state``/``set_state`` let a
checkpoint carry the generator so a resumed run draws the same numbers as an unbroken one.
"""
from __future__ import annotations

from typing import Any

import numpy as np

_rng: np.random.Generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the global generator (PCG64) and return it."""
    global _rng
    _rng = np.random.default_rng(seed)
    return _rng


def get_rng() -> np.random.Generator:
    """The global generator used by ``randn``, ``rand``, ``nn.init`` and ``F.dropout``."""
    return _rng


def get_state() -> dict[str, Any]:
    """A JSON-serialisable snapshot of the global generator's state."""
    return dict(_rng.bit_generator.state)


def set_state(state: dict[str, Any]) -> None:
    """Restore a snapshot taken by :func:`get_state`."""
    _rng.bit_generator.state = state
