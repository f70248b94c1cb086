"""Safe weights: safetensors plus the architecture config, never a pickle.

``load`` builds the module from its config, reads the weights with safetensors and checks every
key, shape and dtype before loading them strictly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dixit import tomlio
from dixit.errors import ChallengeError
from dixit.models.config import build

if TYPE_CHECKING:
    import torch
    from torch import nn


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def save(module: nn.Module, config: dict[str, Any], path: Path) -> str:
    """Write weights as safetensors (config embedded as metadata); return the file's sha256."""
    import hashlib

    from safetensors.torch import save as st_save

    state = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}
    data = st_save(state, metadata={"dixit_config": json.dumps(config, sort_keys=True)})
    from dixit.ledger.fsutil import atomic_write

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


BATCH = 8192                 # input rows per forward pass, unless the model needs fewer
ACTIVATION_BUDGET = 1 << 25  # elements of one batch's largest intermediate (128 MiB float32)


def batch_rows(module: nn.Module) -> int:
    """Rows per forward pass: ``BATCH``, fewer for a model whose per-row activations are large
    (a long-context transformer's attention scores), so evaluation memory stays bounded."""
    per_row = getattr(module, "activations_per_row", None)
    if not callable(per_row):
        return BATCH
    return max(1, min(BATCH, ACTIVATION_BUDGET // max(1, int(per_row()))))


def logits(module: nn.Module, x: torch.Tensor, batch: int | None = None) -> torch.Tensor:
    """A model's float32 logits for inputs ``x``, evaluated ``batch`` rows at a time (default
    ``batch_rows``) without gradients: (N, C), or (N, L, C) for a transformer with positions
    "all" (C its ``classes``)."""
    import torch

    rows = batch_rows(module) if batch is None else batch
    if rows < 1:
        raise ValueError(f"batch must be at least 1, not {rows}")
    with torch.no_grad():
        if len(x) <= rows:  # callers that batch themselves keep the single pass they had
            return module(x).float()
        return torch.cat([module(x[i:i + rows]).float() for i in range(0, len(x), rows)])


def predict(module: nn.Module, x: torch.Tensor, batch: int | None = None) -> torch.Tensor:
    """Class predictions (int64) of a model for a batch of inputs: (N,), or (N, L) for a
    transformer with positions "all"; evaluated batch-wise as ``logits``."""
    return logits(module, x, batch).argmax(dim=-1)
