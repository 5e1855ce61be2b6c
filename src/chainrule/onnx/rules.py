"""The one table of how each layer becomes ONNX, and the one list of what cannot.

Every layer class registered in ``chainrule.nn`` (``nn.LAYERS``) is in exactly one of
:data:`RULES` (it exports) or :data:`REFUSED` (it cannot, with the reason export gives); a
test holds that, so a new layer fails the suite until it is given a rule or a reason.
"""
from __future__ import annotations

from . import feedforward, sequence
from .graph import Rule

#: layer class -> its export rule (the one place that says how each layer becomes ONNX)
RULES: dict[type, Rule] = {**feedforward.rules(), **sequence.rules()}

_LOSS = ("a loss compares predictions with targets during training, it is not part of a model's "
         "inference graph: export the model without it")
_CONTAINER = ("a container without a forward() of its own: export the module that calls its members "
              "(GPT exports its ModuleList of blocks)")

#: registered layer name -> why it cannot be exported (what export's ConfigError says)
REFUSED: dict[str, str] = {
    "MSELoss": _LOSS, "L1Loss": _LOSS, "HuberLoss": _LOSS, "CrossEntropyLoss": _LOSS,
    "NLLLoss": _LOSS, "BCELoss": _LOSS, "BCEWithLogitsLoss": _LOSS,
    "ModuleList": _CONTAINER, "ModuleDict": _CONTAINER,
}

__all__ = ["REFUSED", "RULES"]
