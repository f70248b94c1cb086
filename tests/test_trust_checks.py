"""The rules of every entry (``dixit.league.checks``) on the states of small real ledgers.

Each check is called on the state ``state.load`` reads from a real ledger (``tests.ledgers``),
with times set exactly at its deadlines, and each refusal is asserted by its whole message: the
CLI, pull-request validation and verify all show these words.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from dixit.errors import ChallengeError, DixitError, EntryError, PhaseError, SealError
from dixit.league import checks
from dixit.ledger import clock, entries, keystore, layout, protocol, seal, state as st
from dixit.ledger.store import Ledger
from dixit.rules import kinds
from dixit.rules.domain_caps import CEILING, DomainRules
from tests import ledgers
from tests.conftest import Runner
from tests.ledgers import CLOSED, OPEN, REVEALED, Built

S = timedelta(seconds=1)
UNKNOWN_ZED = ("unknown team 'zed' (registered: alice, bob, carol, dave); the organizer adds "
               "teams with `dixit team add NAME`")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, dixit: Runner) -> dict[str, Built]:
    return ledgers.bases(tmp_path_factory, dixit)


@pytest.fixture(scope="module")
def states(built: dict[str, Built]) -> dict[str, st.State]:
    return {name: st.load(Ledger(b.root).snapshot()) for name, b in built.items()}


@pytest.fixture
def open_state(states: dict[str, st.State]) -> st.State:
    return states[OPEN]


@pytest.fixture
def rnd(open_state: st.State) -> st.Round:
    return open_state.rounds[1]


def refused(exc: type[DixitError], message: str, fn: Any, *args: Any) -> None:
    with pytest.raises(exc) as err:
        fn(*args)
    assert str(err.value) == message
    assert type(err.value) is exc


# -- organizer entries -------------------------------------------------------------------------


def test_registration(open_state: st.State) -> None:
    assert checks.registration(open_state, "frank") is None
    refused(EntryError, "team 'alice' is already registered", checks.registration, open_state,
            "alice")
    with pytest.raises(EntryError, match="invalid team name 'Frank'"):
        checks.registration(open_state, "Frank")
    # "labeler" names every challenge's own secret: a team of that name would share it
    refused(EntryError, "invalid team name 'labeler': labeler names a challenge's own secret "
            "in the ledger; choose another name", checks.registration, open_state, "labeler")


def test_rotation(open_state: st.State) -> None:
    bob = open_state.teams["bob"]
    new = keystore.generate("team-bob").public
    assert checks.rotation(open_state, "bob", 1, bob.key, new) is None
    refused(EntryError, "the next key rotation of 'bob' is number 1", checks.rotation,
            open_state, "bob", 2, bob.key, new)
    refused(EntryError, "the next key rotation of 'bob' is number 1", checks.rotation,
            open_state, "bob", 0, bob.key, new)
    refused(EntryError, "the rotation does not replace the key registered now", checks.rotation,
            open_state, "bob", 1, new, new)
    refused(EntryError, "team 'bob' has held this key before; rotate to a new key",
            checks.rotation, open_state, "bob", 1, bob.key, bob.key)
    refused(EntryError, UNKNOWN_ZED, checks.rotation, open_state, "zed", 1, bob.key, new)


def test_rotation_after_one_rotation(open_state: st.State) -> None:
    """After a rotation the next is number 2, replaces the second key, and neither of the two
    keys held may come back."""
    bob = open_state.teams["bob"]
    k1 = keystore.generate("team-bob").public
    k2 = keystore.generate("team-bob").public
    state = replace(open_state, teams={**open_state.teams, "bob": replace(bob, history=(
        bob.key, k1))})
    assert checks.rotation(state, "bob", 2, k1, k2) is None
    refused(EntryError, "the next key rotation of 'bob' is number 2", checks.rotation, state,
            "bob", 1, k1, k2)
    refused(EntryError, "the rotation does not replace the key registered now", checks.rotation,
            state, "bob", 2, bob.key, k2)
    refused(EntryError, "team 'bob' has held this key before; rotate to a new key",
            checks.rotation, state, "bob", 2, k1, bob.key)


def test_removal(states: dict[str, st.State]) -> None:
    assert checks.removal(states[OPEN], "dave") is None
    refused(EntryError, UNKNOWN_ZED, checks.removal, states[OPEN], "zed")
    removed = states[CLOSED].teams["dave"].removed
    assert removed
    refused(EntryError, f"team 'dave' was removed from the tournament ({removed}); it can no "
            "longer act", checks.removal, states[CLOSED], "dave")


def test_next_round(states: dict[str, st.State]) -> None:
    refused(PhaseError, "round 1 is still open; close it with `dixit score` before opening the "
            "next", checks.next_round, states[OPEN], 2)
    refused(PhaseError, "round 1 is still open; close it with `dixit score` before opening the "
            "next", checks.next_round, states[REVEALED], 1)
    closed = states[CLOSED]
    assert checks.next_round(closed, 2) is None
    for wrong in (1, 3):
        refused(EntryError, "rounds are opened in order; the next is 2", checks.next_round,
                closed, wrong)
    fresh = replace(closed, rounds={})
    assert checks.next_round(fresh, 1) is None
    refused(EntryError, "rounds are opened in order; the next is 1", checks.next_round, fresh, 2)
    refused(EntryError, "rounds are opened in order; the next is 1", checks.next_round, fresh, 0)


@pytest.mark.parametrize(("active", "ok"), [(0, False), (1, False), (2, True), (3, True)])
def test_next_round_needs_two_active_teams(states: dict[str, st.State], active: int,
                                           ok: bool) -> None:
    closed = states[CLOSED]
    teams = {n: replace(t, removed=None if i < active else "2026-01-01T00:00:00Z")
             for i, (n, t) in enumerate(sorted(closed.teams.items()))}
    state = replace(closed, teams=teams, rounds={})
    if ok:
        assert checks.next_round(state, 1) is None
    else:
        refused(PhaseError, "a round needs at least two registered teams (`dixit team add`)",
                checks.next_round, state, 1)


# -- team entries of a round -------------------------------------------------------------------


def test_open_round(states: dict[str, st.State]) -> None:
    opened = states[OPEN]
    assert checks.open_round(opened, None) is opened.rounds[1]
    assert checks.open_round(opened, 1) is opened.rounds[1]
    refused(EntryError, "round 2 is not open", checks.open_round, opened, 2)
    refused(EntryError, "round 0 is not open", checks.open_round, opened, 0)
    refused(PhaseError, "round 1 is closed", checks.open_round, states[CLOSED], None)
    refused(PhaseError, "round 1 is closed", checks.open_round, states[CLOSED], 1)
    refused(EntryError, "no round is open yet; the organizer runs `dixit round open`",
            checks.open_round, replace(opened, rounds={}), None)


def test_open_round_by_number_with_two_rounds(states: dict[str, st.State]) -> None:
    closed = states[CLOSED]
    two = replace(closed, rounds={1: closed.rounds[1],
                                  2: replace(states[OPEN].rounds[1], number=2)})
    assert checks.open_round(two, 2) is two.rounds[2]
    assert checks.open_round(two, None) is two.rounds[2]
    refused(PhaseError, "round 1 is closed", checks.open_round, two, 1)


def _late(action: str, rnd: st.Round, until: datetime, now: datetime) -> str:
    return (f"too late: {action} in round {rnd.number} closed at {clock.iso(until)} "
            f"(now {clock.iso(now)})")


def test_proposal(states: dict[str, st.State], open_state: st.State, rnd: st.Round) -> None:
    before = rnd.propose_by - S
    assert checks.proposal(open_state, rnd, "dave", before) is None
    refused(PhaseError, _late("proposing", rnd, rnd.propose_by, rnd.propose_by), checks.proposal,
            open_state, rnd, "dave", rnd.propose_by)
    refused(EntryError, "'alice' already proposed a challenge in round 1", checks.proposal,
            open_state, rnd, "alice", before)
    refused(EntryError, UNKNOWN_ZED, checks.proposal, open_state, rnd, "zed", before)
    closed = states[CLOSED]
    refused(PhaseError, "round 1 is closed; proposing is no longer possible", checks.proposal,
            closed, closed.rounds[1], "erin", before)


def test_challenge_meta() -> None:
    assert checks.challenge_meta({"kind": "flag"}) is kinds.FLAG
    assert checks.challenge_meta({"kind": "emulate", "domain": "tokens:5x16:100"}) \
        is kinds.EMULATE
    refused(EntryError, "an emulate challenge is judged against its public model, so it needs "
            "inputs nobody can tabulate: a sampled domain tokens:VOCABxLEN:N (judged on N fresh "
            "inputs drawn after submit-by), not 'grid:113x113', which anyone can enumerate; or "
            "a dataset:PATH domain with a sealed held-out set (--heldout)",
            checks.challenge_meta,
            {"kind": "emulate", "domain": "grid:113x113"})
    # a challenge naming no domain names the empty one
    refused(EntryError, "an emulate challenge is judged against its public model, so it needs "
            "inputs nobody can tabulate: a sampled domain tokens:VOCABxLEN:N (judged on N fresh "
            "inputs drawn after submit-by), not '', which anyone can enumerate; or a "
            "dataset:PATH domain with a sealed held-out set (--heldout)",
            checks.challenge_meta, {"kind": "emulate"})
    assert checks.challenge_meta({}) is kinds.LABELER
    refused(ChallengeError, "unknown challenge kind 'x'; choose one of labeler, emulate, flag",
            checks.challenge_meta, {"kind": "x"})
    # how it is judged: a pull request cannot slip in an output or metric propose refuses
    assert checks.challenge_meta({"output": "classes:10"}) is kinds.LABELER
    refused(ChallengeError, "output classes:10 is judged by agreement, not 'kl'",
            checks.challenge_meta, {"output": "classes:10", "metric": "kl"})
    refused(ChallengeError, "the agreement threshold must be in [0.9, 1], higher is better; "
            "got 0.5", checks.challenge_meta, {"threshold": 0.5})


DATA = "scoring/data/x.safetensors"
CAPS = DomainRules(max_elements=1000, max_sequence_length=8, max_dataset_bytes=2048)


def _over(what: str, cap: int, key: str) -> str:
    return f"{what}, over the rulebook's limit of {cap:,} (domains.{key})"


def _dataset(shape: tuple[int, ...]) -> bytes:
    import numpy as np
    from safetensors.numpy import save

    return save({"inputs": np.zeros(shape, dtype=np.uint8)})


def test_domain_within_judges_a_dataset_by_what_the_ledger_holds() -> None:
    data = _dataset((11, 100))
    held = {DATA: (len(data), data)}
    with pytest.raises(EntryError) as err:
        checks.domain_within(CAPS, f"dataset:{DATA}", held.get)
    assert str(err.value) == _over(f"dataset {DATA} holds 1,100 numbers in 'inputs'", 1000,
                                   "max_elements")
    checks.domain_within(CEILING, f"dataset:{DATA}", held.get)
    # over the size cap, the content is not needed (and not read)
    with pytest.raises(EntryError) as err:
        checks.domain_within(CAPS, f"dataset:{DATA}", {DATA: (4096, b"")}.get)
    assert str(err.value) == _over(f"dataset {DATA} has 4,096 bytes", 2048, "max_dataset_bytes")
    with pytest.raises(EntryError) as err:
        checks.domain_within(CAPS, "dataset:scoring/data/other.safetensors", held.get)
    assert str(err.value) == ("dataset scoring/data/other.safetensors is not in the ledger (the "
                              "organizer commits shared evaluation data under scoring/data/)")
    with pytest.raises(EntryError) as err:
        checks.domain_within(CAPS, "grid:40x40", held.get)
    assert str(err.value) == _over("grid domain 'grid:40x40' holds 3,200 numbers (points x "
                                   "coordinates)", 1000, "max_elements")
    checks.domain_within(CAPS, "grid:10x10", {}.get)


@pytest.mark.parametrize(("size", "limit", "message"), [
    (0, 0, None),
    (10, 10, None),
    (11, 10, "11 bytes, over the rulebook's limit of 10 (limits.max_model_bytes)"),
    (1_234_567, 1_000_000,
     "1,234,567 bytes, over the rulebook's limit of 1,000,000 (limits.max_model_bytes)"),
])
def test_model_size(size: int, limit: int, message: str | None) -> None:
    if message is None:
        assert checks.model_size(size, limit) is None
    else:
        refused(EntryError, message, checks.model_size, size, limit)


def test_submission(states: dict[str, st.State], open_state: st.State, rnd: st.Round) -> None:
    before = rnd.submit_by - S
    assert checks.submission(open_state, rnd, "bob", "alice", before) is rnd.challenges["alice"]
    assert checks.submission(open_state, rnd, "dave", "carol", rnd.propose_by - S) \
        is rnd.challenges["carol"]
    refused(PhaseError, _late("submitting", rnd, rnd.submit_by, rnd.submit_by),
            checks.submission, open_state, rnd, "bob", "alice", rnd.submit_by)
    refused(PhaseError, "'dave' has not proposed a challenge in round 1 (proposed so far: alice, "
            "bob, carol)", checks.submission, open_state, rnd, "bob", "dave", before)
    refused(PhaseError, "'dave' has not proposed a challenge in round 1 (proposed so far: none)",
            checks.submission, open_state, replace(rnd, challenges={}), "bob", "dave", before)
    refused(EntryError, "'alice' cannot submit to its own challenge", checks.submission,
            open_state, rnd, "alice", "alice", before)
    closed = states[CLOSED]
    refused(PhaseError, "round 1 is closed; submitting is no longer possible", checks.submission,
            closed, closed.rounds[1], "bob", "alice", before)


def test_submitter(states: dict[str, st.State]) -> None:
    opened, closed = states[OPEN], states[CLOSED]
    assert checks.submitter(opened, "bob", "alice") is None
    refused(EntryError, "'bob' cannot submit to its own challenge", checks.submitter, opened,
            "bob", "bob")
    refused(EntryError, UNKNOWN_ZED, checks.submitter, opened, "zed", "alice")
    refused(EntryError, UNKNOWN_ZED, checks.submitter, opened, "alice", "zed")
    removed = closed.teams["dave"].removed
    gone = f"team 'dave' was removed from the tournament ({removed}); it can no longer act"
    refused(EntryError, gone, checks.submitter, closed, "dave", "alice")
    refused(EntryError, gone, checks.submitter, closed, "alice", "dave")  # takes no programs
    refused(EntryError, gone, checks.submitter, closed, "dave", "dave")


ROLLBACK = ("does not replace the submission now in the ledger (an older entry brought back?); "
            "a resubmission names the sha256 of the entry it replaces")


def test_replacement() -> None:
    """A submission names the sha256 of the entry it replaces, and a first one names none."""
    first, second = b"first entry", b"second entry"
    checks.replacement(None, {})
    checks.replacement(None, {"replaces": None})
    checks.replacement(first, {"replaces": seal.sha256_hex(first)})
    with pytest.raises(EntryError) as err:
        checks.replacement(None, {"replaces": seal.sha256_hex(first)})
    assert str(err.value) == "names an entry it replaces, but there is none in the ledger"
    for sub in ({}, {"replaces": seal.sha256_hex(second)},
                {"replaces": seal.sha256_hex(first)[:-1]}):
        with pytest.raises(EntryError) as err:
            checks.replacement(first, sub)
        assert str(err.value) == ROLLBACK


def test_team_reveal(states: dict[str, st.State], rnd: st.Round) -> None:
    assert checks.team_reveal(rnd, rnd.submit_by) is None
    assert checks.team_reveal(rnd, rnd.submit_by + S) is None
    refused(PhaseError, f"too early: reveals open after submit-by ({clock.iso(rnd.submit_by)}), "
            "so no one can copy a secret", checks.team_reveal, rnd, rnd.submit_by - S)
    refused(PhaseError, "round 1 is closed; nothing left to reveal", checks.team_reveal,
            states[CLOSED].rounds[1], rnd.submit_by + S)


@pytest.mark.parametrize("rv", [{"by": "closer"}, {}, {"by": "Team"}])
def test_team_reveal_entry_is_by_the_team(rv: dict[str, Any]) -> None:
    refused(EntryError, "a team's reveal must say by = \"team\"; only the closer reveals from "
            "escrow", checks.team_reveal_entry, rv)


def test_team_reveal_entry_by_team() -> None:
    assert checks.team_reveal_entry({"by": "team"}) is None


# -- what is sealed ----------------------------------------------------------------------------


@pytest.mark.parametrize(("team", "items"), [
    ("alice", ["labeler", "bob", "carol"]),
    ("bob", ["labeler", "alice"]),
    ("carol", ["labeler", "alice"]),
    ("dave", ["carol"]),
    ("erin", []),
])
def test_sealed_items(rnd: st.Round, team: str, items: list[str]) -> None:
    assert checks.sealed_items(rnd, team) == items


@pytest.mark.parametrize(("owner", "item", "expected"), [
    ("alice", "labeler", True),
    ("dave", "labeler", False),
    ("bob", "alice", True),
    ("alice", "dave", False),
    ("bob", "carol", False),
])
def test_has_sealed(rnd: st.Round, owner: str, item: str, expected: bool) -> None:
    assert checks.has_sealed(rnd, owner, item) is expected


def test_has_sealed_needs_the_target_challenge(rnd: st.Round) -> None:
    without = replace(rnd, challenges={t: c for t, c in rnd.challenges.items() if t != "carol"})
    assert ("alice", "carol") in without.submissions
    assert checks.has_sealed(without, "alice", "carol") is False
    assert checks.has_sealed(without, "alice", "bob") is True


def test_seal_of(rnd: st.Round) -> None:
    assert checks.seal_of(rnd, "alice", "labeler") is rnd.challenges["alice"].seal
    assert checks.seal_of(rnd, "bob", "alice") is rnd.submissions[("bob", "alice")].seal


def test_context_for_is_what_was_sealed(built: dict[str, Built], open_state: st.State,
                                        rnd: st.Round, monkeypatch: pytest.MonkeyPatch) -> None:
    """The context verify and the closer derive is exactly the one each escrow was encrypted
    to: the closer's key opens every escrow of the round under it, and its content opens the
    seal."""
    info = open_state.info
    for owner, kind in (("alice", "labeler"), ("carol", "flag")):
        ch = rnd.challenges[owner]
        assert checks.context_for(info, rnd, owner, "labeler") == {
            "purpose": "labeler", "tournament": info.id, "round": 1, "team": owner,
            "kind": kind, "domain": ch.seal["domain_id"], "model_sha256": ch.seal["model_sha256"]}
    assert checks.context_for(info, rnd, "bob", "alice") == {
        "purpose": "program", "tournament": info.id, "round": 1, "team": "bob",
        "target": "alice", "challenge": rnd.challenges["alice"].seal["commitment"]}
    monkeypatch.setenv("DIXIT_HOME", str(built[OPEN].keys))
    closer = keystore.load(info.id, "closer")
    snap = open_state.snapshot
    for owner, item in [(t, "labeler") for t in rnd.challenges] + sorted(rnd.submissions):
        blob = snap.read(layout.escrow_path(1, owner, item))
        assert blob is not None
        context = checks.context_for(info, rnd, owner, item)
        salt, payload = seal.unpack_secret(seal.open_escrow(closer.escrow, context, blob))
        checks.reveal_matches(info, rnd, owner, item, salt, payload, "here")
        with pytest.raises(SealError):
            seal.open_escrow(closer.escrow, {**context, "round": 2}, blob)
        with pytest.raises(SealError) as err:
            checks.reveal_matches(info, rnd, owner, item, salt, payload + b" ", "here")
        assert str(err.value) == "here: revealed content does not match its seal"


def test_context_for_a_seal_without_its_fields(open_state: st.State, rnd: st.Round) -> None:
    """What is missing from a seal is sealed as empty (so such a seal never opens)."""
    bare = replace(rnd, challenges={t: replace(c, seal={}) for t, c in rnd.challenges.items()})
    info = open_state.info
    assert checks.context_for(info, bare, "alice", "labeler") == protocol.secret_context(
        info.id, 1, "alice", "labeler", "", "")
    assert checks.context_for(info, bare, "bob", "alice") == protocol.program_context(
        info.id, 1, "bob", "alice", "")


@pytest.mark.parametrize(("owner", "item", "text"), [
    ("alice", "labeler", "alice's labeler"),
    ("carol", "labeler", "carol's labeler"),  # every kind's secret is called its labeler
    ("bob", "alice", "bob's program for alice"),
])
def test_describe_item(owner: str, item: str, text: str) -> None:
    assert checks.describe_item(owner, item) == text


@pytest.mark.parametrize(("owner", "item", "kind"), [
    ("alice", "labeler", kinds.LABELER),
    ("carol", "labeler", kinds.FLAG),
    ("alice", "carol", kinds.FLAG),     # a submission has its target's kind
    ("dave", "carol", kinds.FLAG),
    ("carol", "alice", kinds.LABELER),
])
def test_kind_of_item(rnd: st.Round, owner: str, item: str, kind: kinds.Kind) -> None:
    assert checks.kind_of_item(rnd, owner, item) is kind


@pytest.mark.parametrize(("item", "name"), [("labeler", "labeler.py"), ("bob", "bob.py"),
                                            ("carol", "carol.txt")])
def test_reveal_files_are_exactly_what_alice_committed(
        built: dict[str, Built], states: dict[str, st.State], item: str, name: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Signatures are deterministic, so the files ``reveal_files`` builds from alice's kept
    secret are byte for byte the ones her ``dixit reveal`` committed."""
    state = states[REVEALED]
    rnd = state.rounds[1]
    monkeypatch.setenv("DIXIT_HOME", str(built[REVEALED].keys))
    salt, payload = keystore.load_secret(state.info.id, 1, "alice", item)
    alice = keystore.load(state.info.id, "team-alice")
    files = checks.reveal_files(rnd, "alice", item, salt, payload, "team", alice.signing)
    base = "rounds/001/reveals/alice"
    assert sorted(files) == sorted([f"{base}/{item}.toml", f"{base}/{name}"])
    snap = state.snapshot
    assert files[f"{base}/{name}"] == payload == snap.read(f"{base}/{name}")
    assert files[f"{base}/{item}.toml"] == snap.read(f"{base}/{item}.toml")
    doc = entries.verify(files[f"{base}/{item}.toml"] or b"", "x", alice.public)
    assert doc == {"reveal": {"owner": "alice", "item": item, "round": 1, "by": "team",
                              "salt": seal.b64(salt), "file": name,
                              "sha256": seal.sha256_hex(payload)}}


# -- explanations ------------------------------------------------------------------------------

_HEX = "ab" * 32


def _told(**changes: Any) -> dict[str, Any]:
    table = {"format": "md", "commitment": _HEX, "scheme": seal.SEAL_VERSION,
             "payload_bytes": 10, "escrow_sha256": _HEX}
    table.update(changes)
    return {k: v for k, v in table.items() if v is not None}


EXPLANATION_SEAL = ("[explanation] must be a seal: format (md or ipynb), commitment, scheme, "
                    "payload_bytes (1 to 1,048,576 for md, 8,388,608 for ipynb) and, with "
                    "escrow, escrow_sha256")


@pytest.mark.parametrize("table", [
    "a string", _told(format="txt"), _told(format=None), _told(commitment="ab"),
    _told(commitment=None), _told(scheme="v0"), _told(payload_bytes=0), _told(payload_bytes=True),
    _told(payload_bytes="10"), _told(payload_bytes=(1 << 20) + 1), _told(escrow_sha256="x"),
    _told(extra=1), _told(format="ipynb", payload_bytes=(8 << 20) + 1)])
def test_explanation_seal_refuses(table: Any) -> None:
    refused(EntryError, EXPLANATION_SEAL, checks.explanation_seal, table)


def test_explanation_seal_accepts() -> None:
    for table in (_told(), _told(escrow_sha256=None), _told(format="ipynb",
                                                            payload_bytes=8 << 20),
                  _told(payload_bytes=1 << 20), _told(payload_bytes=1)):
        assert checks.explanation_seal(table) == table


def test_submission_entry_tables() -> None:
    assert checks.submission_entry({"submission": {}, "seal": {}}) is None
    assert checks.submission_entry({"submission": {}, "seal": {},
                                    "explanation": _told()}) == _told()
    refused(EntryError, "unknown table(s) notes; known: explanation, seal, submission",
            checks.submission_entry, {"submission": {}, "seal": {}, "notes": {}})
    refused(EntryError, EXPLANATION_SEAL, checks.submission_entry,
            {"submission": {}, "seal": {}, "explanation": []})


def test_explanation_required() -> None:
    from dixit.rules.explanations import ExplanationRules
    from dixit.rules.rulebook import Rulebook

    book = Rulebook(require_explanation=True,
                    explanations=ExplanationRules(max_markdown_bytes=10, max_notebook_bytes=20))
    refused(EntryError, "carries no explanation, but the rulebook requires one with every "
            "submission (solve.require_explanation)", checks.explanation_required, book, None)
    checks.explanation_required(Rulebook(), None)
    checks.explanation_required(book, _told(payload_bytes=10))
    checks.explanation_required(book, _told(format="ipynb", payload_bytes=20))
    refused(EntryError, "the explanation is 11 bytes, over the rulebook's limit of 10 for a "
            "Markdown (explanations.max_markdown_bytes)", checks.explanation_required, book,
            _told(payload_bytes=11))
    refused(EntryError, "the explanation is 21 bytes, over the rulebook's limit of 20 for a "
            "notebook (explanations.max_notebook_bytes)", checks.explanation_required, book,
            _told(format="ipynb", payload_bytes=21))


def test_explanation_escrow() -> None:
    blob = bytes(10 + seal.SALT_BYTES + seal.ESCROW_OVERHEAD)
    sealed = _told(escrow_sha256=seal.sha256_hex(blob))
    checks.explanation_escrow(sealed, blob)
    refused(EntryError, "does not match its seal", checks.explanation_escrow, sealed,
            blob[:-1] + b"\x01")
    short = blob[:-1]
    refused(EntryError, "is 101 bytes, but the explanation it escrows is sealed as 10 bytes "
            "(its escrow is 102)", checks.explanation_escrow,
            _told(escrow_sha256=seal.sha256_hex(short)), short)


def test_explanation_layout() -> None:
    assert layout.explanation_item("alice") == "alice.explanation"
    assert layout.explained_target("alice.explanation") == "alice"
    for item in ("alice", "labeler", "heldout", "alice.explanations", "alice.", ".explanation",
                 "x", "a.b.explanation", ""):
        assert layout.explained_target(item) is None, item
    assert layout.escrow_path(1, "bob", "alice.explanation") == \
        "rounds/001/submissions/bob/alice.explanation.escrow"
    for path, kind, entry in [
        ("rounds/001/submissions/bob/alice.explanation.escrow", "submission",
         "rounds/001/submissions/bob/alice.toml"),
        ("rounds/001/submissions/bob/alice.escrow", "submission",
         "rounds/001/submissions/bob/alice.toml"),
        ("rounds/001/reveals/bob/alice.explanation.md", "reveal",
         "rounds/001/reveals/bob/alice.explanation.toml"),
        ("rounds/001/reveals/bob/alice.explanation.ipynb", "reveal",
         "rounds/001/reveals/bob/alice.explanation.toml"),
        ("rounds/001/reveals/bob/alice.explanation.toml", "reveal",
         "rounds/001/reveals/bob/alice.explanation.toml")]:
        place = layout.classify(path)
        assert place is not None and place.kind == kind and place.entry(path) == entry, path
    for path in ("rounds/001/submissions/bob/alice.explanation.md",
                 "rounds/001/reveals/bob/alice.explanation.py",
                 "rounds/001/reveals/bob/alice.explanation.txt",
                 "rounds/001/submissions/bob/alice.notes.escrow"):
        assert layout.classify(path) is None, path


def test_explanation_context_binds_the_program_and_format() -> None:
    ctx = protocol.explanation_context("t", 1, "bob", "alice", _HEX, "md")
    assert ctx == {"purpose": "explanation", "tournament": "t", "round": 1, "team": "bob",
                   "target": "alice", "program": _HEX, "format": "md"}
    salt = bytes(32)
    once = seal.commit("explanation", ctx, salt, b"x")
    assert once != seal.commit("explanation", {**ctx, "format": "ipynb"}, salt, b"x")
    assert once != seal.commit("explanation", {**ctx, "program": "cd" * 32}, salt, b"x")


def test_describe_an_explanation() -> None:
    assert checks.describe_item("bob", "alice.explanation") == "bob's explanation for alice"
