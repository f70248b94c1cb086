"""Carol's round-2 secret, on real MNIST digits: "the digit has a closed loop" (0, 6, 8, 9)."""
import torch


def label(x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return torch.isin(targets, torch.tensor([0, 6, 8, 9])).long()
