"""Judging metrics as pure accumulators: hand-computed values, streaming, refusals, directions."""

from __future__ import annotations

import itertools
import math
import tracemalloc
from typing import Any

import numpy as np
import pytest

from dixit.errors import RulesError
from dixit.rules import metrics
from dixit.rules.metrics import EPS, BatchError, Metric

INF = math.inf
LN2 = math.log(2)
# KL([0.5, 0.5] || [0.9, 0.1]), by hand: 0.5 ln(0.5/0.9) + 0.5 ln(0.5/0.1)
KL_HALF_VS_9_1 = 0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)
assert abs(KL_HALF_VS_9_1 - 0.5108256237659907) < 1e-15


def run(name: str, ref: Any, sub: Any, **kinds: Any) -> float:
    m = metrics.metric(name, **kinds)
    m.update(ref, sub)
    return m.result()


def clipped(p: list[float]) -> list[float]:
    """The documented clipping, written out: max(p, EPS) / sum(max(p, EPS))."""
    c = [max(v, EPS) for v in p]
    return [v / sum(c) for v in c]


def kl_by_hand(p: list[float], q: list[float]) -> float:
    return sum(a * math.log(a / b) for a, b in zip(p, q, strict=True) if a > 0)


LOGITS = {"reference": "logits", "submission": "logits"}
PROBS = {"reference": "probs", "submission": "probs"}

# (case, reference, submission, kinds, expected KL per position)
KL_CASES = [
    ("half vs 0.9/0.1", [[.5, .5]], [[.9, .1]], PROBS, KL_HALF_VS_9_1),
    ("reference first: not symmetric", [[.9, .1]], [[.5, .5]], PROBS,
     0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)),
    ("same probabilities: 0", [[.2, .3, .5]], [[.2, .3, .5]], PROBS, 0.0),
    ("same logits: 0", [[1., 2., 3.]], [[1., 2., 3.]], LOGITS, 0.0),
    ("logits shifted by a constant: 0", [[1., 2., 3.]], [[11., 12., 13.]], LOGITS, 0.0),
    ("log-probabilities as logits", np.log([[.5, .5]]), np.log([[.9, .1]]) + 7, LOGITS,
     KL_HALF_VS_9_1),
    ("probs reference, logits submission", [[.5, .5]], np.log([[.9, .1]]) - 3,
     {"reference": "probs", "submission": "logits"}, KL_HALF_VS_9_1),
    ("logits reference, probs submission", np.log([[.5, .5]]), [[.9, .1]],
     {"reference": "logits", "submission": "probs"}, KL_HALF_VS_9_1),
    ("-inf in the reference: 0 log 0 = 0", [[0., -INF]], [[0., 0.]], LOGITS, LN2),
    ("-inf on both sides at one class", [[0., 0., -INF]], [[0., 0., -INF]], LOGITS, 0.0),
    ("-inf in the submission where the reference has mass", [[0., 0.]], [[0., -INF]], LOGITS,
     INF),
    ("underflowed p meets a -inf q", [[0., -1e30]], [[0., -INF]], LOGITS, 0.0),
    ("huge logit: one-hot vs uniform", [[1e30, 0.]], [[0., 0.]], LOGITS, LN2),
    ("two huge logits vs uniform of 3", [[1e30, 0., 1e30]], [[0., 0., 0.]], LOGITS,
     math.log(1.5)),
    ("huge logits on opposite classes: log q = -1e30", [[1e30, 0.]], [[0., 1e30]], LOGITS,
     1e30),
    ("probs reference zero: clipped", [[1., 0.]], [[.5, .5]], PROBS,
     kl_by_hand(clipped([1., 0.]), [.5, .5])),
    ("probs submission zero: clipped, finite", [[.5, .5]], [[1., 0.]], PROBS,
     kl_by_hand([.5, .5], clipped([1., 0.]))),
    ("(N, C): the mean per input", [[.5, .5], [.3, .7]], [[.9, .1], [.3, .7]], PROBS,
     KL_HALF_VS_9_1 / 2),
    ("(N, L, C): the mean per position", [[[.5, .5], [.3, .7]], [[.3, .7], [.3, .7]]],
     [[[.9, .1], [.3, .7]], [[.3, .7], [.3, .7]]], PROBS, KL_HALF_VS_9_1 / 4),
]


@pytest.mark.parametrize(("case", "ref", "sub", "kinds", "expected"), KL_CASES,
                         ids=[c[0] for c in KL_CASES])
def test_kl_cases(case: str, ref: Any, sub: Any, kinds: dict[str, str],
                  expected: float) -> None:
    got = run("kl", ref, sub, **kinds)
    if math.isinf(expected) or expected == 0.0:
        assert got == expected  # exactly: KL(p||p) is 0, not rounding noise
    else:
        assert got == pytest.approx(expected, rel=1e-12, abs=0)


def test_kl_in_float32_keeps_float32_precision() -> None:
    got = run("kl", np.float32([[.5, .5]]), np.float32([[.9, .1]]), **PROBS)
    assert got == pytest.approx(KL_HALF_VS_9_1, rel=1e-6) and got != KL_HALF_VS_9_1


def test_sanity_of_the_hand_computed_clipping_cases() -> None:
    # the clipped cases are near their unclipped values, so the expectation is not vacuous
    assert kl_by_hand(clipped([1., 0.]), [.5, .5]) == pytest.approx(LN2, abs=1e-10)
    assert kl_by_hand([.5, .5], clipped([1., 0.])) == pytest.approx(
        0.5 * math.log(0.5) + 0.5 * math.log(0.5 / EPS), rel=1e-9)


def test_kl_of_float16_is_computed_in_float32() -> None:
    rng = np.random.default_rng(2)
    x, y = (rng.normal(0, 10, (50, 30)).astype(np.float16) for _ in range(2))
    assert run("kl", x, y, **LOGITS) == run("kl", x.astype(np.float32), y.astype(np.float32),
                                             **LOGITS)


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_kl_logits_and_probs_give_the_same_value_as_an_explicit_loop() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(0, 2, (20, 5, 11)), rng.normal(0, 2, (20, 5, 11))
    p, q = softmax(x), softmax(y)
    loop = sum(kl_by_hand(list(a), list(b)) for a, b in
               zip(p.reshape(-1, 11), q.reshape(-1, 11), strict=True)) / 100
    assert loop > 0.5  # a real difference, not two near-equal distributions
    values = {
        "logits": run("kl", x, y, **LOGITS),
        "probs": run("kl", p, q, **PROBS),
        "probs/logits": run("kl", p, y, reference="probs", submission="logits"),
        "logits/probs": run("kl", x, q, reference="logits", submission="probs"),
    }
    for how, v in values.items():
        assert v == pytest.approx(loop, rel=1e-9), how


def test_kl_of_a_distribution_with_itself_is_exactly_zero() -> None:
    x = np.random.default_rng(4).normal(0, 5, (64, 3, 50)).astype(np.float32)
    assert run("kl", x, x.copy(), **LOGITS) == 0.0
    assert run("kl", softmax(x), softmax(x), **PROBS) == 0.0
    assert run("kl", x, x + 3.0, **LOGITS) == pytest.approx(0.0, abs=1e-6)


def test_kl_is_never_negative_from_rounding() -> None:
    # the same distributions as shifted float32 logits: each row's exact KL is 0, and its
    # float32 rounding is either sign; the result is clamped at 0, never below
    x = np.random.default_rng(4).normal(0, 5, (64, 50)).astype(np.float32)
    values = [run("kl", x[i:i + 1], x[i:i + 1] + np.float32(3), **LOGITS) for i in range(64)]
    assert all(0.0 <= v < 1e-7 for v in values)
    assert values.count(0.0) > 8  # the rows whose rounding was negative


def batches(n: int, sizes: list[int]) -> list[slice]:
    cuts = np.cumsum([0, *sizes])
    assert cuts[-1] == n
    return [slice(a, b) for a, b in itertools.pairwise(cuts)]


SPLITS = [[1, 7, 100, 392, 500], [1000], [999, 1], [250] * 4]


@pytest.mark.parametrize("sizes", SPLITS, ids=str)
@pytest.mark.parametrize(("kinds", "make"), [
    (LOGITS, lambda x: x),
    (PROBS, softmax),
    ({"reference": "logits", "submission": "probs"}, None),
], ids=["logits", "probs", "mixed"])
def test_kl_streamed_in_batches_equals_one_shot(sizes: list[int], kinds: dict[str, str],
                                                 make: Any) -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(0, 3, (1000, 37))
    y = x + rng.normal(0, 0.5, (1000, 37))
    x[::17, 3] = -INF  # some 0 log 0 rows take the masked path, in every split
    ref = x if make is None else make(x)
    sub = softmax(y) if make is None else make(y)
    whole = metrics.metric("kl", **kinds)
    whole.update(ref, sub)
    streamed = metrics.metric("kl", **kinds)
    for s in batches(1000, sizes):
        streamed.update(ref[s], sub[s])
    assert streamed.count == whole.count == 1000 and streamed.rows == 1000
    assert abs(streamed.result() - whole.result()) <= 1e-12
    assert 0.05 < whole.result() < 1  # not trivially equal


def test_kl_blocks_do_not_change_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(6)
    x, y = rng.normal(0, 3, (300, 4, 29)), rng.normal(0, 3, (300, 4, 29))
    whole = run("kl", x, y, **LOGITS)
    monkeypatch.setattr(metrics, "BLOCK", 29 * 7)  # 7 rows per block, a partial last block
    assert abs(run("kl", x, y, **LOGITS) - whole) <= 1e-12
    monkeypatch.setattr(metrics, "BLOCK", 1)  # one row per block at least
    assert abs(run("kl", x, y, **LOGITS) - whole) <= 1e-12


# (case, metric, reference, submission, expected)
LABEL_CASES = [
    ("agreement (N,)", "agreement", [0, 1, 2, 3], [0, 1, 0, 3], 0.75),
    ("agreement (N, L): per position", "agreement", [[1, 2, 3], [4, 5, 6]],
     [[1, 2, 0], [4, 5, 6]], 5 / 6),
    ("exact-sequence (N, L): per row", "exact-sequence", [[1, 2, 3], [4, 5, 6]],
     [[1, 2, 0], [4, 5, 6]], 0.5),
    ("exact-sequence, one wrong position each", "exact-sequence", [[1, 2], [3, 4]],
     [[0, 2], [3, 0]], 0.0),
    ("agreement across integer dtypes", "agreement", np.uint8([255, 7]), np.int64([255, 7]),
     1.0),
    ("uint8 255 is not int64 -1", "agreement", np.uint8([255]), np.int64([-1]), 0.0),
    ("booleans are labels", "agreement", np.array([True, False]), np.array([True, True]),
     0.5),
]


@pytest.mark.parametrize(("case", "name", "ref", "sub", "expected"), LABEL_CASES,
                         ids=[c[0] for c in LABEL_CASES])
def test_label_cases(case: str, name: str, ref: Any, sub: Any, expected: float) -> None:
    assert run(name, ref, sub) == expected


@pytest.mark.parametrize("name", ["agreement", "exact-sequence"])
def test_labels_streamed_in_batches_equal_one_shot_exactly(name: str) -> None:
    rng = np.random.default_rng(7)
    ref = rng.integers(0, 3, (1000, 4))
    sub = np.where(rng.random((1000, 4)) < 0.05, (ref + 1) % 3, ref)
    whole = metrics.metric(name)
    whole.update(ref, sub)
    streamed = metrics.metric(name)
    for s in batches(1000, SPLITS[0]):
        streamed.update(ref[s], sub[s])
    assert streamed.result() == whole.result()
    assert (streamed.count, streamed.rows) == (whole.count, whole.rows) == (4000, 1000)
    same = ref == sub
    expected = same.mean() if name == "agreement" else same.all(axis=1).mean()
    assert whole.result() == expected and 0.7 < expected < 1


# (metric, shape of one batch, positions, rows)
COUNTS = [("agreement", (6,), 6, 6), ("agreement", (6, 5), 30, 6),
          ("exact-sequence", (6, 5), 30, 6), ("kl", (6, 3), 6, 6), ("kl", (6, 5, 3), 30, 6)]


@pytest.mark.parametrize(("name", "shape", "positions", "rows"), COUNTS,
                         ids=[f"{n} {s}" for n, s, _, _ in COUNTS])
def test_count_is_positions_for_every_shape(name: str, shape: tuple[int, ...], positions: int,
                                            rows: int) -> None:
    m = metrics.metric(name, **(PROBS if name == "kl" else {}))
    data = np.full(shape, 1 / 3) if name == "kl" else np.zeros(shape, dtype=int)
    m.update(data, data)
    assert (m.count, m.rows) == (positions, rows)
    assert m.result() == (0.0 if name == "kl" else 1.0)


# (case, metric, kinds, reference, submission, side at fault, exact message)
REFUSALS = [
    ("labels of different lengths", "agreement", {}, [1, 2, 3, 4], [1, 2, 3], "submission",
     "agreement: submission shape (3,) does not match the reference's (4,)"),
    ("sequences vs classes", "agreement", {}, [[1, 2]], [1, 2], "submission",
     "agreement: submission shape (2,) does not match the reference's (1, 2)"),
    ("exact-sequence needs sequences", "exact-sequence", {}, [1, 2], [1, 2], "reference",
     "exact-sequence: reference labels must have shape (N, L), got (2,)"),
    ("agreement of 3-D labels", "agreement", {}, np.zeros((2, 2, 2), int),
     np.zeros((2, 2, 2), int), "reference",
     "agreement: reference labels must have shape (N,) or (N, L), got (2, 2, 2)"),
    ("float labels", "agreement", {}, [1, 2], np.float32([1, 2]), "submission",
     "agreement: submission labels must be integers, got float32"),
    ("distributions with another class count", "kl", PROBS, [[.5, .5]], [[.2, .3, .5]],
     "submission", "kl: submission shape (1, 3) does not match the reference's (1, 2)"),
    ("kl of labels", "kl", LOGITS, [1, 2], [1, 2], "reference",
     "kl: reference distributions must have shape (N, C) or (N, L, C), got (2,)"),
    ("kl of no classes", "kl", LOGITS, np.zeros((2, 0)), np.zeros((2, 0)), "reference",
     "kl: reference distributions have an empty axis: (2, 0)"),
    ("string logits", "kl", LOGITS, [[0., 1.]], [["a", "b"]], "submission",
     "kl: submission logits must be real numbers, got <U1"),
    ("NaN submission logits", "kl", LOGITS, [[0., 0.], [0., 0.]], [[0., 0.], [0., np.nan]],
     "submission", "kl: submission logits contain NaN at position 1"),
    ("NaN reference logits", "kl", LOGITS, [[np.nan, 0.]], [[0., 0.]], "reference",
     "kl: reference logits contain NaN at position 0"),
    ("NaN submission probabilities", "kl", PROBS, [[.5, .5]], [[np.nan, .5]], "submission",
     "kl: submission probabilities contain NaN at position 0"),
    ("NaN beside -inf", "kl", LOGITS, [[0., 0.]], [[-INF, np.nan]], "submission",
     "kl: submission logits contain NaN at position 0"),
    ("+inf logits", "kl", LOGITS, [[0., 0.]], [[INF, 0.]], "submission",
     "kl: submission logits contain +inf (logits must be finite or -inf) at position 0"),
    ("only -inf logits", "kl", LOGITS, [[-INF, -INF]], [[0., 0.]], "reference",
     "kl: reference logits contain only -inf (no distribution) at position 0"),
    ("negative probabilities", "kl", PROBS, [[.5, .5]], [[1.5, -.5]], "submission",
     "kl: submission probabilities contain a negative value (-0.5) at position 0; logits?"),
    ("probabilities that do not sum to 1", "kl", PROBS, [[2., 3.]], [[.5, .5]], "reference",
     "kl: reference probabilities sum to 5 at position 0, not 1 (within 0.01); logits?"),
    ("+inf probabilities", "kl", PROBS, [[.5, .5]], [[INF, 0.]], "submission",
     "kl: submission probabilities sum to inf at position 0, not 1 (within 0.01); logits?"),
]


@pytest.mark.parametrize(("case", "name", "kinds", "ref", "sub", "side", "message"), REFUSALS,
                         ids=[c[0] for c in REFUSALS])
def test_refusals_name_the_problem_and_the_side(case: str, name: str, kinds: dict[str, str],
                                                ref: Any, sub: Any, side: str,
                                                message: str) -> None:
    m = metrics.metric(name, **kinds)
    with pytest.raises(ValueError) as err:
        m.update(ref, sub)
    assert isinstance(err.value, BatchError) and err.value.side == side
    assert str(err.value) == message
    assert m.count == 0 and m.rows == 0


def test_positions_in_messages_count_across_batches_and_sequences() -> None:
    m = metrics.metric("kl", **LOGITS)
    m.update(np.zeros((2, 3, 4)), np.zeros((2, 3, 4)))
    sub = np.zeros((2, 3, 4))
    sub[1, 2, 0] = np.nan  # row 1, position 2 of this batch: flattened 5, after 6 seen
    with pytest.raises(BatchError, match=r"^kl: submission logits contain NaN at position 11$"):
        m.update(np.zeros((2, 3, 4)), sub)


def test_a_refused_batch_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "BLOCK", 2)  # many blocks: the NaN is in the last one
    m = metrics.metric("kl", **PROBS)
    m.update([[.5, .5]], [[.9, .1]])
    ref = np.full((9, 2), .5)
    sub = ref.copy()
    sub[8, 1] = np.nan
    with pytest.raises(BatchError, match=r"at position 9$"):
        m.update(ref, sub)
    assert (m.count, m.rows) == (1, 1) and m.result() == pytest.approx(KL_HALF_VS_9_1)


@pytest.mark.parametrize(("name", "first", "then", "message"), [
    ("agreement", [[1, 2, 3]], [[1, 2]],
     "agreement: reference batch of shape (1, 2) changes the shape per row from (3,) seen so far"),
    ("kl", [[[.5, .5]]], [[[.5, .5], [.5, .5]]],
     "kl: reference batch of shape (1, 2, 2) changes the shape per row from (1, 2) seen so far"),
])
def test_the_shape_per_row_cannot_change_between_batches(name: str, first: Any, then: Any,
                                                         message: str) -> None:
    m = metrics.metric(name, **(PROBS if name == "kl" else {}))
    m.update(first, first)
    with pytest.raises(BatchError) as err:
        m.update(then, then)
    assert str(err.value) == message and err.value.side == "reference"
    assert m.count == 1 if name == "kl" else 3


def test_an_empty_batch_is_nothing_and_nothing_has_no_result() -> None:
    m = metrics.metric("kl", **LOGITS)
    m.update(np.zeros((0, 5)), np.zeros((0, 5)))
    assert m.count == 0
    with pytest.raises(ValueError, match=r"^kl: no positions seen, nothing to judge$"):
        m.result()
    m.update([[0., 1., 2., 3., 4.]], [[0., 1., 2., 3., 4.]])
    assert m.result() == 0.0


def test_the_factory_refuses_unknown_names_and_unsaid_kinds() -> None:
    with pytest.raises(RulesError) as err:
        metrics.metric("accuracy")
    assert str(err.value) == ("unknown metric 'accuracy'; choose one of agreement, "
                              "exact-sequence, kl")
    with pytest.raises(RulesError, match=r"^kl needs reference= set to one of logits, probs, "
                                         r"got None$"):
        metrics.metric("kl")
    with pytest.raises(RulesError, match=r"^kl needs submission= set to one of logits, "
                                         r"probs, got 'softmax'$"):
        metrics.metric("kl", reference="probs", submission="softmax")  # type: ignore[arg-type]
    with pytest.raises(RulesError, match=r"^agreement compares labels: reference= and "
                                         r"submission= are for kl only$"):
        metrics.metric("agreement", reference="logits")
    for name in metrics.NAMES:
        kinds = LOGITS if name == "kl" else {}
        m = metrics.metric(name, **kinds)
        assert isinstance(m, Metric) and m.name == name


def test_accumulators_hold_no_batch_sized_arrays() -> None:
    # streaming stays flat: a 16 MB batch is judged with a few 256 KB blocks of scratch
    rng = np.random.default_rng(8)
    x = rng.standard_normal((4000, 1000), dtype=np.float32)
    y = rng.standard_normal((4000, 1000), dtype=np.float32)
    m = metrics.metric("kl", **LOGITS)
    tracemalloc.start()
    try:
        m.update(x, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < x.nbytes / 8, peak
    lp = np.log(softmax(x.astype(np.float64)))
    lq = np.log(softmax(y.astype(np.float64)))
    assert m.result() == pytest.approx(float((np.exp(lp) * (lp - lq)).sum(-1).mean()), rel=1e-6)


# (metric, value, threshold, solves)
SOLVES = [
    ("agreement", 0.99, 0.99, True), ("agreement", 0.9899999, 0.99, False),
    ("agreement", 1.0, 0.99, True),
    ("exact-sequence", 0.95, 0.95, True), ("exact-sequence", 0.9499999, 0.95, False),
    ("kl", 0.1, 0.1, True), ("kl", 0.1000001, 0.1, False), ("kl", 0.0, 0.1, True),
    ("kl", 0.0, 0.0, True), ("kl", INF, 0.5, False),
    ("agreement", math.nan, 0.9, False), ("kl", math.nan, 0.5, False),
]


@pytest.mark.parametrize(("name", "value", "threshold", "expected"), SOLVES,
                         ids=[f"{n} {v} vs {t}" for n, v, t, _ in SOLVES])
def test_solves_knows_each_direction_exactly_at_the_threshold(name: str, value: float,
                                                              threshold: float,
                                                              expected: bool) -> None:
    assert metrics.solves(name, value, threshold) is expected


def test_bounds_say_what_a_rulebook_may_set() -> None:
    assert metrics.BOUNDS["agreement"] == metrics.Bound(0.9, 1.0, higher_is_better=True)
    assert metrics.BOUNDS["exact-sequence"] == metrics.Bound(0.9, 1.0, higher_is_better=True)
    assert metrics.BOUNDS["kl"] == metrics.Bound(0.0, 0.5, higher_is_better=False)
    for name, ok in (("agreement", 0.9), ("agreement", 1.0), ("kl", 0.0), ("kl", 0.5)):
        assert metrics.check_threshold(name, ok) == ok
    with pytest.raises(RulesError) as err:
        metrics.check_threshold("agreement", 0.89)
    assert str(err.value) == ("the agreement threshold must be in [0.9, 1], higher is better; "
                              "got 0.89")
    with pytest.raises(RulesError, match=r"^the kl threshold must be in \[0, 0\.5\], lower is "
                                         r"better; got 0\.51$"):
        metrics.check_threshold("kl", 0.51)
    for name, bad in (("kl", -0.1), ("kl", math.nan), ("exact-sequence", 1.01)):
        with pytest.raises(RulesError):
            metrics.check_threshold(name, bad)
    with pytest.raises(RulesError, match="unknown metric 'bleu'"):
        metrics.solves("bleu", 1.0, 0.5)
