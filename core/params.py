"""Versioned, named parameter sets: every policy number cites the rulebook rule it encodes, never a bare literal."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class ParameterSet:
    """A named, versioned set of policy values, each citing rulebook numbers (``../shared/domain/RULEBOOK.md``)."""

    name: str
    version: str
    cites: tuple[str, ...]
    values: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    note: str = ""

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def with_overrides(self, version: str, **overrides: Any) -> ParameterSet:
        """Return a new version with some values replaced; unknown keys are refused."""
        unknown = set(overrides) - set(self.values)
        if unknown:
            raise KeyError(f"{self.name} has no parameters {sorted(unknown)}")
        return ParameterSet(self.name, version, self.cites, MappingProxyType({**self.values, **overrides}), self.note)

    def describe(self) -> dict[str, Any]:
        """Return a JSON-friendly description (stored with results so they can be explained later)."""
        return {"name": self.name, "version": self.version, "cites": list(self.cites), "values": dict(self.values)}


def parameter_set(name: str, version: str, cites: tuple[str, ...], note: str = "", **values: Any) -> ParameterSet:
    """Build a parameter set."""
    return ParameterSet(name, version, cites, MappingProxyType(values), note)
