"""``cnn``: conv -> ReLU -> dropout -> max-pool blocks, then ReLU linear layers.

Parameter names are the usual MNIST nets' (``conv1``..., ``fc1``...); uint8 images are
rescaled by 1/255. The defaults on 28x28 images are the seed's MNIST net.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dixit.models.config import check_size, conv_out, integer, integers


class CNN(nn.Module):
    """conv{i}: Conv2d, then ReLU, dropout, max-pool; fc{j}: Linear (ReLU but the last)."""

    def __init__(self, in_channels: int, channels: list[int], kernel: int, padding: int,
                 pool: int, dropout: float, widths: list[int]) -> None:
        super().__init__()
        prev = in_channels
        for i, out_c in enumerate(channels, 1):
            self.add_module(f"conv{i}", nn.Conv2d(prev, out_c, kernel, padding=padding))
            prev = out_c
        for j, (a, b) in enumerate(itertools.pairwise(widths), 1):
            self.add_module(f"fc{j}", nn.Linear(a, b))
        self.pool = nn.MaxPool2d(pool, pool) if pool > 1 else nn.Identity()
        self.drop = nn.Dropout(float(dropout))
        self.flat = widths[0]
        self.n_conv, self.n_fc = len(channels), len(widths) - 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # images arrive as (N, H, W) or (N, C, H, W), uint8 (0..255) or float
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.to(torch.float32)
        if x.dim() == 3:
            x = x.unsqueeze(1)
        for i in range(1, self.n_conv + 1):
            x = self.pool(self.drop(F.relu(getattr(self, f"conv{i}")(x))))
        x = x.reshape(x.shape[0], self.flat)
        for j in range(1, self.n_fc + 1):
            x = getattr(self, f"fc{j}")(x)
            if j < self.n_fc:
                x = F.relu(x)
        return x


def from_config(cfg: dict[str, Any]) -> CNN:
    shape = integers(cfg, "input_shape", 1, 4096, max_len=3)
    if len(shape) != 3:
        raise ValueError("input_shape must be [channels, height, width]")
    channels = integers(cfg, "channels", 1, 4096)
    hidden = integers(cfg, "hidden", 1, 65536)
    kernel = integer(cfg, "kernel", 1, 64)
    padding = integer(cfg, "padding", 0, 64)
    pool = integer(cfg, "pool", 1, 64)   # 1: no pooling
    classes = integer(cfg, "classes", 2, 1_000_000)
    dropout = cfg["dropout"]
    if isinstance(dropout, bool) or not isinstance(dropout, int | float) \
            or not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be a number in [0, 1), not {dropout!r}")
    if not channels:
        raise ValueError("channels must list at least one convolution")
    out = conv_out(shape, len(channels), kernel, padding, pool)
    if out is None:
        raise ValueError(f"the images ({shape[1]}x{shape[2]}) are too small for "
                         f"{len(channels)} blocks of {kernel}x{kernel} convolution (padding "
                         f"{padding}) and {pool}x{pool} pooling")
    count, c = 0, shape[0]
    for out_c in channels:
        count += (c * kernel * kernel + 1) * out_c
        c = out_c
    widths = [c * out[0] * out[1], *hidden, classes]
    count += sum((a + 1) * b for a, b in itertools.pairwise(widths))
    check_size(count)
    return CNN(shape[0], channels, kernel, padding, pool, float(dropout), widths)
