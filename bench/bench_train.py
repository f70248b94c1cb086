"""Train the seed-sized transformer challenge exactly as `dixit challenge new` does by default,
against the default mlp on the same domain and labeler as the baseline measured in the same run.

    python bench/bench_train.py [--seeds 0,1,2]

The challenge: grid:113x113, train_frac 0.5, the curved labeler examples/labelers/curved113.py,
`--arch transformer` with no other flags (d_model 128, 8 heads, d_mlp 1024, ReLU, no LayerNorm:
the seed challenge's shape). Goal (issue 3): held-out accuracy >= 90% in under 5 minutes on 2
cores. Prints, per seed: training seconds, held-out and train accuracy of both architectures, and
the transformer/mlp time ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dixit import challenge
from dixit.models import training

ROOT = Path(__file__).resolve().parent.parent
LABELER = ROOT / "examples" / "labelers" / "curved113.py"
DOMAIN = "grid:113x113"
GOAL_ACCURACY, GOAL_SECONDS = 0.90, 300.0


def run(arch: str, seed: int, tmp: Path) -> dict:
    """One `dixit challenge new OUT --labeler curved113.py --domain grid:113x113 --arch ARCH`."""
    out = tmp / f"{arch}-{seed}"
    return challenge.create(out, LABELER, DOMAIN, arch=arch, seed=seed, root=ROOT)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    opts = ap.parse_args()
    seeds = [int(s) for s in opts.seeds.split(",")]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{DOMAIN}, train_frac 0.5, labeler {LABELER.relative_to(ROOT)}; "
          f"{os.cpu_count()} CPUs, training threads {training.threads()}, "
          f"load average {load:.2f} at start")
    print(f"{'seed':>4} {'arch':>11} {'steps':>5} {'params':>8} {'train s':>8} "
          f"{'held-out':>8} {'train':>7}")
    rows: list[tuple[dict, dict]] = []
    with tempfile.TemporaryDirectory(prefix="dixit-bench-train-") as tmp:
        for seed in seeds:
            base = run("mlp", seed, Path(tmp))
            tf = run("transformer", seed, Path(tmp))
            for arch, r in (("mlp", base), ("transformer", tf)):
                print(f"{seed:>4} {arch:>11} {r['steps']:>5} {r['parameters']:>8,} "
                      f"{r['seconds']:>8.2f} {r['heldout_accuracy']:>8.2%} "
                      f"{r['train_accuracy']:>7.2%}", flush=True)
            rows.append((base, tf))
    tf_s = [tf["seconds"] for _, tf in rows]
    tf_acc = [tf["heldout_accuracy"] for _, tf in rows]
    ratio = statistics.mean(tf["seconds"] / b["seconds"] for b, tf in rows)
    print(f"\ntransformer (CLI defaults): training {statistics.mean(tf_s):.1f} s "
          f"(max {max(tf_s):.1f} s), held-out accuracy {statistics.mean(tf_acc):.2%} "
          f"(min {min(tf_acc):.2%}), train accuracy "
          f"{statistics.mean(tf['train_accuracy'] for _, tf in rows):.2%}")
    print(f"baseline mlp (CLI defaults): training "
          f"{statistics.mean(b['seconds'] for b, _ in rows):.1f} s, held-out accuracy "
          f"{statistics.mean(b['heldout_accuracy'] for b, _ in rows):.2%}")
    print(f"transformer / mlp training time: {ratio:.1f}x")
    ok = min(tf_acc) >= GOAL_ACCURACY and max(tf_s) < GOAL_SECONDS
    print(f"goal (held-out >= {GOAL_ACCURACY:.0%} in < {GOAL_SECONDS:.0f} s): "
          f"{'met' if ok else 'NOT met'}")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
