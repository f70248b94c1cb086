"""carol thought alice's ring was a disc."""

import torch


def label(x: torch.Tensor) -> torch.Tensor:
    r2 = (x[:, 0].float() - 56) ** 2 + (x[:, 1].float() - 56) ** 2
    return (r2 < 2025).long()
