"""Tracr-compiled challenges without JAX (the default suite): dixit's pure-Python RASP
interpreter, the labeler made from a RASP program (self-contained: it runs with no
site-packages at all), and `dixit challenge compile` refusing bad input in one line before
Tracr is needed, and naming the extra when Tracr is missing. The compiling itself, a league
on a compiled challenge and the comparison with tracr.rasp are in tests/test_tracr.py
(`make test-extras`)."""

from __future__ import annotations

import ast
import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from dixit.challenge import rasp
from dixit.challenge.rasp_labeler import check_program_source, interpreter_source, labeler_source
from dixit.errors import ChallengeError
from tests.conftest import Runner, program

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "rasp"


def _example(name: str):
    ns: dict = {}
    exec(compile((EXAMPLES / name).read_text(), name, "exec"), ns)
    return ns["program"](rasp)


@pytest.mark.parametrize("xs", [list(p) for n in (1, 2, 5) for p in
                                itertools.product("abc", repeat=n)][::7])
def test_examples_evaluate_to_what_they_say(xs: list[str]) -> None:
    assert rasp.evaluate(_example("reverse.py"), xs) == xs[::-1]
    assert rasp.evaluate(_example("histogram.py"), xs) == [xs.count(t) for t in xs]
    nums = [ord(t) - ord("a") + 1 for t in xs]
    assert rasp.evaluate(_example("sort.py"), nums) == sorted(nums)


def test_interpreter_semantics_as_tracr_evaluates() -> None:
    t, i = rasp.tokens, rasp.indices
    xs = [3, 1, 2]
    # operators: a constant makes a Map, an SOp a SequenceMap; reflected ones keep the order
    assert rasp.evaluate(t + 1, xs) == [4, 2, 3]
    assert rasp.evaluate(10 - t, xs) == [7, 9, 8]
    assert rasp.evaluate(t - i, xs) == [3, 0, 0]
    assert rasp.evaluate(t == 1, xs) == [False, True, False]
    assert rasp.evaluate(~(t > 1), xs) == [False, True, False]
    assert rasp.evaluate(rasp.length, xs) == [3, 3, 3]
    assert rasp.evaluate(rasp.LinearSequenceMap(t, i, 2, -1), xs) == [6, 1, 2]
    # predicate(key, query): LT selects the keys smaller than the query
    lt = rasp.Select(t, t, rasp.Comparison.LT)
    assert rasp.evaluate(lt, xs) == [[False, True, True], [False, False, False],
                                     [False, True, False]]
    assert rasp.evaluate(rasp.SelectorWidth(lt), xs) == [2, 0, 1]
    assert rasp.evaluate(rasp.SelectorWidth(~lt), xs) == [1, 3, 2]
    eq = rasp.Select(i, i, rasp.Comparison.EQ)
    assert rasp.evaluate(rasp.SelectorWidth(lt | eq), xs) == [3, 1, 2]
    assert rasp.evaluate(rasp.SelectorWidth(lt & eq), xs) == [0, 0, 0]
    # an aggregate: the mean of what is selected, the value itself if one, the default if none
    num = rasp.numerical(rasp.Aggregate(lt, t, default=0))
    assert rasp.evaluate(num, xs) == [1.5, 0, 1]
    assert rasp.is_numerical(num) and rasp.is_categorical(t) and num.name == "aggregate"
    cat = rasp.Aggregate(lt, t)
    assert rasp.evaluate(cat, xs)[1] is None
    # None propagates through maps; a named copy leaves the original as it was
    assert rasp.evaluate(rasp.Map(lambda v: v * 2, cat), xs) == [3.0, None, 2]
    named = t.named("input")
    assert named.name == "input" and t.name == "tokens"
    assert rasp.evaluate(named, xs) == xs
    # a Map of a Map is one function, as Tracr folds it
    twice = rasp.Map(lambda v: v + 1, rasp.Map(lambda v: v * 10, t))
    assert twice.inner is t and rasp.evaluate(twice, xs) == [31, 11, 21]
    assert rasp.evaluate(rasp.Full(7), xs) == [7, 7, 7]
    with pytest.raises(ValueError, match="constant of length 2 for an input of length 3"):
        rasp.evaluate(rasp.ConstantSOp([1, 2]), xs)
    with pytest.raises(ValueError, match="query is None"):
        rasp.evaluate(rasp.Select(t, cat, rasp.Comparison.EQ), xs)


def test_a_shared_sub_expression_is_evaluated_once() -> None:
    calls = []
    shared = rasp.Map(lambda v: calls.append(v) or v, rasp.tokens)
    out = shared
    for _ in range(30):  # 2^30 paths through the graph, 31 nodes
        out = rasp.SequenceMap(lambda a, b: a, out, out)
    assert rasp.evaluate(out, [1, 2]) == [1, 2] and calls == [1, 2]


def test_the_interpreter_embeds_in_a_labeler() -> None:
    text = interpreter_source()
    assert "'''" not in text
    imports = {a.name for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Import)
               for a in n.names}
    imports |= {n.module for n in ast.walk(ast.parse(text)) if isinstance(n, ast.ImportFrom)}
    assert imports == {"__future__", "enum", "collections.abc", "typing"}, imports


def _labels_without_site_packages(labeler: Path, rows: list[list[int]]) -> list[list[int]]:
    """Run the labeler in ``python -I -S``: no site-packages, so no torch, numpy, tracr or
    dixit; ``x`` is a stand-in with ``tolist()``, all a labeler of token ids reads."""
    code = ("import importlib.util, json, sys\n"
            "spec = importlib.util.spec_from_file_location('lab', sys.argv[1])\n"
            "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
            "class X:\n"
            "    def tolist(self): return json.loads(sys.argv[2])\n"
            "print(json.dumps(mod.label(X())))\n"
            "assert not {'torch', 'numpy', 'tracr', 'dixit'} & set(sys.modules), sys.modules\n")
    res = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(labeler),
                          json.dumps(rows)], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_the_labeler_is_the_program_and_runs_with_nothing_installed(tmp_path: Path) -> None:
    source = (EXAMPLES / "reverse.py").read_text()
    lab = tmp_path / "labeler.py"
    lab.write_bytes(labeler_source(source, "reverse.py", ["a", "b", "c"], ["c", "b", "a"]))
    text = lab.read_text()
    assert source.rstrip("\n") in text  # the reveal shows the program as written
    assert "VOCAB = ['a', 'b', 'c']" in text and "CLASSES = ['c', 'b', 'a']" in text
    rows = [[0, 1, 2, 2], [1, 1, 0, 2]]
    # reversed, then each value's index in CLASSES (c=0, b=1, a=2)
    assert _labels_without_site_packages(lab, rows) == [[0, 0, 1, 2], [0, 2, 1, 1]]
    # in-process, as training runs it, through the torch tensor a domain gives
    import torch

    from dixit.challenge import run_labeler_locally
    from dixit.rules import scheme
    from dixit.rules.rulebook import Rulebook

    out = run_labeler_locally(lab, torch.tensor(rows),
                              scheme.of({"output": "sequence:3"}, Rulebook()).output, 4)
    assert out.tolist() == [[0, 0, 1, 2], [0, 2, 1, 1]]


def test_a_value_outside_the_classes_fails_the_labeler(tmp_path: Path) -> None:
    source = (EXAMPLES / "histogram.py").read_text()
    lab = tmp_path / "labeler.py"
    lab.write_bytes(labeler_source(source, "histogram.py", ["a", "b"], [1, 2]))
    assert _labels_without_site_packages(lab, [[0, 1]]) == [[0, 0]]
    code = ("import importlib.util, sys\n"
            "spec = importlib.util.spec_from_file_location('lab', sys.argv[1])\n"
            "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
            "class X:\n"
            "    def tolist(self): return [[0, 0, 0]]\n"
            "mod.label(X())\n")
    res = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(lab)],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 1
    assert ("ValueError: the program's value 3 at position 0 is none of the compiled output "
            "values") in res.stderr


@pytest.mark.parametrize(("body", "needle"), [
    ("def program(rasp)\n    return rasp.tokens\n", "is not valid Python: expected ':'"),
    ("from tracr.rasp import rasp\n\ndef program(r):\n    return rasp.tokens\n",
     "imports 'tracr.rasp' (line 1): a program builds its SOp from the `rasp` module"),
    ("import numpy as np\n\ndef program(rasp):\n    return rasp.tokens\n",
     "imports 'numpy' (line 1)"),
    ("from __future__ import annotations\n\ndef program(rasp):\n    return rasp.tokens\n",
     "imports '__future__' (line 1)"),
    ("from . import helpers\n\ndef program(rasp):\n    return rasp.tokens\n", "imports '.'"),
    ("def make(rasp):\n    return rasp.tokens\n", "defines no program(rasp) function"),
])
def test_bad_rasp_files_are_refused_in_one_line(tmp_path: Path, dixit: Runner, body: str,
                                                needle: str) -> None:
    path = program(tmp_path, "secret", body)
    with pytest.raises(ChallengeError, match=r"^RASP program .*secret\.py ") as info:
        check_program_source(body, path)
    assert needle in str(info.value) and "\n" not in str(info.value)
    # through the CLI: refused before Tracr is needed, so the same line with or without it
    res = dixit("challenge", "compile", tmp_path / "out", "--program", path, "--vocab", "a,b",
                "--max-seq-len", "3")
    assert res.code == 1 and needle in res.err and res.err.count("\n") == 1, res.err
    assert not (tmp_path / "out").exists()
    # stdlib imports are fine
    check_program_source("import math\n\ndef program(rasp):\n    return rasp.tokens\n", path)


@pytest.mark.parametrize(("args", "needle"), [
    (["--vocab", "a,a"], "--vocab 'a,a' names a value twice"),
    (["--vocab", "a,,b"], "--vocab takes values separated by commas"),
    (["--vocab", "a"], "--vocab needs at least two values"),
    (["--vocab", "a,compiler_bos"], "--vocab may not hold 'compiler_bos': it is Tracr's BOS"),
    (["--vocab", "a,b,c,d", "--max-seq-len", "9"],
     "4^9 = 262,144 sequences: a compiled challenge is checked on every one, at most 100,000"),
])
def test_bad_options_are_refused_in_one_line(tmp_path: Path, dixit: Runner, args: list[str],
                                             needle: str) -> None:
    opts = dict(zip(args[::2], args[1::2], strict=True))
    opts.setdefault("--max-seq-len", "3")
    res = dixit("challenge", "compile", tmp_path / "out", "--program", EXAMPLES / "reverse.py",
                *itertools.chain.from_iterable(opts.items()))
    assert res.code == 1 and needle in res.err and res.err.count("\n") == 1, res.err


def test_missing_tracr_names_the_extra(tmp_path: Path) -> None:
    """The real CLI in a subprocess with tracr made unimportable (it may be installed: `make
    bench` installs it), so the message is the one a user without the extra sees."""
    code = ("import sys\nsys.modules['tracr'] = None\n"
            "from dixit.cli import main\nsys.argv[0] = 'dixit'\nmain()\n")
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, "-c", code, "challenge", "compile", str(out),
                          "--program", str(EXAMPLES / "reverse.py"), "--vocab", "a,b,c",
                          "--max-seq-len", "4"], capture_output=True, text=True, cwd=REPO,
                         check=False)
    assert res.returncode == 1, res.stderr
    assert res.stderr == ("error: compiling a RASP program needs Tracr and JAX ('tracr' is not "
                          "installed): install the tracr extra: pip install 'dixit[tracr]'\n")
    assert not out.exists()
