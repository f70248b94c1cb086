"""A proposer's sealed labeler never shares a child with its own programs.

Each team's programs run in one child, in order, where they can disturb each other (a team
only hurts itself). Its labeler is different: it is the secret sealed at propose, and other
teams are judged against it. Were it in the team's batch, a program submitted later (after
propose-by, until submit-by) could patch torch in that child and change what the sealed
labeler returns at the close: the secret rewritten after it was sealed. A real attack through
the CLI: carol's program for alice breaks ``torch.Tensor.__lt__`` (all False) at import, and
carol's labeler (a ``b < sine`` comparison) runs after it when they share a child.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import EXAMPLES, Runner, make_league, program, propose_small

PATCH = """import torch

torch.Tensor.__lt__ = lambda self, other: torch.zeros(self.shape, dtype=torch.bool)


def label(x):
    return torch.zeros(x.shape[0], dtype=torch.long)
"""


def test_a_program_cannot_rewrite_its_teams_sealed_labeler(tmp_path: Path,
                                                          dixit: Runner) -> None:
    league = make_league(tmp_path, dixit)
    dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
    for team in ("alice", "carol"):
        propose_small(league, dixit, team)
    # carol's program for alice comes before carol's labeler in carol's batch (alice < carol)
    dixit.ok("-C", league.clone("carol"), "submit", "--team", "carol", "--challenge", "alice",
             program(tmp_path, "patch", PATCH))
    dixit.ok("-C", league.clone("bob"), "submit", "--team", "bob", "--challenge", "carol",
             EXAMPLES / "labelers" / "carol.py")  # the sealed labeler itself
    res = dixit.ok("-C", league.root, "score", "--force", "--json").json()
    carol = next(c for c in res["challenges"] if c["proposer"] == "carol")
    bob = next(s for s in carol["submissions"] if s["team"] == "bob")
    assert (bob["score"], bob["solved"]) == (1.0, True)
    rep = dixit("-C", league.clone("bob"), "verify", "--json").json()
    assert rep["ok"], rep["problems"]
