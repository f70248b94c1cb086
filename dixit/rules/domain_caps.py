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

from dataclasses import dataclass
from typing import Any

from dixit.rules import caps

SECTION = "domains"


@dataclass(frozen=True)
class DomainRules:
    max_elements: int = 100_000_000        # numbers in all: grid points x coordinates, tokens,
    #                                        a dataset's elements
    max_sequence_length: int = 4096        # tokens a sequence (the transformer's largest context)
    max_dataset_bytes: int = 512 << 20     # a dataset file's size


CEILING = DomainRules()  # the hard limits: a rulebook may only lower them
KEYS = caps.keys(DomainRules)


def from_table(data: dict[str, Any]) -> DomainRules:
    """``[domains]`` of a rulebook (or of a closed round's recorded rules); defaults for what is
    absent, so rulebooks and records made before the section existed read the ceilings."""
    return caps.read(data, SECTION, CEILING)


def validate(rules: DomainRules) -> None:
    """Every cap is at least 1 and at most its ceiling."""
    caps.check(rules, SECTION, CEILING,
               "the most the closer can hold of a domain outside the sandbox")
