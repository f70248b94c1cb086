"""A rulebook section of integer caps that an organizer may lower, never raise.

``[domains]`` and ``[explanations]`` are both such sections: a frozen dataclass whose defaults
are the ceilings the code is built to survive. Reading one keeps the ceilings for what is
absent (so rulebooks and closed rounds' records made before the section existed still read),
refuses unknown keys with the list of known ones, and validation keeps every cap in
[1, ceiling]. Pure: no git, torch or terminal.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

from dixit.errors import RulesError

T = TypeVar("T")


def keys(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def read(data: dict[str, Any], section: str, ceiling: T) -> T:
    """``[section]`` of a rulebook (or a record) as ``type(ceiling)``; the ceiling for what is
    absent."""
    known = keys(type(ceiling))
    sec = data.get(section, {})
    if not isinstance(sec, dict):
        raise RulesError(f"rules.toml: [{section}] must be a table")
    unknown = sorted(set(sec) - set(known))
    if unknown:
        raise RulesError(f"rules.toml: [{section}] has no key {unknown[0]!r} (known: "
                         f"{', '.join(known)})")
    values: dict[str, int] = {}
    for key in known:
        value = sec.get(key, getattr(ceiling, key))
        if not isinstance(value, int) or isinstance(value, bool):
            raise RulesError(f"rules.toml: {section}.{key} must be a int, got {value!r}")
        values[key] = value
    return type(ceiling)(**values)


def check(caps: object, section: str, ceiling: object, why: str) -> None:
    """Every cap is at least 1 and at most its ceiling (``why``: what the ceiling protects)."""
    for key in keys(type(ceiling)):
        value, top = getattr(caps, key), getattr(ceiling, key)
        if not 1 <= value <= top:
            raise RulesError(f"rules.toml: {section}.{key} must be in [1, {top:,}] ({why})")
