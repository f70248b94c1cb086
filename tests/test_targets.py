"""A dataset's targets (MNIST's digit classes, say) reach a labeler that takes them,
``label(x, targets)``, when training, at the close and in verify; programs may take them too."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Runner, git, make_league, program, scoped_env

DATASET = "scoring/data/classes.safetensors"
PARITY = "def label(x, targets):\n    return targets % 2\n"
CLASS_SUM = "def label(x, *rest):\n    return (rest[0] >= 5).long()\n"
IGNORES = "import torch\n\ndef label(x):\n    return torch.zeros(len(x), dtype=torch.long)\n"


def _ship(league, images, targets) -> None:
    from safetensors.torch import save_file

    (league.root / DATASET).parent.mkdir(parents=True, exist_ok=True)
    save_file({"inputs": images, "targets": targets}, str(league.root / DATASET))
    git(league.root, "add", DATASET)
    git(league.root, "commit", "-q", "-m", "data: images with classes")
    git(league.root, "push", "-q", "origin", "main")
    for clone in league.clones.values():
        git(clone, "pull", "-q", "--ff-only")


def test_labelers_and_programs_receive_targets(tmp_path: Path, dixit: Runner) -> None:
    import torch

    with scoped_env(tmp_path):
        league = make_league(tmp_path, dixit, ("alice", "bob", "carol"))
        gen = torch.Generator().manual_seed(5)
        targets = torch.randint(0, 10, (400,), generator=gen)
        # the class is written into the image, so a model can learn it
        images = (targets[:, None, None] * 25 + torch.zeros(400, 4, 4, dtype=torch.long))
        _ship(league, images.to(torch.uint8), targets.to(torch.uint8))
        dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by",
                 "+2h")
        out = tmp_path / "work" / "alice"
        made = dixit.ok("-C", league.clone("alice"), "challenge", "new", out, "--labeler",
                        program(tmp_path, "parity", PARITY), "--domain", f"dataset:{DATASET}",
                        "--hidden", "32", "--steps", "200", "--json").json()
        assert made["heldout_accuracy"] > 0.6  # trained on labels made from the targets
        dixit.ok("-C", league.clone("alice"), "propose", "--team", "alice", out)
        dixit.ok("-C", league.clone("bob"), "submit", "--team", "bob", "--challenge", "alice",
                 program(tmp_path, "bob", PARITY))
        dixit.ok("-C", league.clone("carol"), "submit", "--team", "carol", "--challenge",
                 "alice", program(tmp_path, "carol", IGNORES))
        res = dixit.ok("-C", league.root, "score", "--force", "--json").json()
        subs = {s["team"]: s for s in res["challenges"][0]["submissions"]}
        assert subs["bob"]["score"] == 1.0 and subs["bob"]["solved"]
        expected = round(float((targets % 2 == 0).float().mean()), 6)
        assert subs["carol"]["score"] == expected and not subs["carol"]["solved"]
        rep = dixit.ok("-C", league.root, "verify", "--json").json()
        assert rep["ok"], rep["problems"]


def test_targets_must_be_one_integer_per_input(tmp_path: Path, dixit: Runner) -> None:
    import torch
    from safetensors.torch import save_file

    rel = "scoring/data/bad.safetensors"
    (tmp_path / rel).parent.mkdir(parents=True)
    save_file({"inputs": torch.zeros(10, 4, 4, dtype=torch.uint8),
               "targets": torch.zeros(10, 2)}, str(tmp_path / rel))
    res = dixit("-C", tmp_path, "challenge", "new", tmp_path / "out", "--labeler",
                program(tmp_path, "p", CLASS_SUM), "--domain", f"dataset:{rel}")
    assert res.code == 1
    assert "'targets' must hold one integer per input, shape (10,); got torch.float32 of " \
        "shape (10, 2)" in res.err


@pytest.mark.parametrize(("body", "takes"), [
    ("def label(x, targets): pass", True), ("def label(x, *rest): pass", True),
    ("def label(x): pass", False), ("def label(x, *, targets=None): pass", False),
    ("label = len", False),
])
def test_which_labelers_take_targets(body: str, takes: bool) -> None:
    from dixit.data import domains

    scope: dict = {}
    exec(body, scope)
    assert domains.takes_targets(scope["label"]) is takes
