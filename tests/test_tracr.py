"""Tracr-compiled challenges (`dixit challenge compile`, the `tracr` extra; `make
test-extras`): real RASP programs compiled by Tracr, converted and checked exact on the whole
domain; dixit's RASP interpreter against tracr.rasp.evaluate; bad programs refused in one
line; the converted model in TransformerLens; and a league in which a compiled challenge and
its learned twin are proposed, a right and a wrong program scored at the close (the labeler
replayed in the sandbox, without JAX) and verify passes."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

pytest.importorskip("tracr", reason="needs the tracr extra: pip install 'dixit[tracr]' "
                                    "(make test-extras installs it)")

from dixit import models
from dixit.challenge import rasp as ours, tracr_compile
from dixit.data import domains
from tests.conftest import Runner, make_league, program, scoped_env

pytestmark = pytest.mark.extras
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "rasp"
REVERSE = EXAMPLES / "reverse.py"

WRAP = """def program(rasp):
    # two heads in one layer: the previous and the next token, wrapping around
    length = rasp.SelectorWidth(rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.TRUE))
    nxt = rasp.SequenceMap(lambda i, n: (i + 1) % n if n else 0, rasp.indices, length)
    prv = rasp.SequenceMap(lambda i, n: (i - 1) % n if n else 0, rasp.indices, length)
    a = rasp.Aggregate(rasp.Select(rasp.indices, nxt, rasp.Comparison.EQ), rasp.tokens)
    b = rasp.Aggregate(rasp.Select(rasp.indices, prv, rasp.Comparison.EQ), rasp.tokens)
    return rasp.SequenceMap(lambda p, n: p + n, b.named("prev"), a.named("next"))
"""
PREFIX = """def program(rasp):
    # the first token, at every position: reads only earlier positions, so causal
    first = rasp.Select(rasp.indices, rasp.Map(lambda i: 0, rasp.indices), rasp.Comparison.EQ)
    return rasp.Aggregate(first, rasp.tokens).named("first")
"""
# not compilable: Tracr's categorical Aggregate takes no default
NO_COMPILE = """def program(rasp):
    prev = rasp.Select(rasp.indices, rasp.indices + 1, rasp.Comparison.EQ)
    return rasp.Aggregate(prev, rasp.tokens, default="a")
"""
RAISES = "def program(rasp):\n    return rasp.Nope(rasp.tokens)\n"
NOT_AN_SOP = "def program(rasp):\n    return 3\n"
NUMERICAL = """def program(rasp):
    prevs = rasp.Select(rasp.indices, rasp.indices, rasp.Comparison.LEQ)
    isa = rasp.numerical(rasp.Map(lambda t: 1 if t == "a" else 0, rasp.tokens))
    return rasp.numerical(rasp.Aggregate(prevs, isa, default=0))
"""
# the fraction of a's so far, thresholded: Tracr's numerical-to-categorical MLP only
# approximates it, and the check catches that
INEXACT = NUMERICAL.replace("    return rasp.numerical(rasp.Aggregate(prevs, isa, default=0))",
                            "    frac = rasp.numerical(rasp.Aggregate(prevs, isa, default=0))\n"
                            "    return rasp.categorical(rasp.Map(lambda f: f > 0.5, frac))")
UNDEFINED = """def program(rasp):
    smaller = rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.LT)
    return rasp.Aggregate(smaller, rasp.tokens)
"""
SEVERAL = """def program(rasp):
    # a categorical Aggregate selecting several (equal) values: RASP cannot average strings
    return rasp.Aggregate(rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.EQ),
                          rasp.tokens)
"""
RIGHT = "def label(x):\n    return x.flip(1)\n"   # classes a, b, c in the vocabulary's order
WRONG = "def label(x):\n    return x.clone()\n"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory, dixit: Runner) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("tracr") / "reverse"
    res = dixit.ok("challenge", "compile", out, "--program", REVERSE, "--vocab", "a,b,c",
                   "--max-seq-len", "5", "--json")
    return out, res.json()


def test_reverse_compiles_exactly(compiled: tuple[Path, dict]) -> None:
    import torch

    out, summary = compiled
    assert summary["agreement"] == 1.0 and summary["labeler_agreement"] == 1.0
    assert (summary["sequences"], summary["positions"]) == (243, 1215)
    assert (summary["domain"], summary["output"]) == ("tokens:3x5", "sequence:3")
    assert summary["classes"] == ["a", "b", "c"] and summary["vocab"] == ["a", "b", "c"]
    config = models.load_config(out)
    assert config["causal"] is False and config["prepend_bos"] is True
    assert config["n_ctx"] == 6 and config["vocab"] == 4 and config["positions"] == "all"
    x = domains.parse("tokens:3x5").all()
    with torch.no_grad():
        assert torch.equal(models.predict(models.load(out), x), x.flip(1))
    labeler = (out / "labeler.py").read_text()
    assert REVERSE.read_text().rstrip("\n") in labeler and "VOCAB = ['a', 'b', 'c']" in labeler


@pytest.mark.parametrize(("source", "vocab", "length", "shape"), [
    ((EXAMPLES / "sort.py").read_text(), "1,2,3,4", 4, (3, 1)),
    ((EXAMPLES / "histogram.py").read_text(), "a,b,c", 5, (1, 1)),
    (WRAP, "a,b,c", 4, (3, 2)),
], ids=["sort", "histogram", "two-heads"])
def test_more_programs_convert_exactly(tmp_path: Path, source: str, vocab: str, length: int,
                                       shape: tuple[int, int]) -> None:
    path = program(tmp_path, "secret", source)
    summary = tracr_compile.compile_challenge(tmp_path / "out", path, vocab, length)
    assert summary["agreement"] == 1.0 and summary["labeler_agreement"] == 1.0
    assert (summary["layers"], summary["heads"]) == shape
    # d_model is padded to n_heads * d_head, never below Tracr's residual width
    assert summary["d_model"] % summary["heads"] == 0
    assert summary["d_model"] >= summary["residual"]


def test_a_causal_compile(tmp_path: Path, dixit: Runner) -> None:
    path = program(tmp_path, "prefix", PREFIX)
    res = dixit.ok("challenge", "compile", tmp_path / "out", "-p", path, "--vocab", "a,b",
                   "--max-seq-len", "5", "--causal")
    assert "torch vs compiled 100.00%, labeler vs compiled 100.00%" in res.err
    assert models.load_config(tmp_path / "out")["causal"] is True
    # a program that reads later positions cannot be compiled causally: refused, and why
    res = dixit("challenge", "compile", tmp_path / "rev", "-p", REVERSE, "--vocab", "a,b",
                "--max-seq-len", "3", "--causal")
    assert res.code == 1 and res.err.count("\n") == 1
    assert "compiled --causal, the model cannot read the later positions" in res.err
    assert not (tmp_path / "rev").exists()


def _programs() -> list[tuple[str, str]]:
    return [("reverse", REVERSE.read_text()), ("histogram",
                                               (EXAMPLES / "histogram.py").read_text()),
            ("wrap", WRAP), ("prefix", PREFIX), ("numerical", NUMERICAL),
            ("inexact", INEXACT), ("undefined", UNDEFINED), ("several", SEVERAL)]


@pytest.mark.parametrize(("name", "source"), _programs(), ids=[n for n, _ in _programs()])
def test_the_interpreter_agrees_with_tracr_rasp(name: str, source: str) -> None:
    from tracr.rasp import rasp as theirs

    ns: dict = {}
    exec(compile(source, name, "exec"), ns)
    mine, tracr_sop = ns["program"](ours), ns["program"](theirs)
    for n in range(1, 5):
        for xs in itertools.product("abc", repeat=n):
            assert _outcome(ours, mine, xs) == _outcome(theirs, tracr_sop, xs), xs
    sort_ns: dict = {}
    exec(compile((EXAMPLES / "sort.py").read_text(), "sort", "exec"), sort_ns)
    mine, tracr_sop = sort_ns["program"](ours), sort_ns["program"](theirs)
    for xs in itertools.product([1, 2, 3, 4], repeat=4):
        assert _outcome(ours, mine, xs) == _outcome(theirs, tracr_sop, xs), xs


def _outcome(module, sop, xs) -> object:
    """The value on xs, or the type of the error evaluating it raised."""
    try:
        return module.evaluate(sop, list(xs))
    except Exception as exc:
        return type(exc)


@pytest.mark.parametrize(("body", "needle"), [
    (NO_COMPILE, "does not compile with Tracr: NotImplementedError: Unsupported RASP "
                 "expressions:"),
    (RAISES, "failed: AttributeError: module 'tracr.rasp.rasp' has no attribute 'Nope'"),
    (NOT_AN_SOP, "program(rasp) returned a int, not an SOp"),
    (NUMERICAL, "its output SOp is numerical; a challenge needs a categorical output"),
    (INEXACT, "Tracr's compiled model agrees with the RASP program on 94.4444% of positions, "
              "not all (e.g. on ['a', 'a', 'b', 'a']: the program gives [True, True, True, "
              "True], the model [True, True, False, True]): Tracr compiled it inexactly"),
    (UNDEFINED, "gives no value (None: an Aggregate that selects nothing, with no default) "
                "at position 0 of ['a', 'a', 'a', 'a']"),
    (SEVERAL, "fails on ['a', 'a', 'a', 'a']: ValueError: cannot average non-numbers"),
], ids=["no-compile", "raises", "not-an-sop", "numerical", "inexact", "undefined", "several"])
def test_bad_programs_are_refused_in_one_line(tmp_path: Path, dixit: Runner, body: str,
                                              needle: str) -> None:
    path = program(tmp_path, "secret", body)
    res = dixit("challenge", "compile", tmp_path / "out", "--program", path, "--vocab",
                "a,b,c", "--max-seq-len", "4")
    assert res.code == 1, res.out
    assert needle in res.err and res.err.count("\n") == 1, res.err
    assert not (tmp_path / "out").exists()


def test_the_converted_model_in_transformer_lens(compiled: tuple[Path, dict]) -> None:
    pytest.importorskip("transformer_lens", reason="needs the lens extra")
    import torch
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    out, _ = compiled
    model = models.load(out)
    hooked = HookedTransformer(HookedTransformerConfig(
        **models.transformer_lens_config(models.load_config(out))))
    loaded = hooked.load_state_dict(model.state_dict(), strict=False)
    assert not loaded.unexpected_keys
    x = domains.parse("tokens:3x5").all()
    with torch.no_grad():
        theirs = hooked(model.tokens(x))
    assert torch.allclose(theirs[:, 1:], models.logits(model, x), atol=1e-3)


def test_a_league_on_a_compiled_challenge_and_its_learned_twin(
        compiled: tuple[Path, dict], tmp_path: Path, dixit: Runner) -> None:
    out, _ = compiled
    with scoped_env(tmp_path):
        league = make_league(tmp_path, dixit, ("alice", "bob", "carol", "dave"))
        dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by",
                 "+2h")
        dixit.ok("-C", league.clone("alice"), "propose", "--team", "alice", out)
        # the learned twin: the compiled challenge's labeler, trained into a fresh model
        twin = tmp_path / "twin"
        summary = dixit.ok("challenge", "new", twin, "--labeler", out / "labeler.py",
                           "--domain", "tokens:3x5", "--output", "sequence:3", "--arch",
                           "transformer", "--set", "causal=false", "--set", "d_model=32",
                           "--heads", "4", "--d-mlp", "64", "--steps", "300", "--json").json()
        assert summary["train_accuracy"] > 0.5
        dixit.ok("-C", league.clone("bob"), "propose", "--team", "bob", twin)
        right, wrong = program(tmp_path, "right", RIGHT), program(tmp_path, "wrong", WRONG)
        for solver, target, prog in [("carol", "alice", right), ("dave", "alice", wrong),
                                     ("carol", "bob", right)]:
            dixit.ok("-C", league.clone(solver), "submit", "--team", solver, "--challenge",
                     target, prog)
        results = dixit.ok("-C", league.root, "score", "--force", "--json").json()
        chs = {c["proposer"]: c for c in results["challenges"]}
        alice = chs["alice"]
        subs = {s["team"]: s for s in alice["submissions"]}
        assert alice["model_agreement"] == 1.0 and alice["output"] == "sequence:3"
        assert subs["carol"]["score"] == 1.0 and subs["carol"]["solved"]
        assert subs["dave"]["score"] < 0.5 and not subs["dave"]["solved"]
        assert alice["solved_by"] == ["carol"]
        assert chs["bob"]["solved_by"] == ["carol"]
        # the reveal is the RASP program itself
        reveal = league.root / "rounds" / "001" / "reveals" / "alice" / "labeler.py"
        assert "def program(rasp):" in reveal.read_text()
        rep = dixit.ok("-C", league.root, "verify", "--json").json()
        assert rep["ok"], rep["problems"]
