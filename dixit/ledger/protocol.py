"""What exactly is sealed: the context of every commitment and escrow, and reveal checks.

Pure functions over records. A challenge secret's seal binds its exact bytes to the tournament,
round, team, kind, domain identity and model hash; a program's seal binds it to the challenge's
seal, so a program sealed for one challenge can never be presented as sealed for another; an
explanation's seal binds it to the program it was sealed with (by that program's seal) and its
format; a timed hint's seal binds it to its challenge's seal, its index and its release time.
"""

from __future__ import annotations

from typing import Any

from dixit.errors import SealError
from dixit.ledger import seal


def secret_context(tournament: str, round_no: int, team: str, kind: str, domain_id: str,
                   model_sha256: str) -> dict[str, Any]:
    """What a challenge's secret (labeler or flag) is sealed to. Its purpose string stays
    "labeler" whatever the kind: it is part of every commitment in ledger format 1."""
    return {"purpose": "labeler", "tournament": tournament, "round": round_no, "team": team,
            "kind": kind, "domain": domain_id, "model_sha256": model_sha256}


def program_context(tournament: str, round_no: int, team: str, target: str,
                    challenge_commitment: str) -> dict[str, Any]:
    return {"purpose": "program", "tournament": tournament, "round": round_no, "team": team,
            "target": target, "challenge": challenge_commitment}


def explanation_context(tournament: str, round_no: int, team: str, target: str,
                        program_commitment: str, fmt: str) -> dict[str, Any]:
    """What an explanation is sealed to: the program sealed in the same submission entry (whose
    own seal names the challenge), so it can never be presented as another submission's, and
    its format (md or ipynb), so it is always rendered as what it was sealed as."""
    return {"purpose": "explanation", "tournament": tournament, "round": round_no,
            "team": team, "target": target, "program": program_commitment, "format": fmt}


def heldout_context(tournament: str, round_no: int, team: str,
                    challenge_commitment: str) -> dict[str, Any]:
    """What a challenge's sealed held-out evaluation set is sealed to: its challenge (by the
    seal of its secret), so it can never be presented as another challenge's."""
    return {"purpose": "heldout", "tournament": tournament, "round": round_no, "team": team,
            "challenge": challenge_commitment}


def make_seal(context: dict[str, Any], payload: bytes, escrow_key: str | None
              ) -> tuple[dict[str, Any], bytes, bytes | None]:
    """Return (seal table, salt, escrow blob or None) for ``payload`` under ``context``."""
    salt = seal.new_salt()
    commitment = seal.commit(str(context["purpose"]), context, salt, payload)
    table: dict[str, Any] = {"commitment": commitment, "scheme": seal.SEAL_VERSION,
                             "payload_bytes": len(payload)}
    blob = None
    if escrow_key:
        blob = seal.escrow(escrow_key, context, seal.pack_secret(salt, payload))
        table["escrow_sha256"] = seal.sha256_hex(blob)
    return table, salt, blob


def check_reveal(seal_table: dict[str, Any], context: dict[str, Any], salt: bytes,
                 payload: bytes, where: str) -> None:
    """Raise SealError unless ``payload`` with ``salt`` opens the seal."""
    commitment = str(seal_table.get("commitment", ""))
    if not seal.check_commitment(commitment, str(context["purpose"]), context, salt, payload):
        raise SealError(f"{where}: revealed content does not match its seal")


def hint_context(tournament: str, round_no: int, team: str, index: int, at: str,
                 challenge_commitment: str) -> dict[str, Any]:
    """What a timed hint is sealed to: its challenge (by the seal of its secret), its place
    among the challenge's timed hints and its release time, so none can be moved or swapped."""
    return {"purpose": "hint", "tournament": tournament, "round": round_no, "team": team,
            "index": index, "at": at, "challenge": challenge_commitment}
