"""Explanations, as the site, ``dixit inspect`` and ``dixit show`` present them.

An explanation is a team's file, revealed at the close beside its program: hostile text. It is
never run, and it is shown only once its reveal opens its seal (``checks.reveal_matches``):

- on a page (``to_html``): Markdown through markdown-it (CommonMark and tables, raw HTML
  *disabled*); a notebook through nbformat and nbconvert's ``HTMLExporter`` (basic template,
  never executed: no preprocessor runs a kernel), after dropping what could carry live markup
  (raw cells, notebook and cell metadata such as widget state, and every output type but
  ``text/plain``, ``image/png`` and ``image/jpeg``: no ``text/html``, ``application/javascript``
  or SVG output is rendered). Whatever either renderer makes then passes through the allow-list
  sanitizer ``safe_html.clean``. Without the ``notebooks`` extra a notebook is shown as its
  cells' sources, escaped, with one line saying so.
- in a terminal (``renderable``): Markdown through rich's renderer (links are not made
  clickable), a notebook as its markdown cells, code cells and text outputs, read as plain JSON
  (no extra needed); control characters are replaced first, so no escape sequence reaches the
  terminal.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import asdict, dataclass
from html import escape
from typing import Any

from dixit.errors import DixitError
from dixit.league import checks
from dixit.ledger import layout, seal, state as st
from dixit.rules import explanations as rules
from dixit.views import safe_html

NOTEBOOKS_EXTRA = "pip install 'dixit[notebooks]'"
OUTPUT_TYPES = ("text/plain", "image/png", "image/jpeg")  # what a notebook output may show
MAX_TERMINAL_OUTPUT = 4000  # characters of one cell output in a terminal

@dataclass
class Explanation:
    """What is known of one submission's explanation: its seal, and once revealed (and only if
    the reveal opens the seal) its text."""

    team: str
    target: str
    round: int
    name: str                 # its file name in the ledger once revealed
    format: str               # "md" or "ipynb"
    bytes: int                # its sealed size
    commitment: str
    status: str               # "sealed" (not revealed yet), "revealed", "mismatch", "missing"
    file: str | None = None   # the ledger path of the revealed file
    sha256: str | None = None  # of the revealed bytes (never before: it would let anyone
    #                            confirm a guess at a sealed text)
    text: str | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def of_round(state: st.State, rnd: st.Round, target: str | None = None) -> list[Explanation]:
    """Every explanation sealed in ``rnd`` (for ``target``'s challenge only, if given), by
    target then team."""
    return [e for (team, tgt) in sorted(rnd.submissions, key=lambda k: (k[1], k[0]))
            if target is None or tgt == target
            if (e := of_submission(state, rnd, team, tgt)) is not None]


def of_submission(state: st.State, rnd: st.Round, team: str,
                  target: str) -> Explanation | None:
    """``team``'s explanation for ``target`` in ``rnd``, or None when it sealed none."""
    sub = rnd.submissions.get((team, target))
    sealed = sub.explanation if sub is not None else None
    if sealed is None:
        return None
    item = layout.explanation_item(target)
    fmt = str(sealed.get("format", ""))
    out = Explanation(team, target, rnd.number, f"{item}.{fmt}", fmt,
                      int(sealed.get("payload_bytes", 0)), str(sealed.get("commitment", "")),
                      "sealed")
    rv = rnd.reveals.get((team, item))
    if rv is None:
        if rnd.closed:
            out.status, out.error = "missing", "not revealed at the close"
        return out
    out.file = rv.path
    data = state.snapshot.read(rv.path)
    try:
        if data is None:
            raise DixitError(f"its revealed file {rv.path} is missing")
        if target not in rnd.challenges:
            raise DixitError(f"'{target}' has no challenge in round {rnd.number}")
        checks.reveal_matches(state.info, rnd, team, item, seal.unb64(rv.salt), data,
                              checks.describe_item(team, item))
        cap, _key = rules.CEILING.cap(fmt)
        if len(data) > cap:
            raise DixitError(f"it is {len(data):,} bytes, over the ceiling of {cap:,}")
        out.text = data.decode("utf-8")
    except UnicodeDecodeError:
        out.status, out.error = "revealed", "not UTF-8 text (not shown)"
        out.sha256 = seal.sha256_hex(data or b"")
        return out
    except DixitError as exc:
        out.status, out.error = "mismatch", str(exc)
        return out
    out.status, out.sha256 = "revealed", seal.sha256_hex(data)
    return out


# -- HTML ----------------------------------------------------------------------------------------


def to_html(fmt: str, text: str) -> tuple[str, str | None]:
    """(sanitized HTML fragment, a note on how it was shown or None)."""
    if fmt == rules.MARKDOWN:
        return safe_html.clean(markdown_html(text)), None
    return notebook_html(text)


def markdown_html(text: str) -> str:
    """CommonMark (with tables and strikethrough) with raw HTML disabled: a tag in the text is
    shown as text. markdown-it also refuses javascript:, vbscript:, file: and most data: links;
    ``safe_html.clean`` decides in the end."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    return md.enable(["table", "strikethrough"]).render(text)


def _cells(text: str) -> list[dict[str, Any]]:
    """A notebook's cells as plain JSON (structure only checked as far as reading needs)."""
    doc = json.loads(text)
    if not isinstance(doc, dict) or not isinstance(doc.get("cells"), list):
        raise ValueError("no JSON object with a list of cells")
    return [c for c in doc["cells"] if isinstance(c, dict)]


def _source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(str(s) for s in src) if isinstance(src, list) else str(src)


def notebook_html(text: str) -> tuple[str, str | None]:
    """A notebook as sanitized HTML (nbconvert, never executed), or, without the notebooks
    extra, its cells' sources as escaped text with a note."""
    try:
        cells = _cells(text)
    except ValueError as exc:
        return "", f"not a readable notebook ({str(exc).splitlines()[0][:120]}); not shown"
    try:
        import nbformat
        from nbconvert import HTMLExporter
        from traitlets.config import Config
    except ImportError:
        plain = "".join(
            f"<div class=\"cell\"><p class=\"prompt\">{escape(str(c.get('cell_type', '?')))}"
            f"</p><pre>{escape(_source(c))}</pre></div>" for c in cells)
        return plain, ("shown as its cells' plain text: rendering notebooks needs nbconvert "
                       f"(the notebooks extra: {NOTEBOOKS_EXTRA})")
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # nbformat raises several kinds for a bad notebook
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
        return "", f"not a valid notebook ({first}); not shown"
    _defang(nb)
    config = Config()
    config.ExecutePreprocessor.enabled = False  # the default; said here so it stays so
    config.HTMLExporter.exclude_anchor_links = True
    exporter = HTMLExporter(config=config, template_name="basic")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. a missing lexer for the notebook's language
            body, _resources = exporter.from_notebook_node(nb)
    except Exception as exc:  # a hostile notebook must not stop the site
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
        return "", f"could not be rendered ({first}); not shown"
    return safe_html.clean(body), None


def _defang(nb: Any) -> None:
    """Drop from a notebook (in place) what could carry live markup into nbconvert's output:
    raw cells, metadata (widget state, a raw cell's mimetype, a cell's tags and styles), and
    every output mimetype but ``OUTPUT_TYPES``; markdown attachments keep only PNG and JPEG."""
    nb.metadata = {}
    kept = []
    for cell in nb.cells:
        if cell.get("cell_type") not in ("markdown", "code"):
            continue
        cell.metadata = {}
        if "attachments" in cell:
            cell.attachments = {name: {k: v for k, v in att.items() if k in OUTPUT_TYPES[1:]}
                                for name, att in dict(cell.attachments).items()
                                if isinstance(att, dict)}
        if cell.get("cell_type") == "code":
            outputs = []
            for out in cell.get("outputs", []):
                if out.get("output_type") in ("display_data", "execute_result"):
                    out.data = {k: v for k, v in dict(out.get("data", {})).items()
                                if k in OUTPUT_TYPES}
                    if not out.data:
                        continue
                    out.metadata = {}
                elif out.get("output_type") not in ("stream", "error"):
                    continue
                outputs.append(out)
            cell.outputs = outputs
        kept.append(cell)
    nb.cells = kept


# -- the terminal --------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def terminal_text(text: str) -> str:
    """``text`` without control characters (no escape sequence reaches the terminal; a
    notebook's ANSI-coloured tracebacks lose their colours first)."""
    return _CONTROL.sub("�", _ANSI.sub("", text).replace("\r\n", "\n").replace("\r", "\n"))


def renderable(e: Explanation) -> Any:
    """A rich renderable of a revealed explanation (a line saying why not, otherwise)."""
    from rich.console import Group
    from rich.markdown import Markdown
    from rich.panel import Panel
    from rich.text import Text

    title = Text(f"{e.team}'s explanation for {e.target}'s challenge ({e.name}, "
                 f"{e.bytes:,} bytes)", style="bold")
    if e.text is None:
        why = e.error or "sealed until the close"
        return Group(title, Text(f"not shown: {why}", style="dim"))
    if e.format == rules.MARKDOWN:
        return Group(title, Markdown(terminal_text(e.text), hyperlinks=False))
    try:
        cells = _cells(e.text)
    except ValueError as exc:
        return Group(title, Text(f"not shown: not a readable notebook ({exc})", style="dim"))
    parts: list[Any] = [title]
    for cell in cells:
        source = terminal_text(_source(cell))
        kind = cell.get("cell_type")
        if kind == "markdown":
            parts.append(Markdown(source, hyperlinks=False))
        elif kind == "code":
            count = cell.get("execution_count")
            parts.append(Panel(Text(source), title=Text(f"In [{count if count else ' '}]"),
                               title_align="left", border_style="dim"))
            for out in cell.get("outputs", []) if isinstance(cell.get("outputs"), list) else []:
                shown = _output_text(out)
                if shown:
                    parts.append(Text(terminal_text(shown)[:MAX_TERMINAL_OUTPUT], style="dim"))
    return Group(*parts)


def _output_text(out: object) -> str:
    """The text of a notebook output: a stream, a traceback, or a result's text/plain."""
    if not isinstance(out, dict):
        return ""
    kind = out.get("output_type")
    if kind == "stream":
        text = out.get("text", "")
    elif kind == "error":
        text = out.get("traceback", []) or f"{out.get('ename')}: {out.get('evalue')}"
    elif kind in ("execute_result", "display_data"):
        data = out.get("data", {})
        text = data.get("text/plain", "") if isinstance(data, dict) else ""
        if not text and isinstance(data, dict) and data:
            text = f"[{', '.join(sorted(map(str, data)))} output not shown]"
    else:
        return ""
    if isinstance(text, list):
        sep = "\n" if kind == "error" else ""
        return sep.join(str(t) for t in text)
    return str(text)
