"""What every command module shares: the typer apps, consoles, options and progress."""

from __future__ import annotations

import json
import math
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
def root(
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


def _finite(data: Any) -> Any:
    """NaN and infinities become null: JSON has no such numbers (a held-out accuracy with
    nothing held out is NaN), and a script's parser must never meet one."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(v) for v in data]
    return data


def _emit(data: Any) -> None:
    sys.stdout.write(json.dumps(_finite(data), indent=2, sort_keys=False, allow_nan=False)
                     + "\n")


def _say(msg: str) -> None:
    err.print(Text(msg))


def _warn(msg: str) -> None:
    err.print(Text("warning: ", style="yellow bold") + Text(msg))


@contextmanager
def _progress(label: str, quiet: bool, figure: str = ""
              ) -> Iterator[Callable[..., None] | None]:
    """A rich progress bar on a terminal, with the figure that matters (``figure``: e.g. the
    training loss) when the work reports one; nothing in --json mode or CI logs."""
    if quiet or not err.is_terminal or os.environ.get("CI"):
        yield None
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[figure]}"), TimeElapsedColumn(), console=err,
                  transient=True) as bar:
        task = bar.add_task(label, total=None, figure="")

        def update(done: int, total: int, value: float | None = None) -> None:
            shown = f"{figure} {value:.4f}" if figure and value is not None else ""
            bar.update(task, completed=done, total=total, figure=shown)

        yield update


# Options shared by `challenge new` and `challenge import`: the architecture and its knobs.
ArchOpt = Annotated[str, typer.Option(
    "--arch", help="Model architecture: mlp (any domain), transformer (grid or tokens: one "
    "attention + MLP layer by default, TransformerLens parameter names; a grid pair (a, b) is "
    "read as the tokens a, b, '=') or cnn (image datasets).")]
KindOpt = Annotated[str, typer.Option(
    "--kind", help="What solvers must find: labeler (the program; default), emulate (a "
    "program reproducing the model's own outputs) or flag (the --flag string).")]
FlagOpt = Annotated[str | None, typer.Option(
    "--flag", help="The secret string of a --kind flag challenge (1-256 characters; matched "
    "after Unicode NFKC, case folding and whitespace collapsing).")]
OutputOpt = Annotated[str | None, typer.Option(
    "--output", help="What label(x) returns: binary (default), classes:C (one class id per "
    "input), sequence:C (one id per token position), distribution:C[:probs] (logits, or "
    "probabilities, over C per input or per position).")]
HeldoutOpt = Annotated[Path | None, typer.Option(
    "--heldout", help="A hidden evaluation set (dataset: domains): a safetensors file whose "
    "'inputs' have the public dataset's row shape and dtype. Sealed and escrowed at propose, "
    "revealed at the close, and the challenge is judged on it instead of the public dataset.")]
MetricOpt = Annotated[str | None, typer.Option(
    "--metric", help="How programs are judged: agreement (default), exact-sequence "
    "(sequence outputs), kl (distribution outputs, the default there).")]
ThresholdOpt = Annotated[float | None, typer.Option(
    "--threshold", help="What solves it, inside the metric's bounds (agreement in [0.9, 1], "
    "kl in [0, 0.5] nats); default the rulebook's.")]
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
    "transformer act=gelu, append_eq=false, classes, vocab, n_layers=2, normalization=LN, "
    "attn_only=true, positions=all; cnn kernel=5, padding, pool, "
    "dropout=0.2; mlp hidden=64,64. A wrong key is refused with the list of known ones.")]
# Options shared by `challenge new` and `challenge import`: what the challenge publishes.
HintOpt = Annotated[list[str] | None, typer.Option(
    "--hint", metavar="TEXT", help="A hint published with the challenge (repeatable; one "
    "line of at most 500 printable characters).")]
HintImageOpt = Annotated[list[Path] | None, typer.Option(
    "--hint-image", metavar="PNG", help="A PNG picture published with the challenge as a "
    "hint (repeatable; at most 512 KiB each).")]
HintAtOpt = Annotated[list[str] | None, typer.Option(
    "--hint-at", metavar="'WHEN TEXT'", help="A timed hint, sealed and escrowed at propose "
    "and released by the closer at WHEN: relative to the propose time (+3d, +36h) or an "
    "ISO-8601 time, before the round's submit-by; one argument, e.g. --hint-at '+3d the "
    "boundary is a circle' (repeatable).")]
AnswerFormatOpt = Annotated[str | None, typer.Option(
    "--answer-format", metavar="TEXT", help="A flag challenge's public answer format, e.g. "
    "'one English word, lowercase'.")]
