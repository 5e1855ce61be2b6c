"""ModuleList and ModuleDict: hold submodules so their parameters are found, saved and
trained, without deciding how they are called (the owner's ``forward`` does that).

Parameter names follow PyTorch: ``blocks.0.weight`` for a list, ``heads.left.weight`` for a
dict, so state dicts map over.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..errors import ConfigError
from .module import Module
from .registry import from_config, register


def _check(owner: str, key: Any, m: Any) -> Module:
    if not isinstance(m, Module):
        raise ConfigError(f"{owner}: item {key!r} is a {type(m).__name__}, not a Module")
    return m


@register
class ModuleList(Module):
    """A list of modules: ``ModuleList([Linear(4, 4) for _ in range(3)])``; indexing, ``len``,
    iteration, ``append``, ``extend`` and ``insert`` as a Python list."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        self.items: list[Module] = [_check("ModuleList", i, m)
                                    for i, m in enumerate(modules or ())]

    def _items(self) -> Iterator[tuple[str, Any]]:
        return self.named_children()

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for i, m in enumerate(self.items):
            yield str(i), m

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise ConfigError("ModuleList has no forward(): call its modules from your own")

    def append(self, module: Module) -> ModuleList:
        self.items.append(_check("ModuleList.append", len(self.items), module))
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> None:
        self.items.insert(index, _check("ModuleList.insert", index, module))

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return ModuleList(self.items[idx])
        return self.items[idx]

    def __setitem__(self, idx: int, module: Module) -> None:
        self.items[idx] = _check("ModuleList", idx, module)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.items)

    def config(self) -> dict[str, Any]:
        return {}

    def to_config(self) -> dict[str, Any]:
        self._check_rebuildable(self.config())
        return {"type": "ModuleList", "modules": [m.to_config() for m in self.items]}

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> ModuleList:
        mods = cfg.get("modules", [])
        if not isinstance(mods, list):
            raise ConfigError(f"ModuleList config: 'modules' must be a list; got {mods!r:.100}")
        return cls([from_config(c) for c in mods])


@register
class ModuleDict(Module):
    """Modules by name, in insertion order: ``ModuleDict({"enc": ..., "dec": ...})``;
    ``d[key]``, ``d[key] = m``, ``in``, ``len``, ``keys() values() items()`` as a dict."""

    def __init__(self, modules: Mapping[str, Module] | None = None) -> None:
        super().__init__()
        self.table: dict[str, Module] = {}
        for k, m in (modules or {}).items():
            self[k] = m

    def _items(self) -> Iterator[tuple[str, Any]]:
        return self.named_children()

    def named_children(self) -> Iterator[tuple[str, Module]]:
        yield from self.table.items()

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise ConfigError("ModuleDict has no forward(): call its modules from your own")

    def __getitem__(self, key: str) -> Module:
        try:
            return self.table[key]
        except KeyError:
            raise ConfigError(f"ModuleDict has no module {key!r}; it has "
                              f"{sorted(self.table)}") from None

    def __setitem__(self, key: str, module: Module) -> None:
        if not isinstance(key, str) or not key or "." in key:
            raise ConfigError(f"ModuleDict: keys must be non-empty strings without '.'; "
                              f"got {key!r}")
        self.table[key] = _check("ModuleDict", key, module)

    def __contains__(self, key: object) -> bool:
        return key in self.table

    def __len__(self) -> int:
        return len(self.table)

    def __iter__(self) -> Iterator[str]:
        return iter(self.table)

    def keys(self) -> Iterable[str]:
        return self.table.keys()

    def values(self) -> Iterable[Module]:
        return self.table.values()

    def items(self) -> Iterable[tuple[str, Module]]:
        return self.table.items()

    def config(self) -> dict[str, Any]:
        return {}

    def to_config(self) -> dict[str, Any]:
        self._check_rebuildable(self.config())
        return {"type": "ModuleDict",
                "modules": {k: m.to_config() for k, m in self.table.items()}}

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> ModuleDict:
        mods = cfg.get("modules", {})
        if not isinstance(mods, dict):
            raise ConfigError(f"ModuleDict config: 'modules' must be an object; "
                              f"got {mods!r:.100}")
        return cls({k: from_config(c) for k, c in mods.items()})


__all__ = ["ModuleDict", "ModuleList"]
