"""Generated tampering of a real closed tournament: `dixit verify` must catch every mutation."""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, Runner, git, make_league, propose_small, scoped_env

PROGRAMS = EXAMPLES / "programs"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory, dixit: Runner):
    base = tmp_path_factory.mktemp("pristine")
    with scoped_env(base):
        league = make_league(base, dixit)
        dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by",
                 "+2h")
        for team in ("alice", "bob"):
            propose_small(league, dixit, team, steps=10)
        # bob's key is rotated between his proposal and his submission; dave joins and is
        # removed before the close, so the round is scored without him
        dixit.ok("-C", league.root, "team", "rotate", "bob")
        dixit.ok("-C", league.root, "team", "add", "dave")
        dixit.ok("-C", league.root, "team", "remove", "dave")
        for solver, target, prog in [("bob", "alice", "bob_for_alice.py"),
                                     ("carol", "alice", "carol_for_alice.py"),
                                     ("alice", "bob", "alice_for_bob.py")]:
            dixit.ok("-C", league.root, "submit", "--team", solver, "--challenge", target,
                     PROGRAMS / prog)
        dixit.ok("-C", league.root, "score", "--force")
        git(league.root, "remote", "remove", "origin")
        assert dixit.ok("-C", league.root, "verify", "--no-replay", "--json").json()["ok"]
        yield league.root, base / "keys"


Mutation = Callable[[Path], None]


def _flip(rel: str, pos: int) -> Mutation:
    def m(repo: Path) -> None:
        p = repo / rel
        data = bytearray(p.read_bytes())
        data[pos % len(data)] ^= 0x01
        p.write_bytes(bytes(data))
        git(repo, "commit", "-qam", f"flip {rel}")
    return m


def _amend_flip(rel: str, pos: int) -> Mutation:
    def m(repo: Path) -> None:  # rewrite history instead of adding a commit
        p = repo / rel
        data = bytearray(p.read_bytes())
        data[pos % len(data)] ^= 0x01
        p.write_bytes(bytes(data))
        git(repo, "commit", "-q", "--amend", "-a", "--no-edit")
    return m


def _delete(rel: str) -> Mutation:
    def m(repo: Path) -> None:
        git(repo, "rm", "-q", rel)
        git(repo, "commit", "-qm", f"delete {rel}")
    return m


def _rename(rel: str, new: str) -> Mutation:
    def m(repo: Path) -> None:
        (repo / new).parent.mkdir(parents=True, exist_ok=True)
        git(repo, "mv", rel, new)
        git(repo, "commit", "-qm", f"rename {rel}")
    return m


def _copy(rel: str, new: str) -> Mutation:
    def m(repo: Path) -> None:
        (repo / new).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(repo / rel, repo / new)
        git(repo, "add", new)
        git(repo, "commit", "-qm", f"add {new}")
    return m


def _drop_commit(subject: str) -> Mutation:
    def m(repo: Path) -> None:  # a force-push that silently drops one entry from history
        commit = git(repo, "log", "--format=%H", f"--grep=^{subject}$")
        git(repo, "rebase", "-q", "--onto", f"{commit}^", commit, "main")
        git(repo, "tag", "-f", "round-001-closed", "main")
    return m


def _reorder(repo: Path) -> None:
    """Move the first submission after the close: an entry that appears late."""
    commit = git(repo, "log", "--format=%H", "--grep=^submit: bob -> alice")
    git(repo, "rebase", "-q", "--onto", f"{commit}^", commit, "main")
    git(repo, "cherry-pick", commit)


def _move_after(subject: str, anchor: str) -> Mutation:
    def m(repo: Path) -> None:  # history rewritten so an entry lands before its key did
        commit = git(repo, "log", "--format=%H", f"--grep=^{subject}$")
        tail = git(repo, "log", "--reverse", "--format=%H", f"{commit}..main").split()
        after = tail.index(git(repo, "log", "--format=%H", f"--grep=^{anchor}$"))
        git(repo, "reset", "-q", "--hard", f"{commit}^")
        for c in [*tail[:after + 1], commit, *tail[after + 1:]]:
            git(repo, "cherry-pick", "--allow-empty", c)
        git(repo, "tag", "-f", "round-001-closed", "main")
    return m


def _swap_key(repo: Path) -> None:
    bob, carol = repo / "teams/bob.toml", repo / "teams/carol.toml"
    # the [team] key (the last key line; [signature] sorts first and holds the organizer's)
    key = lambda p: [ln for ln in p.read_text().splitlines() if ln.startswith("key")][-1]  # noqa: E731
    bob.write_text(bob.read_text().replace(key(bob), key(carol)))
    git(repo, "commit", "-qam", "swap bob's key")


def mutations(repo: Path) -> dict[str, Mutation]:
    rng = random.Random(7)
    sealed = [p for p in git(repo, "ls-files", "rounds/001", "teams", "tournament.toml")
              .splitlines() if not p.endswith("README.md")]
    out: dict[str, Mutation] = {}
    for rel in sealed:
        size = (repo / rel).stat().st_size
        for pos in rng.sample(range(size), min(3, size)):
            out[f"flip {rel}@{pos}"] = _flip(rel, pos)
        out[f"amend {rel}"] = _amend_flip(rel, rng.randrange(size))
        out[f"delete {rel}"] = _delete(rel)
    out["rename submission to another target"] = _rename(
        "rounds/001/submissions/carol/alice.toml", "rounds/001/submissions/carol/bob.toml")
    out["rename challenge to another team"] = _rename(
        "rounds/001/challenges/bob/challenge.toml", "rounds/001/challenges/carol/challenge.toml")
    out["copy into another team's folder"] = _copy(
        "rounds/001/submissions/bob/alice.toml", "rounds/001/submissions/carol/bob.toml")
    out["stray file in a round"] = _copy("rounds/001/round.toml", "rounds/001/notes.toml")
    out["drop a submission from history"] = _drop_commit("submit: carol -> alice in round 001")
    out["drop a team from history"] = _drop_commit("team: register carol")
    out["reorder an entry after the close"] = _reorder
    out["drop a key rotation from history"] = _drop_commit("team: rotate bob's key (1)")
    out["drop a removal from history"] = _drop_commit("team: remove dave")
    out["move a rotation after the entry it signs"] = _move_after(
        "team: rotate bob's key (1)", "submit: bob -> alice in round 001")
    out["swap a team's key"] = _swap_key
    return out


def test_verify_catches_every_mutation(pristine, dixit: Runner, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    root, keys = pristine
    monkeypatch.setenv("DIXIT_HOME", str(keys))
    muts = mutations(root)
    missed, broken = [], []
    for i, (name, mutate) in enumerate(muts.items()):
        repo = tmp_path / f"m{i}"
        shutil.copytree(root, repo, symlinks=True)
        try:
            mutate(repo)
        except Exception as exc:  # a mutation that cannot be applied is a test bug
            broken.append(f"{name}: {exc}")
            continue
        res = dixit("-C", repo, "verify", "--no-replay")
        if res.code != 1 or "Traceback" in res.err:
            missed.append(name)
        shutil.rmtree(repo)
    caught = len(muts) - len(missed) - len(broken)
    print(f"\nverify caught {caught} of {len(muts)} mutations")
    assert broken == []
    assert missed == [], f"caught {caught}/{len(muts)}; missed: {missed}"
    assert len(muts) >= 60
