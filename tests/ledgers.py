"""Small real ledgers for the trust-core tests, built once and then only read.

Three stages of one tournament (alice, bob, carol and dave; dave proposes nothing), each a real
git repository made by the real CLI with real keys:

- ``open``: round 1 with three challenges (alice and bob: labelers on a grid; carol: a flag on a
  dataset the organizer committed) and five sealed submissions; nothing revealed or scored;
- ``revealed``: the same after submit-by, alice having revealed her labeler and her programs;
- ``closed``: the same scored (the closer opens the rest from escrow) and tagged; then erin
  joins and dave is removed, which must not change what round 1 was scored with.

A second tournament (alice, bob and carol), for what the first has none of:

- ``rotated-open``: round 1 with alice's ``emulate`` challenge on a sampled token domain
  (``tokens:5x16:300``, seed 5: its public sample and identity depend on the seed, its
  judging on the post-deadline draw) and bob's labeler on a dataset (replayed: read from the
  ledger's root), four programs, and bob's key rotated mid-round: his challenge and first
  program are signed with the retired key, his resubmission with the new one;
- ``rotated-closed``: the same scored, the closer having revealed everything from escrow, so
  its reveals of bob's secret and program are signed by the closer, not by either of his keys.

A test module tampers with copies of these (``derive``) and runs the code under test on the
copies, which it never writes to. With ``DIXIT_TEST_LEDGERS=DIR`` every ledger is kept in DIR
across pytest runs: ``make mutation`` builds them there once with the unmutated code, so that
each mutant's tests read ledgers the real engine built instead of rebuilding them (seconds each,
times thousands of mutants). Without it they are built under pytest's temporary folder, once
per session.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, Runner, git, make_league, scoped_env

PROGRAMS = EXAMPLES / "programs"
LABELERS = EXAMPLES / "labelers"
TEAMS = ("alice", "bob", "carol", "dave")
DATASET = "scoring/data/tiny.safetensors"
FLAG = "Bright top-left corner"
OPEN, REVEALED, CLOSED = "open", "revealed", "closed"
ROT_OPEN, ROT_CLOSED = "rotated-open", "rotated-closed"
ROT_TEAMS = ("alice", "bob", "carol")
ROT_DATASET = "scoring/data/rot.safetensors"
ROT_EMULATE = "tokens:5x16:300"  # 5^16 sequences: nobody can tabulate them
ROT_SEED = 5
CORNER = ("import torch\n\ndef label(x):\n"
          "    return (x[:, :2, :2].float().mean(dim=(1, 2)) > 127).long()\n")
FIRST_LAST = "def label(x):\n    return (x[:, 0] > x[:, -1]).long()\n"
ZERO = "import torch\n\ndef label(x):\n    return torch.zeros(x.shape[0], dtype=torch.long)\n"

# the paths the tests name
ALICE = "rounds/001/challenges/alice"
BOB = "rounds/001/challenges/bob"
CAROL = "rounds/001/challenges/carol"
SUB_BOB_ALICE = "rounds/001/submissions/bob/alice"
SUB_ALICE_BOB = "rounds/001/submissions/alice/bob"


@dataclass(frozen=True)
class Built:
    root: Path   # the organizer's clone (no remote: nothing can be pushed from a test)
    keys: Path   # the key store (DIXIT_HOME) holding every identity and kept secret


def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    env = os.environ.get("DIXIT_TEST_LEDGERS")
    path = Path(env) if env else tmp_path_factory.getbasetemp() / "ledgers"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    with open(folder / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def obtain(where: Path, name: str, build: Callable[[Path], object], keys: Path | None = None
           ) -> Built:
    """The ledger ``where/name``, made by ``build(folder)`` unless a complete one is there.
    ``build`` writes ``folder/organizer`` (and ``folder/keys`` unless ``keys`` is given)."""
    folder = where / name
    done = folder / ".complete"
    if not done.exists():
        with _locked(where):
            if not done.exists():
                tmp = where / f".{name.replace('/', '_')}.tmp"
                shutil.rmtree(tmp, ignore_errors=True)
                shutil.rmtree(folder, ignore_errors=True)
                tmp.mkdir(parents=True)
                build(tmp)
                (tmp / ".complete").touch()
                folder.parent.mkdir(parents=True, exist_ok=True)
                os.rename(tmp, folder)
    return Built(folder / "organizer", keys or folder / "keys")


def _copy(src: Built, folder: Path, with_keys: bool = True) -> Built:
    shutil.copytree(src.root, folder / "organizer", symlinks=True)
    subprocess.run(["git", "-C", str(folder / "organizer"), "update-index", "-q", "--refresh"],
                   check=False)  # a copy's files have new stat data: not local edits
    if with_keys:
        shutil.copytree(src.keys, folder / "keys", symlinks=True)
    return Built(folder / "organizer", folder / "keys" if with_keys else src.keys)


def write_dataset(root: Path, path: str = DATASET) -> None:
    """Small synthetic 8x8 grey images, made here: nothing is downloaded."""
    import torch
    from safetensors.torch import save_file

    gen = torch.Generator().manual_seed(7)
    images = torch.randint(0, 256, (96, 8, 8), generator=gen, dtype=torch.uint8)
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    save_file({"inputs": images}, str(root / path))


def _build_open(folder: Path, dixit: Runner) -> None:
    with scoped_env(folder):
        league = make_league(folder, dixit, TEAMS)
        root = league.root
        write_dataset(root)
        git(root, "add", DATASET)
        git(root, "commit", "-q", "-m", "data: tiny images")
        git(root, "push", "-q", "origin", "main")
        dixit.ok("-C", root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
        work = folder / "work"
        work.mkdir()
        corner = work / "corner.py"  # carol's images are bright at the top left, or not
        corner.write_text("import torch\n\ndef label(x):\n"
                          "    return (x[:, :2, :2].float().mean(dim=(1, 2)) > 127).long()\n")
        specs = {
            "alice": ["--labeler", LABELERS / "alice.py", "--domain", "grid:113x113",
                      "--hidden", "16,16", "--steps", "10"],
            "bob": ["--labeler", LABELERS / "bob.py", "--domain", "grid:113x113",
                    "--hidden", "16,16", "--steps", "10"],
            "carol": ["--labeler", corner, "--domain", f"dataset:{DATASET}",
                      "--arch", "cnn", "--channels", "4", "--hidden", "8", "--kind", "flag",
                      "--flag", FLAG, "--steps", "5"],
        }
        for team, args in specs.items():
            dixit.ok("-C", root, "challenge", "new", work / team, *args)
            dixit.ok("-C", root, "propose", "--team", team, work / team)
        right, wrong = work / "right.txt", work / "wrong.txt"
        right.write_text("  bright TOP-LEFT\tcorner \n")
        wrong.write_text("dark corner\n")
        for solver, target, prog in [("bob", "alice", PROGRAMS / "bob_for_alice.py"),
                                     ("carol", "alice", PROGRAMS / "carol_for_alice.py"),
                                     ("alice", "bob", PROGRAMS / "alice_for_bob.py"),
                                     ("alice", "carol", right),
                                     ("dave", "carol", wrong)]:
            dixit.ok("-C", root, "submit", "--team", solver, "--challenge", target, prog)
        git(root, "remote", "remove", "origin")
        for path in (league.bare, *league.clones.values(), work):
            shutil.rmtree(path)


def _build_revealed(folder: Path, dixit: Runner, src: Built) -> None:
    built = _copy(src, folder)
    with scoped_env(folder):
        os.environ["DIXIT_NOW"] = "+3h"  # after submit-by, before anyone closes the round
        dixit.ok("-C", built.root, "reveal", "--team", "alice")


def _build_closed(folder: Path, dixit: Runner, src: Built) -> None:
    built = _copy(src, folder)
    with scoped_env(folder):
        os.environ["DIXIT_NOW"] = "+3h"
        dixit.ok("-C", built.root, "score")
        dixit.ok("-C", built.root, "team", "add", "erin")
        dixit.ok("-C", built.root, "team", "remove", "dave", "--reason", "withdrew")


def _build_rotated_open(folder: Path, dixit: Runner) -> None:
    with scoped_env(folder):
        league = make_league(folder, dixit, ROT_TEAMS)
        root = league.root
        write_dataset(root, ROT_DATASET)
        git(root, "add", ROT_DATASET)
        git(root, "commit", "-q", "-m", "data: tiny images")
        git(root, "push", "-q", "origin", "main")
        dixit.ok("-C", root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
        work = folder / "work"
        work.mkdir()
        files = {name: work / f"{name}.py" for name in ("first_last", "corner", "zero")}
        for name, text in (("first_last", FIRST_LAST), ("corner", CORNER), ("zero", ZERO)):
            files[name].write_text(text)
        dixit.ok("-C", root, "challenge", "new", work / "alice", "--labeler",
                 files["first_last"], "--domain", ROT_EMULATE, "--kind", "emulate", "--seed",
                 str(ROT_SEED), "--hidden", "8", "--steps", "10")
        dixit.ok("-C", root, "propose", "--team", "alice", work / "alice")
        dixit.ok("-C", root, "challenge", "new", work / "bob", "--labeler", files["corner"],
                 "--domain", f"dataset:{ROT_DATASET}", "--arch", "cnn", "--channels", "4",
                 "--hidden", "8", "--steps", "5")
        dixit.ok("-C", root, "propose", "--team", "bob", work / "bob")
        for solver, target, prog in [("bob", "alice", files["zero"]),
                                     ("carol", "alice", files["first_last"]),
                                     ("alice", "bob", files["corner"]),
                                     ("carol", "bob", files["zero"])]:
            dixit.ok("-C", root, "submit", "--team", solver, "--challenge", target, prog)
        # mid-round: bob's key is rotated, and he resubmits with the new one
        dixit.ok("-C", root, "team", "rotate", "bob")
        dixit.ok("-C", root, "submit", "--team", "bob", "--challenge", "alice",
                 files["first_last"])
        git(root, "remote", "remove", "origin")
        for path in (league.bare, *league.clones.values(), work):
            shutil.rmtree(path)


def rotated(tmp_path_factory: pytest.TempPathFactory, dixit: Runner) -> dict[str, Built]:
    """The second tournament's ledgers (see the module's docstring)."""
    where = store(tmp_path_factory)
    opened = obtain(where, ROT_OPEN, lambda f: _build_rotated_open(f, dixit))
    closed = obtain(where, ROT_CLOSED, lambda f: _build_closed_only(f, dixit, opened))
    return {ROT_OPEN: opened, ROT_CLOSED: closed}


def _build_closed_only(folder: Path, dixit: Runner, src: Built) -> None:
    built = _copy(src, folder)
    with scoped_env(folder):
        os.environ["DIXIT_NOW"] = "+3h"
        dixit.ok("-C", built.root, "score")


def bases(tmp_path_factory: pytest.TempPathFactory, dixit: Runner) -> dict[str, Built]:
    where = store(tmp_path_factory)
    opened = obtain(where, OPEN, lambda f: _build_open(f, dixit))
    revealed = obtain(where, REVEALED, lambda f: _build_revealed(f, dixit, opened))
    closed = obtain(where, CLOSED, lambda f: _build_closed(f, dixit, revealed))
    return {OPEN: opened, REVEALED: revealed, CLOSED: closed}


Tamper = Callable[[Built], None]


def derive(tmp_path_factory: pytest.TempPathFactory, group: str, base: Built, name: str,
           tamper: Tamper) -> Built:
    """A copy of ``base`` that ``tamper`` changed (run with the base's key store)."""
    def build(folder: Path) -> Built:
        built = _copy(base, folder, with_keys=False)
        with scoped_env(base.keys.parent):
            tamper(built)
        return built
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return obtain(store(tmp_path_factory), f"{group}/{slug}", build, keys=base.keys)


# -- tampering ---------------------------------------------------------------------------------


def commit_files(repo: Path, files: dict[str, bytes | None], message: str) -> None:
    """One new commit writing (bytes) or deleting (None) files: a visible change."""
    for path, data in files.items():
        if data is None:
            git(repo, "rm", "-q", path)
        else:
            (repo / path).parent.mkdir(parents=True, exist_ok=True)
            (repo / path).write_bytes(data)
            git(repo, "add", path)
    git(repo, "commit", "-q", "-m", message)


def flipped(repo: Path, path: str, pos: int = -1) -> bytes:
    data = bytearray((repo / path).read_bytes())
    data[pos] ^= 0x01
    return bytes(data)


def rewrite(repo: Path, files: dict[str, bytes | None]) -> None:
    """Rewrite the whole history (tags too) as if each path had always held its new content
    (None: had never existed): no commit shows a change, only the content can give it away."""
    cmds = []
    for path, data in files.items():
        if data is None:
            cmds.append(f"git rm -q --cached --ignore-unmatch {path}")
            continue
        blob = subprocess.run(["git", "-C", str(repo), "hash-object", "-w", "--stdin"],
                              input=data, capture_output=True, check=True).stdout.decode().strip()
        cmds.append(f"if git ls-files --error-unmatch {path} >/dev/null 2>&1; then "
                    f"git update-index --cacheinfo 100644,{blob},{path}; fi")
    env = {**os.environ, "FILTER_BRANCH_SQUELCH_WARNING": "1"}
    subprocess.run(["git", "-C", str(repo), "filter-branch", "-f", "--index-filter",
                    "; ".join(cmds), "--tag-name-filter", "cat", "--", "--all"],
                   check=True, capture_output=True, env=env)
    for ref in git(repo, "for-each-ref", "--format=%(refname)", "refs/original/").split():
        git(repo, "update-ref", "-d", ref)
    git(repo, "reset", "-q", "--hard")


COMMIT = re.compile(r"commit [0-9a-f]{10}")


def normalized(problems: list[str]) -> list[str]:
    """Problems with commit ids (which differ per build) written as ``commit C``."""
    return [COMMIT.sub("commit C", p) for p in problems]
