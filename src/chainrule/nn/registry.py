"""Layer registry: type name -> Module class, so a saved architecture can be rebuilt.

A saved model's header holds JSON such as::

    {"type": "Sequential", "layers": [{"type": "Linear", "in_features": 4, ...}, ...]}

``from_config`` looks each ``"type"`` up here and calls the class's ``from_config``. Only
registered classes can be built, so a model file can never name arbitrary code to run.
Adding a layer is one line: decorate the class with ``@register`` (or call
``register(MyLayer)``).
"""
from __future__ import annotations

from typing import Any, TypeVar

from ..errors import ConfigError

LAYERS: dict[str, type] = {}

T = TypeVar("T", bound=type)


def register(cls: T | None = None, *, name: str | None = None) -> Any:
    """Register a Module class under ``name`` (default: its class name).

    Use as ``@register``, ``@register(name="Alias")`` or ``register(MyLayer)``.
    """
    def add(c: T) -> T:
        LAYERS[name or c.__name__] = c
        return c

    return add(cls) if cls is not None else add


def get_layer(name: str) -> type:
    """The registered class called ``name``; ConfigError listing the known names otherwise."""
    try:
        return LAYERS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown layer type {name!r}; known types: "
                          f"{', '.join(sorted(LAYERS))}") from None


def from_config(cfg: object) -> Any:
    """Build a module from ``{"type": name, **constructor_kwargs}`` (nested for containers)."""
    if not isinstance(cfg, dict) or "type" not in cfg:
        raise ConfigError(f"a layer config must be a dict with a 'type' key; got {cfg!r:.200}")
    cls = get_layer(cfg["type"])
    return cls.from_config(cfg)  # type: ignore[attr-defined]  # every registered class is a Module


__all__ = ["LAYERS", "register", "get_layer", "from_config"]
