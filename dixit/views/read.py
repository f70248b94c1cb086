"""Read-only views of a tournament as plain data: status, team list, standings.

Everything here returns JSON-ready dicts; ``report`` renders them for people.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dixit import rules
from dixit.errors import DixitError
from dixit.ledger import clock, state as st
from dixit.ledger.store import Snapshot
from dixit.rules import hints as hint_rules


def teams(state: st.State) -> dict[str, Any]:
    return {"teams": [{"name": t.name, "key": t.key, "added": t.added,
                       "rotations": len(t.history) - 1, "removed": t.removed}
                      for t in sorted(state.teams.values(), key=lambda t: t.name)]}


def published(ch: st.Challenge, rnd: st.Round | None = None,
              snap: Snapshot | None = None) -> dict[str, Any]:
    """What a challenge publishes besides its model: its hints (texts, and pictures as ledger
    paths), for a flag its answer format (null when it states none), and its timed hints:
    ``{"index", "at", "status", "released", "text", "error"}`` with status ``due`` (not yet
    released: never its text), ``released`` (with its text) or ``failed`` (with why)."""
    images = ch.meta.get("hint_images", [])
    timed = []
    for i, hint in enumerate(ch.meta.get("timed_hints", []), 1):
        if not isinstance(hint, dict):
            continue
        rel = rnd.hints.get((ch.team, i)) if rnd is not None else None
        item: dict[str, Any] = {"index": i, "at": hint.get("at"), "status": "due",
                                "released": None, "text": None, "error": None}
        if rel is not None:
            item.update(released=rel.released, status="failed" if rel.error else "released",
                        error=rel.error)
            if rel.path is not None and snap is not None:
                item["text"], item["error"] = _released_text(snap.read(rel.path))
        timed.append(item)
    return {"hints": [str(t) for t in ch.meta.get("hints", [])],
            "hint_images": [f"{ch.folder}/{i.get('file')}" for i in images
                            if isinstance(i, dict)],
            "answer_format": ch.meta.get("answer_format"),
            "timed_hints": timed}


def _released_text(data: bytes | None) -> tuple[str | None, str | None]:
    """A released hint's text, shown only if it is the one line of text a hint must be (its
    proposer sealed whatever bytes it liked)."""
    try:
        return hint_rules.check_text((data or b"").decode("utf-8"), "the released hint"), None
    except (UnicodeDecodeError, DixitError):
        return None, "the released bytes are not valid hint text (not shown)"


def expected_proposers(rnd: st.Round, roster: list[str],
                       teams: dict[str, st.Team] | None = None) -> list[str]:
    """The teams expected to propose in ``rnd``: its storytellers, or every team of ``roster``
    that was registered when the round opened (a team that joins later only solves)."""
    if rnd.storytellers is not None:
        return sorted(rnd.storytellers)
    known = teams or {}
    return sorted(t for t in roster if t not in known or not known[t].added
                  or not rnd.opened or known[t].added <= rnd.opened)


def round_status(rnd: st.Round, now: datetime, roster: list[str] | None = None,
                 snap: Snapshot | None = None,
                 teams: dict[str, st.Team] | None = None) -> dict[str, Any]:
    """A round's phase, deadlines, turns and entries. ``proposed_nothing``: the teams that were
    to propose (storytellers, or every team of ``roster``) and did not, once propose-by passed."""
    late = rnd.closed or now >= rnd.propose_by
    return {
        "round": rnd.number,
        "phase": rnd.phase(now),
        "proposers": "rotate" if rnd.storytellers is not None else "all",
        "storytellers": list(rnd.storytellers) if rnd.storytellers is not None else None,
        "proposed_nothing": [t for t in expected_proposers(rnd, roster or [], teams)
                             if t not in rnd.challenges] if late else [],
        "propose_by": clock.iso(rnd.propose_by),
        "submit_by": clock.iso(rnd.submit_by),
        "challenges": [{"team": t, "domain": c.domain, "kind": c.kind,
                        "claimed_accuracy": c.meta.get("claimed_accuracy"),
                        **published(c, rnd, snap),
                        "submissions": sorted(s for (s, tg) in rnd.submissions if tg == t)}
                       for t, c in sorted(rnd.challenges.items())],
        "revealed": sorted(f"{o}/{i}" for (o, i) in rnd.reveals),
        "closed": rnd.closed,
    }


def status(state: st.State, now: datetime | None = None) -> dict[str, Any]:
    now = now or clock.now()
    cur = state.current
    return {"tournament": state.info.name, "id": state.info.id, "now": clock.iso(now),
            "teams": sorted(state.teams), "escrow": state.info.escrow,
            "round": round_status(cur, now, state.roster(), state.snapshot, state.teams)
            if cur else None,
            "rounds": sorted(state.rounds)}


def standings(state: st.State) -> dict[str, Any]:
    closed = [r for _, r in sorted(state.rounds.items()) if r.results is not None]
    table = rules.standings(rules.round_score(r.results) for r in closed if r.results is not None)
    flagged: dict[str, int] = {}
    for r in closed:
        assert r.results is not None
        for c in r.results.get("challenges", []):
            if c.get("claim_flagged"):
                flagged[c["proposer"]] = flagged.get(c["proposer"], 0) + 1
    skipped: dict[str, list[int]] = {}  # rounds a team was to propose in and did not
    for r in closed:
        assert r.results is not None
        for t in expected_proposers(r, [str(t) for t in r.results.get("teams", [])],
                                    state.teams):
            if t not in r.challenges:
                skipped.setdefault(t, []).append(r.number)
    for t in state.teams:  # teams that have not played yet still appear, with 0
        if t not in {s.team for s in table}:
            table.append(rules.Standing(t, 0, 0, 0, 0))
    table.sort(key=lambda s: (-s.points, -s.solves, -s.dixits, s.team))
    return {"rounds": [r.number for r in closed],
            "standings": [{"rank": i + 1, "team": s.team, "points": s.points,
                           "solves": s.solves, "dixits": s.dixits,
                           "flagged_claims": flagged.get(s.team, 0),
                           "proposed_nothing": skipped.get(s.team, []),
                           "removed": s.team in state.removed}
                          for i, s in enumerate(table)]}
