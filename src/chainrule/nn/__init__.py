"""Neural-network building blocks: modules (layers), losses and initialisation.

    from chainrule import nn
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    loss_fn = nn.CrossEntropyLoss()

New layer files register their classes in ``nn.registry`` (``@register``) and add their
imports below, so saved architectures can name them.
"""
from . import (
    functional,  # noqa: F401
    init,  # noqa: F401
)
from .attention import MultiheadAttention  # noqa: F401,E402
from .containers import ModuleDict, ModuleList  # noqa: F401,E402
from .conv import Conv2d, Unflatten, lenet  # noqa: F401,E402
from .embedding import Embedding  # noqa: F401,E402
from .language_models import GPT, CharRNN, char_rnn, gpt  # noqa: F401,E402
from .layers import (  # noqa: F401
    GELU,
    Dropout,
    Flatten,
    Identity,
    LeakyReLU,
    Linear,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from .losses import (  # noqa: F401
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
)
from .module import (  # noqa: F401
    IncompatibleKeys,
    Module,
    Parameter,
    Residual,
    Sequential,
    allocation_budget,
    empty_parameter,
)
from .norm import BatchNorm1d, BatchNorm2d, LayerNorm  # noqa: F401,E402
from .pool import AvgPool2d, MaxPool2d  # noqa: F401,E402
from .recurrent import GRU, LSTM, RNN  # noqa: F401,E402
from .registry import LAYERS, from_config, get_layer, register  # noqa: F401

__all__ = [
    "functional", "init", "Module", "Parameter", "Sequential", "Residual", "IncompatibleKeys", "allocation_budget",
    "empty_parameter", "Linear", "Flatten", "Dropout", "Identity", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU",
    "Softmax", "Softplus", "Conv2d", "Unflatten", "lenet", "BatchNorm1d", "BatchNorm2d", "AvgPool2d", "MaxPool2d",
    "MSELoss",
    "L1Loss", "HuberLoss", "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss", "LAYERS", "register",
    "get_layer", "from_config", "Embedding", "LayerNorm", "ModuleList", "ModuleDict", "MultiheadAttention",
    "RNN", "GRU", "LSTM", "GPT", "CharRNN", "gpt", "char_rnn",
]
