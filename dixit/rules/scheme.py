"""How one challenge is judged: its output, its metric and the threshold that solves it.

A challenge's signed metadata may name ``output`` (``dixit.rules.outputs``), ``metric`` (one
its output allows, ``dixit.rules.metrics``) and ``threshold`` (inside the metric's bounds);
what it leaves out comes from the rulebook: ``[solve] threshold`` for agreement metrics,
``[solve] kl_threshold`` for kl. Pure: the metadata and the rulebook in, a ``Scheme`` out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dixit.errors import ChallengeError, RulesError
from dixit.rules import metrics, outputs
from dixit.rules.outputs import Output
from dixit.rules.rulebook import Rulebook

KEYS = ("output", "metric", "threshold")  # the metadata keys read here


@dataclass(frozen=True)
class Scheme:
    output: Output
    metric: str
    threshold: float

    @property
    def higher_is_better(self) -> bool:
        return metrics.bound(self.metric).higher_is_better

    def describe(self) -> str:
        """One line for status, inspect and the site: what solving takes."""
        if self.metric == "kl":
            return f"mean KL(reference || program) <= {self.threshold:g} nats per position"
        what = "exact sequences" if self.metric == "exact-sequence" else "agreement"
        return f"{what} >= {self.threshold:.2%}"

    def as_meta(self) -> dict[str, Any]:
        """The metadata keys that record this scheme (the defaults are left out)."""
        out: dict[str, Any] = {}
        if self.output != outputs.BINARY:
            out["output"] = self.output.spec
        if self.metric != self.output.default_metric:
            out["metric"] = self.metric
        return out


def default_threshold(book: Rulebook, metric: str) -> float:
    return book.kl_threshold if metric == "kl" else book.threshold


def of(meta: Mapping[str, Any], book: Rulebook) -> Scheme:
    """The scheme a challenge's metadata declares; ChallengeError naming the key if bad."""
    output = outputs.parse(meta.get("output", outputs.DEFAULT))
    metric = meta.get("metric", output.default_metric)
    if not isinstance(metric, str) or metric not in metrics.NAMES:
        raise ChallengeError(f"metric must be one of {', '.join(metrics.NAMES)}; got "
                             f"{metric!r}")
    output.check_metric(metric)
    raw = meta.get("threshold")
    if raw is None:
        return Scheme(output, metric, default_threshold(book, metric))
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ChallengeError(f"threshold must be a number, got {raw!r}")
    try:
        threshold = metrics.check_threshold(metric, float(raw))
    except RulesError as exc:
        raise ChallengeError(str(exc)) from None
    return Scheme(output, metric, threshold)
