"""The rulebook's ``[domains]`` section: how much of an evaluation domain a challenge may name.

The engine materializes a domain outside the sandbox (grid points, token samples, a dataset's
bytes) at propose, score, verify and inspect, so every domain is checked against these caps
when it is parsed (``dixit.data.domains.parse``), at propose, by ``dixit validate`` and again
at the close, where a challenge over them is void with its reason. An organizer may lower a cap,
never raise it past its ceiling: the ceilings (``CEILING``, also the defaults) are what the
closer is built to survive, so no rulebook can make it allocate more.

Kept apart from ``rulebook`` (which holds it as ``Rulebook.domains``) so the section reads and
validates on its own. Pure: no git, torch or terminal.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from dixit.errors import RulesError

SECTION = "domains"


@dataclass(frozen=True)
class DomainRules:
    max_elements: int = 100_000_000        # numbers in all: grid points x coordinates, tokens,
    #                                        a dataset's elements
    max_sequence_length: int = 4096        # tokens a sequence (the transformer's largest context)
    max_dataset_bytes: int = 512 << 20     # a dataset file's size


CEILING = DomainRules()  # the hard limits: a rulebook may only lower them
KEYS = tuple(f.name for f in fields(DomainRules))


def from_table(data: dict[str, Any]) -> DomainRules:
    """``[domains]`` of a rulebook (or of a closed round's recorded rules); defaults for what is
    absent, so rulebooks and records made before the section existed read the ceilings."""
    sec = data.get(SECTION, {})
    if not isinstance(sec, dict):
        raise RulesError(f"rules.toml: [{SECTION}] must be a table")
    unknown = sorted(set(sec) - set(KEYS))
    if unknown:
        raise RulesError(f"rules.toml: [{SECTION}] has no key {unknown[0]!r} (known: "
                         f"{', '.join(KEYS)})")
    values: dict[str, int] = {}
    for key in KEYS:
        value = sec.get(key, getattr(CEILING, key))
        if not isinstance(value, int) or isinstance(value, bool):
            raise RulesError(f"rules.toml: {SECTION}.{key} must be a int, got {value!r}")
        values[key] = value
    return DomainRules(**values)


def validate(caps: DomainRules) -> None:
    """Every cap is at least 1 and at most its ceiling."""
    for key in KEYS:
        value, ceiling = getattr(caps, key), getattr(CEILING, key)
        if not 1 <= value <= ceiling:
            raise RulesError(f"rules.toml: {SECTION}.{key} must be in [1, {ceiling:,}] (the "
                             "most the closer can hold of a domain outside the sandbox)")
