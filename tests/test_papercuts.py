"""Papercuts a new user hit, each fixed with a test."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from dixit.data import domains
from dixit.models import build, default_config, training
from dixit.views.tables import standings_table
from tests.conftest import EXAMPLES, League, Runner


def test_training_progress_knows_its_length_and_reports_the_loss() -> None:
    dom = domains.parse("grid:8x8")
    x = dom.all()
    labels = (x[:, 0] > x[:, 1]).long()
    model = build(default_config("mlp", dom.input_shape, dom.dims, hidden=[32]), seed=0)
    calls: list[tuple] = []
    training.train(model, dom, labels, train_frac=0.5, seed=0, steps=101, lr=1e-2,
                   progress=lambda *a: calls.append(a))
    assert calls[0] == (0, 101)                     # never "0/?": the total from the start
    assert [c[0] for c in calls[1:]] == [*range(1, 102, 10)]
    assert all(isinstance(c[2], float) and c[2] > 0 for c in calls[1:])  # the loss
    assert calls[-1][2] < calls[1][2]               # and it falls


def _render(data: dict) -> str:
    console = Console(width=120, record=True, file=open("/dev/null", "w"))
    console.print(standings_table(data))
    return " ".join(console.export_text().split())


def test_standings_have_no_unexplained_empty_column() -> None:
    row = {"rank": 1, "team": "alice", "points": 4, "solves": 1, "dixits": 1,
           "flagged_claims": 0, "removed": False}
    plain = _render({"rounds": [1], "standings": [row]})
    assert "flags" not in plain and "notes" not in plain and "⚑" not in plain
    flagged = _render({"rounds": [1], "standings": [{**row, "flagged_claims": 2}]})
    assert "notes" in flagged and "⚑ claim off ×2" in flagged
    assert "further from their claimed accuracy than claims.accuracy_tolerance" in flagged


def test_already_proposed_is_refused_before_any_warning(league: League, dixit: Runner,
                                                        tmp_path: Path) -> None:
    dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
    folder = league.work / "alice"
    dixit.ok("challenge", "new", folder, "--labeler", EXAMPLES / "labelers" / "alice.py",
             "--domain", "grid:113x113", "--hidden", "64,64", "--steps", "600",
             "--train-frac", "0.9")
    first = dixit.ok("-C", league.clone("alice"), "propose", "--team", "alice", folder)
    assert "warning" in first.err  # this model meets the threshold by itself
    again = dixit("-C", league.clone("alice"), "propose", "--team", "alice", folder)
    assert again.code == 1 and "warning" not in again.err
    assert again.err.strip() == "error: 'alice' already proposed a challenge in round 1"


def test_inspect_knows_a_folder_proposed_in_an_earlier_round(league: League,
                                                            dixit: Runner) -> None:
    dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
    folder = league.work / "alice"
    dixit.ok("challenge", "new", folder, "--labeler", EXAMPLES / "labelers" / "alice.py",
             "--domain", "grid:24x24", "--hidden", "8", "--steps", "20")
    clone = league.clone("alice")
    assert dixit.ok("-C", clone, "inspect", folder, "--json").json()["proposed"] is None
    dixit.ok("-C", clone, "propose", "--team", "alice", folder)
    dixit.ok("-C", league.root, "score", "--force")
    dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
    doc = dixit.ok("-C", clone, "inspect", folder, "--json").json()
    assert doc["proposed"] == {"round": 1, "team": "alice"}
    shown = dixit.ok("-C", clone, "inspect", folder)
    assert "(proposed in round 001 by alice)" in shown.out and "not proposed" not in shown.out


def test_a_flag_guess_from_a_clone_that_has_not_pulled_is_read_as_a_guess(
        league: League, dixit: Runner, tmp_path: Path) -> None:
    """bob's clone has never seen alice's flag challenge: submit pulls before it decides
    whether the file is a program or a guess, and says which it sealed. propose says how a
    flag challenge is solved, not an agreement bar it does not have."""
    dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
    folder = league.work / "flag"
    dixit.ok("challenge", "new", folder, "--labeler", EXAMPLES / "labelers" / "alice.py",
             "--domain", "grid:20x20", "--hidden", "8", "--steps", "5", "--kind", "flag",
             "--flag", "a ring", "--answer-format", "two words")
    proposed = dixit.ok("-C", league.clone("alice"), "propose", "--team", "alice", folder)
    assert proposed.err.startswith("proposed alice's flag challenge in round 001 (solved by "
                                   "naming the planted string); seal ")
    assert "agreement" not in proposed.err
    guess = tmp_path / "guess.txt"
    guess.write_text("a ring\n")  # not Python: refused as a program if read as one
    res = dixit.ok("-C", league.clone("bob"), "submit", "--team", "bob", "--challenge", "alice",
                   guess)
    assert res.err.startswith("submitted bob's flag guess for alice's challenge in round 001")


def test_nothing_held_out_is_said_and_json_stays_json(dixit: Runner, tmp_path: Path) -> None:
    args = ("--labeler", EXAMPLES / "labelers" / "alice.py", "--domain", "grid:20x20",
            "--hidden", "8", "--steps", "5", "--train-frac", "1.0")
    res = dixit.ok("challenge", "new", tmp_path / "a", *args, "--json")
    assert res.json()["heldout_accuracy"] is None and "NaN" not in res.out
    said = dixit.ok("challenge", "new", tmp_path / "b", *args).err
    assert "nothing held out (--train-frac 1.0)" in said and "nan" not in said
