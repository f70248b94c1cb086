"""Shared fixtures: a real tournament on disk, a bare remote, team clones, the real CLI."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dixit import cli

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "demo"
TEAMS = ("alice", "bob", "carol")


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory: pytest.TempPathFactory,
                  monkeypatch: pytest.MonkeyPatch) -> None:
    """No test touches the developer's key store or git config."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("DIXIT_HOME", str(home / "keys"))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in ("DIXIT_TEAM", "DIXIT_NOW", "DIXIT_CLOSER_KEY"):
        monkeypatch.delenv(var, raising=False)


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> dict:
        return json.loads(self.out)


class Runner:
    """Runs the real CLI in-process (``dixit.cli.run``), capturing what a user would see."""

    def __call__(self, *args: str | Path) -> Result:
        out, err = io.StringIO(), io.StringIO()
        cli._ctx["root"] = None
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.run([str(a) for a in args])
        return Result(code, out.getvalue(), err.getvalue())

    def ok(self, *args: str | Path) -> Result:
        res = self(*args)
        assert res.code == 0, f"dixit {' '.join(map(str, args))} failed: {res.err}{res.out}"
        return res


@pytest.fixture(scope="session")
def dixit() -> Runner:
    return Runner()


def git(path: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@t",
                           *args], check=True, capture_output=True, text=True).stdout.strip()


def ledger_fingerprint(path: Path) -> tuple[str, str, str]:
    """Everything a refused command must leave unchanged: refs, index/work tree, files."""
    refs = git(path, "for-each-ref", "--format=%(refname) %(objectname)")
    status = git(path, "status", "--porcelain", "--untracked-files=all")
    files = git(path, "ls-files", "-s")
    return refs, status, files


@contextlib.contextmanager
def scoped_env(base: Path) -> Iterator[None]:
    """Environment for a module-scoped fixture (monkeypatch is per test): keys under base."""
    saved = dict(os.environ)
    os.environ.update({"DIXIT_HOME": str(base / "keys"), "GIT_CONFIG_GLOBAL": os.devnull,
                       "GIT_CONFIG_NOSYSTEM": "1"})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@dataclass
class League:
    root: Path          # the organizer's clone
    bare: Path          # the shared remote
    clones: dict[str, Path]
    work: Path

    def clone(self, team: str) -> Path:
        return self.clones[team]


def make_league(base: Path, dixit: Runner, teams: tuple[str, ...] = TEAMS,
                escrow: bool = True) -> League:
    root, bare = base / "organizer", base / "ledger.git"
    args = ["init", root, "--name", "Test League", "--bare", bare]
    if not escrow:
        args.append("--no-escrow")
    dixit.ok(*args)
    for t in teams:
        dixit.ok("-C", root, "team", "add", t)
    clones = {}
    for t in teams:
        clones[t] = base / t
        subprocess.run(["git", "clone", "-q", str(bare), str(clones[t])], check=True)
    return League(root, bare, clones, base / "work")


def propose_small(league: League, dixit: Runner, team: str, steps: int = 60) -> Path:
    """Train a tiny model on the team's demo labeler and propose it."""
    out = league.work / team
    dixit.ok("challenge", "new", out, "--labeler", EXAMPLES / "labelers" / f"{team}.py",
             "--domain", "grid:113x113", "--hidden", "16,16", "--steps", str(steps))
    dixit.ok("-C", league.clone(team), "propose", "--team", team, out)
    return out


@pytest.fixture
def league(tmp_path: Path, dixit: Runner) -> Iterator[League]:
    yield make_league(tmp_path, dixit)


def program(tmp: Path, name: str, body: str) -> Path:
    path = tmp / f"{name}.py"
    path.write_text(body)
    return path


def copytree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def ship_dataset(league: League, rel: str, images: Any) -> None:
    """The organizer commits a dataset (a uint8 tensor of images, saved as ``inputs``) under
    scoring/data/ and every team pulls it: the only way a challenge can use one."""
    from safetensors.torch import save_file

    (league.root / rel).parent.mkdir(parents=True, exist_ok=True)
    save_file({"inputs": images}, str(league.root / rel))
    git(league.root, "add", rel)
    git(league.root, "commit", "-q", "-m", f"data: {rel}")
    git(league.root, "push", "-q", "origin", "main")
    for clone in league.clones.values():
        git(clone, "pull", "-q", "--ff-only")
