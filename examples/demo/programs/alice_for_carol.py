"""A sine wave of period 75 and amplitude 30 about b = 56: carol's challenge was easy."""

import math

import torch


def label(x: torch.Tensor) -> torch.Tensor:
    a, b = x[:, 0].float(), x[:, 1].float()
    return (b < 56 + 30 * torch.sin(a * 2 * math.pi / 75)).long()
