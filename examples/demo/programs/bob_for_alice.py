"""bob read alice's model and found a ring between radii 20 and 45 around (56, 56)."""

import torch


def label(x: torch.Tensor) -> torch.Tensor:
    r2 = (x[:, 0].float() - 56) ** 2 + (x[:, 1].float() - 56) ** 2
    return ((r2 > 400) & (r2 < 2025)).long()
