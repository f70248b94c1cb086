"""A research league's season through the CLI, as a new organizer would run it: four teams,
three rounds with rotating storytellers, a timed hint released by ``dixit hints --due``,
``dixit check`` catching a wrong-shape program before it is submitted, a notebook explanation
sealed with its program and published on the site, a storyteller who proposes nothing, and
``dixit verify`` (with replay) re-deriving hints, turns, explanations and every score.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, League, Runner, git, ledger_fingerprint, make_league

TEAMS = ("alice", "bob", "carol", "dave")
GRID = ("--domain", "grid:113x113", "--hidden", "8", "--steps", "5")
TOKENS = ("--domain", "tokens:4x6", "--output", "sequence:4", "--arch", "transformer",
          "--set", "d_model=16", "--heads", "2", "--d-mlp", "32", "--steps", "5")
R2 = EXAMPLES / "round2"
HINT = "the ring is centred"


def _rotate(league: League) -> None:
    path = league.root / "scoring" / "rules.toml"
    path.write_text(path.read_text().replace('proposers = "all"', 'proposers = "rotate"')
                    .replace("per_round = 1", "per_round = 2"))
    git(league.root, "commit", "-qam", "rules: two storytellers per round, in turn")
    git(league.root, "push", "-q", "origin", "main")


def _pull(league: League) -> None:
    for clone in league.clones.values():
        git(clone, "pull", "-q", "--ff-only")


def _propose(league: League, dixit: Runner, team: str, labeler: Path, *args: str) -> None:
    folder = league.work / f"{team}-{len(list(league.work.glob(f'{team}-*')))}"
    dixit.ok("challenge", "new", folder, "--labeler", labeler, *args)
    dixit.ok("-C", league.clone(team), "propose", "--team", team, folder)


def _submit(league: League, dixit: Runner, team: str, target: str, prog: Path,
            *args: str | Path) -> None:
    git(league.clone(team), "pull", "-q", "--ff-only")
    dixit.ok("-C", league.clone(team), "submit", "--team", team, "--challenge", target, prog,
             *args)


def _notebook(path: Path) -> Path:
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    cells = [new_markdown_cell("# A ring in the grid\nProbing the hidden units: one circle."),
             new_code_cell("probe(model)", outputs=[new_output(
                 "execute_result", {"text/plain": "radius 30 around (56, 56)"},
                 execution_count=1)])]
    path.write_text(nbformat.writes(new_notebook(cells=cells)))
    return path


def test_a_season_of_four_teams_and_three_rotating_rounds(
        tmp_path: Path, dixit: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    league = make_league(tmp_path, dixit, TEAMS)
    _rotate(league)
    root, labelers = league.root, EXAMPLES / "labelers"

    # round 1: the storytellers are alice and bob (by name, nobody has told yet)
    dixit.ok("-C", root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
    _pull(league)
    _propose(league, dixit, "alice", labelers / "alice.py", *GRID,
             "--hint", "look at the middle", "--hint-at", f"+30m {HINT}")
    _propose(league, dixit, "bob", R2 / "running_max.py", *TOKENS)
    refused = dixit("-C", league.clone("carol"), "propose", "--team", "carol",
                    league.work / "alice-0")
    assert refused.code == 1 and "'carol' is not a storyteller of round 1" in refused.err

    # before the hint is due nobody sees it; at its time the closer releases it
    assert HINT not in dixit.ok("-C", root, "status").out
    monkeypatch.setenv("DIXIT_NOW", "+31m")
    released = dixit.ok("-C", root, "hints", "--due", "--json").json()["released"]
    assert [(r["team"], r["index"], r["error"]) for r in released] == [("alice", 1, None)]
    _pull(league)
    assert HINT in dixit.ok("-C", league.clone("dave"), "status").out

    # dave's first draft returns one label per sequence: check says so, and writes nothing
    dave = league.clone("dave")
    before = ledger_fingerprint(dave)
    draft = dixit("-C", dave, "check", R2 / "dave_draft.py", "--challenge", "bob", "--json")
    assert draft.code == 1
    assert draft.json()["error"] == ("returned shape (4096,) for a batch of 4096 "
                                     "(need (4096, 6))")
    assert ledger_fingerprint(dave) == before
    dixit.ok("-C", dave, "check", R2 / "dave_for_bob.py", "--challenge", "bob")
    _submit(league, dixit, "dave", "bob", R2 / "dave_for_bob.py")
    _submit(league, dixit, "carol", "alice", labelers / "alice.py",
            "--explanation", _notebook(tmp_path / "ring.ipynb"))
    _submit(league, dixit, "dave", "alice", labelers / "bob.py")
    _submit(league, dixit, "alice", "bob", R2 / "alice_for_bob.py")
    monkeypatch.setenv("DIXIT_NOW", "+3h")
    dixit.ok("-C", root, "score")

    # round 2: carol and dave tell; dave proposes nothing and is shown as such
    dixit.ok("-C", root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
    _pull(league)
    _propose(league, dixit, "carol", labelers / "carol.py", *GRID)
    _submit(league, dixit, "alice", "carol", labelers / "carol.py")
    _submit(league, dixit, "bob", "carol", labelers / "dave.py")
    monkeypatch.setenv("DIXIT_NOW", "+6h")
    dixit.ok("-C", root, "score")

    # round 3: the turn comes back to alice and bob
    dixit.ok("-C", root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
    _pull(league)
    status = dixit.ok("-C", root, "status", "--json").json()["round"]
    assert (status["round"], status["storytellers"]) == (3, ["alice", "bob"])
    _propose(league, dixit, "bob", labelers / "bob.py", *GRID)
    _submit(league, dixit, "carol", "bob", labelers / "bob.py")
    _submit(league, dixit, "dave", "bob", labelers / "bob.py")
    monkeypatch.setenv("DIXIT_NOW", "+9h")
    dixit.ok("-C", root, "score")

    standings = {r["team"]: r for r in
                 dixit.ok("-C", root, "standings", "--json").json()["standings"]}
    assert standings["dave"]["proposed_nothing"] == [2]
    assert standings["alice"]["proposed_nothing"] == [3]
    assert standings["bob"]["proposed_nothing"] == []
    # Dixits: alice's round-1 challenge solved by carol alone, bob's by dave alone, carol's
    # round-2 one by alice alone; bob's round-3 challenge by two of three (no Dixit)
    assert {t: (r["solves"], r["dixits"]) for t, r in standings.items()} == {
        "alice": (1, 1), "bob": (0, 1), "carol": (2, 1), "dave": (2, 0)}

    rep = dixit("-C", league.clone("carol"), "verify", "--json").json()
    assert rep["ok"], rep["problems"]
    assert (rep["checked"]["turns"], rep["checked"]["hints"]) == (3, 1)
    assert (rep["checked"]["rounds re-scored"], rep["checked"]["explanations"]) == (3, 1)

    # the site: the explanation rendered beside its score, never run
    built = dixit.ok("-C", root, "report", "-o", tmp_path / "site", "--json").json()
    assert sorted(built["picture_kinds"].values()) == ["maps"] * 3 + ["positions"]
    html = (tmp_path / "site" / "index.html").read_text()
    for team, rnd in (("alice", 1), ("bob", 1), ("carol", 2), ("bob", 3)):
        assert f'href="#r{rnd:03d}-{team}"' in html  # every challenge has its article
    assert "A ring in the grid</h1>" in html and "radius 30 around (56, 56)" in html
    assert "<script" not in html
