"""The post-deadline draw: a seed no team can know before submit-by, re-derivable by anyone.

Inputs that a kind is judged on after the deadline (``Kind.judged_on_draw``) are sampled with
``seed = int(SHA-256("dixit/draw/v1" || canonical(tournament, round, salts))[:8]) >> 1``, where
``salts`` are every revealed seal salt of the round, sorted by (owner, item). Each team knows
only its own salts until the close, and a challenge's own secret salt is always among them, so
no solver (and no proposer) can compute the seed, hence tabulate the inputs, beforehand. After
the close the salts are in the ledger's reveal records, so ``dixit verify`` derives it again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

VERSION = "dixit/draw/v1"


def draw_seed(tournament: str, round_no: int, salts: Mapping[tuple[str, str], str]) -> int:
    """The round's draw seed from its revealed salts ((owner, item) -> base64 salt)."""
    body = json.dumps({"tournament": tournament, "round": round_no,
                       "salts": [[o, i, s] for (o, i), s in sorted(salts.items())]},
                      sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.sha256(VERSION.encode() + b"\x00" + body).digest()
    return int.from_bytes(digest[:8], "big") >> 1  # a non-negative int64 for torch
