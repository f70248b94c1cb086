"""Tracr-compiled challenges: the conversion's exactness and cost, and a learned twin.

    python bench/bench_tracr.py

Compiles the example RASP programs (examples/rasp/) with `dixit challenge compile`'s library
call, which checks on every sequence of the domain that dixit's torch model reproduces Tracr's
compiled model and that the labeler (the program under dixit's pure-Python interpreter)
reproduces it too; prints both agreements (goal: 100% each, issue 13), the compile and check
seconds and the model's size. The baseline, from the same run: a learned twin of the
reversal (`challenge new` on the compiled challenge's labeler, a bidirectional transformer
trained on half the domain), its held-out agreement and training seconds.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PROGRAMS = (("reverse.py", "a,b,c", 5), ("sort.py", "1,2,3,4", 4), ("histogram.py", "a,b,c", 5))


def main() -> None:
    try:
        import tracr  # noqa: F401
    except ImportError:
        print("skipped: needs the tracr extra (pip install -e '.[tracr]'), which `make bench` "
              "installs")
        return
    from dixit import challenge
    from dixit.challenge import tracr_compile

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"Tracr -> dixit transformer, checked on the whole domain; {os.cpu_count()} CPUs, "
          f"load average {load:.2f} at start")
    print(f"{'program':>13} {'domain':>11} {'seqs':>5} {'layers':>6} {'heads':>5} "
          f"{'d_model':>7} {'params':>7} {'torch=tracr':>11} {'labels=tracr':>12} "
          f"{'compile s':>9} {'check s':>7}")
    rows = {}
    with tempfile.TemporaryDirectory(prefix="dixit-bench-tracr-") as tmp:
        for name, vocab, length in PROGRAMS:
            out = Path(tmp) / name.removesuffix(".py")
            r = tracr_compile.compile_challenge(out, ROOT / "examples" / "rasp" / name, vocab,
                                                length)
            rows[name] = r
            print(f"{name:>13} {r['domain']:>11} {r['sequences']:>5} {r['layers']:>6} "
                  f"{r['heads']:>5} {r['d_model']:>7} {r['parameters']:>7,} "
                  f"{r['agreement']:>11.2%} {r['labeler_agreement']:>12.2%} "
                  f"{r['compile_seconds']:>9.1f} {r['check_seconds']:>7.1f}")
        rev = rows["reverse.py"]
        twin = challenge.create(Path(tmp) / "twin", Path(rev["out"]) / "labeler.py",
                                rev["domain"], arch="transformer", train_frac=0.5, seed=0,
                                overrides={"causal": False},
                                judged=challenge.judging(rev["output"]))
    print(f"learned twin of reverse.py (challenge new --arch transformer --set causal=false, "
          f"{twin['parameters']:,} parameters, {twin['steps']} steps): held-out agreement "
          f"{twin['heldout_accuracy']:.2%} in {twin['seconds']:.1f} s; compiled: 100% in "
          f"{rev['compile_seconds'] + rev['check_seconds']:.1f} s "
          f"({(rev['compile_seconds'] + rev['check_seconds']) / twin['seconds']:.2f}x the "
          "twin's training time)")
    exact = all(r["agreement"] == 1.0 and r["labeler_agreement"] == 1.0 for r in rows.values())
    print(f"goal (100% agreement with the compiled model on the whole domain): "
          f"{'met' if exact else 'NOT met'}")
    if not exact:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
