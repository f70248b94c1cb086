"""Isolated execution of labelers and programs: the engine, the kernel sandbox, the zygote.

``engine`` runs programs in children forked from warm zygote processes (``zygote``), each
confined by the kernel mechanisms in ``sandbox``. Importing this package imports no torch.
"""

from dixit.replay.engine import (
    Limits,
    Outcome,
    Program,
    check_isolation,
    probe_isolation,
    replay,
    replay_sources,
    shutdown,
)

__all__ = ["Limits", "Outcome", "Program", "check_isolation", "probe_isolation", "replay",
           "replay_sources", "shutdown"]
