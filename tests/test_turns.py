"""Turns: ``[rounds] proposers = "rotate"`` picks each round's storytellers; only they propose.

The rotation itself is a pure rule (``dixit.rules.turns``), tested on tables; then real leagues
through the CLI: the storytellers recorded when a round opens, a non-storyteller refused by
propose, validate and verify by the same words, and teams that propose nothing shown as such.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dixit.errors import RulesError
from dixit.ledger import entries, keystore, layout, state as st
from dixit.ledger.store import Ledger
from dixit.rules import rulebook, turns
from tests.conftest import EXAMPLES, League, Runner, git, ledger_fingerprint, make_league

LABELER = EXAMPLES / "labelers" / "alice.py"
SMALL = ("--domain", "grid:20x20", "--hidden", "8", "--steps", "5")
NOT_CAROL = ("'carol' is not a storyteller of round 1: only alice, bob may propose "
             "(rounds.proposers = \"rotate\"); everyone else solves")


# -- the rotation, a pure rule ----------------------------------------------------------------


@pytest.mark.parametrize(("roster", "told", "k", "want"), [
    (["a", "b", "c"], [], 1, ["a"]),                       # round 1: by name
    (["a", "b", "c"], [["a"]], 1, ["b"]),                   # a round robin
    (["a", "b", "c"], [["a"], ["b"], ["c"]], 1, ["a"]),     # and round again
    (["a", "b", "c"], [["a", "b"]], 2, ["a", "c"]),         # c has had no turn; a's is oldest
    (["a", "b", "c"], [["a", "b"], ["a", "c"]], 2, ["b", "c"]),
    (["a", "b", "c", "d"], [["a"], ["b"]], 1, ["c"]),
    (["a", "b", "c", "e"], [["a"], ["b"], ["c"]], 1, ["e"]),  # e joined: no turn yet, next
    (["b", "c"], [["a"], ["b"]], 1, ["c"]),                 # a was removed: simply gone
    (["a", "b"], [], 5, ["a"]),                             # K capped: someone must solve
    (["a", "b", "c"], [["a", "b", "c"]], 1, ["a"]),         # an "all" round: everyone told
    (["a"], [], 1, []),
])
def test_storytellers_rotate_fewest_turns_then_oldest_turn_then_name(
        roster: list[str], told: list[list[str]], k: int, want: list[str]) -> None:
    assert turns.storytellers(roster, told, k) == want


def test_rotation_is_fair_over_a_season() -> None:
    roster, told = ["a", "b", "c", "d", "e"], []
    for _ in range(10):
        told.append(turns.storytellers(roster, told, 2))
    counts = {t: sum(t in r for r in told) for t in roster}
    assert counts == dict.fromkeys(roster, 4)


@pytest.mark.parametrize(("section", "message"), [
    ("[rounds]\nproposers = \"some\"\n",
     "rules.toml: rounds.proposers must be \"all\" or \"rotate\""),
    ("[rounds]\nproposers = \"rotate\"\nper_round = 0\n", "rules.toml: rounds.per_round must be "
     ">= 1"),
    ("[rounds]\nper_round = \"two\"\n", "rules.toml: rounds.per_round must be a int, got 'two'"),
])
def test_rulebook_rounds_section_is_validated(section: str, message: str) -> None:
    with pytest.raises(RulesError) as err:
        rulebook.parse_text(section)
    assert str(err.value) == message


def test_rounds_default_to_every_team_proposing() -> None:
    book = rulebook.parse_text(rulebook.DEFAULT_RULES_TOML)
    assert book.rounds == rulebook.Rounds("all", 1)
    old = {k: v for k, v in book.as_dict().items() if k != "rounds"}  # closed before turns
    assert rulebook.from_record(old).rounds == book.rounds


def _row(table: str, team: str) -> list[str]:
    """The cells of ``team``'s row in a rich table."""
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if cells and cells[0] == team:
            return cells
    raise AssertionError(f"no row for {team} in:\n{table}")


# -- through the CLI --------------------------------------------------------------------------


def _rotate(league: League, per_round: int) -> None:
    path = league.root / "scoring" / "rules.toml"
    path.write_text(path.read_text().replace('proposers = "all"', 'proposers = "rotate"')
                    .replace("per_round = 1", f"per_round = {per_round}"))
    git(league.root, "commit", "-qam", "rules: rotate the proposers")
    git(league.root, "push", "-q", "origin", "main")


@pytest.fixture
def rotating(tmp_path: Path, dixit: Runner) -> tuple[League, Path]:
    league = make_league(tmp_path, dixit, ("alice", "bob", "carol", "dave"))
    _rotate(league, 2)
    dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
    folder = tmp_path / "challenge"
    dixit.ok("challenge", "new", folder, "--labeler", LABELER, *SMALL)
    for clone in league.clones.values():
        git(clone, "pull", "-q")
    return league, folder


def test_only_the_storytellers_may_propose(rotating, dixit: Runner) -> None:
    league, folder = rotating
    entry = (league.root / "rounds/001/round.toml").read_text()
    assert 'proposers = "rotate"' in entry and "per_round = 2" in entry
    assert 'storytellers = [ "alice", "bob",]' in entry
    carol = league.clone("carol")
    before = ledger_fingerprint(carol)
    res = dixit("-C", carol, "propose", "--team", "carol", folder)
    assert (res.code, res.err.strip()) == (1, f"error: {NOT_CAROL}")  # before any warning
    assert ledger_fingerprint(carol) == before
    dixit.ok("-C", league.clone("alice"), "propose", "--team", "alice", folder)
    status = dixit.ok("-C", league.root, "status", "--json").json()["round"]
    assert (status["proposers"], status["storytellers"]) == ("rotate", ["alice", "bob"])
    assert status["proposed_nothing"] == []  # still before propose-by
    shown = dixit.ok("-C", league.root, "status").out
    assert "storytellers (only they propose): alice, bob" in shown
    assert _row(shown, "carol") == ["carol", "solver", "-", "-"]
    rep = dixit("-C", league.root, "verify", "--no-replay", "--json").json()
    assert rep["ok"] and rep["checked"]["turns"] == 1


def test_a_season_of_turns_with_a_team_joining(rotating, dixit: Runner,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    league, _folder = rotating
    folder = league.work / "hinted"  # with a timed hint: the whole season verifies
    dixit.ok("challenge", "new", folder, "--labeler", LABELER, *SMALL,
             "--hint-at", "+30m the ring is centred")
    dixit.ok("-C", league.clone("alice"), "propose", "--team", "alice", folder)
    monkeypatch.setenv("DIXIT_NOW", "+31m")
    assert len(dixit.ok("-C", league.root, "hints", "--due", "--json").json()["released"]) == 1
    monkeypatch.setenv("DIXIT_NOW", "+90m")  # after propose-by: bob told nothing
    status = dixit.ok("-C", league.root, "status", "--json").json()["round"]
    assert status["proposed_nothing"] == ["bob"]
    assert _row(dixit.ok("-C", league.root, "status").out, "bob") == [
        "bob", "storyteller", "proposed nothing", "-"]
    monkeypatch.setenv("DIXIT_NOW", "+3h")
    dixit.ok("-C", league.root, "score")
    dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
    assert st.load(Ledger(league.root).snapshot()).rounds[2].storytellers == ("carol", "dave")
    monkeypatch.setenv("DIXIT_NOW", "+6h")
    dixit.ok("-C", league.root, "score")
    dixit.ok("-C", league.root, "team", "add", "erin")  # no turn yet: tells next, with alice
    dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
    assert st.load(Ledger(league.root).snapshot()).rounds[3].storytellers == ("alice", "erin")
    standings = {r["team"]: r for r in
                 dixit.ok("-C", league.root, "standings", "--json").json()["standings"]}
    assert standings["bob"]["proposed_nothing"] == [1]
    assert standings["carol"]["proposed_nothing"] == [2]
    assert standings["alice"]["proposed_nothing"] == []
    table = dixit.ok("-C", league.root, "standings").out
    assert "proposed nothing in round 1" in table
    rep = dixit("-C", league.root, "verify", "--no-replay", "--json").json()
    assert rep["ok"], rep["problems"]
    assert (rep["checked"]["turns"], rep["checked"]["hints"]) == (3, 1)


def test_a_team_that_proposes_nothing_in_an_all_round_is_shown(tmp_path: Path, dixit: Runner,
                                                               monkeypatch) -> None:
    league = make_league(tmp_path, dixit, ("alice", "bob"))
    dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
    folder = tmp_path / "challenge"
    dixit.ok("challenge", "new", folder, "--labeler", LABELER, *SMALL)
    dixit.ok("-C", league.root, "propose", "--team", "alice", folder)
    status = dixit.ok("-C", league.root, "status", "--json").json()["round"]
    assert (status["proposers"], status["storytellers"], status["proposed_nothing"]) == (
        "all", None, [])
    # joined after the round opened: a minute on, since entries are dated to the second (one
    # registered in the second a round opens counts as there at the opening)
    monkeypatch.setenv("DIXIT_NOW", "+1m")
    dixit.ok("-C", league.root, "team", "add", "carol")
    monkeypatch.setenv("DIXIT_NOW", "+90m")
    status = dixit.ok("-C", league.root, "status", "--json").json()["round"]
    assert status["proposed_nothing"] == ["bob"]
    assert _row(dixit.ok("-C", league.root, "status").out, "bob") == [
        "bob", "proposed nothing", "-"]
    monkeypatch.setenv("DIXIT_NOW", "+3h")
    dixit.ok("-C", league.root, "score")
    rows = dixit.ok("-C", league.root, "standings", "--json").json()["standings"]
    assert {r["team"]: r["proposed_nothing"] for r in rows} == {"alice": [], "bob": [1],
                                                                 "carol": []}
    dixit.ok("-C", league.root, "report", "-o", tmp_path / "site", "--no-pictures")
    assert "proposed nothing in round 1" in (tmp_path / "site" / "index.html").read_text()


# -- pull requests and verify -------------------------------------------------------------------


def _forge_proposal(league: League, clone: Path, src: Path, team: str) -> None:
    """``team`` signs, with its own key, a copy of another team's proposal into its own folder:
    a correctly signed entry that only the turns refuse."""
    base = f"rounds/001/challenges/{team}"
    (clone / base).mkdir(parents=True)
    for name in ("model.safetensors", "labeler.escrow"):
        shutil.copy(src / name, clone / base / name)
    payload, _sig = entries.parse((src / "challenge.toml").read_bytes(), "challenge.toml")
    payload["challenge"]["team"] = team
    tid = st.read_info(Ledger(clone).snapshot()).id
    key = keystore.load(tid, keystore.team_identity(team))
    (clone / base / "challenge.toml").write_bytes(entries.signed(payload, key.signing))
    git(clone, "add", base)
    git(clone, "commit", "-qm", f"propose: {team}")


def test_validate_and_verify_refuse_a_proposal_by_a_non_storyteller(rotating,
                                                                   dixit: Runner) -> None:
    league, folder = rotating
    dixit.ok("-C", league.clone("alice"), "propose", "--team", "alice", folder)
    carol = league.clone("carol")
    git(carol, "pull", "-q")
    _forge_proposal(league, carol, carol / "rounds/001/challenges/alice", "carol")
    res = dixit("-C", carol, "validate", "--base", "origin/main", "--json")
    assert res.code == 1
    assert res.json()["problems"] == [f"rounds/001/challenges/carol/challenge.toml: {NOT_CAROL}"]
    git(carol, "push", "-q", "origin", "main")  # merged anyway (an admin's slip)
    git(league.root, "pull", "-q")
    rep = dixit("-C", league.root, "verify", "--no-replay", "--json").json()
    assert f"rounds/001/challenges/carol/challenge.toml: {NOT_CAROL}" in rep["problems"]


def test_verify_and_validate_refuse_storytellers_that_break_the_rotation(
        tmp_path: Path, dixit: Runner) -> None:
    league = make_league(tmp_path, dixit, ("alice", "bob", "carol"))
    _rotate(league, 1)
    info = st.read_info(Ledger(league.root).snapshot())
    organizer = keystore.load(info.id, "organizer")
    doc = {"round": {"number": 1, "propose_by": "2099-01-01T00:00:00Z",
                     "submit_by": "2099-01-02T00:00:00Z", "opened": "2026-01-01T00:00:00Z",
                     "proposers": "rotate", "per_round": 1, "storytellers": ["carol"]}}
    (league.root / "rounds/001").mkdir(parents=True)
    (league.root / layout.round_entry(1)).write_bytes(entries.signed(doc, organizer.signing))
    git(league.root, "checkout", "-qb", "pr")
    git(league.root, "add", "rounds/001")
    git(league.root, "commit", "-qm", "round: open 001, carol first")
    res = dixit("-C", league.root, "validate", "--base", "main", "--json")
    assert res.json()["problems"] == [
        "rounds/001/round.toml: the rulebook rotates proposers (1 a round): round 1's "
        "storytellers are alice, not carol"]
    git(league.root, "checkout", "-q", "main")
    git(league.root, "merge", "-q", "--ff-only", "pr")
    rep = dixit("-C", league.root, "verify", "--no-replay", "--json").json()
    assert rep["problems"] == ["rounds/001/round.toml: storytellers carol do not follow the "
                               "rotation (1 a round: alice)"]
