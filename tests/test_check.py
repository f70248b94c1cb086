"""`dixit check`: a program tried before submitting, in the scoring sandbox, against the
published model (never the sealed labeler), with nothing written to the ledger."""

from __future__ import annotations

import pytest

from tests.conftest import EXAMPLES, League, Runner, git, program, propose_small


@pytest.fixture
def proposed(league: League, dixit: Runner) -> League:
    dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
    propose_small(league, dixit, "alice")
    git(league.clone("bob"), "pull", "-q", "--ff-only")
    return league


def test_check_reports_agreement_with_the_model_and_writes_nothing(
        proposed: League, dixit: Runner, tmp_path) -> None:
    clone = proposed.clone("bob")
    head = git(clone, "rev-parse", "HEAD")
    lab = EXAMPLES / "labelers" / "alice.py"
    doc = dixit.ok("-C", clone, "check", lab, "--challenge", "alice", "--json").json()
    assert doc["ok"] and doc["error"] is None
    assert (doc["output"], doc["metric"], doc["inputs"]) == ("binary", "agreement", 113 * 113)
    # the labeler against its own model: the model's accuracy, not 100%
    assert 0.5 < doc["agreement_vs_model"] < 1.0
    assert doc["score_vs_model"] == doc["agreement_vs_model"]
    assert doc["seconds"] > 0 and doc["max_rss_mb"] > 0
    assert git(clone, "rev-parse", "HEAD") == head and not git(clone, "status", "--porcelain")
    res = dixit.ok("-C", clone, "check", lab, "--challenge", "alice")
    assert "not the sealed labeler" in " ".join((res.out + res.err).split())


@pytest.mark.parametrize(("body", "error"), [
    ("def label(x):\n    raise ValueError('boom')\n",
     "crashed in label(): ValueError: boom"),
    ("import torch\n\ndef label(x):\n    return torch.zeros(len(x), 2)\n",
     "returned shape (4096, 2) for a batch of 4096 (need (4096,))"),
    ("label = 3\n", "defines no label(x) function"),
])
def test_check_fails_as_the_close_would(proposed: League, dixit: Runner, tmp_path, body: str,
                                        error: str) -> None:
    res = dixit("-C", proposed.clone("bob"), "check", program(tmp_path, "p", body),
                "--challenge", "alice", "--json")
    assert res.code == 1
    doc = res.json()
    assert not doc["ok"] and doc["error"] == error


def test_check_names_what_is_wrong(proposed: League, dixit: Runner, tmp_path) -> None:
    res = dixit("-C", proposed.clone("bob"), "check", program(tmp_path, "p", "x = 1\n"),
                "--challenge", "zed")
    assert res.code == 1
    assert res.err.strip() == "error: 'zed' proposed no challenge in round 1 (challenges: alice)"
