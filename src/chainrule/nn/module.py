"""Module: the base of every layer and model, plus the containers Sequential and Residual.

A Module owns *parameters* (Tensors with ``requires_grad=True``), *buffers* (ndarrays that are
state but not trained, e.g. BatchNorm's running mean) and *submodules*, all stored as plain
attributes. They are found by walking ``__dict__`` in the order the attributes were first set
(lists, tuples and dicts of modules or parameters are walked too), which gives deterministic
names such as ``0.weight`` or ``layers.1.bias`` — the keys of ``state_dict()`` and of saved
files.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any, Literal, NamedTuple

import numpy as np

from ..errors import ConfigError, ModelFileError
from ..tensor import DEFAULT_DTYPE, Tensor, from_numpy
from .registry import LAYERS, from_config, register


def Parameter(data: Any, dtype: Any = None) -> Tensor:
    """A trainable tensor: ``requires_grad=True``; an array becomes float32 unless ``dtype``
    says otherwise (as ``cr.tensor``); a Tensor keeps its dtype.

    Layers should create weights with :func:`empty_parameter` and fill them afterwards with
    an ``nn.init`` function: loading an untrusted architecture then checks each parameter's
    size before allocating it.
    """
    if isinstance(data, Tensor):  # a Tensor keeps its dtype (e.g. float64 from from_numpy)
        dtype = dtype or data.dtype
        data = data.data
    return Tensor(data, requires_grad=True, dtype=dtype or DEFAULT_DTYPE)


# ----------------------------------------------------------------------------- allocation budget
class _Budget(threading.local):
    """While a model file's architecture is being built, the bytes its parameters may take."""

    remaining: int | None = None


_budget = _Budget()


class allocation_budget:
    """Context manager: parameters and buffers assigned inside may total at most ``nbytes``.

    ``chainrule.io.load`` builds architectures from untrusted files inside one, sized by the
    tensor data actually present in the file, so a header declaring ``Linear(10**6, 10**6)``
    fails before that memory is touched.
    """

    def __init__(self, nbytes: int) -> None:
        self.nbytes = int(nbytes)

    def __enter__(self) -> allocation_budget:
        self._prev = _budget.remaining
        _budget.remaining = self.nbytes
        return self

    def __exit__(self, *exc: Any) -> None:
        _budget.remaining = self._prev


def _charge(name: str, nbytes: int) -> None:
    if _budget.remaining is None:
        return
    if nbytes > _budget.remaining:
        raise ModelFileError(
            f"the architecture asks for more parameter memory than the file holds: "
            f"'{name}' needs {nbytes} bytes, only {_budget.remaining} left")
    _budget.remaining -= nbytes


def _check_allocation(dims: tuple[int, ...], dtype: Any, what: str) -> None:
    """Inside an ``allocation_budget``, refuse an array of ``dims`` larger than what is left,
    *before* it is allocated (assigning it to a module charges it)."""
    if _budget.remaining is None:
        return
    nbytes = np.dtype(dtype).itemsize
    for d in dims:
        nbytes *= d
    if nbytes > _budget.remaining:
        raise ModelFileError(
            f"the architecture asks for more parameter memory than the file holds: a "
            f"{what} of shape {dims} needs {nbytes} bytes, only {_budget.remaining} left")


def empty_parameter(*shape: int, dtype: Any = DEFAULT_DTYPE, order: Literal["C", "F"] = "C") -> Tensor:
    """An uninitialised trainable tensor of ``shape``, for layers to fill with ``nn.init``.

    ``order`` is the memory layout, row-major ``"C"`` or column-major ``"F"`` (see
    ``nn.Linear``); the shape and the values do not depend on it.

    Inside an ``allocation_budget`` (while a model file's architecture is being built) the
    size is checked *before* allocating, so a hostile ``Linear(10**6, 10**6)`` costs nothing.
    """
    dims = tuple(int(d) for d in shape)
    _check_allocation(dims, dtype, "parameter")
    return from_numpy(np.empty(dims, dtype=dtype, order=order), requires_grad=True)


def new_buffer(shape: tuple[int, ...], fill: float, dtype: Any = DEFAULT_DTYPE) -> np.ndarray:
    """A buffer (running statistics ...) of ``shape`` filled with ``fill``, size-checked before
    allocating like :func:`empty_parameter`; pass it to ``register_buffer``."""
    dims = tuple(int(d) for d in shape)
    _check_allocation(dims, dtype, "buffer")
    return np.full(dims, fill, dtype=dtype)


class IncompatibleKeys(NamedTuple):
    missing_keys: list[str]
    unexpected_keys: list[str]


# ----------------------------------------------------------------------------- Module
class Module:
    """Base class of layers and models: subclass it, set parameters and submodules as
    attributes in ``__init__`` (after ``super().__init__()``), and write ``forward``.

        class MLP(nn.Module):
            def __init__(self):
                super().__init__()
                self.hidden = nn.Linear(784, 128)
                self.out = nn.Linear(128, 10)

            def forward(self, x):           # x: (N, 784) -> (N, 10)
                return self.out(self.hidden(x).relu())

    Calling a module runs ``forward``; a NumPy array as first argument becomes a Tensor
    (float32), so batches from the DataLoader can be passed directly.
    """

    training: bool = True  # class default, so a subclass that forgot super().__init__() works
    _buffer_names: list[str]  # set by __init__: names of the arrays register_buffer() keeps

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_buffer_names", [])

    def __setattr__(self, name: str, value: Any) -> None:
        if _budget.remaining is not None:
            if isinstance(value, Tensor) and value.requires_grad:
                _charge(name, value.data.nbytes)
            elif isinstance(value, np.ndarray):
                _charge(name, value.nbytes)
        object.__setattr__(self, name, value)

    # --- forward
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if args and isinstance(args[0], np.ndarray):
            x = args[0]  # a batch is only read: wrap float32 data without copying it
            args = (from_numpy(x) if x.dtype == np.float32 else Tensor(x),) + args[1:]
        return self.forward(*args, **kwargs)

    # --- buffers
    def register_buffer(self, name: str, array: Any) -> None:
        """Keep ``array`` as state saved in ``state_dict`` but not trained (no gradient)."""
        if "_buffer_names" not in self.__dict__:
            raise ConfigError(f"{type(self).__name__}: call super().__init__() before "
                              f"register_buffer({name!r})")
        setattr(self, name, np.asarray(array))
        if name not in self._buffer_names:
            self._buffer_names.append(name)

    # --- walking
    def _items(self) -> Iterator[tuple[str, Any]]:
        """(name, value) of each parameter or submodule held directly, in definition order."""
        for name, value in self.__dict__.items():
            if name in ("training", "_buffer_names"):
                continue
            if isinstance(value, (Module, Tensor)):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, v in enumerate(value):
                    if isinstance(v, (Module, Tensor)):
                        yield f"{name}.{i}", v
            elif isinstance(value, dict):
                for k, v in value.items():
                    if isinstance(v, (Module, Tensor)):
                        yield f"{name}.{k}", v

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Direct submodules with their attribute names."""
        for name, value in self._items():
            if isinstance(value, Module):
                yield name, value

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module (name ``''``) and every submodule, depth first, with dotted names."""
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, mod = stack.pop()
            if id(mod) in seen:
                continue
            seen.add(id(mod))
            yield name, mod
            kids = [(f"{name}.{n}" if name else n, m) for n, m in mod.named_children()]
            stack.extend(reversed(kids))

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_parameters(self) -> Iterator[tuple[str, Tensor]]:
        """Every trainable tensor (``requires_grad=True``) with its dotted name, each once."""
        seen: set[int] = set()
        # depth first in attribute-definition order: (name, value) pairs still to visit
        stack: list[tuple[str, Any]] = list(reversed(list(self._items())))
        while stack:
            name, value = stack.pop()
            if id(value) in seen:
                continue
            seen.add(id(value))
            if isinstance(value, Module):
                stack.extend(reversed([(f"{name}.{n}", v) for n, v in value._items()]))
            elif value.requires_grad and value.is_leaf:  # not a cached intermediate result
                yield name, value

    def parameters(self) -> list[Tensor]:
        """The trainable tensors, in ``named_parameters`` order (a list, reusable)."""
        return [p for _, p in self.named_parameters()]

    def named_buffers(self) -> Iterator[tuple[str, np.ndarray]]:
        for mname, mod in self.named_modules():
            for name in mod.__dict__.get("_buffer_names", ()):
                yield (f"{mname}.{name}" if mname else name), getattr(mod, name)

    def num_parameters(self) -> int:
        """Total number of trainable scalars."""
        return int(sum(p.data.size for p in self.parameters()))

    def summary(self, input_shape: Any = None) -> Any:
        """A Keras-style table: each layer's output shape for one example of ``input_shape``
        (without the batch axis, e.g. ``(784,)`` or ``(1, 28, 28)``; default: read from the
        first layer when it fixes it), its parameter count, and totals (trainable,
        non-trainable, bytes). Returns a ``ModelSummary``: ``print`` it, or let a notebook
        show it as an HTML table. See ``chainrule.nn.summary``."""
        from .summary import summarize

        return summarize(self, input_shape)

    def _repr_html_(self) -> str:
        """Jupyter shows a model as its summary table."""
        result: str = self.summary()._repr_html_()
        return result

    # --- modes and gradients
    def train(self, mode: bool = True) -> Module:
        """Switch this module and all submodules to training (or, with False, evaluation)."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Evaluation mode: Dropout passes values through, BatchNorm uses running stats."""
        return self.train(False)

    def apply(self, fn: Any) -> Module:
        """Call ``fn(module)`` on every submodule and then this one (e.g. custom init)."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def astype(self, dtype: Any) -> Module:
        """Convert every parameter and floating-point buffer to ``dtype`` in place (e.g.
        ``np.float64`` for gradient checks); returns self. Create the optimizer afterwards."""
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise ConfigError(f"astype: parameters must stay floating point; got {dtype}")
        for p in self.parameters():
            p.data = p.data.astype(dtype)
            p.grad = None
        for _, mod in self.named_modules():
            for b in mod.__dict__.get("_buffer_names", ()):
                arr = getattr(mod, b)
                if isinstance(arr, np.ndarray) and arr.dtype.kind == "f":
                    object.__setattr__(mod, b, arr.astype(dtype))
        return self

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (``grad = None``)."""
        for p in self.parameters():
            p.grad = None

    # --- state
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Name -> *copy* of each parameter's and buffer's array (safe to keep while training
        goes on in place)."""
        out: OrderedDict[str, np.ndarray] = OrderedDict()
        for name, p in self.named_parameters():
            out[name] = p.data.copy()
        for name, b in self.named_buffers():
            out[name] = np.array(b, copy=True)
        return out

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy arrays from ``state`` into the parameters and buffers (keeping their dtypes).

        Raises ModelFileError naming the keys when shapes differ or, with ``strict``, when
        keys are missing or unexpected. Returns ``(missing_keys, unexpected_keys)``.
        """
        targets: dict[str, tuple[Module | None, str, Any]] = {}
        for name, p in self.named_parameters():
            targets[name] = (None, name, p)
        for mname, mod in self.named_modules():
            for b in mod.__dict__.get("_buffer_names", ()):
                full = f"{mname}.{b}" if mname else b
                targets[full] = (mod, b, getattr(mod, b))
        missing = [k for k in targets if k not in state]
        unexpected = [k for k in state if k not in targets]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append(f"missing keys {missing}")
            if unexpected:
                parts.append(f"unexpected keys {unexpected}")
            raise ModelFileError(f"load_state_dict into {type(self).__name__}: "
                                 f"{'; '.join(parts)}")
        bad = []
        values = {}
        for k, (_, _, cur) in targets.items():
            if k not in state:
                continue
            v = state[k]
            v = v.data if isinstance(v, Tensor) else np.asarray(v)
            cur_shape = cur.data.shape if isinstance(cur, Tensor) else np.shape(cur)
            if v.shape != cur_shape:
                bad.append(f"'{k}': file {v.shape} vs model {cur_shape}")
            values[k] = v
        if bad:
            raise ModelFileError(f"load_state_dict into {type(self).__name__}: shape "
                                 f"mismatch for {', '.join(bad)}")
        for k, v in values.items():
            owner, attr, cur = targets[k]
            if isinstance(cur, Tensor):
                fresh = np.empty_like(cur.data)  # a new array, in the parameter's own layout
                fresh[...] = v
                cur.data = fresh
            else:
                dtype = cur.dtype if isinstance(cur, np.ndarray) else v.dtype
                object.__setattr__(owner, attr, np.array(v, dtype=dtype, copy=True))
        return IncompatibleKeys(missing, unexpected)

    # --- architecture
    def config(self) -> dict[str, Any] | None:
        """The constructor's keyword arguments (JSON-serialisable), or None when this module
        cannot be rebuilt from a config (a custom model: save its state only)."""
        return None

    def to_config(self) -> dict[str, Any]:
        """``{"type": ClassName, **config()}``, nested for containers; ConfigError if some
        module in the tree has no config or is not registered."""
        cfg = self.config()
        self._check_rebuildable(cfg)
        return {"type": type(self).__name__, **(cfg or {})}

    def _check_rebuildable(self, cfg: dict[str, Any] | None) -> None:
        name = type(self).__name__
        if cfg is None or LAYERS.get(name) is not type(self):
            raise ConfigError(
                f"{name} has no architecture config (custom module, or not registered with "
                f"nn.register): save its state only and load with model.load_state_dict(...)")

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> Module:
        """Build from ``{"type": ..., **kwargs}`` (containers override this)."""
        kwargs = {k: v for k, v in cfg.items() if k != "type"}
        return cls(**kwargs)

    # --- printing
    def extra_repr(self) -> str:
        """The text inside the parentheses of ``repr`` (default: the config's items)."""
        cfg = self.config()
        return ", ".join(f"{k}={v!r}" for k, v in cfg.items()) if cfg else ""

    def __repr__(self) -> str:
        kids = list(self.named_children())
        head = f"{type(self).__name__}({self.extra_repr() if not kids else ''}"
        if not kids:
            return head + ")"
        lines = [head]
        for name, m in kids:
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {sub}")
        return "\n".join(lines) + "\n)"


# ----------------------------------------------------------------------------- containers
@register
class Sequential(Module):
    """Layers applied one after another: ``Sequential(Linear(4, 16), ReLU(), Linear(16, 3))``.

    Supports ``seq[i]``, ``seq[a:b]`` (a new Sequential sharing the layers), ``len``,
    iteration and ``append``. Parameter names are ``<index>.<name>``, e.g. ``0.weight``.
    """

    def __init__(self, *layers: Module) -> None:
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, m in enumerate(layers):
            if not isinstance(m, Module):
                raise ConfigError(f"Sequential: item {i} is a {type(m).__name__}, not a Module")
        self.layers: list[Module] = list(layers)

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for i, m in enumerate(self.layers):
            yield str(i), m

    def _items(self) -> Iterator[tuple[str, Any]]:
        return self.named_children()

    def forward(self, x: Any) -> Any:
        for layer in self.layers:
            x = layer(x)
        return x

    def append(self, layer: Module) -> Sequential:
        if not isinstance(layer, Module):
            raise ConfigError(f"Sequential.append: expected a Module; got {type(layer).__name__}")
        self.layers.append(layer)
        return self

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return Sequential(*self.layers[idx])
        return self.layers[idx]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers)

    def config(self) -> dict[str, Any]:
        return {}

    def to_config(self) -> dict[str, Any]:
        self._check_rebuildable(self.config())  # a subclass may change forward()
        return {"type": "Sequential", "layers": [m.to_config() for m in self.layers]}

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> Sequential:
        layers = cfg.get("layers", [])
        if not isinstance(layers, list):
            raise ConfigError(f"Sequential config: 'layers' must be a list; got {layers!r:.100}")
        return cls(*[from_config(c) for c in layers])


@register
class Residual(Module):
    """A skip connection: ``x + module(x)`` (module must keep the shape)."""

    def __init__(self, module: Module) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise ConfigError(f"Residual: expected a Module; got {type(module).__name__}")
        self.module = module

    def forward(self, x: Any) -> Any:
        return x + self.module(x)

    def config(self) -> dict[str, Any]:
        return {}

    def to_config(self) -> dict[str, Any]:
        self._check_rebuildable(self.config())
        return {"type": "Residual", "module": self.module.to_config()}

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> Residual:
        return cls(from_config(cfg.get("module")))


__all__ = ["Module", "Parameter", "empty_parameter", "Sequential", "Residual",
           "IncompatibleKeys", "allocation_budget", "new_buffer"]
