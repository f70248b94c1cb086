"""A close through the CLI in a fresh process: every labeler, program and published model runs
in the sandbox (the closing process never imports torch: one torch import per close, the
zygote's), and the model's facts are those of the model evaluated in process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dixit import models
from dixit.data import domains
from dixit.models import training
from tests.conftest import EXAMPLES, Runner, make_league, propose_small

CLOSE = """
import sys
from dixit import cli
code = cli.run(["-C", sys.argv[1], "score", "--force", "--json"])
print("torch imported:", "torch" in sys.modules, file=sys.stderr)
sys.exit(code)
"""


def _labels(path: Path, x: torch.Tensor) -> torch.Tensor:
    ns: dict[str, object] = {}
    exec(compile(path.read_text(), str(path), "exec"), ns)
    return torch.as_tensor(ns["label"](x))  # type: ignore[operator]


def test_a_close_imports_no_torch_and_its_model_facts_are_the_models(
        tmp_path: Path, dixit: Runner) -> None:
    teams = ("alice", "bob")
    league = make_league(tmp_path, dixit, teams)
    dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
    folders = {t: propose_small(league, dixit, t) for t in teams}
    for solver, target in (("bob", "alice"), ("alice", "bob")):
        dixit.ok("-C", league.clone(solver), "submit", "--team", solver, "--challenge",
                 target, EXAMPLES / "programs" / f"{solver}_for_{target}.py")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    res = subprocess.run([sys.executable, "-c", CLOSE, str(league.root)], capture_output=True,
                         text=True, timeout=600, cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "torch imported: False" in res.stderr
    results = json.loads(res.stdout)
    dom = domains.parse("grid:113x113")
    x = dom.all()
    _train, held = training.split(dom.size, 0.5, 0)
    for ch in results["challenges"]:
        team = ch["proposer"]
        truth = _labels(EXAMPLES / "labelers" / f"{team}.py", x)
        predicted = models.predict(models.load(folders[team]), x)
        agree = (predicted == truth).double()
        assert ch["model_agreement"] == pytest.approx(float(agree.mean()), abs=1e-6)
        assert ch["model_accuracy"] == pytest.approx(float(agree[held].mean()), abs=1e-6)
        assert ch["void"] is None and ch["solved_by"] == [t for t in teams if t != team]
