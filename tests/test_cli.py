"""The command surface: help that teaches, fast start, clear errors and exit codes."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, Runner, git, ledger_fingerprint

COMMANDS = [[], ["init"], ["team"], ["team", "add"], ["team", "list"], ["team", "rotate"],
            ["team", "remove"], ["team", "keygen"], ["round", "open"], ["challenge", "new"],
            ["challenge", "import"], ["propose"], ["submit"], ["reveal"], ["score"],
            ["standings"], ["status"], ["verify"], ["doctor"], ["validate"], ["report"],
            ["inspect"], ["show"]]


def test_help_does_not_import_torch() -> None:
    code = ("import sys; from dixit.cli import run; rc = run(['--help']); "
            "print('TORCH' if 'torch' in sys.modules else 'NOTORCH', rc)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip().endswith("NOTORCH 0")


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c) or "dixit")
def test_every_command_explains_itself(dixit: Runner, cmd: list[str]) -> None:
    res = dixit(*cmd, "--help")
    assert res.code == 0
    assert "Usage: dixit" in res.out and len(res.out.splitlines()) > 4


@pytest.mark.parametrize("args", [["score", "--bogus"], ["submit", "x.py"], ["nope"],
                                  ["score", "--round", "0"]])
def test_usage_errors_exit_2(dixit: Runner, args: list[str]) -> None:
    assert dixit(*args).code == 2


def test_outside_a_tournament_is_one_clear_line(dixit: Runner, tmp_path: Path) -> None:
    res = dixit("-C", tmp_path, "status")
    assert res.code == 1
    assert res.err.strip().splitlines() == [
        f"error: {tmp_path} is not inside a dixit tournament (no tournament.toml); create one "
        "with `dixit init DIR --name NAME` or pass -C PATH"]


def test_init_leaves_nothing_behind_when_refused(dixit: Runner, tmp_path: Path) -> None:
    (tmp_path / "taken.git").mkdir()
    res = dixit("init", tmp_path / "t", "--name", "T", "--bare", tmp_path / "taken.git")
    assert res.code == 2 and "already exists" in res.err
    assert not (tmp_path / "t").exists()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep me")
    assert dixit("init", tmp_path / "full", "--name", "T").code == 2
    assert (tmp_path / "full" / "x").read_text() == "keep me"


def test_init_lays_out_the_tournament(dixit: Runner, tmp_path: Path) -> None:
    root = tmp_path / "t"
    data = dixit.ok("init", root, "--name", "League", "--json").json()
    for rel in ("tournament.toml", "scoring/rules.toml", "teams", "rounds"):
        assert (root / rel).exists()
    assert "proposer_unique" in (root / "scoring/rules.toml").read_text()
    assert "PRIVATE" not in (root / "tournament.toml").read_text()
    keys = Path(data["keys"])
    assert sorted(p.name for p in keys.iterdir()) == ["closer.key", "organizer.key"]
    assert git(root, "log", "--format=%s") == "init: tournament League"
    assert dixit.ok("-C", root, "team", "list", "--json").json() == {"teams": []}


def test_bad_models_are_refused_and_nothing_is_written(dixit: Runner, tmp_path: Path) -> None:
    root = tmp_path / "t"
    dixit.ok("init", root, "--name", "League")
    for t in ("alice", "bob"):
        dixit.ok("-C", root, "team", "add", t)
    dixit.ok("-C", root, "round", "open")
    out = tmp_path / "ch"
    dixit.ok("challenge", "new", out, "--labeler", EXAMPLES / "labelers" / "alice.py",
             "--domain", "grid:20x20", "--hidden", "8", "--steps", "5")
    before = ledger_fingerprint(root)

    class Evil:
        def __reduce__(self):  # would run a command if anyone unpickled it
            return (print, ("pwned",))

    (out / "model.safetensors").write_bytes(pickle.dumps(Evil()))
    res = dixit("-C", root, "propose", "--team", "alice", out)
    assert res.code == 1 and "not a readable safetensors file" in res.err
    assert "pwned" not in res.out + res.err
    (out / "model.safetensors").write_bytes(b"")
    assert dixit("-C", root, "propose", "--team", "alice", out).code == 1
    (out / "labeler.py").write_bytes(b"\xff\xfe not utf-8")
    res = dixit("-C", root, "propose", "--team", "alice", out)
    assert res.code == 1 and "not UTF-8" in res.err
    (out / "challenge.toml").write_text("[challenge\n")
    res = dixit("-C", root, "propose", "--team", "alice", out)
    assert res.code == 1 and "not valid TOML" in res.err
    assert ledger_fingerprint(root) == before


def test_weights_load_strictly_without_pickle(tmp_path: Path) -> None:
    import torch

    from dixit import models
    from dixit.errors import ChallengeError

    cfg = models.default_config("mlp", (2,), (10, 10), hidden=[4])
    m = models.build(cfg)
    models.save(m, cfg, tmp_path / "m.safetensors")
    loaded = models.load_weights(cfg, tmp_path / "m.safetensors")
    x = torch.tensor([[1, 2], [3, 4]])
    assert torch.equal(loaded(x), m.eval()(x))
    with pytest.raises(ChallengeError, match="expected"):
        models.load_weights({**cfg, "hidden": [5]}, tmp_path / "m.safetensors")
    with pytest.raises(ChallengeError, match="over the limit"):
        models.load_weights(cfg, tmp_path / "m.safetensors", max_bytes=10)


def test_no_code_path_unpickles_ledger_data() -> None:
    """Nothing unpickles, except one call: `dixit challenge import` reading the proposer's own
    state dict, on the proposer's machine, with torch.load(..., weights_only=True)."""
    import ast

    banned = {"torch.load", "torch.jit.load", "torch.export.load", "torch.serialization.load",
              "pickle.load", "pickle.loads", "pickle.Unpickler", "marshal.load",
              "marshal.loads", "numpy.load", "np.load"}
    found: list[tuple[str, str, ast.Call]] = []
    for path in sorted((Path(__file__).parent.parent / "dixit").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        owner: dict[ast.AST, str] = {}  # node -> name of its innermost enclosing function
        stack: list[tuple[ast.AST, str]] = [(tree, "<module>")]
        while stack:
            parent, func = stack.pop()
            for child in ast.iter_child_nodes(parent):
                owner[child] = func
                stack.append((child, child.name if isinstance(
                    child, ast.FunctionDef | ast.AsyncFunctionDef) else func))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):  # no alias that hides a load
                names = [a.name for a in node.names]
                mod = node.module if isinstance(node, ast.ImportFrom) else None
                assert "pickle" not in names and "marshal" not in names, path
                assert mod not in ("pickle", "marshal", "torch.serialization"), path
                assert not (mod == "torch" and "load" in names), path
            if isinstance(node, ast.Call) and ast.unparse(node.func) in banned:
                found.append((path.name, owner[node], node))
    sites = [(f, fn, ast.unparse(c.func)) for f, fn, c in found]
    assert sites == [("importing.py", "load_state_dict_file", "torch.load")]
    kwargs = {k.arg: k.value for k in found[0][2].keywords}
    assert isinstance(kwargs.get("weights_only"), ast.Constant)
    assert kwargs["weights_only"].value is True
    assert ast.unparse(kwargs["map_location"]) == "'cpu'"
