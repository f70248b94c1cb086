"""Outputs beyond binary, through the CLI: a 10-class dataset challenge judged by agreement
and a distribution challenge judged by KL, each scoring a right, a wrong and a malformed
program; then `dixit verify` re-derives every figure."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.conftest import Runner, git, make_league, program, scoped_env, ship_dataset

DATASET = "scoring/data/ten.safetensors"
# ten classes read off the top-left pixel: an mlp learns it well, not perfectly
TEN = ("import torch\n\ndef label(x):\n"
       "    return (x[:, 0, 0].long() * 10 // 256).clamp(0, 9)\n")
# logits over 4 classes on a grid: a smooth function of (a, b)
SOFT = ("import torch\n\ndef label(x):\n"
        "    a, b = x[:, 0].float() / 20, x[:, 1].float() / 20\n"
        "    return torch.stack([a, b, a * b, 1 - a], dim=1) * 3\n")
WRONG_TEN = "import torch\n\ndef label(x):\n    return torch.zeros(len(x), dtype=torch.long)\n"
OUT_OF_RANGE = "import torch\n\ndef label(x):\n    return torch.full((len(x),), 10)\n"
UNIFORM = "import torch\n\ndef label(x):\n    return torch.zeros(len(x), 4)\n"
NAN = "import torch\n\ndef label(x):\n    return torch.full((len(x), 4), float('nan'))\n"
WRONG_SHAPE = "import torch\n\ndef label(x):\n    return torch.zeros(len(x), 3)\n"


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory, dixit: Runner):
    import torch

    base = tmp_path_factory.mktemp("outputs")
    with scoped_env(base):
        league = make_league(base, dixit, ("alice", "bob", "carol", "dave"))
        gen = torch.Generator().manual_seed(3)
        ship_dataset(league, DATASET,
                     torch.randint(0, 256, (2000, 4, 4), generator=gen, dtype=torch.uint8))
        dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by",
                 "+2h")
        made = {}
        for team, lab, args in [
            ("alice", TEN, ["--domain", f"dataset:{DATASET}", "--output", "classes:10",
                            "--hidden", "64", "--steps", "300"]),
            ("carol", SOFT, ["--domain", "grid:20x20", "--output", "distribution:4",
                             "--hidden", "32,32", "--steps", "300"]),
        ]:
            out = base / "work" / team
            made[team] = dixit.ok("-C", league.clone(team), "challenge", "new", out,
                                  "--labeler", program(base, f"lab_{team}", lab), *args,
                                  "--json").json()
            dixit.ok("-C", league.clone(team), "propose", "--team", team, out)
        for solver, target, name, body in [
            ("bob", "alice", "right_ten", TEN), ("carol", "alice", "wrong_ten", WRONG_TEN),
            ("dave", "alice", "range_ten", OUT_OF_RANGE),
            ("alice", "carol", "right_soft", SOFT), ("bob", "carol", "uniform", UNIFORM),
            ("dave", "carol", "nan", NAN),
        ]:
            dixit.ok("-C", league.clone(solver), "submit", "--team", solver, "--challenge",
                     target, program(base, name, body))
        results = dixit.ok("-C", league.root, "score", "--force", "--json").json()
        yield league, results, made


def _subs(results: dict, proposer: str) -> tuple[dict, dict]:
    ch = next(c for c in results["challenges"] if c["proposer"] == proposer)
    return ch, {s["team"]: s for s in ch["submissions"]}


def test_ten_classes_right_wrong_malformed(scored) -> None:
    _league, results, made = scored
    ch, subs = _subs(results, "alice")
    assert (ch["output"], ch["metric"]) == ("classes:10", "agreement")
    assert 0.3 < made["alice"]["heldout_accuracy"] < 1.0
    assert subs["bob"]["score"] == 1.0 and subs["bob"]["solved"]
    assert subs["carol"]["error"] is None and not subs["carol"]["solved"]
    assert subs["carol"]["score"] < 0.3  # all zeros: about a tenth
    assert subs["dave"]["error"] == "returned a label outside 0..9 (e.g. 10)"
    assert ch["solved_by"] == ["bob"]


def test_distribution_judged_by_kl(scored) -> None:
    import torch

    _league, results, _made = scored
    ch, subs = _subs(results, "carol")
    assert (ch["output"], ch["metric"]) == ("distribution:4", "kl")
    # beat the model: keep at most half of the model's own KL (and at most kl_threshold)
    assert 0 < ch["model_score"] < 0.2
    assert ch["required"] == min(0.1, round(ch["model_score"] * 0.5, 6))
    assert subs["alice"]["score"] == 0.0 and subs["alice"]["agreement"] == 1.0
    assert subs["alice"]["solved"]
    # uniform logits: KL(p || uniform) = log 4 - H(p), recomputed here from the labeler
    a = torch.arange(20).repeat_interleave(20).float() / 20
    b = torch.arange(20).repeat(20).float() / 20
    logp = (torch.stack([a, b, a * b, 1 - a], dim=1) * 3).log_softmax(-1)
    expected = float((logp.exp() * (logp + math.log(4))).sum(-1).mean())
    assert subs["bob"]["score"] == pytest.approx(expected, abs=1e-5)
    assert not subs["bob"]["solved"]
    assert "NaN" in subs["dave"]["error"] and not subs["dave"]["solved"]
    assert ch["solved_by"] == ["alice"]


def test_verify_rederives_outputs_and_metrics(scored, dixit: Runner,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    league, _results, _made = scored
    monkeypatch.setenv("DIXIT_HOME", str(league.root.parent / "keys"))
    rep = dixit.ok("-C", league.root, "verify", "--json").json()
    assert rep["ok"], rep["problems"]


def test_bad_outputs_are_refused_at_challenge_new(tmp_path: Path, dixit: Runner) -> None:
    lab = program(tmp_path, "lab", TEN)
    for args, needle in [
        (["--output", "classes:1"], "output is binary, classes:C"),
        (["--output", "classes:10", "--metric", "kl"],
         "output classes:10 is judged by agreement, not 'kl'"),
        (["--output", "distribution:4", "--threshold", "0.9"],
         "the kl threshold must be in [0, 0.5]"),
        (["--output", "sequence:4"], "gives one id per position of a token sequence"),
    ]:
        res = dixit("challenge", "new", tmp_path / "out", "--labeler", lab, "--domain",
                    "grid:8x8", *args)
        assert res.code == 1 and needle in res.err, res.err
        assert "Traceback" not in res.err
        assert not (tmp_path / "out").exists()


def test_a_labeler_that_breaks_its_declared_output_is_refused(tmp_path: Path,
                                                                dixit: Runner) -> None:
    lab = program(tmp_path, "lab", WRONG_SHAPE)
    res = dixit("challenge", "new", tmp_path / "out", "--labeler", lab, "--domain",
                "grid:8x8", "--output", "distribution:4")
    assert res.code == 1
    assert "returned shape (64, 3) for a batch of 64 (need (64, 4))" in res.err


def test_inspect_and_results_say_how_each_is_judged(scored, dixit: Runner) -> None:
    league, results, _made = scored
    doc = dixit.ok("-C", league.root, "inspect", "carol", "--json").json()
    carol = next(c for c in results["challenges"] if c["proposer"] == "carol")
    assert doc["judging"] == {"output": "distribution:4", "metric": "kl", "threshold": 0.1,
                              "required": carol["required"], "against": "labeler"}
    text = " ".join(dixit.ok("-C", league.root, "inspect", "alice").out.split())
    assert "judged by" in text
    table = " ".join(dixit.ok("-C", league.root, "score", "-r", "1").out.split())  # shown again
    assert "nats" in table and "KL to the labeler <=" in table


def test_propose_needs_the_dataset_in_the_ledger(scored, dixit: Runner) -> None:
    """Every clone and the closer read a dataset from the ledger: a file only on the
    proposer's disk, or changed there, is refused with the file named, and nothing is
    written."""
    import shutil

    import torch
    from safetensors.torch import save_file

    league, _results, _made = scored
    clone = league.clone("dave")
    extra = "scoring/data/mine.safetensors"
    save_file({"inputs": torch.zeros(50, 4, 4, dtype=torch.uint8)}, str(clone / extra))
    lab = program(league.root.parent, "lab_dave", TEN)
    out = league.root.parent / "work" / "dave"
    dixit.ok("-C", clone, "challenge", "new", out, "--labeler", lab, "--domain",
             f"dataset:{extra}", "--output", "classes:10", "--hidden", "8", "--steps", "5")
    head = git(clone, "rev-parse", "HEAD")
    res = dixit("-C", clone, "propose", "--team", "dave", out)
    assert res.code == 1
    assert f"dataset {extra} is not in the ledger: the organizer commits shared data" in res.err
    shutil.copy(clone / extra, clone / DATASET)  # the shared file, changed on this disk
    shutil.rmtree(out)
    dixit.ok("-C", clone, "challenge", "new", out, "--labeler", lab, "--domain",
             f"dataset:{DATASET}", "--output", "classes:10", "--hidden", "8", "--steps", "5")
    res = dixit("-C", clone, "propose", "--team", "dave", out)
    assert res.code == 1
    assert f"dataset {DATASET} here differs from the ledger's copy" in res.err
    assert git(clone, "rev-parse", "HEAD") == head
    git(clone, "checkout", "--", DATASET)


def test_a_clone_without_the_dataset_says_so(scored, dixit: Runner) -> None:
    """A clone whose working tree lacks the shared dataset: one line naming it, exit 1 (not a
    seal mismatch reported as fine)."""
    league, _results, _made = scored
    clone = league.clone("bob")
    (clone / DATASET).unlink()
    try:
        res = dixit("-C", clone, "inspect", "alice", "--json")
        assert res.code == 1
        doc = res.json()
        assert f"domain: dataset {DATASET} not found under" in doc["problems"][0]
        assert doc["seal"]["domain"] != "ok"
    finally:
        git(clone, "checkout", "--", DATASET)
