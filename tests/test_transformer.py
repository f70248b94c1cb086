"""Multi-layer transformers and causal language models (``--arch transformer``'s optional
``n_layers``, ``normalization``, ``attn_only`` and ``positions``), with real tiny torch models;
the TransformerLens comparisons are in test_models.py (``make test-extras``)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from dixit import models
from dixit.errors import ChallengeError
from dixit.models import training
from dixit.models.transformer import parameter_total
from tests.conftest import Runner, program

# a 1-layer config as every stored challenge has it: none of the new keys
OLD = {"arch": "transformer", "vocab": 7, "n_ctx": 5, "d_model": 16, "n_heads": 4, "d_mlp": 32,
       "act": "relu", "classes": 3, "append_eq": False}
LM = {**OLD, "n_layers": 2, "normalization": "LN", "positions": "all"}


def _noisy(cfg: dict[str, Any], seed: int = 1):
    """A built model with random biases and LN weights too (they start at 0 and 1)."""
    import torch

    module = models.build(cfg, seed=seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return module.eval()


def _tokens(n: int = 40, cfg: dict[str, Any] = OLD, seed: int = 0):
    import torch

    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, cfg["vocab"], (n, cfg["n_ctx"]), generator=gen)


def test_old_configs_build_the_same_model_byte_for_byte(tmp_path: Path) -> None:
    import torch

    module = models.build(OLD, seed=7)
    # the digest of this file as the one-layer code wrote it before n_layers existed (torch's
    # CPU generator fixes the init): same tensors, same names, same metadata
    sha = models.save(module, OLD, tmp_path / "old.safetensors")
    assert sha == "9c8483c03f9bfc651a092f8a93c72aeb3d9894a29196cc8ed988dcaa58d19c6b"
    assert sha == hashlib.sha256((tmp_path / "old.safetensors").read_bytes()).hexdigest()
    explicit = {**OLD, "n_layers": 1, "normalization": "none", "attn_only": False,
                "positions": "last"}
    again = models.build(explicit, seed=7).eval()
    assert list(again.state_dict()) == list(module.state_dict())
    x = _tokens()
    with torch.no_grad():
        assert torch.equal(module.eval()(x), again(x))
    # new challenges' configs hold no new key unless it is set
    assert models.default_config("transformer", (5,), (7, 5), domain_kind="tokens",
                                 d_model=16) == {**OLD, "n_heads": 8, "d_mlp": 1024,
                                                 "classes": 2}
    assert models.transformer_lens_config(OLD) == {
        "n_layers": 1, "d_model": 16, "n_heads": 4, "d_head": 4, "d_mlp": 32, "d_vocab": 7,
        "d_vocab_out": 3, "n_ctx": 5, "act_fn": "relu", "normalization_type": None,
        "attn_only": False}


@pytest.mark.parametrize(("extra", "output"), [
    ({}, (40, 3)),
    ({"n_layers": 3}, (40, 3)),
    ({"n_layers": 2, "normalization": "LN"}, (40, 3)),
    ({"attn_only": True}, (40, 3)),
    ({"positions": "all"}, (40, 5, 3)),
    ({"n_layers": 2, "normalization": "LN", "attn_only": True, "positions": "all"}, (40, 5, 3)),
])
def test_shapes_names_and_parameter_counts(extra: dict[str, Any], output: tuple) -> None:
    cfg = {**OLD, **extra}
    module = _noisy(cfg)
    x = _tokens()
    assert tuple(models.logits(module, x).shape) == output
    preds = models.predict(module, x)
    assert preds.dtype.is_floating_point is False and tuple(preds.shape) == output[:-1]
    names = set(module.state_dict())
    n_layers, ln = cfg.get("n_layers", 1), cfg.get("normalization") == "LN"
    for i in range(n_layers):
        assert {f"blocks.{i}.attn.{w}" for w in ("W_Q", "W_K", "W_V", "W_O", "b_Q", "b_K",
                                                "b_V", "b_O")} <= names
        assert (f"blocks.{i}.mlp.W_in" in names) is not cfg.get("attn_only", False)
        assert (f"blocks.{i}.ln1.w" in names) is ln
        assert (f"blocks.{i}.ln2.b" in names) is (ln and not cfg.get("attn_only", False))
    assert f"blocks.{n_layers}.attn.W_Q" not in names
    assert ("ln_final.w" in names) is ln and {"embed.W_E", "pos_embed.W_pos", "unembed.W_U",
                                              "unembed.b_U"} <= names
    counted = parameter_total(vocab=7, n_ctx=5, d_model=16, d_mlp=32, classes=3,
                              n_layers=n_layers, normalization=cfg.get("normalization", "none"),
                              attn_only=cfg.get("attn_only", False))
    assert models.parameter_count(module) == counted


def test_attention_is_causal_at_every_position() -> None:
    import torch

    module = _noisy({**LM, "n_layers": 3})
    x = _tokens(64, LM)
    base = models.logits(module, x)
    for pos in range(LM["n_ctx"]):
        changed = x.clone()
        changed[:, pos] = (changed[:, pos] + 1) % LM["vocab"]
        out = models.logits(module, changed)
        assert torch.equal(out[:, :pos], base[:, :pos]), pos   # earlier positions: untouched
        assert not torch.allclose(out[:, pos], base[:, pos])   # the changed one: not
    # and the last position of a per-position model is what a "last" model with the same
    # weights reads
    last = models.build({**LM, "n_layers": 3, "positions": "last"})
    last.load_state_dict(module.state_dict())
    assert torch.allclose(models.logits(last.eval(), x), base[:, -1], atol=1e-6)


def test_round_trip_through_safetensors(tmp_path: Path) -> None:
    import torch

    for i, cfg in enumerate((LM, {**OLD, "n_layers": 2, "attn_only": True})):
        module = _noisy(cfg)
        models.save(module, cfg, tmp_path / f"{i}.safetensors")
        again = models.load_weights(cfg, tmp_path / f"{i}.safetensors")
        x = _tokens(20, cfg)
        assert torch.equal(models.logits(again, x), models.logits(module, x))
        # the layout is the config's: another depth or normalization is refused by name
        with pytest.raises(ChallengeError, match=r"does not match the transformer config"):
            models.load_weights({**cfg, "n_layers": 3}, tmp_path / f"{i}.safetensors")
    with pytest.raises(ChallengeError, match=r"unexpected \['blocks.0.ln1.b'"):
        models.load_weights({**LM, "normalization": "none"}, tmp_path / "0.safetensors")


def test_logits_are_evaluated_batch_wise() -> None:
    import torch

    module = _noisy(LM)
    x = _tokens(50, LM)
    whole = models.logits(module, x)
    assert whole.dtype == torch.float32 and tuple(whole.shape) == (50, 5, 3)
    assert torch.allclose(models.logits(module, x, batch=7), whole, atol=1e-6)
    assert torch.equal(models.predict(module, x, batch=7), whole.argmax(-1))
    assert models.logits(module, x[:0]).shape == (0, 5, 3)
    for bad in (0, -1):
        with pytest.raises(ValueError, match="batch must be at least 1"):
            models.logits(module, x, batch=bad)
    # rows per pass shrink with the attention scores one row needs; small models: 8192
    assert models.weights.batch_rows(module) == 8192
    wide = models.build({**OLD, "n_ctx": 1024, "n_heads": 16, "d_model": 16, "d_mlp": 16})
    assert models.weights.batch_rows(wide) == (1 << 25) // (16 * 1024 * 1024) == 2
    assert models.weights.batch_rows(models.build({"arch": "mlp", "in_features": 2,
                                                   "hidden": [4], "classes": 2})) == 8192


def test_a_causal_lm_learns_next_tokens() -> None:
    """Gradients reach every layer: a 2-layer LN model learns to predict the next token of
    counting sequences (x_{t+1} = x_t + 1 mod V) from its position-wise outputs."""
    import torch
    import torch.nn.functional as F

    cfg = {**LM, "classes": LM["vocab"]}
    module = models.build(cfg, seed=0)
    start = torch.arange(cfg["vocab"]).repeat(8)
    x = (start[:, None] + torch.arange(cfg["n_ctx"])) % cfg["vocab"]
    target = (x + 1) % cfg["vocab"]
    opt = torch.optim.AdamW(module.parameters(), lr=1e-2)
    module.train()
    with training.torch_threads(1):  # as training runs: more threads only wait on each other
        for _ in range(150):
            loss = F.cross_entropy(module(x).flatten(0, 1), target.flatten())
            opt.zero_grad()
            loss.backward()
            opt.step()
    module.eval()
    assert float((models.predict(module, x) == target).float().mean()) == 1.0


@pytest.mark.parametrize(("change", "needle"), [
    ({"n_layers": 0}, "n_layers = 0 is out of range [1, 12]"),
    ({"n_layers": 13}, "n_layers = 13 is out of range [1, 12]"),
    ({"n_layers": 2.0}, "n_layers must be an integer, not 2.0"),
    ({"n_layers": True}, "n_layers must be an integer, not True"),
    ({"normalization": "ln"}, "normalization must be one of none, LN, not 'ln'"),
    ({"normalization": None}, "normalization must be one of none, LN, not None"),
    ({"attn_only": "yes"}, "attn_only must be true or false, not 'yes'"),
    ({"attn_only": 1}, "attn_only must be true or false, not 1"),
    ({"positions": "first"}, "positions must be one of last, all, not 'first'"),
    ({"positions": ["all"]}, "positions must be one of last, all, not ['all']"),
    ({"positions": "all", "append_eq": True}, "append_eq must be false"),
    ({"act": ["relu"]}, "act must be one of relu, gelu"),
    ({"n_ctx": 4096, "n_heads": 2, "d_model": 16}, "attention scores per input, over the "
                                                    "limit of 16,777,216"),
    ({"n_layers": 12, "d_model": 2048, "d_mlp": 8192}, "over the limit of 200,000,000"),
    ({"vocab": 10**6 + 1}, "vocab = 1000001 is out of range"),
    ({"n_layer": 2}, "unknown key(s) n_layer"),
])
def test_bad_configs_name_the_key_on_one_line(change: dict[str, Any], needle: str) -> None:
    with pytest.raises(ChallengeError, match=r"^invalid transformer config: ") as info:
        models.build({**OLD, **change})
    assert needle in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_multi_layer_challenges_through_the_cli(dixit: Runner, tmp_path: Path) -> None:
    import torch

    from dixit.data import domains

    lab = program(tmp_path, "lab", "import torch\n\ndef label(x):\n"
                                   "    return ((x[:, 0] - 6) ** 2 + (x[:, 1] - 6) ** 2 < 20)"
                                   ".long()\n")
    out = tmp_path / "deep"
    summary = dixit.ok("challenge", "new", out, "--labeler", lab, "--domain", "grid:13x13",
                       "--arch", "transformer", "--d-model", "16", "--heads", "2", "--d-mlp",
                       "32", "--steps", "40", "--set", "n_layers=2", "--set",
                       "normalization=LN", "--set", "attn_only=true", "--json").json()
    config = models.load_config(out)  # challenge.toml keeps the new keys with their types
    assert {k: config[k] for k in ("n_layers", "normalization", "attn_only")} == {
        "n_layers": 2, "normalization": "LN", "attn_only": True}
    model = models.load(out)
    x = domains.parse("grid:13x13").all()
    labels = training.accuracy(model, x, (x[:, 0] * 0).long())  # any labels: it evaluates
    assert 0.0 <= labels <= 1.0 and summary["steps"] == 40
    assert tuple(models.logits(model, x).shape) == (169, 2)
    assert model.blocks[1].ln1.w.shape == (16,) and not hasattr(model.blocks[0], "mlp")
    assert torch.equal(models.predict(model, x), models.predict(models.load(out), x))
    # a per-position model over a grid reads the pair as it is, with no '=' token
    cfg = models.default_config("transformer", (2,), (13, 13), domain_kind="grid",
                                positions="all")
    assert (cfg["append_eq"], cfg["n_ctx"], cfg["vocab"]) == (False, 2, 13)
    # per-position outputs must be declared (and need a token domain): one line, nothing written
    res = dixit("challenge", "new", tmp_path / "lm", "--labeler", lab, "--domain",
                "grid:13x13", "--arch", "transformer", "--set", "positions=all")
    assert res.code == 1 and res.err.strip().splitlines() == [
        "error: positions = 'all' gives an output per position: declare one, --output "
        "sequence:C or distribution:C, on a tokens domain"], res.err
    res = dixit("challenge", "new", tmp_path / "bad", "--labeler", lab, "--domain",
                "grid:13x13", "--arch", "transformer", "--set", "n_layers=40")
    assert res.code == 1 and res.err.strip().splitlines() == [
        "error: invalid transformer config: n_layers = 40 is out of range [1, 12]"], res.err
    assert not (tmp_path / "bad").exists()


def test_non_causal_attention_sees_later_positions_and_old_configs_stay_causal() -> None:
    """``causal = false`` (Tracr compiles bidirectional models): an edit at any position moves
    every position's output; without the key the model is causal, as every stored one."""
    import torch

    cfg = {**LM, "causal": False}
    module = _noisy(cfg)
    x = _tokens(64, cfg)
    base = models.logits(module, x)
    changed = x.clone()
    changed[:, -1] = (changed[:, -1] + 1) % cfg["vocab"]
    out = models.logits(module, changed)
    assert not torch.allclose(out[:, 0], base[:, 0])   # the first position saw the last one
    causal = models.build({**cfg, "causal": True})
    causal.load_state_dict(module.state_dict())
    assert torch.equal(models.logits(causal.eval(), changed)[:, 0],
                       models.logits(causal, x)[:, 0])
    assert models.transformer_lens_config(cfg)["attention_dir"] == "bidirectional"
    assert "attention_dir" not in models.transformer_lens_config(LM)


def test_prepend_bos_adds_a_position_whose_output_is_dropped() -> None:
    """``prepend_bos``: the last vocabulary id goes first (Tracr's BOS), the model's context
    holds it, and a per-position model returns one output per input token, not for the BOS."""
    import torch

    cfg = {**LM, "causal": False, "prepend_bos": True, "n_ctx": LM["n_ctx"] + 1}
    module = _noisy(cfg)
    x = torch.randint(0, cfg["vocab"] - 1, (16, LM["n_ctx"]),
                      generator=torch.Generator().manual_seed(3))
    tokens = module.tokens(x)
    assert tokens.shape == (16, LM["n_ctx"] + 1)
    assert torch.equal(tokens[:, 0], torch.full((16,), cfg["vocab"] - 1))
    assert torch.equal(tokens[:, 1:], x)
    out = models.logits(module, x)
    assert out.shape == (16, LM["n_ctx"], LM["classes"])
    # the same weights read without dropping: the BOS position is the first output
    plain = models.build({**cfg, "prepend_bos": False})
    plain.load_state_dict(module.state_dict())
    assert torch.allclose(models.logits(plain.eval(), tokens)[:, 1:], out, atol=1e-6)
    last = models.build({**cfg, "positions": "last"})
    last.load_state_dict(module.state_dict())
    assert torch.allclose(models.logits(last.eval(), x), out[:, -1], atol=1e-6)


@pytest.mark.parametrize(("change", "needle"), [
    ({"causal": "no"}, "causal must be true or false, not 'no'"),
    ({"prepend_bos": 1}, "prepend_bos must be true or false, not 1"),
    ({"prepend_bos": True, "append_eq": True}, "append_eq and prepend_bos both use the last "
                                               "vocabulary id: choose one"),
    ({"prepend_bos": True, "n_ctx": 1}, "n_ctx must leave room for the prepended BOS token"),
])
def test_bad_tracr_layout_keys_name_the_key_on_one_line(change: dict[str, Any],
                                                        needle: str) -> None:
    with pytest.raises(ChallengeError, match=r"^invalid transformer config: ") as info:
        models.build({**OLD, **change})
    assert needle in str(info.value) and "\n" not in str(info.value), str(info.value)
