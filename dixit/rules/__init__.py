"""The rules of the game: pure functions over plain data, no torch, no git, no terminal.

- ``points``: Dixit points for a round and standings over rounds;
- ``rulebook``: the rulebook (thresholds, points, limits) as a validated record;
- ``kinds``: what each challenge kind seals, reveals, replays and is judged by;
- ``flags``: how a flag and a guess at it are normalized and compared;
- ``metrics``: how outputs are judged (agreement, exact-sequence, kl) as streaming
  accumulators, and the thresholds a rulebook may set for each.
"""

from dixit.rules.points import (
    ChallengeOutcome,
    ChallengeScore,
    RoundScore,
    Standing,
    SubmissionOutcome,
    proposer_points,
    required,
    round_score,
    score_round,
    solved,
    standings,
)

__all__ = ["ChallengeOutcome", "ChallengeScore", "RoundScore", "Standing", "SubmissionOutcome",
           "proposer_points", "required", "round_score", "score_round", "solved", "standings"]
