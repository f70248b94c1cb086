"""Bob's reading of carol's digit model: the units that fire are the ones for loops."""
import torch


def label(x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return ((targets == 0) | (targets == 6) | (targets == 8) | (targets == 9)).long()
