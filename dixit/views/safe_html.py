"""An allow-list HTML sanitizer: what a team wrote, made into HTML that runs nothing.

Every explanation's HTML (Markdown rendered by markdown-it, a notebook by nbconvert) passes
through ``clean`` before it reaches a page, whatever its renderer already did. The input is
parsed with the standard library's tolerant HTML parser and written out again from scratch:

- only the tags in ``TAGS`` survive; the content of ``DROP`` (script, style, iframe, object,
  embed, svg, math, form, template, ...) goes with them, and any other tag is removed while its
  text stays, escaped;
- only the attributes in ``ATTRS`` survive (never an event handler, ``style``, ``id`` or
  ``srcset``); a link keeps an ``http``, ``https`` or ``mailto`` address (else it becomes
  text) and opens nothing of ours (``rel="nofollow noopener noreferrer"``); an image keeps only
  a ``data:image/png`` or ``data:image/jpeg`` base64 address (no external asset, no SVG), else
  it is dropped; ``class`` keeps only the notebook-layout names in ``CLASSES``;
- comments, processing instructions, doctype and CDATA are dropped; text and attribute values
  are escaped again (control characters, which are no HTML text, dropped); every open tag is
  closed, so nothing leaks into the page around it.

Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import re
from html import escape
from html.parser import HTMLParser

TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "div", "dl", "dt",
    "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre",
    "s", "samp", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
    "tr", "ul"})
VOID = frozenset({"br", "hr", "img"})
# Void tags of DROP (no end tag, so nothing after them is inside them).
DROP_VOID = frozenset({"link", "meta", "base", "input", "source", "track", "embed", "frame",
                       "param", "area", "col", "keygen", "wbr"})
# Tags whose whole content goes: code, styles, embedded documents, forms, foreign markup.
DROP = frozenset({
    "script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "svg", "math",
    "form", "template", "noscript", "textarea", "select", "button", "input", "option", "link",
    "meta", "base", "title", "head", "audio", "video", "source", "track", "canvas", "portal",
    "noembed", "noframes", "xmp", "plaintext", "dialog", "param", "area", "keygen", "wbr"})
ATTRS = {"a": ("href", "title"), "img": ("src", "alt", "title"), "td": ("colspan", "rowspan"),
         "th": ("colspan", "rowspan"), "ol": ("start",), "abbr": ("title",)}
# The layout names of nbconvert's notebook markup that the site styles (cells, prompts,
# inputs, outputs); no name of the site's own classes is among them.
CLASSES = frozenset({"cell", "code_cell", "text_cell", "input", "output", "output_wrapper",
                     "output_area", "prompt", "input_prompt", "output_prompt", "output_stream",
                     "output_stderr", "output_error", "output_text", "inner_cell", "input_area"})
LINK = re.compile(r"\A(?:https?://|mailto:)[^\s\x00-\x1f\"'<>`\\]+\Z", re.IGNORECASE)
IMAGE = re.compile(r"\Adata:image/(?:png|jpeg);base64,([A-Za-z0-9+/=\s]+)\Z")
NUMBER = re.compile(r"\A[1-9][0-9]{0,3}\Z")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # not text in HTML (an ESC...)
MAX_DEPTH = 64  # deeper nesting is flattened: no page is made unreadable by a deep tree


def clean(html: str) -> str:
    """``html`` as a fragment made only of allowed tags, attributes and escaped text."""
    cleaner = _Cleaner()
    cleaner.feed(html)
    cleaner.close()
    return cleaner.result()


def _attrs(tag: str, attrs: list[tuple[str, str | None]]) -> str | None:
    """The attributes ``tag`` keeps, rendered; None when the tag itself must go (a link or an
    image whose address is not allowed)."""
    kept: list[tuple[str, str]] = []
    allowed = ATTRS.get(tag, ())
    for name, value in attrs:
        name, value = name.lower(), value or ""
        if name == "class" and tag in ("div", "span", "pre"):
            names = [c for c in value.split() if c in CLASSES]
            if names:
                kept.append(("class", " ".join(names)))
        elif name in allowed:
            if name == "href" and not LINK.match(value.strip()):
                continue
            if name == "src" and not _image(value):
                continue
            if name in ("colspan", "rowspan", "start") and not NUMBER.match(value):
                continue
            kept.append((name, value.strip() if name in ("href", "src") else value[:300]))
    names = {n for n, _v in kept}
    if tag == "a":
        if "href" not in names:
            return None
        kept.append(("rel", "nofollow noopener noreferrer"))
    if tag == "img" and "src" not in names:
        return None
    return "".join(f' {n}="{escape(v, quote=True)}"' for n, v in kept)


def _image(src: str) -> bool:
    m = IMAGE.match(src.strip())
    if not m:
        return False
    try:
        base64.b64decode("".join(m.group(1).split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


class _Cleaner(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[str] = []        # kept tags still open, innermost last
        self.dropping: list[str] = []    # DROP tags we are inside of (their content goes)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        tag = tag.lower()
        if self.dropping:
            if tag in DROP and tag not in DROP_VOID:
                self.dropping.append(tag)
            return
        if tag in DROP:
            if tag not in DROP_VOID:
                self.dropping.append(tag)
            return
        if tag not in TAGS or len(self.open) >= MAX_DEPTH:
            return
        rendered = _attrs(tag, attrs)
        if rendered is None:
            return
        self.out.append(f"<{tag}{rendered}>")
        if tag not in VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        tag = tag.lower()
        self.handle_starttag(tag, attrs)
        if tag not in VOID and self.open and self.open[-1] == tag and not self.dropping:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        tag = tag.lower()
        if self.dropping:
            if tag == self.dropping[-1]:
                self.dropping.pop()
            return
        if tag in self.open:  # close it, and whatever was left open inside it
            while self.open:
                inner = self.open.pop()
                self.out.append(f"</{inner}>")
                if inner == tag:
                    break

    def handle_data(self, data: str) -> None:
        if not self.dropping:
            self.out.append(escape(_CONTROL.sub("", data), quote=False))

    # comments, <!doctype>, <?pi?>, <![CDATA[...]]>: never written out
    def handle_comment(self, data: str) -> None:
        pass

    def handle_decl(self, decl: str) -> None:
        pass

    def handle_pi(self, data: str) -> None:
        pass

    def unknown_decl(self, data: str) -> None:
        pass

    def result(self) -> str:
        return "".join(self.out) + "".join(f"</{t}>" for t in reversed(self.open))
