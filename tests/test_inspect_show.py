"""`dixit inspect` and `dixit show` on a real tournament, through the CLI."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import toml

from dixit.views import pictures
from tests.conftest import League, Runner, copytree, git, make_league, program, scoped_env

PNG = b"\x89PNG\r\n\x1a\n"
DISC = ("import torch\n\n\ndef label(x):\n"
        "    return (((x[:, 0] - 6) ** 2 + (x[:, 1] - 5) ** 2) < 16).long()\n")
HALF = "def label(x):\n    return (x[:, 0] > x[:, 1]).long()\n"
TOKENS = "def label(x):\n    return (x[:, 0] == x[:, 1]).long()\n"
MLP_8_8 = (2 * 8 + 8) + (8 * 8 + 8) + (8 * 2 + 2)  # grid inputs, hidden 8,8, two classes


@dataclass
class Played:
    league: League
    closed: Path      # a standalone clone in which the round is closed
    tokens: Path      # a local challenge folder on a non-grid domain
    marker: Path      # bob's program writes it if it ever runs outside the sandbox


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory, dixit: Runner) -> Iterator[Played]:
    """alice and bob propose tiny grid:12x12 challenges and bob submits for alice; the round
    stays open in the league and is closed in a separate clone."""
    base = tmp_path_factory.mktemp("inspect")
    with scoped_env(base):
        league = make_league(base, dixit, teams=("alice", "bob"))
        dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by",
                 "+2h")
        for team, body in (("alice", DISC), ("bob", HALF)):
            dixit.ok("challenge", "new", league.work / team, "--labeler",
                     program(base, f"{team}_labeler", body), "--domain", "grid:12x12",
                     "--hidden", "8,8", "--steps", "30")
            dixit.ok("-C", league.clone(team), "propose", "--team", team, league.work / team)
        marker = base / "ran-outside-the-sandbox"
        escape = f"try:\n    open({str(marker)!r}, 'w').write('x')\nexcept OSError:\n    pass\n"
        dixit.ok("-C", league.clone("bob"), "submit", "--team", "bob", "--challenge", "alice",
                 program(base, "bob_for_alice", escape + DISC))
        tokens = league.work / "tokens"
        dixit.ok("challenge", "new", tokens, "--labeler", program(base, "tok", TOKENS),
                 "--domain", "tokens:3x3", "--hidden", "4", "--steps", "5")
        # Close the round in a clone cut off from the shared remote, so the open round above
        # stays open for the tests of the time before the reveal.
        closed = base / "closed"
        git(base, "clone", "-q", str(league.bare), str(closed))
        git(closed, "remote", "remove", "origin")
        dixit.ok("-C", closed, "score", "--force")
        yield Played(league, closed, tokens, marker)


def _one_line_error(res: object, *needles: str) -> None:
    assert res.code == 1, (res.code, res.out, res.err)  # type: ignore[attr-defined]
    lines = res.err.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.err  # type: ignore
    for needle in needles:
        assert needle in lines[0], lines[0]


def _safetensors_numel(path: Path) -> int:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        total = 0
        for key in f.keys():
            n = 1
            for d in f.get_slice(key).get_shape():
                n *= d
            total += n
    return total


def _png_panels(path: Path) -> tuple[int, int]:
    """(width, height) of a written PNG, decoded."""
    import matplotlib.image

    data = path.read_bytes()
    assert data[:8] == PNG and len(data) > 1000
    pixels = matplotlib.image.imread(str(path))
    return pixels.shape[1], pixels.shape[0]


def _assert_panels(path: Path, n: int) -> None:
    width, height = _png_panels(path)
    dpi = pictures.DPI
    # Each panel is exactly PANEL_WIDTH wide; the height grows only by the note lines.
    base = pictures.PANEL_HEIGHT + pictures.LEGEND_HEIGHT  # the panels and their legend
    assert abs(width - n * pictures.PANEL_WIDTH * dpi) <= 2, (width, n)
    assert base * dpi - 2 <= height <= (base + 0.8) * dpi
    ratio = width / height
    per_panel = pictures.PANEL_WIDTH / base
    assert n * per_panel * 0.75 < ratio <= n * per_panel * 1.01, (ratio, n)


# -- inspect ------------------------------------------------------------------------------------


def test_inspect_by_team_name(played: Played, dixit: Runner) -> None:
    clone = played.league.clone("bob")
    doc = dixit.ok("-C", clone, "inspect", "alice", "--json").json()
    sealed = toml.loads((clone / "rounds/001/challenges/alice/challenge.toml").read_text())
    assert (doc["source"], doc["team"], doc["round"], doc["phase"]) == \
        ("ledger", "alice", 1, "proposing")
    assert doc["kind"] == "labeler" and doc["architecture"]["arch"] == "mlp"
    assert doc["architecture"]["config"]["hidden"] == [8, 8]
    params = doc["parameters"]
    model = clone / "rounds/001/challenges/alice/model.safetensors"
    assert params["total"] == sum(t["numel"] for t in params["tensors"]) == MLP_8_8
    assert params["total"] == _safetensors_numel(model) == sum(params["modules"].values())
    assert doc["domain"] | {"input_shape": None} == {
        "spec": "grid:12x12", "kind": "grid", "size": 144, "input_shape": None, "grid2d": True,
        "identity": sealed["seal"]["domain_id"], "error": None}
    assert doc["accuracy"]["claimed"] == sealed["challenge"]["claimed_accuracy"]
    assert doc["accuracy"]["train_frac"] == 0.5 and doc["accuracy"]["seed"] == 0
    assert doc["model"]["loads"] and doc["model"]["sha256"] == sealed["seal"]["model_sha256"]
    seal = doc["seal"]
    assert seal["status"] == "ok" and seal["commitment"] == sealed["seal"]["commitment"]
    assert (seal["model"], seal["model_file"], seal["domain"], seal["escrow"]) == ("ok",) * 4
    assert seal["escrowed"] is True and seal["revealed"] is False and seal["reveal"] is None
    assert doc["results"] is None and doc["problems"] == []
    assert Path(doc["files"]["model"]) == model and Path(doc["files"]["escrow"]).is_file()
    assert doc["files"]["secret"] is None  # a ledger challenge's labeler is sealed

    human = dixit.ok("-C", clone, "inspect", "alice").out
    for text in ("alice's challenge, round 001", "parameters", f"{MLP_8_8}", "grid:12x12",
                 "seal", "ok", "not yet", "escrow", "files"):
        assert text in human, text
    assert "mismatch" not in human


def test_inspect_local_and_ledger_folders(played: Played, dixit: Runner) -> None:
    folder = played.league.work / "alice"
    doc = dixit.ok("inspect", folder, "--json").json()
    assert (doc["source"], doc["team"], doc["round"], doc["seal"]) == ("local", None, None, None)
    assert doc["parameters"]["total"] == MLP_8_8 == _safetensors_numel(folder /
                                                                        "model.safetensors")
    assert Path(doc["files"]["secret"]) == (folder / "labeler.py").resolve()
    assert doc["problems"] == []
    assert "not proposed" in dixit.ok("inspect", folder).out

    entry = played.league.clone("bob") / "rounds" / "001" / "challenges" / "bob"
    doc = dixit.ok("inspect", entry, "--json").json()
    assert (doc["source"], doc["team"], doc["round"]) == ("ledger", "bob", 1)
    assert doc["seal"]["status"] == "ok"


def test_inspect_sees_a_tampered_model_file(played: Played, dixit: Runner,
                                            tmp_path: Path) -> None:
    clone = copytree(played.league.clone("bob"), tmp_path / "bob")
    model = clone / "rounds/001/challenges/alice/model.safetensors"
    data = bytearray(model.read_bytes())
    data[-1] ^= 0x01  # one bit of the last weight: still a loadable model
    model.write_bytes(bytes(data))
    res = dixit("-C", clone, "inspect", "alice", "--json")
    assert res.code == 1  # a failed check
    doc = res.json()
    seal = doc["seal"]
    assert seal["status"] == "mismatch" and seal["model_file"] == "mismatch"
    assert seal["model"] == "ok"  # the committed model is untouched
    assert any("model file" in p and "model_sha256" in p for p in doc["problems"])
    human = dixit("-C", clone, "inspect", "alice")
    assert human.code == 1 and "mismatch" in human.out
    assert "does not match the sealed model_sha256" in human.out


def test_inspect_after_the_close(played: Played, dixit: Runner) -> None:
    doc = dixit.ok("-C", played.closed, "inspect", "alice", "--json").json()
    results = dixit.ok("-C", played.closed, "score", "--json").json()  # already closed
    ours = next(c for c in results["challenges"] if c["proposer"] == "alice")
    assert doc["phase"] == "closed" and doc["seal"]["status"] == "ok"
    assert doc["seal"]["revealed"] is True and doc["seal"]["revealed_by"] == "closer"
    assert doc["seal"]["reveal"] == "ok" and Path(doc["files"]["reveal"]).is_file()
    assert doc["results"]["model_accuracy"] == ours["model_accuracy"]
    assert doc["results"]["claim_flagged"] is ours["claim_flagged"] is False
    assert doc["results"]["solved_by"] == ["bob"]
    assert "measured" in dixit.ok("-C", played.closed, "inspect", "alice").out


def test_unknown_team_and_missing_things_are_one_line(played: Played, dixit: Runner,
                                                     tmp_path: Path) -> None:
    clone = played.league.clone("alice")
    _one_line_error(dixit("-C", clone, "inspect", "zed"), "unknown team 'zed'")
    _one_line_error(dixit("-C", clone, "show", "zed", "-o", tmp_path / "z.png"),
                    "unknown team 'zed'")
    _one_line_error(dixit("-C", clone, "inspect", "alice", "--round", "7"), "round 7")
    _one_line_error(dixit("inspect", tmp_path / "nowhere"), "no challenge folder")
    _one_line_error(dixit("-C", clone, "show", "alice", "--submission", "zed", "-o",
                          tmp_path / "z.png"), "unknown team 'zed'")
    _one_line_error(dixit("-C", clone, "show", "bob", "--submission", "alice", "-o",
                          tmp_path / "z.png"), "submitted no program")
    assert not (tmp_path / "z.png").exists()


# -- show ---------------------------------------------------------------------------------------


def test_show_local_folder(played: Played, dixit: Runner, tmp_path: Path) -> None:
    out = tmp_path / "maps" / "alice.png"
    data = dixit.ok("show", played.league.work / "alice", "-o", out, "--json").json()
    assert [p["title"] for p in data["panels"]] == ["labeler (the truth)", "model"]
    assert data["panels"][0]["agreement"] == 1.0 and data["notes"] == []
    assert 0.0 <= data["panels"][1]["agreement"] <= 1.0
    _assert_panels(out, 2)
    assert out.stat().st_mode & 0o777 == 0o644
    human = dixit.ok("show", played.league.work / "alice", "-o", out)
    assert f"wrote {out}" in human.err


def test_show_before_the_reveal_draws_the_model_only(played: Played, dixit: Runner,
                                                     tmp_path: Path) -> None:
    clone = played.league.clone("bob")
    out = tmp_path / "alice.png"
    data = dixit.ok("-C", clone, "show", "alice", "--submission", "bob", "-o", out,
                    "--json").json()
    assert [p["title"] for p in data["panels"]] == ["published model"]
    assert data["panels"][0]["agreement"] is None  # nothing to compare with yet
    assert any("alice's labeler is not revealed yet" in n for n in data["notes"])
    assert any("bob's program is not revealed yet" in n for n in data["notes"])
    _assert_panels(out, 1)
    human = dixit.ok("-C", clone, "show", "alice", "-o", out)
    assert "note: alice's labeler is not revealed yet" in human.err


def test_show_after_the_close_with_a_submission(played: Played, dixit: Runner,
                                                tmp_path: Path) -> None:
    out = tmp_path / "alice.png"
    data = dixit.ok("-C", played.closed, "show", "alice", "--submission", "bob", "-o", out,
                    "--json").json()
    assert [p["title"] for p in data["panels"]] == \
        ["labeler (the truth)", "published model", "bob's program"]
    results = dixit.ok("-C", played.closed, "score", "--json").json()  # already closed
    alice = next(c for c in results["challenges"] if c["proposer"] == "alice")
    agreements = [p["agreement"] for p in data["panels"]]
    assert agreements[0] == 1.0 and agreements[2] == 1.0  # bob's program is the labeler
    assert 0.0 <= agreements[1] <= 1.0 and data["notes"] == []
    assert alice["submissions"][0]["agreement"] == 1.0
    _assert_panels(out, 3)
    assert not played.marker.exists()  # bob's revealed program ran only in the sandbox
    data = dixit.ok("-C", played.closed, "show", "bob", "-o", out, "--json").json()
    assert len(data["panels"]) == 2
    _assert_panels(out, 2)


def test_show_draws_other_domains_per_class(played: Played, dixit: Runner,
                                            tmp_path: Path) -> None:
    out = tmp_path / "tokens.png"
    data = dixit.ok("show", played.tokens, "-o", out, "--json").json()
    assert data["picture"] == "classes" and data["domain"] == "tokens:3x3"
    assert [p["title"] for p in data["panels"]] == ["labeler (the truth)", "model"]
    assert data["panels"][0]["agreement"] == 1.0 and 0 <= data["panels"][1]["agreement"] <= 1
    assert out.read_bytes()[:8] == PNG
    doc = dixit.ok("inspect", played.tokens, "--json").json()  # inspect works on any domain
    assert doc["domain"]["grid2d"] is False and doc["domain"]["size"] == 27


SEQ_LABELER = "import torch\n\ndef label(x):\n    return torch.cummax(x, dim=1).values\n"
CORNER = ("import torch\n\ndef label(x):\n"
          "    return (x[:, :2, :2].float().mean(dim=(1, 2)) > 127).long()\n")


def test_show_draws_a_sequence_challenge_per_position(dixit: Runner, tmp_path: Path) -> None:
    folder = tmp_path / "seq"
    dixit.ok("challenge", "new", folder, "--labeler", program(tmp_path, "lab", SEQ_LABELER),
             "--domain", "tokens:4x5", "--output", "sequence:4", "--arch", "transformer",
             "--set", "d_model=16", "--heads", "2", "--d-mlp", "32", "--steps", "20",
             "--train-frac", "1.0")  # its training accuracy is then over every input
    out = tmp_path / "seq.png"
    data = dixit.ok("show", folder, "-o", out, "--json").json()
    assert data["picture"] == "positions"
    claimed = toml.loads((folder / "challenge.toml").read_text())["challenge"]
    model = data["panels"][1]
    assert model["title"] == "model" and model["against"] == "labeler (the truth)"
    assert model["agreement"] == pytest.approx(claimed["train_accuracy"], abs=1e-6)
    width, height = _png_panels(out)
    assert width == round(pictures.CHART_WIDTH * pictures.DPI)
    assert height == round(pictures.CHART_HEIGHT * pictures.DPI)


def test_show_draws_an_image_challenge_as_sample_inputs(dixit: Runner, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    root = tmp_path / "league"
    dixit.ok("init", root, "--name", "Images")
    gen = torch.Generator().manual_seed(7)  # synthetic 8x8 grey images, made here
    (root / "scoring/data").mkdir(parents=True, exist_ok=True)
    save_file({"inputs": torch.randint(0, 256, (96, 8, 8), generator=gen, dtype=torch.uint8)},
              str(root / "scoring/data/tiny.safetensors"))
    folder = root / "work" / "corner"
    dixit.ok("-C", root, "challenge", "new", folder, "--labeler",
             program(tmp_path, "corner", CORNER), "--domain",
             "dataset:scoring/data/tiny.safetensors", "--arch", "cnn", "--channels", "4",
             "--hidden", "8", "--steps", "5")
    out = tmp_path / "images.png"
    data = dixit.ok("show", folder, "-o", out, "--json").json()
    assert data["picture"] == "images"
    assert [p["title"] for p in data["panels"]] == ["labeler (the truth)", "model"]
    width, height = _png_panels(out)
    assert width == round(6 * pictures.CELL_WIDTH * pictures.DPI)  # 6 samples a row
    assert height > 4 * pictures.CELL_IMAGE * pictures.DPI          # 4 rows


def test_show_without_matplotlib_says_what_to_install(played: Played, dixit: Runner,
                                                      tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    for mod in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, mod, None)
    _one_line_error(dixit("show", played.league.work / "alice", "-o", tmp_path / "a.png"),
                    "matplotlib", "dixit[plots]")
