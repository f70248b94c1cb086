"""Challenge kinds: one definition each of what is sealed, replayed, and judged against what.

- ``labeler`` (default): the secret is the labeling program the model was trained on; a
  submission is a program, judged by its agreement with the labeler over the domain.
- ``emulate``: the secret is the labeler too, but a submission is judged by its agreement with
  the published model's own predictions: reproduce what the model does, mistakes included.
- ``flag``: the secret is a short string (a planted fact or trigger); a submission is a string,
  judged 1 or 0 by a constant-time comparison after normalization (``dixit.rules.flags``).

The kind is in the challenge's signed metadata and in its seal's context, so it cannot change
after proposing. Points follow the same Dixit rules for every kind. Every place that behaves
differently by kind asks the ``Kind`` here instead of comparing strings.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from dixit.errors import ChallengeError

Reference = Literal["labeler", "model", "flag"]


@dataclass(frozen=True)
class Kind:
    name: str
    secret_file: str          # the file in a challenge folder that ``propose`` seals
    suffix: str               # of a revealed secret and of a submission's file
    replayed: bool            # submissions are programs run over the domain (else strings)
    reference: Reference      # what a submission is judged against
    secret_required: bool     # a secret that fails to reveal voids the challenge
    submission: str           # what a team submits, in messages
    summary: str              # one line for help texts and the site
    judged_on_draw: bool = False  # on inputs drawn after submit-by, never the public ones

    @property
    def model_can_solve(self) -> bool:
        """Whether submitting the published model itself could solve the challenge: only
        where the reference is the labeler (an emulate reference *is* the model's output)."""
        return self.reference == "labeler"


LABELER = Kind("labeler", "labeler.py", ".py", True, "labeler", True, "program",
               "recover the labeling program the model was trained on")
EMULATE = Kind("emulate", "labeler.py", ".py", True, "model", False, "program",
               "reproduce the published model's own outputs, mistakes included", True)
FLAG = Kind("flag", "flag.txt", ".txt", False, "flag", True, "flag guess",
            "name the string planted in the model")

KINDS: dict[str, Kind] = {k.name: k for k in (LABELER, EMULATE, FLAG)}
DEFAULT = LABELER.name


# A kind judged against the public model must be judged on inputs nobody could tabulate: a
# sampled token domain whose space is far larger than any program (the rulebook caps programs
# at a few hundred kB), judged on a fresh sample drawn after submit-by (``rules.draw``).
MIN_DRAW_SPACE = 2**32
_SAMPLED = re.compile(r"^tokens:(\d+)x(\d+):(\d+)$")


def domain_problem(kind: Kind, spec: str, heldout: bool = False) -> str | None:
    """Why ``kind`` cannot be judged on domain ``spec``, or None. Pure (the spec string, and
    whether the challenge seals a held-out evaluation set, which only a dataset domain takes:
    its inputs are unknown before the close, so nobody can tabulate the model on them)."""
    if heldout and not spec.strip().startswith("dataset:"):
        return (f"a sealed held-out set (--heldout) is for a dataset:PATH domain, not "
                f"{spec!r}")
    if not kind.judged_on_draw or heldout:
        return None
    m = _SAMPLED.match(spec.strip())
    if m is None:
        return (f"an {kind.name} challenge is judged against its public model, so it needs "
                f"inputs nobody can tabulate: a sampled domain tokens:VOCABxLEN:N (judged on N "
                f"fresh inputs drawn after submit-by), not {spec!r}, which anyone can "
                "enumerate; or a dataset:PATH domain with a sealed held-out set (--heldout)")
    vocab, length = int(m.group(1)), int(m.group(2))
    if vocab < 2 or length * math.log2(vocab) < math.log2(MIN_DRAW_SPACE):
        return (f"an {kind.name} challenge needs a space of inputs too large to tabulate "
                f"(at least 2^32 sequences); {spec!r} has only {vocab**length:,}")
    return None


def get(name: str) -> Kind:
    """The kind called ``name``; one line naming the known kinds otherwise."""
    kind = KINDS.get(name)
    if kind is None:
        raise ChallengeError(f"unknown challenge kind {name!r}; choose one of "
                             f"{', '.join(KINDS)}")
    return kind
