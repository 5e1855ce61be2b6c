"""Optional dependencies: import one, or say which extra of chainrule installs it.

Each optional feature names its extra here once, so the message a user sees and the extras in
``pyproject.toml`` agree::

    onnx = require("onnx", "ONNX export")   # ConfigError: ... pip install 'chainrule[onnx]'
"""
from __future__ import annotations

import importlib
from types import ModuleType

from .errors import ConfigError

#: importable module -> the chainrule extra that installs it
EXTRAS: dict[str, str] = {
    "onnx": "onnx",
    "onnxruntime": "onnx",
    "tensorboardX": "tensorboard",
    "matplotlib": "plots",
    "ipywidgets": "notebook",
}


def require(module: str, feature: str) -> ModuleType:
    """``import module``; if it is missing, a ConfigError naming ``feature`` and the
    ``pip install 'chainrule[extra]'`` that brings it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        extra = EXTRAS.get(module.split(".")[0])
        how = f"pip install 'chainrule[{extra}]'" if extra else f"pip install {module}"
        raise ConfigError(f"{feature} needs the {module.split('.')[0]} package, which is not "
                          f"installed: {how}") from None


__all__ = ["EXTRAS", "require"]
