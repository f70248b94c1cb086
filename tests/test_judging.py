"""A solve must take understanding: a table of the public model never solves a labeler
challenge (beat the model), the exact labeler does."""

from __future__ import annotations

import base64
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from dixit.models import load, predict
from dixit.rules import required
from tests.conftest import EXAMPLES, League, Runner

TABLE = '''import base64, zlib
import numpy as np
import torch
T = np.unpackbits(np.frombuffer(zlib.decompress(base64.b64decode("{blob}")), dtype=np.uint8))


def label(x):
    return torch.from_numpy(T[(x[:, 0] * 113 + x[:, 1]).long().numpy()].astype("int64"))
'''


def _table_of(model_dir: Path, out: Path) -> Path:
    """A program holding a compressed table of the published model's outputs on the grid."""
    grid = torch.cartesian_prod(torch.arange(113), torch.arange(113))
    preds = predict(load(model_dir), grid).numpy().astype(np.uint8)
    blob = base64.b64encode(zlib.compress(np.packbits(preds).tobytes(), 9)).decode()
    out.write_text(TABLE.format(blob=blob))
    return out


@pytest.mark.parametrize(("threshold", "model", "share", "want"), [
    (0.99, 0.997, 0.5, 0.9985),   # the model meets the threshold: beat it
    (0.99, 0.90, 0.5, 0.99),      # a weak model: the threshold decides
    (0.99, 0.997, 1.0, 0.997),    # share 1: match the model at least
    (0.99, None, 0.5, 0.99),      # no model measured: the threshold
    (0.99, 0.997, None, 0.99),    # an older rulebook without beat_model
])
def test_required_agreement(threshold: float, model: float | None, share: float | None,
                            want: float) -> None:
    assert required(threshold, model, share) == pytest.approx(want)


def test_a_table_of_the_model_does_not_solve_the_exact_labeler_does(
        league: League, dixit: Runner, tmp_path: Path) -> None:
    labeler = EXAMPLES / "labelers" / "alice.py"
    dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
    folder = league.work / "alice"
    dixit.ok("challenge", "new", folder, "--labeler", labeler, "--domain", "grid:113x113",
             "--hidden", "64,64", "--steps", "600", "--train-frac", "0.9")
    proposed = dixit.ok("-C", league.clone("alice"), "propose", "--team", "alice", folder)
    assert "a program must beat it" in proposed.err  # shown at propose time, with the figure
    table = _table_of(folder, tmp_path / "table.py")
    dixit.ok("-C", league.clone("bob"), "submit", "--team", "bob", "--challenge", "alice", table)
    dixit.ok("-C", league.clone("carol"), "submit", "--team", "carol", "--challenge", "alice",
             labeler)
    res = dixit.ok("-C", league.root, "score", "--force", "--json").json()
    (ch,) = res["challenges"]
    model = ch["model_agreement"]
    assert 0.99 <= model < 1.0          # the model alone meets the threshold...
    assert ch["required"] == pytest.approx(1 - (1 - model) * 0.5)  # ...so programs must beat it
    subs = {s["team"]: s for s in ch["submissions"]}
    assert subs["bob"]["agreement"] == pytest.approx(model) and not subs["bob"]["solved"]
    assert subs["carol"]["agreement"] == 1.0 and subs["carol"]["solved"]
    assert ch["solved_by"] == ["carol"] and res["points"] == {"alice": 4, "bob": 0, "carol": 3}
    rep = dixit.ok("-C", league.root, "verify", "--json").json()  # re-derived, with replay
    assert rep["ok"], rep["problems"]


def test_an_emulate_challenge_on_an_enumerable_domain_is_refused(
        league: League, dixit: Runner) -> None:
    from tests.conftest import ledger_fingerprint

    labeler = EXAMPLES / "labelers" / "alice.py"
    res = dixit("challenge", "new", league.work / "x", "--labeler", labeler, "--domain",
                "grid:113x113", "--kind", "emulate")
    assert res.code == 1 and "not 'grid:113x113', which anyone can enumerate" in res.err
    # A folder edited by hand to say emulate is refused at propose, the ledger untouched.
    dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
    folder = league.work / "alice"
    dixit.ok("challenge", "new", folder, "--labeler", labeler, "--domain", "grid:113x113",
             "--hidden", "8", "--steps", "20")
    meta = folder / "challenge.toml"
    meta.write_text(meta.read_text().replace('kind = "labeler"', 'kind = "emulate"'))
    clone = league.clone("alice")
    before = ledger_fingerprint(clone)
    res = dixit("-C", clone, "propose", "--team", "alice", folder)
    assert res.code == 1 and "needs inputs nobody can tabulate" in res.err, res
    assert ledger_fingerprint(clone) == before
