"""Isolated execution of labelers and programs: the engine, the kernel sandbox, the zygote.

``engine`` runs programs in children forked from warm zygote processes (``zygote``), each
confined by the kernel mechanisms in ``sandbox``. The engine's API is re-exported here, loaded
on first use, so ``dixit.replay.sandbox`` imports with nothing but the standard library (it is
probed by bare interpreters) and nothing here imports torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dixit.replay.engine import (
        Limits,
        Model,
        Outcome,
        Program,
        Split,
        Weights,
        check_isolation,
        prestart,
        probe_isolation,
        replay,
        replay_sources,
        shutdown,
    )

__all__ = ["Limits", "Model", "Outcome", "Program", "Split", "Weights", "check_isolation",
           "prestart", "probe_isolation", "replay", "replay_sources", "shutdown"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from dixit.replay import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'dixit.replay' has no attribute {name!r}")
