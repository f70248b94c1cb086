"""Commands that write the ledger: init, teams, rounds, propose, submit, reveal, score."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from dixit.commands._common import (
    JsonOpt,
    RoundOpt,
    TeamOpt,
    _emit,
    _ledger,
    _progress,
    _reader,
    _say,
    _warn,
    app,
    out,
    round_app,
    team_app,
)

# -- tournament and teams -----------------------------------------------------------------------


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder to create the tournament in.")],
    name: Annotated[str, typer.Option("--name", "-n", help="The tournament's display name.")],
    no_escrow: Annotated[bool, typer.Option(
        "--no-escrow", help="Do not escrow secrets to the closer; teams must `dixit reveal`.")
    ] = False,
    bare: Annotated[Path | None, typer.Option(
        "--bare", help="Also create a shared bare repository at this path and push to it "
        "(teams then `git clone` it).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a tournament: a git repository with tournament.toml, teams/, rounds/, the rulebook
    scoring/rules.toml and the closer's public key. Private keys go to the key store
    ($DIXIT_HOME, default ~/.config/dixit)."""
    from dixit.league import actions
    from dixit.ledger import keystore

    info = actions.init(directory, name, escrow=not no_escrow, bare=bare)
    data = {"id": info.id, "name": info.name, "path": str(directory),
            "keys": str(keystore.home() / info.id), "remote": str(bare) if bare else None}
    if as_json:
        _emit(data)
        return
    _say(f"created tournament '{info.name}' ({info.id}) in {directory}")
    _say(f"organizer and closer keys: {data['keys']} (keep them; they are not in the repo)")
    if bare:
        _say(f"shared ledger: {bare} (teams: git clone {bare} DIR)")


@team_app.command("add")
def team_add(
    name: Annotated[str, typer.Argument(help="Team name: 1-32 of a-z 0-9 - _.")],
    key: Annotated[str | None, typer.Option(
        "--key", help="The team's Ed25519 public key (base64), if the team made its own; "
        "otherwise a key pair is generated into the key store.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a team (organizer only): its public key is committed under teams/."""
    from dixit.league import actions

    team, path = actions.team_add(_ledger(), name, key)
    if as_json:
        _emit({"team": team.name, "key": team.key, "private_key": str(path) if path else None})
        return
    _say(f"registered team '{team.name}'" + (f"; private key: {path}" if path else ""))


@team_app.command("rotate")
def team_rotate(
    name: Annotated[str, typer.Argument(help="The team whose key to replace.")],
    key: Annotated[str | None, typer.Option(
        "--key", help="The team's new public key (from `dixit team keygen NAME --next` on the "
        "team's machine); otherwise a new key pair is generated into this key store.")] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded in the entry).")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Replace a team's key (organizer only), e.g. after a leak. Entries signed before stay
    valid under the old key; `dixit verify` checks each entry against the key of its time."""
    from dixit.league import actions

    team, path = actions.team_rotate(_ledger(), name, key, reason)
    data = {"team": team.name, "key": team.key, "rotation": len(team.history) - 1,
            "private_key": str(path) if path else None}
    if as_json:
        _emit(data)
        return
    _say(f"rotated '{team.name}' to key {data['rotation']}" +
         (f"; private key: {path}" if path else ""))


@team_app.command("remove")
def team_remove(
    name: Annotated[str, typer.Argument(help="The team to remove.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded in the entry).")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Remove a team (organizer only): it can write nothing more, and rounds closed from now on
    are scored without it. Its earlier entries and points stay in the ledger."""
    from dixit.league import actions

    team = actions.team_remove(_ledger(), name, reason)
    if as_json:
        _emit({"team": team.name, "removed": team.removed})
        return
    _say(f"removed '{team.name}' from the tournament")


@team_app.command("keygen")
def team_keygen(
    name: Annotated[str, typer.Argument(help="Your team's name.")],
    pending: Annotated[bool, typer.Option(
        "--next", help="Make the next key for a rotation; it takes over once the organizer "
        "runs `dixit team rotate NAME --key PUBLIC`.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Make your team's key pair on your own machine and print the public key to send to the
    organizer (`dixit team add NAME --key PUBLIC`). The private key never leaves the key store."""
    from dixit.league import actions

    public, path = actions.team_keygen(_reader(), name, pending)
    if as_json:
        _emit({"team": name, "key": public, "private_key": str(path), "next": pending})
        return
    _say(f"public key: {public}")
    _say(f"private key: {path} (keep it; send only the public key)")


@team_app.command("list")
def team_list(as_json: JsonOpt = False) -> None:
    """List the registered teams and their public keys."""
    from dixit import views
    from dixit.league import actions

    data = views.teams(actions.load_state(_reader()))
    if as_json:
        _emit(data)
        return
    from rich.table import Table

    table = Table(title="Teams", title_justify="left")
    table.add_column("team")
    table.add_column("public key")
    table.add_column("registered")
    table.add_column("rotations", justify="right")
    table.add_column("status")
    for t in data["teams"]:
        table.add_row(Text(t["name"]), Text(t["key"]), Text(t["added"]), str(t["rotations"]),
                      Text(f"removed {t['removed']}" if t["removed"] else "active"))
    out.print(table)


# -- rounds and challenges ----------------------------------------------------------------------


@round_app.command("open")
def round_open(
    propose_by: Annotated[str | None, typer.Option(
        "--propose-by", help="Deadline for proposals: ISO-8601 (2026-12-01T18:00Z) or relative "
        "(+2d, +90m). Default +2d.")] = None,
    submit_by: Annotated[str | None, typer.Option(
        "--submit-by", help="Deadline for submissions (after --propose-by). Default: 5 days "
        "after --propose-by.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Open the next round (organizer only; the previous round must be closed)."""
    from dixit.league import actions
    from dixit.ledger import clock

    rnd = actions.round_open(_ledger(), propose_by, submit_by)
    data = {"round": rnd.number, "propose_by": clock.iso(rnd.propose_by),
            "submit_by": clock.iso(rnd.submit_by)}
    if as_json:
        _emit(data)
        return
    _say(f"opened round {rnd.number:03d}: propose by {data['propose_by']}, "
         f"submit by {data['submit_by']}")




@app.command()
def propose(
    folder: Annotated[Path, typer.Argument(help="Challenge folder from `dixit challenge new`.")],
    team: TeamOpt,
    as_json: JsonOpt = False,
) -> None:
    """Seal and publish a challenge into the current round: the model in the clear, the labeler
    sealed (salted SHA-256) and escrowed to the closer, signed with the team's key."""
    from dixit.league import actions

    p = actions.propose(_ledger(), team, folder, warn=_warn)
    data = {"round": p.round, "team": p.team, "commitment": p.commitment,
            "model_sha256": p.model_sha256, "claimed_accuracy": p.claimed_accuracy,
            "required": p.required, "metric": p.metric}
    if as_json:
        _emit(data)
        return
    if p.kind == "flag":  # no accuracy to claim or bar to reach: a guess names it or not
        _say(f"proposed {team}'s flag challenge in round {p.round:03d} (solved by naming the "
             f"planted string); seal {p.commitment[:16]}…")
        return
    bar = f"KL <= {p.required:g} nats" if p.metric == "kl" else \
        f"~{p.required:.2%} {'exact sequences' if p.metric == 'exact-sequence' else 'agreement'}"
    _say(f"proposed {team}'s challenge in round {p.round:03d} (claimed held-out accuracy "
         f"{p.claimed_accuracy:.2%}; solved at {bar}); seal {p.commitment[:16]}…")


@app.command()
def submit(
    program: Annotated[Path, typer.Argument(help="Python file defining label(x).")],
    team: TeamOpt,
    challenge: Annotated[str, typer.Option("--challenge", "-c",
                                           help="The team whose challenge this solves.")],
    explanation: Annotated[Path | None, typer.Option(
        "--explanation", "-e", help="How the program was found: a Markdown (.md) or Jupyter "
        "notebook (.ipynb) file, sealed with the program and published at the close (never "
        "run).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Seal and publish a program for another team's challenge, with its explanation if given
    (replaces an earlier submission, explanation included)."""
    from dixit.league import actions

    s = actions.submit(_ledger(), team, challenge, program, explanation)
    data = {"round": s.round, "team": s.team, "challenge": s.target,
            "commitment": s.commitment, "replaced": s.replaced, "explanation": s.explanation}
    if as_json:
        _emit(data)
        return
    told = "" if s.explanation is None else (
        f" with its explanation ({s.explanation['format']}, {s.explanation['bytes']:,} bytes)")
    _say(f"{'re' if s.replaced else ''}submitted {team}'s {s.what} for {challenge}'s challenge "
         f"in round {s.round:03d}{told}; seal {s.commitment[:16]}…")


@app.command()
def check(
    program: Annotated[Path, typer.Argument(help="Python file defining label(x) (or a flag "
                                            "guess, for a flag challenge).")],
    challenge: Annotated[str, typer.Option("--challenge", "-c",
                                           help="The team whose challenge it is for.")],
    round_no: RoundOpt = None,
    allow_weak_isolation: Annotated[bool, typer.Option(
        "--allow-weak-isolation", help="Run even with a weaker sandbox than the rulebook's.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Try a program before submitting it: run it in the same sandbox, limits and output
    checks as `dixit score`, against the challenge's published model over the public
    inputs (never the sealed labeler), and report whether it defines label(x), returns the
    declared output, the time and memory it used, and its agreement with the model. Nothing is
    written; exit 1 when the close would record an error for it.

    \b
      dixit check mine.py --challenge alice
    """
    from rich.table import Table
    from rich.text import Text

    from dixit.league import precheck
    from dixit.views import tables

    doc = precheck.check(_reader(), challenge, program, round_no=round_no,
                         allow_weak=allow_weak_isolation)
    if as_json:
        _emit(doc.as_dict())
    else:
        table = Table(title=f"check: {program.name} for {challenge}'s challenge (round "
                      f"{doc.round:03d})", title_justify="left", show_header=False)
        table.add_column(style="bold")
        table.add_column()
        table.add_row("runs", Text("yes", style="green") if doc.ok
                      else Text(f"no: {doc.error}", style="red"))
        table.add_row("judged as", f"{doc.kind}, output {doc.output}, metric {doc.metric}")
        if doc.kind != "flag":
            lim = doc.limits or {}
            table.add_row("inputs", f"{doc.inputs:,} of {doc.domain} (the public ones)")
            table.add_row("time", f"{doc.seconds:.2f} s wall, {doc.cpu_seconds:.2f} s cpu "
                          f"(limits {lim.get('wall_seconds')} s, {lim.get('cpu_seconds')} s)")
            table.add_row("memory", f"{doc.max_rss_mb:,.0f} MB peak resident, the shared "
                          f"torch runtime included (limit {lim.get('memory_mb')} MB extra)")
        if doc.score_vs_model is not None:
            score = tables.format_score({"kind": doc.kind, "metric": doc.metric},
                                        doc.score_vs_model)
            ids = "" if doc.metric == "agreement" else \
                f"; class ids agree {doc.agreement_vs_model:.2%}"
            table.add_row("vs the model", f"{doc.metric} {score}{ids}")
        if doc.printed.strip():
            table.add_row("printed", Text(doc.printed.strip()[-500:]))
        out.print(table)
        if doc.kind != "flag":
            _say("this is against the published model, not the sealed labeler: it shows the "
                 "program runs and what it returns, not whether it solves")
    if not doc.ok:
        raise typer.Exit(1)


@app.command()
def reveal(team: TeamOpt, round_no: RoundOpt = None, as_json: JsonOpt = False) -> None:
    """Reveal the team's own sealed labeler and programs (after submit-by); each is checked
    against its seal. Needed when the tournament runs without escrow."""
    from dixit.league import actions

    items = actions.reveal(_ledger(), team, round_no)
    if as_json:
        _emit({"team": team, "revealed": items})
        return
    _say(f"revealed {', '.join(items)} for {team}")


@app.command()
def score(
    parts: Annotated[list[Path] | None, typer.Argument(
        help="With --merge: the partial result files of every shard.", show_default=False)
    ] = None,
    round_no: RoundOpt = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Organizer: close the round before its submit-by.")] = False,
    due: Annotated[bool, typer.Option(
        "--due", help="Close every round whose submit-by has passed (none due: do nothing, "
        "exit 0). What the scheduled workflow runs; safe to run twice.")] = False,
    shard: Annotated[str | None, typer.Option(
        "--shard", metavar="K/N", help="Replay only shard K of N (a deterministic share of "
        "the challenges, each with its labeler and programs) and write a partial result to "
        "--out; nothing is committed.")] = None,
    out_file: Annotated[Path | None, typer.Option(
        "--out", help="Where --shard writes its partial result (JSON).")] = None,
    merge: Annotated[bool, typer.Option(
        "--merge", help="Merge the partial results PARTS of every shard and commit them "
        "exactly as one run would.")] = False,
    allow_weak_isolation: Annotated[bool, typer.Option(
        "--allow-weak-isolation", help="Score even if the sandbox is weaker than the "
        "rulebook's replay.isolation.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Close a round: reveal from escrow (closer key from the key store or
    $DIXIT_CLOSER_KEY), check every seal, replay every program and labeler in a sandbox over
    the whole domain, apply Dixit scoring, commit rounds/NNN/results.toml and tag the round.
    Running it again on a closed round writes nothing."""
    from dixit import replay
    from dixit.errors import UsageError

    if not (merge or due):  # a close replays: its sandbox warms up (torch) from now on
        replay.prestart()
    from dixit.league import closing
    from dixit.views import tables as report

    if parts and not merge:
        raise UsageError("partial result files are only taken with --merge")
    if merge and (shard or due or round_no is not None or out_file):
        raise UsageError("--merge takes only the partial files (and --force, --json)")
    if due and (force or round_no is not None):
        raise UsageError("--due picks the rounds itself; drop --round/--force")
    if (shard is None) != (out_file is None):
        raise UsageError("--shard K/N and --out FILE go together")
    if shard is not None:
        _score_shard(shard, out_file, round_no, due, force, allow_weak_isolation, as_json)
        return
    if merge:
        from dixit.league import shards

        outcome = shards.merge(_ledger(), list(parts or []), force=force)
        outcomes = [outcome]
    elif due:
        with _progress("replaying", as_json) as tick:
            outcomes = closing.score_due(_ledger(), allow_weak=allow_weak_isolation,
                                         progress=tick)
        closed = [o.results["round"] for o in outcomes if o.written]
        if as_json:
            _emit({"closed": closed, "results": [o.results for o in outcomes if o.written]})
            return
        if not outcomes:
            _say("no round is due (every round is closed or still before its submit-by)")
    else:
        with _progress("replaying", as_json) as tick:
            outcomes = [closing.score(_ledger(), round_no, force=force,
                                      allow_weak=allow_weak_isolation, progress=tick)]
    if as_json:
        _emit(outcomes[0].results)
        return
    for outcome in outcomes:
        if not outcome.written:
            _say(f"round {outcome.results['round']:03d} was already closed; nothing written")
        out.print(report.results_table(outcome.results))
        out.print(report.points_table(outcome.results))


def _score_shard(spec: str, out_file: Path | None, round_no: int | None, due: bool,
                 force: bool, allow_weak: bool, as_json: bool) -> None:
    from dixit.league import shards

    k, n = shards.parse_spec(spec)
    assert out_file is not None
    with _progress("replaying", as_json) as tick:
        data = shards.run_shard(_ledger(), k, n, out_file, round_no, due=due, force=force,
                                allow_weak=allow_weak, progress=tick)
    info = {"round": data["round"] if data else None, "shard": f"{k}/{n}",
            "challenges": data["shard"]["challenges"] if data else [],
            "out": str(out_file) if data else None}
    if as_json:
        _emit(info)
    elif data is None:
        _say("no round is due; no partial result written")
    else:
        _say(f"replayed shard {k}/{n} of round {data['round']:03d} "
             f"({', '.join(info['challenges']) or 'no challenges'}); wrote {out_file} "
             f"(merge every part with `dixit score --merge PART...`)")


@app.command()
def hints(
    due: Annotated[bool, typer.Option(
        "--due", help="Closer: release every timed hint whose time has come (none due: do "
        "nothing, exit 0). What the scheduled workflow runs; safe to run twice.")] = False,
    round_no: RoundOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a round's hints (static, timed with their times, answer formats), or with --due
    release the timed hints that are due: each is opened from escrow (closer key from the key
    store or $DIXIT_CLOSER_KEY), checked against its seal and committed, closer-signed."""
    from dixit.league import actions, hints as timed
    from dixit.views import read, tables as report

    if due:
        released = timed.release_due(_ledger(), round_no)
        if as_json:
            _emit({"released": [r.as_dict() for r in released]})
            return
        for r in released:
            _say(f"released {r.team}'s timed hint {r.index} of round {r.round:03d} (due at "
                 f"{r.at})" + (f"; could not open it: {r.error}" if r.error else ""))
        if not released:
            _say("no timed hint is due")
        return
    state = actions.load_state(_reader())
    rnd = state.round(round_no)
    data = {"round": rnd.number,
            "challenges": [{"team": t, **read.published(c, rnd, state.snapshot)}
                           for t, c in sorted(rnd.challenges.items())]}
    if as_json:
        _emit(data)
        return
    lines = [line for c in data["challenges"] for line in report.hint_lines(c)]
    for line in lines:
        out.print(line)
    if not lines:
        _say(f"no hints in round {rnd.number:03d}")
