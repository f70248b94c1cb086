"""One place that parses TOML, so every malformed or hostile file fails the same clean way."""

from __future__ import annotations

from typing import Any

import toml

# What the toml parser raises on bad input besides its own error (deep nesting recurses).
_PARSE_ERRORS = (toml.TomlDecodeError, IndexError, ValueError, TypeError, KeyError,
                 RecursionError)


class TomlError(ValueError):
    """``str(err)`` is a short reason, without the file name (callers add it)."""


def loads(text: str) -> dict[str, Any]:
    try:
        return toml.loads(text)
    except RecursionError:
        raise TomlError("nested too deeply") from None
    except _PARSE_ERRORS as exc:
        raise TomlError(str(exc).splitlines()[0][:100] if str(exc) else type(exc).__name__
                        ) from None
