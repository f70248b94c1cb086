"""bob's secret: above a parabola opening upward from the grid's lower middle."""

import torch


def label(x: torch.Tensor) -> torch.Tensor:
    a, b = x[:, 0].float(), x[:, 1].float()
    return (b > (a - 56) ** 2 / 45 + 18).long()
