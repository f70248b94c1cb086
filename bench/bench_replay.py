"""Measure what the replay sandbox costs compared with evaluating programs bare, in-process.

    python bench/bench_replay.py [--quick]

Prints, from one run: the isolation in force; (1) per-program overhead over N simple programs
on grid:113x113, each in a child of its own (median and mean of sandboxed minus bare time per
program, and the same from totals including zygote start-up); (2) 16 teams (16*15 = 240
programs) replayed vs bare, as a ratio, each program alone and each team's programs batched in
one child (as a close runs them); (3) time per program as the tournament grows (n*(n-1)
programs for n teams).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dixit.data import domains
from dixit.replay.engine import Limits, Program, probe_isolation, replay

TEMPLATE = """
import torch

A, B, C, T = {a}, {b}, {c}, {t}


def label(x):
    return (((A * x[:, 0] + B * x[:, 1] + C) % 113) < T).to(torch.uint8)
"""


def make_programs(root: Path, n: int, seed: int, per_team: int = 0) -> list[Program]:
    """``n`` programs; with ``per_team``, every ``per_team`` of them are one team's batch."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    progs = []
    for i in range(n):
        path = root / f"p{i:04d}.py"
        path.write_text(TEMPLATE.format(a=rng.randrange(113), b=rng.randrange(113),
                                        c=rng.randrange(113), t=rng.randrange(1, 113)))
        progs.append(Program(f"p{i}", path, f"team{i // per_team}" if per_team else None))
    return progs


def bare(programs: list[Program], dom: domains.Domain, bs: int) -> list[float]:
    """Evaluate every program in this process, no isolation; seconds per program."""
    x_all = dom.all()
    times = []
    for p in programs:
        t0 = time.perf_counter()
        ns: dict[str, object] = {}
        exec(compile(p.path.read_text(), str(p.path), "exec"), ns)
        label = ns["label"]
        out = numpy.zeros(dom.size, dtype=numpy.uint8)
        for start in range(0, dom.size, bs):
            stop = min(start + bs, dom.size)
            res = label(x_all[start:stop].clone())  # type: ignore[operator]
            out[start:stop] = numpy.asarray(res.numpy() if isinstance(res, torch.Tensor)
                                            else res, dtype=numpy.uint8)
        times.append(time.perf_counter() - t0)
    return times


def sandboxed(programs: list[Program], dom: domains.Domain, limits: Limits,
              workers: int | None = None) -> tuple[float, list[float]]:
    t0 = time.perf_counter()
    outs = replay(programs, dom, limits, workers=workers)
    total = time.perf_counter() - t0
    bad = [o for o in outs if o.error]
    if bad:
        raise SystemExit(f"{len(bad)} programs failed, e.g. {bad[0].key}: {bad[0].error}")
    return total, [o.seconds for o in outs]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer programs and team sizes")
    args = ap.parse_args()
    dom = domains.parse("grid:113x113")
    limits = Limits()
    n_single = 200
    team_sizes = [4, 8, 16] if args.quick else [4, 8, 16, 32]
    print(f"isolation in force: {probe_isolation().describe()}")
    print(f"machine: {os.cpu_count()} cores; bare runs use {torch.get_num_threads()} torch "
          f"threads in-process; replay uses one zygote (torch, 1 thread) and one child per "
          f"core at once unless stated")

    with tempfile.TemporaryDirectory(prefix="dixit-bench-") as tmp:
        root = Path(tmp)
        progs = make_programs(root / "single", n_single, seed=1)
        t0 = time.perf_counter()
        sandboxed(progs[:2], dom, limits)  # cold: start the zygotes (torch import)
        cold = time.perf_counter() - t0
        bare(progs[:10], dom, limits.batch_size)  # warm up torch kernels
        bare_t = bare(progs, dom, limits.batch_size)
        # (1) per-program overhead: one zygote, so each program's time is not shared
        total1, sand_t = sandboxed(progs, dom, limits, workers=1)
        diffs = [s - b for s, b in zip(sand_t, bare_t, strict=True)]
        total, _ = sandboxed(progs, dom, limits)
        print(f"\n(1) per-program overhead, N={n_single} programs on {dom.spec}:")
        print(f"    bare per program:       median {statistics.median(bare_t) * 1e3:7.2f} ms"
              f"   mean {statistics.mean(bare_t) * 1e3:7.2f} ms")
        print(f"    sandboxed per program:  median {statistics.median(sand_t) * 1e3:7.2f} ms"
              f"   mean {statistics.mean(sand_t) * 1e3:7.2f} ms   (fork to reap, 1 zygote)")
        print(f"    overhead per program:   median {statistics.median(diffs) * 1e3:7.2f} ms"
              f"   mean {statistics.mean(diffs) * 1e3:7.2f} ms")
        print(f"    from totals, 1 child at a time:  ({total1:.2f} s - {sum(bare_t):.2f} s) / "
              f"{n_single} = {(total1 - sum(bare_t)) / n_single * 1e3:.2f} ms")
        print(f"    from totals, {os.cpu_count()} children at once: ({total:.2f} s - "
              f"{sum(bare_t):.2f} s) / {n_single} = "
              f"{(total - sum(bare_t)) / n_single * 1e3:.2f} ms")
        print(f"    one-off zygote start-up (cold pool, torch import): {cold:.2f} s")

        # (2) and (3): n teams -> n*(n-1) programs
        print("\n(2)+(3) tournament sizes, n*(n-1) programs, each alone / each team's batched:")
        print(f"    {'teams':>5} {'programs':>8} {'bare s':>7} {'alone s':>8} {'ratio':>6} "
              f"{'ms/prog':>7} {'batched s':>9} {'ratio':>6} {'ms/prog':>7}")
        for n in team_sizes:
            progs = make_programs(root / f"teams{n}", n * (n - 1), seed=n)
            b = sum(bare(progs, dom, limits.batch_size))
            total, _ = sandboxed(progs, dom, limits)
            batched, _ = sandboxed(make_programs(root / f"batched{n}", n * (n - 1), seed=n,
                                                 per_team=n - 1), dom, limits)
            mark = "  <- (2)" if n == 16 else ""
            print(f"    {n:>5} {len(progs):>8} {b:>7.2f} {total:>8.2f} {total / b:>6.1f} "
                  f"{total / len(progs) * 1e3:>7.2f} {batched:>9.2f} {batched / b:>6.1f} "
                  f"{batched / len(progs) * 1e3:>7.2f}{mark}")


if __name__ == "__main__":
    main()
