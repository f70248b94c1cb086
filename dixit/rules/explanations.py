"""What an explanation may be: its formats, and the rulebook's ``[explanations]`` size caps.

An explanation is one file a team seals with its program (``dixit submit --explanation``):
Markdown (``.md``) or a Jupyter notebook (``.ipynb``), UTF-8. Its seal is public before the
close, so its format and size are judged by ``submit``, ``validate`` and ``verify`` alike from
the submission entry; its content only once revealed. Like ``[domains]``, each cap may be
lowered by a rulebook, never raised: the ceilings (``CEILING``, also the defaults) bound what a
closer reveals and a site embeds. Rulebooks and closed rounds' records made before the section
existed read the ceilings. Whether one is required is ``[solve] require_explanation``.

Pure: no git, torch or terminal.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from dixit.errors import RulesError

SECTION = "explanations"
MARKDOWN, NOTEBOOK = "md", "ipynb"
FORMATS = (MARKDOWN, NOTEBOOK)
NAMES = {MARKDOWN: "Markdown", NOTEBOOK: "notebook"}


@dataclass(frozen=True)
class ExplanationRules:
    max_markdown_bytes: int = 1 << 20    # a .md explanation
    max_notebook_bytes: int = 8 << 20    # a .ipynb explanation (its outputs' images included)

    def cap(self, fmt: str) -> tuple[int, str]:
        """The size cap of ``fmt`` and the rulebook key that sets it."""
        key = "max_markdown_bytes" if fmt == MARKDOWN else "max_notebook_bytes"
        return getattr(self, key), f"{SECTION}.{key}"


CEILING = ExplanationRules()  # the hard limits: a rulebook may only lower them
KEYS = tuple(f.name for f in fields(ExplanationRules))


def format_of(name: str) -> str | None:
    """The format a file name's suffix says (``md`` or ``ipynb``), or None."""
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return suffix if suffix in FORMATS else None


def check_size(rules: ExplanationRules, fmt: str, size: int) -> str | None:
    """Why an explanation of ``fmt`` and ``size`` bytes is refused, or None."""
    if fmt not in FORMATS:
        return f"an explanation's format is md or ipynb, not {fmt!r}"
    cap, key = rules.cap(fmt)
    if size < 1:
        return "the explanation is empty"
    if size > cap:
        return (f"the explanation is {size:,} bytes, over the rulebook's limit of {cap:,} for "
                f"a {NAMES[fmt]} ({key})")
    return None


def from_table(data: dict[str, Any]) -> ExplanationRules:
    """``[explanations]`` of a rulebook (or of a closed round's record); ceilings for what is
    absent."""
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
    return ExplanationRules(**values)


def validate(rules: ExplanationRules) -> None:
    """Every cap is at least 1 and at most its ceiling."""
    for key in KEYS:
        value, ceiling = getattr(rules, key), getattr(CEILING, key)
        if not 1 <= value <= ceiling:
            raise RulesError(f"rules.toml: {SECTION}.{key} must be in [1, {ceiling:,}] (the "
                             "largest explanation a closer reveals and a site embeds)")
