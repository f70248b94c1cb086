"""Architecture configs: the flat dict each challenge.toml's ``[model]`` table holds.

Pure and torch-free: defaults per domain, and the validation helpers each architecture uses
before anything is allocated. ``build`` imports the architecture's module (and torch) lazily.
"""

from __future__ import annotations

import importlib
import math
from typing import TYPE_CHECKING, Any

from dixit.errors import ChallengeError

if TYPE_CHECKING:
    from torch import nn

ARCHS = ("mlp", "transformer", "cnn")
MAX_PARAMETERS = 200_000_000  # checked from the config before anything is allocated
MAX_LAYERS = 16               # per list of layers: building 100,000 tiny ones takes minutes
# Transformer blocks: GPT-2 small's depth. Challenges are trained and judged on CPU, where deeper
# models are impractical, and each block adds a dozen tensors and hooks; parameters are capped
# separately (MAX_PARAMETERS), so this bounds depth, not memory.
MAX_TRANSFORMER_LAYERS = 12

# The keys each architecture's config may hold (a typo in `--set` is refused, not ignored).
KEYS: dict[str, frozenset[str]] = {
    "mlp": frozenset({"arch", "in_features", "input_ranges", "hidden", "classes"}),
    "transformer": frozenset({"arch", "vocab", "n_ctx", "d_model", "n_heads", "d_mlp", "act",
                              "classes", "append_eq", "n_layers", "normalization", "attn_only",
                              "positions", "causal", "prepend_bos"}),
    "cnn": frozenset({"arch", "input_shape", "channels", "kernel", "padding", "pool", "dropout",
                      "hidden", "classes"}),
}
ACTS = ("relu", "gelu")


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
                if conv_out(shape, len(channels), 3, padding, pool) is not None:
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
    # a per-position model reads the sequence as it is: no '=' unless asked (and then refused)
    append = bool(given.get("append_eq", domain_kind == "grid"
                            and given.get("positions") != "all"))
    # the seed challenge: d_model 128, 8 heads, d_mlp 1024, ReLU, no LayerNorm, read at the end
    return {"arch": "transformer", "vocab": int(tokens) + (1 if append else 0),
            "n_ctx": length + (1 if append else 0), "d_model": 128, "n_heads": 8,
            "d_mlp": 1024, "act": "relu", "classes": 2, "append_eq": append}


def build(config: dict[str, Any], seed: int | None = None) -> nn.Module:
    """Construct an untrained module from its config (validated); ``seed`` fixes the init."""
    arch = config.get("arch")
    if arch not in ARCHS:
        raise ChallengeError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    unknown = sorted(set(config) - KEYS[str(arch)])
    if unknown:
        raise ChallengeError(f"invalid {arch} config: unknown key(s) {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(KEYS[str(arch)] - {'arch'}))}")
    module = importlib.import_module(f"dixit.models.{arch}")
    try:
        if seed is None:
            return module.from_config(config)
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return module.from_config(config)
    except (KeyError, TypeError, ValueError) as exc:
        what = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ChallengeError(f"invalid {arch} config: {what}") from None


def integer(cfg: dict[str, Any], key: str, lo: int, hi: int) -> int:
    """A config integer within [lo, hi] (bools and floats refused: configs are exact)."""
    value = cfg[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key} must be an integer, not {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{key} = {value} is out of range [{lo}, {hi}]")
    return value


def integers(cfg: dict[str, Any], key: str, lo: int, hi: int,
             max_len: int = MAX_LAYERS) -> list[int]:
    values = cfg[key]
    if not isinstance(values, list) or len(values) > max_len:
        raise ValueError(f"{key} must be a list of at most {max_len} integers")
    return [integer({key: v}, key, lo, hi) for v in values]


def conv_out(shape: list[int], blocks: int, kernel: int, padding: int, pool: int
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


def check_size(count: int) -> None:
    if count > MAX_PARAMETERS:
        raise ValueError(f"{count:,} parameters, over the limit of {MAX_PARAMETERS:,}")
