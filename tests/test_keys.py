"""Key rotation and team removal are signed entries; verify judges every entry by its time."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dixit.league import validate
from dixit.ledger import entries, keystore, layout, state as st
from dixit.ledger.store import Ledger
from tests.conftest import (
    EXAMPLES,
    Runner,
    copytree,
    git,
    ledger_fingerprint,
    make_league,
    propose_small,
    scoped_env,
)

PROGRAMS = EXAMPLES / "programs"


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory, dixit: Runner):
    """A round in which alice rotates to a key she made herself, bob's key is rotated by the
    organizer between two submissions, and carol is removed before the close."""
    base = tmp_path_factory.mktemp("keys")
    with scoped_env(base):
        league = make_league(base, dixit)
        dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by",
                 "+2h")
        nxt = dixit.ok("-C", league.clone("alice"), "team", "keygen", "alice", "--next",
                       "--json").json()
        dixit.ok("-C", league.root, "team", "rotate", "alice", "--key", nxt["key"])
        for team in ("alice", "bob", "carol"):
            propose_small(league, dixit, team)  # alice's first action promotes her next key
        sub = ("submit", "--challenge")
        dixit.ok("-C", league.clone("bob"), *sub[:1], "--team", "bob", *sub[1:], "alice",
                 PROGRAMS / "carol_for_alice.py")
        dixit.ok("-C", league.root, "team", "rotate", "bob", "--reason", "laptop stolen")
        dixit.ok("-C", league.clone("bob"), "submit", "--team", "bob", "--challenge", "alice",
                 PROGRAMS / "bob_for_alice.py")
        dixit.ok("-C", league.clone("carol"), "submit", "--team", "carol", "--challenge",
                 "alice", PROGRAMS / "carol_for_alice.py")
        dixit.ok("-C", league.clone("alice"), "submit", "--team", "alice", "--challenge",
                 "bob", PROGRAMS / "alice_for_bob.py")
        dixit.ok("-C", league.root, "team", "remove", "carol", "--reason", "withdrew")
        results = dixit.ok("-C", league.root, "score", "--force", "--json").json()
        dixit.ok("-C", league.root, "team", "add", "dave")  # joins after round 1 closed
        yield league, results, base / "keys"


@pytest.fixture
def keys(played, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIXIT_HOME", str(played[2]))


def test_removed_team_is_set_aside_and_rotated_keys_still_verify(played, dixit: Runner,
                                                                 keys: None) -> None:
    league, results, _ = played
    assert results["teams"] == ["alice", "bob"]
    assert [c["proposer"] for c in results["challenges"]] == ["alice", "bob"]
    alice = results["challenges"][0]
    assert [s["team"] for s in alice["submissions"]] == ["bob"]  # carol's program set aside
    assert alice["solved_by"] == ["bob"]  # bob's resubmission, signed with his new key
    rep = dixit.ok("-C", league.root, "verify", "--json").json()
    assert rep["ok"], rep["problems"]


def test_team_list_and_standings_show_rotations_and_removal(played, dixit: Runner,
                                                           keys: None) -> None:
    league = played[0]
    teams = {t["name"]: t for t in dixit.ok("-C", league.root, "team", "list",
                                            "--json").json()["teams"]}
    assert (teams["alice"]["rotations"], teams["bob"]["rotations"]) == (1, 1)
    assert teams["carol"]["removed"] and not teams["bob"]["removed"]
    rows = {r["team"]: r for r in dixit.ok("-C", league.root, "standings",
                                           "--json").json()["standings"]}
    assert rows["carol"]["removed"] is True and rows["alice"]["removed"] is False
    assert "removed" in dixit.ok("-C", league.root, "standings").out


def test_retired_key_files_are_kept_and_pending_key_is_promoted(played, keys: None) -> None:
    league, _results, home = played
    info = st.read_info(Ledger(league.root).snapshot())
    folder = home / info.id
    names = sorted(p.name for p in folder.iterdir())
    assert "team-bob.key.retired-001" in names
    assert not (folder / "team-alice.next.key").exists()
    assert any(n.startswith("team-alice.key.retired-") for n in names)
    state = st.load(Ledger(league.root).snapshot())
    assert keystore.load(info.id, "team-alice").public == state.teams["alice"].key
    assert keystore.load(info.id, "team-bob").public == state.teams["bob"].key


def test_removed_team_cannot_act_and_nothing_is_written(played, dixit: Runner, keys: None,
                                                        tmp_path: Path) -> None:
    league = played[0]
    root = _offline_copy(league.root, tmp_path)
    dixit.ok("-C", root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
    before = ledger_fingerprint(root)
    res = dixit("-C", root, "propose", "--team", "carol", league.work / "carol")
    assert res.code == 1 and "carol' was removed" in res.err
    assert len(res.err.strip().splitlines()) == 1 and "Traceback" not in res.err
    for args in (("team", "remove", "carol"), ("team", "rotate", "carol")):
        res = dixit("-C", root, *args)
        assert res.code == 1 and "removed" in res.err
    assert ledger_fingerprint(root) == before


def _offline_copy(root: Path, tmp: Path) -> Path:
    """A copy of the organizer's clone that cannot push to the module's shared remote."""
    copy = copytree(root, tmp / "org")
    git(copy, "remote", "remove", "origin")
    return copy


def _commit_entry(root: Path, path: str, data: bytes, message: str) -> str:
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_bytes(data)
    git(root, "add", path)
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


def _retired(home: Path, tid: str, name: str) -> keystore.Identity:
    line = (home / tid / name).read_text()
    return keystore.parse_line(line, line.split(":")[1], name)


def test_entry_signed_with_a_retired_key_loads_but_fails_verify_and_validate(
        played, dixit: Runner, keys: None, tmp_path: Path) -> None:
    league, _results, home = played
    root = _offline_copy(league.root, tmp_path)
    dixit.ok("-C", root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
    dixit.ok("-C", root, "propose", "--team", "alice", league.work / "alice")
    dixit.ok("-C", root, "submit", "--team", "bob", "--challenge", "alice",
             PROGRAMS / "bob_for_alice.py")
    ledger = Ledger(root)
    info = st.read_info(ledger.snapshot())
    state = st.load(ledger.snapshot())
    sub = state.rounds[2].submissions[("bob", "alice")]
    payload, _sig = entries.parse(ledger.snapshot().read(sub.path) or b"", sub.path)
    old = _retired(home, info.id, "team-bob.key.retired-001")
    base = git(root, "rev-parse", "HEAD")
    # bob's thief re-signs his submission with the stolen, retired key
    _commit_entry(root, sub.path, entries.signed(payload, old.signing), "resubmit: bob")
    st.load(Ledger(root).snapshot())  # a snapshot cannot tell when it was signed
    rep = dixit("-C", root, "verify", "--no-replay", "--json")
    assert rep.code == 1
    problems = rep.json()["problems"]
    assert any(sub.path in p and "retired or foreign key" in p and "commit" in p
               for p in problems), problems
    report = validate.validate(root, base)  # the same commit as a pull request
    assert not report.as_dict()["ok"]
    assert any("forged entry, or signed with another team's key" in p
               for p in report.problems), report.problems


def test_entry_written_after_removal_fails_verify(played, dixit: Runner, keys: None,
                                                  tmp_path: Path) -> None:
    league, _results, _home = played
    root = _offline_copy(league.root, tmp_path)
    dixit.ok("-C", root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
    info = st.read_info(Ledger(root).snapshot())
    carol = keystore.load(info.id, "team-carol")
    path = "rounds/002/submissions/carol/alice.toml"
    doc = {"submission": {"team": "carol", "target": "alice", "round": 2,
                          "submitted": "2026-01-01T00:00:00Z"}, "seal": {"commitment": "x"}}
    _commit_entry(root, path, entries.signed(doc, carol.signing), "submit: carol")
    rep = dixit("-C", root, "verify", "--no-replay", "--json")
    assert rep.code == 1
    assert any(path in p and "after team 'carol' was removed" in p
               for p in rep.json()["problems"]), rep.json()["problems"]


def test_rotation_chain_is_checked(played, dixit: Runner, keys: None, tmp_path: Path) -> None:
    """A rotation must name the key it replaces and be signed by the organizer."""
    league, _results, _home = played
    root = _offline_copy(league.root, tmp_path)
    info = st.read_info(Ledger(root).snapshot())
    state = st.load(Ledger(root).snapshot())
    rogue = keystore.generate("team-bob")
    doc = {"rotation": {"team": "bob", "number": 2, "key": rogue.public,
                        "previous": state.teams["bob"].history[0], "at": "x", "reason": ""}}
    organizer = keystore.load(info.id, "organizer")
    _commit_entry(root, layout.rotation_path("bob", 2), entries.signed(doc, organizer.signing),
                  "team: rotate bob")
    res = dixit("-C", root, "verify", "--no-replay")
    assert res.code == 1 and "does not replace the key registered before it" in res.err
    git(root, "reset", "-q", "--hard", "HEAD~1")
    doc["rotation"]["previous"] = state.teams["bob"].key
    _commit_entry(root, layout.rotation_path("bob", 2), entries.signed(doc, rogue.signing),
                  "team: rotate bob")  # bob cannot rotate himself: only the organizer may
    res = dixit("-C", root, "verify", "--no-replay")
    assert res.code == 1 and "key-002.toml: entry is signed by a key that is not" in res.err


def test_rotation_refuses_a_key_the_team_held_before(played, dixit: Runner, keys: None,
                                                     tmp_path: Path) -> None:
    league = played[0]
    root = _offline_copy(league.root, tmp_path)
    old = st.load(Ledger(root).snapshot()).teams["bob"].history[0]
    before = ledger_fingerprint(root)
    res = dixit("-C", root, "team", "rotate", "bob", "--key", old)
    assert res.code == 1 and "held this key before" in res.err
    assert ledger_fingerprint(root) == before
    assert os.environ["DIXIT_HOME"]
