"""The ``dixit`` command: parses, calls the library, renders. No rules or ledger logic here.

Exit codes: 0 success; 1 a refused action or a failed check (one line on stderr says what and
how to fix it, and the ledger is unchanged); 2 a usage error.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from dixit.errors import DixitError

app = typer.Typer(
    name="dixit",
    help="Run interpretability challenge tournaments under Dixit rules, kept in a git ledger.\n\n"
    "A round: the organizer opens it; every team trains a model on a secret labeler and "
    "proposes it (sealed); teams submit programs that recover each other's labelers (sealed); "
    "after the deadline `dixit score` reveals, replays every program in a sandbox and applies "
    "Dixit scoring: a proposer scores most when exactly one other team solves its challenge.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
)
team_app = typer.Typer(help="Register and list teams.", no_args_is_help=True)
round_app = typer.Typer(help="Open rounds.", no_args_is_help=True)
challenge_app = typer.Typer(help="Make challenge folders (train a model on a labeler).",
                            no_args_is_help=True)
app.add_typer(team_app, name="team")
app.add_typer(round_app, name="round")
app.add_typer(challenge_app, name="challenge")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
_ctx: dict[str, Path | None] = {"root": None}

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON only.")]
TeamOpt = Annotated[str, typer.Option("--team", "-t", envvar="DIXIT_TEAM",
                                      help="The team acting (or $DIXIT_TEAM).")]
RoundOpt = Annotated[int | None, typer.Option("--round", "-r", min=1,
                                              help="Round number (default: the current one).")]


@app.callback()
def _root(
    path: Annotated[Path | None, typer.Option(
        "-C", help="Work on the tournament at PATH (default: the current directory or the "
        "nearest parent that is a tournament).")] = None,
) -> None:
    _ctx["root"] = path


def _ledger() -> Any:
    from dixit.league import actions

    return actions.open_ledger(_ctx["root"])


def _reader() -> Any:
    """The ledger for a read-only command, brought up to date with its remote if it has one."""
    ledger = _ledger()
    problem = ledger.refresh()
    if problem:
        _warn(problem)
    return ledger


def _emit(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")


def _say(msg: str) -> None:
    err.print(Text(msg))


def _warn(msg: str) -> None:
    err.print(Text("warning: ", style="yellow bold") + Text(msg))


@contextmanager
def _progress(label: str, quiet: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar on a terminal; nothing in --json mode or CI logs."""
    if quiet or not err.is_terminal or os.environ.get("CI"):
        yield None
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


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


# Options shared by `challenge new` and `challenge import`: the architecture and its knobs.
ArchOpt = Annotated[str, typer.Option(
    "--arch", help="Model architecture: mlp (any domain), transformer (grid or tokens: one "
    "attention + MLP layer, TransformerLens parameter names; a grid pair (a, b) is read as the "
    "tokens a, b, '=') or cnn (image datasets).")]
KindOpt = Annotated[str, typer.Option(
    "--kind", help="What solvers must find: labeler (the program; default), emulate (a "
    "program reproducing the model's own outputs) or flag (the --flag string).")]
FlagOpt = Annotated[str | None, typer.Option(
    "--flag", help="The secret string of a --kind flag challenge (1-256 characters; matched "
    "after Unicode NFKC, case folding and whitespace collapsing).")]
TrainFracOpt = Annotated[float, typer.Option(
    "--train-frac", help="Fraction of the domain trained on; the rest is held out.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of split, init and sampling.")]
HiddenOpt = Annotated[str | None, typer.Option(
    "--hidden", help="mlp/cnn hidden layer sizes, comma-separated (mlp default 256,256; cnn "
    "200).")]
ChannelsOpt = Annotated[str | None, typer.Option(
    "--channels", help="cnn convolution channels, comma-separated (default 8,16).")]
DModelOpt = Annotated[int | None, typer.Option(
    "--d-model", min=1, help="transformer residual width (default 128).")]
HeadsOpt = Annotated[int | None, typer.Option(
    "--heads", min=1, help="transformer attention heads; d_head = d_model / heads (default 8).")]
DMlpOpt = Annotated[int | None, typer.Option(
    "--d-mlp", min=1, help="transformer MLP width (default 1024).")]
SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", metavar="KEY=VALUE", help="Any other architecture config field, repeatable: "
    "transformer act=gelu, append_eq=false, classes, vocab; cnn kernel=5, padding, pool, "
    "dropout=0.2; mlp hidden=64,64. A wrong key is refused with the list of known ones.")]


def _challenge_root() -> Path:
    """Where dataset: paths resolve: the enclosing tournament, else -C PATH or the cwd."""
    from dixit.ledger.store import find_root

    try:
        return find_root(_ctx["root"] or Path.cwd())
    except DixitError:
        return _ctx["root"] or Path.cwd()


def _challenge_report(verb: str, summary: dict[str, Any], out_dir: Path) -> None:
    _say(f"{verb} {summary['arch']} ({summary['parameters']:,} parameters) in "
         f"{summary['seconds']:.1f} s: train accuracy {summary['train_accuracy']:.2%}, "
         f"held-out accuracy {summary['heldout_accuracy']:.2%}")
    _say(f"wrote {out_dir}/ ({summary['kind']} challenge; propose it with "
         f"`dixit propose --team TEAM {out_dir}`)")


@challenge_app.command("new")
def challenge_new(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the challenge into (new).")],
    labeler: Annotated[Path, typer.Option("--labeler", "-l",
                                          help="Python file defining label(x).")],
    domain: Annotated[str, typer.Option(
        "--domain", "-d", help="Evaluation domain: grid:PxQ, tokens:VxL[:N] or "
        "dataset:PATH.safetensors.")],
    arch: ArchOpt = "mlp",
    kind: KindOpt = "labeler",
    flag: FlagOpt = None,
    train_frac: TrainFracOpt = 0.5,
    seed: SeedOpt = 0,
    steps: Annotated[int | None, typer.Option(
        "--steps", min=1, help="Optimizer steps (default per architecture: mlp 400, "
        "transformer 1000, cnn 600).")] = None,
    lr: Annotated[float | None, typer.Option(
        "--lr", min=0.0, help="Peak learning rate of the one-cycle AdamW schedule (default mlp "
        "3e-3, transformer 2e-3, cnn 2e-3).")] = None,
    weight_decay: Annotated[float | None, typer.Option(
        "--weight-decay", min=0.0, help="AdamW weight decay (default mlp 0, transformer 1.0, "
        "cnn 1e-4).")] = None,
    batch_size: Annotated[int | None, typer.Option(
        "--batch-size", min=1, help="Examples per step (default mlp 2048, transformer 512, "
        "cnn 128).")] = None,
    hidden: HiddenOpt = None,
    channels: ChannelsOpt = None,
    d_model: DModelOpt = None,
    heads: HeadsOpt = None,
    d_mlp: DMlpOpt = None,
    settings: SetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Train a challenge model on a labeler over a domain and write OUT/ with challenge.toml,
    model.safetensors and the labeler (plus flag.txt for --kind flag). Prints train and
    held-out accuracy and the seconds taken; the seed makes it reproducible.

    A transformer in the spirit of the seed challenge (d_model 128, 8 heads, d_mlp 1024,
    ReLU, no LayerNorm), about 97% held-out accuracy in under a minute on 2 cores:

    \b
      dixit challenge new ring -l curved113.py -d grid:113x113 --arch transformer
    """
    from dixit import challenge

    overrides = challenge.arch_overrides(hidden=hidden, channels=channels, d_model=d_model,
                                         heads=heads, d_mlp=d_mlp, settings=settings)
    with _progress("training", as_json) as tick:
        summary = challenge.create(out_dir, labeler, domain, arch=arch, train_frac=train_frac,
                                   seed=seed, steps=steps, overrides=overrides, lr=lr,
                                   weight_decay=weight_decay, batch_size=batch_size,
                                   kind=kind, flag=flag, root=_challenge_root(),
                                   progress=tick)
    if as_json:
        _emit(summary)
        return
    _challenge_report("trained", summary, out_dir)


@challenge_app.command("import")
def challenge_import(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the challenge into (new).")],
    state_dict: Annotated[Path, typer.Option(
        "--state-dict", help="Weights trained elsewhere: a torch.save(model.state_dict()) file "
        "(read once, here, with torch.load(weights_only=True)), a checkpoint dict holding it "
        "under 'state_dict' or 'model', or a .safetensors file.")],
    arch: ArchOpt,
    labeler: Annotated[Path, typer.Option("--labeler", "-l",
                                          help="Python file defining label(x).")],
    domain: Annotated[str, typer.Option(
        "--domain", "-d", help="Evaluation domain: grid:PxQ, tokens:VxL[:N] or "
        "dataset:PATH.safetensors.")],
    kind: KindOpt = "labeler",
    flag: FlagOpt = None,
    train_frac: TrainFracOpt = 0.5,
    seed: SeedOpt = 0,
    hidden: HiddenOpt = None,
    channels: ChannelsOpt = None,
    d_model: DModelOpt = None,
    heads: HeadsOpt = None,
    d_mlp: DMlpOpt = None,
    settings: SetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Bring in a model trained elsewhere: check its state dict against the architecture
    (every key, shape and dtype), measure its train and held-out accuracy against the labeler
    on the domain's split, and write OUT/ exactly as `challenge new` does (weights as
    safetensors). Parameter names follow the architecture: TransformerLens HookedTransformer
    names for transformer (its mask/IGNORE buffers are dropped), conv1.., fc1.. for cnn.

    The seed's MNIST CNN (conv 1->8->16 of 3x3, linear 400->200->2) on 28x28 images:

    \b
      dixit challenge import mnist --state-dict cnn.pt --arch cnn -l lab.py \\
        -d dataset:scoring/data/mnist.safetensors --set dropout=0.2
    """
    from dixit import challenge
    from dixit.challenge import importing

    overrides = challenge.arch_overrides(hidden=hidden, channels=channels, d_model=d_model,
                                         heads=heads, d_mlp=d_mlp, settings=settings)
    summary = importing.import_model(out_dir, state_dict, labeler, domain, arch=arch,
                                     overrides=overrides, kind=kind, flag=flag,
                                     train_frac=train_frac, seed=seed,
                                     root=_challenge_root())
    if as_json:
        _emit(summary)
        return
    _challenge_report("imported", summary, out_dir)


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
            "model_sha256": p.model_sha256, "claimed_accuracy": p.claimed_accuracy}
    if as_json:
        _emit(data)
        return
    _say(f"proposed {team}'s challenge in round {p.round:03d} (claimed held-out accuracy "
         f"{p.claimed_accuracy:.2%}); seal {p.commitment[:16]}…")


@app.command()
def submit(
    program: Annotated[Path, typer.Argument(help="Python file defining label(x).")],
    team: TeamOpt,
    challenge: Annotated[str, typer.Option("--challenge", "-c",
                                           help="The team whose challenge this solves.")],
    as_json: JsonOpt = False,
) -> None:
    """Seal and publish a program for another team's challenge (replaces an earlier one)."""
    from dixit.league import actions

    s = actions.submit(_ledger(), team, challenge, program)
    data = {"round": s.round, "team": s.team, "challenge": s.target,
            "commitment": s.commitment, "replaced": s.replaced}
    if as_json:
        _emit(data)
        return
    _say(f"{'re' if s.replaced else ''}submitted {team}'s program for {challenge}'s challenge "
         f"in round {s.round:03d}; seal {s.commitment[:16]}…")


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
    from dixit.errors import UsageError
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
    as_json: JsonOpt = False,
) -> None:
    """Show a challenge without running its code: kind, architecture and parameter counts,
    domain, claimed accuracy, seal status (model and domain against the seal, escrow, reveal,
    measured accuracy once closed) and where its files are."""
    from dixit.views import inspection

    data = inspection.inspect(target, root=_ctx["root"], round_no=round_no, warn=_warn)
    if as_json:
        _emit(data)
        return
    out.print(inspection.renderable(data))


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
    """Draw a 2-D grid challenge's label maps side by side into a PNG: the labeler (the truth),
    the model's predictions and, with --submission, a team's program, each point that disagrees
    with the labeler in red. Ledger labelers and programs are drawn only once revealed, and run
    only in the sandbox; before that the model is drawn alone."""
    from dixit.views import pictures

    shown = pictures.show(target, out_file, root=_ctx["root"], round_no=round_no,
                          submission=submission, allow_weak=allow_weak_isolation, warn=_warn)
    if as_json:
        _emit(shown.as_dict())
        return
    for note in shown.notes:
        _say(f"note: {note}")
    parts = [p["title"] + (f" {p['agreement']:.2%}" if p["agreement"] is not None else "")
             for p in shown.panels]
    _say(f"wrote {out_file} ({'; '.join(parts)})")


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
        "--no-pictures", help="Skip the label maps (no replay, no matplotlib).")] = False,
    allow_weak_isolation: Annotated[bool, typer.Option(
        "--allow-weak-isolation", help="Replay for the pictures even with a weaker sandbox.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write the results as a static site: OUT/index.html (standings, each closed round's
    challenge-by-team matrix, claimed vs measured model accuracy) and, for 2-D grid domains,
    label maps of the labeler, the model and every submission (replayed in the sandbox).
    Opens from file:// or GitHub Pages; no external assets."""
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


def run(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code. One line, exit 1 (2 for usage), for every expected
    failure; an unexpected one is a bug and keeps its traceback."""
    from typer.exceptions import TyperException

    try:
        code = app(args=argv, standalone_mode=False, prog_name="dixit")
    except DixitError as exc:
        err.print(Text("error: ", style="red bold") + Text(str(exc)))
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        err.print(Text("aborted"))
        return 1
    except KeyboardInterrupt:
        err.print(Text("interrupted; the ledger is unchanged unless a commit was reported"))
        return 130
    except TyperException as exc:  # usage errors (bad option, missing argument): exit 2
        show = getattr(exc, "show", None)
        if callable(show):
            show(file=sys.stderr)
        else:
            err.print(Text(f"error: {exc.format_message()}"))
        return exc.exit_code
    # Without standalone mode, typer returns a command's Exit code instead of raising it.
    return code if isinstance(code, int) else 0


def main() -> None:
    sys.exit(run())
