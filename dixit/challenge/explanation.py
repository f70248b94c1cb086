"""An explanation on a solver's disk, read and checked before ``dixit submit`` seals it.

One file: Markdown (``.md``) or a Jupyter notebook (``.ipynb``), within the rulebook's cap for
its format (``dixit.rules.explanations``), UTF-8, and for a notebook valid per
``nbformat.validate`` (nbformat 4; older notebooks are converted to check them, and sealed as
written). Nothing in it is ever run. nbformat is the ``notebooks`` extra, imported only here
and only for a notebook: a Markdown explanation needs nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dixit.errors import ChallengeError, MissingExtraError
from dixit.ledger.fsutil import read_regular
from dixit.rules import explanations as rules
from dixit.rules.explanations import ExplanationRules

NOTEBOOKS_EXTRA = "pip install 'dixit[notebooks]'"


def read_explanation(path: Path, caps: ExplanationRules) -> tuple[str, bytes]:
    """The explanation at ``path`` as (format, exact bytes); ChallengeError (one line) when it
    is not one a submission may seal."""
    fmt = rules.format_of(path.name)
    if fmt is None:
        what = repr(path.suffix) if path.suffix else "a file without a suffix"
        raise ChallengeError(f"explanation {path}: an explanation is a Markdown (.md) or "
                             f"Jupyter notebook (.ipynb) file, not {what}")
    cap, _key = caps.cap(fmt)
    try:
        data = read_regular(path.parent, path.name, cap)
    except FileNotFoundError:
        raise ChallengeError(f"explanation {path} not found") from None
    except OSError as exc:
        problem = exc.strerror or str(exc)
        if path.is_file() and not path.is_symlink():
            size = path.stat().st_size
            problem = rules.check_size(caps, fmt, size) or problem
        raise ChallengeError(f"explanation {path}: {problem}") from None
    size_problem = rules.check_size(caps, fmt, len(data))
    if size_problem is not None:
        raise ChallengeError(f"explanation {path}: {size_problem}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ChallengeError(f"explanation {path} is not UTF-8 text") from None
    if fmt == rules.NOTEBOOK:
        check_notebook(text, f"explanation {path}")
    return fmt, data


def check_notebook(text: str, what: str) -> dict[str, Any]:
    """``text`` parsed as a notebook that ``nbformat.validate`` accepts (as nbformat 4)."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ChallengeError(f"{what} is not a Jupyter notebook: not JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("cells", []), list):
        raise ChallengeError(f"{what} is not a Jupyter notebook: no JSON object with cells")
    nbformat = _nbformat()
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # nbformat raises several kinds for a bad notebook
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ChallengeError(f"{what} is not a valid Jupyter notebook (nbformat.validate: "
                             f"{first})") from None
    return dict(nb)


def _nbformat() -> Any:
    try:
        import nbformat
    except ImportError:
        raise MissingExtraError("a notebook explanation is checked with nbformat, which is not "
                                f"installed; install the notebooks extra: {NOTEBOOKS_EXTRA}"
                                ) from None
    return nbformat
