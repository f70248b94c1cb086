"""Metrics: how a submission's outputs are judged against the reference's, as pure functions.

Each metric is an accumulator fed batch by batch, ``update(reference, submission)``, then read
once, ``result()``; ``count`` is the positions seen so far. A replay can stream its outputs and
memory stays flat in N: a batch is judged in blocks of about ``BLOCK`` elements that reuse a few
scratch arrays, never as an N x L x V array at once.

- ``agreement``: the exact match rate of integer labels of shape (N,); for sequences (N, L) it
  is per position, 1 - the token error rate under teacher forcing, over all N*L positions.
- ``exact-sequence``: the fraction of rows of (N, L) labels whose every position matches.
- ``kl``: the mean KL(reference || submission) in nats per position (per input for (N, C), per
  position for (N, L, C)), temperature 1, with 0 log 0 = 0::

      KL(p || q) = sum_c p_c (log p_c - log q_c)

  Each side is given either as ``"logits"`` or as ``"probs"``, said explicitly:
  ``metric("kl", reference="logits", submission="probs")``. Logits go through a stable
  log-softmax, ``log p = x - max(x) - log(sum(exp(x - max(x))))``: a logit of -inf is a
  probability of exactly 0 (so a submission giving -inf where the reference has mass has
  KL = +inf), and huge finite logits (1e30) are exact. Probabilities are clipped below at
  ``EPS`` and renormalized, ``p = max(p, EPS) / sum(max(p, EPS))``, on both sides: a
  submission's KL is then finite, and a reference's 0 contributes EPS log(EPS/q), under 1e-10,
  instead of exactly 0. Inputs narrower than float32 (float16) are computed in float32.

A batch that cannot be judged (shapes, dtypes, NaN, +inf logits, negative probabilities...)
raises ``BatchError``, a ValueError naming the problem and ``side``, the side at fault: the
caller turns a submission's into that program's error. A refused batch changes nothing.

``BOUNDS`` says which thresholds a rulebook may set per metric and which way is better;
``solves`` applies a threshold in that direction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal, Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dixit.errors import RulesError

Kind = Literal["logits", "probs"]
Side = Literal["reference", "submission"]
KINDS: tuple[Kind, ...] = ("logits", "probs")

# Probabilities are clipped below at EPS (then renormalized): a submission's 0 costs at most
# log(1/EPS) ~ 27.6 nats weighted by the reference's probability, not infinity.
EPS = 1e-12
# Probabilities whose row sums are further than this from 1 are refused, not renormalized:
# they are almost surely logits passed as probabilities. Loose enough for bfloat16 outputs.
PROBS_TOLERANCE = 1e-2
# Elements per block (64K: 256 KB in float32): a block's scratch stays in L2 cache, which makes
# the several numpy passes per block about 3x faster than the same passes over a whole batch.
BLOCK = 1 << 16


class BatchError(ValueError):
    """A batch that cannot be judged; ``side`` is who is at fault."""

    def __init__(self, side: Side, message: str) -> None:
        super().__init__(message)
        self.side: Side = side


@runtime_checkable
class Metric(Protocol):
    """An accumulator: ``update`` once per batch, then ``result`` over every batch seen."""

    name: str
    count: int  # positions seen: N for (N,) and (N, C), N*L for (N, L) and (N, L, C)
    rows: int   # rows seen: N

    def update(self, reference: ArrayLike, submission: ArrayLike) -> None: ...

    def result(self) -> float: ...


def _pair(name: str, reference: ArrayLike, submission: ArrayLike, forms: dict[int, str],
          what: str, seen: tuple[int, ...] | None) -> tuple[NDArray[np.generic],
                                                            NDArray[np.generic]]:
    """Both sides as arrays of one shape the metric accepts; the reference's shape rules."""
    ref, sub = np.asarray(reference), np.asarray(submission)
    if ref.ndim not in forms:
        raise BatchError("reference", f"{name}: reference {what} must have shape "
                         f"{' or '.join(forms.values())}, got {ref.shape}")
    if 0 in ref.shape[1:]:
        raise BatchError("reference", f"{name}: reference {what} have an empty axis: "
                         f"{ref.shape}")
    if seen is not None and ref.shape[1:] != seen:
        # sequences of a domain have one length (and one class count): a change is a bug
        raise BatchError("reference", f"{name}: reference batch of shape {ref.shape} changes "
                         f"the shape per row from {seen} seen so far")
    if sub.shape != ref.shape:
        raise BatchError("submission", f"{name}: submission shape {sub.shape} does not match "
                         f"the reference's {ref.shape}")
    return ref, sub


def _integers(name: str, side: Side, a: NDArray[np.generic]) -> None:
    # floats are refused rather than truncated: 0.9999 is not label 1
    if a.dtype.kind not in "biu":
        raise BatchError(side, f"{name}: {side} labels must be integers, got {a.dtype}")


class _Labels:
    """Exact integer counts, so any split into batches gives exactly the one-shot result."""

    name = ""
    forms: ClassVar[dict[int, str]] = {}

    def __init__(self) -> None:
        self.count = 0
        self.rows = 0
        self.matches = 0  # positions (agreement) or rows (exact-sequence) that match
        self._seen: tuple[int, ...] | None = None

    def update(self, reference: ArrayLike, submission: ArrayLike) -> None:
        ref, sub = _pair(self.name, reference, submission, self.forms, "labels", self._seen)
        _integers(self.name, "reference", ref)
        _integers(self.name, "submission", sub)
        # == compares values across integer dtypes (uint8 255 != int64 -1): no wraparound
        self.matches += self._matches(ref == sub)
        self._seen = ref.shape[1:]
        self.count += ref.size
        self.rows += len(ref)

    def _matches(self, same: NDArray[np.bool_]) -> int:
        raise NotImplementedError

    def _denominator(self) -> int:
        return self.count

    def result(self) -> float:
        if self.count == 0:
            raise ValueError(f"{self.name}: no positions seen, nothing to judge")
        return self.matches / self._denominator()


class Agreement(_Labels):
    """Matching positions / positions, over (N,) or (N, L) integer labels."""

    name = "agreement"
    forms: ClassVar[dict[int, str]] = {1: "(N,)", 2: "(N, L)"}

    def _matches(self, same: NDArray[np.bool_]) -> int:
        return int(np.count_nonzero(same))


class ExactSequence(_Labels):
    """Rows matching at every position / rows, over (N, L) integer labels."""

    name = "exact-sequence"
    forms: ClassVar[dict[int, str]] = {2: "(N, L)"}

    def _matches(self, same: NDArray[np.bool_]) -> int:
        return int(np.count_nonzero(same.all(axis=1)))

    def _denominator(self) -> int:
        return self.rows


def _first(bad: NDArray[np.bool_]) -> int:
    return int(np.flatnonzero(bad)[0])


def _logits(v: NDArray[np.generic], side: Side, at: int, z: NDArray[np.floating],
            e: NDArray[np.floating]) -> NDArray[np.float64]:
    """Fill z = v - max (log-probabilities up to the row constant log s) and e = exp(z);
    return s, the row sums of e. Validation is free: max propagates NaN and sees +inf."""
    top = v.max(axis=-1, keepdims=True)
    if not np.isfinite(top).all():
        i = _first(~np.isfinite(top[:, 0]))
        if np.isnan(top[i, 0]):
            what = "NaN"
        elif top[i, 0] > 0:
            what = "+inf (logits must be finite or -inf)"
        else:
            what = "only -inf (no distribution)"
        raise BatchError(side, f"kl: {side} logits contain {what} at position {at + i}")
    # z <= 0, so exp cannot overflow; a float32 difference that overflows is -inf, i.e. p = 0
    np.subtract(v, top, out=z, dtype=z.dtype)
    np.exp(z, out=e)
    return e.sum(axis=-1, dtype=np.float64)  # >= 1: the max contributes exp(0)


def _probs(v: NDArray[np.generic], side: Side, at: int, z: NDArray[np.floating],
           e: NDArray[np.floating]) -> NDArray[np.float64]:
    """Fill e = max(v, EPS) and z = log(e); return s, the row sums of e."""
    low = v.min(axis=-1)  # propagates NaN
    if not (low >= 0).all():
        i = _first(~(low >= 0))
        what, hint = ("NaN", "") if np.isnan(low[i]) else (f"a negative value ({low[i]:.6g})",
                                                           "; logits?")
        raise BatchError(side, f"kl: {side} probabilities contain {what} at position "
                         f"{at + i}{hint}")
    np.maximum(v, EPS, out=e, dtype=e.dtype)
    s = e.sum(axis=-1, dtype=np.float64)
    off = ~(np.abs(s - 1.0) <= PROBS_TOLERANCE)  # catches +inf too
    if off.any():
        i = _first(off)
        raise BatchError(side, f"kl: {side} probabilities sum to {s[i]:.6g} at position "
                         f"{at + i}, not 1 (within {PROBS_TOLERANCE:g}); logits?")
    np.log(e, out=z)
    return s


_SIDES = {"logits": _logits, "probs": _probs}


class KL:
    """Mean KL(reference || submission) in nats per position, over (N, C) or (N, L, C).

    Per row, with z the log-weights of each side (z = x - max for logits, log max(p, EPS) for
    probabilities), e = exp(z) the reference's weights and s = sum(e) each side's normalizer:
    log p - log q = (z_p - z_q) - (log s_p - log s_q), so

        KL = sum_c e_c (z_p,c - z_q,c) / s_p + log(s_q / s_p)

    Elementwise passes run in float32 when both sides are float32 or narrower (that is all the
    precision they carry), else float64; every row sum, log s and the running total are float64
    (1e8 float32 additions would lose the result). Identical inputs give exactly 0.
    """

    name = "kl"

    def __init__(self, reference: Kind, submission: Kind) -> None:
        for side, kind in (("reference", reference), ("submission", submission)):
            if kind not in KINDS:  # also None: the kind is never guessed
                raise RulesError(f"kl needs {side}= set to one of {', '.join(KINDS)}, "
                                 f"got {kind!r}")
        self.reference = reference
        self.submission = submission
        self.count = 0
        self.rows = 0
        self._total = 0.0
        self._seen: tuple[int, ...] | None = None
        self._scratch: tuple[NDArray[np.floating], ...] = ()

    def update(self, reference: ArrayLike, submission: ArrayLike) -> None:
        ref, sub = _pair(self.name, reference, submission, {2: "(N, C)", 3: "(N, L, C)"},
                         "distributions", self._seen)
        sides: tuple[tuple[Side, NDArray[np.generic], Kind], ...] = (
            ("reference", ref, self.reference), ("submission", sub, self.submission))
        for side, a, kind in sides:
            if a.dtype.kind not in "iuf":
                raise BatchError(side, f"kl: {side} {kind} must be real numbers, got {a.dtype}")
        classes = ref.shape[-1]
        x, y = ref.reshape(-1, classes), sub.reshape(-1, classes)
        work = np.result_type(ref.dtype, sub.dtype, np.float32)
        if work.itemsize > 8:
            work = np.dtype(np.float64)
        step = max(1, BLOCK // classes)
        z_p, e_p, z_q = self._buffers(work, min(step, len(x)), classes)
        total = 0.0  # committed only once the whole batch is accepted
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            for start in range(0, len(x), step):
                xs, ys = x[start:start + step], y[start:start + step]
                n = len(xs)
                total += float(self._block(xs, ys, self.count + start, z_p[:n], e_p[:n],
                                           z_q[:n]).sum())
        self._seen = ref.shape[1:]
        self._total += total
        self.count += len(x)
        self.rows += len(ref)

    def _buffers(self, work: np.dtype[np.floating], rows: int,
                 classes: int) -> tuple[NDArray[np.floating], ...]:
        have = self._scratch[0] if self._scratch else None
        if have is None or have.dtype != work or have.shape[0] < rows or have.shape[1] != classes:
            self._scratch = tuple(np.empty((rows, classes), dtype=work) for _ in range(3))
        return self._scratch

    def _block(self, x: NDArray[np.generic], y: NDArray[np.generic], at: int,
               z_p: NDArray[np.floating], e_p: NDArray[np.floating],
               z_q: NDArray[np.floating]) -> NDArray[np.float64]:
        """KL of each row of one block (float64)."""
        s_q = _SIDES[self.submission](y, "submission", at, z_q, e_p)  # e_p: scratch for now
        s_p = _SIDES[self.reference](x, "reference", at, z_p, e_p)
        np.subtract(z_p, z_q, out=z_p)
        np.multiply(z_p, e_p, out=z_p)
        kl = z_p.sum(axis=-1, dtype=np.float64) / s_p + np.log(s_q / s_p)
        bad = np.isnan(kl)
        if bad.any():
            kl[bad] = self._masked(x[bad], y[bad])
        return kl

    def _masked(self, x: NDArray[np.generic], y: NDArray[np.generic]) -> NDArray[np.float64]:
        """Rows where a p = 0 met an infinite log-ratio (a -inf logit; 0 * inf is NaN):
        again, with 0 log 0 = 0 explicitly. Only -inf logits get here, so it is rarely run."""
        z_p, e_p, z_q, e_q = (np.empty(x.shape, dtype=np.float64) for _ in range(4))
        s_q = _SIDES[self.submission](y, "submission", 0, z_q, e_q)
        s_p = _SIDES[self.reference](x, "reference", 0, z_p, e_p)
        terms = np.where(e_p > 0, e_p * (z_p - z_q), 0.0)
        return terms.sum(axis=-1) / s_p + np.log(s_q / s_p)

    def result(self) -> float:
        if self.count == 0:
            raise ValueError(f"{self.name}: no positions seen, nothing to judge")
        # KL >= 0 (Gibbs), but a row's rounding can be -1e-8 in float32 (-1e-16 in float64):
        # the mean is clamped, not each row, so the residue is not biased upward
        return max(self._total / self.count, 0.0)


@dataclass(frozen=True)
class Bound:
    """The thresholds a rulebook may set for a metric, and which way is better."""

    low: float
    high: float
    higher_is_better: bool

    def describe(self) -> str:
        return f"[{self.low:g}, {self.high:g}], {'higher' if self.higher_is_better else 'lower'}" \
               " is better"


BOUNDS: dict[str, Bound] = {
    "agreement": Bound(0.9, 1.0, higher_is_better=True),
    "exact-sequence": Bound(0.9, 1.0, higher_is_better=True),
    "kl": Bound(0.0, 0.5, higher_is_better=False),
}
NAMES: tuple[str, ...] = tuple(BOUNDS)


def _unknown(name: str) -> RulesError:
    return RulesError(f"unknown metric {name!r}; choose one of {', '.join(NAMES)}")


def metric(name: str, *, reference: Kind | None = None,
           submission: Kind | None = None) -> Metric:
    """A fresh accumulator for the metric called ``name``; ``kl`` needs each side's kind."""
    if name == "kl":
        return KL(reference, submission)  # type: ignore[arg-type]  # KL checks both
    if name not in NAMES:
        raise _unknown(name)
    if reference is not None or submission is not None:
        raise RulesError(f"{name} compares labels: reference= and submission= are for kl only")
    return Agreement() if name == "agreement" else ExactSequence()


def bound(name: str) -> Bound:
    found = BOUNDS.get(name)
    if found is None:
        raise _unknown(name)
    return found


def check_threshold(name: str, threshold: float) -> float:
    """``threshold`` if a rulebook may set it for metric ``name``; RulesError otherwise."""
    b = bound(name)
    if not b.low <= threshold <= b.high:  # NaN is refused too
        raise RulesError(f"the {name} threshold must be in {b.describe()}; got {threshold}")
    return threshold


def solves(name: str, value: float, threshold: float) -> bool:
    """Whether ``value`` of metric ``name`` meets ``threshold``, exactly at it included.
    A NaN value never solves (both comparisons are False)."""
    return value >= threshold if bound(name).higher_is_better else value <= threshold
