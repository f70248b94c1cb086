"""Flags: how a planted string and a team's guess at it are normalized and compared."""

from __future__ import annotations

import hashlib
import hmac
import unicodedata

from dixit.errors import ChallengeError

MAX_FLAG_CHARS = 256


def normalize_flag(text: str) -> str:
    """The canonical form of a flag or a guess, so that trivial differences do not count.

    Unicode NFKC normalization (full-width and compatibility characters become their plain
    forms), then case folding (``casefold``: "Straße" matches "STRASSE"), then leading and
    trailing whitespace removed and every internal run of whitespace (spaces, tabs, newlines)
    collapsed to one space. Nothing else is changed: punctuation and digits still count.
    """
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def check_flag(text: str) -> str:
    """``text`` if it is a usable flag (no NUL, 1..MAX_FLAG_CHARS once normalized)."""
    if "\x00" in text:
        raise ChallengeError("the flag must not contain NUL characters")
    n = len(normalize_flag(text))
    if not 1 <= n <= MAX_FLAG_CHARS:
        raise ChallengeError(f"the flag must be 1 to {MAX_FLAG_CHARS} characters once "
                             f"normalized (it is {n})")
    return text


def flag_matches(secret: bytes, guess: bytes) -> bool:
    """Whether a guess names the flag: both UTF-8, equal after ``normalize_flag``.

    The SHA-256 digests of the normalized strings are compared with ``hmac.compare_digest``, so
    the time taken does not depend on where the two differ. Bytes that are not UTF-8 never
    match (they are compared anyway, against a digest nothing normalizes to).
    """
    def digest(data: bytes) -> tuple[bytes, bool]:
        try:
            text = normalize_flag(data.decode("utf-8"))
        except UnicodeDecodeError:
            return hashlib.sha256(b"\xff" + data).digest(), False  # no UTF-8 starts with 0xff
        return hashlib.sha256(text.encode("utf-8")).digest(), True

    want, ok_secret = digest(secret)
    got, ok_guess = digest(guess)
    same = hmac.compare_digest(want, got)
    return same and ok_secret and ok_guess


def flag_agreement(secret: bytes, guess: bytes) -> float:
    """1.0 when the guess names the flag (normalized, compared in constant time), else 0.0."""
    return 1.0 if flag_matches(secret, guess) else 0.0
