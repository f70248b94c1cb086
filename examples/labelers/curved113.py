"""A curved labeler on grid:113x113 in the spirit of the seed transformer challenge: an ellipse
and a sine wave whose curved edges cross, so no straight boundary comes close."""

import math

import torch


def label(x: torch.Tensor) -> torch.Tensor:
    a, b = x[:, 0].float(), x[:, 1].float()
    inside = ((a - 56) / 40) ** 2 + ((b - 56) / 25) ** 2 < 1
    above = b > 56 + 28 * torch.sin(a * (2 * math.pi / 113))
    return (inside ^ above).long()
