"""Bob's round-2 secret: at every position, the largest token seen so far (a sequence output)."""
import torch


def label(x: torch.Tensor) -> torch.Tensor:
    return torch.cummax(x, dim=1).values
