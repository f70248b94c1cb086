"""Reference architectures and safe weights: safetensors plus a small architecture config.

Nothing here unpickles: ``load`` builds the module from its config, reads the weights with
safetensors and checks every key, shape and dtype before loading them strictly. Solvers call
``dixit.models.load(path)`` to get a plain ``torch.nn.Module`` (the challenge folder or its
``challenge.toml``, or a ledger entry folder).
"""

from __future__ import annotations

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

ARCHS = ("mlp",)


def default_config(arch: str, input_shape: tuple[int, ...], dims: tuple[int, ...],
                   **overrides: Any) -> dict[str, Any]:
    """A sensible architecture config for a domain; ``overrides`` set individual fields."""
    if arch == "mlp":
        cfg: dict[str, Any] = {
            "arch": "mlp",
            "in_features": math.prod(input_shape),
            # integer inputs (grids, tokens) are rescaled to [-1, 1] by their ranges
            "input_ranges": list(dims) if dims else [],
            "hidden": [256, 256],
            "classes": 2,
        }
    else:
        raise ChallengeError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    return cfg


def build(config: dict[str, Any]) -> nn.Module:
    """Construct an untrained module from its config (validated)."""
    arch = config.get("arch")
    builder = _BUILDERS.get(str(arch))
    if builder is None:
        raise ChallengeError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    try:
        return builder(config)
    except (KeyError, TypeError, ValueError) as exc:
        raise ChallengeError(f"invalid {arch} config: {exc}") from None


def _mlp(cfg: dict[str, Any]) -> nn.Module:
    import torch
    from torch import nn

    in_features = int(cfg["in_features"])
    hidden = [int(h) for h in cfg["hidden"]]
    classes = int(cfg["classes"])
    ranges = [int(r) for r in cfg.get("input_ranges", [])]
    if in_features < 1 or classes < 2 or any(h < 1 or h > 65536 for h in hidden):
        raise ValueError("sizes out of range")

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


_BUILDERS: dict[str, Callable[[dict[str, Any]], nn.Module]] = {"mlp": _mlp}


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
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        raise ChallengeError(f"{weights} does not match the {config.get('arch')} config: "
                             f"missing {missing[:3]}, unexpected {extra[:3]}")
    for key, ref in expected.items():
        got = state[key]
        if tuple(got.shape) != tuple(ref.shape) or got.dtype != ref.dtype:
            raise ChallengeError(f"{weights}: tensor {key} is {got.dtype}{tuple(got.shape)}, "
                                 f"expected {ref.dtype}{tuple(ref.shape)}")
    module.load_state_dict(state, strict=True)
    module.eval()
    return module


def load(path: str | Path) -> nn.Module:
    """Load a challenge's model as a plain ``torch.nn.Module`` from its folder or toml."""
    p = Path(path)
    meta = p / "challenge.toml" if p.is_dir() else p
    try:
        data = tomlio.loads(meta.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomlio.TomlError) as exc:
        raise ChallengeError(f"cannot read {meta}: {exc}") from None
    config = data.get("model")
    if not isinstance(config, dict):
        raise ChallengeError(f"{meta} has no [model] table")
    weights = meta.parent / str(data.get("challenge", {}).get("model", "model.safetensors"))
    return load_weights(config, weights)


def predict(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Class predictions (int64) of a model for a batch of inputs."""
    import torch

    with torch.no_grad():
        return module(x).argmax(dim=-1)
