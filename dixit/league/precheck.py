"""``dixit check``: a program tried before it is submitted, exactly as the close will run it.

The program runs in the same sandbox, under the same limits and with the same output checks
as ``dixit score``, but against the **published model** over the **public** inputs, never the
sealed labeler: it tells a solver about crashes, wrong shapes and timeouts before the deadline,
and leaks nothing the public model does not. Nothing is written to the ledger.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dixit import challenge as local
from dixit.data import domains
from dixit.errors import ChallengeError
from dixit.league import measure
from dixit.ledger import entries, state as st
from dixit.ledger.store import Ledger
from dixit.rules import kinds, scheme as schemes


@dataclass
class Checked:
    challenge: str
    round: int
    kind: str
    output: str
    metric: str
    domain: str
    inputs: int
    ok: bool
    error: str | None = None
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    max_rss_mb: float = 0.0
    limits: dict[str, Any] | None = None
    score_vs_model: float | None = None      # the challenge's metric against the model
    agreement_vs_model: float | None = None  # class ids matching the model's
    printed: str = ""                        # the program's captured output (tail)
    isolation: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check(ledger: Ledger, target: str, program: Path, *, round_no: int | None = None,
          allow_weak: bool = False) -> Checked:
    """Run ``program`` for ``target``'s challenge against its published model."""
    from dixit import replay
    from dixit.replay import reference

    entries.check_name(target, "challenge (team name)")
    state = st.load(ledger.snapshot())
    rnd = state.round(round_no)
    ch = rnd.challenges.get(target)
    if ch is None:
        raise ChallengeError(f"'{target}' proposed no challenge in round {rnd.number}"
                             + (f" (challenges: {', '.join(sorted(rnd.challenges))})"
                                if rnd.challenges else ""))
    kind = kinds.get(ch.kind)
    if not kind.replayed:
        guess = local.read_flag(program)
        return Checked(target, rnd.number, kind.name, "flag", "flag", ch.domain, 0, True,
                       printed=f"a well-formed guess of {len(guess.decode())} characters; "
                       "a flag challenge runs nothing")
    source = local.read_program(program, state.rules.max_program_bytes)
    how = schemes.of(ch.meta, state.rules)
    domain = domains.parse(ch.domain, root=ledger.root, seed=int(ch.meta.get("seed", 0)))
    module = reference.load_model(state, ch)
    if module is None:
        raise ChallengeError(f"{target}'s published model cannot be loaded here")
    limits, require = reference.replay_limits(state.rules, allow_weak)
    out = replay.replay_sources({"program": source}, domain, limits, require=require,
                                output=how.output)["program"]
    doc = Checked(target, rnd.number, kind.name, how.output.spec, how.metric, domain.spec,
                  domain.size, out.error is None, out.error, round(out.seconds, 3),
                  round(out.cpu_seconds, 3), out.max_rss_mb,
                  {"cpu_seconds": limits.cpu_seconds, "wall_seconds": limits.wall_seconds,
                   "memory_mb": limits.memory_mb},
                  printed=out.output[-2000:],
                  isolation=replay.probe_isolation().describe())
    if out.labels is not None:
        got = measure.measure(how, domain.size, reference_is_model=True, truth=None,
                              model=reference.model_blocks(module, domain, how.output),
                              programs={"program": out.labels}, heldout=None)
        sc = got.programs.get("program")
        if got.void is not None or sc is None or sc.error is not None:
            doc.ok = False
            doc.error = got.void or (sc.error if sc else "not judged")
        else:
            doc.score_vs_model, doc.agreement_vs_model = sc.score, sc.agreement
    return doc
