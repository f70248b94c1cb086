"""Sealed held-out evaluation data, through the CLI: a dataset challenge commits to a hidden
evaluation set (sealed and escrowed at propose, revealed at the close) and is judged on it, so
a table of the published model's outputs on the public dataset does not solve it and the exact
labeler does; `dixit verify` re-derives it and catches a tampered reveal; bad held-out files
are refused at `challenge new`; a pull request cannot add or change a held-out escrow."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from dixit.ledger import state as st
from dixit.ledger.store import Ledger
from tests.conftest import League, Runner, git, ledger_fingerprint, make_league, program, scoped_env
from tests.ledgers import commit_files

DATASET = "scoring/data/pixels.safetensors"
LABELER = "import torch\n\ndef label(x):\n    return (x[:, 0, 0] > 127).long()\n"
ALICE = "rounds/001/challenges/alice"


def _images(rows: int, seed: int, shape: tuple[int, ...] = (4, 4)):
    import torch

    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (rows, *shape), generator=gen, dtype=torch.uint8)


def _save(path: Path, **tensors) -> Path:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path))
    return path


def _table(public) -> str:
    """A program holding the labeler's own answers (better than the model's) on every public
    row, and 0 elsewhere: all a team could tabulate before the close."""
    import torch

    labels = (public[:, 0, 0] > 127).long()
    table = {bytes(r.numpy().tobytes()).hex(): int(v) for r, v in zip(public, labels,
                                                                        strict=True)}
    return ("import torch\n\nTABLE = " + repr(table) + "\n\ndef label(x):\n"
            "    return torch.tensor([TABLE.get(bytes(r.numpy().tobytes()).hex(), 0) "
            "for r in x], dtype=torch.long)\n") if torch else ""


def _league_with_data(base: Path, dixit: Runner, teams: tuple[str, ...]) -> League:
    league = make_league(base, dixit, teams)
    _save(league.root / DATASET, inputs=_images(400, 1))
    git(league.root, "add", DATASET)
    git(league.root, "commit", "-q", "-m", "data: pixels")
    git(league.root, "push", "-q", "origin", "main")
    for clone in league.clones.values():
        git(clone, "pull", "-q", "--ff-only")
    dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
    return league


def _new(dixit: Runner, league: League, team: str, out: Path, *extra: str | Path):
    return dixit("-C", league.clone(team), "challenge", "new", out, "--labeler",
                 program(out.parent, f"lab_{team}", LABELER), "--domain", f"dataset:{DATASET}",
                 "--hidden", "16", "--steps", "150", *extra)


@pytest.fixture(scope="module")
def held(tmp_path_factory: pytest.TempPathFactory, dixit: Runner):
    base = tmp_path_factory.mktemp("heldout")
    with scoped_env(base):
        league = _league_with_data(base, dixit, ("alice", "bob", "carol"))
        plain = _save(base / "held.safetensors", inputs=_images(300, 2)).read_bytes()
        out = base / "work" / "alice"
        out.parent.mkdir(parents=True)
        res = _new(dixit, league, "alice", out, "--heldout", base / "held.safetensors")
        assert res.code == 0, res.err
        dixit.ok("-C", league.clone("alice"), "propose", "--team", "alice", out)
        git(league.root, "pull", "-q", "--ff-only")
        before = {"files": git(league.root, "ls-files").split("\n"),
                  "escrow": (league.root / ALICE / "heldout.escrow").read_bytes(),
                  "state": st.load(Ledger(league.root).snapshot())}
        public = _images(400, 1)
        dixit.ok("-C", league.clone("bob"), "submit", "--team", "bob", "--challenge", "alice",
                 program(base, "exact", LABELER))
        dixit.ok("-C", league.clone("carol"), "submit", "--team", "carol", "--challenge",
                 "alice", program(base, "table", _table(public)))
        # the close's private scratch root for revealed held-out sets goes under base/tmp
        scratch, tempfile.tempdir = tempfile.tempdir, str(base / "tmp")
        (base / "tmp").mkdir()
        try:
            results = dixit.ok("-C", league.root, "score", "--force", "--json").json()
        finally:
            tempfile.tempdir = scratch
        git(league.root, "pull", "-q", "--ff-only")
        yield league, results, before, plain, base


def _alice(results: dict) -> tuple[dict, dict]:
    ch = next(c for c in results["challenges"] if c["proposer"] == "alice")
    return ch, {s["team"]: s for s in ch["submissions"]}


def test_judged_on_the_held_out_set(held) -> None:
    """A table of the public dataset does not solve it; the exact labeler does."""
    _league, results, _before, _plain, _base = held
    ch, subs = _alice(results)
    assert ch["void"] is None
    assert (ch["judged_on"], ch["heldout_rows"]) == ("heldout", 300)
    assert subs["bob"]["score"] == 1.0 and subs["bob"]["solved"]
    # on public rows the table is perfect; on the unseen held-out rows it guesses 0
    assert subs["carol"]["error"] is None and not subs["carol"]["solved"]
    assert subs["carol"]["score"] < 0.7
    assert ch["solved_by"] == ["bob"]
    # the model is measured on the held-out rows too (all of them unseen by it)
    assert 0.5 < ch["model_accuracy"] <= 1.0
    assert ch["model_accuracy"] == ch["model_agreement"]


def test_held_out_set_is_sealed_until_the_close(held) -> None:
    league, _results, before, plain, base = held
    held_seal = before["state"].rounds[1].challenges["alice"].meta["heldout"]
    assert held_seal["rows"] == 300 and held_seal["payload_bytes"] == len(plain)
    assert set(held_seal) == {"rows", "commitment", "scheme", "payload_bytes", "escrow_sha256"}
    # before the close: only the escrow, whose bytes are not the plaintext's
    assert f"{ALICE}/heldout.escrow" in before["files"]
    assert not [f for f in before["files"] if f.endswith("heldout.safetensors")]
    assert plain not in before["escrow"] and plain[-64:] not in before["escrow"]
    for path in before["files"]:
        if (league.root / path).is_file() and path.startswith("rounds/"):
            assert plain[-64:] not in (league.root / path).read_bytes(), path
    # after: revealed by the closer, byte for byte
    assert (league.root / "rounds/001/reveals/alice/heldout.safetensors").read_bytes() == plain
    assert (league.root / "rounds/001/reveals/alice/heldout.toml").is_file()
    # no scratch copy of the revealed set is left behind
    assert (base / "tmp").is_dir() and not list((base / "tmp").glob("dixit-heldout-*"))


def test_verify_rederives_and_catches_a_tampered_held_out_set(held, dixit: Runner,
                                                             tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    league, _results, _before, _plain, base = held
    monkeypatch.setenv("DIXIT_HOME", str(base / "keys"))
    rep = dixit.ok("-C", league.root, "verify", "--json").json()
    assert rep["ok"], rep["problems"]
    copy = tmp_path / "copy"
    shutil.copytree(league.root, copy, symlinks=True)
    other = _save(tmp_path / "other.safetensors", inputs=_images(300, 9)).read_bytes()
    commit_files(copy, {"rounds/001/reveals/alice/heldout.safetensors": other}, "tamper")
    rep = dixit("-C", copy, "verify", "--json").json()
    assert not rep["ok"]
    assert "rounds/001/reveals/alice/heldout: alice's held-out set: revealed content does not " \
        "match its seal" in rep["problems"], rep["problems"]


def test_a_bad_held_out_file_is_refused(held, dixit: Runner, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    league, _results, _before, _plain, base = held
    monkeypatch.setenv("DIXIT_HOME", str(base / "keys"))
    shaped = _save(tmp_path / "shaped.safetensors", inputs=_images(10, 3, (5, 4)))
    floats = _save(tmp_path / "floats.safetensors", inputs=_images(10, 3).float())
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x80\x04not a safetensors file")
    link = tmp_path / "link.safetensors"
    os.symlink(base / "held.safetensors", link)
    for path, needle in [
        (shaped, f"held-out set {shaped}: its inputs are 10 torch.uint8 rows of shape (5, 4); "
                 "the public dataset's rows are torch.uint8 of shape (4, 4) (at least one)"),
        (floats, f"held-out set {floats}: its inputs are 10 torch.float32 rows of shape "
                 "(4, 4); the public dataset's rows are torch.uint8"),
        (junk, f"held-out set {junk} is not a safetensors file"),
        (link, f"held-out set {link}: a symbolic link is on the path (links are never "
               "followed)"),
        (tmp_path / "none.safetensors", f"held-out set {tmp_path / 'none.safetensors'} not "
                                         "found"),
    ]:
        fp = ledger_fingerprint(league.clone("alice"))
        res = _new(dixit, league, "alice", tmp_path / f"out-{path.stem}", "--heldout", path)
        lines = res.err.strip().splitlines()
        assert res.code == 1 and len(lines) == 1 and lines[0].startswith("error: "), res.err
        assert needle in lines[0], lines[0]
        assert not (tmp_path / f"out-{path.stem}").exists()
        assert ledger_fingerprint(league.clone("alice")) == fp
    # a held-out set is for a dataset domain only
    res = dixit("challenge", "new", tmp_path / "grid", "--labeler",
                program(tmp_path, "g", "def label(x):\n    return x[:, 0] % 2\n"),
                "--domain", "grid:8x8", "--heldout", base / "held.safetensors")
    assert res.code == 1 and "a sealed held-out set (--heldout) is for a dataset:PATH " \
        "domain, not 'grid:8x8'" in res.err


def test_emulate_on_a_dataset_needs_a_held_out_set(held, dixit: Runner, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    league, _results, _before, _plain, base = held
    monkeypatch.setenv("DIXIT_HOME", str(base / "keys"))
    res = _new(dixit, league, "alice", tmp_path / "emu", "--kind", "emulate")
    assert res.code == 1
    assert f"not 'dataset:{DATASET}', which anyone can enumerate; or a dataset:PATH domain " \
        "with a sealed held-out set (--heldout)" in res.err
    res = _new(dixit, league, "alice", tmp_path / "emu2", "--kind", "emulate", "--steps", "5",
               "--heldout", base / "held.safetensors")
    assert res.code == 0, res.err
    assert (tmp_path / "emu2" / "heldout.safetensors").read_bytes() == \
        (base / "held.safetensors").read_bytes()


@pytest.fixture
def pr(tmp_path: Path, dixit: Runner, monkeypatch: pytest.MonkeyPatch):
    """carol's clone does not push: her proposals are a pull request against upstream/main."""
    monkeypatch.setenv("DIXIT_HOME", str(tmp_path / "keys"))
    league = _league_with_data(tmp_path, dixit, ("alice", "carol"))
    _save(tmp_path / "held.safetensors", inputs=_images(50, 2))
    carol = league.clone("carol")
    git(carol, "pull", "-q", "--ff-only")
    git(carol, "remote", "rename", "origin", "upstream")
    folders = {}
    for name, extra in (("with", ("--heldout", tmp_path / "held.safetensors")), ("plain", ())):
        folders[name] = tmp_path / "work" / name
        folders[name].parent.mkdir(exist_ok=True)
        res = _new(dixit, league, "carol", folders[name], "--steps", "5", *extra)
        assert res.code == 0, res.err
    return carol, folders


CAROL = "rounds/001/challenges/carol"


def _validate(dixit: Runner, clone: Path) -> list[str]:
    res = dixit("-C", clone, "validate", "--base", "upstream/main", "--json")
    assert res.code == 1, res.out
    return res.json()["problems"]


def test_validate_refuses_a_held_out_escrow_it_should_not_hold(pr, dixit: Runner) -> None:
    carol, folders = pr
    dixit.ok("-C", carol, "propose", "--team", "carol", folders["with"])
    assert dixit("-C", carol, "validate", "--base", "upstream/main").code == 0
    escrow = (carol / CAROL / "heldout.escrow").read_bytes()
    # another held-out escrow than the one sealed in the entry
    commit_files(carol, {f"{CAROL}/heldout.escrow": escrow[:-1] + bytes([escrow[-1] ^ 1])},
                 "swap")
    assert _validate(dixit, carol) == [
        f"{CAROL}/heldout.escrow: does not match the hash sealed in {CAROL}/challenge.toml"]
    # no held-out escrow at all, for an entry that seals a held-out set
    commit_files(carol, {f"{CAROL}/heldout.escrow": None}, "drop")
    assert _validate(dixit, carol) == [
        f"{CAROL}/challenge.toml: its heldout.escrow is missing (this tournament escrows every "
        "secret to the closer)"]
    # a held-out escrow beside an entry that seals none
    git(carol, "reset", "-q", "--hard", "upstream/main")
    dixit.ok("-C", carol, "propose", "--team", "carol", folders["plain"])
    commit_files(carol, {f"{CAROL}/heldout.escrow": escrow}, "sneak")
    assert _validate(dixit, carol) == [
        f"{CAROL}/heldout.escrow: its challenge entry seals no held-out set"]
    # and `dixit verify` names it too
    rep = dixit("-C", carol, "verify", "--json").json()
    assert f"{CAROL}/heldout.escrow: its challenge entry seals no held-out set" in \
        rep["problems"], rep["problems"]
