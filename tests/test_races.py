"""Crashes and races with real processes: concurrent writers, SIGKILL in the middle of score."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dixit.league import judge
from tests.conftest import EXAMPLES, Runner, copytree, git, make_league, propose_small

PROG = EXAMPLES / "programs" / "bob_for_alice.py"
SOLVERS = [f"s{i}" for i in range(8)]


def _dixit(*args: str | Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "dixit", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "CI": "1"})


@pytest.fixture
def crowd(tmp_path: Path, dixit: Runner):
    league = make_league(tmp_path, dixit, teams=("alice", *SOLVERS))
    dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
    propose_small(league, dixit, "alice", steps=10)
    return league


def _assert_all_landed(bare: Path, procs: list[subprocess.Popen[str]]) -> None:
    for p in procs:
        _out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err  # the retry loop absorbs every race here
        assert "Traceback" not in err
    subjects = git(bare, "log", "--format=%s").splitlines()
    submits = [s for s in subjects if s.startswith("submit:")]
    assert sorted(submits) == sorted(f"submit: {s} -> alice in round 001" for s in SOLVERS)


def test_eight_writers_through_the_shared_remote(crowd) -> None:
    procs = [_dixit("-C", crowd.clone(s), "submit", "--team", s, "--challenge", "alice", PROG)
             for s in SOLVERS]
    _assert_all_landed(crowd.bare, procs)
    git(crowd.clone("alice"), "pull", "-q")
    assert len(list((crowd.clone("alice") / "rounds/001/submissions").iterdir())) == 8


def test_eight_writers_in_one_clone(crowd) -> None:
    procs = [_dixit("-C", crowd.root, "submit", "--team", s, "--challenge", "alice", PROG)
             for s in SOLVERS]
    _assert_all_landed(crowd.bare, procs)
    assert git(crowd.root, "status", "--porcelain") == ""


def test_sigkill_during_score_then_rerun_gives_the_uninterrupted_result(
        crowd, dixit: Runner, tmp_path: Path) -> None:
    for s in SOLVERS[:4]:
        dixit.ok("-C", crowd.root, "submit", "--team", s, "--challenge", "alice", PROG)
    reference = copytree(crowd.root, tmp_path / "reference")
    git(reference, "remote", "remove", "origin")
    expected = dixit.ok("-C", reference, "score", "--force", "--json").json()
    for delay in (0.2, 0.6, 1.2, 2.0):
        victim = copytree(crowd.root, tmp_path / f"victim-{delay}")
        git(victim, "remote", "remove", "origin")
        proc = _dixit("-C", victim, "score", "--force", "--json")
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        again = dixit.ok("-C", victim, "score", "--force", "--json").json()
        assert judge.comparable(again) == judge.comparable(expected), delay
        assert git(victim, "status", "--porcelain") == ""
        assert git(victim, "tag", "--list") == "round-001-closed"
        assert dixit.ok("-C", victim, "verify", "--no-replay", "--json").json()["ok"]
