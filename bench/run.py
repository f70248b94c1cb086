"""`make bench`: every benchmark, each reporting ratios against a baseline from the same run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

for script, args in (("bench_replay.py", []), ("bench_round.py", ["--teams", "16"]),
                     ("bench_verify.py", []), ("bench_train.py", ["--seeds", "0,1"]),
                     ("bench_metrics.py", []), ("bench_mnist.py", []),
                     ("bench_tracr.py", []), ("bench_plant.py", [])):
    print(f"\n== {script} {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, str(HERE / script), *args], check=True)
