"""Measuring one challenge: its metric streamed over the judged inputs, block by block.

Everything a challenge's results say about outputs comes from here: each program's score
against the reference (the labeler's outputs, or for an emulate challenge the published
model's), its agreement (class ids; the argmax of a distribution), and the published model's
own score and held-out accuracy against the labeler. Outputs are read in blocks of rows and
the model runs one block at a time, so memory stays flat in the number of inputs: a
distribution is never held whole (the replay maps it from its result file).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dixit.rules import metrics
from dixit.rules.scheme import Scheme

if TYPE_CHECKING:
    import numpy as np

ROWS = 4096  # rows per block
# A KL can be +inf (a program gave probability 0 where the reference has mass); results are
# TOML and JSON, which hold no infinity, so a KL is recorded at most this.
MAX_KL = 1e6

ModelBlock = Callable[[int, int], "np.ndarray"]  # outputs of the model on rows [start, stop)


@dataclass
class Score:
    score: float | None = None      # the challenge's metric: what decides a solve
    agreement: float | None = None  # class ids matching, per position
    error: str | None = None


@dataclass
class Measured:
    void: str | None = None
    model_accuracy: float | None = None  # agreement with the labeler on the held-out rows
    model: Score | None = None            # the model's score against the labeler, all rows
    programs: dict[str, Score] = field(default_factory=dict)


class _Pair:
    """The challenge's metric and the agreement of class ids, fed the same blocks."""

    def __init__(self, how: Scheme, ref_side: str, sub_side: str) -> None:
        self.how = how
        kind = {"reference": ref_side, "submission": sub_side} if how.metric == "kl" else {}
        self.metric = metrics.metric(how.metric, **kind)  # type: ignore[arg-type]
        self.agree = metrics.metric("agreement")

    def update(self, ref: np.ndarray, sub: np.ndarray) -> None:
        self.metric.update(ref, sub)
        if self.how.metric != "agreement":
            self.agree.update(_ids(ref), _ids(sub))

    def result(self) -> Score:
        value = self.metric.result()
        agree = value if self.how.metric == "agreement" else self.agree.result()
        return Score(round(min(value, MAX_KL), 6), round(agree, 6))


def _ids(a: np.ndarray) -> np.ndarray:
    return a.argmax(axis=-1) if a.dtype.kind == "f" else a


def measure(how: Scheme, size: int, *, reference_is_model: bool,
            truth: np.ndarray | None, model: ModelBlock | None,
            programs: Mapping[str, np.ndarray], heldout: np.ndarray | None,
            done: Callable[[int], None] | None = None) -> Measured:
    """Stream the metric over ``size`` rows. ``truth`` is the labeler's outputs (None if it
    failed), ``model`` gives the published model's outputs block by block (None if it cannot
    run), ``heldout`` is a boolean mask of the rows the model's claim is measured on (None:
    every row). Judged against the model when ``reference_is_model``, else the labeler.
    ``done(stop)`` is called once rows [0, stop) are judged (the caller may let them go)."""
    import numpy as np

    out = Measured()
    side = how.output.side
    subs = {o: _Pair(how, "logits" if reference_is_model else side, side) for o in programs}
    vs_model = _Pair(how, side, "logits") if truth is not None and model is not None else None
    claim = metrics.metric("agreement") if vs_model is not None else None
    if truth is None and not reference_is_model:
        return out  # the caller voids it
    for start in range(0, size, ROWS):
        stop = min(start + ROWS, size)
        t = np.asarray(truth[start:stop]) if truth is not None else None
        m = None
        if model is not None and (reference_is_model or vs_model is not None):
            try:
                m = model(start, stop)
            except Exception as exc:  # a model of the wrong shape, a failing layer
                problem = f"the published model could not be run: {exc}".splitlines()[0]
                if reference_is_model:
                    return Measured(void=problem)
                model, vs_model, claim, out.model = None, None, None, None
        if vs_model is not None and claim is not None and m is not None and t is not None:
            try:
                vs_model.update(t, m)
                rows = slice(None) if heldout is None else heldout[start:stop]
                claim.update(_ids(t)[rows], _ids(m)[rows])
            except metrics.BatchError as exc:
                if exc.side == "reference":
                    return Measured(void=f"the labeler's outputs cannot be judged: {exc}")
                vs_model, claim = None, None  # the model's outputs do not fit the labeler's
        ref = m if reference_is_model else t
        if ref is None:
            return Measured(void="the published model could not be run")
        for owner, pair in list(subs.items()):
            try:
                pair.update(ref, np.asarray(programs[owner][start:stop]))
            except metrics.BatchError as exc:
                if exc.side == "reference":
                    who = "the published model's" if reference_is_model else "the labeler's"
                    return Measured(void=f"{who} outputs cannot be judged: {exc}")
                out.programs[owner] = Score(error=f"outputs cannot be judged: {exc}")
                del subs[owner]
        if done is not None:
            done(stop)
    if size == 0:
        return Measured(void="the domain is empty")
    for owner, pair in subs.items():
        out.programs[owner] = pair.result()
    if vs_model is not None and claim is not None:
        out.model = vs_model.result()
        out.model_accuracy = round(claim.result(), 6) if claim.count else None
    return out
