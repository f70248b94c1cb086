"""Dave read bob's attention heads: each position attends to the largest earlier token."""
import torch


def label(x: torch.Tensor) -> torch.Tensor:
    return torch.cummax(x, dim=1).values
