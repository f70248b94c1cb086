"""Timed hints: released by the closer when they are due (``dixit hints --due``).

A proposer seals each ``--hint-at`` hint at propose time and escrows it to the closer, with its
release time in the seal's context (``protocol.hint_context``). The scheduled workflow runs
``dixit hints --due``: every hint of an open round whose time has come is opened from escrow,
checked against its seal, and committed with the closer's signature as
``rounds/NNN/hints/TEAM/hint-N.toml`` (time, salt) beside its exact text ``hint-N.txt``.
``dixit score`` releases what is still due before it closes a round. ``dixit verify`` checks each
release against its seal and that it came no earlier than its time.

A hint that cannot be released (its escrow does not open or does not match its seal: only its
proposer could have made it so) is recorded once with the reason, never retried.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dixit.errors import EntryError, SealError
from dixit.league import checks
from dixit.league.secrets import load_closer
from dixit.ledger import clock, keystore, layout, seal, state as st
from dixit.ledger.store import Change, Ledger, Snapshot
from dixit.rules import hints as hint_rules


@dataclass(frozen=True)
class Released:
    round: int
    team: str
    index: int
    at: str
    released: str
    error: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {"round": self.round, "team": self.team, "index": self.index, "at": self.at,
                "released": self.released, "error": self.error}


def due(state: st.State, now: datetime, round_no: int | None = None) -> list[tuple[int, str, int]]:
    """(round, team, index) of every timed hint of an open round that is due and unreleased."""
    out = []
    for number, rnd in sorted(state.rounds.items()):
        if rnd.closed or (round_no is not None and number != round_no):
            continue
        rnd = st.set_aside(rnd, state.removed)
        for team, ch in sorted(rnd.challenges.items()):
            try:
                timed = checks.timed_hints(ch.meta)
            except EntryError:
                continue  # a malformed entry is verify's to report; nothing can be released
            for i, hint in enumerate(timed, 1):
                if (team, i) not in rnd.hints and clock.parse_iso(str(hint["at"])) <= now:
                    out.append((number, team, i))
    return out


def _open(state: st.State, rnd: st.Round, team: str, index: int,
          closer: keystore.Identity) -> tuple[bytes, bytes]:
    """The salt and text of a timed hint, from its escrow, checked against its seal."""
    where = f"{team}'s timed hint {index}"
    hint = checks.timed_hints(rnd.challenges[team].meta)[index - 1]
    blob = state.snapshot.read(layout.hint_escrow_path(rnd.number, team, index))
    if blob is None:
        raise SealError(f"{where}: its escrow is missing")
    if len(blob) > hint_rules.MAX_HINT_ESCROW_BYTES:  # never decrypt more than a hint can be
        raise SealError(f"{where}: its escrow is {len(blob):,} bytes, more than a hint can be")
    if seal.sha256_hex(blob) != hint.get("escrow_sha256"):
        raise SealError(f"{where}: its escrow does not match its sealed hash")
    context = checks.hint_context_for(state.info, rnd, team, index)
    try:
        salt, payload = seal.unpack_secret(seal.open_escrow(closer.escrow, context, blob))
    except SealError as exc:
        raise SealError(f"{where}: {exc}") from None
    checks.hint_matches(state.info, rnd, team, index, salt, payload, where)
    return salt, payload


def release_due(ledger: Ledger, round_no: int | None = None,
                closer: keystore.Identity | None = None) -> list[Released]:
    """Release every due timed hint (of round ``round_no``, or of every open round) in one
    closer-signed commit; [] when none is due, so running it again writes nothing."""
    ledger.pull()
    state = st.load(ledger.snapshot())
    if not due(state, clock.now(), round_no):
        return []
    closer = closer or load_closer(state.info)
    holder: dict[str, list[Released]] = {}

    def build(snap: Snapshot) -> Change:
        s = st.load(snap)
        now = clock.now()
        files: dict[str, bytes | None] = {}
        done: list[Released] = []
        for number, team, index in due(s, now, round_no):
            rnd = s.rounds[number]
            try:
                salt, payload = _open(s, rnd, team, index, closer)
                files.update(checks.hint_release_files(rnd, team, index, now, closer.signing,
                                                       salt=salt, payload=payload))
                error = None
            except (SealError, EntryError) as exc:
                error = str(exc)
                files.update(checks.hint_release_files(rnd, team, index, now, closer.signing,
                                                       error=error))
            hint = checks.timed_hints(rnd.challenges[team].meta)[index - 1]
            done.append(Released(number, team, index, str(hint["at"]), clock.iso(now), error))
        if not files:
            raise _NothingDue
        holder["done"] = done
        names = ", ".join(f"{r.team} {r.index}" for r in done)
        return Change(files, f"hints: release {names}", "closer")

    try:
        ledger.append(build)
    except _NothingDue:
        return []
    return holder["done"]


class _NothingDue(Exception):
    pass
