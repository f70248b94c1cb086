"""A small pure-Python RASP interpreter: the part of ``tracr.rasp.rasp``'s API that a RASP
program is written with, and its evaluation, with no JAX, numpy or tracr.

A Tracr-compiled challenge's labeler (``dixit challenge compile``) embeds this file verbatim
and evaluates the sealed RASP program with it, so the close and ``dixit verify`` replay the
program itself without the ``tracr`` extra. It must therefore stay self-contained: standard
library only, nothing from dixit, and no triple single quotes (the labeler holds it in one
raw string). The semantics follow RASP as Tracr evaluates it (``rasp.evaluate``): ``None``
propagates through maps, an aggregate is the mean of the selected values (the one value when
exactly one is selected, its default when none is), and a predicate is called as
``predicate(key, query)``. Compiling checks, on the whole domain, that this interpreter, the
compiled model and the converted torch model agree.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["Aggregate", "Comparison", "ConstantSOp", "ConstantSelector", "Encoding", "Full",
           "LinearSequenceMap", "Map", "RASPExpr", "SOp", "Select", "Selector", "SelectorAnd",
           "SelectorNot", "SelectorOr", "SelectorWidth", "SequenceMap", "annotate",
           "categorical", "evaluate", "get_encoding", "indices", "is_categorical",
           "is_numerical", "length", "numerical", "selector_and", "selector_not",
           "selector_or", "sop_not", "tokens"]


class Encoding(enum.Enum):
    CATEGORICAL = "categorical"
    NUMERICAL = "numerical"


class RASPExpr:
    """An expression: an SOp (a value per position) or a Selector (a query x key matrix)."""

    def __init__(self) -> None:
        self.annotations: dict[str, Any] = {}

    @property
    def name(self) -> str:
        return str(self.annotations.get("name", type(self).__name__.lower()))

    def named(self, name: str) -> Any:
        return annotate(self, name=name)

    def annotated(self, **annotations: Any) -> Any:
        return annotate(self, **annotations)

    def __call__(self, xs: Sequence[Any]) -> Any:
        return evaluate(self, xs)


def annotate(expr: Any, **annotations: Any) -> Any:
    """A shallow copy of ``expr`` with more annotations (the original is left as it was)."""
    new = object.__new__(type(expr))
    new.__dict__.update(expr.__dict__)
    new.annotations = {**expr.annotations, **annotations}
    return new


def _binary(f: Callable[[Any, Any], Any], reflected: bool = False) -> Callable[..., Any]:
    # sop OP other: an elementwise SequenceMap with another SOp, else a Map with a constant
    def op(self: SOp, other: Any) -> SOp:
        if isinstance(other, SOp):
            return (SequenceMap(f, other, self) if reflected else SequenceMap(f, self, other))
        return Map((lambda x: f(other, x)) if reflected else (lambda x: f(x, other)), self)
    return op


class SOp(RASPExpr):
    __lt__ = _binary(lambda x, y: x < y)
    __le__ = _binary(lambda x, y: x <= y)
    __eq__ = _binary(lambda x, y: x == y)  # type: ignore[assignment]
    __ne__ = _binary(lambda x, y: x != y)  # type: ignore[assignment]
    __gt__ = _binary(lambda x, y: x > y)
    __ge__ = _binary(lambda x, y: x >= y)
    __add__ = _binary(lambda x, y: x + y)
    __radd__ = _binary(lambda x, y: x + y, reflected=True)
    __sub__ = _binary(lambda x, y: x - y)
    __rsub__ = _binary(lambda x, y: x - y, reflected=True)
    __mul__ = _binary(lambda x, y: x * y)
    __rmul__ = _binary(lambda x, y: x * y, reflected=True)
    __truediv__ = _binary(lambda x, y: x / y)
    __rtruediv__ = _binary(lambda x, y: x / y, reflected=True)
    __and__ = _binary(lambda x, y: x and y)
    __rand__ = _binary(lambda x, y: x and y, reflected=True)
    __or__ = _binary(lambda x, y: x or y)
    __hash__ = object.__hash__

    def __ror__(self, other: Any) -> SOp:
        # as Tracr has it: a constant on the left is still the right operand of `or`
        if isinstance(other, SOp):
            return SequenceMap(lambda x, y: x or y, other, self)
        return Map(lambda x: x or other, self)

    def __invert__(self) -> SOp:
        return Map(lambda x: not x, self)


class _Primitive(SOp):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.annotations = {"name": kind}

    def __repr__(self) -> str:
        return self.kind


tokens = _Primitive("tokens")
indices = _Primitive("indices")
length = _Primitive("length")


class Map(SOp):
    """``f`` applied at every position; a Map of a Map is folded into one (as Tracr does)."""

    def __init__(self, f: Callable[[Any], Any], inner: SOp, simplify: bool = True) -> None:
        super().__init__()
        if not isinstance(inner, SOp) or not callable(f) or isinstance(f, RASPExpr):
            raise TypeError("Map takes a function and an SOp")
        self.f, self.inner = f, inner
        if simplify and isinstance(inner, Map):
            first, then = inner.f, f
            self.f, self.inner = (lambda t: then(first(t))), inner.inner


class SequenceMap(SOp):
    def __init__(self, f: Callable[[Any, Any], Any], fst: SOp, snd: SOp) -> None:
        super().__init__()
        if not (isinstance(fst, SOp) and isinstance(snd, SOp)) or not callable(f):
            raise TypeError("SequenceMap takes a function and two SOps")
        self.f, self.fst, self.snd = f, fst, snd


class LinearSequenceMap(SequenceMap):
    def __init__(self, fst: SOp, snd: SOp, fst_fac: float, snd_fac: float) -> None:
        super().__init__(lambda x, y: fst_fac * x + snd_fac * y, fst, snd)
        self.fst_fac, self.snd_fac = fst_fac, snd_fac


class Full(SOp):
    def __init__(self, fill: Any) -> None:
        super().__init__()
        self.fill = fill


class ConstantSOp(SOp):
    def __init__(self, value: Sequence[Any], check_length: bool = True) -> None:
        super().__init__()
        self.value, self.check_length = list(value), check_length


def sop_not(sop: SOp) -> SOp:
    return Map(lambda t: not t, sop)


class Comparison(enum.Enum):
    """A predicate of Select, called as ``predicate(key, query)``."""

    EQ = "=="
    LT = "<"
    LEQ = "<="
    GT = ">"
    GEQ = ">="
    NEQ = "!="
    TRUE = "True"
    FALSE = "False"

    def __call__(self, key: Any, query: Any) -> bool:
        if key is None or query is None:
            raise ValueError(f"{'key' if key is None else 'query'} is None!")
        return _COMPARE[self.value](key, query)


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda k, q: k == q, "<": lambda k, q: k < q, "<=": lambda k, q: k <= q,
    ">": lambda k, q: k > q, ">=": lambda k, q: k >= q, "!=": lambda k, q: k != q,
    "True": lambda k, q: True, "False": lambda k, q: False,
}


class Selector(RASPExpr):
    def __and__(self, other: Selector) -> Selector:
        return selector_and(self, other)

    def __rand__(self, other: Selector) -> Selector:
        return selector_and(other, self)

    def __or__(self, other: Selector) -> Selector:
        return selector_or(self, other)

    def __ror__(self, other: Selector) -> Selector:
        return selector_or(other, self)

    def __invert__(self) -> Selector:
        return selector_not(self)


class Select(Selector):
    def __init__(self, keys: SOp, queries: SOp, predicate: Callable[[Any, Any], Any]) -> None:
        super().__init__()
        if not (isinstance(keys, SOp) and isinstance(queries, SOp)):
            raise TypeError("Select takes two SOps (keys, queries) and a predicate")
        self.keys, self.queries, self.predicate = keys, queries, predicate


class ConstantSelector(Selector):
    def __init__(self, value: Sequence[Sequence[bool]], check_length: bool = True) -> None:
        super().__init__()
        self.value, self.check_length = [list(r) for r in value], check_length


class SelectorAnd(Selector):
    def __init__(self, fst: Selector, snd: Selector) -> None:
        super().__init__()
        self.fst, self.snd = fst, snd


class SelectorOr(Selector):
    def __init__(self, fst: Selector, snd: Selector) -> None:
        super().__init__()
        self.fst, self.snd = fst, snd


class SelectorNot(Selector):
    def __init__(self, inner: Selector) -> None:
        super().__init__()
        self.inner = inner


# Tracr may fold these into one Select; the selection they evaluate to is the same.
def selector_and(fst: Selector, snd: Selector, simplify: bool = True) -> Selector:
    return SelectorAnd(fst, snd)


def selector_or(fst: Selector, snd: Selector, simplify: bool = True) -> Selector:
    return SelectorOr(fst, snd)


def selector_not(inner: Selector, simplify: bool = True) -> Selector:
    return SelectorNot(inner)


class SelectorWidth(SOp):
    def __init__(self, selector: Selector) -> None:
        super().__init__()
        if not isinstance(selector, Selector):
            raise TypeError("SelectorWidth takes a Selector")
        self.selector = selector


class Aggregate(SOp):
    def __init__(self, selector: Selector, sop: SOp, default: Any = None) -> None:
        super().__init__()
        if not (isinstance(selector, Selector) and isinstance(sop, SOp)):
            raise TypeError("Aggregate takes a Selector and an SOp")
        self.selector, self.sop, self.default = selector, sop, default


def numerical(sop: Any) -> Any:
    return annotate(sop, encoding=Encoding.NUMERICAL)


def categorical(sop: Any) -> Any:
    return annotate(sop, encoding=Encoding.CATEGORICAL)


def get_encoding(sop: Any) -> Encoding:
    return sop.annotations.get("encoding", Encoding.CATEGORICAL)


def is_numerical(sop: Any) -> bool:
    return get_encoding(sop) == Encoding.NUMERICAL


def is_categorical(sop: Any) -> bool:
    return get_encoding(sop) == Encoding.CATEGORICAL


def _mean(selected: list[Any], default: Any) -> Any:
    if not selected:
        return default
    if len(selected) == 1:
        return selected[0]
    if all(isinstance(v, (int, bool, float)) for v in selected):
        return sum(selected) / len(selected)
    raise ValueError(f"cannot average non-numbers {selected!r}")


def _constant_length(value: list[Any], n: int, check: bool) -> list[Any]:
    if check and len(value) != n:
        raise ValueError(f"constant of length {len(value)} for an input of length {n}")
    return value


def evaluate(expr: RASPExpr, xs: Sequence[Any]) -> Any:
    """The value of ``expr`` on the input sequence ``xs``: a list (an SOp) or a list of rows,
    one per query (a Selector). Each sub-expression is evaluated once."""
    xs, seen = list(xs), {}
    n = len(xs)

    def ev(e: RASPExpr) -> Any:
        key = id(e)
        if key not in seen:
            seen[key] = (e, step(e))  # keep e alive so its id stays unique
        return seen[key][1]

    def step(e: RASPExpr) -> Any:
        if isinstance(e, _Primitive):
            return {"tokens": xs, "indices": list(range(n)), "length": [n] * n}[e.kind]
        if isinstance(e, Map):
            return [None if v is None else e.f(v) for v in ev(e.inner)]
        if isinstance(e, SequenceMap):
            return [None if a is None or b is None else e.f(a, b)
                    for a, b in zip(ev(e.fst), ev(e.snd), strict=True)]
        if isinstance(e, Full):
            return [e.fill] * n
        if isinstance(e, ConstantSOp):
            return _constant_length(e.value, n, e.check_length)
        if isinstance(e, SelectorWidth):
            return [sum(row) for row in ev(e.selector)]
        if isinstance(e, Aggregate):
            values = ev(e.sop)
            return [_mean([v for s, v in zip(row, values, strict=True) if s], e.default)
                    for row in ev(e.selector)]
        if isinstance(e, Select):
            keys, queries = ev(e.keys), ev(e.queries)
            return [[bool(e.predicate(k, q)) for k in keys] for q in queries]
        if isinstance(e, ConstantSelector):
            return _constant_length(e.value, n, e.check_length)
        if isinstance(e, (SelectorAnd, SelectorOr)):
            both = all if isinstance(e, SelectorAnd) else any
            return [[both((a, b)) for a, b in zip(r1, r2, strict=True)]
                    for r1, r2 in zip(ev(e.fst), ev(e.snd), strict=True)]
        if isinstance(e, SelectorNot):
            return [[not v for v in row] for row in ev(e.inner)]
        raise NotImplementedError(f"cannot evaluate {type(e).__name__}")

    return ev(expr)
