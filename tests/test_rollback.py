"""A pull request cannot roll a rival's submission back to an older, validly signed version:
every resubmission names the sha256 of the entry it replaces, and validate and verify check
the chain."""

from __future__ import annotations

from tests.conftest import EXAMPLES, League, Runner, git, propose_small

SUB = "rounds/001/submissions/carol/alice"
PROGRAMS = EXAMPLES / "programs"


def test_restoring_an_older_submission_is_refused(league: League, dixit: Runner) -> None:
    dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
    propose_small(league, dixit, "alice", steps=20)
    carol = league.clone("carol")
    dixit.ok("-C", carol, "submit", "--team", "carol", "--challenge", "alice",
             PROGRAMS / "bob_for_alice.py")
    first = git(carol, "rev-parse", "HEAD").strip()
    dixit.ok("-C", carol, "submit", "--team", "carol", "--challenge", "alice",
             PROGRAMS / "carol_for_alice.py")
    assert 'replaces = "' in (carol / f"{SUB}.toml").read_text()

    # Mallory (bob's clone) brings carol's first, validly signed, submission back.
    bob = league.clone("bob")
    git(bob, "pull", "-q")
    git(bob, "checkout", first, "--", f"{SUB}.toml", f"{SUB}.escrow")
    git(bob, "commit", "-qm", "restore an older submission of carol's")
    res = dixit("-C", bob, "validate", "--base", "origin/main", "--json")
    assert res.code == 1
    assert any(p.startswith(f"{SUB}.toml: does not replace the submission now in the ledger")
               for p in res.json()["problems"]), res.out

    # Merged anyway (an admin's slip): verify names the broken chain and its commit.
    git(bob, "push", "-q", "origin", "HEAD:main")
    git(league.root, "pull", "-q")
    rep = dixit("-C", league.root, "verify", "--no-replay", "--json")
    assert rep.code == 1
    assert any(p.startswith(f"{SUB}.toml (commit ") and "does not replace the submission now "
               "in the ledger" in p for p in rep.json()["problems"]), rep.out
