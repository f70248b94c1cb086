"""Dixit scoring as pure functions: every k for m = 1..6, standings and the rulebook."""

from __future__ import annotations

import pytest

from dixit import rules
from dixit.errors import RulesError
from dixit.rules import rulebook
from dixit.rules.rulebook import Points

POINTS = Points(proposer_unique=4, proposer_some=2, solver=3)


@pytest.mark.parametrize("m", range(1, 7))
def test_proposer_points_for_every_k(m: int) -> None:
    pts = [rules.proposer_points(k, m, POINTS) for k in range(m + 1)]
    assert pts[0] == 0 and pts[m] == 0           # nobody or everybody: nothing
    if m >= 2:
        assert pts[1] == max(pts) and pts.count(max(pts)) == 1  # strictly most at k = 1
        assert all(pts[k] >= pts[k + 1] for k in range(1, m))  # never more for larger k
        assert all(pts[k] == 2 for k in range(2, m))


@pytest.mark.parametrize("m", range(1, 7))
def test_score_round_for_every_k(m: int) -> None:
    teams = [f"t{i}" for i in range(m + 1)]
    for k in range(m + 1):
        subs = [rules.SubmissionOutcome(t, 1.0 if i < k else 0.5)
                for i, t in enumerate(teams[1:])]
        rs = rules.score_round(teams, [rules.ChallengeOutcome("t0", subs)], 0.99, POINTS)
        assert rs.points["t0"] == rules.proposer_points(k, m, POINTS)
        assert sum(rs.points[t] for t in teams[1:]) == 3 * k
        assert rs.challenges[0].solved_by == sorted(teams[1:k + 1])


def test_errors_void_and_self_submissions_never_score() -> None:
    subs = [rules.SubmissionOutcome("a", 1.0),                 # own challenge: ignored
            rules.SubmissionOutcome("b", 1.0, "timed out"),     # error: unsolved
            rules.SubmissionOutcome("c", 0.99), rules.SubmissionOutcome("d", None)]
    rs = rules.score_round("abcd", [rules.ChallengeOutcome("a", subs)], 0.99, POINTS)
    assert rs.challenges[0].solved_by == ["c"] and rs.points == {"a": 4, "b": 0, "c": 3, "d": 0}
    void = rules.score_round("ab", [rules.ChallengeOutcome(
        "a", [rules.SubmissionOutcome("b", 1.0)], void="labeler failed")], 0.99, POINTS)
    assert void.points == {"a": 0, "b": 0} and void.challenges[0].void == "labeler failed"


def test_proposer_points_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError):
        rules.proposer_points(3, 2, POINTS)


def test_standings_sum_rounds_and_break_ties() -> None:
    r1 = rules.RoundScore({"a": 4, "b": 3, "c": 0}, [
        rules.ChallengeScore("a", ["b"], {"a": 4, "b": 3}, m=2)])
    r2 = rules.RoundScore({"a": 0, "b": 0, "c": 7}, [
        rules.ChallengeScore("c", ["a"], {"c": 4, "a": 3}, m=2),
        rules.ChallengeScore("b", ["c"], {"b": 0, "c": 3}, m=2)])
    table = rules.standings([r1, r2])
    assert [(s.team, s.points) for s in table] == [("c", 7), ("a", 4), ("b", 3)]
    assert [(s.solves, s.dixits) for s in table] == [(1, 1), (1, 1), (1, 1)]
    tie = rules.standings([rules.RoundScore({"x": 3, "y": 3}, [
        rules.ChallengeScore("z", ["y"], {"y": 3}, m=2)])])
    assert [s.team for s in tie] == ["y", "x"]  # same points, y has more solves


def test_default_rulebook_parses_and_documents_itself() -> None:
    book = rulebook.parse_text(rulebook.DEFAULT_RULES_TOML)
    assert book == rulebook.Rulebook()
    assert "k = 1" in rulebook.DEFAULT_RULES_TOML


@pytest.mark.parametrize(("text", "needle"), [
    ("[points]\nproposer_unique = 2\nproposer_some = 2\n", "proposer_some < points"),
    ("[solve]\nthreshold = 1.5\n", "threshold"),
    ("[solve]\nthreshold = 'high'\n", "must be a float"),
    ("[replay]\nisolation = 'some'\n", "isolation"),
    ("[points\n", "not valid TOML"),
    ("points = 3\n", "must be a table"),
])
def test_bad_rulebooks_are_refused_clearly(text: str, needle: str) -> None:
    with pytest.raises(RulesError, match=needle):
        rulebook.parse_text(text)


def test_template_rulebook_is_the_default() -> None:
    from pathlib import Path

    template = Path(__file__).resolve().parent.parent / "scoring" / "rules.toml"
    assert template.read_text() == rulebook.DEFAULT_RULES_TOML
