"""Reading the league: read models (``read``), terminal tables (``tables``), challenge
inspection, pictures, and the static results site. Nothing here writes to the ledger."""

from dixit.views.read import published, round_status, standings, status, teams

__all__ = ["published", "round_status", "standings", "status", "teams"]
