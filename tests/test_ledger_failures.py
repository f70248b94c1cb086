"""A write that fails after its commit was made leaves nothing behind: no stuck entry, no lost
key, and the same command simply works when run again."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import League, Runner, git


def _keys(team: str) -> list[Path]:
    return sorted(Path(os.environ["DIXIT_HOME"]).glob(f"*/team-{team}*.key"))


def test_a_failed_push_restores_the_branch_and_saves_no_key(league: League,
                                                            dixit: Runner) -> None:
    root = league.root
    before = git(root, "rev-parse", "main").strip()
    # Fetching works, pushing fails for a reason that is not a lost race.
    git(root, "remote", "set-url", "--push", "origin", str(root.parent / "gone.git"))
    res = dixit("-C", root, "team", "add", "dave")
    assert res.code == 1 and "cannot push to the ledger's remote" in res.err, res
    assert git(root, "rev-parse", "main").strip() == before          # branch moved back
    assert not (root / "teams" / "dave.toml").exists()              # work tree too
    assert _keys("dave") == []                                       # no orphan key
    git(root, "remote", "set-url", "--push", "origin", str(league.bare))
    dixit.ok("-C", root, "team", "add", "dave")                      # not "already registered"
    assert len(_keys("dave")) == 1
    assert git(league.bare, "rev-parse", "main").strip() == git(root, "rev-parse", "main").strip()


def test_a_failed_push_of_a_rotation_keeps_the_old_key(league: League, dixit: Runner) -> None:
    root = league.root
    (old_key,) = _keys("carol")
    old = old_key.read_text()
    git(root, "remote", "set-url", "--push", "origin", str(root.parent / "gone.git"))
    res = dixit("-C", root, "team", "rotate", "carol")
    assert res.code == 1 and "cannot push to the ledger's remote" in res.err, res
    assert _keys("carol") == [old_key] and old_key.read_text() == old
    git(root, "remote", "set-url", "--push", "origin", str(league.bare))
    dixit.ok("-C", root, "team", "rotate", "carol")
    assert old_key.read_text() != old  # the new key is current, the old one retired beside it
