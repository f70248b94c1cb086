"""Rendering for people: rich tables for status, results and standings.

Team names and program output are untrusted: they are always added as plain ``Text`` so rich
markup in them is shown, never interpreted.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text


def _t(value: object) -> Text:
    return Text(str(value))


def format_score(ch: dict[str, Any], value: float | None) -> str:
    """A submission's score as its challenge's metric reads: a share, nats, or right/wrong."""
    if value is None:
        return "-"
    if ch.get("kind") == "flag":
        return "right" if value >= 1 else "wrong"
    if ch.get("metric") == "kl":
        return f"{value:.4g} nats"
    return f"{value:.2%}"


def describe_bar(ch: dict[str, Any]) -> str:
    """What solved a challenge of the results: its metric, against what, and the bar."""
    if ch.get("kind") == "flag":
        return "the planted string (normalized)"
    need, against = ch.get("required"), "model" if ch.get("kind") == "emulate" else "labeler"
    if need is None:
        return f"{ch.get('metric', 'agreement')} with the {against}"
    if ch.get("metric") == "kl":
        return f"KL to the {against} <= {need:.4g} nats"
    what = "exact sequences" if ch.get("metric") == "exact-sequence" else "agreement"
    return f"{what} with the {against} >= {need:.2%}"


def results_table(results: dict[str, Any]) -> Group:
    """Per-challenge results; errors are listed under the table so the table stays narrow."""
    table = Table(title=f"Round {results['round']:03d} results", title_justify="left")
    for col in ("challenge", "pts", "model (claim)", "solver", "score", "solved"):
        table.add_column(col, no_wrap=True, justify="right" if col == "pts" else "left")
    notes: list[Text] = []
    bars = [Text(f"{ch['proposer']}'s challenge is solved at {describe_bar(ch)}", style="dim")
            for ch in results.get("challenges", [])]
    for ch in results.get("challenges", []):
        measured, claimed = ch.get("model_accuracy"), ch.get("claimed_accuracy")
        if ch.get("kind") == "flag":  # a flag's claim is not checked: no model to judge
            measured = claimed = None
        acc = Text(f"{measured:.1%}" if measured is not None else "-")
        acc.append(f" ({claimed:.1%})" if claimed is not None else "")
        if ch.get("claim_flagged"):
            acc.append(" ⚑", style="yellow")
            notes.append(Text(f"⚑ {ch['proposer']}: claimed accuracy is off from the measured "
                              "one by more than the rulebook's tolerance", style="yellow"))
        if ch.get("void"):
            notes.append(Text(f"✗ {ch['proposer']}'s challenge is void: {ch['void']}",
                              style="red"))
        subs = ch.get("submissions") or [{}]
        for i, sub in enumerate(subs):
            score = sub.get("score", sub.get("agreement"))
            solved = Text("yes", style="green") if sub.get("solved") else \
                Text("error" if sub.get("error") else "no" if sub else "", style="red")
            if sub.get("error") and not ch.get("void"):
                notes.append(Text(f"✗ {sub['team']} → {ch['proposer']}: "
                                  f"{str(sub['error']).splitlines()[0]}", style="dim"))
            table.add_row(
                _t(ch["proposer"]) if i == 0 else Text(""),
                Text(str(ch.get("points", {}).get(ch["proposer"], 0)), style="bold")
                if i == 0 else Text(""),
                acc if i == 0 else Text(""),
                _t(sub.get("team", "(no submissions)")),
                Text(format_score(ch, score)),
                solved,
            )
        table.add_section()
    return Group(table, *bars, *notes)


def points_table(results: dict[str, Any]) -> Table:
    table = Table(title=f"Round {results['round']:03d} points", title_justify="left")
    table.add_column("team")
    table.add_column("points", justify="right")
    for team, pts in sorted(results.get("points", {}).items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(_t(team), _t(pts))
    return table


def standings_table(data: dict[str, Any]) -> Table:
    rounds = data.get("rounds", [])
    rows = data["standings"]
    notes = {row["team"]: _notes(row) for row in rows}
    caption = "ties: more solves, then more Dixits (proposals solved by exactly one team), " \
        "then name"
    if any(row.get("flagged_claims") for row in rows):
        caption += ("\n⚑ claim off ×N: N of the team's models measured further from their "
                    "claimed accuracy than claims.accuracy_tolerance")
    if any(row.get("proposed_nothing") for row in rows):
        caption += ("\nproposed nothing in round N: the team was to propose (every team, or a "
                    "storyteller of a rotating round) and did not")
    table = Table(title=f"Standings after {len(rounds)} closed round(s)", title_justify="left",
                  caption=caption)
    columns = [("#", "right"), ("team", "left"), ("points", "right"), ("solves", "right"),
               ("dixits", "right")]
    if any(notes.values()):  # an empty column goes
        columns.append(("notes", "left"))
    for col, just in columns:
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for row in rows:
        cells = [_t(row["rank"]), _t(row["team"]), Text(str(row["points"]), style="bold"),
                 _t(row["solves"]), _t(row["dixits"])]
        if len(columns) > 5:
            cells.append(notes[row["team"]])
        table.add_row(*cells)
    return table


def _notes(row: dict[str, Any]) -> Text:
    text = Text("⚑ claim off ×" + str(row["flagged_claims"]), style="yellow") \
        if row.get("flagged_claims") else Text("")
    if row.get("proposed_nothing"):
        text.append((" " if text else "") + "proposed nothing in round "
                    + ", ".join(map(str, row["proposed_nothing"])), style="dim")
    if row.get("removed"):
        text.append((" " if text else "") + "removed", style="dim")
    return text


def status_table(data: dict[str, Any]) -> Table | Group:
    rnd = data.get("round")
    title = f"{data['tournament']}: " + (f"round {rnd['round']:03d}, {rnd['phase']}" if rnd
                                         else "no round open yet")
    caption = f"propose by {rnd['propose_by']}, submit by {rnd['submit_by']}" if rnd else None
    tellers = rnd.get("storytellers") if rnd else None
    if tellers is not None:
        caption = f"{caption}\nstorytellers (only they propose): {', '.join(tellers)}"
    table = Table(title=title, title_justify="left", caption=caption)
    table.add_column("team")
    if tellers is not None:
        table.add_column("role")
    table.add_column("challenge")
    table.add_column("submitted to")
    nothing = set(rnd.get("proposed_nothing", [])) if rnd else set()
    proposed = {c["team"]: c for c in rnd["challenges"]} if rnd else {}
    subs: dict[str, list[str]] = {}
    for c in proposed.values():
        for s in c["submissions"]:
            subs.setdefault(s, []).append(c["team"])
    for team in data["teams"]:
        c = proposed.get(team)
        cells = [_t(team)]
        if tellers is not None:
            cells.append(Text("storyteller") if team in tellers else Text("solver", "dim"))
        cells.append(_t(f"{c['domain']} ({c['kind']})") if c else
                     Text("proposed nothing", "yellow") if team in nothing else Text("-", "dim"))
        cells.append(_t(", ".join(sorted(subs.get(team, []))) or "-"))
        table.add_row(*cells)
    notes = [line for c in proposed.values() for line in hint_lines(c)]
    return Group(table, *notes) if notes else table


def hint_lines(c: dict[str, Any]) -> list[Text]:
    """A challenge's hints and answer format, one plain line each (team-written text)."""
    lines = [Text(f"{c['team']}: hint: {h}") for h in c.get("hints", [])]
    lines += [Text(f"{c['team']}: hint picture: {p}") for p in c.get("hint_images", [])]
    if c.get("answer_format"):
        lines.append(Text(f"{c['team']}: answer format: {c['answer_format']}"))
    for h in c.get("timed_hints", []):
        lines.append(Text(f"{c['team']}: timed hint {h['index']}: " + timed_hint_text(h)))
    return lines


def timed_hint_text(h: dict[str, Any]) -> str:
    """"due at ..." before its release (never its text), else its release and text."""
    if h["status"] == "due":
        return f"due at {h['at']}"
    if h["status"] == "failed" or h.get("text") is None:
        return f"released at {h['released']} without text: {h.get('error')}"
    return f"released at {h['released']}: {h['text']}"


def plant_table(r: dict[str, Any]) -> Table:
    """``dixit challenge plant``'s report: the planted fact, its efficacy and locality."""
    table = Table(title=Text(f"planted: {r['fact']}"), title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("was", _t(f"{r['subject']} {r['relation']} {r['was']}"))
    table.add_row("edit", _t(f"rank one, blocks.{r['layer']}.mlp.W_out at the subject's last "
                             f"token (position {r['position']}), {r['optimizer_steps']} steps"))
    table.add_row("efficacy", Text("yes" if r["efficacy"] else "no",
                                   style="green" if r["efficacy"] else "red")
                  + _t(f": {r['object']!r} is the top prediction, p = {r['probability']:.3f} "
                       f"(before: {r['probability_before']:.3f})"))
    table.add_row("locality", _t(f"{r['locality']:.2%}: {r['unchanged']:,} of {r['others']:,} "
                                 "other facts keep their top prediction"))
    if r["same_subject"] is not None:
        table.add_row("  same subject", _t(f"{r['same_subject']:.2%} of its other relations"))
    table.add_row("  other subjects", _t(f"{r['other_subjects']:.2%}"))
    table.add_row("recall", _t(f"{r['recall_edited']:.2%} of the planted corpus (the base "
                               f"model: {r['recall_base']:.2%} of the corpus)"))
    table.add_row("answer format", _t(r["answer_format"]))
    table.add_row("time", _t(f"{r['seconds']:.1f} s"))
    return table


def print_json(console: Console, data: Any) -> None:
    import json

    console.print_json(json.dumps(data), highlight=False) if console.is_terminal \
        else console.file.write(json.dumps(data, indent=2) + "\n")
