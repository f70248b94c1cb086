"""A full round through the CLI on real git repositories: a bare remote and team clones."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import toml

from tests.conftest import (
    EXAMPLES,
    League,
    Runner,
    copytree,
    git,
    ledger_fingerprint,
    make_league,
    program,
    propose_small,
    scoped_env,
)

PROGRAMS = EXAMPLES / "programs"


@pytest.fixture(scope="module")
def closed(tmp_path_factory: pytest.TempPathFactory, dixit: Runner):
    """One real round, played and scored once for the whole module."""
    base = tmp_path_factory.mktemp("closed")
    with scoped_env(base):
        league = make_league(base, dixit)
        dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by",
                 "+2h")
        for team in ("alice", "bob", "carol"):
            propose_small(league, dixit, team)
        crash = program(base, "crash", "raise RuntimeError('boom at import')\n\n\n"
                        "def label(x):\n    return x[:, 0]\n")
        for solver, target, prog in [
            ("bob", "alice", PROGRAMS / "bob_for_alice.py"),
            ("carol", "alice", PROGRAMS / "carol_for_alice.py"),
            ("alice", "bob", PROGRAMS / "alice_for_bob.py"),
            ("carol", "bob", PROGRAMS / "carol_for_bob.py"),
            ("alice", "carol", crash),
            ("bob", "carol", PROGRAMS / "bob_for_carol.py"),
        ]:
            dixit.ok("-C", league.clone(solver), "submit", "--team", solver, "--challenge",
                     target, prog)
        res = dixit.ok("-C", league.root, "score", "--force", "--json")
        yield league, res.json(), base / "keys"


@pytest.fixture
def keys(closed, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIXIT_HOME", str(closed[2]))


def test_score_json_has_documented_shape_and_dixit_points(closed) -> None:
    _league, results, _ = closed
    assert results["round"] == 1
    # alice: only bob solves (k=1 of m=2) -> 4; bob: both solve (k=m) -> 0;
    # carol: alice's program crashes, bob solves (k=1) -> 4; each solve scores 3.
    assert results["points"] == {"alice": 4 + 3, "bob": 3 + 0 + 3, "carol": 3 + 4}
    by = {c["proposer"]: c for c in results["challenges"]}
    assert by["alice"]["solved_by"] == ["bob"]
    assert by["bob"]["solved_by"] == ["alice", "carol"]
    assert by["carol"]["solved_by"] == ["bob"]
    assert by["alice"]["points"] == {"alice": 4, "bob": 3}
    subs = {s["team"]: s for s in by["alice"]["submissions"]}
    assert subs["bob"] == {"team": "bob", "agreement": 1.0, "score": 1.0, "solved": True,
                           "error": None}
    assert 0.85 < subs["carol"]["agreement"] < 0.95 and not subs["carol"]["solved"]
    crashed = {s["team"]: s for s in by["carol"]["submissions"]}["alice"]
    assert crashed["solved"] is False and crashed["agreement"] is None
    assert "boom at import" in crashed["error"]
    for ch in results["challenges"]:
        assert 0.5 < ch["model_accuracy"] <= 1.0
        assert ch["claimed_accuracy"] == pytest.approx(ch["model_accuracy"], abs=1e-6)
        assert ch["claim_flagged"] is False


def test_closed_round_is_tagged_pushed_and_rescoring_writes_nothing(closed, dixit: Runner,
                                                                     keys: None) -> None:
    league, results, _ = closed
    head = git(league.bare, "rev-parse", "main")
    assert git(league.bare, "rev-parse", "round-001-closed^{commit}") == head
    again = dixit.ok("-C", league.root, "score", "--json").json()
    assert again == results
    assert git(league.bare, "rev-parse", "main") == head
    assert git(league.root, "status", "--porcelain") == ""


def test_standings_rank_best_first_with_tie_break(closed, dixit: Runner, keys: None) -> None:
    league, _, _ = closed
    rows = dixit.ok("-C", league.clone("alice"), "standings", "--json").json()["standings"]
    assert [(r["team"], r["points"]) for r in rows] == [("alice", 7), ("carol", 7), ("bob", 6)]
    # alice and carol tie on points, solves (1 each) and Dixits (1 each): name decides.
    assert [(r["solves"], r["dixits"]) for r in rows] == [(1, 1), (1, 1), (2, 0)]
    text = dixit.ok("-C", league.clone("alice"), "standings").out
    assert "carol" in text and "Standings" in text


def test_status_shows_phase_and_entries(closed, dixit: Runner, keys: None) -> None:
    league, _, _ = closed
    data = dixit.ok("-C", league.clone("bob"), "status", "--json").json()
    assert data["round"]["phase"] == "closed"
    assert {c["team"]: c["submissions"] for c in data["round"]["challenges"]} == {
        "alice": ["bob", "carol"], "bob": ["alice", "carol"], "carol": ["alice", "bob"]}


def test_verify_from_a_fresh_clone(closed, dixit: Runner, keys: None, tmp_path: Path) -> None:
    league, _, _ = closed
    clone = tmp_path / "fresh"
    git(tmp_path, "clone", "-q", str(league.bare), str(clone))
    rep = dixit.ok("-C", clone, "verify", "--json").json()
    assert rep["ok"] is True and rep["problems"] == []
    assert rep["checked"]["rounds re-scored"] == 1


@pytest.mark.parametrize("target", [
    "rounds/001/challenges/alice/model.safetensors",
    "rounds/001/challenges/bob/challenge.toml",
    "rounds/001/submissions/carol/alice.toml",
    "rounds/001/reveals/bob/alice.py",
    "rounds/001/results.toml",
])
def test_verify_catches_a_flipped_byte_in_any_sealed_file(closed, dixit: Runner, keys: None,
                                                          tmp_path: Path, target: str) -> None:
    league, _, _ = closed
    repo = copytree(league.root, tmp_path / "copy")
    git(repo, "remote", "remove", "origin")
    path = repo / target
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    git(repo, "commit", "-qam", "tamper", "--author", "x <x@x>")
    res = dixit("-C", repo, "verify", "--no-replay")
    assert res.code == 1
    assert target.rsplit("/", 1)[0] in res.err


def test_verify_catches_edited_results(closed, dixit: Runner, keys: None, tmp_path: Path) -> None:
    league, _, _ = closed
    repo = copytree(league.root, tmp_path / "copy")
    git(repo, "remote", "remove", "origin")
    res_path = repo / "rounds/001/results.toml"
    doc = toml.loads(res_path.read_text())
    doc["points"]["bob"] = 99
    res_path.write_text(toml.dumps(doc))
    git(repo, "commit", "-qam", "edit results", "--author", "x <x@x>")
    res = dixit("-C", repo, "verify", "--no-replay")
    assert res.code == 1 and "results.toml" in res.err


def test_late_submission_is_refused_and_writes_nothing(closed, dixit: Runner,
                                                       keys: None) -> None:
    league, _, _ = closed
    git(league.clone("bob"), "pull", "-q", "--tags", "--ff-only")  # a sync is not a write
    before = ledger_fingerprint(league.clone("bob"))
    res = dixit("-C", league.clone("bob"), "submit", "--team", "bob", "--challenge", "alice",
                PROGRAMS / "bob_for_alice.py")
    assert res.code == 1 and "closed" in res.err and "Traceback" not in res.err
    assert ledger_fingerprint(league.clone("bob")) == before


# -- refusals in an open round ------------------------------------------------------------------


@pytest.fixture
def open_round(league: League, dixit: Runner) -> League:
    dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
    propose_small(league, dixit, "alice", steps=20)
    for clone in league.clones.values():
        git(clone, "pull", "-q", "--ff-only")
    return league


@pytest.mark.parametrize(("who", "target", "env", "needle"), [
    ("alice", "alice", {}, "own challenge"),
    ("mallory", "alice", {}, "unknown team 'mallory'"),
    ("bob", "zed", {}, "unknown team 'zed'"),
    ("bob", "carol", {}, "has not proposed"),
    ("bob", "alice", {"DIXIT_NOW": "+3h"}, "too late"),
    ("bob", "alice", {"DIXIT_HOME": "/nonexistent-keys"}, "no private key for 'bob'"),
    ("../x", "alice", {}, "invalid team name"),
])
def test_bad_submissions_are_refused_with_one_line_and_nothing_written(
        open_round: League, dixit: Runner, monkeypatch: pytest.MonkeyPatch, who: str,
        target: str, env: dict[str, str], needle: str) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    clone = open_round.clone("bob")
    before = ledger_fingerprint(clone)
    remote_before = git(open_round.bare, "rev-parse", "main")
    res = dixit("-C", clone, "submit", "--team", who, "--challenge", target,
                PROGRAMS / "bob_for_alice.py")
    assert res.code == 1, res
    assert needle in res.err and len(res.err.strip().splitlines()) == 1, res.err
    assert ledger_fingerprint(clone) == before
    assert git(open_round.bare, "rev-parse", "main") == remote_before


def test_wrong_key_is_refused(open_round: League, dixit: Runner, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    home = Path(os.environ["DIXIT_HOME"])
    tid = next(p.name for p in home.iterdir())
    # Put carol's private key where bob's should be: a valid key, but not bob's.
    bob = home / tid / "team-bob.key"
    bob.write_text((home / tid / "team-carol.key").read_text().replace("team-carol", "team-bob"))
    res = dixit("-C", open_round.clone("bob"), "submit", "--team", "bob", "--challenge", "alice",
                PROGRAMS / "bob_for_alice.py")
    assert res.code == 1 and "not the one registered" in res.err


def test_resubmission_replaces_the_earlier_program(open_round: League, dixit: Runner) -> None:
    clone = open_round.clone("bob")
    first = dixit.ok("-C", clone, "submit", "--team", "bob", "--challenge", "alice",
                     PROGRAMS / "carol_for_alice.py", "--json").json()
    second = dixit.ok("-C", clone, "submit", "--team", "bob", "--challenge", "alice",
                      PROGRAMS / "bob_for_alice.py", "--json").json()
    assert not first["replaced"] and second["replaced"]
    assert first["commitment"] != second["commitment"]
    log = git(open_round.bare, "log", "--format=%s", "-2")
    assert log.splitlines() == ["resubmit: bob -> alice in round 001",
                                "submit: bob -> alice in round 001"]


def test_score_before_deadline_needs_force(open_round: League, dixit: Runner) -> None:
    res = dixit("-C", open_round.root, "score")
    assert res.code == 1 and "--force" in res.err


def test_reveal_before_deadline_is_refused(open_round: League, dixit: Runner) -> None:
    res = dixit("-C", open_round.clone("alice"), "reveal", "--team", "alice")
    assert res.code == 1 and "too early" in res.err


def test_two_clones_writing_at_once_lose_nothing(open_round: League, dixit: Runner) -> None:
    """bob and carol push from stale clones: the second rebuilds on the first's commit."""
    import threading

    errors: list[str] = []

    def go(team: str) -> None:
        res = dixit("-C", open_round.clone(team), "submit", "--team", team, "--challenge",
                    "alice", PROGRAMS / "bob_for_alice.py")
        if res.code:
            errors.append(res.err)

    threads = [threading.Thread(target=go, args=(t,)) for t in ("bob", "carol")]
    # In-process runs share cli state, so run them one after the other from stale clones.
    for t in threads:
        t.start()
        t.join()
    assert errors == []
    subjects = git(open_round.bare, "log", "--format=%s", "-2").splitlines()
    assert sorted(subjects) == ["submit: bob -> alice in round 001",
                                "submit: carol -> alice in round 001"]


# -- a tournament without escrow: teams reveal themselves ----------------------------------------


def test_round_without_escrow_scores_self_reveals_and_records_missing_ones(
        tmp_path: Path, dixit: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    league = make_league(tmp_path, dixit, escrow=False)
    dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
    propose_small(league, dixit, "alice", steps=20)
    propose_small(league, dixit, "bob", steps=20)
    dixit.ok("-C", league.clone("bob"), "submit", "--team", "bob", "--challenge", "alice",
             PROGRAMS / "bob_for_alice.py")
    dixit.ok("-C", league.clone("carol"), "submit", "--team", "carol", "--challenge", "alice",
             PROGRAMS / "bob_for_alice.py")
    assert not list((league.clone("bob") / "rounds/001/challenges/alice").glob("*.escrow"))
    monkeypatch.setenv("DIXIT_NOW", "+3h")
    assert dixit.ok("-C", league.clone("alice"), "reveal", "--team", "alice",
                    "--json").json()["revealed"] == ["labeler"]
    dixit.ok("-C", league.clone("bob"), "reveal", "--team", "bob")
    # carol never reveals her program: recorded as unsolved, never silently dropped.
    results = dixit.ok("-C", league.root, "score", "--json").json()
    alice = next(c for c in results["challenges"] if c["proposer"] == "alice")
    subs = {s["team"]: s for s in alice["submissions"]}
    assert subs["bob"]["solved"] is True
    assert subs["carol"]["solved"] is False and "not revealed" in subs["carol"]["error"]
    bob = next(c for c in results["challenges"] if c["proposer"] == "bob")
    assert bob["void"] is None and bob["submissions"] == []
    assert results["points"] == {"alice": 4, "bob": 3, "carol": 0}


def test_verify_walks_history_so_edit_and_revert_is_caught(closed, dixit: Runner, keys: None,
                                                           tmp_path: Path) -> None:
    league, _, _ = closed
    repo = copytree(league.root, tmp_path / "copy")
    git(repo, "remote", "remove", "origin")
    seal_file = repo / "rounds/001/submissions/bob/alice.toml"
    original = seal_file.read_text()
    seal_file.write_text(original.replace("commitment", "commitment", 1) + "\n")
    git(repo, "commit", "-qam", "swap the seal")
    seal_file.write_text(original)
    git(repo, "commit", "-qam", "and put it back")
    res = dixit("-C", repo, "verify", "--no-replay", "--json")
    assert res.code == 1
    problems = res.json()["problems"]
    assert any("rounds/001/submissions/bob/alice.toml" in p and "after round 001 was closed"
               in p for p in problems)
