"""The results site's HTML: one self-contained page from plain data (``dixit.views.site``).

Sections: the season standings (points per round and summed, solves, Dixits), then each
closed round, newest first: its standings, a table of its challenges (kind, domain, output,
metric, what solves it, the model's claimed and measured accuracy), the who-solved-what
matrix, and one article per challenge (its hints with their release times, its picture, the
revealed labeler or flag, and every submission with its score, error, program and an
explanation when one is given). Revealed code is highlighted and escaped by
``dixit.views.sources``; every other team-written value (names, domains, errors, hints) goes
through ``_e``. Inline CSS only, no scripts, nothing loaded from elsewhere; pictures are
relative ``img/*.png`` files. A column whose every cell is empty is left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any, NamedTuple

from dixit import rules
from dixit.rules import kinds
from dixit.views import sources, tables

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;
max-width:76rem;padding:0 1rem;color:#1d232a;background:#fff}
h1{margin-bottom:.2rem}h2{margin-top:2.6rem;border-bottom:2px solid #e4e7eb;padding-bottom:.2rem}
h3{margin-top:1.8rem}h4{margin:1rem 0 .3rem}
.meta,.note{color:#5b6570;font-size:.9em}
table.t{border-collapse:collapse;margin:.6rem 0 1rem}
table.t th,table.t td{border:1px solid #d5dae0;padding:.3rem .6rem;text-align:right;
vertical-align:top}
table.t th{background:#f3f5f7}table.t .name{text-align:left}
td.solved{background:#e3f6e8}td.unsolved{background:#fdf1f0}td.self{background:#f3f5f7;
color:#5b6570}td.none{color:#9aa3ad}
.pts{font-weight:600}.flag{color:#9a6700;font-weight:600}.void{color:#b42318;font-weight:600}
.bar{color:#5b6570;font-weight:400;font-size:.85em}
.tag{display:inline-block;font-size:.75em;font-weight:600;padding:.05rem .45rem;
border-radius:.7rem;background:#e8eef7;color:#1f4f8f;vertical-align:middle}
.tag.emulate{background:#efe8f7;color:#5a3d8f}.tag.flag{background:#fbf1dc;color:#7a5200}
article.challenge{border-top:1px solid #e4e7eb;margin-top:1.6rem;padding-top:.2rem}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;margin:.4rem 0}
dl.facts dt{color:#5b6570}dl.facts dd{margin:0}
figure{margin:1rem 0 1.4rem}figure img{max-width:100%;height:auto;border:1px solid #e4e7eb}
figcaption{color:#5b6570;font-size:.9em}
ul.hints{margin:.3rem 0}img.hint{max-width:24rem;height:auto;border:1px solid #e4e7eb}
details{margin:.4rem 0}summary{cursor:pointer;color:#1f4f8f}
.hl,pre.plain{border:1px solid #e4e7eb;background:#fafbfc;overflow-x:auto;font-size:.85em;
max-height:36rem;overflow-y:auto}pre.plain{padding:.5rem;white-space:pre-wrap}
.hl pre{margin:0;padding:.4rem .2rem}table.hltable{border-collapse:collapse}
table.hltable td{border:0;padding:0;text-align:left}td.linenos{color:#9aa3ad;
border-right:1px solid #e4e7eb!important;user-select:none}
div.submission{margin:.6rem 0 1rem;padding-left:.8rem;border-left:3px solid #e4e7eb}
div.submission.solved{border-left-color:#3d9a5b}div.submission .error{color:#b42318}
div.explanation{margin:.4rem 0;padding:.4rem .8rem;background:#f6f8fa;border-radius:.3rem;
overflow-x:auto}div.explanation .body img{max-width:100%;height:auto}
div.explanation pre{background:#fff;padding:.4rem .6rem;overflow-x:auto}
div.explanation .output pre,div.explanation .output_area pre{border-left:3px solid #d5dae0}
div.explanation .prompt{color:#9aa3ad;font-size:.8em}
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.2%}"


def _line(text: object, cap: int = 300) -> str:
    return (str(text).splitlines() or [""])[0][:cap]


class Cell(NamedTuple):
    html: str       # "" is an empty cell
    cls: str = ""   # the td's class


def _table(cls: str, header: Sequence[Cell], rows: Sequence[Sequence[Cell]],
           keep: Sequence[int] = (0,)) -> str:
    """A table without its empty columns (every cell empty), the ``keep`` ones aside."""
    cols = [i for i in range(len(header))
            if i in keep or any(r[i].html for r in rows)]

    def td(c: Cell, tag: str = "td") -> str:
        return f"<{tag}" + (f" class=\"{c.cls}\"" if c.cls else "") + f">{c.html}</{tag}>"

    head = "".join(td(header[i], "th") for i in cols)
    body = "".join("<tr>" + "".join(td(r[i], "th" if i == 0 and r[i].cls == "name head"
                                       else "td") for i in cols) + "</tr>" for r in rows)
    return (f"<table class=\"t {cls}\"><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


@dataclass(frozen=True)
class Revealed:
    """A revealed file of the ledger: its path and bytes, or why it has none."""

    path: str | None
    data: bytes | None
    why: str = ""


@dataclass
class ChallengeView:
    target: str
    result: dict[str, Any]                  # the challenge in the round's results (public)
    published: dict[str, Any]               # ``views.published``: hints, timed hints, format
    hint_images: list[str] = field(default_factory=list)  # site-relative PNGs
    picture: str | None = None              # site-relative PNG
    picture_kind: str | None = None         # figures.Picture
    no_picture: str = ""                    # why there is none
    secret: Revealed = Revealed(None, None, "not revealed")
    programs: dict[str, Revealed] = field(default_factory=dict)     # by submitting team
    # per submitting team: HTML of its explanation (``dixit.views.explanations``), shown in
    # the submission's place; a team without one shows nothing there
    explanations: dict[str, str] = field(default_factory=dict)

    @property
    def kind(self) -> kinds.Kind:
        return kinds.KINDS.get(str(self.result.get("kind", "labeler")), kinds.LABELER)


@dataclass
class RoundView:
    number: int
    results: dict[str, Any]                 # ``judge.public``
    challenges: list[ChallengeView]


def render(name: str, commit: str, generated: str, season: dict[str, Any],
           rounds: list[RoundView]) -> str:
    parts = [f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
             f"<title>{_e(name)} · results</title><style>{CSS}{sources.css()}</style></head>"
             "<body>",
             f"<header><h1>{_e(name)}</h1><p class=\"meta\">Interpretability challenge league "
             f"under Dixit rules · {len(rounds)} closed round(s) · generated "
             f"{_e(generated)} from ledger commit <code>{_e(commit[:12])}</code></p>"
             + _contents(rounds) + "</header>",
             _season(season, rounds)]
    parts += [_round(r) for r in reversed(rounds)]
    parts.append("<footer><p class=\"note\">Re-derive every number on this page from a clone "
                 "of the ledger with <code>dixit verify</code>.</p></footer></body></html>\n")
    return "\n".join(parts)


def _contents(rounds: list[RoundView]) -> str:
    if not rounds:
        return ""
    links = " · ".join(f"<a href=\"#round-{r.number:03d}\">round {r.number:03d}</a>"
                       for r in reversed(rounds))
    return f"<p class=\"meta\"><a href=\"#standings\">season standings</a> · {links}</p>"


# -- standings ----------------------------------------------------------------------------------


def _notes(row: dict[str, Any]) -> str:
    notes = []
    if row.get("flagged_claims"):
        notes.append(f"<span class=\"flag\">⚑ claim off ×{row['flagged_claims']}</span>")
    if row.get("proposed_nothing"):
        notes.append("proposed nothing in round "
                     + ", ".join(map(str, row["proposed_nothing"])))
    if row.get("removed"):
        notes.append("removed")
    return " ".join(notes)


def _season(data: dict[str, Any], rounds: list[RoundView]) -> str:
    header = [Cell("#"), Cell("team", "name"),
              *(Cell(f"round {r.number:03d}") for r in rounds),
              Cell("points"), Cell("solves"), Cell("Dixits"), Cell("notes", "name")]
    rows = []
    for r in data["standings"]:
        per = []
        for rv in rounds:
            pts = rv.results.get("points", {})
            per.append(Cell(str(pts[r["team"]]) if r["team"] in pts else "–"))
        rows.append([Cell(str(r["rank"])), Cell(_e(r["team"]), "name"), *per,
                     Cell(str(r["points"]), "pts"), Cell(str(r["solves"])),
                     Cell(str(r["dixits"])), Cell(_notes(r), "name")])
    keep = tuple(range(len(header) - 1))
    caption = ("Points per closed round and summed. Ties: more solves, then more Dixits "
               "(proposals solved by exactly one other team), then name.")
    if any(r.get("flagged_claims") for r in data["standings"]):
        caption += (" ⚑ claim off ×N: N of the team's models measured further from their "
                    "claimed accuracy than the rulebook's tolerance.")
    return ("<section id=\"standings\"><h2>Season standings</h2>"
            + _table("standings", header, rows, keep)
            + f"<p class=\"note\">{_e(caption)}</p></section>")


def _round_standings(res: dict[str, Any]) -> str:
    table = rules.standings([rules.round_score(res)])
    header = [Cell("#"), Cell("team", "name"), Cell("points"), Cell("solves"), Cell("Dixits")]
    rows = [[Cell(str(i)), Cell(_e(s.team), "name"), Cell(str(s.points), "pts"),
             Cell(str(s.solves)), Cell(str(s.dixits))] for i, s in enumerate(table, 1)]
    return ("<h3>Round standings</h3>"
            + _table("round-standings", header, rows, tuple(range(len(header)))))


# -- a round ------------------------------------------------------------------------------------


def _anchor(number: int, target: str) -> str:
    return f"r{number:03d}-{target}"


def _round(rv: RoundView) -> str:
    res = rv.results
    return (f"<section id=\"round-{rv.number:03d}\"><h2>Round {rv.number:03d}</h2>"
            f"<p class=\"meta\">closed {_e(res.get('closed', '?'))}"
            + (f" · replayed with sandbox isolation <code>{_e(res['isolation'])}</code>"
               if res.get("isolation") else "") + "</p>"
            + _round_standings(res) + _challenges(rv) + _matrix(rv)
            + "".join(_challenge(rv.number, cv) for cv in rv.challenges) + "</section>")


def _judged_on(ch: dict[str, Any]) -> str:
    if ch.get("judged_on") == "heldout":
        return f"its sealed held-out set ({ch.get('heldout_rows')} rows)"
    if ch.get("draw_seed") is not None:
        return f"inputs drawn after submit-by (seed {ch['draw_seed']})"
    return ""


def _challenges(rv: RoundView) -> str:
    header = [Cell("challenge", "name"), Cell("kind", "name"), Cell("domain", "name"),
              Cell("output", "name"), Cell("metric", "name"), Cell("solved at", "name"),
              Cell("judged on", "name"), Cell("model claimed"), Cell("model measured"),
              Cell("solved by", "name"), Cell("void", "name")]
    rows = []
    for cv in rv.challenges:
        ch, kind = cv.result, cv.kind
        flag = " <span class=\"flag\" title=\"off by more than the tolerance\">⚑</span>" \
            if ch.get("claim_flagged") else ""
        replayed = kind.replayed
        rows.append([
            Cell(f"<a href=\"#{_anchor(rv.number, cv.target)}\">{_e(cv.target)}</a>", "name"),
            Cell(f"<span class=\"tag {_e(kind.name)}\" title=\"{_e(kind.summary)}\">"
                 f"{_e(kind.name)}</span>", "name"),
            Cell(f"<code>{_e(ch.get('domain', ''))}</code>", "name"),
            Cell(f"<code>{_e(ch.get('output', ''))}</code>" if replayed else "a string",
                 "name"),
            Cell(_e(ch.get("metric", "")) if replayed else "exact match", "name"),
            Cell(_e(tables.describe_bar(ch)), "name"),
            Cell(_e(_judged_on(ch)), "name"),
            Cell(_pct(ch.get("claimed_accuracy")) if replayed else ""),
            Cell(_pct(ch.get("model_accuracy")) + flag),
            Cell(_e(", ".join(ch.get("solved_by", []))) or "nobody", "name"),
            Cell(f"<span class=\"void\">{_e(_line(ch['void'], 200))}</span>"
                 if ch.get("void") else "", "name")])
    return ("<h3>Challenges</h3>" + _table("challenges", header, rows, (0, 1, 2, 5, 9))
            + "<p class=\"note\">Model claimed and measured: the published model's accuracy "
            "against its labeler on the held-out split, as its proposer claimed it and as the "
            "close measured it.</p>")


def _matrix(rv: RoundView) -> str:
    res = rv.results
    active = {cv.target for cv in rv.challenges} | {
        str(s["team"]) for cv in rv.challenges for s in cv.result.get("submissions", [])}
    teams = [str(t) for t in res.get("teams", []) if str(t) in active]
    header = [Cell("challenge ↓ · solver →", "name"), *(Cell(_e(t)) for t in teams)]
    rows = []
    for cv in rv.challenges:
        ch = cv.result
        subs = {str(s["team"]): s for s in ch.get("submissions", [])}
        points = ch.get("points", {})
        cells = [Cell(f"<a href=\"#{_anchor(rv.number, cv.target)}\">{_e(cv.target)}</a>"
                      f"<br><span class=\"bar\">{_e(tables.describe_bar(ch))}</span>",
                      "name head")]
        for t in teams:
            if t == cv.target:
                cells.append(Cell(f"proposer<br><span class=\"pts\">+{points.get(t, 0)}</span>",
                                  "self"))
            elif t not in subs:
                cells.append(Cell("–", "none"))
            else:
                s = subs[t]
                what = "error" if s.get("error") else tables.format_score(
                    ch, s.get("score", s.get("agreement")))
                mark = " ✓" if s.get("solved") else ""
                cells.append(Cell(f"{_e(what)}{mark}<br><span class=\"pts\">+"
                                  f"{points.get(t, 0)}</span>",
                                  "solved" if s.get("solved") else "unsolved"))
        rows.append(cells)
    total = [Cell("round points", "name head"),
             *(Cell(str(res.get("points", {}).get(t, 0)), "pts") for t in teams)]
    rows.append(total)
    return ("<h3>Who solved what</h3>"
            + _table("matrix", header, rows, tuple(range(len(header))))
            + "<p class=\"note\">Each cell: the submission's score on its challenge's metric "
            "(a flag guess is right or wrong), ✓ when it solved it, and the points it "
            "earned.</p>")


# -- one challenge ------------------------------------------------------------------------------


def _hints(cv: ChallengeView) -> str:
    shown = cv.published
    lines = [f"<li>{_e(h)}</li>" for h in shown.get("hints", [])]
    for i, src in enumerate(cv.hint_images, 1):
        lines.append(f"<li><img class=\"hint\" src=\"{_e(src)}\" alt=\"hint picture {i} of "
                     f"{_e(cv.target)}'s challenge\"></li>")
    for h in shown.get("timed_hints", []):
        if h["status"] == "due":
            what = f"due at {_e(h['at'])}, never released"
        elif h["text"] is None:
            what = f"released at {_e(h['released'])} without text: {_e(h['error'])}"
        else:
            what = f"due at {_e(h['at'])}, released at {_e(h['released'])}: {_e(h['text'])}"
        lines.append(f"<li>timed hint {h['index']}, {what}</li>")
    if shown.get("answer_format"):
        lines.append(f"<li>answer format: <em>{_e(shown['answer_format'])}</em></li>")
    return f"<h4>Hints</h4><ul class=\"hints\">{''.join(lines)}</ul>" if lines else ""


PICTURES = {
    "maps": "label maps of the labeler, the model and every program over the grid, a = "
            "x[:, 0] across and b = x[:, 1] up; red marks a point that disagrees with {ref}",
    "images": "sample inputs with the label each of them gets from the labeler (truth), the "
              "model and every program; a red frame and red text mark a label that "
              "disagrees with {ref}",
    "positions": "agreement with {ref} at each position of the sequence, for the model and "
                 "every program (and the mean KL per position for a distribution)",
    "classes": "agreement with {ref} within each of its classes, for the model and every "
               "program",
}


def _figure(number: int, cv: ChallengeView) -> str:
    if cv.picture is None:
        return (f"<p class=\"note\">No picture: {_e(cv.no_picture)}</p>"
                if cv.no_picture else "")
    ref = "the published model" if cv.kind.reference == "model" else "the labeler"
    what = PICTURES.get(cv.picture_kind or "", "the challenge's outputs").format(ref=ref)
    judged = _judged_on(cv.result)
    over = f", over {judged}" if judged else ", over every judged input"
    return (f"<figure><img src=\"{_e(cv.picture)}\" alt=\"{_e(cv.picture_kind or 'picture')} "
            f"of {_e(cv.target)}'s challenge\"><figcaption>{_e(cv.target)}'s challenge on "
            f"<code>{_e(cv.result.get('domain', ''))}</code>: {_e(what)}{_e(over)}, replayed "
            "in the sandbox as the close replayed them.</figcaption></figure>")


def _source(label: str, rev: Revealed, python: bool, open_: bool = False) -> str:
    if rev.data is None:
        return f"<p class=\"note\">{_e(label)}: {_e(_line(rev.why or 'not revealed'))}</p>"
    where = f" <code>{_e(rev.path)}</code>" if rev.path else ""
    size = f"{sources.lines(rev.data)} lines" if python else f"{len(rev.data)} bytes"
    body = sources.python(rev.data) if python else sources.plain(rev.data)
    return (f"<details class=\"source\"{' open' if open_ else ''}><summary>{_e(label)}"
            f"{where} ({size})</summary>{body}</details>")


def _facts(cv: ChallengeView) -> str:
    ch, kind = cv.result, cv.kind
    facts = [("kind", f"<span class=\"tag {_e(kind.name)}\">{_e(kind.name)}</span> "
                      f"{_e(kind.summary)}"),
             ("domain", f"<code>{_e(ch.get('domain', ''))}</code>")]
    if kind.replayed:
        facts += [("output", f"<code>{_e(ch.get('output', ''))}</code>"),
                  ("metric", _e(ch.get("metric", "")))]
    facts.append(("solved at", _e(tables.describe_bar(ch))))
    if kind.model_can_solve and ch.get("model_score") is not None:
        facts.append(("the model scores", _e(tables.format_score(ch, ch["model_score"]))
                      + " against the labeler (a program must beat it)"))
    if _judged_on(ch):
        facts.append(("judged on", _e(_judged_on(ch))))
    if ch.get("model_accuracy") is not None or (kind.replayed
                                                and ch.get("claimed_accuracy") is not None):
        flag = " <span class=\"flag\">⚑ off by more than the tolerance</span>" \
            if ch.get("claim_flagged") else ""
        facts.append(("model accuracy", f"measured {_pct(ch.get('model_accuracy')) or '–'}, "
                                        f"claimed {_pct(ch.get('claimed_accuracy')) or '–'}"
                                        + flag))
    if ch.get("void"):
        facts.append(("void", f"<span class=\"void\">{_e(_line(ch['void']))}</span>"))
    points = ch.get("points", {})
    facts.append(("solved by", _e(", ".join(ch.get("solved_by", []))) or "nobody"))
    facts.append(("points", _e(", ".join(f"{t} +{p}" for t, p in sorted(points.items())))
                  or "none"))
    return "<dl class=\"facts\">" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts) \
        + "</dl>"


def _submissions(number: int, cv: ChallengeView) -> str:
    ch, python = cv.result, cv.kind.replayed
    points = ch.get("points", {})
    what = "program" if python else "guess"
    out = []
    for s in ch.get("submissions", []):
        team = str(s["team"])
        score = "error" if s.get("error") else tables.format_score(
            ch, s.get("score", s.get("agreement")))
        solved = bool(s.get("solved"))
        detail = ""
        if python and s.get("agreement") is not None and ch.get("metric") != "agreement":
            detail = f" (agreement {_pct(s['agreement'])})"
        head = (f"<p class=\"head\"><b>{_e(team)}</b> · {_e(score)}{_e(detail)} · "
                + ("solved ✓" if solved else "not solved")
                + f" · <span class=\"pts\">+{points.get(team, 0)}</span></p>")
        error = f"<p class=\"error\">{_e(_line(s['error']))}</p>" if s.get("error") else ""
        program = _source(f"{team}'s {what}", cv.programs.get(team, Revealed(None, None)),
                          python)
        explanation = cv.explanations.get(team, "")
        if explanation:  # rendered and escaped by dixit.views.explanations
            explanation = f"<div class=\"explanation\">{explanation}</div>"
        out.append(f"<div class=\"submission{' solved' if solved else ''}\" id=\""
                   f"{_anchor(number, cv.target)}-{_e(team)}\">{head}{error}{program}"
                   f"{explanation}</div>")
    if not out:
        return "<h4>Submissions</h4><p class=\"note\">No team submitted.</p>"
    return "<h4>Submissions</h4>" + "".join(out)


def _challenge(number: int, cv: ChallengeView) -> str:
    kind = cv.kind
    secret = "flag" if not kind.replayed else "labeler"
    return (f"<article class=\"challenge\" id=\"{_anchor(number, cv.target)}\">"
            f"<h3>{_e(cv.target)}'s challenge <span class=\"tag {_e(kind.name)}\">"
            f"{_e(kind.name)}</span></h3>"
            + _facts(cv) + _hints(cv) + _figure(number, cv)
            + "<h4>The secret</h4>"
            + _source(f"{cv.target}'s {secret}, revealed", cv.secret, kind.replayed,
                      open_=not kind.replayed)
            + _submissions(number, cv) + "</article>")
