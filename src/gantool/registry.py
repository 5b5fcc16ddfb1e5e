"""Explicit name -> constructor registries (networks, recipes, metrics)."""

from __future__ import annotations

from typing import Callable, Generic, TypeVar

from gantool.errors import GantoolError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named table of constructors; `get` lists the valid names when a name is unknown."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = obj
            return obj

        return add

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise GantoolError(
                f"unknown {self.kind} {name!r}; valid: {', '.join(self.names())}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries
