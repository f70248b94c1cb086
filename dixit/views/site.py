"""``dixit report -o DIR``: the results as a static site (index.html plus PNG pictures).

The page (``dixit.views.page``) works from ``file://`` and on GitHub Pages alike: one HTML
file with inline CSS, no scripts, no external assets; pictures are relative ``img/*.png``
files. Every value that a team or the organizer chose is HTML-escaped, revealed code
included (``dixit.views.sources``).

What a closed round shows is read from the ledger's snapshot only: its results, the revealed
labelers, flags and programs through ``secrets.open_secrets`` (each reveal checked against its
seal; the snapshot reads regular blobs only, never a link), hints and hint pictures (checked
to be PNGs again). Pictures (``dixit.views.figures``) replay the round exactly as the close
did (``closing.replayed``: the same plan, so the same judged inputs: a post-deadline draw, a
sealed held-out set) in the sandbox, the published models included. matplotlib is
imported only when pictures are drawn; without it the site is written without them, once
saying why.

Each submission's explanation, once revealed and matching its seal, sits in the submission's
block beside its score, rendered and sanitized by ``dixit.views.explanations`` (a team wrote
it: nothing in it runs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from dixit import views
from dixit.errors import DixitError, UsageError
from dixit.league import checks, closing, judge, secrets
from dixit.league.plan import model_key, source_key
from dixit.ledger import clock, layout, state as st
from dixit.ledger.fsutil import atomic_write
from dixit.views import figures, page
from dixit.views.pictures import can_draw

Progress = Callable[[int, int], None]


@dataclass
class Site:
    out: Path
    rounds: list[int] = field(default_factory=list)
    pictures: list[str] = field(default_factory=list)
    picture_kinds: dict[str, str] = field(default_factory=dict)  # path -> figures.Picture
    skipped: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "index": str(self.out / "index.html"),
                "rounds": self.rounds, "pictures": self.pictures,
                "picture_kinds": self.picture_kinds, "skipped": self.skipped}


def build(ledger: Any, out: Path, *, pictures: bool = True, allow_weak: bool = False,
          progress: Progress | None = None) -> Site:
    """Write the site for the ledger's current state into ``out``."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a folder")
    state = st.load(ledger.snapshot())
    site = Site(out)
    (out / "img").mkdir(parents=True, exist_ok=True)
    closed = [r for _n, r in sorted(state.rounds.items()) if r.closed and r.results]
    if pictures:
        missing = can_draw()
        if missing is not None:
            # the standings and tables need no plot: the site is written without pictures
            site.skipped.append(f"every picture: {missing}")
            pictures = False
    views_ = []
    for rnd in closed:
        rv = _round_view(state, rnd, out)
        if pictures:
            _draw_round(state, rnd, rv, ledger.root, out, site, allow_weak, progress)
        views_.append(rv)
    site.rounds = [r.number for r in closed]
    html = page.render(state.info.name, state.snapshot.commit or "", clock.iso(clock.now()),
                       views.standings(state), views_)
    atomic_write(out / "index.html", html.encode("utf-8"))
    return site


def _round_view(state: st.State, rnd: st.Round, out: Path) -> page.RoundView:
    assert rnd.results is not None
    res = judge.public(rnd.results)
    opened = secrets.open_secrets(state, rnd, None)  # after the close every secret is revealed

    def revealed(owner: str, item: str) -> page.Revealed:
        rel = rnd.reveals.get((owner, item))
        data = opened.payloads.get((owner, item))
        why = opened.missing.get((owner, item), "not revealed")
        return page.Revealed(rel.path if rel else None, data, "" if data is not None else why)

    challenges = []
    for ch in res.get("challenges", []):
        target = str(ch["proposer"])
        entry = rnd.challenges.get(target)
        cv = page.ChallengeView(
            target, ch, views.published(entry, rnd, state.snapshot) if entry else {},
            _hint_pictures(state, rnd, target, out) if entry else [],
            secret=revealed(target, layout.SECRET_ITEM),
            programs={str(s["team"]): revealed(str(s["team"]), target)
                      for s in ch.get("submissions", [])},
            explanations=_explanations(state, rnd, target))
        if cv.kind.name == "flag":
            cv.no_picture = ("a flag challenge is judged on a string, not on outputs over "
                             "its domain: there is nothing to draw")
        challenges.append(cv)
    return page.RoundView(rnd.number, res, challenges)


def _explanations(state: st.State, rnd: st.Round, target: str) -> dict[str, str]:
    """Per submitting team, its explanation for ``target``'s challenge as sanitized HTML."""
    from dixit.views import explanations

    shown = {}
    for e in explanations.of_round(state, rnd, target):
        what = "Jupyter notebook" if e.format == "ipynb" else "Markdown"
        head = f"<p class=\"head\">explanation · {what}, {e.bytes:,} bytes</p>"
        if e.text is None:
            body = f"<p class=\"note\">not shown: {escape(e.error or 'not revealed')}</p>"
        else:
            html, note = explanations.to_html(e.format, e.text)
            body = (f"<p class=\"note\">{escape(note)}</p>" if note else "") + \
                f"<div class=\"body\">{html}</div>"
        shown[e.team] = head + body
    return shown


# -- pictures ------------------------------------------------------------------------------------


def _draw_round(state: st.State, rnd: st.Round, rv: page.RoundView, root: Path, out: Path,
                site: Site, allow_weak: bool, progress: Progress | None) -> None:
    """Replay the round as its close did and draw one picture per challenge that has one."""
    by_target = {cv.target: cv for cv in rv.challenges}
    for cv in rv.challenges:
        if cv.no_picture:
            site.skipped.append(f"round {rnd.number} {cv.target}: {cv.no_picture}")
    opened = secrets.open_secrets(state, rnd, None)
    replayed = [t for t, cv in by_target.items() if not cv.no_picture and t in rnd.challenges]
    if not replayed:
        return
    with closing.replayed(state, rnd, opened, root, replayed, allow_weak=allow_weak,
                          progress=progress) as (plan, outcomes):
        for target in replayed:
            cv, cp = by_target[target], plan.challenges[target]
            if cp.domain is None or cp.scheme is None:
                cv.no_picture = f"the challenge is void: {cp.void or 'not replayed'}"
                site.skipped.append(f"round {rnd.number} {target}: {cv.no_picture}")
                continue
            rel = f"img/r{rnd.number:03d}-{target}.png"
            sources = _sources(cp, opened, outcomes)
            need = cv.result.get("required")
            try:
                drawn = figures.draw(cp.domain, cp.scheme.output, out / rel, sources,
                                     reference="model" if cp.kind.reference == "model"
                                     else "labeler",
                                     threshold=need if cp.scheme.metric == "agreement"
                                     else None)
            except DixitError as exc:
                cv.no_picture = str(exc)
                site.skipped.append(f"round {rnd.number} {target}: {exc}")
                continue
            cv.picture, cv.picture_kind = rel, drawn.picture
            site.pictures.append(rel)
            site.picture_kinds[rel] = drawn.picture


def _sources(cp: Any, opened: secrets.Opened, outcomes: dict[str, Any]) -> list[figures.Source]:
    target = cp.target
    truth = outcomes.get(source_key(target, target, layout.SECRET_ITEM))
    missing = opened.missing.get((target, layout.SECRET_ITEM), "not revealed")
    out = [figures.Source.array("labeler (the secret)", "truth", "labeler",
                                None if truth is None else truth.labels,
                                missing if truth is None else truth.error or "")]
    # the model as the close replayed it, in the sandbox, on the same judged inputs
    model = outcomes.get(model_key(target))
    out.append(figures.Source.array("published model", "model", "model",
                                    None if model is None else model.labels,
                                    "cannot load the model" if model is None
                                    else model.error or ""))
    for solver in cp.solvers:
        o = outcomes.get(source_key(target, solver, target))
        why = opened.missing.get((solver, target), "not revealed") if o is None \
            else o.error or ""
        out.append(figures.Source.array(f"{solver}'s program", solver, "program",
                                        None if o is None else o.labels, why))
    return out


# -- hints ---------------------------------------------------------------------------------------


def _hint_pictures(state: st.State, rnd: st.Round, team: str, out: Path) -> list[str]:
    """Copy a challenge's hint pictures into the site, each checked to be a PNG again."""
    ch = rnd.challenges[team]
    copied = []
    for i in range(1, len(ch.meta.get("hint_images", [])) + 1):
        data = state.snapshot.read(f"{ch.folder}/{layout.hint_image_name(i)}") or b""
        try:
            checks.hint_image(ch.meta, i, data)
        except DixitError:
            continue
        rel = f"img/r{rnd.number:03d}-{team}-hint-{i}.png"
        atomic_write(out / rel, data)
        copied.append(rel)
    return copied
