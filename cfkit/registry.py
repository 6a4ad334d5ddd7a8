"""Registries by name: a method, metric, dataset source or asset is added by one module.

METRICS = Registry("metric")

@METRICS.register("fid")
class FID: ...

METRICS.get("fid")  # -> FID, or a CfkitError listing the known names
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from cfkit.errors import CfkitError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> object mapping with a clear error for unknown names.

    ``modules`` lists modules imported on first lookup, so registering a new entry only
    means writing its module and naming it there (or importing it anywhere).
    """

    def __init__(self, kind: str, modules: Iterable[str] = ()):
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._modules = tuple(modules)
        self._loaded = False

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._entries and self._entries[name] is not obj:
                raise ValueError(f"{self.kind} '{name}' registered twice")
            self._entries[name] = obj
            return obj

        return deco

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            for mod in self._modules:
                importlib.import_module(mod)

    def get(self, name: str) -> T:
        self._load()
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise CfkitError(f"unknown {self.kind} '{name}' (known: {known})") from None

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        self._load()
        return name in self._entries
