"""dave's secret: the two branches of a hyperbola centred on the grid."""

import torch


def label(x: torch.Tensor) -> torch.Tensor:
    a, b = x[:, 0].float() - 56, x[:, 1].float() - 56
    return (a * b > 350).long()
