"""`dixit verify` over ledgers of about 250, 500 and 1,000 entries: does it scale linearly?

    python bench/bench_verify.py [--teams 11] [--rounds 2,4,8] [--reuse] [--profile N]

Builds one real tournament in-process through the library API (real git repository, real keys
in a private DIXIT_HOME, real small MLP challenges, escrow, every round closed by the scoring
close and tagged; DIXIT_NOW moves the clock past each deadline). A round is one open, one
proposal per team, every team submitting to every other team and one close, so with 11 teams a
round is 123 entries (one entry = one commit) and the registry 12: 2, 4 and 8 rounds make 258,
504 and 996 entries. The smaller ledgers are clones of the big one cut at a round's close.

Times `verify(replay=False)` and `verify(replay=True)` in-process for each size, and the CLI
(`dixit verify --json`, with and without `--no-replay`) in a subprocess for the largest.
Baselines from the same run: one `git log --name-status` over the same history (what reading
history costs at least) and `state.load` of the head (every current signature once).

The ledger and the trained challenge folders stay under .bench/verify/ (`make clean` removes
them); `--reuse` skips building when a ledger of the same shape is already there.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import cProfile
import io
import json
import os
import pstats
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

LABELER = """import torch


def label(x):
    a, b = x[:, 0].float() - {cx}, x[:, 1].float() - {cy}
    return (a * a + b * b < {r} ** 2).long()
"""
DOMAIN = "grid:113x113"
SHAPE_VERSION = 1


def _git(path: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(path), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def _env(base: Path) -> None:
    os.environ.update(DIXIT_HOME=str(base / "keys"), GIT_CONFIG_GLOBAL=os.devnull,
                      GIT_CONFIG_NOSYSTEM="1", CI="1")
    for var in ("DIXIT_NOW", "DIXIT_TEAM", "DIXIT_CLOSER_KEY"):
        os.environ.pop(var, None)


def _challenges(cache: Path, teams: list[str]) -> dict[str, Path]:
    """One tiny trained challenge folder per team, trained once and reused for every round
    (and every run: training is not what is measured)."""
    from dixit import challenge

    folders = {}
    for i, t in enumerate(teams):
        folder = cache / t
        if not (folder / "challenge.toml").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            src = cache / f"{t}-labeler.py"
            src.parent.mkdir(parents=True, exist_ok=True)
            src.write_text(LABELER.format(cx=20 + 5 * i, cy=90 - 4 * i, r=25 + i))
            challenge.create(folder, src, DOMAIN, hidden=[8], steps=5, seed=1)
        folders[t] = folder
    return folders


@contextlib.contextmanager
def _no_recheck() -> Iterator[None]:
    """While building only: an entry already parsed and verified (the same bytes, path and key)
    is not parsed and verified again. Every action loads the whole state, twice, so without
    this each append costs O(ledger) and building is quadratic; the entries are still written
    by the library API, byte for byte. Measurements run without it."""
    from dixit.ledger import entries

    parse, verify = entries.parse, entries.verify
    parsed: dict[tuple[bytes, str], Any] = {}
    verified: dict[tuple[bytes, str, str], Any] = {}

    def cached_parse(data: bytes, path: str) -> Any:
        if (data, path) not in parsed:
            parsed[(data, path)] = parse(data, path)
        return copy.deepcopy(parsed[(data, path)])

    def cached_verify(data: bytes, path: str, key: str) -> Any:
        if (data, path, key) not in verified:
            verified[(data, path, key)] = verify(data, path, key)
        return copy.deepcopy(verified[(data, path, key)])

    entries.parse, entries.verify = cached_parse, cached_verify  # type: ignore[assignment]
    try:
        yield
    finally:
        entries.parse, entries.verify = parse, verify  # type: ignore[assignment]


def build(root: Path, teams: list[str], rounds: int, folders: dict[str, Path],
          say: Callable[[str], None]) -> None:
    """The tournament: registry, then ``rounds`` rounds, each closed by the scoring close."""
    with _no_recheck():
        _build(root, teams, rounds, folders, say)


def _build(root: Path, teams: list[str], rounds: int, folders: dict[str, Path],
           say: Callable[[str], None]) -> None:
    from dixit.league import actions, closing
    from dixit.ledger.store import Ledger

    actions.init(root, "bench-verify")
    ledger = Ledger(root)
    for t in teams:
        actions.team_add(ledger, t)
    n = len(teams)
    for r in range(rounds):
        t0 = time.perf_counter()
        os.environ["DIXIT_NOW"] = f"+{3 * r}h"
        actions.round_open(ledger, "+1h", "+2h")
        for t in teams:
            actions.propose(ledger, t, folders[t])
        for s in teams:  # every solver submits the target's labeler shifted by one team
            for t in teams:
                if s != t:
                    shifted = teams[(teams.index(t) + (s < t)) % n]
                    actions.submit(ledger, s, t, folders[shifted] / "labeler.py")
        os.environ["DIXIT_NOW"] = f"+{3 * r + 2.5}h"  # past submit-by: the closer may close
        closing.score(ledger, r + 1)
        os.environ.pop("DIXIT_NOW")
        say(f"  round {r + 1}/{rounds} built: {_count(root)} entries "
            f"({time.perf_counter() - t0:.1f} s)")


def _count(root: Path) -> int:
    return int(_git(root, "rev-list", "--count", "main"))


def cut(full: Path, dst: Path, rounds: int) -> None:
    """A clone of ``full`` whose history ends at the close of round ``rounds``."""
    shutil.rmtree(dst, ignore_errors=True)
    subprocess.run(["git", "clone", "-q", str(full), str(dst)], check=True)
    _git(dst, "remote", "remove", "origin")
    commit = _git(dst, "rev-parse", f"refs/tags/round-{rounds:03d}-closed^{{commit}}")
    _git(dst, "update-ref", "refs/heads/main", commit)
    _git(dst, "read-tree", "-u", "--reset", "main")
    for tag in _git(dst, "tag", "--list").split():
        if int(tag.split("-")[1]) > rounds:
            _git(dst, "tag", "-d", tag)


def _best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Best of ``repeat`` cold runs: nothing read by an earlier run is kept."""
    from dixit.ledger.store import Snapshot

    best, out = float("inf"), None
    for _ in range(repeat):
        Snapshot.drop_shared()
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def measure(root: Path, repeat: int) -> dict[str, Any]:
    from dixit.league import verify
    from dixit.ledger import state as st
    from dixit.ledger.store import Ledger

    row: dict[str, Any] = {"entries": _count(root)}
    row["git_log"], _ = _best(lambda: _git(root, "log", "--reverse", "--no-renames",
                                           "--name-status", "--format=@@%H", "main"), repeat)
    row["load"], _ = _best(lambda: st.load(Ledger(root).snapshot()), repeat)
    for key, replay in (("no_replay", False), ("replay", True)):
        row[key], rep = _best(lambda replay=replay: verify.verify(Ledger(root), replay=replay),
                              min(2, repeat) if replay else repeat)
        if rep.problems:
            raise SystemExit(f"verify found problems in the bench ledger {root}: "
                             f"{rep.problems[:3]}")
        row["commits"] = rep.checked.get("commits")
    return row


def cli(root: Path, *flags: str) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "dixit", "-C", str(root), "verify", "--json",
                           *flags], capture_output=True, text=True)
    took = time.perf_counter() - t0
    if proc.returncode or not json.loads(proc.stdout).get("ok"):
        raise SystemExit(f"dixit verify {' '.join(flags)} failed: {proc.stderr}{proc.stdout}")
    return took


def profile(root: Path, replay: bool, top: int) -> None:
    from dixit.league import verify
    from dixit.ledger.store import Ledger, Snapshot

    Snapshot.drop_shared()
    prof = cProfile.Profile()
    prof.enable()
    verify.verify(Ledger(root), replay=replay)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(top)
    print(f"\n-- cProfile of verify(replay={replay}) on {root.name}, top {top} by cumulative")
    print(out.getvalue())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--teams", type=int, default=11)
    ap.add_argument("--rounds", default="2,4,8", help="rounds per ledger size, ascending")
    ap.add_argument("--dir", type=Path, default=REPO / ".bench" / "verify")
    ap.add_argument("--reuse", action="store_true", help="reuse a ledger of the same shape")
    ap.add_argument("--repeat", type=int, default=3,
                    help="best of N for the in-process timings (of at most 2 with replay)")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="also print the top N functions of a cProfile of the largest verify")
    opts = ap.parse_args()
    sizes = sorted(int(r) for r in opts.rounds.split(","))
    teams = [f"t{i:02d}" for i in range(opts.teams)]
    base: Path = opts.dir
    base.mkdir(parents=True, exist_ok=True)
    _env(base)
    full = base / "ledger"
    shape = {"version": SHAPE_VERSION, "teams": opts.teams, "rounds": sizes[-1]}
    marker = base / "shape.json"

    def say(msg: str) -> None:
        print(msg, flush=True)

    folders = _challenges(base / "challenges", teams)
    t0 = time.perf_counter()
    reused = opts.reuse and marker.is_file() and json.loads(marker.read_text()) == shape \
        and (full / ".git").is_dir()
    if not reused:
        marker.unlink(missing_ok=True)
        shutil.rmtree(full, ignore_errors=True)
        shutil.rmtree(base / "keys", ignore_errors=True)
        say(f"building a {opts.teams}-team ledger of {sizes[-1]} closed rounds under {base}")
        build(full, teams, sizes[-1], folders, say)
        marker.write_text(json.dumps(shape))
    built = time.perf_counter() - t0
    roots = {}
    for r in sizes:
        roots[r] = full if r == sizes[-1] else base / f"ledger-{r}"
        if r != sizes[-1]:
            cut(full, roots[r], r)

    rows = []
    for r in sizes:
        row = measure(roots[r], opts.repeat)
        row["rounds"] = r
        rows.append(row)
        say(f"  measured {row['entries']} entries")
    big = rows[-1]
    cli_no_replay = cli(roots[sizes[-1]], "--no-replay")
    cli_replay = cli(roots[sizes[-1]])

    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    say(f"\n`dixit verify` scaling: {opts.teams} teams, rounds of {opts.teams} proposals + "
        f"{opts.teams * (opts.teams - 1)} submissions, all closed with escrow "
        f"(ledger {'reused' if reused else f'built in {built:.0f} s'}, not timed; "
        f"{os.cpu_count()} CPUs, load average {load})")
    head = (f"  {'entries':>7} {'commits':>7} {'rounds':>6} | {'no replay s':>11} "
            f"{'ms/entry':>8} | {'replay s':>8} {'ms/entry':>8} | {'git log s':>9} "
            f"{'load s':>7} | {'noreplay/log':>12} {'noreplay/load':>13}")
    say(head)
    say("  " + "-" * (len(head) - 2))
    for row in rows:
        e = row["entries"]
        say(f"  {e:>7} {row['commits']:>7} {row['rounds']:>6} | {row['no_replay']:>11.3f} "
            f"{row['no_replay'] / e * 1e3:>8.3f} | {row['replay']:>8.2f} "
            f"{row['replay'] / e * 1e3:>8.2f} | {row['git_log']:>9.3f} {row['load']:>7.3f} | "
            f"{row['no_replay'] / row['git_log']:>11.1f}x {row['no_replay'] / row['load']:>12.2f}x")
    small = rows[0]
    ideal = big["entries"] / small["entries"]
    say(f"\n  scaling {big['entries']}/{small['entries']} entries (ideal, linear: {ideal:.2f}x; "
        f"4.00x for 1000/250):")
    for key, what in (("no_replay", "verify, no replay"), ("replay", "verify, replay"),
                      ("git_log", "git log baseline"), ("load", "state.load baseline")):
        ratio = big[key] / small[key]
        say(f"    {what:<20} {ratio:6.2f}x  (per entry {ratio / ideal:.2f}x of linear)")
    say(f"\n  CLI `dixit verify --json` on {big['entries']} entries, in a subprocess:")
    say(f"    --no-replay : {cli_no_replay:7.2f} s")
    say(f"    with replay : {cli_replay:7.2f} s")
    target = 10.0
    for what, took in (("no replay", cli_no_replay), ("replay", cli_replay)):
        say(f"  {big['entries']} entries verify in under {target:.0f} s ({what}, CLI): "
            f"{'yes' if took < target else 'NO'} ({took:.2f} s)")
    if opts.profile:
        profile(roots[sizes[-1]], False, opts.profile)
        profile(roots[sizes[-1]], True, opts.profile)


if __name__ == "__main__":
    main()
