"""Per-position outputs, through the CLI: a sequence-output labeler challenge (a right, a
wrong and a malformed program), and language-model emulation in small (the seed's "emulate
GPT-2 to at most 1% word error"): causal token models judged on prompts drawn after
submit-by, by token agreement under teacher forcing and by mean KL. A table of the published
sample solves neither; a faithful reimplementation of the model solves both."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from dixit import models
from dixit.data import domains
from tests.conftest import Runner, make_league, program, scoped_env

PREFIX_MAX = "import torch\n\ndef label(x):\n    return torch.cummax(x, dim=1).values\n"
IDENTITY = "def label(x):\n    return x.clone()\n"
ONE_PER_INPUT = "def label(x):\n    return x[:, 0].clone()\n"
# the secret generator of the emulated "language model": next token = (this + previous) % 8
NEXT = ("import torch\n\ndef label(x):\n"
        "    prev = torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)\n"
        "    return (x + prev) % 8\n")
NEXT_LOGITS = ("import torch\n\ndef label(x):\n"
               "    prev = torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)\n"
               "    return torch.nn.functional.one_hot((x + prev) % 8, 8).float() * 4\n")
LM = "tokens:8x11:1500"  # 8^11 = 2^33 prompts: judged on 1,500 drawn after submit-by
TF = ["--arch", "transformer", "--set", "d_model=32", "--heads", "4", "--d-mlp", "64"]

# The published model recomputed from its weights, layer by layer (a program cannot import
# dixit): what emulation asks for. No LayerNorm, ReLU, every position read out.
FAITHFUL = """import base64, json, math
import torch
from safetensors.torch import load
CFG = json.loads({cfg!r})
W = load(base64.b64decode({weights!r}))
IDS = {ids}


def attn(i, x):
    n, p, d = x.shape
    heads = CFG["n_heads"]
    def proj(name):
        w, b = W[f"blocks.{{i}}.attn.W_{{name}}"], W[f"blocks.{{i}}.attn.b_{{name}}"]
        return torch.einsum("npd,hde->nhpe", x, w) + b[None, :, None, :]
    q, k, v = proj("Q"), proj("K"), proj("V")
    s = q @ k.transpose(-1, -2) / math.sqrt(d // heads)
    s = s.masked_fill(~torch.ones(p, p, dtype=torch.bool).tril(), float("-inf"))
    z = s.softmax(-1) @ v
    out = torch.einsum("nhpe,hed->npd", z, W[f"blocks.{{i}}.attn.W_O"])
    return out + W[f"blocks.{{i}}.attn.b_O"]


def label(x):
    with torch.no_grad():
        h = W["embed.W_E"][x] + W["pos_embed.W_pos"][: x.shape[1]]
        for i in range(CFG.get("n_layers", 1)):
            h = h + attn(i, h)
            pre = h @ W[f"blocks.{{i}}.mlp.W_in"] + W[f"blocks.{{i}}.mlp.b_in"]
            h = h + pre.relu() @ W[f"blocks.{{i}}.mlp.W_out"] + W[f"blocks.{{i}}.mlp.b_out"]
        logits = h @ W["unembed.W_U"] + W["unembed.b_U"]
    return logits.argmax(-1) if IDS else logits
"""
# The published model's outputs on the public sample, as a table (its argmax: the logits
# themselves would not fit the program size limit), zeros elsewhere; as confident logits for
# a distribution.
TABLE = """import torch
T = {table!r}


def label(x):
    ids = torch.tensor([T.get(",".join(map(str, r)), [0] * x.shape[1]) for r in x.tolist()])
    return torch.nn.functional.one_hot(ids, {classes}).float() * 10 if {soft} else ids
"""


def _faithful(folder: Path, base: Path, name: str, ids: bool) -> Path:
    cfg = models.load_config(folder)
    weights = base64.b64encode((folder / "model.safetensors").read_bytes()).decode()
    return program(base, name, FAITHFUL.format(cfg=json.dumps(cfg), weights=weights, ids=ids))


def _table(folder: Path, base: Path, name: str, soft: bool) -> Path:
    import torch

    x = domains.parse(LM, seed=0).all()  # the public sample (challenge seed 0)
    with torch.no_grad():
        out = models.load(folder)(x)
    out = out.argmax(-1)
    table = {",".join(map(str, r)): o for r, o in zip(x.tolist(), out.tolist(), strict=True)}
    return program(base, name, TABLE.format(table=table, classes=8, soft=soft))


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory, dixit: Runner):
    base = tmp_path_factory.mktemp("sequences")
    with scoped_env(base):
        league = make_league(base, dixit, ("alice", "bob", "carol", "dave"))
        dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by",
                 "+2h")
        work = base / "work"
        for team, lab, args in [
            ("alice", PREFIX_MAX, ["--domain", "tokens:4x6", "--output", "sequence:4",
                                   "--steps", "300", *TF]),
            ("bob", NEXT, ["--domain", LM, "--kind", "emulate", "--output", "sequence:8",
                           "--train-frac", "1.0", "--steps", "300", *TF]),
            ("carol", NEXT_LOGITS, ["--domain", LM, "--kind", "emulate", "--output",
                                    "distribution:8", "--train-frac", "1.0", "--steps", "300",
                                    *TF]),
        ]:
            dixit.ok("-C", league.clone(team), "challenge", "new", work / team, "--labeler",
                     program(base, f"lab_{team}", lab), *args)
            dixit.ok("-C", league.clone(team), "propose", "--team", team, work / team)
        for solver, target, prog in [
            ("bob", "alice", program(base, "right", PREFIX_MAX)),
            ("carol", "alice", program(base, "identity", IDENTITY)),
            ("dave", "alice", program(base, "one_per_input", ONE_PER_INPUT)),
            ("alice", "bob", _faithful(work / "bob", base, "faithful_ids", True)),
            ("carol", "bob", _table(work / "bob", base, "table_ids", False)),
            ("dave", "bob", program(base, "generator", NEXT)),
            ("alice", "carol", _faithful(work / "carol", base, "faithful_logits", False)),
            ("bob", "carol", _table(work / "carol", base, "table_logits", True)),
        ]:
            dixit.ok("-C", league.clone(solver), "submit", "--team", solver, "--challenge",
                     target, prog)
        results = dixit.ok("-C", league.root, "score", "--force", "--json").json()
        yield league, results


def _subs(results: dict, proposer: str) -> tuple[dict, dict]:
    ch = next(c for c in results["challenges"] if c["proposer"] == proposer)
    return ch, {s["team"]: s for s in ch["submissions"]}


def test_sequence_labeler_right_wrong_malformed(scored) -> None:
    _league, results = scored
    ch, subs = _subs(results, "alice")
    assert (ch["output"], ch["metric"]) == ("sequence:4", "agreement")
    assert subs["bob"]["score"] == 1.0 and subs["bob"]["solved"]
    # the identity is right wherever the prefix max is the token itself: per position
    assert 0.3 < subs["carol"]["score"] < 0.9 and not subs["carol"]["solved"]
    assert subs["dave"]["error"] == "returned shape (4096,) for a batch of 4096 (need (4096, 6))"
    assert ch["solved_by"] == ["bob"]


def test_lm_emulation_by_token_agreement(scored) -> None:
    _league, results = scored
    ch, subs = _subs(results, "bob")
    assert (ch["kind"], ch["output"], ch["metric"]) == ("emulate", "sequence:8", "agreement")
    assert ch["draw_seed"] is not None and ch["required"] == 0.99
    assert subs["alice"]["score"] == 1.0 and subs["alice"]["solved"]  # the model, recomputed
    assert subs["carol"]["score"] < 0.5 and not subs["carol"]["solved"]  # the sample's table
    # the generator itself is judged against the model, mistakes included
    assert subs["dave"]["score"] == ch["model_agreement"]


def test_lm_emulation_by_kl(scored) -> None:
    _league, results = scored
    ch, subs = _subs(results, "carol")
    assert (ch["kind"], ch["output"], ch["metric"]) == ("emulate", "distribution:8", "kl")
    assert ch["required"] == 0.1
    assert subs["alice"]["score"] < 1e-4 and subs["alice"]["solved"]
    assert subs["alice"]["agreement"] == 1.0
    assert subs["bob"]["score"] > 0.5 and not subs["bob"]["solved"]
    assert ch["solved_by"] == ["alice"]


def test_verify_rederives_sequences_and_draws(scored, dixit: Runner,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    league, _results = scored
    monkeypatch.setenv("DIXIT_HOME", str(league.root.parent / "keys"))
    rep = dixit.ok("-C", league.root, "verify", "--json").json()
    assert rep["ok"], rep["problems"]
