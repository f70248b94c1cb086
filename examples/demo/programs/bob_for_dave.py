"""bob: this one returns the wrong number of labels, so it cannot be scored."""

import torch


def label(x: torch.Tensor) -> torch.Tensor:
    return torch.zeros(len(x) // 2, dtype=torch.long)
