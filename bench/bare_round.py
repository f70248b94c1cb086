"""The bare limit of a round's close: exactly its evaluations, in one fresh process.

    python bench/bare_round.py WORK.json

WORK.json (written by ``bench_round.py``) lists the round's challenges: the domain, the
labeler's file, the model's folder (safetensors + config) and each submitted program's file.
This process imports torch once, then for every challenge evaluates its labeler, its model and
every program over the whole domain, in this process, without isolation, and computes what a
close records: each program's score (the challenge's metric against the labeler) and
agreement, the model's score and its accuracy on the held-out split. It prints them as JSON
(``bench_round.py`` checks them against the close's results) with its own peak memory.

Timed from outside, as a subprocess, so the interpreter's start-up and the torch import count
on both sides of the ratio.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dixit import models
from dixit.data import domains
from dixit.models import training


def evaluate(source: Path, x: torch.Tensor) -> torch.Tensor:
    ns: dict[str, object] = {}
    exec(compile(source.read_bytes(), str(source), "exec"), ns)
    return torch.as_tensor(ns["label"](x))  # type: ignore[operator]


def judge(metric: str, truth: torch.Tensor, out: torch.Tensor) -> tuple[float, float]:
    """(score, agreement) of ``out`` against ``truth``, as a close judges them."""
    if truth.is_floating_point():  # a distribution: logits over the last axis
        c = truth.shape[-1]
        log_p = F.log_softmax(truth.reshape(-1, c).float(), -1)
        log_q = F.log_softmax(out.reshape(-1, c).float(), -1)
        agree = float((log_p.argmax(-1) == log_q.argmax(-1)).double().mean())
        kl = float(F.kl_div(log_q, log_p, reduction="sum", log_target=True)) / log_p.shape[0]
        return (kl if metric == "kl" else agree), agree
    agree = float((truth.reshape(-1) == out.reshape(-1)).double().mean())
    return agree, agree


def main() -> None:
    work = json.loads(Path(sys.argv[1]).read_text())
    torch.set_num_threads(1)  # as the close's workers: one thread each
    results = {}
    x_of: dict[str, torch.Tensor] = {}
    for ch in work["challenges"]:
        spec = ch["domain"]
        if spec not in x_of:
            x_of[spec] = domains.parse(spec, seed=ch["seed"]).all()
        x = x_of[spec]
        truth = evaluate(Path(ch["labeler"]), x)
        with torch.no_grad():
            logits = models.load(ch["model"])(x)
        model_out = logits if truth.is_floating_point() else logits.argmax(-1)
        model_score, _ = judge(ch["metric"], truth, model_out)
        _, ho = training.split(x.shape[0], ch["train_frac"], ch["seed"])
        ids = model_out.argmax(-1) if truth.is_floating_point() else model_out
        t_ids = truth.argmax(-1) if truth.is_floating_point() else truth
        accuracy = float((ids[ho] == t_ids[ho]).double().mean())
        subs = {owner: judge(ch["metric"], truth, evaluate(Path(p), x))[0]
                for owner, p in ch["programs"].items()}
        results[ch["team"]] = {"model_score": model_score, "model_accuracy": accuracy,
                               "submissions": subs}
    peak_kb = 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak_kb = int(line.split()[1])
    print(json.dumps({"results": results, "peak_kb": peak_kb}))


if __name__ == "__main__":
    main()
