"""``dixit show CHALLENGE -o FILE.png``: one challenge's picture (``dixit.views.figures``).

The outputs compared are gathered here:

- a local challenge folder (the proposer's own): its labeler runs in this process
  (``challenge.run_labeler_locally``), as training ran it;
- a ledger challenge: its labeler and a submitted program are hostile code, so they are used
  only once revealed (a checked reveal, or after the close) and only through the sandboxed
  replay engine (``dixit.replay``), exactly as ``dixit score`` runs them. Before the reveal
  the model is drawn alone, with a note (a chart that only compares is refused).

Everything is drawn over the challenge's public domain; an ``emulate`` challenge (judged on
inputs drawn after submit-by) or one with a sealed held-out set says so in its note (the
results site draws the inputs the close judged). The model runs through ``dixit.models``
(strict safetensors, never unpickled).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dixit import challenge
from dixit.data import domains
from dixit.errors import ChallengeError, DixitError, EntryError, UsageError
from dixit.ledger import entries, layout
from dixit.rules import kinds, outputs
from dixit.views import figures, pictures

if TYPE_CHECKING:
    from dixit.views.explanations import Explanation
    from dixit.views.inspection import Target

Warn = Callable[[str], None]


@dataclass
class Shown:
    out: Path
    target: Target
    domain: str
    picture: str = ""
    panels: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # with --submission: that team's explanation (``views.explanations``), None if it has none
    explanation: Explanation | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "source": self.target.source, "team": self.target.team,
                "round": self.target.round.number if self.target.round else None,
                "kind": self.target.kind, "domain": self.domain, "picture": self.picture,
                "panels": self.panels, "notes": self.notes,
                "explanation": self.explanation.as_dict() if self.explanation else None}


def show(name: str, out: Path, *, root: Path | None = None, round_no: int | None = None,
         submission: str | None = None, allow_weak: bool = False,
         warn: Warn | None = None) -> Shown:
    """Draw the picture of the challenge ``name`` (see ``inspection.resolve``) into ``out``."""
    from dixit.views import inspection

    if out.suffix.lower() != ".png":
        raise UsageError(f"-o takes a .png file name, not {out}")
    if out.is_dir():
        raise UsageError(f"{out} is a folder; give a .png file name")
    t = inspection.resolve(name, root=root, round_no=round_no, warn=warn)
    try:
        dom = t.domain()
        output = outputs.parse(t.meta.get("output", outputs.DEFAULT))
    except DixitError as exc:
        raise ChallengeError(f"{t.label} has an unusable domain or output: {exc}") from None
    if submission is not None:
        if t.entry is None:
            raise UsageError("--submission needs a proposed challenge (a team name or a "
                             "ledger challenge folder), not a local folder")
        if t.kind == "flag":
            raise ChallengeError(f"{t.label} is a flag challenge: submissions are strings, "
                                 "not programs, so there is nothing to draw")
        entries.check_name(submission, "submission (team name)")
        assert t.state is not None and t.round is not None
        if submission not in t.state.teams:
            t.state.team_key(submission)  # raises the usual one-line unknown-team message
        if (submission, t.entry.team) not in t.round.submissions:
            raise EntryError(f"'{submission}' submitted no program for {t.label}")
    pictures._matplotlib()  # fail before any replay when the extra is missing
    shown = Shown(out=out, target=t, domain=dom.spec)
    if submission is not None and t.state is not None and t.round is not None \
            and t.entry is not None:
        from dixit.views import explanations

        shown.explanation = explanations.of_submission(t.state, t.round, submission,
                                                       t.entry.team)
    kind = kinds.get(t.kind) if t.kind in kinds.KINDS else kinds.LABELER
    if kind.judged_on_draw or "heldout" in t.meta:
        shown.notes.append("Drawn over the public inputs; the close judges this challenge on "
                           + ("inputs drawn after submit-by." if kind.judged_on_draw
                              else "its sealed held-out set."))
    model = _model(t, dom, output)
    labeler, *program = _secret(t, dom, output, submission, allow_weak, shown.notes)
    sources = [labeler, model, *program]
    drawn = figures.draw(dom, output, out, sources, reference=kind.reference
                         if kind.reference != "flag" else "labeler",
                         note=" ".join(shown.notes))
    shown.picture = drawn.picture
    shown.panels = drawn.series
    return shown


def _model(t: Target, dom: domains.Domain, output: outputs.Output) -> figures.Source:
    from dixit.replay import reference

    title = "published model" if t.entry else "model"
    try:
        module = t.load_model()
    except ChallengeError as exc:
        return figures.Source(title, "model", "model", None, f"cannot load: {exc}")
    return figures.Source(title, "model", "model", reference.model_blocks(module, dom, output))


def _secret(t: Target, dom: domains.Domain, output: outputs.Output, submission: str | None,
            allow_weak: bool, notes: list[str]) -> list[figures.Source]:
    """The labeler's source (drawn or only named) and the submission's, if asked for."""
    truth = "labeler (the truth)"
    if t.kind == "flag":
        notes.append("A flag challenge's secret is a string, not a labeler: only the model is "
                     "drawn.")
        return [figures.Source(truth, "truth", "labeler", None, "a flag challenge has no "
                               "labeler", drawn=False)]
    if t.local is not None:  # the proposer's own code on their own machine, as in training
        import torch

        length = outputs.positions(dom.kind, tuple(dom.input_shape))
        targets = dom.targets()
        parts = []
        for start in range(0, dom.size, 4096):
            stop = min(start + 4096, dom.size)
            parts.append(challenge.run_labeler_locally(
                t.local.labeler, dom.slice(start, stop), output, length,
                None if targets is None else targets[start:stop]))
        labels = torch.cat(parts).numpy()
        return [figures.Source.array(truth, "truth", "labeler", labels)]
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
    out: list[figures.Source] = []
    if payloads["labeler"] is None:
        why = opened.missing.get((team, layout.SECRET_ITEM), "")
        notes.append(f"{team}'s labeler is not revealed yet"
                     + (f" ({why})" if why and not why.startswith("not revealed") else "")
                     + ": only the model is drawn; labelers are revealed after submit-by.")
    if submission is not None and payloads["submission"] is None:
        notes.append(f"{submission}'s program is not revealed yet.")
    limits, require = reference.replay_limits(t.state.rules, allow_weak)
    sources = {k: v for k, v in payloads.items() if v is not None}
    # nothing revealed: run nothing, so a weak sandbox does not refuse a model-only picture
    outcomes = replay.replay_sources(sources, dom, limits, require=require, output=output) \
        if sources else {}
    lab = outcomes.get("labeler")
    if lab is not None and lab.labels is None:
        notes.append(f"{team}'s labeler failed in the sandbox: {lab.error}")
    out.append(figures.Source.array(truth, "truth", "labeler", None if lab is None
                                    else lab.labels, "not revealed yet" if lab is None
                                    else lab.error or "", drawn=lab is not None))
    if submission is not None:
        sub = outcomes.get("submission")
        out.append(figures.Source.array(f"{submission}'s program", submission, "program",
                                        None if sub is None else sub.labels,
                                        "not revealed yet" if sub is None
                                        else sub.error or "failed", drawn=sub is not None))
    return out
