"""Reference architectures, safe weights and training.

Solvers call ``dixit.models.load(path)`` to get a plain ``torch.nn.Module`` (a challenge folder,
its ``challenge.toml``, or a ledger entry folder). One module per architecture, each with
module-level ``nn.Module`` classes that can be imported and subclassed:

- ``dixit.models.mlp``: ``MLP``, inputs flattened (integer grids rescaled to [-1, 1]);
- ``dixit.models.transformer``: ``Transformer`` and its parts, TransformerLens names and hooks
  (1 to 12 layers, LayerNorm or none, attention-only, read at the last or every position);
- ``dixit.models.cnn``: ``CNN``, the seed's MNIST net shape.

Importing this package does not import torch; the architecture modules do, when built.
"""

from __future__ import annotations

from typing import Any

from dixit.models.config import ARCHS, MAX_PARAMETERS, build, default_config
from dixit.models.weights import (
    load,
    load_config,
    load_state,
    load_weights,
    logits,
    parameter_count,
    predict,
    save,
)

__all__ = ["ARCHS", "MAX_PARAMETERS", "build", "default_config", "load", "load_config",
           "load_state", "load_weights", "logits", "parameter_count", "predict", "save",
           "transformer_lens_config"]


def transformer_lens_config(config: dict[str, Any]) -> dict[str, Any]:
    """``HookedTransformerConfig`` keyword arguments for a transformer config (see
    ``dixit.models.transformer.transformer_lens_config``)."""
    from dixit.models.transformer import transformer_lens_config as convert

    return convert(config)
