"""Reference architectures and safe weights: safetensors plus a small architecture config.

Nothing here unpickles: ``load`` builds the module from its config, reads the weights with
safetensors and checks every key, shape and dtype before loading them strictly. Solvers call
``dixit.models.load(path)`` to get a plain ``torch.nn.Module`` (the challenge folder or its
``challenge.toml``, or a ledger entry folder).

Architectures (``ARCHS``), each built from a flat config dict that lives in challenge.toml:

- ``mlp``: inputs flattened (integer grids rescaled to [-1, 1]), ReLU hidden layers.
- ``transformer``: one attention + MLP layer over tokens, no LayerNorm, logits read at the last
  position (grokking-style). A grid pair (a, b) becomes the tokens a, b, ``=`` with ``=`` the
  last vocabulary id. Parameter names and shapes are TransformerLens ``HookedTransformer``'s
  (``embed.W_E``, ``blocks.0.attn.W_Q`` ...), so state dicts move between the two directly.
- ``cnn``: conv -> ReLU -> dropout -> max-pool blocks, then ReLU linear layers (``conv1``...,
  ``fc1``... as in the usual MNIST nets); uint8 images are rescaled by 1/255.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dixit import tomlio
from dixit.errors import ChallengeError

if TYPE_CHECKING:
    import torch
    from torch import nn

ARCHS = ("mlp", "transformer", "cnn")
MAX_PARAMETERS = 200_000_000  # checked from the config before anything is allocated

# The keys each architecture's config may hold (a typo in `--set` is refused, not ignored).
_KEYS: dict[str, frozenset[str]] = {
    "mlp": frozenset({"arch", "in_features", "input_ranges", "hidden", "classes"}),
    "transformer": frozenset({"arch", "vocab", "n_ctx", "d_model", "n_heads", "d_mlp", "act",
                              "classes", "append_eq"}),
    "cnn": frozenset({"arch", "input_shape", "channels", "kernel", "padding", "pool", "dropout",
                      "hidden", "classes"}),
}
_ACTS = ("relu", "gelu")


def default_config(arch: str, input_shape: tuple[int, ...], dims: tuple[int, ...], *,
                   domain_kind: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A sensible architecture config for a domain; ``overrides`` set individual fields.

    ``domain_kind`` (grid, tokens, dataset) decides how a transformer reads its inputs: a grid
    tuple gets an ``=`` token appended (as in the seed challenge), token sequences do not unless
    ``append_eq=True``. Overrides that are None are ignored.
    """
    given = {k: v for k, v in overrides.items() if v is not None}
    if arch == "mlp":
        cfg: dict[str, Any] = {
            "arch": "mlp",
            "in_features": math.prod(input_shape),
            # integer inputs (grids, tokens) are rescaled to [-1, 1] by their ranges
            "input_ranges": list(dims) if dims else [],
            "hidden": [256, 256],
            "classes": 2,
        }
    elif arch == "transformer":
        cfg = _transformer_defaults(input_shape, dims, domain_kind, given)
    elif arch == "cnn":
        if len(input_shape) not in (2, 3):
            raise ChallengeError(
                f"the cnn architecture needs image inputs (a dataset domain of shape (N, H, W) "
                f"or (N, C, H, W)); this domain's inputs have shape {tuple(input_shape)}")
        shape = [1, *input_shape] if len(input_shape) == 2 else list(input_shape)
        cfg = {"arch": "cnn", "input_shape": shape, "channels": [8, 16], "kernel": 3,
               "padding": 0, "pool": 2, "dropout": 0.1, "hidden": [200], "classes": 2}
        # the seed's MNIST net (28x28 -> 400 features) unless the images are too small for it:
        # then pad, then use fewer blocks, then stop pooling
        layout = ("channels", "kernel", "padding", "pool")
        if not any(k in given for k in layout):
            for channels, padding, pool in (([8, 16], 0, 2), ([8, 16], 1, 2), ([8], 1, 2),
                                            ([8], 1, 1)):
                if _conv_out(shape, len(channels), 3, padding, pool) is not None:
                    cfg.update(channels=channels, padding=padding, pool=pool)
                    break
    else:
        raise ChallengeError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    cfg.update(given)
    return cfg


def _transformer_defaults(input_shape: tuple[int, ...], dims: tuple[int, ...],
                          domain_kind: str | None, given: dict[str, Any]) -> dict[str, Any]:
    if len(input_shape) != 1:
        raise ChallengeError(
            "the transformer architecture needs token inputs (a grid or tokens domain, or a "
            f"dataset of shape (N, L)); this domain's inputs have shape {tuple(input_shape)}")
    if domain_kind is None:  # callers that do not say: a grid has one size per input column
        domain_kind = "grid" if len(dims) == input_shape[0] else "tokens" if dims else "dataset"
    length = int(input_shape[0])
    if domain_kind == "grid":
        tokens = max(dims)
    elif domain_kind == "tokens":
        tokens = dims[0]
    elif "vocab" in given:
        tokens = int(given["vocab"])
    else:
        raise ChallengeError("a transformer over a dataset domain needs its vocabulary size: "
                             "pass --set vocab=N")
    append = bool(given.get("append_eq", domain_kind == "grid"))
    # the seed challenge: d_model 128, 8 heads, d_mlp 1024, ReLU, no LayerNorm, read at the end
    return {"arch": "transformer", "vocab": int(tokens) + (1 if append else 0),
            "n_ctx": length + (1 if append else 0), "d_model": 128, "n_heads": 8,
            "d_mlp": 1024, "act": "relu", "classes": 2, "append_eq": append}


def build(config: dict[str, Any], seed: int | None = None) -> nn.Module:
    """Construct an untrained module from its config (validated); ``seed`` fixes the init."""
    arch = config.get("arch")
    builder = _BUILDERS.get(str(arch))
    if builder is None:
        raise ChallengeError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    unknown = sorted(set(config) - _KEYS[str(arch)])
    if unknown:
        raise ChallengeError(f"invalid {arch} config: unknown key(s) {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(_KEYS[str(arch)] - {'arch'}))}")
    try:
        if seed is None:
            return builder(config)
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return builder(config)
    except (KeyError, TypeError, ValueError) as exc:
        what = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ChallengeError(f"invalid {arch} config: {what}") from None


def _int(cfg: dict[str, Any], key: str, lo: int, hi: int) -> int:
    """A config integer within [lo, hi] (bools and floats refused: configs are exact)."""
    value = cfg[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key} must be an integer, not {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{key} = {value} is out of range [{lo}, {hi}]")
    return value


def _ints(cfg: dict[str, Any], key: str, lo: int, hi: int, max_len: int = 16) -> list[int]:
    values = cfg[key]
    if not isinstance(values, list) or len(values) > max_len:
        raise ValueError(f"{key} must be a list of at most {max_len} integers")
    return [_int({key: v}, key, lo, hi) for v in values]


def _conv_out(shape: list[int], blocks: int, kernel: int, padding: int, pool: int
              ) -> tuple[int, int] | None:
    """Height and width after ``blocks`` conv + pool blocks, or None if they vanish."""
    h, w = shape[-2], shape[-1]
    for _ in range(blocks):
        h, w = h + 2 * padding - kernel + 1, w + 2 * padding - kernel + 1
        if h < 1 or w < 1:
            return None
        h, w = h // pool, w // pool
        if h < 1 or w < 1:
            return None
    return h, w


def _check_size(arch: str, count: int) -> None:
    if count > MAX_PARAMETERS:
        raise ValueError(f"{count:,} parameters, over the limit of {MAX_PARAMETERS:,}")


def _mlp(cfg: dict[str, Any]) -> nn.Module:
    import torch
    from torch import nn

    in_features = int(cfg["in_features"])
    hidden = [int(h) for h in cfg["hidden"]]
    classes = int(cfg["classes"])
    ranges = [int(r) for r in cfg.get("input_ranges", [])]
    if in_features < 1 or classes < 2 or any(h < 1 or h > 65536 for h in hidden):
        raise ValueError("sizes out of range")
    widths = [in_features, *hidden, classes]
    _check_size("mlp", sum((a + 1) * b for a, b in itertools.pairwise(widths)))

    class MLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers: list[nn.Module] = []
            width = in_features
            for h in hidden:
                layers += [nn.Linear(width, h), nn.ReLU()]
                width = h
            layers.append(nn.Linear(width, classes))
            self.net = nn.Sequential(*layers)
            scale = torch.tensor([max(r - 1, 1) for r in ranges], dtype=torch.float32) \
                if ranges and len(ranges) == in_features else None
            self.register_buffer("scale", scale if scale is not None else torch.ones(0),
                                 persistent=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = x.reshape(x.shape[0], -1).to(torch.float32)
            if self.scale.numel():
                x = x / self.scale * 2.0 - 1.0
            return self.net(x)

    return MLP()


def _transformer(cfg: dict[str, Any]) -> nn.Module:
    vocab = _int(cfg, "vocab", 2, 1_000_000)
    n_ctx = _int(cfg, "n_ctx", 1, 4096)
    d_model = _int(cfg, "d_model", 1, 16384)
    n_heads = _int(cfg, "n_heads", 1, 1024)
    d_mlp = _int(cfg, "d_mlp", 1, 65536)
    classes = _int(cfg, "classes", 2, 1_000_000)
    act, append = cfg["act"], cfg["append_eq"]
    if act not in _ACTS:
        raise ValueError(f"act must be one of {', '.join(_ACTS)}, not {act!r}")
    if not isinstance(append, bool):
        raise ValueError("append_eq must be true or false")
    if d_model % n_heads:
        raise ValueError(f"d_model ({d_model}) must be a multiple of n_heads ({n_heads})")
    if append and n_ctx < 2:
        raise ValueError("n_ctx must leave room for the appended '=' token")
    _check_size("transformer", (vocab + n_ctx + 4 * d_model + 2 * d_mlp + classes + 4) * d_model
                + d_mlp + classes)
    return _transformer_classes()["Transformer"](
        vocab=vocab, n_ctx=n_ctx, d_model=d_model, n_heads=n_heads, d_mlp=d_mlp, act=act,
        classes=classes, append_eq=append)


@functools.cache
def _transformer_classes() -> dict[str, type]:
    """The transformer's modules, defined once torch is imported (``dixit --help`` stays light).

    Submodules and hook points (identity modules, no parameters) mirror TransformerLens, so
    nnsight traces ``blocks[0].attn.hook_pattern`` or ``blocks[0].mlp.hook_post`` by name.
    """
    import torch
    import torch.nn.functional as F
    from torch import nn

    def param(*shape: int, std: float | None = None) -> nn.Parameter:
        # std 1/sqrt(fan_in) keeps every layer's output at unit scale; biases start at zero
        t = torch.zeros(*shape) if std is None else torch.randn(*shape) * std
        return nn.Parameter(t)

    class Embed(nn.Module):
        def __init__(self, vocab: int, d_model: int) -> None:
            super().__init__()
            self.W_E = param(vocab, d_model, std=d_model ** -0.5)

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            return self.W_E[tokens]

    class PosEmbed(nn.Module):
        def __init__(self, n_ctx: int, d_model: int) -> None:
            super().__init__()
            self.W_pos = param(n_ctx, d_model, std=d_model ** -0.5)

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            return self.W_pos[: tokens.shape[1]].unsqueeze(0)

    class Attention(nn.Module):
        def __init__(self, d_model: int, n_heads: int, n_ctx: int) -> None:
            super().__init__()
            d_head = d_model // n_heads
            self.n_heads, self.d_head = n_heads, d_head
            self.W_Q = param(n_heads, d_model, d_head, std=d_model ** -0.5)
            self.W_K = param(n_heads, d_model, d_head, std=d_model ** -0.5)
            self.W_V = param(n_heads, d_model, d_head, std=d_model ** -0.5)
            self.W_O = param(n_heads, d_head, d_model, std=d_model ** -0.5)
            self.b_Q, self.b_K, self.b_V = (param(n_heads, d_head) for _ in range(3))
            self.b_O = param(d_model)
            # causal mask: derived, never saved (state dicts stay weights-only)
            self.register_buffer("mask", torch.ones(n_ctx, n_ctx).tril().bool(),
                                 persistent=False)
            self.hook_pattern = nn.Identity()
            self.hook_z = nn.Identity()

        def _project(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            # [batch, pos, d_model] @ [d_model, heads * d_head] -> [batch, heads, pos, d_head]
            n, p, d = x.shape
            flat = w.permute(1, 0, 2).reshape(d, -1)
            out = (x @ flat).view(n, p, self.n_heads, self.d_head) + b
            return out.transpose(1, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            n, p, d = x.shape
            q = self._project(x, self.W_Q, self.b_Q)
            k = self._project(x, self.W_K, self.b_K)
            v = self._project(x, self.W_V, self.b_V)
            scores = (q @ k.transpose(-1, -2)) / math.sqrt(self.d_head)
            scores = scores.masked_fill(~self.mask[:p, :p], float("-inf"))
            pattern = self.hook_pattern(scores.softmax(dim=-1))  # [batch, heads, q, k]
            z = self.hook_z((pattern @ v).transpose(1, 2))       # [batch, pos, heads, d_head]
            return z.reshape(n, p, -1) @ self.W_O.reshape(-1, d) + self.b_O

    class MLP(nn.Module):
        def __init__(self, d_model: int, d_mlp: int, act: str) -> None:
            super().__init__()
            self.W_in = param(d_model, d_mlp, std=d_model ** -0.5)
            self.b_in = param(d_mlp)
            self.W_out = param(d_mlp, d_model, std=d_mlp ** -0.5)
            self.b_out = param(d_model)
            self.act = act
            self.hook_post = nn.Identity()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            pre = x @ self.W_in + self.b_in
            post = self.hook_post(F.relu(pre) if self.act == "relu" else F.gelu(pre))
            return post @ self.W_out + self.b_out

    class Block(nn.Module):
        def __init__(self, d_model: int, n_heads: int, d_mlp: int, n_ctx: int,
                     act: str) -> None:
            super().__init__()
            self.attn = Attention(d_model, n_heads, n_ctx)
            self.mlp = MLP(d_model, d_mlp, act)
            self.hook_resid_mid = nn.Identity()

        def forward(self, resid: torch.Tensor) -> torch.Tensor:
            # only the last position reaches the logits (one layer), so the MLP runs there only
            mid = self.hook_resid_mid(resid + self.attn(resid))[:, -1]
            return mid + self.mlp(mid)

    class Unembed(nn.Module):
        def __init__(self, d_model: int, classes: int) -> None:
            super().__init__()
            self.W_U = param(d_model, classes, std=d_model ** -0.5)
            self.b_U = param(classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x @ self.W_U + self.b_U

    class Transformer(nn.Module):
        """One-layer attention-only-then-MLP transformer; returns [batch, classes] logits."""

        def __init__(self, *, vocab: int, n_ctx: int, d_model: int, n_heads: int, d_mlp: int,
                     act: str, classes: int, append_eq: bool) -> None:
            super().__init__()
            self.vocab, self.n_ctx, self.append_eq = vocab, n_ctx, append_eq
            self.embed = Embed(vocab, d_model)
            self.pos_embed = PosEmbed(n_ctx, d_model)
            self.blocks = nn.ModuleList([Block(d_model, n_heads, d_mlp, n_ctx, act)])
            self.unembed = Unembed(d_model, classes)
            self.hook_tokens = nn.Identity()

        def tokens(self, x: torch.Tensor) -> torch.Tensor:
            """The model's token sequence for domain inputs (the ``=`` token appended)."""
            tokens = x.reshape(x.shape[0], -1).long()
            if self.append_eq:
                eq = torch.full((tokens.shape[0], 1), self.vocab - 1, dtype=torch.long)
                tokens = torch.cat([tokens, eq], dim=1)
            if tokens.shape[1] != self.n_ctx:
                raise ValueError(f"inputs make {tokens.shape[1]} tokens; the model's context "
                                 f"is {self.n_ctx}")
            return tokens

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            tokens = self.hook_tokens(self.tokens(x))
            resid = self.embed(tokens) + self.pos_embed(tokens)
            for block in self.blocks:
                resid = block(resid)
            return self.unembed(resid)

    return {"Transformer": Transformer}


def _cnn(cfg: dict[str, Any]) -> nn.Module:
    import torch
    import torch.nn.functional as F
    from torch import nn

    shape = _ints(cfg, "input_shape", 1, 4096, max_len=3)
    if len(shape) != 3:
        raise ValueError("input_shape must be [channels, height, width]")
    channels = _ints(cfg, "channels", 1, 4096)
    hidden = _ints(cfg, "hidden", 1, 65536)
    kernel = _int(cfg, "kernel", 1, 64)
    padding = _int(cfg, "padding", 0, 64)
    pool = _int(cfg, "pool", 1, 64)   # 1: no pooling
    classes = _int(cfg, "classes", 2, 1_000_000)
    dropout = cfg["dropout"]
    if isinstance(dropout, bool) or not isinstance(dropout, int | float) \
            or not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be a number in [0, 1), not {dropout!r}")
    if not channels:
        raise ValueError("channels must list at least one convolution")
    out = _conv_out(shape, len(channels), kernel, padding, pool)
    if out is None:
        raise ValueError(f"the images ({shape[1]}x{shape[2]}) are too small for "
                         f"{len(channels)} blocks of {kernel}x{kernel} convolution (padding "
                         f"{padding}) and {pool}x{pool} pooling")
    count, c = 0, shape[0]
    for out_c in channels:
        count += (c * kernel * kernel + 1) * out_c
        c = out_c
    flat = c * out[0] * out[1]
    widths = [flat, *hidden, classes]
    count += sum((a + 1) * b for a, b in itertools.pairwise(widths))
    _check_size("cnn", count)
    in_channels, n_conv = shape[0], len(channels)

    class CNN(nn.Module):
        """conv{i}: Conv2d, then ReLU, dropout, max-pool; fc{j}: Linear (ReLU but the last)."""

        def __init__(self) -> None:
            super().__init__()
            prev = in_channels
            for i, out_c in enumerate(channels, 1):
                self.add_module(f"conv{i}", nn.Conv2d(prev, out_c, kernel, padding=padding))
                prev = out_c
            for j, (a, b) in enumerate(itertools.pairwise(widths), 1):
                self.add_module(f"fc{j}", nn.Linear(a, b))
            self.pool = nn.MaxPool2d(pool, pool) if pool > 1 else nn.Identity()
            self.drop = nn.Dropout(float(dropout))
            self.flat = flat

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            # images arrive as (N, H, W) or (N, C, H, W), uint8 (0..255) or float
            x = x.float() / 255.0 if x.dtype == torch.uint8 else x.to(torch.float32)
            if x.dim() == 3:
                x = x.unsqueeze(1)
            for i in range(1, n_conv + 1):
                x = self.pool(self.drop(F.relu(getattr(self, f"conv{i}")(x))))
            x = x.reshape(x.shape[0], self.flat)
            n_fc = len(widths) - 1
            for j in range(1, n_fc + 1):
                x = getattr(self, f"fc{j}")(x)
                if j < n_fc:
                    x = F.relu(x)
            return x

    return CNN()


_BUILDERS: dict[str, Callable[[dict[str, Any]], nn.Module]] = {
    "mlp": _mlp, "transformer": _transformer, "cnn": _cnn}


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def save(module: nn.Module, config: dict[str, Any], path: Path) -> str:
    """Write weights as safetensors (config embedded as metadata); return the file's sha256."""
    import hashlib

    from safetensors.torch import save as st_save

    state = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}
    data = st_save(state, metadata={"dixit_config": json.dumps(config, sort_keys=True)})
    from dixit.fsutil import atomic_write

    atomic_write(path, data)
    return hashlib.sha256(data).hexdigest()


def load_weights(config: dict[str, Any], weights: Path, max_bytes: int | None = None) -> nn.Module:
    """Build the module from ``config`` and load ``weights`` with strict key/shape/dtype checks."""
    from safetensors import SafetensorError
    from safetensors.torch import load as st_load

    module = build(config)
    try:
        size = weights.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise ChallengeError(f"model {weights} is {size:,} bytes, over the limit of "
                                 f"{max_bytes:,}")
        state = st_load(weights.read_bytes())
    except (OSError, SafetensorError) as exc:
        raise ChallengeError(f"{weights} is not a readable safetensors file: "
                             f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                             ) from None
    return load_state(module, state, str(weights), str(config.get("arch")))


def load_state(module: nn.Module, state: dict[str, Any], source: str, arch: str) -> nn.Module:
    """Load ``state`` into ``module`` after checking every key, shape and dtype (one-line
    ChallengeError naming the first difference); the module is returned in eval mode."""
    import torch

    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        more = len(missing[3:]) + len(extra[3:])
        raise ChallengeError(f"{source} does not match the {arch} config: "
                             f"missing {missing[:3]}, unexpected {extra[:3]}"
                             + (f" (and {more} more)" if more else ""))
    for key, ref in expected.items():
        got = state[key]
        if not isinstance(got, torch.Tensor):
            raise ChallengeError(f"{source}: {key} is a {type(got).__name__}, not a tensor")
        if tuple(got.shape) != tuple(ref.shape) or got.dtype != ref.dtype:
            raise ChallengeError(f"{source}: tensor {key} is {got.dtype}{tuple(got.shape)}, "
                                 f"expected {ref.dtype}{tuple(ref.shape)}")
    module.load_state_dict(state, strict=True)
    module.eval()
    return module


def _read_meta(path: str | Path) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    p = Path(path)
    meta = p / "challenge.toml" if p.is_dir() else p
    try:
        data = tomlio.loads(meta.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomlio.TomlError) as exc:
        raise ChallengeError(f"cannot read {meta}: {exc}") from None
    config = data.get("model")
    if not isinstance(config, dict):
        raise ChallengeError(f"{meta} has no [model] table")
    return meta, data, config


def load_config(path: str | Path) -> dict[str, Any]:
    """A challenge's architecture config (its ``[model]`` table) from its folder or toml."""
    return _read_meta(path)[2]


def load(path: str | Path) -> nn.Module:
    """Load a challenge's model as a plain ``torch.nn.Module`` from its folder or toml."""
    meta, data, config = _read_meta(path)
    weights = meta.parent / str(data.get("challenge", {}).get("model", "model.safetensors"))
    return load_weights(config, weights)


def transformer_lens_config(config: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments of TransformerLens' ``HookedTransformerConfig`` for a transformer
    config: a HookedTransformer built with them takes our state dict as it is (load it with
    ``strict=False``: only its own mask/IGNORE buffers are missing) and its logits at the last
    position equal ours, given the same tokens (``model.tokens(x)`` appends the ``=``)."""
    if config.get("arch") != "transformer":
        raise ChallengeError(f"a {config.get('arch')} model has no TransformerLens equivalent")
    d_model, heads = int(config["d_model"]), int(config["n_heads"])
    return {"n_layers": 1, "d_model": d_model, "n_heads": heads, "d_head": d_model // heads,
            "d_mlp": int(config["d_mlp"]), "d_vocab": int(config["vocab"]),
            "d_vocab_out": int(config["classes"]), "n_ctx": int(config["n_ctx"]),
            "act_fn": str(config["act"]), "normalization_type": None}


def predict(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Class predictions (int64) of a model for a batch of inputs."""
    import torch

    with torch.no_grad():
        return module(x).argmax(dim=-1)
