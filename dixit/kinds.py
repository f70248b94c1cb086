"""Challenge kinds: what the sealed secret is, what a submission is, what it is scored against.

- ``labeler`` (default): the secret is the labeling program the model was trained on; a
  submission is a program, scored by its agreement with the labeler over the domain.
- ``emulate``: the secret is the labeler too, but a submission is scored by its agreement with
  the published model's own predictions: reproduce what the model does, mistakes included.
- ``flag``: the secret is a short string (a planted fact or trigger); a submission is a string,
  scored 1 or 0 by a constant-time comparison after normalization (see
  ``dixit.challenge.normalize_flag``).

The kind is in the challenge's signed metadata and in its seal's context, so it cannot change
after proposing. Points follow the same Dixit rules for every kind.
"""

from __future__ import annotations

from pathlib import Path

from dixit.challenge import flag_matches, read_flag_file, read_program


def replayed(kind: str) -> bool:
    """Whether submissions are programs run over the domain (else they are strings)."""
    return kind != "flag"


def suffix(kind: str) -> str:
    """File suffix of a revealed secret or submission for a challenge of this kind."""
    return ".txt" if kind == "flag" else ".py"


def read_flag(path: Path) -> bytes:
    """A flag, or a team's guess at one: short UTF-8 text (``challenge.check_flag``)."""
    return read_flag_file(path).encode("utf-8")


def read_submission(kind: str, path: Path, max_program_bytes: int) -> bytes:
    """What a team submits for a challenge of ``kind``: a program, or a flag guess."""
    if replayed(kind):
        return read_program(path, max_program_bytes)
    return read_flag(path)


def flag_agreement(secret: bytes, guess: bytes) -> float:
    """1.0 when the guess names the flag (normalized, compared in constant time), else 0.0."""
    return 1.0 if flag_matches(secret, guess) else 0.0
