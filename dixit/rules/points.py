"""Dixit scoring and standings: pure functions over plain records, no I/O.

For a challenge in a round with m other teams, k of which solved it, the proposer scores 0 when
k = 0 or k = m, ``proposer_unique`` when k = 1 < m, and ``proposer_some`` when 1 < k < m.
Each solver scores ``solver`` per solve. A void challenge (labeler not revealed, seal broken,
labeler crashed) scores nobody.

Standings sum points over rounds; ties are broken by more solves, then more "Dixit" challenges
(proposals solved by exactly one team), then team name (alphabetical), so order is total.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dixit.rules.rulebook import Points


def proposer_points(k: int, m: int, points: Points) -> int:
    """Points of a proposer whose challenge k of m other teams solved."""
    if m < 0 or not 0 <= k <= max(m, 0):
        raise ValueError(f"need 0 <= k <= m, got k={k}, m={m}")
    if k == 0 or k == m:
        return 0
    if k == 1:
        return points.proposer_unique
    return points.proposer_some


@dataclass(frozen=True)
class SubmissionOutcome:
    team: str
    agreement: float | None  # the challenge's metric (an agreement, or a KL for kl)
    error: str | None = None


@dataclass(frozen=True)
class ChallengeOutcome:
    proposer: str
    submissions: Sequence[SubmissionOutcome]
    void: str | None = None  # reason the challenge cannot be scored
    required: float | None = None  # the metric value that solves it, if not the threshold
    higher_is_better: bool = True  # False for kl: at most ``required`` solves


@dataclass
class ChallengeScore:
    proposer: str
    solved_by: list[str]
    points: dict[str, int]
    m: int
    void: str | None = None


@dataclass
class RoundScore:
    points: dict[str, int]
    challenges: list[ChallengeScore] = field(default_factory=list)


def required(threshold: float, model: float | None, share: float | None,
             higher_is_better: bool = True) -> float:
    """What a program needs to solve a labeler challenge: the threshold, and (beat the model)
    better than the published model by closing ``1 - share`` of its error. For an agreement,
    ``max(threshold, 1 - (1 - model) * share)``; for a divergence (kl, lower is better),
    ``min(threshold, model * share)``. Without a measured model or a share, the threshold."""
    if model is None or share is None:
        return threshold
    if not higher_is_better:
        return min(threshold, round(model * share, 6))
    return max(threshold, round(1.0 - (1.0 - model) * share, 6))


def solved(sub: SubmissionOutcome, threshold: float, higher_is_better: bool = True) -> bool:
    if sub.error is not None or sub.agreement is None:
        return False
    return sub.agreement >= threshold if higher_is_better else sub.agreement <= threshold


def score_round(teams: Iterable[str], challenges: Sequence[ChallengeOutcome],
                threshold: float, points: Points) -> RoundScore:
    """Apply Dixit scoring to one round; ``teams`` are every team taking part in it."""
    roster = sorted(set(teams))
    totals = dict.fromkeys(roster, 0)
    scored: list[ChallengeScore] = []
    for ch in sorted(challenges, key=lambda c: c.proposer):
        others = [t for t in roster if t != ch.proposer]
        m = len(others)
        pts: dict[str, int] = {}
        if ch.void is not None:
            scored.append(ChallengeScore(ch.proposer, [], pts, m, ch.void))
            continue
        bar = threshold if ch.required is None else ch.required
        solvers = sorted({s.team for s in ch.submissions
                          if s.team in others and solved(s, bar, ch.higher_is_better)})
        k = len(solvers)
        pts[ch.proposer] = proposer_points(k, m, points)
        for t in solvers:
            pts[t] = points.solver
        for team, p in pts.items():
            totals[team] = totals.get(team, 0) + p
        scored.append(ChallengeScore(ch.proposer, solvers, pts, m))
    return RoundScore(points=totals, challenges=scored)


@dataclass(frozen=True)
class Standing:
    team: str
    points: int
    solves: int
    dixits: int  # challenges this team proposed that exactly one other team solved
    rounds: int


def standings(rounds: Iterable[RoundScore]) -> list[Standing]:
    """Sum points over rounds and rank best first with the documented tie-break."""
    pts: dict[str, int] = {}
    solves: dict[str, int] = {}
    dixits: dict[str, int] = {}
    played: dict[str, int] = {}
    for rs in rounds:
        for team, p in rs.points.items():
            pts[team] = pts.get(team, 0) + p
            played[team] = played.get(team, 0) + 1
            solves.setdefault(team, 0)
            dixits.setdefault(team, 0)
        for ch in rs.challenges:
            for t in ch.solved_by:
                solves[t] = solves.get(t, 0) + 1
            if len(ch.solved_by) == 1 and ch.m > 1 and ch.void is None:
                dixits[ch.proposer] = dixits.get(ch.proposer, 0) + 1
    table = [Standing(t, pts[t], solves.get(t, 0), dixits.get(t, 0), played.get(t, 0))
             for t in pts]
    return sorted(table, key=lambda s: (-s.points, -s.solves, -s.dixits, s.team))


def round_score(results: dict[str, Any]) -> RoundScore:
    """Rebuild the scored form of a round from its committed results."""
    teams_in = list(results.get("teams", []))
    m = max(len(teams_in) - 1, 0)
    chs = [ChallengeScore(proposer=str(c["proposer"]), solved_by=list(c.get("solved_by", [])),
                                points=dict(c.get("points", {})), m=m, void=c.get("void"))
           for c in results.get("challenges", [])]
    return RoundScore(points={str(k): int(v) for k, v in results.get("points", {}).items()},
                            challenges=chs)
