"""Which picture shows a challenge, and what it shows: ``dixit show`` and the results site.

A challenge's figure compares the outputs of its labeler (the truth), its published model and
its submitted programs over a domain, each read a block of rows at a time (``Source``), with
the challenge's reference: the labeler, or for an ``emulate`` challenge the published model.
The picture follows from the domain and the shape of the outputs (``choose``):

- ``positions``: outputs per position of a token sequence (``sequence:C``, or a per-position
  ``distribution:C``): agreement of the class ids per position, and for a distribution the
  mean KL per position;
- ``maps``: a 2-D grid domain: label maps (the argmax of a distribution);
- ``images``: a dataset whose inputs are images (H x W, or with 1 or 3 channels): 24 sample
  inputs with every label, mistakes first;
- ``classes``: anything else: agreement per class of the reference.

Agreement here is the judges' (``dixit.rules.metrics``): matching class ids over every
position, and KL(reference || output) with each side read as logits or probabilities as the
close reads it (the model's are logits). Nothing here runs a labeler or a program: the caller
hands their outputs over (replayed in the sandbox, or a proposer's own labeler).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from dixit.data.domains import Domain
from dixit.errors import ChallengeError
from dixit.rules import metrics
from dixit.rules.outputs import Output
from dixit.views import pictures

if TYPE_CHECKING:
    import numpy as np

Block = Callable[[int, int], "np.ndarray"]  # outputs on rows [start, stop)
Role = Literal["labeler", "model", "program"]
Picture = Literal["maps", "images", "positions", "classes"]
ROWS = 4096
SAMPLES = 24        # sample inputs of an image grid
MAX_BARS = 20       # classes of a per-class chart (the most frequent)


@dataclass(frozen=True)
class Source:
    """The outputs of one labeler, model or program; ``read`` None: it has none (``why``)."""

    title: str      # "labeler (the truth)", "published model", "bob's program"
    short: str      # "truth", "model", "bob": an image's label lines
    role: Role
    read: Block | None
    why: str = ""
    drawn: bool = True  # False: only named in messages (not revealed yet), never a blank panel

    @classmethod
    def array(cls, title: str, short: str, role: Role, values: np.ndarray | None,
              why: str = "", drawn: bool = True) -> Source:
        return cls(title, short, role, None if values is None else
                   (lambda a, b, v=values: v[a:b]), why, drawn)


@dataclass
class Drawn:
    picture: Picture
    series: list[dict[str, Any]]  # {"title", "agreement", "kl", "against", "error"}
    note: str


def image_shape(shape: tuple[int, ...]) -> bool:
    """Whether one input of this shape is an image: (H, W), or (H, W)/(C, H, W) with C 1 or 3."""
    if len(shape) == 2:
        return min(shape) >= 2
    if len(shape) == 3:
        return (shape[0] in (1, 3) and min(shape[1:]) >= 2) or \
            (shape[2] in (1, 3) and min(shape[:2]) >= 2)
    return False


def choose(domain: Domain, per_position: bool) -> Picture:
    """The picture of a challenge on ``domain``; ``per_position``: outputs are (N, L[, C])."""
    if per_position:
        return "positions"
    if domain.is_grid2d:
        return "maps"
    if domain.kind == "dataset" and image_shape(tuple(domain.input_shape)):
        return "images"
    return "classes"


def _ids(a: np.ndarray) -> np.ndarray:
    import numpy as np

    a = np.asarray(a)
    return a.argmax(axis=-1) if a.dtype.kind == "f" else a.astype(np.int64)


def _side(source: Source, output: Output) -> str:
    return "logits" if source.role == "model" else output.side


def draw(domain: Domain, output: Output, path: Path, sources: list[Source], *,
         reference: Role = "labeler", threshold: float | None = None,
         note: str = "") -> Drawn:
    """Compare every source with the ``reference`` source and draw the picture into ``path``.

    A source without outputs is drawn blank (maps) or named in the note; without the
    reference nothing is compared, and a chart that only compares (positions, classes) is
    refused with a ChallengeError saying so."""
    ref = next((s for s in sources if s.role == reference and s.read is not None), None)
    ref_name = "the labeler" if reference == "labeler" else "the published model"
    absent = [s for s in sources if not s.drawn]
    sources = [s for s in sources if s.drawn]
    usable = [s for s in sources if s.read is not None]
    if not usable:
        raise ChallengeError("nothing to draw: " + "; ".join(
            f"{s.title}: {s.why or 'no outputs'}" for s in [*sources, *absent]))
    size = domain.size
    try:
        first = _ids((ref or usable[0]).read(0, min(ROWS, size)))  # type: ignore[misc]
    except Exception as exc:
        raise ChallengeError(f"{(ref or usable[0]).title} gives no outputs here: "
                             f"{exc}".splitlines()[0]) from None
    picture = choose(domain, first.ndim == 2)
    notes = [note] if note else []
    notes += [f"{s.title}: {(s.why or 'no outputs').splitlines()[0][:200]}."
              for s in sources if s.read is None and picture != "maps"]
    if picture in ("positions", "classes") and ref is None:
        why = "; ".join(f"{s.title}: {s.why or 'no outputs'}" for s in [*sources, *absent]
                        if s.role == reference) or "not given"
        raise ChallengeError(f"a {picture} chart compares outputs with {ref_name}, whose "
                             f"outputs are not available ({why})")
    if picture == "positions":
        assert ref is not None
        series = _positions(domain, output, path, sources, ref, ref_name, threshold, notes)
    else:
        ids, errors = _all_ids(sources, size, ref)
        if picture == "maps":
            series = _maps(domain, output, path, sources, ids, errors, ref, ref_name, notes)
        elif picture == "images":
            series = _images(domain, path, sources, ids, errors, ref, ref_name, notes)
        else:
            assert ref is not None
            series = _classes(path, sources, ids, errors, ref, ref_name, notes)
    return Drawn(picture, series, " ".join(notes))


def _all_ids(sources: list[Source], size: int, ref: Source | None
             ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Class ids of every source over every row (one per input), and why a source has none."""
    import numpy as np

    ids: dict[str, np.ndarray] = {}
    errors: dict[str, str] = {}
    for s in sources:
        if s.read is None:
            errors[s.title] = s.why or "no outputs"
            continue
        try:
            blocks = [_ids(s.read(a, min(a + ROWS, size))) for a in range(0, size, ROWS)]
            got = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.int64)
        except Exception as exc:  # a model that cannot run on these inputs
            errors[s.title] = f"could not be computed: {exc}".splitlines()[0][:200]
            continue
        if got.shape != (size,):
            errors[s.title] = f"outputs of shape {got.shape}, not one label per input"
            continue
        ids[s.title] = got
    if ref is not None and ref.title in errors:
        ids.clear()  # nothing to compare with: the caller's reference failed here
    return ids, errors


def _row(s: Source, agreement: float | None, against: str | None, error: str | None,
         kl: float | None = None) -> dict[str, Any]:
    return {"title": s.title, "agreement": None if agreement is None else round(agreement, 6),
            "kl": None if kl is None else round(kl, 6), "against": against, "error": error}


def _compare(sources: list[Source], ids: dict[str, np.ndarray], errors: dict[str, str],
             ref: Source | None) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """Agreement of every source with the reference, and its mask of disagreeing inputs."""
    rows, wrong = [], {}
    truth = ids.get(ref.title) if ref is not None else None
    for s in sources:
        if s.title not in ids:
            rows.append(_row(s, None, None, errors.get(s.title, s.why or "no outputs")))
        elif truth is None or ref is None:
            rows.append(_row(s, None, None, None))
        else:
            bad = ids[s.title] != truth
            wrong[s.title] = bad
            rows.append(_row(s, 1.0 - float(bad.mean()) if len(bad) else 0.0, ref.title, None))
    return rows, wrong


def _classes_of(output: Output, ids: dict[str, np.ndarray]) -> int:
    top = max((int(v.max()) for v in ids.values() if len(v)), default=1)
    return max(output.classes, top + 1, 2)


def _maps(domain: Domain, output: Output, path: Path, sources: list[Source],
          ids: dict[str, np.ndarray], errors: dict[str, str], ref: Source | None,
          ref_name: str, notes: list[str]) -> list[dict[str, Any]]:
    rows, wrong = _compare(sources, ids, errors, ref)
    panels = []
    for s, row in zip(sources, rows, strict=True):
        labels = ids.get(s.title)
        if labels is None:
            panels.append(pictures.Panel(s.title, None, row["error"] or ""))
            continue
        if ref is not None and s.title == ref.title:
            sub = "the reference"
        elif s.title in wrong:
            sub = f"{row['agreement']:.2%} agree, {int(wrong[s.title].sum())} red"
        else:
            sub = f"{float((labels != 0).mean()):.2%} labelled non-zero"
        panels.append(pictures.Panel(s.title, labels, "", None if ref is not None
                                     and s.title == ref.title else wrong.get(s.title), sub))
    pictures.maps(panels, tuple(domain.dims), _classes_of(output, ids), path,
                  note=" ".join(notes) or None, reference=ref_name)
    return rows


def samples(wrong: np.ndarray, count: int = SAMPLES) -> list[int]:
    """Up to ``count`` rows, half of them (or as many as there are) among the rows some
    source gets wrong, the rest spread evenly over the others; in row order."""
    import numpy as np

    bad, good = np.flatnonzero(wrong), np.flatnonzero(~wrong)
    take_bad = min(len(bad), count // 2 if len(good) >= count - count // 2 else count)
    take_good = min(len(good), count - take_bad)
    take_bad = min(len(bad), count - take_good)

    def spread(rows: np.ndarray, k: int) -> list[int]:
        if k <= 0:
            return []
        return [int(rows[i]) for i in np.linspace(0, len(rows) - 1, k).round().astype(int)]

    return sorted(set(spread(bad, take_bad) + spread(good, take_good)))


def _image(x: np.ndarray) -> np.ndarray:
    """One input as (H, W) or (H, W, 3)."""
    if x.ndim == 3:
        if x.shape[0] in (1, 3) and x.shape[-1] not in (1, 3):
            x = x.transpose(1, 2, 0)
        if x.shape[-1] == 1:
            x = x[..., 0]
    return x


def _images(domain: Domain, path: Path, sources: list[Source], ids: dict[str, np.ndarray],
            errors: dict[str, str], ref: Source | None, ref_name: str,
            notes: list[str]) -> list[dict[str, Any]]:
    import numpy as np

    rows, wrong = _compare(sources, ids, errors, ref)
    any_wrong = np.zeros(domain.size, dtype=bool)
    for mask in wrong.values():
        any_wrong |= mask
    picked = samples(any_wrong)
    inputs = domain.all()
    cells = []
    for i in picked:
        lines = [(f"{s.short}: {int(ids[s.title][i])}",
                  bool(s.title in wrong and wrong[s.title][i])) for s in sources
                 if s.title in ids]
        cells.append(pictures.Cell(_image(inputs[i].numpy()), i, lines))
    summary = ", ".join(f"{r['title']} {r['agreement']:.2%}" for r in rows
                        if r["agreement"] is not None and (ref is None
                                                           or r["title"] != ref.title))
    title = (f"{len(picked)} of {domain.size} inputs (up to half of them inputs some label "
             f"gets wrong); agreement with {ref_name}: {summary}" if summary else
             f"{len(picked)} of {domain.size} inputs and their labels")
    pictures.images(cells, path, title=title, note=" ".join(notes) or None)
    return rows


def _classes(path: Path, sources: list[Source], ids: dict[str, np.ndarray],
             errors: dict[str, str], ref: Source, ref_name: str,
             notes: list[str]) -> list[dict[str, Any]]:
    import numpy as np

    rows, wrong = _compare(sources, ids, errors, ref)
    truth = ids.get(ref.title)
    if truth is None:
        raise ChallengeError(f"{ref.title} has no labels here: {errors.get(ref.title)}")
    values, counts = np.unique(truth, return_counts=True)
    order = np.argsort(-counts, kind="stable")[:MAX_BARS]
    shown = sorted(int(values[i]) for i in order)
    if len(values) > MAX_BARS:
        notes.append(f"The {MAX_BARS} most frequent of {len(values)} classes are shown.")
    bars = []
    for s, row in zip(sources, rows, strict=True):
        if s.title not in wrong or s.title == ref.title:
            continue
        per = [1.0 - float(wrong[s.title][truth == c].mean()) for c in shown]
        bars.append(pictures.Line(f"{s.title}: {row['agreement']:.2%}", np.array(per),
                                  s.role == "model"))
    names = [f"{c}\n(n={int(counts[values == c][0])})" for c in shown]
    pictures.classes(bars, names, path, reference=ref_name, note=" ".join(notes) or None,
                     title=f"agreement with {ref_name} per class, over {len(truth)} inputs")
    return rows


def _positions(domain: Domain, output: Output, path: Path, sources: list[Source], ref: Source,
               ref_name: str, threshold: float | None, notes: list[str]
               ) -> list[dict[str, Any]]:
    """Per-position agreement (and KL for a distribution), streamed block by block."""
    import numpy as np

    size = domain.size
    others = [s for s in sources if s.read is not None and s is not ref]
    match: dict[str, np.ndarray] = {}
    kls: dict[str, list[Any]] = {}
    errors: dict[str, str] = {}
    length = 0
    dist = False
    assert ref.read is not None
    for a in range(0, size, ROWS):
        b = min(a + ROWS, size)
        r = np.asarray(ref.read(a, b))
        rid = _ids(r)
        length = rid.shape[1]
        dist = r.dtype.kind == "f" and r.ndim == 3
        for s in others:
            if s.title in errors:
                continue
            assert s.read is not None
            try:
                o = np.asarray(s.read(a, b))
                oid = _ids(o)
                if oid.shape != rid.shape:
                    raise ValueError(f"outputs of shape {oid.shape}, not {rid.shape}")
                match[s.title] = match.get(s.title, 0) + (oid == rid).sum(axis=0)
                if dist and o.ndim == 3:
                    acc = kls.setdefault(s.title, [metrics.metric(
                        "kl", reference=_side(ref, output), submission=_side(s, output))
                        for _ in range(length)])
                    for pos in range(length):
                        acc[pos].update(r[:, pos, :], o[:, pos, :])
            except Exception as exc:  # e.g. a model that cannot run, outputs that do not fit
                errors[s.title] = f"cannot be compared: {exc}".splitlines()[0][:200]
                match.pop(s.title, None)
                kls.pop(s.title, None)
    agreement, kl, rows = [], [], []
    for s in sources:
        if s is ref:
            rows.append(_row(s, 1.0, ref.title, None, 0.0 if dist else None))
        elif s.read is None or s.title in errors:
            err = errors.get(s.title) or s.why or "no outputs"
            rows.append(_row(s, None, None, err))
            if s.read is not None:
                notes.append(f"{s.title}: {err}.")
        else:
            per = match[s.title] / max(size, 1)
            total = float(per.mean()) if length else 0.0
            mean_kl = None
            if s.title in kls:
                curve = np.array([min(m.result(), 1e6) for m in kls[s.title]])
                mean_kl = float(curve.mean())
                kl.append(pictures.Line(f"{s.title}: {mean_kl:.4g} nats", curve,
                                        s.role == "model"))
            agreement.append(pictures.Line(f"{s.title}: {total:.2%}", per, s.role == "model"))
            rows.append(_row(s, total, ref.title, None, mean_kl))
    if not agreement:
        raise ChallengeError(f"nothing to compare with {ref_name}: " + "; ".join(
            f"{r['title']}: {r['error']}" for r in rows if r["error"]))
    title = f"{size} inputs x {length} positions, compared with {ref_name}"
    pictures.positions(agreement, path, title=title, reference=ref_name,
                       kl=kl or None, threshold=threshold, note=" ".join(notes) or None)
    return rows
