"""``mlp``: inputs flattened (integer grids rescaled to [-1, 1]), ReLU hidden layers."""

from __future__ import annotations

import itertools
from typing import Any

import torch
from torch import nn

from dixit.models.config import MAX_LAYERS, check_size


class MLP(nn.Module):
    """``net``: Linear, ReLU, ..., Linear; integer inputs rescaled by ``input_ranges``."""

    def __init__(self, in_features: int, hidden: list[int], classes: int,
                 ranges: list[int] | None = None) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, classes))
        self.net = nn.Sequential(*layers)
        ranges = ranges or []
        scale = torch.tensor([max(r - 1, 1) for r in ranges], dtype=torch.float32) \
            if len(ranges) == in_features else torch.ones(0)
        self.register_buffer("scale", scale, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1).to(torch.float32)
        if self.scale.numel():
            x = x / self.scale * 2.0 - 1.0
        return self.net(x)


def from_config(cfg: dict[str, Any]) -> MLP:
    in_features = int(cfg["in_features"])
    hidden = cfg["hidden"]
    # layers bound the work of building a model, not only its parameters
    if not isinstance(hidden, list) or len(hidden) > MAX_LAYERS:
        raise ValueError(f"hidden must be a list of at most {MAX_LAYERS} layer widths")
    hidden = [int(h) for h in hidden]
    classes = int(cfg["classes"])
    ranges = [int(r) for r in cfg.get("input_ranges", [])]
    if in_features < 1 or classes < 2 or any(h < 1 or h > 65536 for h in hidden):
        raise ValueError("sizes out of range")
    widths = [in_features, *hidden, classes]
    check_size(sum((a + 1) * b for a, b in itertools.pairwise(widths)))
    return MLP(in_features, hidden, classes, ranges)
