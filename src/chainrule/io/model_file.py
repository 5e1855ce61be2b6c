"""``cr.save`` / ``cr.load``: models as safetensors files with a JSON architecture header.

The file's ``__metadata__`` (strings only, as safetensors requires) holds::

    chainrule_format  "1"
    kind              "model" (or "checkpoint", see checkpoint.py)
    architecture      JSON of model.to_config(), when every layer has a config
    metadata          JSON of the user's metadata dict (class names, feature mean/std ...)

Tensors are the model's ``state_dict()`` under their parameter names (``0.weight`` ...), in
their own dtypes (float32 stays float32). A file with an architecture loads back as a module
without the code that built it; a custom model without one is saved state-only and restored
with ``model.load_state_dict(cr.load(path))`` or ``cr.load(path, model=model)``.
"""
from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from ..errors import ConfigError, ModelFileError
from ..tensor import Tensor
from .safetensors_format import DTYPES, read_header, read_safetensors, write_safetensors

FORMAT_VERSION = "1"


def to_json(value: Any, what: str) -> str:
    """JSON text of ``value``; ndarrays become lists and NumPy scalars numbers."""
    def default(o: Any) -> Any:
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, (tuple, set)):
            return list(o)
        raise TypeError(f"{type(o).__name__} is not JSON-serialisable")

    try:
        return json.dumps(value, default=default)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"cannot store {what} in the file header: {exc}") from None


def from_json(path: str, text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ModelFileError(f"{path}: {what} in the header is not valid JSON: "
                             f"{str(exc)[:200]}") from None


def _state_arrays(obj: Any) -> tuple[dict[str, np.ndarray], dict | None]:
    """(name -> ndarray, architecture or None) from a Module or a state dict."""
    from ..nn.module import Module

    if isinstance(obj, Module):
        try:
            arch = obj.to_config()
        except ConfigError:
            arch = None  # custom module: state only
        return dict(obj.state_dict()), arch
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise ConfigError(f"state dict keys must be strings; got {k!r}")
            out[k] = v.data if isinstance(v, Tensor) else np.asarray(v)
        return out, None
    raise ConfigError(f"cr.save expects a Module or a dict of arrays; got {type(obj).__name__}")


def save(obj: Any, path: str | os.PathLike, metadata: dict | None = None) -> None:
    """Save a Module (weights + architecture when available) or a state dict, atomically.

    Args:
        obj: an ``nn.Module`` or a dict name -> ndarray/Tensor.
        path: destination, conventionally ``*.safetensors``.
        metadata: JSON-serialisable dict stored alongside (ndarrays become lists), read back
            with ``read_metadata(path)``.
    """
    tensors, arch = _state_arrays(obj)
    meta = {"chainrule_format": FORMAT_VERSION, "kind": "model"}
    if arch is not None:
        meta["architecture"] = to_json(arch, "the architecture")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise ConfigError(f"metadata must be a dict; got {type(metadata).__name__}")
        meta["metadata"] = to_json(metadata, "metadata")
    write_safetensors(path, tensors, meta)


MAX_CONFIG_NODES = 100_000  # dicts in an architecture (layers); each becomes a Module


def _check_size(path: str, arch: Any, budget: int) -> None:
    """Refuse architectures with absurdly many layers, or any size larger than the bytes the
    file's tensors take (no layer dimension can exceed them), before building any layer: a
    defence in depth beside the per-allocation budget, for layers that allocate otherwise."""
    count, stack = 0, [arch]
    while stack:
        node = stack.pop()
        if isinstance(node, int) and not isinstance(node, bool) and abs(node) > budget:
            raise ModelFileError(f"{path}: the architecture asks for more parameter memory than the file "
                                 f"holds: it declares a size of {node}, and its tensors take {budget} bytes "
                                 "at most")
        if isinstance(node, dict):
            count += 1
            if count > MAX_CONFIG_NODES:
                raise ModelFileError(f"{path}: the architecture has more than "
                                     f"{MAX_CONFIG_NODES} layers")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def build_module(path: str, arch_text: str, tensors: dict[str, np.ndarray]) -> Any:
    """Rebuild a module from an untrusted architecture and load ``tensors`` into it.

    Only registered layer classes can be named; parameter memory is capped by the size of the
    tensors actually in the file; any failure becomes a ModelFileError naming the file.
    """
    from ..nn.module import allocation_budget
    from ..nn.registry import from_config

    arch = from_json(path, arch_text, "the architecture")
    budget = 2 * sum(a.nbytes for a in tensors.values()) + 4096
    _check_size(path, arch, budget)
    try:
        with allocation_budget(budget):
            model = from_config(arch)
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    except MemoryError:
        raise ModelFileError(f"{path}: the architecture asks for more memory than is "
                             f"available") from None
    except Exception as exc:  # untrusted config: any constructor failure is a file problem
        raise ModelFileError(f"{path}: cannot rebuild the architecture: "
                             f"{type(exc).__name__}: {str(exc)[:300]}") from None
    load_into(path, model, tensors)
    return model


def load_into(path: str, model: Any, tensors: dict[str, np.ndarray], strict: bool = True) -> Any:
    try:
        model.load_state_dict(tensors, strict=strict)
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    return model


def _model_part(path: str, tensors: dict, meta: dict) -> dict[str, np.ndarray]:
    if meta.get("kind") == "checkpoint":
        return {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    return tensors


def _check_finite(path: str, tensors: dict[str, np.ndarray]) -> None:
    """Refuse weights holding NaN or Inf: such a model only ever predicts NaN (``evaluate``
    printed ``loss nan`` and exited 0, ``predict`` NaN probabilities)."""
    for name, a in tensors.items():
        if a.dtype.kind == "f" and a.size and not np.isfinite(a).all():
            bad = int(a.size - np.count_nonzero(np.isfinite(a)))
            raise ModelFileError(f"{path}: tensor {name[:100]!r} holds {bad} NaN or infinite value(s) of "
                                 f"{a.size}; these weights cannot predict anything (was the model saved "
                                 "after its training diverged?)")


def load(path: str | os.PathLike, model: Any = None, strict: bool = True) -> Any:
    """Load a file written by ``save`` (or a checkpoint's model part).

    Returns ``model`` with the weights loaded when one is given; otherwise the module rebuilt
    from the stored architecture; otherwise (state-only file) the dict name -> ndarray.
    Raises ModelFileError naming the file for any malformed or mismatching content, and
    for NaN or infinite weights.
    """
    path = os.fspath(path)
    tensors, meta = read_safetensors(path)
    tensors = _model_part(path, tensors, meta)
    _check_finite(path, tensors)
    if model is not None:
        return load_into(path, model, tensors, strict)
    arch = meta.get("architecture")
    if arch is not None:
        return build_module(path, arch, tensors)
    return tensors


def read_metadata(path: str | os.PathLike) -> dict:
    """The user metadata stored by ``save(..., metadata=...)`` (``{}`` if none), without
    reading the tensors."""
    path = os.fspath(path)
    _, meta = read_header(path)
    if "metadata" not in meta:
        return {}
    value = from_json(path, meta["metadata"], "metadata")
    if not isinstance(value, dict):
        raise ModelFileError(f"{path}: metadata in the header is not a JSON object")
    return value


def describe(path: str | os.PathLike) -> dict:
    """What a file holds, without reading tensor data: ``{"kind", "format", "architecture",
    "metadata", "tensors": {name: (dtype, shape)}, ...}`` (checkpoints add epoch etc.)."""
    path = os.fspath(path)
    entries, meta = read_header(path)
    info: dict[str, Any] = {"kind": meta.get("kind"), "format": meta.get("chainrule_format"),
                            "tensors": entries}
    for key in ("architecture", "metadata", "epoch", "optimizer", "scheduler", "extra"):
        if key in meta:
            info[key] = from_json(path, meta[key], key)
    info["summary"] = _tensor_summary(entries)
    return info


def _tensor_summary(entries: dict) -> dict:
    """Values per layer (the name before the last dot) and in total, with their bytes, from
    the header alone; ``chainrule evaluate MODEL --summary`` gives the full table."""
    layers: dict[str, int] = {}
    values = nbytes = 0
    for name, (dtype, shape) in entries.items():
        n = 1
        for d in shape:
            n *= int(d)
        layer = name.rpartition(".")[0] or name
        layers[layer] = layers.get(layer, 0) + n
        values += n
        nbytes += n * DTYPES[dtype].itemsize
    return {"layers": layers, "values": values, "bytes": nbytes}


__all__ = ["save", "load", "read_metadata", "describe", "FORMAT_VERSION"]
