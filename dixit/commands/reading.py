"""Commands that read: standings, status, inspect, show, verify, report, validate, doctor."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from dixit.commands._common import (
    JsonOpt,
    RoundOpt,
    _ctx,
    _emit,
    _progress,
    _reader,
    _say,
    _warn,
    app,
    err,
    out,
)


@app.command()
def standings(as_json: JsonOpt = False) -> None:
    """Points summed over closed rounds, best first (ties: solves, Dixits, name)."""
    from dixit import views
    from dixit.league import actions
    from dixit.views import tables as report

    data = views.standings(actions.load_state(_reader()))
    if as_json:
        _emit(data)
        return
    out.print(report.standings_table(data))


@app.command()
def status(as_json: JsonOpt = False) -> None:
    """The current round, its phase and deadlines, and who proposed and submitted what."""
    from dixit import views
    from dixit.league import actions
    from dixit.views import tables as report

    data = views.status(actions.load_state(_reader()))
    if as_json:
        _emit(data)
        return
    out.print(report.status_table(data))


@app.command()
def inspect(
    target: Annotated[str, typer.Argument(
        metavar="CHALLENGE", help="A team name (its challenge in the round), a folder from "
        "`dixit challenge new`, or a ledger folder rounds/NNN/challenges/TEAM.")],
    round_no: RoundOpt = None,
    submission: Annotated[str | None, typer.Option(
        "--submission", "-s", help="Also show this team's explanation for the challenge "
        "(once revealed).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a challenge without running its code: kind, architecture and parameter counts,
    domain, claimed accuracy, seal status (model and domain against the seal, escrow, reveal,
    measured accuracy once closed), the explanations sealed with its submissions and where its
    files are. Exits 1 when a check fails (a file missing here, a seal mismatch), after
    showing everything."""
    from dixit.views import inspection

    data = inspection.inspect(target, root=_ctx["root"], round_no=round_no, warn=_warn,
                              submission=submission)
    if as_json:
        _emit(data)
    else:
        out.print(inspection.renderable(data))
    if data["problems"]:
        raise typer.Exit(1)


@app.command()
def show(
    target: Annotated[str, typer.Argument(
        metavar="CHALLENGE", help="A team name (its challenge in the round), a folder from "
        "`dixit challenge new`, or a ledger folder rounds/NNN/challenges/TEAM.")],
    out_file: Annotated[Path, typer.Option("--out", "-o", help="The PNG file to write.")],
    round_no: RoundOpt = None,
    submission: Annotated[str | None, typer.Option(
        "--submission", "-s", help="Also draw this team's submitted program (once revealed).")
    ] = None,
    allow_weak_isolation: Annotated[bool, typer.Option(
        "--allow-weak-isolation", help="Replay revealed code even with a weaker sandbox.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Draw a challenge's picture into a PNG, chosen by its domain and output: label maps of
    a 2-D grid (a across, b up), sample images of an image dataset with every label, agreement
    per position of a token sequence (and KL for a distribution), else agreement per class.
    It compares the labeler (the truth), the model and, with --submission, a team's program;
    disagreements are red; with --submission it also prints that team's explanation, once
    revealed. Ledger labelers and programs are drawn only once revealed, and run only in the
    sandbox; before that the model is drawn alone."""
    from dixit.views import show as showing

    shown = showing.show(target, out_file, root=_ctx["root"], round_no=round_no,
                         submission=submission, allow_weak=allow_weak_isolation, warn=_warn)
    if as_json:
        _emit(shown.as_dict())
        return
    for note in shown.notes:
        _say(f"note: {note}")
    parts = [p["title"] + (f" {p['agreement']:.2%}" if p["agreement"] is not None else "")
             for p in shown.panels]
    _say(f"wrote {out_file} ({'; '.join(parts)})")
    if shown.explanation is not None:
        from dixit.views import explanations

        out.print(explanations.renderable(shown.explanation))


@app.command()
def verify(
    round_no: RoundOpt = None,
    no_replay: Annotated[bool, typer.Option(
        "--no-replay", help="Re-score from recorded agreements instead of replaying.")] = False,
    allow_weak_isolation: Annotated[bool, typer.Option(
        "--allow-weak-isolation", help="Replay even with a weaker sandbox.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Re-check every signature and seal and re-score every closed round from the ledger
    alone. Exits 1 naming each problem."""
    from dixit.league import verify as v

    with _progress("verifying", as_json) as tick:
        rep = v.verify(_reader(), round_no, replay=not no_replay,
                       allow_weak=allow_weak_isolation, progress=tick)
    if as_json:
        _emit(rep.as_dict())
    else:
        for p in rep.problems:
            err.print(Text("✗ ", style="red") + Text(p))
        checked = ", ".join(f"{n} {what}" for what, n in rep.checked.items())
        if rep.problems:
            _say(f"verify: {len(rep.problems)} problem(s); checked {checked}")
        else:
            _say(f"verify: ok ({checked})")
    if rep.problems:
        raise typer.Exit(1)


@app.command("report")
def report_site(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the site to.")],
    no_pictures: Annotated[bool, typer.Option(
        "--no-pictures", help="Skip the pictures (no replay, no matplotlib). Without "
        "matplotlib (the plots extra) they are skipped anyway, with one warning.")] = False,
    allow_weak_isolation: Annotated[bool, typer.Option(
        "--allow-weak-isolation", help="Replay for the pictures even with a weaker sandbox.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write the results as a static site: OUT/index.html (season and per-round standings;
    per round its challenges with kind, output, metric and what solves them, the
    challenge-by-team matrix, and per challenge its hints, picture, revealed labeler and every
    submitted program, highlighted) and OUT/img/*.png, the pictures `dixit show` draws,
    replayed in the sandbox on the inputs the close judged. Opens from file:// or GitHub
    Pages; no scripts, no external assets."""
    from dixit.views import site

    with _progress("drawing", as_json) as tick:
        built = site.build(_reader(), out_dir, pictures=not no_pictures,
                           allow_weak=allow_weak_isolation, progress=tick)
    if as_json:
        _emit(built.as_dict())
        return
    for why in built.skipped:
        _say(f"no picture: {why}")
    _say(f"wrote {out_dir / 'index.html'} ({len(built.rounds)} closed round(s), "
         f"{len(built.pictures)} picture(s))")


@app.command()
def validate(
    base: Annotated[str, typer.Option(
        "--base", help="The branch or commit the changes are judged against "
        "(a pull request's base, e.g. origin/main).")],
    as_json: JsonOpt = False,
) -> None:
    """Check every commit and file between --base and HEAD (a pull request) without running
    any team code: only ledger entries, all of one signer, each signed with the key registered
    for the owner of its path, companions matching their seals, deadlines by this machine's
    clock, nothing sealed deleted or edited. Exits 1 naming each problem."""
    from dixit.league import validate as v

    rep = v.validate(_ctx["root"] or Path.cwd(), base)
    for p in rep.problems:
        err.print(Text("✗ ", style="red") + Text(p))
    if as_json:
        _emit(rep.as_dict())
    else:
        from rich.table import Table

        table = Table(title=f"Entries in {rep.commits} commit(s) since {base}",
                      title_justify="left")
        for col in ("path", "change", "kind", "signer"):
            table.add_column(col)
        for e in rep.entries:
            table.add_row(Text(e["path"]), Text(e["status"]), Text(e["kind"]), Text(e["signer"]))
        out.print(table)
        _say(f"validate: {'ok' if not rep.problems else f'{len(rep.problems)} problem(s)'} "
             f"(judged at {rep.now})")
    if rep.problems:
        raise typer.Exit(1)


@app.command()
def doctor(as_json: JsonOpt = False) -> None:
    """Show what isolation this machine's kernel gives replayed programs."""
    from dixit import replay

    iso = replay.probe_isolation()
    if as_json:
        _emit(iso.as_dict())
        return
    _say(f"sandbox isolation: {iso.describe()}")
