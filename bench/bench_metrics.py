"""Measure the streaming kl metric (dixit.rules.metrics) against a bare torch KL, and its memory.

    python bench/bench_metrics.py [--positions 100000] [--classes 1000] [--length 100]
                                  [--batch 4000] [--repeats 3]

Batches of float32 logits, shape (rows, L, C), are made on the fly from a fixed seed (the
reference, and the submission = reference + noise), so no run ever holds N x L x C at once.
Prints, from one run: (1) throughput of ours and of bare in-process torch over the same batches
(``kl_div`` on two ``log_softmax``, summed per batch), at torch's default threads and at 1
thread (numpy runs on one), each batch timed for all three in turn and the best of the repeats
kept; (2) the ratios ours / bare; (3) peak memory traced by tracemalloc while streaming N and
2N positions, for the whole run (the generator's batch pair included) and for ours alone above
the batch it is given: flat in N.
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dixit.rules import metrics

Batch = tuple[np.ndarray, np.ndarray]


def batches(positions: int, length: int, classes: int, batch: int, seed: int) -> Iterator[Batch]:
    """(reference, submission) float32 logits of shape (rows, length, classes), made on the fly."""
    rng = np.random.default_rng(seed)
    rows = max(1, batch // length)
    for start in range(0, positions // length, rows):
        n = min(rows, positions // length - start)
        ref = rng.standard_normal((n, length, classes), dtype=np.float32)
        ref *= 2.0
        sub = rng.standard_normal((n, length, classes), dtype=np.float32)
        sub *= 0.5
        sub += ref
        yield ref, sub


def bare(ref: np.ndarray, sub: np.ndarray) -> float:
    """Sum over positions of KL(ref || sub), the plain torch way."""
    p = torch.from_numpy(ref).reshape(-1, ref.shape[-1])
    q = torch.from_numpy(sub).reshape(-1, sub.shape[-1])
    # kl_div(input = log q, target = log p, log_target) sums p (log p - log q)
    return float(F.kl_div(F.log_softmax(q, -1), F.log_softmax(p, -1), reduction="sum",
                          log_target=True))


def timed(args: argparse.Namespace, threads: int) -> tuple[dict[str, float], float, float]:
    """Seconds of each method over one streamed pass, and the two mean KLs found."""
    ours = metrics.metric("kl", reference="logits", submission="logits")
    secs = dict.fromkeys(("ours", "bare", "bare1"), 0.0)
    total = 0.0
    for ref, sub in batches(args.positions, args.length, args.classes, args.batch, args.seed):
        t0 = time.perf_counter()
        ours.update(ref, sub)
        t1 = time.perf_counter()
        total += bare(ref, sub)
        t2 = time.perf_counter()
        torch.set_num_threads(1)
        bare(ref, sub)
        t3 = time.perf_counter()
        torch.set_num_threads(threads)
        secs["ours"] += t1 - t0
        secs["bare"] += t2 - t1
        secs["bare1"] += t3 - t2
    return secs, ours.result(), total / ours.count


def memory(args: argparse.Namespace, positions: int) -> tuple[int, int]:
    """Peak bytes traced over a streamed run, and ours alone above the batch it is given."""
    ours = metrics.metric("kl", reference="logits", submission="logits")
    whole = own = 0
    tracemalloc.start()
    try:
        for ref, sub in batches(positions, args.length, args.classes, args.batch, args.seed):
            before, made = tracemalloc.get_traced_memory()  # made: peak while generating
            tracemalloc.reset_peak()
            ours.update(ref, sub)
            peak = tracemalloc.get_traced_memory()[1]
            whole, own = max(whole, made, peak), max(own, peak - before)
            del ref, sub  # one batch pair alive at a time, as a replay streams them
        whole = max(whole, tracemalloc.get_traced_memory()[1])
    finally:
        tracemalloc.stop()
    assert ours.count == positions
    return whole, own


def mb(n: float) -> str:
    return f"{n / 2**20:7.1f} MB"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--positions", type=int, default=100_000, help="N, positions (N*L rows)")
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--length", type=int, default=100, help="L, positions per sequence")
    ap.add_argument("--batch", type=int, default=4000, help="positions per batch")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    n, c = args.positions, args.classes
    threads = torch.get_num_threads()
    print(f"kl over N = {n:,} positions x {c:,} classes (sequences of {args.length}, "
          f"{args.batch:,} positions per batch), float32 logits made on the fly, seed "
          f"{args.seed}; torch {torch.__version__} with {threads} threads; numpy "
          f"{np.__version__} on one")

    timed(argparse.Namespace(**{**vars(args), "positions": 4 * args.batch}), threads)  # warm up
    best: dict[str, float] = {}
    for _ in range(args.repeats):
        secs, ours_kl, bare_kl = timed(args, threads)
        best = {k: min(v, best.get(k, v)) for k, v in secs.items()}
    print(f"    values: ours {ours_kl:.9f} nats/position, bare torch {bare_kl:.9f} "
          f"(relative difference {abs(ours_kl - bare_kl) / bare_kl:.1e})")
    for key, what in (("ours", "ours (numpy, 1 thread)"),
                      ("bare", f"bare torch, {threads} threads"),
                      ("bare1", "bare torch, 1 thread")):
        print(f"(1) throughput, {what + ':':<31} {n / best[key]:>12,.0f} positions/s "
              f"({n * c / best[key] / 1e9:.2f} G logits/s per side; {best[key]:.3f} s, best of "
              f"{args.repeats})")
    print(f"(2) ratio ours / bare torch at {threads} threads: {best['ours'] / best['bare']:.2f}")
    print(f"(2) ratio ours / bare torch at 1 thread:  {best['ours'] / best['bare1']:.2f}")

    one_shot = 2 * n * c * 4
    for size in (n, 2 * n):
        whole, own = memory(args, size)
        print(f"(3) peak memory (tracemalloc), N = {size:>9,}: whole run {mb(whole)}, ours "
              f"above its inputs {mb(own)} (one-shot arrays would be {mb(one_shot * size / n)})")


if __name__ == "__main__":
    main()
