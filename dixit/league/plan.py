"""Planning a close: which challenges are replayed, on which domain, and which are void first.

Pure over the ledger's records (parsing a domain reads only the ledger's own data files).
Challenges that share a domain and seed form one group, replayed by one call, so warm workers
start once per domain, not once per challenge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dixit.data import domains
from dixit.league.secrets import Opened
from dixit.ledger import state as st
from dixit.ledger.layout import SECRET_ITEM
from dixit.rules import kinds
from dixit.rules.domain_caps import CEILING, DomainRules


@dataclass(frozen=True)
class ChallengePlan:
    target: str
    challenge: st.Challenge
    kind: kinds.Kind
    solvers: tuple[str, ...]             # teams that submitted for it, sorted
    domain: domains.Domain | None = None  # None: void, or not replayed (flag)
    void: str | None = None              # why it cannot be judged, decided before replay
    draw_seed: int | None = None         # judged on inputs drawn with this seed


@dataclass
class Plan:
    round: st.Round
    challenges: dict[str, ChallengePlan] = field(default_factory=dict)
    groups: list[list[str]] = field(default_factory=list)  # replayed together

    def sources(self, members: list[str], opened: Opened) -> dict[str, bytes]:
        """The programs one replay call runs: ``target/owner/item`` -> source."""
        out: dict[str, bytes] = {}
        for target in members:
            cp = self.challenges[target]
            for owner, item in [(target, SECRET_ITEM), *((s, target) for s in cp.solvers)]:
                if (owner, item) in opened.payloads:
                    out[source_key(target, owner, item)] = opened.payloads[(owner, item)]
        return out

    def replay_count(self, opened: Opened) -> int:
        return sum(len(self.sources(members, opened)) for members in self.groups)


def source_key(target: str, owner: str, item: str) -> str:
    return f"{target}/{owner}/{item}"


def plan(rnd: st.Round, opened: Opened, root: Path, targets: list[str] | None = None,
         draw: int | None = None, caps: DomainRules = CEILING) -> Plan:
    """Plan the replay of ``targets`` (default: every challenge of the round). A kind judged
    on a post-deadline draw is replayed on its domain sampled with ``draw`` (``rules.draw``),
    never on the public sample. A domain over the rulebook's ``caps`` voids its challenge."""
    out = Plan(rnd)
    groups: dict[tuple[str, int], list[str]] = {}
    for target in sorted(rnd.challenges) if targets is None else sorted(targets):
        ch = rnd.challenges[target]
        kind = kinds.get(ch.kind)
        solvers = tuple(sorted(s for (s, t) in rnd.submissions if t == target))
        # A kind judged against its public model stands without the secret (which then only
        # checks the accuracy claim).
        void = opened.missing.get((target, SECRET_ITEM)) if kind.secret_required else None
        dom, drawn = None, draw if kind.judged_on_draw else None
        problem = kinds.domain_problem(kind, ch.domain)
        if void is None and problem is not None:
            void = problem
        elif void is None and drawn is None and kind.judged_on_draw:
            void = "no draw seed: the round's salts are not revealed"
        if void is None and kind.replayed:
            seed = int(ch.meta.get("seed", 0)) if drawn is None else drawn
            try:
                dom = domains.parse(ch.domain, root=root, seed=seed, caps=caps)
            except Exception as exc:  # a broken domain voids this challenge only
                void = f"domain unusable: {str(exc).splitlines()[0]}"
            else:
                groups.setdefault((dom.identity(), seed), []).append(target)
        out.challenges[target] = ChallengePlan(target, ch, kind, solvers, dom, void, drawn)
    out.groups = list(groups.values())
    return out
