"""The pure rules of outputs and schemes: parsing, the checks of every batch a program
returns (each refusal by its message), and the bar in each metric's direction."""

from __future__ import annotations

import numpy as np
import pytest

from dixit.errors import ChallengeError
from dixit.rules import outputs, points, scheme
from dixit.rules.rulebook import Rulebook


@pytest.mark.parametrize(("spec", "form", "classes", "probs"), [
    ("binary", "binary", 2, False), ("classes:10", "classes", 10, False),
    ("sequence:4", "sequence", 4, False), ("distribution:8", "distribution", 8, False),
    ("distribution:8:probs", "distribution", 8, True), (" classes:65536 ", "classes", 65536, False),
])
def test_parse(spec: str, form: str, classes: int, probs: bool) -> None:
    out = outputs.parse(spec)
    assert (out.form, out.classes, out.probs) == (form, classes, probs)
    assert outputs.parse(out.spec) == out


@pytest.mark.parametrize("spec", ["classes", "classes:1", "classes:65537", "sequence:4:probs",
                                  "distribution:8:logits", "binary:2", "kinds:3", "classes:x",
                                  3, None])
def test_parse_refuses(spec: object) -> None:
    with pytest.raises(ChallengeError, match=r"output is binary, classes:C|must be a string"):
        outputs.parse(spec)


def test_dtypes_and_row_shapes() -> None:
    assert outputs.parse("classes:256").dtype == "uint8"
    assert outputs.parse("classes:257").dtype == "uint16"
    assert outputs.parse("distribution:3").dtype == "float32"
    seq, dist = outputs.parse("sequence:4"), outputs.parse("distribution:5")
    assert seq.row_shapes(6) == [(6,)] and seq.row_shapes(None) == []
    assert dist.row_shapes(None) == [(5,)] and dist.row_shapes(6) == [(5,), (6, 5)]
    assert outputs.positions("tokens", (6,)) == 6
    assert outputs.positions("grid", (2,)) is None  # a pair is one input, not a sequence
    assert dist.size_per_input(6) == 6 * 5 * 4 and seq.size_per_input(6) == 6
    with pytest.raises(ChallengeError, match="one id per position of a token sequence"):
        seq.check_domain("grid", (2,))


@pytest.mark.parametrize(("spec", "arr", "rows", "problem"), [
    ("binary", np.array([0, 1, 2]), [()], "returned non-binary labels (e.g. 2)"),
    ("binary", np.array([0.0, np.nan, 1]), [()], "returned NaN labels"),
    ("classes:10", np.array([0, 9, 10]), [()], "returned a label outside 0..9 (e.g. 10)"),
    ("classes:10", np.array([0, -1, 3]), [()], "returned a label outside 0..9 (e.g. -1)"),
    ("classes:10", np.array([0.5, 1, 3]), [()], "returned a label outside 0..9 (e.g. 0.5)"),
    ("classes:10", np.array([0.0, np.inf, 3]), [()], "returned NaN or infinite labels"),
    ("classes:10", np.array(["a", "b", "c"]), [()],
     "returned labels of dtype <U1 (need integer class ids)"),
    ("classes:10", np.zeros((3, 2), dtype=np.int64), [()],
     "returned shape (3, 2) for a batch of 3 (need (3,))"),
    ("sequence:4", np.zeros((3,), dtype=np.int64), [(6,)],
     "returned shape (3,) for a batch of 3 (need (3, 6))"),
    ("distribution:4", np.zeros((3, 4), dtype=np.int64), [(4,)],
     "returned logits of dtype int64 (need floating point numbers)"),
    ("distribution:4", np.full((3, 4), np.inf), [(4,)], "returned NaN or +inf logits"),
    ("distribution:4:probs", np.full((3, 4), -0.25), [(4,)],
     "returned negative probabilities"),
    ("distribution:4:probs", np.full((3, 4), 0.5), [(4,)],
     "returned probabilities whose rows do not sum to 1"),
])
def test_problem(spec: str, arr: np.ndarray, rows: list, problem: str) -> None:
    assert outputs.parse(spec).problem(arr, 3, rows) == problem


def test_good_batches_pass() -> None:
    assert outputs.parse("binary").problem(np.array([0, 1, 1.0]), 3, [()]) is None
    assert outputs.parse("classes:10").problem(np.array([0, 9, 3.0]), 3, [()]) is None
    logits = np.full((3, 2, 4), -np.inf)
    logits[..., 0] = 1.0  # -inf is probability 0: allowed
    assert outputs.parse("distribution:4").problem(logits, 3, [(4,), (2, 4)]) is None
    assert outputs.parse("distribution:4:probs").problem(np.full((3, 4), 0.25), 3,
                                                         [(4,)]) is None


def test_scheme_defaults_and_bounds() -> None:
    book = Rulebook()
    assert scheme.of({}, book) == scheme.Scheme(outputs.BINARY, "agreement", 0.99)
    kl = scheme.of({"output": "distribution:8"}, book)
    assert (kl.metric, kl.threshold, kl.higher_is_better) == ("kl", 0.1, False)
    assert scheme.of({"output": "sequence:4", "metric": "exact-sequence",
                      "threshold": 0.95}, book).threshold == 0.95
    for meta, message in [
        ({"metric": "kl"}, "output binary is judged by agreement, not 'kl'"),
        ({"metric": "bleu"}, "metric must be one of agreement, exact-sequence, kl; got 'bleu'"),
        ({"threshold": True}, "threshold must be a number, got True"),
        ({"threshold": 1.5}, "the agreement threshold must be in [0.9, 1], higher is better; "
                             "got 1.5"),
        ({"output": "distribution:8", "threshold": 0.6},
         "the kl threshold must be in [0, 0.5], lower is better; got 0.6"),
    ]:
        with pytest.raises(ChallengeError) as err:
            scheme.of(meta, book)
        assert str(err.value) == message


def test_beat_the_model_in_each_direction() -> None:
    assert points.required(0.99, 0.997, 0.5) == 0.9985
    assert points.required(0.99, 0.9, 0.5) == 0.99
    # kl: lower is better, a program must keep at most half the model's own KL
    assert points.required(0.1, 0.02, 0.5, higher_is_better=False) == 0.01
    assert points.required(0.1, 0.5, 0.5, higher_is_better=False) == 0.1
    sub = points.SubmissionOutcome("bob", 0.01)
    assert points.solved(sub, 0.01, higher_is_better=False)
    assert not points.solved(points.SubmissionOutcome("bob", 0.011), 0.01, False)
    assert not points.solved(sub, 0.02)  # an agreement of 0.01 solves nothing
