"""Hints and the answer format: what a proposer may publish with a challenge, and their limits.

A hint is a short text (``--hint``) or a PNG picture (``--hint-image``) committed with the
challenge in its signed metadata; a timed hint (``--hint-at``) is sealed and escrowed at propose
time and released by the closer when it is due. A flag challenge states its answer format
publicly (``--answer-format``). Every text here is a team's and so hostile: it must already be
one line of printable characters (no control characters, no backslashes, no runs of
whitespace) within its cap, and is refused otherwise, never rewritten behind the team's back.

Pure: strings and bytes in, a ``ChallengeError`` out.
"""

from __future__ import annotations

from dixit.errors import ChallengeError

MAX_HINTS = 8                   # static text hints per challenge
MAX_HINT_CHARS = 500            # per hint (static or timed)
MAX_HINT_IMAGES = 4             # pictures per challenge
MAX_HINT_IMAGE_BYTES = 512 * 1024
MAX_TIMED_HINTS = 8
MAX_ANSWER_FORMAT_CHARS = 200
MAX_HINT_BYTES = 4 * MAX_HINT_CHARS  # a timed hint's sealed text, UTF-8
# its escrow: ephemeral key (32), nonce (12), the salt (32) and text, the tag (16)
MAX_HINT_ESCROW_BYTES = 32 + 12 + 32 + MAX_HINT_BYTES + 16

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the last chunk of every PNG: empty, fixed CRC


def check_text(text: object, what: str = "a hint", limit: int = MAX_HINT_CHARS) -> str:
    """``text`` if it is 1 to ``limit`` printable characters on one line, else one line why."""
    if not isinstance(text, str):
        raise ChallengeError(f"{what} must be text")
    if not text.strip():
        raise ChallengeError(f"{what} is empty")
    if len(text) > limit:
        raise ChallengeError(f"{what} is {len(text):,} characters, over the limit of {limit}")
    bad = next((c for c in text if not c.isprintable() or 0xD800 <= ord(c) <= 0xDFFF), None)
    if bad is not None:
        raise ChallengeError(f"{what} holds a control or unprintable character "
                             f"(U+{ord(bad):04X}); use one line of printable text")
    if "\\" in text:
        raise ChallengeError(f"{what} holds a backslash; write it without one")
    if " ".join(text.split()) != text:
        raise ChallengeError(f"{what} starts or ends with spaces or holds runs of them")
    return text


def check_answer_format(text: object) -> str:
    return check_text(text, "the answer format", MAX_ANSWER_FORMAT_CHARS)


def check_png(data: bytes, what: str = "the hint image") -> bytes:
    """``data`` if it really is a PNG (signature, header chunk, end chunk) within the cap."""
    if len(data) > MAX_HINT_IMAGE_BYTES:
        raise ChallengeError(f"{what} is {len(data):,} bytes, over the limit of "
                             f"{MAX_HINT_IMAGE_BYTES:,}")
    if not data.startswith(PNG_MAGIC):
        raise ChallengeError(f"{what} is not a PNG file (no PNG signature)")
    if data[12:16] != b"IHDR" or not data.endswith(_IEND):
        raise ChallengeError(f"{what} is not a complete PNG file (no header or end chunk)")
    return data


def check_count(n: int, limit: int, what: str) -> None:
    if n > limit:
        raise ChallengeError(f"at most {limit} {what} per challenge (got {n})")
