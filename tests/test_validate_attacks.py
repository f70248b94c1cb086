"""`dixit validate` against hostile pull requests, one attack each: every check of
``league/validate.py`` (and the entry rules of ``league/checks.py`` it applies) is what refuses
one of them, and each case asserts the exact problems reported, so a check that is removed or
reports the wrong thing fails its case.

One league for the module: round 1 proposing, alice and bob proposed, carol submitted for
alice, dave removed. Each pull request is a clone of the shared remote whose commits (made by
the real CLI, or signed by hand where the CLI would refuse) are checked against the base by the
real `dixit validate`, as the workflow runs it on GitHub.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dixit.ledger import clock, entries, keystore, layout, seal, state as st
from dixit.ledger.store import Ledger
from tests.conftest import EXAMPLES, Runner, git, make_league, propose_small, scoped_env
from tests.ledgers import normalized, write_dataset

PROGRAMS = EXAMPLES / "programs"
ALICE = "rounds/001/challenges/alice"
CAROL = "rounds/001/challenges/carol"
SUB_CAROL = "rounds/001/submissions/carol/alice"
SUB_BOB = "rounds/001/submissions/bob/alice"
REVEALS = "rounds/001/reveals"
DATASET = "scoring/data/tiny.safetensors"
IMMUTABLE = "changes an entry already in the ledger; entries are immutable once committed"


@dataclass(frozen=True)
class World:
    bare: Path
    keys: Path
    tid: str
    carol: Path        # carol's trained challenge folder, not proposed: pull requests do
    bases: dict[str, str]  # base name -> commit: main, small (a lower model limit), revealed
    origin: Path       # the organizer's clone (of main)


def _clone(bare: Path, dest: Path, ref: str = "main") -> Path:
    subprocess.run(["git", "clone", "-q", str(bare), str(dest)], check=True)
    git(dest, "checkout", "-q", "-B", "main", f"origin/{ref}")
    return dest


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, dixit: Runner) -> Iterator[World]:
    base = tmp_path_factory.mktemp("attacks")
    with scoped_env(base):
        league = make_league(base, dixit, ("alice", "bob", "carol", "dave"))
        write_dataset(league.root, DATASET)
        git(league.root, "add", DATASET)
        git(league.root, "commit", "-q", "-m", "data: tiny images")
        git(league.root, "push", "-q", "origin", "main")
        dixit.ok("-C", league.root, "team", "remove", "dave", "--reason", "left")
        dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
        for team in ("alice", "bob"):
            propose_small(league, dixit, team, steps=20)
        dixit.ok("-C", league.clone("carol"), "submit", "--team", "carol", "--challenge",
                 "alice", PROGRAMS / "carol_for_alice.py")
        carol = league.work / "carol"
        dixit.ok("challenge", "new", carol, "--labeler", EXAMPLES / "labelers" / "carol.py",
                 "--domain", "grid:113x113", "--hidden", "8", "--steps", "10")
        bases = {"main": git(league.root, "ls-remote", str(league.bare), "main").split()[0]}
        # small: the organizer lowered the model and dataset limits (a branch: main stays as it is)
        small = _clone(league.bare, base / "small")
        rules = small / layout.RULES
        rules.write_text(rules.read_text().replace("max_model_bytes = 67108864",
                                                   "max_model_bytes = 100")
                         .replace("max_dataset_bytes = 536870912", "max_dataset_bytes = 100"))
        git(small, "commit", "-qam", "rules: small models and datasets")
        git(small, "push", "-q", "origin", "main:refs/heads/small")
        bases["small"] = git(small, "rev-parse", "HEAD")
        # revealed: after submit-by alice revealed her labeler and program herself
        revealed = _clone(league.bare, base / "revealed")
        git(revealed, "remote", "remove", "origin")
        os.environ["DIXIT_NOW"] = "+3h"
        dixit.ok("-C", revealed, "reveal", "--team", "alice")
        del os.environ["DIXIT_NOW"]
        git(revealed, "push", "-q", str(league.bare), "main:refs/heads/revealed")
        bases["revealed"] = git(revealed, "rev-parse", "HEAD")
        tid = st.read_info(Ledger(league.root).snapshot()).id
        yield World(league.bare, base / "keys", tid, carol, bases, league.root)


@pytest.fixture(autouse=True)
def _keys(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIXIT_HOME", str(world.keys))


def _key(world: World, who: str) -> Any:
    return keystore.load(world.tid, who).signing


def _commit(fork: Path, files: dict[str, bytes | None], message: str) -> None:
    for path, data in files.items():
        if data is None:
            git(fork, "rm", "-q", path)
        else:
            (fork / path).parent.mkdir(parents=True, exist_ok=True)
            (fork / path).write_bytes(data)
            git(fork, "add", path)
    git(fork, "commit", "-q", "-m", message)


def _resigned(fork: Path, path: str, who: str, world: World,
              edit: Callable[[dict[str, Any]], None]) -> bytes:
    payload, _sig = entries.parse((fork / path).read_bytes(), path)
    edit(payload)
    return entries.signed(payload, _key(world, who))


def _flipped(fork: Path, path: str) -> bytes:
    data = bytearray((fork / path).read_bytes())
    data[-1] ^= 1
    return bytes(data)


Build = Callable[[Path, World, Runner], None]


def _validate(world: World, tmp: Path, dixit: Runner, case: Case,
              monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Build the pull request of ``case`` in a fork (no remote: nothing is pushed) and return
    what `dixit validate` reports against its base."""
    fork = _clone(world.bare, tmp / "fork", case.base)
    git(fork, "remote", "remove", "origin")
    build_now = case.now if case.build_now == "now" else case.build_now
    if build_now:
        monkeypatch.setenv("DIXIT_NOW", build_now)
    case.build(fork, world, dixit)
    monkeypatch.delenv("DIXIT_NOW", raising=False)
    if case.now:
        monkeypatch.setenv("DIXIT_NOW", case.now)
    base = world.bases[case.against or case.base]
    res = dixit("-C", fork, "validate", "--base", base, "--json")
    problems = res.json()["problems"]
    assert res.code == (1 if problems else 0), res.err
    return problems


# -- the attacks -----------------------------------------------------------------------------


def unrelated_history(fork: Path, world: World, dixit: Runner) -> None:
    git(fork, "checkout", "-q", "--orphan", "mine")
    _commit(fork, {"rounds/001/submissions/bob/alice.toml": b"x = 1\n"}, "fresh start")


def sealed_file_deleted_then_restored(fork: Path, world: World, dixit: Runner) -> None:
    """Net, nothing changes; but a commit of the pull request deleted a sealed file."""
    model = (fork / f"{ALICE}/model.safetensors").read_bytes()
    _commit(fork, {f"{ALICE}/model.safetensors": None}, "gone")
    _commit(fork, {f"{ALICE}/model.safetensors": model}, "back")


def submission_deleted(fork: Path, world: World, dixit: Runner) -> None:
    _commit(fork, {f"{SUB_CAROL}.toml": None, f"{SUB_CAROL}.escrow": None}, "withdraw carol's")


def challenge_edited(fork: Path, world: World, dixit: Runner) -> None:
    """alice re-signs her own challenge with a better claim."""
    path = f"{ALICE}/challenge.toml"
    _commit(fork, {path: _resigned(fork, path, "team-alice", world,
                                   lambda p: p["challenge"].update(claimed_accuracy=1.0))},
            "better claim")


def model_swapped(fork: Path, world: World, dixit: Runner) -> None:
    """alice swaps her published model, leaving the signed entry as it is."""
    _commit(fork, {f"{ALICE}/model.safetensors": _flipped(fork, f"{ALICE}/model.safetensors")},
            "new weights")


def escrow_swapped(fork: Path, world: World, dixit: Runner) -> None:
    """carol swaps the escrow of her submission, leaving its signed entry as it is."""
    _commit(fork, {f"{SUB_CAROL}.escrow": _flipped(fork, f"{SUB_CAROL}.escrow")}, "new escrow")


def two_teams(fork: Path, world: World, dixit: Runner) -> None:
    dixit.ok("-C", fork, "submit", "--team", "bob", "--challenge", "alice",
             PROGRAMS / "bob_for_alice.py")
    dixit.ok("-C", fork, "submit", "--team", "alice", "--challenge", "bob",
             PROGRAMS / "alice_for_bob.py")


def entry_elsewhere(fork: Path, world: World, dixit: Runner) -> None:
    """bob's submission for alice, re-signed to say it is for bob's own challenge but left
    at alice's path: only loading the whole ledger sees that its place and payload differ."""
    dixit.ok("-C", fork, "submit", "--team", "bob", "--challenge", "alice",
             PROGRAMS / "bob_for_alice.py")
    path = f"{SUB_BOB}.toml"
    _commit(fork, {path: _resigned(fork, path, "team-bob", world,
                                   lambda p: p["submission"].update(target="bob"))}, "retarget")


def unregistered_team(fork: Path, world: World, dixit: Runner) -> None:
    mallory = keystore.generate("team-mallory")
    payload, _ = entries.parse((fork / f"{SUB_CAROL}.toml").read_bytes(), "x")
    payload["submission"].update(team="mallory")
    _commit(fork, {"rounds/001/submissions/mallory/alice.toml":
                   entries.signed(payload, mallory.signing)}, "mallory")


def removed_team(fork: Path, world: World, dixit: Runner) -> None:
    payload, _ = entries.parse((fork / f"{SUB_CAROL}.toml").read_bytes(), "x")
    payload["submission"].update(team="dave")
    _commit(fork, {"rounds/001/submissions/dave/alice.toml":
                   entries.signed(payload, _key(world, "team-dave"))}, "dave")


def _organizer(world: World, payload: dict[str, Any]) -> bytes:
    return entries.signed(payload, _key(world, "organizer"))


def registration_misnamed(fork: Path, world: World, dixit: Runner) -> None:
    key = keystore.generate("team-erin").public
    _commit(fork, {"teams/erin.toml": _organizer(world, {"team": {"name": "frank", "key": key,
                                                                  "added": "x"}})}, "erin")


def registration_again(fork: Path, world: World, dixit: Runner) -> None:
    key = keystore.generate("team-bob").public
    _commit(fork, {"teams/bob.toml": _organizer(world, {"team": {"name": "bob", "key": key,
                                                                 "added": "x"}})}, "bob again")


def removal_misnamed(fork: Path, world: World, dixit: Runner) -> None:
    _commit(fork, {"teams/alice/removed.toml": _organizer(world, {"removal": {
        "team": "bob", "reason": "x", "removed": "x"}})}, "remove")


def _rotation(world: World, team: str, number: int, previous: str, key: str) -> bytes:
    return _organizer(world, {"rotation": {"team": team, "number": number,
                                           "previous": previous, "key": key, "rotated": "x"}})


def _registered_key(fork: Path, team: str) -> str:
    return st.load(Ledger(fork).snapshot()).team_key(team)


def rotation_misplaced(fork: Path, world: World, dixit: Runner) -> None:
    new = keystore.generate("team-alice").public
    _commit(fork, {"teams/alice/key-002.toml": _rotation(world, "alice", 1,
                                                         _registered_key(fork, "alice"), new)},
            "rotate")


def rotation_out_of_turn(fork: Path, world: World, dixit: Runner) -> None:
    new = keystore.generate("team-alice").public
    _commit(fork, {"teams/alice/key-002.toml": _rotation(world, "alice", 2,
                                                         _registered_key(fork, "alice"), new)},
            "rotate")


def round_misnumbered(fork: Path, world: World, dixit: Runner) -> None:
    doc = entries.parse((fork / "rounds/001/round.toml").read_bytes(), "x")[0]
    doc["round"]["number"] = 3
    _commit(fork, {"rounds/002/round.toml": _organizer(world, doc)}, "round 2")


def round_too_soon(fork: Path, world: World, dixit: Runner) -> None:
    doc = entries.parse((fork / "rounds/001/round.toml").read_bytes(), "x")[0]
    doc["round"]["number"] = 2
    _commit(fork, {"rounds/002/round.toml": _organizer(world, doc)}, "round 2")


def results_by_a_team(fork: Path, world: World, dixit: Runner) -> None:
    _commit(fork, {"rounds/001/results.toml": entries.signed(
        {"round": 1, "points": {"carol": 99}}, _key(world, "team-carol"))}, "I win")


def _propose(fork: Path, world: World, dixit: Runner) -> None:
    dixit.ok("-C", fork, "propose", "--team", "carol", world.carol)


def proposal_without_model(fork: Path, world: World, dixit: Runner) -> None:
    _propose(fork, world, dixit)
    _commit(fork, {f"{CAROL}/model.safetensors": None}, "no model")


def proposal_without_escrow(fork: Path, world: World, dixit: Runner) -> None:
    _propose(fork, world, dixit)
    _commit(fork, {f"{CAROL}/labeler.escrow": None}, "no escrow")


def proposal_model_swapped(fork: Path, world: World, dixit: Runner) -> None:
    _propose(fork, world, dixit)
    _commit(fork, {f"{CAROL}/model.safetensors": _flipped(fork, f"{CAROL}/model.safetensors")},
            "other weights")


def proposal_escrow_swapped(fork: Path, world: World, dixit: Runner) -> None:
    _propose(fork, world, dixit)
    _commit(fork, {f"{CAROL}/labeler.escrow": _flipped(fork, f"{CAROL}/labeler.escrow")},
            "other escrow")


def proposal_unknown_kind(fork: Path, world: World, dixit: Runner) -> None:
    _propose(fork, world, dixit)
    path = f"{CAROL}/challenge.toml"
    _commit(fork, {path: _resigned(fork, path, "team-carol", world,
                                   lambda p: p["challenge"].update(kind="oracle"))}, "kind")


def _proposal_on(domain: str) -> Build:
    """carol's proposal, re-signed to name another domain (the CLI checks it at propose)."""
    def build(fork: Path, world: World, dixit: Runner) -> None:
        _propose(fork, world, dixit)
        path = f"{CAROL}/challenge.toml"
        _commit(fork, {path: _resigned(fork, path, "team-carol", world,
                                       lambda p: p["challenge"].update(domain=domain))},
                "domain")
    return build


def submission_without_entry(fork: Path, world: World, dixit: Runner) -> None:
    dixit.ok("-C", fork, "submit", "--team", "bob", "--challenge", "alice",
             PROGRAMS / "bob_for_alice.py")
    _commit(fork, {f"{SUB_BOB}.toml": None}, "only the escrow")


def submission_without_escrow(fork: Path, world: World, dixit: Runner) -> None:
    dixit.ok("-C", fork, "submit", "--team", "bob", "--challenge", "alice",
             PROGRAMS / "bob_for_alice.py")
    _commit(fork, {f"{SUB_BOB}.escrow": None}, "no escrow")


def submission_escrow_swapped(fork: Path, world: World, dixit: Runner) -> None:
    dixit.ok("-C", fork, "submit", "--team", "bob", "--challenge", "alice",
             PROGRAMS / "bob_for_alice.py")
    _commit(fork, {f"{SUB_BOB}.escrow": _flipped(fork, f"{SUB_BOB}.escrow")}, "other escrow")


def submission_to_nobody(fork: Path, world: World, dixit: Runner) -> None:
    """bob submits for carol, who has proposed nothing."""
    payload, _ = entries.parse((fork / f"{SUB_CAROL}.toml").read_bytes(), "x")
    payload["submission"].update(team="bob", target="carol")
    _commit(fork, {"rounds/001/submissions/bob/carol.toml":
                   entries.signed(payload, _key(world, "team-bob"))}, "bob -> carol")


def _bob_reveal(fork: Path, world: World, by: str = "team",
                payload: bytes | None = None) -> dict[str, bytes | None]:
    """bob's reveal of his labeler as a team reveals it (``checks.reveal_files``)."""
    from dixit.league import checks

    state = st.load(Ledger(fork).snapshot())
    salt, secret = keystore.load_secret(world.tid, 1, "bob", layout.SECRET_ITEM)
    files = checks.reveal_files(state.rounds[1], "bob", layout.SECRET_ITEM, salt, secret, by,
                                _key(world, "team-bob"))
    if payload is not None:
        files[f"{REVEALS}/bob/labeler.py"] = payload
    return files


def reveal_too_early(fork: Path, world: World, dixit: Runner) -> None:
    _commit(fork, _bob_reveal(fork, world), "bob reveals before submit-by")


def reveal_as_the_closer(fork: Path, world: World, dixit: Runner) -> None:
    _commit(fork, _bob_reveal(fork, world, by="closer"), "bob reveals as the closer")


def reveal_without_its_file(fork: Path, world: World, dixit: Runner) -> None:
    files = _bob_reveal(fork, world)
    del files[f"{REVEALS}/bob/labeler.py"]
    _commit(fork, files, "bob reveals nothing")


def reveal_of_other_content(fork: Path, world: World, dixit: Runner) -> None:
    _commit(fork, _bob_reveal(fork, world, payload=b"def label(x):\n    return x[:, 0] * 0\n"),
            "bob reveals another labeler")


def reveal_of_nothing_sealed(fork: Path, world: World, dixit: Runner) -> None:
    """carol proposed nothing, yet reveals a labeler."""
    doc = {"reveal": {"owner": "carol", "item": "labeler", "round": 1, "by": "team",
                      "salt": seal.b64(b"\0" * 32), "file": "labeler.py",
                      "sha256": seal.sha256_hex(b"x")}}
    _commit(fork, {f"{REVEALS}/carol/labeler.toml": entries.signed(doc, _key(world, "team-carol")),
                   f"{REVEALS}/carol/labeler.py": b"x"}, "carol reveals")


def revealed_file_edited(fork: Path, world: World, dixit: Runner) -> None:
    path = f"{REVEALS}/alice/labeler.py"
    _commit(fork, {path: (fork / path).read_bytes() + b"# edited\n"}, "edit alice's reveal")


def good_proposal(fork: Path, world: World, dixit: Runner) -> None:
    _propose(fork, world, dixit)


def good_reveal(fork: Path, world: World, dixit: Runner) -> None:
    dixit.ok("-C", fork, "reveal", "--team", "bob")


@dataclass(frozen=True)
class Case:
    name: str
    build: Build
    problems: list[str]
    base: str = "main"
    now: str | None = None  # DIXIT_NOW while validating
    build_now: str | None = "now"  # DIXIT_NOW while building the pull request ("now": the same)
    against: str | None = None  # the base validated against, if not the one built on


AFTER = "+3h"  # after submit-by
LATE = "+90m"  # after propose-by, before submit-by

CASES = [
    Case("a good proposal", good_proposal, []),
    Case("a good reveal after submit-by", good_reveal, [], "revealed", AFTER),
    Case("unrelated history", unrelated_history, [
        "HEAD shares no history with BASE; branch off the tournament's main branch"]),
    Case("a sealed file deleted, then restored", sealed_file_deleted_then_restored, [
        f"{ALICE}/model.safetensors: deletes a sealed ledger file (commit C)"]),
    Case("a rival's submission deleted", submission_deleted, [
        f"{SUB_CAROL}.escrow: deletes a sealed ledger file",
        f"{SUB_CAROL}.toml: deletes a sealed ledger file"]),
    Case("a challenge re-signed with another claim", challenge_edited, [
        f"{ALICE}/challenge.toml: {IMMUTABLE}",
        f"{ALICE}/challenge.toml: 'alice' already proposed a challenge in round 1"]),
    Case("a published model swapped", model_swapped, [
        f"{ALICE}/model.safetensors: {IMMUTABLE}",
        f"{ALICE}/model.safetensors: adds to a challenge already in the ledger"]),
    Case("a submission's escrow swapped", escrow_swapped, [
        f"{SUB_CAROL}.escrow: changes the escrow of an entry already in the ledger"]),
    Case("entries of two teams", two_teams, [
        "the pull request mixes entries of alice, bob; open one pull request per team"]),
    Case("an entry whose payload names another place", entry_elsewhere, [
        f"{SUB_BOB}.toml: entry names another team, target or round than its place"]),
    Case("an unregistered team", unregistered_team, [
        "rounds/001/submissions/mallory/alice.toml: team 'mallory' is not registered in this "
        "tournament"]),
    Case("a removed team", removed_team, [
        "rounds/001/submissions/dave/alice.toml: team 'dave' was removed from the tournament "
        "(WHEN); it can no longer act"]),
    Case("a registration under another name", registration_misnamed, [
        "teams/erin.toml: registers another team than its file name says"]),
    Case("a team registered again", registration_again, [
        f"teams/bob.toml: {IMMUTABLE}", "teams/bob.toml: team 'bob' is already registered"]),
    Case("a removal of another team", removal_misnamed, [
        "teams/alice/removed.toml: removes another team than its folder says"]),
    Case("a rotation out of its place", rotation_misplaced, [
        "teams/alice/key-002.toml: rotation names another team or number than its place"]),
    Case("a rotation out of turn", rotation_out_of_turn, [
        "teams/alice/key-002.toml: the next key rotation of 'alice' is number 1"]),
    Case("a round under another number", round_misnumbered, [
        "rounds/002/round.toml: says another round number than its folder"]),
    Case("a round opened before the last closed", round_too_soon, [
        "rounds/002/round.toml: round 1 is still open; close it with `dixit score` before "
        "opening the next"]),
    Case("results by a team", results_by_a_team, [
        "rounds/001/results.toml: results are written by the closer (close-round workflow), "
        "not by pull requests"]),
    Case("a late proposal", good_proposal, [
        f"{CAROL}/challenge.toml: too late: proposing in round 1 closed at PROPOSE_BY (now NOW)"],
         now=LATE, build_now=None),
    Case("a proposal without its model", proposal_without_model, [
        f"{CAROL}/challenge.toml: its model {CAROL}/model.safetensors is missing"]),
    Case("a proposal without its escrow", proposal_without_escrow, [
        f"{CAROL}/challenge.toml: its labeler.escrow is missing (this tournament escrows every "
        "secret to the closer)"]),
    Case("a proposal whose model is not the sealed one", proposal_model_swapped, [
        f"{CAROL}/model.safetensors: does not match the hash sealed in {CAROL}/challenge.toml"]),
    Case("a proposal whose escrow is not the sealed one", proposal_escrow_swapped, [
        f"{CAROL}/labeler.escrow: does not match the hash sealed in {CAROL}/challenge.toml"]),
    Case("a proposal of an unknown kind", proposal_unknown_kind, [
        f"{CAROL}/challenge.toml: unknown challenge kind 'oracle'; choose one of labeler, "
        "emulate, flag"]),
    Case("a model over the rulebook's limit", good_proposal, [
        f"{CAROL}/model.safetensors: MODEL_SIZE bytes, over the rulebook's limit of 100 "
        "(limits.max_model_bytes)"], against="small"),
    Case("a proposal on a dataset the ledger lacks",
         _proposal_on("dataset:scoring/data/none.safetensors"), [
             f"{CAROL}/challenge.toml: dataset scoring/data/none.safetensors is not in the ledger "
             "(the organizer commits shared evaluation data under scoring/data/)"]),
    Case("a proposal on a dataset over the rulebook's limit", _proposal_on(f"dataset:{DATASET}"), [
        f"{CAROL}/challenge.toml: dataset {DATASET} has DATA_SIZE bytes, over the rulebook's limit "
        "of 100 (domains.max_dataset_bytes)"], against="small"),  # its model: not judged again
    Case("a submission's escrow without its entry", submission_without_entry, [
        f"{SUB_BOB}.escrow: has no signed submission {SUB_BOB}.toml"]),
    Case("a submission without its escrow", submission_without_escrow, [
        f"{SUB_BOB}.toml: its .escrow is missing (this tournament escrows every secret to the "
        "closer)"]),
    Case("a submission whose escrow is not the sealed one", submission_escrow_swapped, [
        f"{SUB_BOB}.escrow: does not match the hash sealed in {SUB_BOB}.toml"]),
    Case("a submission to a challenge nobody proposed", submission_to_nobody, [
        "rounds/001/submissions/bob/carol.toml: 'carol' has not proposed a challenge in round 1 "
        "(proposed so far: alice, bob)"]),
    Case("a reveal before submit-by", reveal_too_early, [
        f"{REVEALS}/bob/labeler.toml: too early: reveals open after submit-by (SUBMIT_BY), so no "
        "one can copy a secret"]),
    Case("a team's reveal signed as the closer's", reveal_as_the_closer, [
        f"{REVEALS}/bob/labeler.toml: a team's reveal must say by = \"team\"; only the closer "
        "reveals from escrow"], "revealed", AFTER),
    Case("a reveal without its file", reveal_without_its_file, [
        f"{REVEALS}/bob/labeler.toml: the revealed file {REVEALS}/bob/labeler.py is not in the "
        "pull request"], "revealed", AFTER),
    Case("a reveal of other content", reveal_of_other_content, [
        f"{REVEALS}/bob/labeler.toml: revealed content does not match its seal"],
         "revealed", AFTER),
    Case("a reveal of nothing sealed", reveal_of_nothing_sealed, [
        f"{REVEALS}/carol/labeler.toml: 'carol' sealed no labeler in round 1 to reveal"],
         "revealed", AFTER),
    Case("a revealed file edited", revealed_file_edited, [
        f"{REVEALS}/alice/labeler.py: {IMMUTABLE}",
        f"{REVEALS}/alice/labeler.py: changes a reveal already in the ledger"],
         "revealed", AFTER),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_validate_refuses_the_attack(case: Case, world: World, tmp_path: Path, dixit: Runner,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    got = _validate(world, tmp_path, dixit, case, monkeypatch)
    assert [_general(world, case, p) for p in normalized(got)] == case.problems


def _general(world: World, case: Case, problem: str) -> str:
    """A problem with what differs per build named: the base, deadlines, the clock, sizes."""
    rnd = st.load(Ledger(world.origin).snapshot()).rounds[1]
    problem = problem.replace(world.bases[case.against or case.base], "BASE")
    problem = problem.replace(clock.iso(rnd.propose_by), "PROPOSE_BY")
    problem = problem.replace(clock.iso(rnd.submit_by), "SUBMIT_BY")
    problem = re.sub(r"\(now [0-9TZ:-]+\)", "(now NOW)", problem)
    problem = re.sub(r"tournament \([0-9TZ:-]+\)", "tournament (WHEN)", problem)
    problem = re.sub(r"safetensors has [0-9,]+ bytes", "safetensors has DATA_SIZE bytes", problem)
    return re.sub(r"model.safetensors: [0-9,]+ bytes", "model.safetensors: MODEL_SIZE bytes",
                  problem)
