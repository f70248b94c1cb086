"""The labeler of a Tracr-compiled challenge: a RASP program made a self-contained ``label(x)``.

A RASP program file defines ``program(rasp)``, which builds its output SOp from the module it
is given: ``tracr.rasp.rasp`` when compiling, dixit's own pure-Python interpreter
(``dixit.challenge.rasp``) in the labeler. The labeler written here holds the program's
source verbatim (what the reveal shows and solvers must recover), the vocabulary (token id i
is ``VOCAB[i]``), the output classes (the label is the index of the program's value in
``CLASSES``, the order of the compiled model's output space) and the interpreter, so the
close and ``dixit verify`` replay it in the sandbox with neither JAX nor tracr.

Pure: no torch, no tracr. ``dixit.challenge.tracr_compile`` calls it once the program compiled.
"""

from __future__ import annotations

import ast
import math
import sys
from pathlib import Path
from typing import Any

from dixit.errors import ChallengeError

# the program's own imports: the standard library only (the sandbox has nothing else a RASP
# program could need, and tracr is exactly what the labeler must not need)
_ALLOWED_IMPORTS = frozenset(sys.stdlib_module_names) - {"__future__"}


def check_program_source(text: str, path: Path) -> None:
    """Refuse, in one line, a RASP program file the labeler could not run as it is: not
    Python, no ``program`` function, or an import from outside the standard library."""
    try:
        tree = ast.parse(text, str(path))
    except (SyntaxError, ValueError) as exc:
        raise ChallengeError(f"RASP program {path} is not valid Python: {exc}") from None
    for node in ast.walk(tree):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or "."] if isinstance(node, ast.ImportFrom) else [])
        for name in names:
            top = name.split(".")[0]
            if (isinstance(node, ast.ImportFrom) and node.level) or top not in _ALLOWED_IMPORTS:
                raise ChallengeError(
                    f"RASP program {path} imports {name!r} (line {node.lineno}): a program "
                    "builds its SOp from the `rasp` module program(rasp) is given, and may "
                    "import only from the standard library (and no __future__ import: the "
                    "labeler holds the program below a header of its own)")
    if not any(isinstance(n, ast.FunctionDef) and n.name == "program" for n in tree.body):
        raise ChallengeError(f"RASP program {path} defines no program(rasp) function "
                             "(it returns the program's output SOp)")


def literal(value: Any, what: str) -> str:
    """``repr(value)`` for a vocabulary or output value that reads back as itself."""
    ok = isinstance(value, (str, int, bool)) or (isinstance(value, float)
                                                 and math.isfinite(value))
    text = repr(value)
    if not ok or ast.literal_eval(text) != value or type(ast.literal_eval(text)) is not type(
            value):
        raise ChallengeError(f"{what} {value!r} is not a string, integer, boolean or finite "
                             "number: a labeler cannot hold it")
    return text


def interpreter_source() -> str:
    text = (Path(__file__).parent / "rasp.py").read_text(encoding="utf-8")
    if "'''" in text:  # the labeler holds it in r'''...'''
        raise AssertionError("dixit/challenge/rasp.py must not contain triple single quotes")
    return text


_TEMPLATE = '''"""The labeler of a Tracr-compiled challenge (`dixit challenge compile`): the
RASP program below, evaluated by a small pure-Python RASP interpreter (no JAX, no tracr).

An input is a row of token ids; id i is VOCAB[i]. The label at each position is the index in
CLASSES of the program's value there (the order of the compiled model's output space).
"""

import types

VOCAB = [{vocab}]
CLASSES = [{classes}]

# ---- the RASP program ({name}) ----
{program}
# ---- end of the RASP program ----

_INTERPRETER = r\'\'\'{interpreter}\'\'\'
_rasp = types.ModuleType("rasp")
exec(compile(_INTERPRETER, "dixit/challenge/rasp.py", "exec"), _rasp.__dict__)
_CLASS_IDS = {{(type(v).__name__, v): i for i, v in enumerate(CLASSES)}}
_built = []


def label(x):
    if not _built:
        _built.append(program(_rasp))
    out = []
    for row in x.tolist():
        values = _rasp.evaluate(_built[0], [VOCAB[t] for t in row])
        ids = [_CLASS_IDS.get((type(v).__name__, v)) for v in values]
        if None in ids:
            pos = ids.index(None)
            raise ValueError(f"the program's value {{values[pos]!r}} at position {{pos}} "
                             "is none of the compiled output values")
        out.append(ids)
    return out
'''


def labeler_source(program: str, name: str, vocab: list[Any], classes: list[Any]) -> bytes:
    """The labeler.py of a compiled challenge: ``program`` (the RASP file's source, ``name``
    its file name), ``vocab`` (token id -> value) and ``classes`` (class id -> value)."""
    vocab_text = ", ".join(literal(v, "vocabulary value") for v in vocab)
    class_text = ", ".join(literal(v, "output value") for v in classes)
    text = _TEMPLATE.format(vocab=vocab_text, classes=class_text, name=name.replace("\n", " "),
                            program=program.rstrip("\n"), interpreter=interpreter_source())
    return text.encode("utf-8")
