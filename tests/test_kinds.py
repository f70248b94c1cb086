"""One round with every challenge kind (labeler, emulate, flag) and every domain (2-D and 3-D
grids, token sequences, a dataset of images), through `dixit score` and `dixit verify`."""

from __future__ import annotations

from pathlib import Path

import pytest
import toml

from dixit import models
from dixit.data import domains
from dixit.ledger import state as st
from dixit.ledger.store import Ledger
from tests.conftest import Runner, git, make_league, program, scoped_env, ship_dataset

LABELERS = {
    "alice": "import torch\n\ndef label(x):\n    return (x[:, 0] > x[:, 1]).long()\n",
    "bob": "import torch\n\ndef label(x):\n    return (x[:, 0] > x[:, 3]).long()\n",
    "carol": "import torch\n\ndef label(x):\n"
             "    return (x[:, :2, :2].float().mean(dim=(1, 2)) > 127).long()\n",
    "dave": "import torch\n\ndef label(x):\n    return (2 * x[:, 0] + x[:, 2] > 6).long()\n",
}
FLAG = "Bright top-left corner"
DATASET = "scoring/data/tiny.safetensors"
EMULATE = "tokens:5x16:2000"  # 5^16 sequences: judged on 2,000 drawn after submit-by

# A faithful reimplementation of a published model: its weights, recomputed (emulate asks
# for exactly this: reproduce what the model does).
FAITHFUL = """import base64, json
import torch
from safetensors.torch import load
CFG = json.loads({cfg!r})
W = load(base64.b64decode({weights!r}))
R = CFG["input_ranges"]  # per input column, else inputs are taken as they are
SCALE = torch.tensor([max(r - 1, 1) for r in R], dtype=torch.float32)


def label(x):  # the mlp, layer by layer (programs cannot import dixit: it is the ledger's)
    h = x.reshape(x.shape[0], -1).float()
    h = h / SCALE * 2 - 1 if len(R) == CFG["in_features"] else h
    n = len(CFG["hidden"])
    for i in range(n + 1):
        h = h @ W[f"net.{{2 * i}}.weight"].T + W[f"net.{{2 * i}}.bias"]
        h = h.relu() if i < n else h
    return h.argmax(-1)
"""
# A table of the model's outputs on the public sample, 0 elsewhere: no understanding at all.
TABLE = """import torch
T = {table!r}


def label(x):
    return torch.tensor([T.get("".join(map(str, r)), 0) for r in x.tolist()])
"""


def _faithful(folder: Path, base: Path) -> Path:
    import base64
    import json

    cfg = models.load_config(folder)
    weights = base64.b64encode((folder / "model.safetensors").read_bytes()).decode()
    return program(base, "faithful", FAITHFUL.format(cfg=json.dumps(cfg), weights=weights))


def _table(folder: Path, base: Path) -> Path:
    import torch

    x = domains.parse(EMULATE, seed=0).all()  # the public sample (challenge seed 0)
    with torch.no_grad():
        preds = models.load(folder)(x).argmax(-1).tolist()
    table = {"".join(map(str, r)): p for r, p in zip(x.tolist(), preds, strict=True)}
    return program(base, "table", TABLE.format(table=table))


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory, dixit: Runner):
    base = tmp_path_factory.mktemp("kinds")
    with scoped_env(base):
        league = make_league(base, dixit, ("alice", "bob", "carol", "dave"))
        import torch

        gen = torch.Generator().manual_seed(7)  # small synthetic 8x8 grey images, made here
        ship_dataset(league, DATASET,  # the organizer ships the shared evaluation data
                     torch.randint(0, 256, (96, 8, 8), generator=gen, dtype=torch.uint8))
        dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by",
                 "+2h")
        specs = {
            "alice": ["--domain", "grid:24x24", "--steps", "300"],
            "bob": ["--domain", EMULATE, "--kind", "emulate", "--train-frac", "1.0",
                    "--hidden", "32,32", "--steps", "300"],
            "carol": ["--domain", f"dataset:{DATASET}", "--arch", "cnn", "--kind", "flag",
                      "--flag", FLAG, "--steps", "60"],
            "dave": ["--domain", "grid:4x5x6", "--steps", "300"],
        }
        for team, args in specs.items():
            lab = program(base, f"lab_{team}", LABELERS[team])
            out = base / "work" / team
            dixit.ok("-C", league.clone(team), "challenge", "new", out, "--labeler", lab,
                     *args)
            dixit.ok("-C", league.clone(team), "propose", "--team", team, out)
        guess_right = base / "guess_right.txt"
        guess_right.write_text("  bright TOP-LEFT\tcorner \n")
        guess_wrong = base / "guess_wrong.txt"
        guess_wrong.write_text("dark corner\n")
        wrong = program(base, "wrong", "import torch\n\ndef label(x):\n"
                        "    return torch.zeros(x.shape[0], dtype=torch.long)\n")
        for solver, target, prog in [
            ("bob", "alice", program(base, "p_alice", LABELERS["alice"])),
            ("carol", "alice", wrong),
            ("alice", "bob", program(base, "p_bob", LABELERS["bob"])),
            ("dave", "bob", _table(base / "work" / "bob", base)),
            ("carol", "bob", _faithful(base / "work" / "bob", base)),
            ("alice", "carol", guess_right),
            ("bob", "carol", guess_wrong),
            ("carol", "dave", program(base, "p_dave", LABELERS["dave"])),
        ]:
            dixit.ok("-C", league.clone(solver), "submit", "--team", solver, "--challenge",
                     target, prog)
        results = dixit.ok("-C", league.root, "score", "--force", "--json").json()
        yield league, results, base


def test_every_kind_and_domain_scores(mixed) -> None:
    _league, results, _base = mixed
    by = {c["proposer"]: c for c in results["challenges"]}
    assert {p: c["kind"] for p, c in by.items()} == {
        "alice": "labeler", "bob": "emulate", "carol": "flag", "dave": "labeler"}
    assert by["alice"]["solved_by"] == ["bob"]
    assert by["dave"]["solved_by"] == ["carol"]
    assert by["carol"]["solved_by"] == ["alice"]  # normalized: case, spaces, tab, newline
    guesses = {s["team"]: s for s in by["carol"]["submissions"]}
    assert (guesses["alice"]["agreement"], guesses["bob"]["agreement"]) == (1.0, 0.0)
    assert by["carol"]["model_accuracy"] is None and not by["carol"]["claim_flagged"]
    for proposer in ("alice", "dave"):
        assert by[proposer]["points"][proposer] == 4  # exactly one of three solved it


def test_emulate_is_scored_against_the_models_own_predictions(mixed) -> None:
    """The agreement is with the published model's outputs, recomputed here independently."""
    league, results, _base = mixed
    import torch

    folder = league.root / "rounds" / "001" / "challenges" / "bob"
    model = models.load(folder)
    # The inputs were drawn after submit-by, from every revealed salt of the round: derived
    # here from the reveal records alone.
    from dixit.rules.draw import draw_seed

    reveals = league.root / "rounds" / "001" / "reveals"
    salts = {(f.parent.name, f.stem): toml.loads(f.read_text())["reveal"]["salt"]
             for f in reveals.glob("*/*.toml")}
    seed = draw_seed(st.load(Ledger(league.root).snapshot()).info.id, 1, salts)
    bob = next(c for c in results["challenges"] if c["proposer"] == "bob")
    assert bob["draw_seed"] == seed
    x = domains.parse(EMULATE, seed=seed).all()
    public = domains.parse(EMULATE, seed=0).all()
    assert not bool((x[:50, None] == public[None]).all(-1).any())  # fresh inputs, not the sample
    with torch.no_grad():
        preds = model(x).argmax(-1)
    truth = (x[:, 0] > x[:, 3]).long()
    expected = round(float((preds == truth).float().mean()), 6)
    subs = {s["team"]: s for s in bob["submissions"]}
    assert subs["alice"]["agreement"] == expected  # the labeler, judged against the model
    assert bob["model_accuracy"] == expected       # the model on inputs it never saw
    zeros = round(float((preds == 0).float().mean()), 6)
    assert subs["dave"]["agreement"] == zeros and not subs["dave"]["solved"]  # the table
    assert subs["carol"]["agreement"] == 1.0 and subs["carol"]["solved"]      # the model itself


def test_flag_reveals_are_text_and_round_verifies(mixed, dixit: Runner,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    league, _results, base = mixed
    monkeypatch.setenv("DIXIT_HOME", str(base / "keys"))
    reveals = league.root / "rounds" / "001" / "reveals"
    assert (reveals / "carol" / "labeler.txt").read_text() == FLAG
    assert (reveals / "alice" / "carol.txt").exists()
    assert not (reveals / "carol" / "labeler.py").exists()
    state = st.load(Ledger(league.root).snapshot())
    assert state.rounds[1].challenges["carol"].kind == "flag"
    rep = dixit.ok("-C", league.root, "verify", "--json").json()
    assert rep["ok"], rep["problems"]


def test_the_kind_is_sealed(mixed, dixit: Runner, monkeypatch: pytest.MonkeyPatch,
                            tmp_path: Path) -> None:
    """Re-signing carol's entry as another kind still breaks its seal: the kind is in the
    seal's context, so the revealed flag no longer opens it."""
    league, _results, base = mixed
    monkeypatch.setenv("DIXIT_HOME", str(base / "keys"))
    from dixit.ledger import entries, keystore
    from tests.conftest import copytree

    root = copytree(league.root, tmp_path / "org")
    git(root, "remote", "remove", "origin")
    path = "rounds/001/challenges/carol/challenge.toml"
    payload, _sig = entries.parse((root / path).read_bytes(), path)
    payload["challenge"]["kind"] = "labeler"
    info = st.read_info(Ledger(root).snapshot())
    carol = keystore.load(info.id, "team-carol")
    (root / path).write_bytes(entries.signed(payload, carol.signing))
    git(root, "commit", "-q", "-am", "carol rewrites her kind")
    res = dixit("-C", root, "verify", "--json")
    problems = res.json()["problems"]
    assert res.code == 1
    assert any("sealed file changed" in p for p in problems), problems
    assert any("does not match its seal" in p for p in problems), problems


def test_inspect_show_and_site_handle_every_kind(mixed, dixit: Runner, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    league, _results, base = mixed
    monkeypatch.setenv("DIXIT_HOME", str(base / "keys"))
    for team, kind in (("alice", "labeler"), ("bob", "emulate"), ("carol", "flag")):
        info = dixit.ok("-C", league.root, "inspect", team, "--json").json()
        assert info["kind"] == kind and info["seal"]["status"] == "ok", info["problems"]
    png = tmp_path / "alice.png"
    dixit.ok("-C", league.root, "show", "alice", "--submission", "bob", "-o", png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a flag on images: the model's labels on sample inputs, nothing compared
    data = dixit.ok("-C", league.root, "show", "carol", "-o", tmp_path / "carol.png",
                    "--json").json()
    assert data["picture"] == "images" and [p["title"] for p in data["panels"]] == \
        ["published model"]
    assert any("A flag challenge's secret is a string" in n for n in data["notes"])
    res = dixit("-C", league.root, "show", "carol", "--submission", "alice", "-o",
                tmp_path / "carol.png")
    assert res.code == 1 and res.err.strip() == (
        "error: carol's challenge in round 1 is a flag challenge: submissions are strings, "
        "not programs, so there is nothing to draw")
    # emulate: the program is compared with the model, over the public sample
    data = dixit.ok("-C", league.root, "show", "bob", "--submission", "carol", "-o",
                    tmp_path / "bob.png", "--json").json()
    carol = data["panels"][2]
    assert carol["title"] == "carol's program" and carol["against"] == "published model"
    assert carol["agreement"] == 1.0  # carol's faithful copy of the model
    assert any("inputs drawn after submit-by" in n for n in data["notes"])


def test_report_draws_every_kind_but_a_flag(mixed, dixit: Runner, tmp_path: Path) -> None:
    league, results, _base = mixed
    data = dixit.ok("-C", league.root, "report", "-o", tmp_path / "site", "--json").json()
    assert data["skipped"] == ["round 1 carol: a flag challenge is judged on a string, not on "
                               "outputs over its domain: there is nothing to draw"]
    assert data["picture_kinds"] == {"img/r001-alice.png": "maps",
                                     "img/r001-bob.png": "classes",    # tokens, binary
                                     "img/r001-dave.png": "classes"}   # a 3-D grid
    page = (tmp_path / "site" / "index.html").read_text()
    # the flag's guesses read right and wrong, never as a percentage
    carol = page[page.index('id="r001-carol"'):page.index('id="r001-dave"')]
    assert "<b>alice</b> · right · solved ✓" in carol and "<b>bob</b> · wrong · not solved" \
        in carol and "%" not in carol.split("<h4>Submissions</h4>")[1]
    assert "No picture: a flag challenge is judged on a string" in carol
    # every kind states its reference: emulate against the model, flag a string
    bob = next(c for c in results["challenges"] if c["proposer"] == "bob")
    assert f"agreement with the model &gt;= {bob['required']:.2%}" in page
    assert "the planted string (normalized)" in page
    alice = next(c for c in results["challenges"] if c["proposer"] == "alice")
    assert f"agreement with the labeler &gt;= {alice['required']:.2%}" in page


def test_report_without_matplotlib_writes_the_site(mixed, dixit: Runner, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The standings and tables need no plot: without the extra, one warning, no pictures."""
    import sys

    league, _results, _base = mixed
    for mod in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, mod, None)
    res = dixit("-C", league.root, "report", "-o", tmp_path / "site")
    assert res.code == 0, res.err
    lines = [ln for ln in res.err.splitlines() if "needs matplotlib" in ln]
    assert len(lines) == 1 and "dixit[plots]" in lines[0]
    page = (tmp_path / "site" / "index.html").read_text()
    assert "Who solved what" in page and "<img" not in page
