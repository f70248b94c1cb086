"""``dixit report -o DIR``: the results as a static site (index.html plus PNG label maps).

The page works from ``file://`` and on GitHub Pages alike: one HTML file with inline CSS, no
scripts, no external assets; pictures are relative ``img/*.png`` files. Every value that a team
or the organizer chose (names, domains, error messages) is HTML-escaped.

Label maps (2-D grid domains of closed rounds) show, side by side, the revealed labeler, the
published model's predictions and every submitted program's labels, with each point that
disagrees with the labeler in red. The labeler and programs are replayed in the sandbox through
``dixit.replay`` exactly as ``dixit score`` replays them; the model runs through
``dixit.models``. ``dixit.pictures`` draws them (the same maps as ``dixit show``); matplotlib
(Agg) is imported only when pictures are drawn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from dixit import views
from dixit.data import domains
from dixit.errors import DixitError, UsageError
from dixit.league import checks, judge, secrets
from dixit.ledger import clock, layout, state as st
from dixit.ledger.fsutil import atomic_write
from dixit.replay import reference
from dixit.views import pictures
from dixit.views.pictures import can_draw
from dixit.views.tables import describe_bar, format_score

Progress = Callable[[int, int], None]

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;
max-width:72rem;padding:0 1rem;color:#1d232a;background:#fff}
h1{margin-bottom:.2rem}h2{margin-top:2.4rem;border-bottom:2px solid #e4e7eb;padding-bottom:.2rem}
.meta,.note{color:#5b6570;font-size:.9em}
table{border-collapse:collapse;margin:.6rem 0 1rem}
th,td{border:1px solid #d5dae0;padding:.3rem .6rem;text-align:right;vertical-align:top}
th{background:#f3f5f7}td.name,th.name{text-align:left}
td.solved{background:#e3f6e8}td.unsolved{background:#fdf1f0}td.self{background:#f3f5f7;
color:#5b6570}td.none{color:#9aa3ad}
.pts{font-weight:600}.flag{color:#9a6700;font-weight:600}
.bar{color:#5b6570;font-weight:400;font-size:.85em}
figure{margin:1rem 0 2rem}figure img{max-width:100%;height:auto;border:1px solid #e4e7eb}
figcaption{color:#5b6570;font-size:.9em}
dl.hints dt{font-weight:600;margin-top:.4rem}img.hint{max-width:24rem;height:auto;
border:1px solid #e4e7eb}
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.2%}"


@dataclass
class Site:
    out: Path
    rounds: list[int] = field(default_factory=list)
    pictures: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "index": str(self.out / "index.html"),
                "rounds": self.rounds, "pictures": self.pictures, "skipped": self.skipped}


def build(ledger: Any, out: Path, *, pictures: bool = True, allow_weak: bool = False,
          progress: Progress | None = None) -> Site:
    """Write the site for the ledger's current state into ``out``."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a folder")
    state = st.load(ledger.snapshot())
    site = Site(out)
    (out / "img").mkdir(parents=True, exist_ok=True)
    closed = [r for _n, r in sorted(state.rounds.items()) if r.closed]
    maps: dict[tuple[int, str], str] = {}
    if pictures:
        missing = can_draw()
        if missing is not None:
            # the standings and tables need no plot: the site is written without pictures
            site.skipped.append(f"every label map: {missing}")
            pictures = False
    if pictures:
        for rnd in closed:
            maps.update(_draw_round(state, rnd, ledger.root, out, site, allow_weak, progress))
    site.rounds = [r.number for r in closed]
    for rnd in closed:
        maps.update(_hint_pictures(state, rnd, out))
    page = _page(state, closed, maps, state.snapshot.commit)
    atomic_write(out / "index.html", page.encode("utf-8"))
    return site


# -- HTML ----------------------------------------------------------------------------------------


def _page(state: st.State, closed: list[st.Round], maps: dict[tuple[int, str], str],
          commit: str | None) -> str:
    name = state.info.name
    parts = [f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
             f"<title>{_e(name)} · results</title><style>{CSS}</style></head><body>",
             f"<header><h1>{_e(name)}</h1><p class=\"meta\">Interpretability challenge league "
             f"under Dixit rules · {len(closed)} closed round(s) · generated "
             f"{_e(clock.iso(clock.now()))} from ledger commit "
             f"<code>{_e((commit or '')[:12])}</code></p></header>",
             _standings(views.standings(state))]
    for rnd in reversed(closed):
        assert rnd.results is not None
        res = judge.public(rnd.results)
        parts.append(_round(res, maps, _hints(state, rnd, maps) + _explanations(state, rnd, res)))
    parts.append("<footer><p class=\"note\">Re-derive every number on this page from a clone "
                 "of the ledger with <code>dixit verify</code>.</p></footer></body></html>\n")
    return "\n".join(parts)


def _standings(data: dict[str, Any]) -> str:
    rows = []
    for r in data["standings"]:
        flag = (f"<span class=\"flag\">⚑ claim off ×{r['flagged_claims']}</span>"
                if r.get("flagged_claims") else "")
        if r.get("proposed_nothing"):
            flag += (" " if flag else "") + ("proposed nothing in round "
                                             + ", ".join(map(str, r["proposed_nothing"])))
        rows.append(f"<tr><td>{r['rank']}</td><td class=\"name\">{_e(r['team'])}</td>"
                    f"<td class=\"pts\">{r['points']}</td><td>{r['solves']}</td>"
                    f"<td>{r['dixits']}</td><td class=\"name\">{flag}</td></tr>")
    return ("<section id=\"standings\"><h2>Standings</h2>"
            "<table class=\"standings\"><thead><tr><th>#</th><th class=\"name\">team</th>"
            "<th>points</th><th>solves</th><th>Dixits</th><th class=\"name\">flags</th></tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table>"
            "<p class=\"note\">Points summed over closed rounds. Ties: more solves, then more "
            "Dixits (proposals solved by exactly one team), then name.</p></section>")


def _round(res: dict[str, Any], maps: dict[tuple[int, str], str], hints: str = "") -> str:
    number, teams = int(res["round"]), [str(t) for t in res.get("teams", [])]
    head = "".join(f"<th>{_e(t)}</th>" for t in teams)
    rows = []
    for ch in res.get("challenges", []):
        proposer = str(ch["proposer"])
        subs = {str(s["team"]): s for s in ch.get("submissions", [])}
        points = ch.get("points", {})
        cells = []
        for t in teams:
            if t == proposer:
                cells.append(f"<td class=\"self\">proposer<br><span class=\"pts\">"
                             f"+{points.get(t, 0)}</span></td>")
            elif t not in subs:
                cells.append("<td class=\"none\">–</td>")
            else:
                s = subs[t]
                cls = "solved" if s.get("solved") else "unsolved"
                what = format_score(ch, s.get("score", s.get("agreement"))) \
                    if s.get("error") is None else "error"
                title = f" title=\"{_e(str(s['error']).splitlines()[0][:300])}\"" \
                    if s.get("error") else ""
                mark = " ✓" if s.get("solved") else ""
                cells.append(f"<td class=\"{cls}\"{title}>{_e(what)}{mark}<br><span "
                             f"class=\"pts\">+{points.get(t, 0)}</span></td>")
        void = (f"<br><span class=\"flag\">void: {_e(str(ch['void']).splitlines()[0][:200])}"
                "</span>" if ch.get("void") else "")
        bar = f"<br><span class=\"bar\">{_e(describe_bar(ch))}</span>"
        rows.append(f"<tr><th class=\"name\">{_e(proposer)}{bar}{void}</th>"
                    f"{''.join(cells)}</tr>")
    total = "".join(f"<td class=\"pts\">{res.get('points', {}).get(t, 0)}</td>" for t in teams)
    claims = []
    for ch in res.get("challenges", []):
        flag = "<span class=\"flag\">⚑ off by more than the tolerance</span>" \
            if ch.get("claim_flagged") else ""
        claims.append(f"<tr><td class=\"name\">{_e(ch['proposer'])}</td><td class=\"name\">"
                      f"<code>{_e(ch.get('domain', ''))}</code></td>"
                      f"<td>{_pct(ch.get('claimed_accuracy'))}</td>"
                      f"<td>{_pct(ch.get('model_accuracy'))}</td>"
                      f"<td class=\"name\">{flag}</td></tr>")
    figures = []
    for ch in res.get("challenges", []):
        src = maps.get((number, str(ch["proposer"])))
        if src:
            figures.append(f"<figure><img src=\"{_e(src)}\" alt=\"label maps of "
                           f"{_e(ch['proposer'])}'s challenge\"><figcaption>"
                           f"{_e(ch['proposer'])}'s challenge on <code>{_e(ch['domain'])}"
                           "</code>: the labeler, the model's predictions and every "
                           "submission; red marks a point where a map disagrees with the "
                           "labeler.</figcaption></figure>")
    return (f"<section id=\"round-{number:03d}\"><h2>Round {number:03d}</h2>"
            f"<p class=\"meta\">closed {_e(res.get('closed', '?'))} · under each challenge: "
            "what solved it, replayed over every judged input</p>"
            "<h3>Who solved what</h3><table class=\"matrix\"><thead><tr>"
            f"<th class=\"name\">challenge ↓ · solver →</th>{head}</tr></thead><tbody>"
            f"{''.join(rows)}<tr><th class=\"name\">round points</th>{total}</tr>"
            "</tbody></table>"
            "<h3>Models: claimed vs measured held-out accuracy</h3><table class=\"claims\">"
            "<thead><tr><th class=\"name\">challenge</th><th class=\"name\">domain</th>"
            "<th>claimed</th><th>measured</th><th class=\"name\"></th></tr></thead>"
            f"<tbody>{''.join(claims)}</tbody></table>" + hints
            + (f"<h3>Label maps</h3>{''.join(figures)}" if figures else "") + "</section>")


# -- explanations --------------------------------------------------------------------------------


def _explanations(state: st.State, rnd: st.Round, res: dict[str, Any]) -> str:
    """The round's revealed explanations, each under its submission's score, rendered and
    sanitized by ``views.explanations`` (a team wrote them: nothing in them runs)."""
    from dixit.views import explanations

    shown = explanations.of_round(state, rnd)
    if not shown:
        return ""
    scored = {(str(s.get("team")), str(c.get("proposer"))): (c, s)
              for c in res.get("challenges", []) for s in c.get("submissions", [])}
    items = []
    for e in shown:
        ch, sub = scored.get((e.team, e.target), ({}, {}))
        if not sub:
            score = "not scored"
        elif sub.get("error") is not None:
            score = "error"
        else:
            score = format_score(ch, sub.get("score", sub.get("agreement"))) + (
                " ✓ solved" if sub.get("solved") else "")
        head = (f"<h4>{_e(e.team)}'s explanation for {_e(e.target)}'s challenge "
                f"<span class=\"bar\">· score {_e(score)} · {_e(e.name)}, {e.bytes:,} bytes"
                "</span></h4>")
        if e.text is None:
            body = f"<p class=\"note\">not shown: {_e(e.error or 'not revealed')}</p>"
        else:
            html, note = explanations.to_html(e.format, e.text)
            body = (f"<p class=\"note\">{_e(note)}</p>" if note else "") + \
                f"<div class=\"body\">{html}</div>"
        items.append(f"<article>{head}{body}</article>")
    return (f"<style>{explanations.CSS}</style><section class=\"explanations\"><h3>Explanations"
            "</h3><p class=\"meta\">sealed with each program, revealed at the close; shown as "
            f"text and pictures only (nothing in them runs)</p>{''.join(items)}</section>")


# -- pictures ------------------------------------------------------------------------------------


def _draw_round(state: st.State, rnd: st.Round, root: Path, out: Path, site: Site,
                allow_weak: bool, progress: Progress | None) -> dict[tuple[int, str], str]:
    """Replay the round's 2-D grid challenges and draw one PNG per challenge."""
    from dixit import replay

    limits, require = reference.replay_limits(state.rules, allow_weak)
    opened = secrets.open_secrets(state, rnd, None)  # after the close every secret is revealed
    grids: dict[str, domains.Domain] = {}
    for target, ch in sorted(rnd.challenges.items()):
        try:
            dom = domains.parse(ch.domain, root=root, seed=int(ch.meta.get("seed", 0)))
        except Exception:
            dom = None
        if ch.kind == "flag":
            site.skipped.append(f"round {rnd.number} {target}: a flag challenge's secret is a "
                                "string, so there is no label map to draw")
        elif dom is None or not dom.is_grid2d:
            site.skipped.append(f"round {rnd.number} {target}: not a 2-D grid domain")
        elif str(ch.meta.get("output", "binary")) != "binary":
            site.skipped.append(f"round {rnd.number} {target}: a label map draws binary "
                                "outputs only")
        elif (target, layout.SECRET_ITEM) not in opened.payloads:
            site.skipped.append(f"round {rnd.number} {target}: labeler not revealed")
        else:
            grids[target] = dom
    drawn: dict[tuple[int, str], str] = {}
    total, done = sum(1 + sum(1 for (_s, t) in rnd.submissions if t == g) for g in grids), [0]

    def tick(_o: Any) -> None:
        done[0] += 1
        if progress:
            progress(done[0], total)

    by_domain: dict[str, list[str]] = {}
    for target, dom in grids.items():
        by_domain.setdefault(dom.spec, []).append(target)
    for members in by_domain.values():
        sources: dict[str, bytes] = {}
        for target in members:
            subs = sorted((s, t) for (s, t) in rnd.submissions if t == target)
            for owner, item in [(target, layout.SECRET_ITEM), *subs]:
                if (owner, item) in opened.payloads:
                    sources[f"{target}/{owner}/{item}"] = opened.payloads[(owner, item)]
        outcomes = replay.replay_sources(sources, grids[members[0]], limits, require=require,
                                         on_done=tick)
        for target in members:
            rel = f"img/r{rnd.number:03d}-{target}.png"
            if _draw_challenge(state, rnd, target, grids[target], outcomes, out / rel):
                drawn[(rnd.number, target)] = rel
                site.pictures.append(rel)
            else:
                truth = outcomes.get(f"{target}/{target}/{layout.SECRET_ITEM}")
                why = truth.error if truth is not None and truth.error else "not replayed"
                site.skipped.append(f"round {rnd.number} {target}: labeler failed: {why}")
    return drawn


def _draw_challenge(state: st.State, rnd: st.Round, target: str, dom: domains.Domain,
                    outcomes: dict[str, Any], path: Path) -> bool:
    truth = outcomes.get(f"{target}/{target}/{layout.SECRET_ITEM}")
    if truth is None or truth.labels is None:
        return False
    ch = rnd.challenges[target]
    panels = [pictures.Panel("labeler (the secret)", truth.labels)]
    model = reference.model_predictions(state, ch, dom)
    if model is not None:
        model = (model != 0).astype("uint8")
    panels.append(pictures.Panel("published model", model,
                                 "" if model is not None else "cannot load"))
    for solver in sorted(s for (s, t) in rnd.submissions if t == target):
        o = outcomes.get(f"{target}/{solver}/{target}")
        why = "not revealed" if o is None else (o.error or "")
        panels.append(pictures.Panel(f"{solver}'s program", None if o is None else o.labels,
                                     why))
    pictures.render(panels, truth.labels, tuple(dom.dims), path)
    return True


# -- hints ---------------------------------------------------------------------------------------


def _hints(state: st.State, rnd: st.Round, maps: dict[tuple[int, str], str]) -> str:
    """The round's hints, timed hints with their release times, and answer formats, every
    text escaped (a team wrote it)."""
    items = []
    for team, ch in sorted(rnd.challenges.items()):
        shown = views.published(ch, rnd, state.snapshot)
        lines = [f"<li>{_e(h)}</li>" for h in shown["hints"]]
        for i in range(1, len(shown["hint_images"]) + 1):
            src = maps.get((rnd.number, f"{team}/hint-{i}"))
            if src:
                lines.append(f"<li><img class=\"hint\" src=\"{_e(src)}\" alt=\"hint picture "
                             f"{i} of {_e(team)}'s challenge\"></li>")
        for h in shown["timed_hints"]:
            if h["status"] == "due":
                what = f"due at {_e(h['at'])}, never released"
            elif h["text"] is None:
                what = f"released at {_e(h['released'])} without text: {_e(h['error'])}"
            else:
                what = (f"due at {_e(h['at'])}, released at {_e(h['released'])}: "
                        f"{_e(h['text'])}")
            lines.append(f"<li>timed hint {h['index']}, {what}</li>")
        if shown["answer_format"]:
            lines.append(f"<li>answer format: <em>{_e(shown['answer_format'])}</em></li>")
        if lines:
            items.append(f"<dt>{_e(team)}</dt><dd><ul>{''.join(lines)}</ul></dd>")
    return f"<h3>Hints</h3><dl class=\"hints\">{''.join(items)}</dl>" if items else ""


def _hint_pictures(state: st.State, rnd: st.Round, out: Path) -> dict[tuple[int, str], str]:
    """Copy the round's hint pictures into the site, each checked to be a PNG again."""
    copied: dict[tuple[int, str], str] = {}
    for team, ch in sorted(rnd.challenges.items()):
        for i in range(1, len(ch.meta.get("hint_images", [])) + 1):
            data = state.snapshot.read(f"{ch.folder}/{layout.hint_image_name(i)}") or b""
            try:
                checks.hint_image(ch.meta, i, data)
            except DixitError:
                continue
            rel = f"img/r{rnd.number:03d}-{team}-hint-{i}.png"
            atomic_write(out / rel, data)
            copied[(rnd.number, f"{team}/hint-{i}")] = rel
    return copied
