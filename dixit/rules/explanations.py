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

from dataclasses import dataclass
from typing import Any

from dixit.rules import caps

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
KEYS = caps.keys(ExplanationRules)


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
    return caps.read(data, SECTION, CEILING)


def validate(rules: ExplanationRules) -> None:
    """Every cap is at least 1 and at most its ceiling."""
    caps.check(rules, SECTION, CEILING,
               "the largest explanation a closer reveals and a site embeds")
