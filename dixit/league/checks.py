"""The rules of every ledger entry, in one place.

``actions`` calls these before it writes an entry, ``validate`` on the entries a pull request
adds, ``verify`` and ``closing`` on what the ledger holds; so an entry the CLI would refuse is
refused by the same code when it arrives by any other way. Each check raises a DixitError whose
message names the problem without a path (callers that judge files prefix it): ``PhaseError``
for what is right but at the wrong time, ``EntryError`` for what is never allowed.

Also here: what each sealed item is sealed to (its seal table and context), since a reveal, an
escrow opening and a seal check must agree on it exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from dixit.data import domains
from dixit.errors import ChallengeError, EntryError, PhaseError
from dixit.ledger import clock, entries, layout, protocol, seal, state as st
from dixit.ledger.layout import SECRET_ITEM
from dixit.rules import kinds
from dixit.rules.domain_caps import DomainRules

# -- teams and rounds (organizer entries) ----------------------------------------------------


def registration(state: st.State, team: str) -> None:
    entries.check_name(team)
    if team in state.teams:
        raise EntryError(f"team '{team}' is already registered")


def rotation(state: st.State, team: str, number: int, previous: str, key: str) -> None:
    """A key rotation must be the team's next one, replace the key registered now, and bring a
    key the team has never held (an old key may have leaked)."""
    current = state.team_key(team)  # registered and not removed
    history = state.teams[team].history
    if number != len(history):
        raise EntryError(f"the next key rotation of '{team}' is number {len(history)}")
    if previous != current:
        raise EntryError("the rotation does not replace the key registered now")
    if key in history:
        raise EntryError(f"team '{team}' has held this key before; rotate to a new key")


def removal(state: st.State, team: str) -> None:
    state.team_key(team)  # unknown or already removed: refuse


def next_round(state: st.State, number: int) -> None:
    """Rounds open one at a time, in order, with at least two teams to play."""
    cur = state.current
    if cur is not None and not cur.closed:
        raise PhaseError(f"round {cur.number} is still open; close it with `dixit score` "
                         "before opening the next")
    expected = cur.number + 1 if cur else 1
    if number != expected:
        raise EntryError(f"rounds are opened in order; the next is {expected}")
    if len(state.roster()) < 2:
        raise PhaseError("a round needs at least two registered teams (`dixit team add`)")


# -- team entries of a round ------------------------------------------------------------------


def open_round(state: st.State, number: int | None) -> st.Round:
    """The round an entry goes into: it exists and is not closed."""
    if number is not None and number not in state.rounds:
        raise EntryError(f"round {number} is not open")
    rnd = state.round(number)
    if rnd.closed:
        raise PhaseError(f"round {rnd.number} is closed")
    return rnd


def _before(rnd: st.Round, now: datetime, action: str, until: datetime) -> None:
    if rnd.closed:
        raise PhaseError(f"round {rnd.number} is closed; {action} is no longer possible")
    if now >= until:
        raise PhaseError(f"too late: {action} in round {rnd.number} closed at {clock.iso(until)} "
                         f"(now {clock.iso(now)})")


def proposal(state: st.State, rnd: st.Round, team: str, now: datetime) -> None:
    """``team`` may propose in ``rnd`` now: active, before propose-by, not proposed yet."""
    state.team_key(team)
    _before(rnd, now, "proposing", rnd.propose_by)
    if team in rnd.challenges:
        raise EntryError(f"'{team}' already proposed a challenge in round {rnd.number}")


def challenge_meta(meta: dict[str, Any]) -> kinds.Kind:
    """A challenge names a known kind. (That every entry names its own place is checked where
    entries are read, by ``state.load``, for the CLI, pull requests and verify alike.)"""
    kind = kinds.get(str(meta.get("kind", kinds.DEFAULT)))
    challenge_domain(kind, str(meta.get("domain", "")))
    return kind


def challenge_domain(kind: kinds.Kind, spec: str) -> None:
    """A kind judged against its public model needs inputs nobody can tabulate."""
    problem = kinds.domain_problem(kind, spec)
    if problem is not None:
        raise EntryError(problem)


DatasetHead = Callable[[str], tuple[int, bytes] | None]


def domain_within(caps: DomainRules, spec: str, dataset: DatasetHead) -> None:
    """A challenge's domain within the rulebook's [domains] caps, judged without a checkout:
    the spec itself and, for a dataset, the file the ledger holds, given by ``dataset(path)``
    as its size and content (content only needed within the size cap; None when the ledger has
    no such file)."""
    try:
        rel = domains.check_spec(spec, caps)
        if rel is None:
            return
        head = dataset(rel.as_posix())
        if head is None:
            raise ChallengeError(f"dataset {rel} is not in the ledger (the organizer commits "
                                 f"shared evaluation data under {domains.DATASET_FOLDER}/)")
        domains.check_dataset(rel, head[0], head[1], caps)
    except ChallengeError as exc:
        raise EntryError(str(exc)) from None


def model_size(size: int, limit: int) -> None:
    if size > limit:
        raise EntryError(f"{size:,} bytes, over the rulebook's limit of {limit:,} "
                         "(limits.max_model_bytes)")


def submission(state: st.State, rnd: st.Round, team: str, target: str,
               now: datetime) -> st.Challenge:
    """``team`` may submit for ``target`` in ``rnd`` now; returns the target's challenge."""
    submitter(state, team, target)
    _before(rnd, now, "submitting", rnd.submit_by)
    ch = rnd.challenges.get(target)
    if ch is None:
        raise PhaseError(f"'{target}' has not proposed a challenge in round {rnd.number} "
                         f"(proposed so far: {', '.join(sorted(rnd.challenges)) or 'none'})")
    return ch


def submitter(state: st.State, team: str, target: str) -> None:
    """``team`` may ever submit for ``target``'s challenge (whatever the round's phase)."""
    state.team_key(team)
    state.team_key(target)  # a removed team's challenge takes no more programs
    if team == target:
        raise EntryError(f"'{team}' cannot submit to its own challenge")


def replacement(previous: bytes | None, sub: dict[str, Any]) -> None:
    """A submission entry names the exact entry it replaces (``replaces``: the sha256 of its
    bytes), and a first submission names none. So an entry can only be replaced by a newer one
    its team signed knowing the current one: restoring an older, validly signed entry (a
    rollback that would cost its team a solve) breaks the chain and is refused."""
    want = None if previous is None else seal.sha256_hex(previous)
    got = sub.get("replaces")
    if got == want:
        return
    if want is None:
        raise EntryError("names an entry it replaces, but there is none in the ledger")
    raise EntryError("does not replace the submission now in the ledger (an older entry "
                     "brought back?); a resubmission names the sha256 of the entry it replaces")


def team_reveal(rnd: st.Round, now: datetime) -> None:
    """Teams reveal after submit-by (so no one can copy a secret) and before the close."""
    if rnd.closed:
        raise PhaseError(f"round {rnd.number} is closed; nothing left to reveal")
    if now < rnd.submit_by:
        raise PhaseError(f"too early: reveals open after submit-by "
                         f"({clock.iso(rnd.submit_by)}), so no one can copy a secret")


def team_reveal_entry(rv: dict[str, Any]) -> None:
    """A reveal a team writes is its own ("by" team); only the closer reveals from escrow."""
    if rv.get("by") != "team":
        raise EntryError("a team's reveal must say by = \"team\"; only the closer reveals "
                         "from escrow")


# -- what is sealed ---------------------------------------------------------------------------


def sealed_items(rnd: st.Round, team: str) -> list[str]:
    """Everything ``team`` sealed in ``rnd``: its challenge's secret, then its programs."""
    items = [SECRET_ITEM] if team in rnd.challenges else []
    return items + sorted(t for (s, t) in rnd.submissions if s == team)


def has_sealed(rnd: st.Round, owner: str, item: str) -> bool:
    if item == SECRET_ITEM:
        return owner in rnd.challenges
    return (owner, item) in rnd.submissions and item in rnd.challenges


def seal_of(rnd: st.Round, owner: str, item: str) -> dict[str, Any]:
    return rnd.challenges[owner].seal if item == SECRET_ITEM \
        else rnd.submissions[(owner, item)].seal


def context_for(info: st.Info, rnd: st.Round, owner: str, item: str) -> dict[str, Any]:
    """The context ``owner``'s ``item`` was sealed under (and its escrow encrypted to)."""
    if item == SECRET_ITEM:
        ch = rnd.challenges[owner]
        return protocol.secret_context(info.id, rnd.number, owner, ch.kind,
                                       str(ch.seal.get("domain_id", "")),
                                       str(ch.seal.get("model_sha256", "")))
    ch = rnd.challenges[item]
    return protocol.program_context(info.id, rnd.number, owner, item,
                                    str(ch.seal.get("commitment", "")))


def describe_item(owner: str, item: str) -> str:
    # "labeler" for every kind's secret: these words are part of committed results
    return f"{owner}'s {'labeler' if item == SECRET_ITEM else 'program for ' + item}"


def reveal_matches(info: st.Info, rnd: st.Round, owner: str, item: str, salt: bytes,
                   payload: bytes, where: str) -> None:
    """Raise SealError unless ``payload`` and ``salt`` open ``owner``'s seal of ``item``."""
    protocol.check_reveal(seal_of(rnd, owner, item), context_for(info, rnd, owner, item),
                          salt, payload, where)


def kind_of_item(rnd: st.Round, owner: str, item: str) -> kinds.Kind:
    """The kind of the challenge a sealed item belongs to (its own, or its target's)."""
    return kinds.get(rnd.challenges[owner if item == SECRET_ITEM else item].kind)


def reveal_files(rnd: st.Round, owner: str, item: str, salt: bytes, payload: bytes, by: str,
                 key: Any) -> dict[str, bytes | None]:
    """The ledger files of one reveal record (signed by the team or the closer)."""
    name = item + kind_of_item(rnd, owner, item).suffix
    doc = {"reveal": {"owner": owner, "item": item, "round": rnd.number, "by": by,
                      "salt": seal.b64(salt), "file": name,
                      "sha256": seal.sha256_hex(payload)}}
    base = layout.reveal_dir(rnd.number, owner)
    return {layout.reveal_entry(rnd.number, owner, item): entries.signed(doc, key),
            f"{base}/{name}": payload}
