"""dixit: interpretability challenge tournaments under Dixit rules, kept in a git ledger."""

__version__ = "0.1.0"
