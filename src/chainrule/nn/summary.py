"""``model.summary(input_shape)``: a Keras-style table of a model's layers.

For each module in the tree (depth first, containers included) the table gives its name and
type, the shape of its output for an input of ``input_shape`` (one example, without the batch
axis; the batch is shown as ``N``), and the number of parameters it holds itself. Totals
follow: trainable parameters, non-trainable values (floating-point buffers such as
BatchNorm's running statistics, as Keras counts them) and the bytes all of them take.

Output shapes are found by running the model once, in evaluation mode and without recording
a graph, on a batch of one zero example, with each module's ``forward`` wrapped to note the
shape it returns; the wrappers are removed and the training mode restored afterwards.
"""
from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ChainruleError, ConfigError


@dataclass(frozen=True)
class LayerRow:
    """One row of a summary: a module of the tree."""

    name: str  # dotted path in the model ("" for the model itself), e.g. "3.module.0"
    kind: str  # class name, e.g. "Linear"
    depth: int  # nesting level (0 for the model's direct children)
    output_shape: tuple[Any, ...] | None  # ("N", 128) or None when unknown
    params: int  # trainable scalars the module holds itself (not its children's)
    non_trainable: int  # values in its floating-point buffers


@dataclass(frozen=True)
class ModelSummary:
    """What ``Module.summary`` returns; prints as Keras's table, shows as HTML in notebooks."""

    model_name: str
    input_shape: tuple[Any, ...] | None
    rows: list[LayerRow] = field(default_factory=list)
    trainable: int = 0
    non_trainable: int = 0
    nbytes: int = 0
    error: str | None = None  # why output shapes are missing, when they are

    @property
    def total(self) -> int:
        return self.trainable + self.non_trainable

    def _cells(self) -> list[tuple[str, str, str]]:
        out = []
        for r in self.rows:
            label = f"{'  ' * r.depth}{r.name} ({r.kind})"
            shape = "?" if r.output_shape is None else "(" + ", ".join(map(str, r.output_shape)) + ")"
            out.append((label, shape, f"{r.params + r.non_trainable:,}"))
        return out

    def _totals(self) -> list[str]:
        return [f"Total params: {self.total:,} ({_bytes(self.nbytes)})",
                f"Trainable params: {self.trainable:,}",
                f"Non-trainable params: {self.non_trainable:,}"]

    def __str__(self) -> str:
        head = ("Layer (type)", "Output Shape", "Param #")
        cells = self._cells()
        w = [max([len(head[i])] + [len(c[i]) for c in cells]) + 2 for i in range(3)]
        width = sum(w)
        title = f'Model: "{self.model_name}"'
        if self.input_shape is not None:
            title += f"  input (N, {', '.join(map(str, self.input_shape))})" if self.input_shape \
                else "  input (N,)"
        lines = [title, "─" * width,
                 head[0].ljust(w[0]) + head[1].ljust(w[1]) + head[2].rjust(w[2] - 2), "═" * width]
        lines += [c[0].ljust(w[0]) + c[1].ljust(w[1]) + c[2].rjust(w[2] - 2) for c in cells]
        lines.append("═" * width)
        lines += self._totals()
        if self.error:
            lines.append(f"(output shapes unknown: {self.error})")
        lines.append("─" * width)
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        e = html.escape
        rows = "".join(
            f"<tr><td style='text-align:left;padding-left:{0.4 + 1.2 * r.depth:.1f}em'>"
            f"{e(r.name)} <span style='opacity:.7'>({e(r.kind)})</span></td>"
            f"<td style='text-align:left'><code>{e(c[1])}</code></td>"
            f"<td style='text-align:right'>{e(c[2])}</td></tr>"
            for r, c in zip(self.rows, self._cells()))
        note = f"<p><em>output shapes unknown: {e(self.error)}</em></p>" if self.error else ""
        return (f"<div class='chainrule-summary'><strong>Model: {e(self.model_name)}</strong>"
                "<table><thead><tr><th style='text-align:left'>Layer (type)</th>"
                "<th style='text-align:left'>Output shape</th><th style='text-align:right'>Param #"
                f"</th></tr></thead><tbody>{rows}</tbody></table>"
                f"<p>{'<br>'.join(e(t) for t in self._totals())}</p>{note}</div>")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (``chainrule evaluate --summary --json``)."""
        return {"model": self.model_name, "input_shape": self.input_shape,
                "layers": [{"name": r.name, "type": r.kind, "depth": r.depth,
                            "output_shape": None if r.output_shape is None else list(r.output_shape),
                            "params": r.params, "non_trainable": r.non_trainable} for r in self.rows],
                "trainable": self.trainable, "non_trainable": self.non_trainable,
                "total": self.total, "bytes": self.nbytes}


def _bytes(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    for unit in ("KB", "MB", "GB"):
        n /= 1024  # type: ignore[assignment]
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}"
    return f"{n} B"  # pragma: no cover


def guess_input_shape(model: Any) -> tuple[int, ...] | None:
    """One example's shape, read from the first layer when it tells (Linear, Unflatten,
    BatchNorm1d); None otherwise (a Conv2d does not fix the image size)."""
    from .conv import Unflatten
    from .layers import Linear
    from .norm import BatchNorm1d

    for _, m in model.named_modules():
        if isinstance(m, Linear):
            return (m.in_features,)
        if isinstance(m, Unflatten) and m.axis in (1, -1):
            return (math.prod(m.shape),)
        if isinstance(m, BatchNorm1d):
            return (m.num_features,)
        if any(True for _ in m.named_children()):
            continue  # a container: look at its first child
        return None
    return None


def _own_counts(module: Any) -> tuple[int, int, int]:
    """(trainable scalars, non-trainable float buffer values, bytes) the module holds itself."""
    from ..tensor import Tensor

    params = nontrain = nbytes = 0
    for _name, value in module._items():
        if isinstance(value, Tensor) and value.is_leaf:
            nbytes += value.data.nbytes
            if value.requires_grad:
                params += value.data.size
            else:
                nontrain += value.data.size
    for b in module.__dict__.get("_buffer_names", ()):
        arr = getattr(module, b)
        if isinstance(arr, np.ndarray):
            nbytes += arr.nbytes
            if arr.dtype.kind == "f":
                nontrain += arr.size
    return params, nontrain, nbytes


def _shape_of(value: Any) -> tuple[Any, ...] | None:
    shape = getattr(value, "shape", None)
    if shape is None:
        return None
    shape = tuple(int(s) for s in shape)
    return ("N",) + shape[1:] if shape else shape


def summarize(model: Any, input_shape: Sequence[int] | None = None,
              dtype: Any = np.float32) -> ModelSummary:
    """Summarise ``model`` (see the module docstring); ``input_shape`` is one example's shape,
    e.g. ``(784,)`` or ``(1, 28, 28)`` (a leading batch axis is not included). Without it the
    shape is read from the first layer when possible, else output shapes show as ``?``."""
    from ..tensor import Tensor, no_grad

    if input_shape is None:
        input_shape = guess_input_shape(model)
    elif isinstance(input_shape, (int, np.integer)):
        input_shape = (int(input_shape),)
    if input_shape is not None:
        try:
            input_shape = tuple(int(s) for s in input_shape)
        except (TypeError, ValueError):
            raise ConfigError(f"summary: input_shape must be a tuple of ints such as (784,) or "
                              f"(1, 28, 28); got {input_shape!r}") from None
        if any(s < 1 for s in input_shape):
            raise ConfigError(f"summary: input_shape must be positive; got {input_shape!r}")

    modules = [(n, m) for n, m in model.named_modules() if n]
    shapes: dict[int, tuple[Any, ...] | None] = {}
    error = None if input_shape is not None else "no input_shape given and the first layer does not fix it"
    if input_shape is not None:
        modes = [(m, m.training) for _, m in model.named_modules()]
        wrapped = []
        for _, m in model.named_modules():
            if "forward" in m.__dict__:
                continue

            def recording(*args: Any, _m: Any = m, **kwargs: Any) -> Any:
                out = type(_m).forward(_m, *args, **kwargs)
                shapes[id(_m)] = _shape_of(out)
                return out

            object.__setattr__(m, "forward", recording)
            wrapped.append(m)
        try:
            model.eval()
            with no_grad():
                model(Tensor(np.zeros((1, *input_shape), dtype)))
        except ChainruleError as exc:
            error = f"the model does not take input shape {input_shape}: {exc}"
        finally:
            for m in wrapped:
                object.__delattr__(m, "forward")
            for m, mode in modes:
                object.__setattr__(m, "training", mode)

    rows, trainable, nontrain, nbytes = [], 0, 0, 0
    t0, n0, b0 = _own_counts(model)
    trainable, nontrain, nbytes = t0, n0, b0
    for name, m in modules:
        t, n, b = _own_counts(m)
        trainable, nontrain, nbytes = trainable + t, nontrain + n, nbytes + b
        rows.append(LayerRow(name, type(m).__name__, name.count("."),
                             shapes.get(id(m)), t, n))
    return ModelSummary(type(model).__name__, input_shape, rows, trainable, nontrain, nbytes, error)


__all__ = ["ModelSummary", "LayerRow", "summarize", "guess_input_shape"]
