"""The architecture as the tree shows it: layers kept, a light package root, kinds as objects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dixit.errors import ChallengeError
from dixit.ledger import layout
from dixit.rules import kinds

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept() -> None:
    res = subprocess.run([str(Path(sys.executable).parent / "lint-imports")], cwd=ROOT,
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Contracts: 2 kept, 0 broken." in res.stdout


def test_package_root_and_cli_import_neither_torch_nor_git() -> None:
    # `dixit --help` stays fast: heavy imports happen only on the paths that need them
    code = ("import sys, dixit, dixit.cli, dixit.models, dixit.replay, dixit.challenge; "
            "print(sorted(m for m in ('torch', 'git') if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert res.stdout.strip() == "[]"


def test_public_api_at_the_root() -> None:
    import dixit
    from dixit.models import load

    assert dixit.challenge.create is not None and dixit.challenge.read is not None
    assert callable(dixit.load) and callable(load)
    assert set(dixit.__all__) >= {"load", "challenge", "models"}


def test_model_classes_are_importable_and_subclassable() -> None:
    from dixit.models import build
    from dixit.models.cnn import CNN
    from dixit.models.mlp import MLP
    from dixit.models.transformer import Attention, Transformer

    class Probe(Transformer):
        pass

    cfg = {"arch": "transformer", "vocab": 10, "n_ctx": 3, "d_model": 8, "n_heads": 2,
           "d_mlp": 16, "act": "relu", "classes": 2, "append_eq": True}
    model = build(cfg)
    assert isinstance(model, Transformer) and isinstance(model.blocks[0].attn, Attention)
    assert issubclass(Probe, Transformer) and MLP.__module__ == "dixit.models.mlp"
    assert CNN.__module__ == "dixit.models.cnn"


@pytest.mark.parametrize(("name", "replayed", "reference", "suffix", "secret"), [
    ("labeler", True, "labeler", ".py", "labeler.py"),
    ("emulate", True, "model", ".py", "labeler.py"),
    ("flag", False, "flag", ".txt", "flag.txt"),
])
def test_each_kind_is_one_definition(name: str, replayed: bool, reference: str, suffix: str,
                                     secret: str) -> None:
    kind = kinds.get(name)
    assert (kind.replayed, kind.reference, kind.suffix, kind.secret_file) == (
        replayed, reference, suffix, secret)
    assert kind.model_can_solve == (name == "labeler")


def test_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(ChallengeError, match="unknown challenge kind 'riddle'; choose one of "
                       "labeler, emulate, flag"):
        kinds.get("riddle")


@pytest.mark.parametrize(("path", "kind", "signer", "team"), [
    ("teams/alice.toml", "team", "organizer", "alice"),
    ("teams/alice/key-001.toml", "team", "organizer", "alice"),
    ("rounds/001/round.toml", "round", "organizer", None),
    ("rounds/001/results.toml", "results", "closer", None),
    ("rounds/001/challenges/bob/model.safetensors", "challenge", "bob", "bob"),
    ("rounds/002/submissions/bob/alice.escrow", "submission", "bob", "bob"),
    ("rounds/002/reveals/bob/labeler.py", "reveal", "bob", "bob"),
])
def test_layout_classifies_every_entry_path(path: str, kind: str, signer: str,
                                            team: str | None) -> None:
    place = layout.classify(path)
    assert place is not None and (place.kind, place.signer, place.team) == (kind, signer, team)


@pytest.mark.parametrize("path", [
    "rounds/001/challenges/bob/labeler.py",      # a secret never sits beside its model
    "rounds/001/submissions/bob/alice.py",       # nor a program beside its seal
    "rounds/1/round.toml", "teams/Alice.toml", "teams/alice/notes.md", "scoring/rules.toml",
    "rounds/001/reveals/bob/../alice/labeler.py",
])
def test_layout_refuses_paths_no_entry_may_take(path: str) -> None:
    assert layout.classify(path) is None
