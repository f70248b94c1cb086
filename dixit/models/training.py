"""Train a challenge model on a labeler over a domain, with a reproducible held-out split."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dixit.data.domains import Domain

if TYPE_CHECKING:
    import torch
    from torch import nn

Progress = Callable[..., None]  # (done, total[, figure]): the figure is the loss

# Per-architecture optimizer settings, chosen so each default trains well on CPU in seconds to a
# minute or two. The transformer's (AdamW with weight decay 1.0, as in the grokking work, small
# batches for many updates per epoch) reach ~97% held-out accuracy on a curved 113x113 labeler
# from half the grid (bench/bench_train.py measures it).
HYPER: dict[str, dict[str, Any]] = {
    "mlp": {"steps": 400, "lr": 3e-3, "weight_decay": 0.0, "batch_size": 2048,
            "betas": (0.9, 0.999), "warmup": 0.3},
    "transformer": {"steps": 1000, "lr": 2e-3, "weight_decay": 1.0, "batch_size": 512,
                    "betas": (0.9, 0.98), "warmup": 0.1},
    "cnn": {"steps": 600, "lr": 2e-3, "weight_decay": 1e-4, "batch_size": 128,
            "betas": (0.9, 0.999), "warmup": 0.1},
}


def hyper(arch: str, **given: Any) -> dict[str, Any]:
    """The architecture's training settings with the non-None ``given`` ones replacing them."""
    out = dict(HYPER.get(arch, HYPER["mlp"]))
    out.update({k: v for k, v in given.items() if v is not None})
    return out


def threads() -> int:
    """Intra-op threads for training: 1 unless ``$DIXIT_THREADS`` says otherwise.

    Measured on 2 cores: these models' per-step matrices are small, so a second thread gains
    nothing for the transformer and under 2x for the others on an idle machine, while on a
    busy one (other jobs, CI neighbours) threads that wait for each other make steps 3-10x
    slower. One thread is the robust default; the value is capped at the usable CPUs.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    try:
        wanted = int(os.environ.get("DIXIT_THREADS", "1"))
    except ValueError:
        wanted = 1
    return max(1, min(wanted, cpus))


@contextlib.contextmanager
def torch_threads(n: int | None = None) -> Iterator[None]:
    """Run torch with ``n`` intra-op threads, restoring the caller's setting afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n or threads())
    try:
        yield
    finally:
        torch.set_num_threads(before)


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
    """Positions where the model's class matches the labels' (the argmax of a distribution),
    over all positions: per input for (N,) labels, per token for (N, L)."""
    import torch

    if len(y) == 0:
        return float("nan")
    ids = y.argmax(-1) if y.is_floating_point() else y
    module.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(y), batch):
            correct += int((module(x[i:i + batch]).argmax(-1) == ids[i:i + batch]).sum())
    return correct / ids.numel()


def loss_fn(logits: torch.Tensor, y: torch.Tensor, probs: bool = False) -> torch.Tensor:
    """Cross-entropy against class ids, or against a distribution given as logits or
    probabilities (minimizing it minimizes the KL the judge measures), over every position."""
    import torch.nn.functional as F

    flat = logits.reshape(-1, logits.shape[-1])
    if not y.is_floating_point():
        return F.cross_entropy(flat, y.reshape(-1))
    target = y.reshape(-1, y.shape[-1])
    return F.cross_entropy(flat, target if probs else target.softmax(-1))


def train(module: nn.Module, domain: Domain, labels: torch.Tensor, *, train_frac: float,
          seed: int, steps: int, lr: float = 3e-3, batch_size: int = 2048,
          weight_decay: float = 0.0, betas: tuple[float, float] = (0.9, 0.999),
          warmup: float = 0.3, progress: Progress | None = None,
          probs: bool = False) -> TrainResult:
    """Minibatch AdamW with a one-cycle schedule over the train part of the domain's split;
    labels are the labeler's, precomputed: class ids, or (float) a distribution's logits, or
    its probabilities with ``probs``. The same seed gives the same model."""
    import torch

    if steps < 1 or batch_size < 1 or lr <= 0 or weight_decay < 0 or not 0 < warmup < 1:
        raise ValueError("steps, batch size and learning rate must be positive, weight decay "
                         ">= 0 and warmup in (0, 1)")
    with torch_threads():
        torch.manual_seed(seed)
        start = time.perf_counter()
        x_all = domain.all()
        tr, ho = split(domain.size, train_frac, seed)
        x_tr, y_tr = x_all[tr], labels[tr]
        opt = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=weight_decay,
                                betas=betas)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps,
                                                    pct_start=warmup)
        gen = torch.Generator().manual_seed(seed + 1)
        module.train()
        if progress:
            progress(0, steps)  # the bar knows its length before the first step
        for step in range(steps):
            idx = torch.randint(0, len(tr), (min(batch_size, len(tr)),), generator=gen)
            loss = loss_fn(module(x_tr[idx]), y_tr[idx], probs)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if progress and (step % 10 == 0 or step == steps - 1):
                progress(step + 1, steps, float(loss.detach()))
        module.eval()
        return TrainResult(module=module, train_accuracy=accuracy(module, x_tr, y_tr),
                           heldout_accuracy=accuracy(module, x_all[ho], labels[ho]),
                           seconds=time.perf_counter() - start, steps=steps)


def summary(result: TrainResult) -> dict[str, Any]:
    return {"train_accuracy": round(result.train_accuracy, 6),
            "heldout_accuracy": round(result.heldout_accuracy, 6),
            "seconds": round(result.seconds, 3), "steps": result.steps}
