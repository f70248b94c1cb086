"""dixit: interpretability challenge tournaments under Dixit rules, kept in a git ledger.

The layers, each importing only from those below it (an import-linter contract in
``pyproject.toml``, checked by ``make test``):

    cli, commands    the typer app: parses, calls the library, renders
    views            read models, terminal tables, inspection, pictures, the static site
    league           actions, the rules of every entry (checks), closing, verify, validate
    replay|challenge isolated execution | a challenge folder on a proposer's disk
    models           one module per architecture, safe weights, training
    data             evaluation domains and datasets
    ledger           the git store, layout, signed entries, seals, escrow, keys, state, clock
    rules            Dixit points, the rulebook, kinds, flags, metrics: pure
    errors, tomlio   the one error root; strict TOML

The public API for solvers and scripts is re-exported here; importing ``dixit`` imports
neither torch nor git.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["DixitError", "__version__", "challenge", "load", "load_config", "models",
           "transformer_lens_config"]

from dixit.errors import DixitError

if TYPE_CHECKING:
    from torch import nn


def load(path: Any) -> nn.Module:
    """A challenge's model as a plain ``torch.nn.Module`` (``dixit.models.load``)."""
    from dixit.models import load as _load

    return _load(path)


def load_config(path: Any) -> dict[str, Any]:
    """A challenge's architecture config (``dixit.models.load_config``)."""
    from dixit.models import load_config as _load_config

    return _load_config(path)


def transformer_lens_config(config: dict[str, Any]) -> dict[str, Any]:
    """``HookedTransformerConfig`` arguments for a transformer config."""
    from dixit.models import transformer_lens_config as _convert

    return _convert(config)


def __getattr__(name: str) -> Any:
    # `dixit.challenge` and `dixit.models` as attributes, imported on first use
    if name in ("challenge", "models"):
        import importlib

        return importlib.import_module(f"dixit.{name}")
    raise AttributeError(f"module 'dixit' has no attribute {name!r}")
