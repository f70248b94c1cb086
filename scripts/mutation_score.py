"""Print the mutation score of the last ``mutmut run`` (``make mutation``), per module and total.

Reads mutmut's own records (``mutants/<module>.py.meta``, one exit code per mutant) for the
modules ``[tool.mutmut] only_mutate`` names in pyproject.toml. A mutant counts as killed when
a test failed on it or it timed out (the tests noticed it); it survived when every test passed,
or no test reached it. Mutants listed in ``tests/mutation_equivalent.toml`` (each with the reason
it cannot change behaviour) are reported apart, and an entry there that names no surviving
mutant is an error, so that list never hides a live one.

    python scripts/mutation_score.py [--survivors] [--fail-under PERCENT]
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

# mutmut's exit codes (mutmut/stats.py status_by_exit_code), as this script counts them.
KILLED = {1, 3, 36, 37, -24, 24, 152, 255}  # failed, pytest internal error, timeouts, type check
SURVIVED = {0}
NO_TESTS = {5, 33}
SKIPPED = {34}


@dataclass
class Module:
    path: str
    killed: int = 0
    survived: list[str] = field(default_factory=list)
    equivalent: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)  # not run, suspicious, crashed

    @property
    def total(self) -> int:
        return self.killed + len(self.survived) + len(self.equivalent) + len(self.other)


def load_modules(root: Path) -> list[str]:
    cfg = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["mutmut"]
    return list(cfg["only_mutate"])


def load_equivalent(root: Path) -> dict[str, str]:
    path = root / "tests" / "mutation_equivalent.toml"
    if not path.exists():
        return {}
    return {str(k): str(v) for k, v in tomllib.loads(path.read_text()).get("mutants", {}).items()}


def score(root: Path, equivalent: dict[str, str]) -> list[Module]:
    out = []
    for rel in load_modules(root):
        mod = Module(rel)
        meta = root / "mutants" / f"{rel}.meta"
        if not meta.exists():
            raise SystemExit(f"mutation score: no results for {rel} (run `make mutation`)")
        codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        for name, code in sorted(codes.items()):
            if code in KILLED:
                mod.killed += 1
            elif code in SKIPPED:
                continue
            elif code in SURVIVED or code in NO_TESTS:
                (mod.equivalent if name in equivalent else mod.survived).append(name)
            else:
                mod.other.append(f"{name} (exit code {code})")
        out.append(mod)
    return out


def pct(k: int, n: int) -> str:
    return f"{100.0 * k / n:.1f}%" if n else "n/a"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--survivors", action="store_true", help="list every surviving mutant")
    ap.add_argument("--fail-under", type=float, default=None,
                    help="exit 1 when the total score is below this percentage")
    args = ap.parse_args(argv)
    root = Path(__file__).resolve().parent.parent
    equivalent = load_equivalent(root)
    modules = score(root, equivalent)
    listed = {n for m in modules for n in m.equivalent}
    stale = sorted(set(equivalent) - listed)
    width = max(len(m.path) for m in modules)
    for m in modules:
        eq = f", {len(m.equivalent)} equivalent" if m.equivalent else ""
        other = f", {len(m.other)} not run" if m.other else ""
        print(f"  {m.path:<{width}}  {m.killed:>4}/{m.total:<4} killed ({pct(m.killed, m.total)})"
              f"{eq}{other}")
    if args.survivors:
        for m in modules:
            for name in m.survived + m.other:
                print(f"    survived: {name}")
    killed = sum(m.killed for m in modules)
    total = sum(m.total for m in modules)
    n_eq = sum(len(m.equivalent) for m in modules)
    print(f"mutation score: {killed}/{total} killed ({pct(killed, total)}); "
          f"{n_eq} more judged equivalent (tests/mutation_equivalent.toml), "
          f"{total - killed - n_eq} survived")
    if stale:
        print("mutation score: tests/mutation_equivalent.toml lists mutants that did not "
              f"survive or no longer exist: {', '.join(stale)}", file=sys.stderr)
        return 1
    if args.fail_under is not None and 100.0 * killed / max(total, 1) < args.fail_under:
        print(f"mutation score: below {args.fail_under}%", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
