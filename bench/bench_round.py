"""A full round through `dixit score` against the same programs evaluated bare in one process.

    python bench/bench_round.py [--teams 16]

Builds a real tournament (n teams, each proposes a small challenge on grid:113x113, every team
submits to every other: n*(n-1) programs), then times `dixit score --force` (reveal from escrow,
seal checks, sandboxed replay of every labeler and program, model replay, scoring, commit) and,
as the baseline measured in the same run, the same labelers and programs evaluated bare.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

LABELER = """import torch


def label(x):
    a, b = x[:, 0].float() - {cx}, x[:, 1].float() - {cy}
    return (a * a + b * b < {r} ** 2).long()
"""


def _run(*args: str | Path) -> None:
    from dixit import cli

    cli._ctx["root"] = None
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as e:
        code = cli.run([str(a) for a in args])
    if code:
        raise SystemExit(f"dixit {' '.join(map(str, args))} failed: {e.getvalue()}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--teams", type=int, default=16)
    opts = ap.parse_args()
    n = opts.teams
    with tempfile.TemporaryDirectory(prefix="dixit-bench-") as tmp:
        base = Path(tmp)
        os.environ.update(DIXIT_HOME=str(base / "keys"), GIT_CONFIG_GLOBAL=os.devnull,
                          GIT_CONFIG_NOSYSTEM="1", CI="1")
        root = base / "league"
        t0 = time.perf_counter()
        _run("init", root, "--name", "bench")
        teams = [f"t{i:02d}" for i in range(n)]
        for t in teams:
            _run("-C", root, "team", "add", t)
        _run("-C", root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
        sources: dict[str, Path] = {}
        for i, t in enumerate(teams):
            src = base / f"{t}.py"
            src.write_text(LABELER.format(cx=20 + 5 * i, cy=90 - 4 * i, r=25 + i))
            sources[t] = src
            _run("challenge", "new", base / "ch" / t, "--labeler", src, "--domain",
                 "grid:113x113", "--hidden", "8", "--steps", "5")
            _run("-C", root, "propose", "--team", t, base / "ch" / t)
        pairs = [(s, t) for s in teams for t in teams if s != t]
        for s, t in pairs:  # every solver submits the target's labeler shifted by one team
            _run("-C", root, "submit", "--team", s, "--challenge", t,
                 sources[teams[(teams.index(t) + (s < t)) % n]])
        setup = time.perf_counter() - t0

        t0 = time.perf_counter()
        _run("-C", root, "score", "--force")
        scored = time.perf_counter() - t0

        # Baseline: the same labelers and programs, bare, one process, torch already warm.
        import torch

        from dixit.data.domains import parse

        x = parse("grid:113x113").all()
        t0 = time.perf_counter()
        truth = {}
        for t in teams:
            ns: dict[str, object] = {}
            exec(compile(sources[t].read_text(), str(sources[t]), "exec"), ns)
            truth[t] = torch.as_tensor(ns["label"](x))  # type: ignore[operator]
        for s, t in pairs:
            ns = {}
            src = sources[teams[(teams.index(t) + (s < t)) % n]]
            exec(compile(src.read_text(), str(src), "exec"), ns)
            float((torch.as_tensor(ns["label"](x)) == truth[t]).float().mean())  # type: ignore[operator]
        bare = time.perf_counter() - t0
    programs = len(pairs) + n
    print(f"full round through `dixit score`: {n} teams, {len(pairs)} programs + {n} labelers "
          f"on grid:113x113 (setup {setup:.1f} s, not timed)")
    print(f"  dixit score --force : {scored:8.2f} s  ({scored / programs * 1e3:.1f} ms/program)")
    print(f"  bare, one process   : {bare:8.2f} s  ({bare / programs * 1e3:.1f} ms/program)")
    print(f"  ratio               : {scored / bare:8.2f}x")


if __name__ == "__main__":
    main()
