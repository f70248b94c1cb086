"""Architectures, safe weights, challenge kinds on disk and `dixit challenge import`, with real
torch on tiny domains (the 113x113 transformer run is marked slow; bench/bench_train.py times it).
"""

from __future__ import annotations

import json
import pickle
import struct
from pathlib import Path

import pytest

from dixit import challenge, models
from dixit.errors import ChallengeError
from dixit.models import training
from tests.conftest import Runner, program

LABELER = ("import torch\n\ndef label(x):\n"
           "    return ((x[:, 0] - 6) ** 2 + (x[:, 1] - 6) ** 2 < 20).long()\n")
IMAGE_LABELER = ("import torch\n\ndef label(x):\n"
                 "    return (x[:, :4, :4].float().mean(dim=(1, 2)) > 127).long()\n")
DATASET = "scoring/data/tiny.safetensors"
SMALL = {  # per architecture: domain and knobs that train in a second or two
    "mlp": ["--domain", "grid:12x12", "--hidden", "16,16", "--steps", "60"],
    "transformer": ["--domain", "grid:13x13", "--d-model", "32", "--heads", "4", "--d-mlp",
                    "64", "--steps", "60"],
    "cnn": ["--domain", f"dataset:{DATASET}", "--channels", "4,8", "--hidden", "16",
            "--steps", "30"],
}


def _images(root: Path, n: int = 64, size: int = 12) -> None:
    """Small synthetic grey images written by the test (nothing is downloaded)."""
    import torch
    from safetensors.torch import save_file

    gen = torch.Generator().manual_seed(3)
    images = torch.randint(0, 256, (n, size, size), generator=gen, dtype=torch.uint8)
    (root / DATASET).parent.mkdir(parents=True, exist_ok=True)
    save_file({"inputs": images}, str(root / DATASET))


def _new(dixit: Runner, base: Path, arch: str, *extra: str) -> tuple[Path, dict]:
    """`dixit challenge new` for ``arch`` on its small domain, run from ``base``."""
    if arch == "cnn" and not (base / DATASET).exists():
        _images(base)
    lab = program(base, f"lab_{arch}", IMAGE_LABELER if arch == "cnn" else LABELER)
    out = base / f"ch_{arch}_{len(list(base.iterdir()))}"
    res = dixit.ok("-C", base, "challenge", "new", out, "--labeler", lab, "--arch", arch,
                   *SMALL[arch], *extra, "--json")
    return out, res.json()


def _one_line_error(res, *needles: str) -> None:
    lines = res.err.strip().splitlines()
    assert res.code == 1, res.err + res.out
    assert len(lines) == 1 and lines[0].startswith("error: "), res.err
    assert "Traceback" not in res.err
    for needle in needles:
        assert needle in lines[0], lines[0]


# -- architectures ------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", models.ARCHS)
def test_each_architecture_trains_and_reloads_identically(dixit: Runner, tmp_path: Path,
                                                          arch: str) -> None:
    import torch

    from dixit.data import domains

    out, summary = _new(dixit, tmp_path, arch)
    assert set(summary) >= {"train_accuracy", "heldout_accuracy", "seconds"}
    assert all(isinstance(summary[k], float) for k in ("train_accuracy", "heldout_accuracy",
                                                       "seconds"))
    spec = SMALL[arch][1]
    domain = domains.parse(spec, root=tmp_path)
    model = models.load(out)  # safetensors + config, strict
    assert isinstance(model, torch.nn.Module) and not model.training
    # the reloaded model reproduces the accuracies measured on the trained one, exactly
    labels = challenge.run_labeler_locally(out / "labeler.py", domain.all())
    tr, ho = training.split(domain.size, 0.5, 0)
    x = domain.all()
    assert round(training.accuracy(model, x[tr], labels[tr]), 6) == summary["train_accuracy"]
    assert round(training.accuracy(model, x[ho], labels[ho]), 6) == summary["heldout_accuracy"]

    # and the same weights give bit-identical logits through save -> load_weights
    config = models.load_config(out)
    fresh = models.build(config, seed=5)
    models.save(fresh, config, tmp_path / "again.safetensors")
    again = models.load_weights(config, tmp_path / "again.safetensors")
    fresh.eval()
    with torch.no_grad():
        assert torch.equal(fresh(x), again(x))


def test_training_is_reproducible(tmp_path: Path) -> None:
    lab = program(tmp_path, "lab", LABELER)
    digests = []
    for name in ("a", "b"):
        challenge.create(tmp_path / name, lab, "grid:13x13", arch="transformer", steps=20,
                         overrides={"d_model": 16, "n_heads": 2, "d_mlp": 32}, seed=3)
        digests.append((tmp_path / name / "model.safetensors").read_bytes())
    assert digests[0] == digests[1]


def test_seed_cnn_has_the_seed_shapes() -> None:
    """The seed's MNIST CNN: conv 1->8->16 of 3x3 (ReLU, dropout, 2x2 max-pool), 400->200->2."""
    cfg = models.default_config("cnn", (28, 28), (), dropout=0.2)
    model = models.build(cfg)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes == {"conv1.weight": (8, 1, 3, 3), "conv1.bias": (8,),
                      "conv2.weight": (16, 8, 3, 3), "conv2.bias": (16,),
                      "fc1.weight": (200, 400), "fc1.bias": (200,),
                      "fc2.weight": (2, 200), "fc2.bias": (2,)}
    assert cfg["input_shape"] == [1, 28, 28] and cfg["dropout"] == 0.2
    import torch

    assert model(torch.zeros(3, 28, 28, dtype=torch.uint8)).shape == (3, 2)
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 2)  # (N, C, H, W) floats too


def test_seed_transformer_has_the_seed_shapes() -> None:
    """d_model 128, 8 heads, d_mlp 1024, vocab 114 (0..112 and '=' 113), context 3, 2 classes,
    TransformerLens HookedTransformer names and shapes, no LayerNorm, weights only."""
    cfg = models.default_config("transformer", (2,), (113, 113), domain_kind="grid")
    assert cfg == {"arch": "transformer", "vocab": 114, "n_ctx": 3, "d_model": 128,
                   "n_heads": 8, "d_mlp": 1024, "act": "relu", "classes": 2,
                   "append_eq": True}
    model = models.build(cfg)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes == {
        "embed.W_E": (114, 128), "pos_embed.W_pos": (3, 128),
        "blocks.0.attn.W_Q": (8, 128, 16), "blocks.0.attn.W_K": (8, 128, 16),
        "blocks.0.attn.W_V": (8, 128, 16), "blocks.0.attn.W_O": (8, 16, 128),
        "blocks.0.attn.b_Q": (8, 16), "blocks.0.attn.b_K": (8, 16),
        "blocks.0.attn.b_V": (8, 16), "blocks.0.attn.b_O": (128,),
        "blocks.0.mlp.W_in": (128, 1024), "blocks.0.mlp.b_in": (1024,),
        "blocks.0.mlp.W_out": (1024, 128), "blocks.0.mlp.b_out": (128,),
        "unembed.W_U": (128, 2), "unembed.b_U": (2,)}
    import torch

    tokens = model.tokens(torch.tensor([[5, 7]]))
    assert tokens.tolist() == [[5, 7, 113]]  # a, b, '='
    assert model(torch.tensor([[5, 7], [0, 112]])).shape == (2, 2)


def test_transformer_over_tokens_reads_the_sequence_as_it_is() -> None:
    cfg = models.default_config("transformer", (4,), (5, 4), domain_kind="tokens")
    assert (cfg["vocab"], cfg["n_ctx"], cfg["append_eq"]) == (5, 4, False)
    cfg = models.default_config("transformer", (4,), (5, 4), domain_kind="tokens",
                                append_eq=True)
    assert (cfg["vocab"], cfg["n_ctx"]) == (6, 5)


@pytest.mark.parametrize(("arch", "shape", "dims", "change", "needle"), [
    ("transformer", (2,), (13, 13), {"n_heads": 3, "d_model": 32}, "multiple of n_heads"),
    ("transformer", (2,), (13, 13), {"act": "tanh"}, "act must be one of relu, gelu"),
    ("transformer", (2,), (13, 13), {"dmodel": 32}, "unknown key(s) dmodel"),
    ("transformer", (2,), (13, 13), {"d_mlp": 2.5}, "d_mlp must be an integer"),
    ("transformer", (2,), (13, 13), {"vocab": 10**6, "d_model": 16384}, "over the limit"),
    ("cnn", (6, 6), (), {"channels": [4, 4, 4], "padding": 0}, "too small"),
    ("cnn", (6, 6), (), {"dropout": 1.5}, "dropout must be"),
    ("mlp", (2,), (4, 4), {"hidden": [10**5]}, "out of range"),
])
def test_bad_configs_are_refused_clearly(arch: str, shape: tuple, dims: tuple, change: dict,
                                         needle: str) -> None:
    cfg = models.default_config(arch, shape, dims, **change)
    with pytest.raises(ChallengeError, match=r"^invalid " + arch) as info:
        models.build(cfg)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_architectures_refuse_domains_they_cannot_read(dixit: Runner, tmp_path: Path) -> None:
    lab = program(tmp_path, "lab", LABELER)
    res = dixit("challenge", "new", tmp_path / "o", "-l", lab, "-d", "grid:8x8", "--arch", "cnn")
    _one_line_error(res, "cnn architecture needs image inputs")
    res = dixit("challenge", "new", tmp_path / "o", "-l", lab, "-d", "grid:8x8", "--arch",
                "resnet")
    _one_line_error(res, "unknown architecture 'resnet'")
    res = dixit("challenge", "new", tmp_path / "o", "-l", lab, "-d", "grid:8x8", "--set", "x")
    _one_line_error(res, "--set takes key=value")
    assert not (tmp_path / "o").exists()


def test_set_takes_typed_values(dixit: Runner, tmp_path: Path) -> None:
    assert challenge.parse_settings(["act=gelu", "append-eq=false", "hidden=64", "dropout=0.2",
                                     "channels=8,16"]) == {
        "act": "gelu", "append_eq": False, "hidden": [64], "dropout": 0.2, "channels": [8, 16]}
    out, _ = _new(dixit, tmp_path, "transformer", "--set", "act=gelu")
    assert models.load_config(out)["act"] == "gelu"


# -- weight files are refused clearly -------------------------------------------------------------


def _tournament(dixit: Runner, tmp_path: Path) -> Path:
    root = tmp_path / "league"
    dixit.ok("init", root, "--name", "L")
    dixit.ok("-C", root, "team", "add", "alice")
    dixit.ok("-C", root, "team", "add", "bob")
    dixit.ok("-C", root, "round", "open")
    return root


def _rename_tensor(data: bytes) -> bytes:
    """A safetensors file whose header names a tensor the architecture does not have."""
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    key = next(k for k in header if k != "__metadata__")
    header["evil." + key] = header.pop(key)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + data[8 + n:]


def test_bad_weight_files_are_refused_through_the_cli(dixit: Runner, tmp_path: Path) -> None:
    import torch

    root = _tournament(dixit, tmp_path)
    out, _ = _new(dixit, tmp_path, "transformer")
    weights = out / "model.safetensors"
    good = weights.read_bytes()
    config = models.load_config(out)

    class Evil:
        def __reduce__(self):  # would run a command if anyone unpickled it
            return (print, ("pwned",))

    wrong = models.build({**config, "d_mlp": 32})
    models.save(wrong, config, tmp_path / "wrong.safetensors")
    double = models.build(config).double()
    models.save(double, config, tmp_path / "double.safetensors")
    cases = {
        "pickle renamed": (pickle.dumps(Evil()), "not a readable safetensors file"),
        "truncated": (good[: len(good) // 2], "not a readable safetensors file"),
        "tensor renamed": (_rename_tensor(good), "does not match the transformer config"),
        "wrong shape": ((tmp_path / "wrong.safetensors").read_bytes(),
                        "tensor blocks.0.mlp.W_in is torch.float32(32, 32), expected "
                        "torch.float32(32, 64)"),
        "wrong dtype": ((tmp_path / "double.safetensors").read_bytes(), "torch.float64"),
    }
    for name, (data, needle) in cases.items():
        weights.write_bytes(data)
        res = dixit("-C", root, "propose", "--team", "alice", out)
        _one_line_error(res, needle)
        assert "pwned" not in res.out + res.err, name
        with pytest.raises(ChallengeError):
            models.load(out)
    weights.write_bytes(good)
    assert torch.equal(models.load(out).embed.W_E, models.load(out).embed.W_E)
    dixit.ok("-C", root, "propose", "--team", "alice", out)


# -- challenge import -----------------------------------------------------------------------------


def _trained_elsewhere(tmp_path: Path, arch: str, **knobs: object):
    """A module as another project would train it: our architecture, its own init."""
    import torch

    from dixit.data import domains

    d = domains.parse(SMALL[arch][1], root=tmp_path)
    cfg = models.default_config(arch, d.input_shape, d.dims, domain_kind=d.kind, **knobs)
    module = models.build(cfg, seed=11)
    with torch.no_grad():  # "trained": any weights at all will do for the round trip
        for p in module.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return module.eval(), d


@pytest.mark.parametrize("arch", models.ARCHS)
def test_import_round_trips_a_torch_state_dict(dixit: Runner, tmp_path: Path,
                                               arch: str) -> None:
    import torch

    if arch == "cnn":
        _images(tmp_path)
    knobs = {"mlp": {"hidden": [16, 16]}, "transformer": {"d_model": 32, "n_heads": 4,
                                                           "d_mlp": 64},
             "cnn": {"channels": [4, 8], "hidden": [16]}}[arch]
    module, domain = _trained_elsewhere(tmp_path, arch, **knobs)
    state = module.state_dict()
    if arch == "transformer":  # a TransformerLens HookedTransformer also saves two buffers
        state = {**state, "blocks.0.attn.mask": torch.ones(3, 3).tril().bool(),
                 "blocks.0.attn.IGNORE": torch.tensor(-1e5)}
    torch.save({"model": state, "epoch": 3}, tmp_path / "trained.pt")
    lab = program(tmp_path, "lab", IMAGE_LABELER if arch == "cnn" else LABELER)
    args = SMALL[arch][:-2]  # its domain and knobs, without --steps
    out = tmp_path / "imported"
    summary = dixit.ok("-C", tmp_path, "challenge", "import", out, "--state-dict",
                       tmp_path / "trained.pt", "--arch", arch, "--labeler", lab, *args,
                       "--json").json()
    assert summary["steps"] == 0 and set(summary) >= {"train_accuracy", "heldout_accuracy",
                                                      "seconds"}
    loaded = models.load(out)
    x = domain.all()
    with torch.no_grad():
        assert torch.equal(loaded(x), module(x))
    labels = challenge.run_labeler_locally(lab, x)
    _tr, ho = training.split(domain.size, 0.5, 0)
    assert round(training.accuracy(module, x[ho], labels[ho]), 6) == summary["heldout_accuracy"]
    local = challenge.read(out)
    assert local.kind == "labeler" and local.secret == out / "labeler.py"
    assert local.meta["claimed_accuracy"] == summary["heldout_accuracy"]
    assert sorted(p.name for p in out.iterdir()) == ["challenge.toml", "labeler.py",
                                                     "model.safetensors"]


def test_import_refuses_mismatched_and_foreign_files(dixit: Runner, tmp_path: Path) -> None:
    import torch

    module, _ = _trained_elsewhere(tmp_path, "transformer", d_model=32, n_heads=4, d_mlp=64)
    lab = program(tmp_path, "lab", LABELER)
    base = ["--arch", "transformer", "--labeler", lab, *SMALL["transformer"][:-2]]

    def refused(name: str, obj: object, *needles: str, raw: bytes | None = None) -> None:
        path = tmp_path / f"{name}.pt"
        if raw is not None:
            path.write_bytes(raw)
        else:
            torch.save(obj, path)
        res = dixit("challenge", "import", tmp_path / name, "--state-dict", path, *base)
        _one_line_error(res, *needles)
        assert "pwned" not in res.out + res.err
        assert not (tmp_path / name).exists()

    sd = module.state_dict()
    refused("shape", {**sd, "blocks.0.mlp.W_in": torch.zeros(32, 65)},
            "tensor blocks.0.mlp.W_in is torch.float32(32, 65), expected torch.float32(32, 64)")
    refused("missing", {k: v for k, v in sd.items() if k != "unembed.b_U"},
            "does not match the transformer config: missing ['unembed.b_U']")
    refused("extra", {**sd, "blocks.1.mlp.W_in": torch.zeros(2)},
            "unexpected ['blocks.1.mlp.W_in']")
    refused("dtype", {k: v.double() for k, v in sd.items()}, "torch.float64")
    refused("notdict", [1, 2, 3], "is not a torch state dict: expected a mapping")

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    refused("pickle", None, "is not a torch state dict", raw=pickle.dumps(Evil()))
    refused("text", None, "is not a torch state dict", raw=b"hello, not a checkpoint\n")
    res = dixit("challenge", "import", tmp_path / "x", "--state-dict", tmp_path / "nope.pt",
                *base)
    _one_line_error(res, "nope.pt not found")


# -- kinds and flags ------------------------------------------------------------------------------


@pytest.mark.parametrize(("a", "b"), [
    ("Bright top-left corner", "  bright TOP-LEFT\tcorner \n"),
    ("Straße", "STRASSE"),
    ("ｆｕｌｌ ｗｉｄｔｈ", "full width"),      # NFKC
    ("line\none", "LINE   ONE"),
    ("café", "cafe\u0301"),                   # composed vs combining accent
])
def test_flags_match_after_normalization(a: str, b: str) -> None:
    assert challenge.normalize_flag(a) == challenge.normalize_flag(b)
    assert challenge.flag_matches(a.encode(), b.encode())


@pytest.mark.parametrize(("a", "b"), [
    ("trigger-42", "trigger 42"), ("abc", "abd"), ("abc", "ab"), ("abc", ""),
])
def test_different_flags_do_not_match(a: str, b: str) -> None:
    assert not challenge.flag_matches(a.encode(), b.encode())


def test_flag_compare_handles_bad_bytes() -> None:
    assert not challenge.flag_matches(b"flag", b"\xff\xfe")
    assert not challenge.flag_matches(b"\xff", b"\xff")  # not UTF-8: never a match
    assert challenge.normalize_flag("  A\u00a0 b\t") == "a b"


def test_flag_kind_folder_has_flag_txt(dixit: Runner, tmp_path: Path) -> None:
    flag = "The Trigger is  ZEBRA"
    out, summary = _new(dixit, tmp_path, "mlp", "--kind", "flag", "--flag", flag)
    assert summary["kind"] == "flag"
    assert (out / "flag.txt").read_bytes() == flag.encode()
    assert (out / "labeler.py").exists()  # it made the planted behaviour; never published
    local = challenge.read(out)
    assert (local.kind, local.secret, local.labeler) == ("flag", out / "flag.txt",
                                                          out / "labeler.py")
    assert local.meta["secret"] == "flag.txt"
    for kind, domain in (("labeler", []), ("emulate", ["--domain", "tokens:5x16:200"])):
        folder, _ = _new(dixit, tmp_path, "mlp", "--kind", kind, *domain)
        local = challenge.read(folder)
        assert local.kind == kind and local.secret == folder / "labeler.py"
        assert local.meta["secret"] == "labeler.py" and not (folder / "flag.txt").exists()
    (out / "flag.txt").unlink()
    with pytest.raises(ChallengeError, match=r"flag challenge but has no flag\.txt"):
        challenge.read(out)


@pytest.mark.parametrize(("args", "needle"), [
    (["--kind", "flag"], "needs its secret string: --flag TEXT"),
    (["--kind", "flag", "--flag", "   "], "1 to 256 characters"),
    (["--kind", "flag", "--flag", "x" * 257], "1 to 256 characters"),
    (["--kind", "flag", "--flag", "a\x00b"], "NUL"),
    (["--flag", "zebra"], "--flag is only for --kind flag"),
    (["--kind", "riddle"], "unknown challenge kind 'riddle'"),
])
def test_bad_kinds_and_flags_are_refused(dixit: Runner, tmp_path: Path, args: list[str],
                                         needle: str) -> None:
    lab = program(tmp_path, "lab", LABELER)
    res = dixit("challenge", "new", tmp_path / "o", "-l", lab, "-d", "grid:6x6", *args)
    _one_line_error(res, needle)
    assert not (tmp_path / "o").exists()


# -- inspection tools (optional extras, tested where installed) --------------------------------


def _hooked_transformer():
    try:  # HookedTransformer is TransformerLens < 4 (4.0 replaced it with TransformerBridge)
        from transformer_lens import HookedTransformer, HookedTransformerConfig
    except ImportError:
        pytest.skip("transformer_lens with HookedTransformer (<4) is not installed")
    return HookedTransformer, HookedTransformerConfig


def test_weights_load_into_a_hooked_transformer(dixit: Runner, tmp_path: Path) -> None:
    import torch

    hooked_cls, config_cls = _hooked_transformer()
    out, _ = _new(dixit, tmp_path, "transformer")
    model = models.load(out)
    hooked = hooked_cls(config_cls(**models.transformer_lens_config(models.load_config(out))))
    missing = hooked.load_state_dict(model.state_dict(), strict=False)
    assert sorted(missing.missing_keys) == ["blocks.0.attn.IGNORE", "blocks.0.attn.mask"]
    assert not missing.unexpected_keys
    x = torch.cartesian_prod(torch.arange(13), torch.arange(13))
    with torch.no_grad():
        assert torch.allclose(hooked(model.tokens(x))[:, -1], model(x), atol=1e-4)



@pytest.mark.parametrize("extra", [
    {"n_layers": 2, "normalization": "LN"},
    {"n_layers": 2, "attn_only": True},
    {"n_layers": 3, "normalization": "LN", "attn_only": True, "act": "gelu"},
], ids=["2-layers-LN", "2-layers-attn-only", "3-layers-LN-attn-only-gelu"])
def test_multi_layer_weights_load_into_a_hooked_transformer(extra: dict) -> None:
    """Both ways: our state dict into a HookedTransformer and its own init into ours, logits
    equal at every position (so the causal masks agree) and ours read at the last one."""
    import torch

    hooked_cls, config_cls = _hooked_transformer()
    cfg = {"arch": "transformer", "vocab": 11, "n_ctx": 6, "d_model": 16, "n_heads": 4,
           "d_mlp": 32, "act": "relu", "classes": 5, "append_eq": False, "positions": "all",
           **extra}
    model = models.build(cfg, seed=2)
    with torch.no_grad():  # biases and LN weights away from their 0/1 init
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    model.eval()
    hooked = hooked_cls(config_cls(**models.transformer_lens_config(cfg)))
    loaded = hooked.load_state_dict(model.state_dict(), strict=False)
    assert sorted(loaded.missing_keys) == sorted(
        f"blocks.{i}.attn.{b}" for i in range(cfg["n_layers"]) for b in ("IGNORE", "mask"))
    assert not loaded.unexpected_keys
    x = torch.randint(0, 11, (128, 6), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        theirs = hooked(model.tokens(x))
    assert theirs.shape == (128, 6, 5)
    assert torch.allclose(theirs, models.logits(model, x), atol=1e-4)
    last = models.load_state(models.build({**cfg, "positions": "last"}), model.state_dict(),
                             "ours", "transformer")
    assert torch.allclose(theirs[:, -1], models.logits(last, x), atol=1e-4)

    fresh = hooked_cls(config_cls(**models.transformer_lens_config(cfg)))
    state = {k: v for k, v in fresh.state_dict().items()
             if not k.endswith((".attn.IGNORE", ".attn.mask"))}
    ours = models.load_state(models.build(cfg), state, "TransformerLens", "transformer")
    with torch.no_grad():
        assert torch.allclose(fresh(x), models.logits(ours, x), atol=1e-4)

def test_nnsight_traces_the_model(dixit: Runner, tmp_path: Path) -> None:
    nnsight = pytest.importorskip("nnsight")
    import torch

    out, _ = _new(dixit, tmp_path, "transformer")
    model = models.load(out)
    x = torch.cartesian_prod(torch.arange(13), torch.arange(13))
    traced = nnsight.NNsight(model)
    with traced.trace(x):
        pattern = traced.blocks[0].attn.hook_pattern.output.save()
        logits = traced.output.save()
    assert tuple(pattern.shape) == (169, 4, 3, 3)
    assert torch.allclose(logits, model(x))


# -- the seed-sized challenge ---------------------------------------------------------------------


@pytest.mark.slow
def test_curved_113_transformer_reaches_90_percent(dixit: Runner, tmp_path: Path) -> None:
    labeler = Path(__file__).resolve().parent.parent / "examples" / "labelers" / "curved113.py"
    res = dixit.ok("challenge", "new", tmp_path / "seedlike", "--labeler", labeler,
                   "--domain", "grid:113x113", "--arch", "transformer", "--json").json()
    assert res["heldout_accuracy"] >= 0.90 and res["seconds"] < 300
