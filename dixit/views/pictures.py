"""Label maps of 2-D grid domains as PNG: ``dixit show`` and the results site's pictures.

A map colours every point (i, j) of a ``grid:PxQ`` domain by its label, i across and j up;
a point that disagrees with the reference (the labeler, the truth) is red, and each title
gives the agreement. ``render`` draws panels side by side; ``show`` gathers the panels of one
challenge:

- a local challenge folder (the proposer's own): its labeler runs in this process
  (``challenge.run_labeler_locally``), as training ran it;
- a ledger challenge: its labeler and a submitted program are hostile code, so they are used
  only once revealed (a checked reveal, or after the close) and only through the sandboxed
  replay engine (``dixit.replay``), exactly as ``dixit score`` runs them. Before the reveal
  the model is drawn alone, with a note.

The model runs through ``dixit.models`` (strict safetensors, never unpickled). matplotlib is
imported only when drawing, on the Agg canvas, without pyplot's global state; the PNG is written
atomically.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from dixit import challenge, models
from dixit.data import domains
from dixit.errors import ChallengeError, DixitError, EntryError, MissingExtraError, UsageError
from dixit.ledger import entries, layout
from dixit.ledger.fsutil import atomic_write

if TYPE_CHECKING:
    import numpy as np

    from dixit.views.explanations import Explanation
    from dixit.views.inspection import Target

Warn = Callable[[str], None]

PANEL_WIDTH = 2.6   # inches per panel; a figure is exactly n panels wide (no tight bbox)
PANEL_HEIGHT = 3.0
NOTE_LINE = 0.17    # inches per line of the note under the panels
DPI = 90
COLORS = ((0.96, 0.96, 0.94), (0.16, 0.33, 0.60), (0.86, 0.12, 0.12))  # 0, 1, disagrees



class Panel(NamedTuple):
    title: str
    labels: np.ndarray | None        # uint8 0/1 over the domain, None: drawn blank with ``why``
    why: str = ""
    reference: np.ndarray | None = None  # compared against instead of the figure's truth


def can_draw() -> str | None:
    """None when pictures can be drawn here; else why not, naming the extra to install."""
    try:
        _matplotlib()
    except MissingExtraError as exc:
        return str(exc)
    return None


def _matplotlib() -> tuple[Any, Any]:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingExtraError("drawing label maps needs matplotlib, which is not installed; "
                                "install the plots extra: pip install 'dixit[plots]'") from None
    return Figure, FigureCanvasAgg


def agreement(labels: np.ndarray, reference: np.ndarray) -> float:
    return float((labels == reference).mean()) if len(labels) else 0.0


def render(panels: Sequence[Panel], truth: np.ndarray | None, dims: tuple[int, ...],
           path: Path, *, note: str | None = None) -> None:
    """Draw ``panels`` side by side over the ``dims`` = (P, Q) grid and write ``path`` (PNG).

    Every panel is compared with its ``reference``, else with ``truth``; without either its
    labels are drawn as they are."""
    figure_cls, canvas_cls = _matplotlib()
    import numpy as np

    p, q = dims
    n = len(panels)
    width = n * PANEL_WIDTH
    lines = textwrap.wrap(note, max(30, int(width * 17))) if note else []
    note_h = NOTE_LINE * len(lines) + (0.08 if lines else 0.0)
    height = PANEL_HEIGHT + note_h
    fig = figure_cls(figsize=(width, height), dpi=DPI)
    canvas_cls(fig)
    fig.subplots_adjust(left=0.06 / width, right=1 - 0.06 / width, top=1 - 0.5 / height,
                        bottom=(0.06 + note_h) / height, wspace=0.1)
    colors = np.array(COLORS)
    for ax, panel in zip(fig.subplots(1, n, squeeze=False)[0], panels, strict=True):
        ax.set_xticks([])
        ax.set_yticks([])
        labels, ref = panel.labels, panel.reference if panel.reference is not None else truth
        if labels is None:  # a blank map of the same shape, with the reason in it
            ax.imshow(np.full((q, p, 3), 0.92), origin="lower")
            reason = "\n".join(textwrap.wrap((panel.why.splitlines() or ["no labels"])[0][:150],
                                             26))
            ax.text(0.5, 0.5, reason, ha="center", va="center", fontsize=7,
                    transform=ax.transAxes, parse_math=False)
            ax.set_title(f"{panel.title}\nno labels", fontsize=9, parse_math=False)
            continue
        index = labels.astype(np.int64).copy()
        if ref is None:
            subtitle = f"{float(labels.mean()):.2%} labelled 1"
        else:
            wrong = labels != ref
            index[wrong] = 2
            subtitle = f"{1.0 - float(wrong.mean()):.2%} agree, {int(wrong.sum())} red"
        # Row-major grid order: point (i, j) is index i*q + j; show i across, j up.
        ax.imshow(colors[index.reshape(p, q).T], origin="lower", interpolation="nearest")
        ax.set_title(f"{panel.title}\n{subtitle}", fontsize=9, parse_math=False)
    if lines:
        fig.text(0.5, 0.04 / height, "\n".join(lines), ha="center", va="bottom", fontsize=8,
                 color="#5b6570", parse_math=False)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    atomic_write(path, buf.getvalue(), mode=0o644)  # 0644: site pictures are public


# -- dixit show ---------------------------------------------------------------------------------


@dataclass
class Shown:
    out: Path
    target: Target
    domain: str
    panels: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # with --submission: that team's explanation (``views.explanations``), None if it has none
    explanation: Explanation | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "source": self.target.source, "team": self.target.team,
                "round": self.target.round.number if self.target.round else None,
                "kind": self.target.kind, "domain": self.domain, "panels": self.panels,
                "notes": self.notes,
                "explanation": self.explanation.as_dict() if self.explanation else None}


def show(name: str, out: Path, *, root: Path | None = None, round_no: int | None = None,
         submission: str | None = None, allow_weak: bool = False,
         warn: Warn | None = None) -> Shown:
    """Draw the label maps of the challenge ``name`` (see ``inspection.resolve``) into ``out``."""
    from dixit.views import inspection

    if out.suffix.lower() != ".png":
        raise UsageError(f"-o takes a .png file name, not {out}")
    if out.is_dir():
        raise UsageError(f"{out} is a folder; give a .png file name")
    t = inspection.resolve(name, root=root, round_no=round_no, warn=warn)
    try:
        dom = t.domain()
    except DixitError as exc:
        raise ChallengeError(f"{t.label} has an unusable domain: {exc}") from None
    if not dom.is_grid2d:
        raise ChallengeError(f"show needs a 2-D grid domain (grid:PxQ); {t.label} is on "
                             f"{dom.spec}")
    output = str(t.meta.get("output", "binary"))
    if output != "binary":
        raise ChallengeError(f"show draws binary labels as a map; {t.label}'s output is "
                             f"{output} (see its figures with `dixit inspect`)")
    if submission is not None:
        if t.entry is None:
            raise UsageError("--submission needs a proposed challenge (a team name or a "
                             "ledger challenge folder), not a local folder")
        if t.kind == "flag":
            raise ChallengeError(f"{t.label} is a flag challenge: submissions are strings, "
                                 "not programs, so there is no map to draw")
        entries.check_name(submission, "submission (team name)")
        assert t.state is not None and t.round is not None
        if submission not in t.state.teams:
            t.state.team_key(submission)  # raises the usual one-line unknown-team message
        if (submission, t.entry.team) not in t.round.submissions:
            raise EntryError(f"'{submission}' submitted no program for {t.label}")
    _matplotlib()  # fail before any replay when the extra is missing
    shown = Shown(out=out, target=t, domain=dom.spec)
    if submission is not None and t.state is not None and t.round is not None \
            and t.entry is not None:
        from dixit.views import explanations

        shown.explanation = explanations.of_submission(t.state, t.round, submission,
                                                       t.entry.team)
    model = _model_labels(t, dom)
    truth, sub, sub_why = _secret_labels(t, dom, submission, allow_weak, shown.notes)
    panels: list[Panel] = []
    if truth is not None:
        panels.append(Panel("labeler (the truth)", truth))
    panels.append(Panel("published model" if t.entry else "model", model[0], model[1]))
    if submission is not None and (sub is not None or sub_why):
        # emulate challenges are scored against the model's outputs, so compare with those
        ref = model[0] if t.kind == "emulate" else None
        panels.append(Panel(f"{submission}'s program" + (" (vs the model)" if ref is not None
                                                         else ""), sub, sub_why, ref))
    render(panels, truth, tuple(dom.dims), out, note=" ".join(shown.notes) or None)
    for panel in panels:
        ref = panel.reference if panel.reference is not None else truth
        shown.panels.append({
            "title": panel.title,
            "agreement": None if panel.labels is None or ref is None
            else round(agreement(panel.labels, ref), 6),
            "error": panel.why or None})
    return shown


def _model_labels(t: Target, dom: domains.Domain) -> tuple[np.ndarray | None, str]:
    import torch

    try:
        module = t.load_model()
    except ChallengeError as exc:
        return None, f"cannot load: {exc}"
    preds = torch.cat([models.predict(module, b) for b in dom.batches(8192)])
    return (preds != 0).to(torch.uint8).numpy(), ""


def _secret_labels(t: Target, dom: domains.Domain, submission: str | None, allow_weak: bool,
                   notes: list[str]) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    """(labeler's labels, submission's labels, why the submission has none)."""
    if t.kind == "flag":
        notes.append("A flag challenge's secret is a string, not a labeler: only the model is "
                     "drawn.")
        return None, None, ""
    if t.local is not None:  # the proposer's own code on their own machine, as in training
        import torch

        labels = torch.cat([challenge.run_labeler_locally(t.local.labeler, b)
                            for b in dom.batches()])
        return labels.to(torch.uint8).numpy(), None, ""
    from dixit import replay
    from dixit.league import secrets
    from dixit.replay import reference

    assert t.state is not None and t.round is not None and t.entry is not None
    team = t.entry.team
    opened = secrets.open_secrets(t.state, t.round, None)  # reveals only, each checked to its seal
    keys = {"labeler": (team, layout.SECRET_ITEM)}
    if submission is not None:
        keys["submission"] = (submission, team)
    payloads = {k: opened.payloads.get(v) for k, v in keys.items()}
    if payloads["labeler"] is None:
        why = opened.missing.get((team, layout.SECRET_ITEM), "")
        notes.append(f"{team}'s labeler is not revealed yet"
                     + (f" ({why})" if why and not why.startswith("not revealed") else "")
                     + ": only the model is drawn; labelers are revealed after submit-by.")
    sub_why = ""
    if submission is not None and payloads["submission"] is None:
        notes.append(f"{submission}'s program is not revealed yet.")
    limits, require = reference.replay_limits(t.state.rules, allow_weak)
    sources = {k: v for k, v in payloads.items() if v is not None}
    # nothing revealed: run nothing, so a weak sandbox does not refuse a model-only map
    outcomes = replay.replay_sources(sources, dom, limits, require=require) if sources else {}
    truth = outcomes.get("labeler")
    if truth is not None and truth.labels is None:
        notes.append(f"{team}'s labeler failed in the sandbox: {truth.error}")
    sub = outcomes.get("submission")
    if sub is not None and sub.labels is None:
        sub_why = sub.error or "failed"
    return (truth.labels if truth else None, sub.labels if sub else None, sub_why)
