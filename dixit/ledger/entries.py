"""Signed ledger documents: TOML with a ``[signature]`` table over the rest, in canonical form.

The signature covers the canonical JSON of everything but ``signature``; the file's bytes must
also be exactly the canonical TOML rendering, so even a cosmetic edit to a sealed file shows.
"""

from __future__ import annotations

import re
from typing import Any

import toml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dixit import tomlio
from dixit.errors import EntryError
from dixit.ledger import seal

NAME_RE = re.compile(r"\A[a-z0-9][a-z0-9_-]{0,31}\Z")  # \Z: "$" would accept a trailing newline
MAX_ENTRY_BYTES = 1 << 20


# A team's sealed items are named by the team they are for, and its challenge's secret by
# "labeler" (``layout.SECRET_ITEM``): a team called "labeler" would make another team's program
# for it share the name, escrow and reveal of that team's own labeler. "heldout"
# (``layout.HELDOUT_ITEM``) names a challenge's sealed held-out set the same way.
RESERVED_NAMES = frozenset({"labeler", "heldout"})


def check_name(name: str, what: str = "team name") -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        shown = repr(name[:40] + ("..." if len(name) > 40 else "")) if isinstance(name, str) \
            else repr(name)
        raise EntryError(f"invalid {what} {shown}: use 1-32 lowercase letters, digits, '-' or "
                         "'_', starting with a letter or digit")
    if name in RESERVED_NAMES:
        raise EntryError(f"invalid {what} {name!r}: {name} names a challenge's own secret in "
                         "the ledger; choose another name")
    return name


def _sorted(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _sorted(obj[k]) for k in sorted(obj)}
    if isinstance(obj, list):
        return [_sorted(v) for v in obj]
    return obj


def render(payload: dict[str, Any]) -> bytes:
    return toml.dumps(_sorted(payload)).encode("utf-8")


MAX_TEXT_CHARS = 300


def safe_text(text: object, limit: int = MAX_TEXT_CHARS) -> str:
    """Untrusted text (a program's error, a reason) made safe to sign: one line of printable
    characters, backslashes replaced (the TOML writer turns some backslash sequences into other
    characters, so a signed entry would not re-parse to what was signed), at most ``limit``."""
    s = str(text).replace("\\", "/")
    s = " ".join("".join(c if c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF else " "
                         for c in s).split())
    return s if len(s) <= limit else s[:limit - 3] + "..."


def _first_change(a: Any, b: Any, where: str = "") -> str | None:
    """The first field where ``b`` (what ``a`` reads back as) differs from ``a``, or None."""
    if isinstance(a, tuple):
        a = list(a)
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k not in b and a.get(k) in (None, {}):
                continue  # TOML has no null, and the writer drops empty tables: documented
            found = _first_change(a.get(k), b.get(k), f"{where}.{k}" if where else str(k))
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _first_change(x, y, f"{where}[{i}]")
            if found:
                return found
        return None
    return None if a == b else where or "(root)"


def normalize(payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` as it reads back from its TOML (TOML has no null: None values drop out)."""
    return toml.loads(render(payload).decode("utf-8"))


def signed(payload: dict[str, Any], key: Ed25519PrivateKey) -> bytes:
    """Canonical bytes of ``payload`` with its signature attached."""
    if "signature" in payload:
        raise EntryError("payload already carries a signature")
    # Never sign what does not read back as itself: escape untrusted text first (safe_text).
    try:
        normalized = tomlio.loads(render(payload).decode("utf-8"))
    except tomlio.TomlError:
        normalized = None
    changed = "the entry" if normalized is None else _first_change(payload, normalized)
    if changed is not None:
        raise EntryError(f"refusing to sign: {changed} does not survive a TOML round trip "
                         "(untrusted text must pass through safe_text first)")
    assert normalized is not None
    data = render({**normalized, "signature": seal.sign(key, normalized)})
    parse(data, "the entry being signed")  # its canonical form, re-parsed
    return data


def parse(data: bytes, path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Parse a signed document; return (payload, signature). Raises EntryError naming ``path``."""
    if len(data) > MAX_ENTRY_BYTES:
        raise EntryError(f"{path}: entry is larger than {MAX_ENTRY_BYTES} bytes")
    try:
        doc = tomlio.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise EntryError(f"{path}: not UTF-8 text") from None
    except tomlio.TomlError as exc:
        raise EntryError(f"{path}: not valid TOML ({exc})") from None
    sig = doc.pop("signature", None)
    if not isinstance(sig, dict):
        raise EntryError(f"{path}: entry is unsigned")
    if render({**doc, "signature": sig}) != data:
        raise EntryError(f"{path}: file is not in canonical form (edited by hand?)")
    return doc, sig


def verify(data: bytes, path: str, expected_key: str) -> dict[str, Any]:
    """Parse and check the signature against ``expected_key``; return the payload."""
    payload, sig = parse(data, path)
    try:
        seal.verify_signature(payload, sig, expected_key)
    except EntryError as exc:
        raise EntryError(f"{path}: {exc}") from None
    return payload


def field(table: dict[str, Any], key: str, kind: type | tuple[type, ...], path: str) -> Any:
    """A typed field of a parsed entry, or an EntryError naming the file and field."""
    value = table.get(key) if isinstance(table, dict) else None
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if value is None or not isinstance(value, kinds) or (isinstance(value, bool)
                                                         and bool not in kinds):
        names = "/".join(k.__name__ for k in kinds)
        raise EntryError(f"{path}: field '{key}' is missing or not a {names}")
    return value
