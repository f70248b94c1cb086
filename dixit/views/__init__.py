"""Reading the league: read models (``read``), terminal tables (``tables``), challenge
inspection, pictures (``show``: one challenge's; ``figures``: which picture and what it
compares; ``pictures``: drawing), and the static results site (``site`` builds it, ``page``
writes its HTML, ``sources`` escapes and highlights revealed code). Nothing here writes to the
ledger."""

from dixit.views.read import published, round_status, standings, status, teams

__all__ = ["published", "round_status", "standings", "status", "teams"]
