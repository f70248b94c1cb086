"""The hints and the answer format of a challenge folder (``challenge new/import --hint ...``).

In ``challenge.toml``'s ``[challenge]`` table:

    hints = ["the boundary is a circle"]         static hints, published with the challenge
    hint_images = ["hint-image-1.png"]           PNG pictures in the folder, published too
    answer_format = "one English word, lowercase"  (flag challenges) how to write a guess
    timed_hints = [{at = "+3d", text = "..."}]   sealed and escrowed at propose, released by
                                                 the closer at ``at`` (relative to the propose
                                                 time, or an absolute ISO-8601 time)

The limits are ``dixit.rules.hints``'. A timed hint's text is the proposer's secret until it is
released: it stays on the proposer's disk and is never shown by ``inspect`` or ``status``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dixit.errors import ChallengeError, DixitError
from dixit.ledger import clock, layout
from dixit.ledger.fsutil import atomic_write
from dixit.rules import hints as rules, kinds

FOLDER_KEYS = ("hints", "hint_images", "answer_format", "timed_hints")
image_name = layout.hint_image_name  # the same name in a folder and in the ledger


@dataclass
class Hints:
    """What a folder publishes (texts, images) and seals (timed hints) besides its secret."""

    texts: list[str] = field(default_factory=list)
    images: list[bytes] = field(default_factory=list)        # PNG bytes, in order
    timed: list[tuple[str, str]] = field(default_factory=list)  # (when, text)
    answer_format: str | None = None

    def meta(self) -> dict[str, Any]:
        """The [challenge] keys of challenge.toml (absent when empty)."""
        out: dict[str, Any] = {}
        if self.texts:
            out["hints"] = list(self.texts)
        if self.images:
            out["hint_images"] = [image_name(i) for i in range(1, len(self.images) + 1)]
        if self.answer_format is not None:
            out["answer_format"] = self.answer_format
        if self.timed:
            out["timed_hints"] = [{"at": w, "text": t} for w, t in self.timed]
        return out


def check_when(when: object, what: str) -> str:
    """A timed hint's time as written: ``+N[smhdw]`` (from the propose time) or ISO-8601."""
    if not isinstance(when, str) or not when.strip():
        raise ChallengeError(f"{what}: its time is missing")
    try:
        parsed = clock.parse_when(when, base=datetime(2000, 1, 1, tzinfo=UTC))
    except DixitError as exc:
        raise ChallengeError(f"{what}: {exc}") from None
    return when.strip() if when.strip().startswith("+") else clock.iso(parsed)


def parse_timed(item: str) -> tuple[str, str]:
    """``--hint-at "WHEN TEXT"``: the time, a space, then the hint."""
    when, _sep, text = item.strip().partition(" ")
    if not text.strip():
        raise ChallengeError(f"--hint-at takes the time and the hint in one argument, e.g. "
                             f"--hint-at '+3d the boundary is a circle' (got {item[:60]!r})")
    return check_when(when, f"--hint-at {when[:40]!r}"), rules.check_text(
        text.strip(), "a timed hint")


def prepare(kind: str, texts: list[str] | None = None, images: list[Path] | None = None,
            timed: list[str] | None = None, answer_format: str | None = None) -> Hints:
    """Check the hints given on the command line (before any training starts)."""
    texts, images, timed = list(texts or []), list(images or []), list(timed or [])
    rules.check_count(len(texts), rules.MAX_HINTS, "hints")
    rules.check_count(len(images), rules.MAX_HINT_IMAGES, "hint images")
    rules.check_count(len(timed), rules.MAX_TIMED_HINTS, "timed hints")
    if answer_format is not None:
        if kinds.get(kind).replayed:
            raise ChallengeError(f"--answer-format is only for --kind flag (this challenge is "
                                 f"{kind}: its solvers submit programs)")
        rules.check_answer_format(answer_format)
    return Hints([rules.check_text(t, f"hint {i}") for i, t in enumerate(texts, 1)],
                 [read_image(p) for p in images], [parse_timed(t) for t in timed],
                 answer_format)


def read_image(path: Path) -> bytes:
    """A hint image from the proposer's disk: a regular file, a PNG, under the cap."""
    try:
        if not path.is_file():
            raise ChallengeError(f"hint image {path} not found (or not a file)")
        if path.stat().st_size > rules.MAX_HINT_IMAGE_BYTES:  # never read an oversized file
            raise ChallengeError(f"hint image {path} is {path.stat().st_size:,} bytes, over "
                                 f"the limit of {rules.MAX_HINT_IMAGE_BYTES:,}")
        data = path.read_bytes()
    except OSError as exc:
        raise ChallengeError(f"cannot read hint image {path}: {exc.strerror or exc}") from None
    return rules.check_png(data, f"hint image {path}")


def write(out: Path, hints: Hints) -> dict[str, Any]:
    """Write the hint images into ``out``; return the [challenge] keys to record."""
    for i, data in enumerate(hints.images, 1):
        atomic_write(out / image_name(i), data)
    return hints.meta()


def read(folder: Path, meta: dict[str, Any], kind: str, where: str) -> Hints:
    """The hints recorded in a folder's challenge.toml, every one checked again."""
    texts = meta.get("hints", [])
    names = meta.get("hint_images", [])
    timed = meta.get("timed_hints", [])
    fmt = meta.get("answer_format")
    for key, value in (("hints", texts), ("hint_images", names), ("timed_hints", timed)):
        if not isinstance(value, list):
            raise ChallengeError(f"{where}: challenge.{key} must be a list")
    try:
        hints = prepare(kind, [_str(t, where) for t in texts], [], [], fmt)
    except ChallengeError as exc:
        raise ChallengeError(f"{where}: {exc}") from None
    rules.check_count(len(names), rules.MAX_HINT_IMAGES, "hint images")
    for i, name in enumerate(names, 1):
        if name != image_name(i):
            raise ChallengeError(f"{where}: hint image {i} must be named {image_name(i)} "
                                 f"(got {str(name)[:60]!r})")
        hints.images.append(read_image(folder / name))
    rules.check_count(len(timed), rules.MAX_TIMED_HINTS, "timed hints")
    for i, item in enumerate(timed, 1):
        if not isinstance(item, dict) or set(item) != {"at", "text"}:
            raise ChallengeError(f"{where}: timed hint {i} must be a table with exactly the "
                                 "keys at and text")
        when = check_when(item["at"], f"{where}: timed hint {i}")
        try:
            hints.timed.append((when, rules.check_text(item["text"], f"timed hint {i}")))
        except ChallengeError as exc:
            raise ChallengeError(f"{where}: {exc}") from None
    return hints


def _str(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ChallengeError(f"{where}: every hint must be a string")
    return value
