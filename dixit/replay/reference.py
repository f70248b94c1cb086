"""What programs are compared with: the published model's predictions, the held-out split,
agreement, and the rulebook's replay limits. Shared by closing a round, verify and the views."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from dixit import models
from dixit.data.domains import Domain
from dixit.ledger import state as st
from dixit.models import training
from dixit.replay.engine import Limits, Weights
from dixit.rules.outputs import Output
from dixit.rules.rulebook import Rulebook

if TYPE_CHECKING:
    import numpy as np
    from torch import nn


def replay_limits(book: Rulebook, allow_weak: bool = False) -> tuple[Limits, str]:
    """The rulebook's replay limits, and the weakest isolation to accept."""
    limits = Limits(cpu_seconds=book.replay.cpu_seconds, wall_seconds=book.replay.wall_seconds,
                    memory_mb=book.replay.memory_mb, output_bytes=book.replay.output_bytes,
                    batch_size=book.replay.batch_size)
    return limits, "none" if allow_weak else book.replay.isolation


def _published(state: st.State, ch: st.Challenge) -> bytes | None:
    """The bytes of ``ch``'s published weights file in the ledger, or None."""
    return state.snapshot.read(f"{ch.folder}/{ch.meta.get('model', 'model.safetensors')}")


def model_weights(state: st.State, ch: st.Challenge) -> Weights | None:
    """The published model of ``ch`` to replay in the sandbox (``engine.Model``): None when
    its weights are missing or its config cannot even be sent (then it is unloadable, as for
    ``load_model``)."""
    weights = _published(state, ch)
    if weights is None:
        return None
    try:
        config = json.loads(json.dumps(ch.model))  # plain JSON values only (hostile TOML)
    except (TypeError, ValueError):
        return None
    return Weights(weights, config, state.rules.max_model_bytes)


def load_model(state: st.State, ch: st.Challenge) -> nn.Module | None:
    """The published model of ``ch`` (None if missing or unloadable)."""
    weights = _published(state, ch)
    if weights is None:
        return None
    with tempfile.NamedTemporaryFile(suffix=".safetensors") as fh:
        fh.write(weights)
        fh.flush()
        try:
            return models.load_weights(ch.model, Path(fh.name), state.rules.max_model_bytes)
        except Exception:
            return None


def model_blocks(module: nn.Module, domain: Domain,
                 output: Output) -> Callable[[int, int], np.ndarray]:
    """The model's outputs on rows [start, stop) of ``domain``, one block at a time, in the
    challenge's output form: class ids, or float32 logits for a distribution."""
    import torch

    def block(start: int, stop: int) -> np.ndarray:
        with training.torch_threads(1), torch.no_grad():
            logits = module(domain.slice(start, stop))
            if output.integer:
                return logits.argmax(dim=-1).numpy()
            return logits.float().numpy()

    return block


def heldout_split(ch: st.Challenge) -> tuple[float, int] | None:
    """(train_frac, seed) of the claim's held-out split (``engine.Split``), or None when the
    whole domain is held out."""
    frac = float(ch.meta.get("train_frac", 1.0))
    return None if frac >= 1.0 else (frac, int(ch.meta.get("seed", 0)))
