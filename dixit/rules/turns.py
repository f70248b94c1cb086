"""Turns: which teams tell a story (propose) in a round when the rulebook rotates proposers.

``[rounds] proposers = "rotate"`` with ``per_round = K``: when round N opens, its K storytellers
are the registered (not removed) teams with the **fewest turns so far**, ties going to the team
whose **last turn is longest ago** (never beats any round), then to the **name** (alphabetical).
A team's turns are the earlier rounds it was a storyteller of; in a round where every team could
propose (``proposers = "all"``) the storytellers are the teams that did propose.

With a fixed roster this is a plain round robin in name order (K = 1, teams a, b, c: a, b, c, a,
...); a team registered between rounds has had no turn and so tells soon; a removed team simply
drops out. K is capped at one less than the roster, so that someone is left to solve. The
storytellers are computed once, when the round opens, and recorded in its signed round entry:
editing the rulebook or the registry later never changes who may propose in an open round.

Pure: names in, names out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

ALL, ROTATE = "all", "rotate"


def storytellers(roster: Sequence[str], told: Sequence[Iterable[str]],
                 per_round: int) -> list[str]:
    """The storytellers of the next round, sorted by name: ``roster`` are the teams that play
    it, ``told`` the storytellers of each earlier round (round 1 first)."""
    turns = dict.fromkeys(roster, 0)
    last = dict.fromkeys(roster, 0)
    for number, tellers in enumerate(told, 1):
        for team in set(tellers):
            if team in turns:
                turns[team] += 1
                last[team] = number
    k = max(0, min(per_round, len(turns) - 1))
    order = sorted(turns, key=lambda t: (turns[t], last[t], t))
    return sorted(order[:k])
