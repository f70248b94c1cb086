"""What a challenge's ``label(x)`` returns, declared in its signed metadata as ``output``.

- ``binary`` (the default): one label 0 or 1 per input, shape (N,).
- ``classes:C``: one class id in [0, C) per input, shape (N,).
- ``sequence:C``: one id in [0, C) per position of a token input, shape (N, L).
- ``distribution:C``: logits over C classes per input, shape (N, C), or per position of a token
  input, shape (N, L, C). ``distribution:C:probs`` says the numbers are probabilities instead
  (each row sums to 1). The labeler fixes which of the two shapes; every program must match it.

Every batch a program returns is checked here (``problem``) inside its sandboxed child, and the
result it sends is checked again by the engine against the shape declared here: nothing about an
output's shape or range is taken from a program. Pure: numpy only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from dixit.errors import ChallengeError

FORMS = ("binary", "classes", "sequence", "distribution")
DEFAULT = "binary"
# Class ids travel as uint16: a language model's vocabulary fits, and (N, L) stays compact.
MAX_CLASSES = 65536
# Metrics each form may be judged by, the first being its default.
METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("agreement",),
    "classes": ("agreement",),
    "sequence": ("agreement", "exact-sequence"),
    "distribution": ("kl", "agreement"),
}


@dataclass(frozen=True)
class Output:
    form: str
    classes: int
    probs: bool = False  # distribution only: probabilities rather than logits

    @property
    def spec(self) -> str:
        if self.form == "binary":
            return "binary"
        return f"{self.form}:{self.classes}" + (":probs" if self.probs else "")

    @property
    def integer(self) -> bool:
        """Class ids (compared exactly) rather than distributions."""
        return self.form != "distribution"

    @property
    def dtype(self) -> str:
        """The numpy dtype outputs travel and are stored as."""
        if not self.integer:
            return "float32"
        return "uint8" if self.classes <= 256 else "uint16"

    @property
    def side(self) -> str:
        """How the kl metric reads this output: ``logits`` or ``probs``."""
        return "probs" if self.probs else "logits"

    @property
    def default_metric(self) -> str:
        return METRICS[self.form][0]

    def row_shapes(self, length: int | None) -> list[tuple[int, ...]]:
        """The shapes one input's output may have; ``length`` is the number of positions of
        a token-sequence domain (``positions``), None for any other domain."""
        if self.form in ("binary", "classes"):
            return [()]
        if self.form == "sequence":
            return [(length,)] if length is not None else []
        shapes = [(self.classes,)]
        if length is not None:
            shapes.append((length, self.classes))
        return shapes

    def check_domain(self, domain_kind: str, input_shape: tuple[int, ...]) -> None:
        """ChallengeError if this output cannot be given on such a domain."""
        if not self.row_shapes(positions(domain_kind, input_shape)):
            raise ChallengeError(f"output {self.spec} gives one id per position of a token "
                                 f"sequence; this {domain_kind} domain's inputs have shape "
                                 f"{tuple(input_shape)} (use a tokens:VOCABxLEN domain)")

    def check_metric(self, metric: str) -> None:
        allowed = METRICS[self.form]
        if metric not in allowed:
            raise ChallengeError(f"output {self.spec} is judged by {' or '.join(allowed)}, "
                                 f"not {metric!r}")

    def size_per_input(self, length: int | None) -> int:
        """Bytes of the largest output one input may have (for the sandbox's file limit)."""
        item = 4 if not self.integer else (1 if self.classes <= 256 else 2)
        return item * max(math.prod(s) for s in self.row_shapes(length) or [()])

    def problem(self, arr: Any, n: int, rows: list[tuple[int, ...]]) -> str | None:
        """Why a batch of ``n`` outputs cannot be accepted, or None. ``arr`` is an ndarray."""
        import numpy as np

        if tuple(arr.shape[:1]) != (n,) or tuple(arr.shape[1:]) not in rows:
            want = " or ".join(str((n, *r)) for r in rows)
            return f"returned shape {tuple(arr.shape)} for a batch of {n} (need {want})"
        if self.form == "binary":
            return _binary(arr)
        if self.integer:
            if arr.dtype.kind not in "biuf":
                return f"returned labels of dtype {arr.dtype} (need integer class ids)"
            if arr.dtype.kind == "f" and not bool(np.isfinite(arr).all()):
                return "returned NaN or infinite labels"
            bad = arr[(arr < 0) | (arr >= self.classes) | (arr != np.floor(arr))] \
                if arr.dtype.kind == "f" else arr[(arr < 0) | (arr >= self.classes)]
            if bad.size:
                return (f"returned a label outside 0..{self.classes - 1} "
                        f"(e.g. {bad.flat[0].item()!r})")
            return None
        if arr.dtype.kind != "f":
            return f"returned {self.side} of dtype {arr.dtype} (need floating point numbers)"
        if bool(np.isnan(arr).any()) or bool(np.isposinf(arr).any()):
            return f"returned NaN or +inf {self.side}"
        if self.probs:
            if bool((arr < 0).any()):
                return "returned negative probabilities"
            sums = arr.astype(np.float64).sum(axis=-1)
            if bool((np.abs(sums - 1) > 1e-2).any()):
                return "returned probabilities whose rows do not sum to 1"
        return None


def _binary(arr: Any) -> str | None:
    import numpy as np

    if arr.dtype.kind not in "biuf":
        return f"returned labels of dtype {arr.dtype} (need 0/1 numbers)"
    if arr.dtype.kind == "f" and bool(np.isnan(arr).any()):
        return "returned NaN labels"
    bad = arr[(arr != 0) & (arr != 1)]
    if bad.size:
        return f"returned non-binary labels (e.g. {bad.flat[0].item()!r})"
    return None


BINARY = Output("binary", 2)


def positions(domain_kind: str, input_shape: tuple[int, ...]) -> int | None:
    """Positions per input that per-position outputs give: a token sequence's length; None
    for grids and datasets (a grid's (a, b) pair is one input, not a sequence of two)."""
    return int(input_shape[0]) if domain_kind == "tokens" and len(input_shape) == 1 else None


def parse(spec: Any) -> Output:
    """``binary``, ``classes:C``, ``sequence:C``, ``distribution:C[:probs]``; one line if not."""
    if not isinstance(spec, str):
        raise ChallengeError(f"output must be a string like classes:10, got {spec!r}")
    parts = spec.strip().split(":")
    form = parts[0]
    if form == "binary" and len(parts) == 1:
        return BINARY
    usage = ("output is binary, classes:C, sequence:C or distribution:C[:probs] with C in "
             f"2..{MAX_CLASSES}")
    if form not in FORMS[1:] or len(parts) not in (2, 3) or not parts[1].isdigit():
        raise ChallengeError(f"{usage}; got {spec!r}")
    classes = int(parts[1])
    probs = len(parts) == 3
    if not 2 <= classes <= MAX_CLASSES or (probs and (form != "distribution"
                                                       or parts[2] != "probs")):
        raise ChallengeError(f"{usage}; got {spec!r}")
    return Output(form, classes, probs)
