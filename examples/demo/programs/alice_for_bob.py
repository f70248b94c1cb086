"""alice: bob's positive region sits above a parabola."""

import torch


def label(x: torch.Tensor) -> torch.Tensor:
    a, b = x[:, 0].float(), x[:, 1].float()
    return (b > (a - 56) ** 2 / 45 + 18).long()
