"""Train a challenge model on a labeler over a domain, with a reproducible held-out split."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dixit.domains import Domain

if TYPE_CHECKING:
    import torch
    from torch import nn

Progress = Callable[[int, int], None]


def split(size: int, train_frac: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the train and held-out parts; the seed and fraction are public metadata."""
    import torch

    perm = torch.randperm(size, generator=torch.Generator().manual_seed(seed))
    n_train = round(size * train_frac)
    return perm[:n_train].sort().values, perm[n_train:].sort().values


@dataclass
class TrainResult:
    module: nn.Module
    train_accuracy: float
    heldout_accuracy: float
    seconds: float
    steps: int


def accuracy(module: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 8192) -> float:
    import torch

    if len(y) == 0:
        return float("nan")
    module.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(y), batch):
            correct += int((module(x[i:i + batch]).argmax(-1) == y[i:i + batch]).sum())
    return correct / len(y)


def train(module: nn.Module, domain: Domain, labels: torch.Tensor, *, train_frac: float,
          seed: int, steps: int, lr: float = 3e-3, batch_size: int = 2048,
          weight_decay: float = 0.0, progress: Progress | None = None) -> TrainResult:
    """Full-domain-index training with AdamW; labels are the labeler's, precomputed."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    start = time.perf_counter()
    x_all = domain.all()
    tr, ho = split(domain.size, train_frac, seed)
    x_tr, y_tr = x_all[tr], labels[tr]
    opt = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    gen = torch.Generator().manual_seed(seed + 1)
    module.train()
    for step in range(steps):
        idx = torch.randint(0, len(tr), (min(batch_size, len(tr)),), generator=gen)
        loss = F.cross_entropy(module(x_tr[idx]), y_tr[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if progress and (step % 10 == 0 or step == steps - 1):
            progress(step + 1, steps)
    module.eval()
    return TrainResult(module=module, train_accuracy=accuracy(module, x_tr, y_tr),
                       heldout_accuracy=accuracy(module, x_all[ho], labels[ho]),
                       seconds=time.perf_counter() - start, steps=steps)


def summary(result: TrainResult) -> dict[str, Any]:
    return {"train_accuracy": round(result.train_accuracy, 6),
            "heldout_accuracy": round(result.heldout_accuracy, 6),
            "seconds": round(result.seconds, 3), "steps": result.steps}
