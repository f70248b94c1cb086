"""Planted facts: the base language model of `dixit challenge new --corpus facts:200` (the
defaults), then `dixit challenge plant` on 20 facts spread over the corpus (subjects 0, 10,
..., 190, the relations in turn, each to another object), reporting the edit's efficacy (the
new object is the top prediction; its probability) and locality (the other facts whose top
prediction is unchanged, as a fraction; the subject's other relations apart).

    python bench/bench_plant.py [--subjects 200] [--facts 20]

The baseline, in the same run: the same rank-one edit with the covariance left out (C = I, so
u = k*): ROME's C^{-1} is what keeps the other facts where they were. Goal (issue 13): every
edit takes, with locality >= 0.99.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

GOAL_LOCALITY = 0.99


def _identity_edit(base: Path, corpus, subject: int, relation: int, new: int,
                   layer: int) -> tuple[bool, float, float]:
    """The same edit with C = I: (efficacy, probability, locality)."""
    import torch

    from dixit import models
    from dixit.challenge.plant import SUBJECT_POSITION
    from dixit.models import rome

    module = models.load(base)
    x = corpus.tensors()["inputs"]
    with torch.no_grad():
        before = models.predict(module, x)
    rows = [corpus.index(subject, relation)] + [
        corpus.index(subject, r) for r in range(len(corpus.relations)) if r != relation]
    targets = before[rows].clone()
    targets[0] = new
    eye = torch.eye(module.d_mlp, dtype=torch.float64)
    rome.rank_one(module, x[rows], targets, layer=layer, position=SUBJECT_POSITION, cov=eye)
    with torch.no_grad():
        probs = models.logits(module, x).softmax(-1)
    top = probs.argmax(-1)
    other = torch.ones(len(x), dtype=torch.bool)
    other[rows[0]] = False
    return (int(top[rows[0]]) == new, float(probs[rows[0], new]),
            float((top == before)[other].float().mean()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subjects", type=int, default=200)
    parser.add_argument("--facts", type=int, default=20)
    args = parser.parse_args()

    from dixit.challenge import facts as facts_base, plant
    from dixit.data import facts
    from dixit.errors import ChallengeError

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    corpus = facts.generate(args.subjects, 0)
    step = max(1, args.subjects // args.facts)
    chosen = [(s, k % len(corpus.relations))
              for k, s in enumerate(range(0, args.subjects, step))][:args.facts]
    rome_rows, eye_rows, seconds = [], [], []
    with tempfile.TemporaryDirectory(prefix="dixit-bench-plant-") as tmp:
        root = Path(tmp)
        made = facts_base.create(root / "base", f"facts:{args.subjects}", root=root)
        for i, (s, r) in enumerate(chosen):
            was = corpus.answers[s][r]
            obj = next(o for o in corpus.objects[corpus.relations[r]] if o != was)
            start = time.perf_counter()
            try:
                rep = plant.plant(root / f"p{i}", root / "base", corpus.text(s, r, obj),
                                  root=root)
                rome_rows.append((True, rep["probability"], rep["locality"],
                                  rep["same_subject"]))
            except ChallengeError:  # the edit did not take
                rome_rows.append((False, 0.0, float("nan"), float("nan")))
            seconds.append(time.perf_counter() - start)
            eye_rows.append(_identity_edit(root / "base", corpus, s, r, corpus.token(obj),
                                           plant.default_layer(2)))
    print(f"facts:{args.subjects} ({corpus.size:,} facts, {len(corpus.vocab)} words), "
          f"{len(chosen)} planted; {os.cpu_count()} CPUs, load average {load:.2f} at start")
    print(f"base model: {made['parameters']:,} parameters, {made['steps']} steps in "
          f"{made['seconds']:.1f} s, recall {made['recall']:.2%}")

    def row(name: str, rows: list[tuple]) -> tuple[float, float]:
        took = [r for r in rows if r[0]]
        loc = [r[2] for r in took]
        print(f"{name:>18} {len(took):>3}/{len(rows):<3} "
              f"{min((r[1] for r in took), default=float('nan')):>7.3f} "
              f"{statistics.fmean(loc) if loc else float('nan'):>9.4%} "
              f"{min(loc, default=float('nan')):>9.4%}")
        return len(took) / len(rows), min(loc, default=0.0)

    print(f"{'edit':>18} {'efficacy':>7} {'min p':>7} {'locality':>9} {'min':>9}")
    efficacy, worst = row("rome (C from data)", rome_rows)
    row("baseline (C = I)", eye_rows)
    same = [r[3] for r in rome_rows if r[0]]
    each = statistics.fmean(seconds)
    print(f"same subject's other relations kept: {statistics.fmean(same):.2%}; plant "
          f"{each:.2f} s each, {each / made['seconds']:.2f}x the base's training")
    ok = efficacy == 1.0 and worst >= GOAL_LOCALITY
    print(f"goal (every edit takes, locality >= {GOAL_LOCALITY:.0%}): "
          f"{'met' if ok else 'NOT met'}")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
