"""A round's close through the CLI against its bare limit, both timed as fresh processes.

    python bench/bench_round.py [--teams 16] [--repeats 2] [--positions 100000]

Builds real tournaments from the same challenge folders (each team proposes a small challenge
on grid:113x113 with a labeler and a trained model) and times, as subprocesses started from
here:

- ``dixit score --force`` (reveal from escrow, seal checks, the sandboxed replay of every
  labeler, program and model, judging, the signed results and reveals committed);
- ``bench/bare_round.py``: exactly the same evaluations in one process that imports torch once
  (each labeler, program and model over the domain, each submission's score), no isolation.

It prints (1) the ratio on a round where every team submits to every other (n*(n-1)
programs), (2) the marginal cost of one more program, from a second round of the same teams
where each challenge has one submission: ((close_full - close_one) - (bare_full - bare_one)) /
(programs_full - programs_one), and (3) the same ratio for a distribution challenge judged by
kl over N and 2N positions, with the peak memory of the closing process (the judge; the
sandboxed children are bounded by the replay limits) and of the bare one at each. Each
timing is the best of ``--repeats`` closes of fresh copies; the results of every close are
checked against the bare's.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

LABELER = """import torch


def label(x):
    a, b = x[:, 0].float() - {cx}, x[:, 1].float() - {cy}
    return (a * a + b * b < {r} ** 2).long()
"""

# Logits over 8 symbols at every position of a token sequence: a function of the token and
# its left neighbour.
DIST_LABELER = """import torch


def label(x):
    prev = torch.roll(x, 1, dims=1)
    prev[:, 0] = 0
    k = torch.arange(8, dtype=torch.float32)
    return -((x[..., None] * {a} + prev[..., None] * {b}) % 8 - k).abs() * {s}
"""

# The closing process reports its own peak resident memory on exit (the sandboxed children
# are not in it: their memory is capped by the replay limits).
PEAK = """import atexit, sys
def _peak(path=sys.argv[1]):
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'):
            open(path, 'w').write(line.split()[1])
atexit.register(_peak)
sys.argv = ['dixit'] + sys.argv[2:]
from dixit.cli import main
main()
"""


def _run(*args: str | Path) -> None:
    from dixit import cli

    cli._ctx["root"] = None
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as e:
        code = cli.run([str(a) for a in args])
    if code:
        raise SystemExit(f"dixit {' '.join(map(str, args))} failed: {e.getvalue()}")


@dataclass
class Round:
    root: Path
    work: Path  # the bare script's list of evaluations
    programs: int  # labelers + submitted programs


def challenges(base: Path, teams: list[str], domain: str, output: str | None) -> dict[str, Path]:
    """One challenge folder per team (labeler + trained model); the labeler sources by team."""
    sources = {}
    for i, t in enumerate(teams):
        src = base / "src" / f"{t}.py"
        src.parent.mkdir(parents=True, exist_ok=True)
        if output is None:
            src.write_text(LABELER.format(cx=20 + 5 * i, cy=90 - 4 * i, r=25 + i))
            extra = ["--hidden", "8", "--steps", "5"]
        else:
            src.write_text(DIST_LABELER.format(a=1 + i % 7, b=1 + (i // 7) % 7, s=0.5 + i / 8))
            extra = ["--arch", "transformer", "--d-model", "16", "--heads", "2", "--d-mlp",
                     "32", "--set", "positions=all", "--steps", "3", "--output", output]
        _run("challenge", "new", base / "ch" / t, "--labeler", src, "--domain", domain, *extra)
        sources[t] = src
    return sources


def tournament(base: Path, name: str, teams: list[str], sources: dict[str, Path],
               pairs: list[tuple[str, str]], domain: str, metric: str) -> Round:
    """A tournament whose one round holds every team's challenge and the ``pairs``' programs
    (solver, target), each the labeler of the next team along: right or wrong, never failing."""
    root = base / name
    _run("init", root, "--name", name)
    for t in teams:
        _run("-C", root, "team", "add", t)
    _run("-C", root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
    for t in teams:
        _run("-C", root, "propose", "--team", t, base / "ch" / t)
    n = len(teams)
    program = {(s, t): sources[teams[(teams.index(t) + (s < t)) % n]] for s, t in pairs}
    for (s, t), src in program.items():
        _run("-C", root, "submit", "--team", s, "--challenge", t, src)
    work = {"challenges": [
        {"team": t, "domain": domain, "seed": 0, "train_frac": 0.5, "metric": metric,
         "labeler": str(sources[t]), "model": str(base / "ch" / t),
         "programs": {s: str(program[(s, tt)]) for s, tt in pairs if tt == t}}
        for t in teams]}
    path = base / f"{name}.json"
    path.write_text(json.dumps(work))
    return Round(root, path, len(teams) + len(pairs))


def timed(cmd: list[str]) -> tuple[float, str]:
    # this checkout's dixit, whatever the venv has installed
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(HERE.parent), *filter(None, [os.environ.get("PYTHONPATH")])])}
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    secs = time.perf_counter() - t0
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return secs, done.stdout


def close(rounds: list[Round], repeats: int, scratch: Path) -> list[tuple[float, float, dict]]:
    """For each round: the best wall time of ``dixit score --force`` on fresh copies, the
    bare's, and the close's results, each close checked against the bare's values. The rounds
    take turns, bare and close, each repeat, so a load that comes and goes touches all alike."""
    best = [[float("inf"), float("inf"), {}] for _ in rounds]
    for i in range(repeats):
        for rnd, row in zip(rounds, best, strict=True):
            secs, out = timed([sys.executable, str(HERE / "bare_round.py"), str(rnd.work)])
            row[1] = min(row[1], secs)
            expect = json.loads(out)
            copy = scratch / f"close-{rnd.root.parent.name}-{rnd.root.name}-{i}"
            shutil.copytree(rnd.root, copy, symlinks=True)
            peak = scratch / "peak"
            secs, out = timed([sys.executable, "-c", PEAK, str(peak), "-C", str(copy), "score",
                               "--force", "--json"])
            row[0] = min(row[0], secs)
            results = json.loads(out)
            check(results, expect["results"])
            results["peak_kb"] = int(peak.read_text())
            results["bare_peak_kb"] = expect["peak_kb"]
            row[2] = results
            shutil.rmtree(copy)
    return [(a, b, c) for a, b, c in best]


def check(results: dict, expect: dict) -> None:
    """The close measured what the bare did: every score and the model's, to rounding."""
    for ch in results["challenges"]:
        want = expect[ch["proposer"]]
        got = {s["team"]: s["score"] for s in ch["submissions"]}
        pairs = [(ch["model_score"], want["model_score"]),
                 (ch["model_accuracy"], want["model_accuracy"]),
                 *((got.get(o), v) for o, v in want["submissions"].items())]
        if len(got) != len(want["submissions"]) or any(
                a is None or abs(a - b) > 2e-5 * max(1.0, abs(b)) for a, b in pairs):
            raise SystemExit(f"the close and the bare disagree on {ch['proposer']}: "
                             f"{ch} vs {want}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--teams", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--positions", type=int, default=100_000,
                    help="N, positions of the distribution challenge (run at N and 2N)")
    ap.add_argument("--dist-teams", type=int, default=4)
    opts = ap.parse_args()
    from dixit.replay import probe_isolation

    n = opts.teams
    with tempfile.TemporaryDirectory(prefix="dixit-bench-") as tmp:
        base = Path(tmp)
        os.environ.update(DIXIT_HOME=str(base / "keys"), GIT_CONFIG_GLOBAL=os.devnull,
                          GIT_CONFIG_NOSYSTEM="1", CI="1")
        t0 = time.perf_counter()
        teams = [f"t{i:02d}" for i in range(n)]
        sources = challenges(base / "grid", teams, "grid:113x113", None)
        every = [(s, t) for s in teams for t in teams if s != t]
        one = [(teams[(i + 1) % n], t) for i, t in enumerate(teams)]
        full = tournament(base / "grid", "full", teams, sources, every, "grid:113x113",
                          "agreement")
        single = tournament(base / "grid", "single", teams, sources, one, "grid:113x113",
                            "agreement")
        dist = []
        k = opts.dist_teams
        dteams = teams[:k]
        dpairs = [(s, t) for s in dteams for t in dteams if s != t]
        for size in (opts.positions, 2 * opts.positions):
            rows = -(-size // 16)
            spec = f"tokens:8x16:{rows}"
            folder = base / f"dist{rows}"
            dsrc = challenges(folder, dteams, spec, "distribution:8")
            dist.append((rows * 16, tournament(folder, "dist", dteams, dsrc, dpairs, spec,
                                               "kl")))
        setup = time.perf_counter() - t0

        print(f"isolation measured under: {probe_isolation().describe()}")
        print(f"machine: {os.cpu_count()} cores, load average {_load()} before; setup "
              f"{setup:.0f} s (not timed); best of {opts.repeats} fresh closes each; the bare "
              f"(bench/bare_round.py) is one fresh process: torch import, every labeler, "
              f"program and model, every score")
        scratch = base / "closes"
        scratch.mkdir()
        (s_full, b_full, _), (s_one, b_one, _) = close([full, single], opts.repeats, scratch)
        print(f"(1) {n} teams, {full.programs - n} programs + {n} labelers + {n} models on "
              f"grid:113x113:")
        print(f"    dixit score --force : {s_full:7.2f} s")
        print(f"    bare, one process   : {b_full:7.2f} s")
        print(f"    ratio               : {s_full / b_full:7.2f}x   (issue #15's goal: <= 1.5x)")
        extra = full.programs - single.programs
        marginal = ((s_full - s_one) - (b_full - b_one)) / extra
        print(f"(2) marginal cost of a program: the same teams with one submission per "
              f"challenge: close {s_one:.2f} s, bare {b_one:.2f} s")
        print(f"    (({s_full:.2f} - {s_one:.2f}) - ({b_full:.2f} - {b_one:.2f})) / {extra} "
              f"programs = {marginal * 1e3:.1f} ms per program above bare (goal: <= 10 ms; "
              f"close {(s_full - s_one) / extra * 1e3:.1f} ms, bare "
              f"{(b_full - b_one) / extra * 1e3:.1f} ms)")
        print(f"(3) distribution:8 judged by kl, {k} teams ({len(dpairs)} programs + {k} "
              f"labelers + {k} transformers), tokens of length 16:")
        measured = close([rnd for _, rnd in dist], opts.repeats, scratch)
        for (positions, _), (s, b, res) in zip(dist, measured, strict=True):
            print(f"    N = {positions:>7,} positions: close {s:6.2f} s, bare {b:6.2f} s, ratio "
                  f"{s / b:5.2f}x; peak memory: closing process {res['peak_kb'] / 1024:6.1f} "
                  f"MB, bare {res['bare_peak_kb'] / 1024:6.1f} MB")
        print(f"    load average after: {_load()}")


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    main()
