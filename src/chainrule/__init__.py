"""chainrule: neural networks that learn by backpropagation, built from the ground up on NumPy.

    import chainrule as cr
    from chainrule import nn, optim
    import chainrule.nn.functional as F

Only NumPy is imported eagerly; subpackages (``nn``, ``optim``, ``data``, ``training``,
``io``, ``viz``, ``playground``) and the functions that live in them load on first use.
"""
from __future__ import annotations

from . import _startup

_startup.guard()  # the chainrule command only: Ctrl-C while it starts up exits quietly (130)

import importlib

from .allocator import retain_freed_memory as _retain_freed_memory
from .errors import *  # noqa: F401,F403
from .errors import __all__ as _error_names
from .gradcheck import gradcheck
from .ops.combine import concatenate, maximum, minimum, stack, where
from .parallel import get_num_threads, set_num_threads
from .rng import get_rng, manual_seed
from .tensor import (
    Tensor,
    arange,
    detect_anomaly,
    enable_grad,
    from_numpy,
    is_grad_enabled,
    no_grad,
    ones,
    ones_like,
    rand,
    randn,
    tensor,
    zeros,
    zeros_like,
)

__version__ = "0.1.0"

_retain_freed_memory()  # reuse freed feature maps across steps (see allocator.py)

_SUBMODULES = {"nn", "optim", "data", "training", "io", "viz", "playground", "functional", "onnx"}
# name -> (module, attribute) for functions that live in lazily loaded subpackages
_LAZY = {
    "save": ("chainrule.io", "save"),
    "load": ("chainrule.io", "load"),
    "save_checkpoint": ("chainrule.io", "save_checkpoint"),
    "load_checkpoint": ("chainrule.io", "load_checkpoint"),
    "fit": ("chainrule.training", "fit"),
    "evaluate": ("chainrule.training", "evaluate"),
    "predict": ("chainrule.training", "predict"),
    "explain": ("chainrule.explanation", "explain"),
}


def __getattr__(name: str):
    if name in _SUBMODULES:
        mod = importlib.import_module("chainrule.nn.functional" if name == "functional" else f"chainrule.{name}")
        globals()[name] = mod
        return mod
    if name in _LAZY:
        modname, attr = _LAZY[name]
        value = getattr(importlib.import_module(modname), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'chainrule' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public API only: ``__all__``, the subpackages and ``__version__`` (not the helpers
    and modules this file imports to build it)."""
    return sorted({*__all__, *_SUBMODULES, "__version__"})


__all__ = [
    "Tensor", "tensor", "from_numpy", "zeros", "ones", "zeros_like", "ones_like", "randn", "rand",
    "arange", "no_grad", "enable_grad", "is_grad_enabled", "detect_anomaly", "concatenate", "stack",
    "where", "maximum", "minimum", "gradcheck", "manual_seed", "get_rng", "get_num_threads",
    "set_num_threads", *_error_names, *_LAZY,
]
