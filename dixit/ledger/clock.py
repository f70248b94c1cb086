"""Times: parsing deadlines (ISO-8601 or relative like ``+2d``) and the trusted clock.

All stored times are UTC ISO strings (``2026-11-21T10:00:00Z``). ``now()`` is the acting
machine's clock; ``$DIXIT_NOW`` overrides it for rehearsals and tests of deadlines.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta

from dixit.errors import UsageError

_REL = re.compile(r"^\+(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def now() -> datetime:
    override = os.environ.get("DIXIT_NOW")
    if override:
        return parse_when(override, base=datetime.now(UTC))
    return datetime.now(UTC)


def parse_when(text: str, base: datetime | None = None) -> datetime:
    """An ISO-8601 time (naive means UTC) or ``+N[smhdw]`` from ``base`` (default: now)."""
    text = text.strip()
    if m := _REL.match(text):
        return (base or now()) + timedelta(**{_UNITS[m.group(2)]: float(m.group(1))})
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"cannot read time {text!r}: use ISO-8601 like 2026-12-01T18:00Z "
                         "or a relative time like +2d, +90m, +1w") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def iso(when: datetime) -> str:
    return when.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
