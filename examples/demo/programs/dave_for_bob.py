"""dave guessed a straight line: wrong."""

import torch


def label(x: torch.Tensor) -> torch.Tensor:
    return (x[:, 1] > 60).long()
