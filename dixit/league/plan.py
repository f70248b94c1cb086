"""Planning a close: which challenges are replayed, on which domain, and which are void first.

Pure over the ledger's records (parsing a domain reads only the ledger's own data files), but
for a challenge judged on its sealed held-out set: its revealed bytes are written to a private
temporary root (``Plan.scratch``, as ``scoring/data/heldout-<team>.safetensors``) so that
``domains.parse`` and the sandbox's zygote read them as a dataset; ``Plan.close`` removes it.
Challenges that share a domain and seed form one group, replayed by one call, so warm workers
start once per domain, not once per challenge.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from dixit.data import domains
from dixit.errors import DixitError
from dixit.league.secrets import Opened
from dixit.ledger import state as st
from dixit.ledger.layout import HELDOUT_ITEM, SECRET_ITEM
from dixit.rules import kinds, scheme as schemes
from dixit.rules.domain_caps import CEILING, DomainRules
from dixit.rules.rulebook import Rulebook


@dataclass(frozen=True)
class ChallengePlan:
    target: str
    challenge: st.Challenge
    kind: kinds.Kind
    solvers: tuple[str, ...]             # teams that submitted for it, sorted
    domain: domains.Domain | None = None  # None: void, or not replayed (flag)
    void: str | None = None              # why it cannot be judged, decided before replay
    draw_seed: int | None = None         # judged on inputs drawn with this seed
    scheme: schemes.Scheme | None = None  # output, metric, threshold (None: flag, or void)
    heldout: bool = False                # judged on its revealed held-out set (every row unseen)


@dataclass
class Plan:
    round: st.Round
    challenges: dict[str, ChallengePlan] = field(default_factory=dict)
    groups: list[list[str]] = field(default_factory=list)  # replayed together
    scratch: Path | None = None  # private root of revealed held-out sets (``close`` removes it)

    def close(self) -> None:
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None

    def heldout_domain(self, target: str, public: domains.Domain,
                       payload: bytes) -> domains.Domain:
        """``target``'s revealed held-out set as a dataset domain under ``scratch``."""
        domains.check_heldout(payload, public, "the held-out set")
        if self.scratch is None:
            self.scratch = Path(tempfile.mkdtemp(prefix="dixit-heldout-"))  # mode 0700
        rel = f"{domains.DATASET_FOLDER}/heldout-{target}.safetensors"
        (self.scratch / rel).parent.mkdir(parents=True, exist_ok=True)
        (self.scratch / rel).write_bytes(payload)
        return domains.parse(f"dataset:{rel}", root=self.scratch)

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


def owner_of(key: str) -> str:
    """The team whose code a ``source_key`` names (a labeler's proposer, a program's solver)."""
    return key.split("/")[1]


def batch_of(key: str) -> str | None:
    """The batch (one child, in order) a source runs in: its team's, for a program; None, a
    child of its own, for a labeler. A labeler is the secret sealed at propose that other teams
    are judged against: beside its team's programs (submitted later), one of them could patch
    the child and change what the sealed labeler returns at the close."""
    return None if key.split("/")[2] == SECRET_ITEM else owner_of(key)


def model_key(target: str) -> str:
    return f"{target}/@model"


def split_key(target: str) -> str:
    return f"{target}/@split"


def is_program(key: str) -> bool:
    return "@" not in key


def plan(rnd: st.Round, opened: Opened, root: Path, targets: list[str] | None = None,
         draw: int | None = None, book: Rulebook | None = None,
         caps: DomainRules = CEILING) -> Plan:
    """Plan the replay of ``targets`` (default: every challenge of the round). A kind judged
    on a post-deadline draw is replayed on its domain sampled with ``draw`` (``rules.draw``),
    never on the public sample. A domain over the rulebook's ``caps`` voids its challenge."""
    out = Plan(rnd)
    book = book or Rulebook()
    groups: dict[tuple[str, int, str], list[str]] = {}
    for target in sorted(rnd.challenges) if targets is None else sorted(targets):
        ch = rnd.challenges[target]
        kind = kinds.get(ch.kind)
        solvers = tuple(sorted(s for (s, t) in rnd.submissions if t == target))
        # A kind judged against its public model stands without the secret (which then only
        # checks the accuracy claim).
        void = opened.missing.get((target, SECRET_ITEM)) if kind.secret_required else None
        held = "heldout" in ch.meta and kind.replayed
        # a held-out set is unknown before the close: it is judged on instead of any draw
        dom, drawn = None, draw if kind.judged_on_draw and not held else None
        problem = kinds.domain_problem(kind, ch.domain, held)
        if void is None and problem is not None:
            void = problem
        elif void is None and drawn is None and kind.judged_on_draw and not held:
            void = "no draw seed: the round's salts are not revealed"
        elif void is None and held and (target, HELDOUT_ITEM) in opened.missing:
            void = f"held-out set not revealed: {opened.missing[(target, HELDOUT_ITEM)]}"
        how: schemes.Scheme | None = None
        if void is None and kind.replayed:
            try:
                how = schemes.of(ch.meta, book)
            except DixitError as exc:  # checked at propose; a ledger edited by hand voids it
                void = f"cannot be judged: {exc}"
        if void is None and how is not None:
            seed = int(ch.meta.get("seed", 0)) if drawn is None else drawn
            what = "domain"
            try:
                dom = domains.parse(ch.domain, root=root, seed=seed, caps=caps)
                if held:
                    what = "held-out set"
                    dom = out.heldout_domain(target, dom, opened.payloads[(target, HELDOUT_ITEM)])
                    rows = ch.meta["heldout"].get("rows")
                    if dom.size != rows:
                        raise DixitError(f"it has {dom.size} rows, sealed as {rows}")
                how.output.check_domain(dom.kind, tuple(dom.input_shape))
            except Exception as exc:  # a broken domain voids this challenge only
                void = f"{what} unusable: {(str(exc) or type(exc).__name__).splitlines()[0]}"
                dom = None
            else:
                groups.setdefault((dom.identity(), seed, how.output.spec), []).append(target)
        out.challenges[target] = ChallengePlan(target, ch, kind, solvers, dom, void, drawn,
                                               how, held)
    out.groups = list(groups.values())
    return out
