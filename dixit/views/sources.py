"""Revealed labelers, programs and flag texts as HTML: escaped, and Python highlighted.

Every byte here was written by a team and is hostile: a program may hold ``</pre><script>``,
control characters or invalid UTF-8. Text is decoded with replacement, control characters
other than tab and newline become U+FFFD, and every character reaches the page through
Pygments' HTML formatter, which escapes ``& < > " '`` in every token (or through
``html.escape`` for plain text): no byte of a source is ever markup. A very long source is
shown up to ``MAX_SHOWN`` bytes, saying so. The styles are inline CSS (``css()``): the page
loads nothing from elsewhere.
"""

from __future__ import annotations

import re
from html import escape

MAX_SHOWN = 64 * 1024  # bytes of one source shown on the page
CSS_CLASS = "hl"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def text(data: bytes) -> tuple[str, bool]:
    """The source as safe text (see the module's docstring), and whether it was cut."""
    cut = len(data) > MAX_SHOWN
    decoded = data[:MAX_SHOWN].decode("utf-8", errors="replace").replace("\r\n", "\n")
    return _CONTROL.sub("\ufffd", decoded), cut


def lines(data: bytes) -> int:
    return data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)


def python(data: bytes) -> str:
    """A Python source as a highlighted ``<div class="hl"><pre>`` block."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    body, cut = text(data)
    html = highlight(body, PythonLexer(stripnl=False, ensurenl=True),
                     HtmlFormatter(cssclass=CSS_CLASS, linenos="table", wrapcode=True))
    return html + (_cut(data) if cut else "")


def plain(data: bytes) -> str:
    """A text file (a flag, a guess) as an escaped ``<pre>``."""
    body, cut = text(data)
    return f"<pre class=\"plain\">{escape(body, quote=True)}</pre>" + (_cut(data) if cut else "")


def _cut(data: bytes) -> str:
    return (f"<p class=\"note\">The first {MAX_SHOWN:,} of {len(data):,} bytes are shown; "
            "the whole file is in the ledger.</p>")


def css() -> str:
    """The highlighting's styles, scoped to ``.hl``."""
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(cssclass=CSS_CLASS, style="default").get_style_defs(f".{CSS_CLASS}")
