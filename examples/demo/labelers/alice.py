"""A ring: points whose distance from the grid's centre lies between two radii."""

import torch


def label(x: torch.Tensor) -> torch.Tensor:
    a, b = x[:, 0].float(), x[:, 1].float()
    r2 = (a - 56) ** 2 + (b - 56) ** 2
    return ((r2 > 20**2) & (r2 < 45**2)).long()
