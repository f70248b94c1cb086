"""A corpus of malformed and hostile inputs through the CLI: each gets one clear line, exit 1
(2 for usage), no traceback, and the ledger byte-for-byte as before."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import (
    EXAMPLES,
    League,
    Runner,
    git,
    ledger_fingerprint,
    make_league,
    scoped_env,
)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, dixit: Runner):
    root = tmp_path_factory.mktemp("bad")
    with scoped_env(root):
        league = make_league(root, dixit, teams=("alice", "bob"))
        dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by",
                 "+2h")
        good = root / "work" / "good"
        dixit.ok("challenge", "new", good, "--labeler", EXAMPLES / "labelers" / "alice.py",
                 "--domain", "grid:30x30", "--hidden", "8", "--steps", "5")
        yield league, good, root / "keys"


def _challenge(tmp: Path, good: Path, edit: Callable[[Path], None]) -> Path:
    import shutil

    out = tmp / "ch"
    shutil.copytree(good, out)
    edit(out)
    return out


def _zip_bomb() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("data.pkl", b"\0" * (50 << 20))
    return buf.getvalue()


def _write(name: str, data: bytes | str) -> Callable[[Path], None]:
    def edit(out: Path) -> None:
        p = out / name
        p.write_bytes(data) if isinstance(data, bytes) else p.write_text(data)
    return edit


def _toml_edit(old: str, new: str) -> Callable[[Path], None]:
    def edit(out: Path) -> None:
        p = out / "challenge.toml"
        p.write_text(p.read_text().replace(old, new))
    return edit


PROPOSALS = {
    "zip bomb as model": (_write("model.safetensors", _zip_bomb()), "safetensors"),
    "pickle as model": (_write("model.safetensors", b"\x80\x04\x95" + b"cos\nsystem\n" * 9),
                        "safetensors"),
    "truncated model": (_write("model.safetensors", b"\x10\x00\x00\x00\x00\x00\x00\x00{"),
                        "safetensors"),
    "labeler not utf-8": (_write("labeler.py", b"def label(x):\n    return '\xff'\n"),
                          "not UTF-8"),
    "labeler syntax error": (_write("labeler.py", "def label(x)\n"), "not valid Python"),
    "broken toml": (_write("challenge.toml", "[challenge\nx = 1"), "not valid TOML"),
    "deeply nested toml": (_write("challenge.toml", "x = " + "[" * 5000 + "]" * 5000),
                           "not valid TOML"),
    "claimed accuracy is text": (_toml_edit("claimed_accuracy = ", "claimed_accuracy = '1' #"),
                                 "claimed_accuracy"),
    "domain missing": (_toml_edit('domain = "grid:30x30"', ""), "challenge.domain"),
    "unknown domain": (_toml_edit('domain = "grid:30x30"', 'domain = "mnist"'),
                       "unknown domain"),
    "dataset path escapes": (_toml_edit('domain = "grid:30x30"',
                                        'domain = "dataset:../../etc/x.safetensors"'),
                             "without '..'"),
    "unknown architecture": (_toml_edit('arch = "mlp"', 'arch = "resnet"'),
                             "unknown architecture"),
    "hidden sizes wrong": (_toml_edit("hidden = [ 8,]", "hidden = [ 9,]"), "expected"),
    "labeler path escapes": (_toml_edit('labeler = "labeler.py"', 'labeler = "../x.py"'),
                             "inside the folder"),
    "unknown kind": (_toml_edit('kind = "labeler"', 'kind = "riddle"'), "riddle"),
    "flag kind without its flag": (_toml_edit('kind = "labeler"', 'kind = "flag"'), "flag"),
}


@pytest.mark.parametrize("case", list(PROPOSALS), ids=list(PROPOSALS))
def test_bad_challenge_folders(base, dixit: Runner, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    league, good, keys = base
    monkeypatch.setenv("DIXIT_HOME", str(keys))
    edit, needle = PROPOSALS[case]
    folder = _challenge(tmp_path, good, edit)
    before = ledger_fingerprint(league.root)
    res = dixit("-C", league.root, "propose", "--team", "alice", folder)
    assert res.code == 1, res
    assert needle in res.err and len(res.err.strip().splitlines()) == 1, res.err
    assert "Traceback" not in res.err
    assert ledger_fingerprint(league.root) == before


NAMES = {"dotdot": "../x", "slash": "a/b", "control": "a\x07b", "huge": "x" * 10_000,
         "option": "--help-me", "unicode": "émile", "upper": "Alice", "empty": ""}


@pytest.mark.parametrize("name", list(NAMES.values()), ids=list(NAMES))
def test_bad_team_names(base, dixit: Runner, monkeypatch: pytest.MonkeyPatch,
                        name: str) -> None:
    league, _, keys = base
    monkeypatch.setenv("DIXIT_HOME", str(keys))
    before = ledger_fingerprint(league.root)
    for args in (["team", "add", name],
                 ["submit", "--team", name, "--challenge", "alice", EXAMPLES / "x.py"],
                 ["submit", "--team", "bob", "--challenge", name, EXAMPLES / "x.py"],
                 ["team", "rotate", name], ["team", "remove", name], ["team", "keygen", name],
                 ["inspect", name], ["show", name, "-o", "x.png"]):
        res = dixit("-C", league.root, *args)
        assert res.code in (1, 2), res
        assert "Traceback" not in res.err
        if res.code == 1:
            assert len(res.err.strip().splitlines()) == 1 and len(res.err) < 300, res.err
    assert ledger_fingerprint(league.root) == before


def _program(tmp: Path, data: bytes) -> Path:
    p = tmp / "prog.py"
    p.write_bytes(data)
    return p


PROGRAMS = {
    "missing file": (None, "not found"),
    "not utf-8": (b"def label(x):\n    return '\xff\xfe'\n", "not UTF-8"),
    "oversized": (b"def label(x):\n    return x\n" + b"#" * 300_000 + b"\n", "over the"),
    "no label": (b"def labels(x):\n    return x\n", "defines no label"),
    "syntax error": (b"def label(x) return 1\n", "not valid Python"),
    "null bytes": (b"def label(x):\n\x00    return x\n", "not valid Python"),
}


@pytest.mark.parametrize("case", list(PROGRAMS), ids=list(PROGRAMS))
def test_bad_programs(base, dixit: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                      case: str) -> None:
    league, _good, keys = base
    monkeypatch.setenv("DIXIT_HOME", str(keys))
    data, needle = PROGRAMS[case]
    prog = tmp_path / "missing.py" if data is None else _program(tmp_path, data)
    before = ledger_fingerprint(league.root)
    res = dixit("-C", league.root, "submit", "--team", "bob", "--challenge", "alice", prog)
    assert res.code == 1 and needle in res.err, res
    assert len(res.err.strip().splitlines()) == 1 and "Traceback" not in res.err
    assert ledger_fingerprint(league.root) == before


def test_repository_mid_merge_is_refused(base, dixit: Runner, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    league, _, keys = base
    monkeypatch.setenv("DIXIT_HOME", str(keys))
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(league.bare), str(clone))
    (Path(clone) / ".git" / "MERGE_HEAD").write_text(git(clone, "rev-parse", "HEAD") + "\n")
    before = ledger_fingerprint(clone)
    res = dixit("-C", clone, "submit", "--team", "bob", "--challenge", "alice",
                EXAMPLES / "programs" / "bob_for_alice.py")
    assert res.code == 1 and "middle of a git merge" in res.err
    assert ledger_fingerprint(clone) == before


def test_broken_ledger_file_is_reported_with_its_path(base, dixit: Runner, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    league, _, keys = base
    monkeypatch.setenv("DIXIT_HOME", str(keys))
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(league.bare), str(clone))
    git(clone, "remote", "remove", "origin")
    (clone / "teams" / "bob.toml").write_text('[team\nname = "bob"')
    git(clone, "commit", "-qam", "break bob")
    for cmd in (["status"], ["team", "list"], ["standings"]):
        res = dixit("-C", clone, *cmd)
        assert res.code == 1 and "teams/bob.toml" in res.err and "Traceback" not in res.err


def test_usage_errors(base, dixit: Runner) -> None:
    league, _, _ = base
    for args in (["round", "open", "--propose-by", "whenever"],
                 ["round", "open", "--propose-by", "+2h", "--submit-by", "+1h"],
                 ["challenge", "new", "x", "--labeler", "y.py"]):
        res = dixit("-C", league.root, *args)
        assert res.code == 2, (args, res)
        assert "Traceback" not in res.err


def test_unknown_round(base, dixit: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    league, _, keys = base
    monkeypatch.setenv("DIXIT_HOME", str(keys))
    res = dixit("-C", league.root, "score", "--round", "99")
    assert res.code == 1 and "round 99 does not exist" in res.err


def test_league_fixture_types(base) -> None:
    assert isinstance(base[0], League)


ADMIN = {
    "rotate to a malformed key": (["team", "rotate", "alice", "--key", "not-a-key"], 1, "key"),
    "rotate an unknown team": (["team", "rotate", "zed"], 1, "unknown team"),
    "reason over two lines": (["team", "remove", "bob", "--reason", "a\nb"], 2, "--reason"),
    "keygen over an existing key": (["team", "keygen", "alice"], 1, "already exists"),
    "import a file that is no state dict": (
        ["challenge", "import", "out", "--state-dict", EXAMPLES / "labelers" / "alice.py",
         "--arch", "mlp", "--labeler", EXAMPLES / "labelers" / "alice.py", "--domain",
         "grid:30x30"], 1, "alice.py"),
}


@pytest.mark.parametrize("case", list(ADMIN), ids=list(ADMIN))
def test_bad_key_and_model_commands(base, dixit: Runner, monkeypatch: pytest.MonkeyPatch,
                                    tmp_path: Path, case: str) -> None:
    league, _good, keys = base
    monkeypatch.setenv("DIXIT_HOME", str(keys))
    monkeypatch.chdir(tmp_path)
    args, code, needle = ADMIN[case]
    before = ledger_fingerprint(league.root)
    res = dixit("-C", league.root, *args)
    assert res.code == code and needle in res.err, res
    assert len(res.err.strip().splitlines()) == 1 and "Traceback" not in res.err, res.err
    assert ledger_fingerprint(league.root) == before
    assert not (tmp_path / "out").exists()
