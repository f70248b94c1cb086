"""Untrusted text is made safe and re-parsed before anything is signed."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dixit.errors import EntryError
from dixit.ledger import entries


@pytest.mark.parametrize("text", ["\\x41", "z\\x7a", "\\x1b[2J"])
def test_signing_refuses_text_that_does_not_read_back_as_itself(text: str) -> None:
    with pytest.raises(EntryError, match=r"refusing to sign: (error|the entry) does not "
                       r"survive a TOML round trip"):
        entries.signed({"error": text}, Ed25519PrivateKey.generate())


@pytest.mark.parametrize(("text", "safe"), [
    ("\\x41\\u0041", "/x41/u0041"),
    ("a\x00b\x1b[31mc\nd\te", "a b [31mc d e"),
    ("   spaced   out   ", "spaced out"),
    ("\ud800lone surrogate", "lone surrogate"),
])
def test_safe_text_is_one_printable_line_without_backslashes(text: str, safe: str) -> None:
    assert entries.safe_text(text) == safe


def test_safe_text_is_capped_and_signs_and_reparses() -> None:
    text = entries.safe_text("\\x41" + "A" * 10_000)
    assert len(text) == entries.MAX_TEXT_CHARS and text.endswith("...")
    key = Ed25519PrivateKey.generate()
    data = entries.signed({"error": text, "none": None}, key)
    payload, _sig = entries.parse(data, "results.toml")
    assert payload == {"error": text}


@pytest.mark.parametrize("name", ["alice\n", "alice\r", "\nalice"])
def test_a_name_with_a_line_break_is_refused(name: str) -> None:
    with pytest.raises(EntryError, match="invalid team name"):
        entries.check_name(name)
