"""``dixit challenge``: make challenge folders on a proposer's disk (train or import)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from dixit.commands._common import (
    AnswerFormatOpt,
    ArchOpt,
    ChannelsOpt,
    DMlpOpt,
    DModelOpt,
    FlagOpt,
    HeadsOpt,
    HeldoutOpt,
    HiddenOpt,
    HintAtOpt,
    HintImageOpt,
    HintOpt,
    JsonOpt,
    KindOpt,
    MetricOpt,
    OutputOpt,
    SeedOpt,
    SetOpt,
    ThresholdOpt,
    TrainFracOpt,
    _ctx,
    _emit,
    _progress,
    _say,
    challenge_app,
)
from dixit.errors import DixitError


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
    output: OutputOpt = None,
    metric: MetricOpt = None,
    threshold: ThresholdOpt = None,
    heldout: HeldoutOpt = None,
    hint: HintOpt = None,
    hint_image: HintImageOpt = None,
    hint_at: HintAtOpt = None,
    answer_format: AnswerFormatOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Train a challenge model on a labeler over a domain and write OUT/ with challenge.toml,
    model.safetensors and the labeler (plus flag.txt for --kind flag). Prints train and
    held-out accuracy and the seconds taken; the seed makes it reproducible.

    A 10-class challenge on real digits (`dixit dataset digits`), judged by agreement:

    \b
      dixit challenge new digits -l parity.py -d dataset:scoring/data/digits.safetensors \\
        --output classes:10

    A transformer in the spirit of the seed challenge (d_model 128, 8 heads, d_mlp 1024,
    ReLU, no LayerNorm), about 97% held-out accuracy in under a minute on 2 cores:

    \b
      dixit challenge new ring -l curved113.py -d grid:113x113 --arch transformer
    """
    from dixit import challenge
    from dixit.challenge import hints

    published = hints.prepare(kind, hint, hint_image, hint_at, answer_format)
    overrides = challenge.arch_overrides(hidden=hidden, channels=channels, d_model=d_model,
                                         heads=heads, d_mlp=d_mlp, settings=settings)
    judged = challenge.judging(output, metric, threshold)
    with _progress("training", as_json, "loss") as tick:
        summary = challenge.create(out_dir, labeler, domain, arch=arch, train_frac=train_frac,
                                   seed=seed, steps=steps, overrides=overrides, lr=lr,
                                   weight_decay=weight_decay, batch_size=batch_size,
                                   kind=kind, flag=flag, root=_challenge_root(),
                                   progress=tick, judged=judged, hints=published,
                                   heldout=heldout)
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
    output: OutputOpt = None,
    metric: MetricOpt = None,
    threshold: ThresholdOpt = None,
    heldout: HeldoutOpt = None,
    hint: HintOpt = None,
    hint_image: HintImageOpt = None,
    hint_at: HintAtOpt = None,
    answer_format: AnswerFormatOpt = None,
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
    from dixit.challenge import hints, importing

    published = hints.prepare(kind, hint, hint_image, hint_at, answer_format)
    overrides = challenge.arch_overrides(hidden=hidden, channels=channels, d_model=d_model,
                                         heads=heads, d_mlp=d_mlp, settings=settings)
    summary = importing.import_model(out_dir, state_dict, labeler, domain, arch=arch,
                                     overrides=overrides, kind=kind, flag=flag,
                                     train_frac=train_frac, seed=seed,
                                     root=_challenge_root(), hints=published,
                                     judged=challenge.judging(output, metric, threshold),
                                     heldout=heldout)
    if as_json:
        _emit(summary)
        return
    _challenge_report("imported", summary, out_dir)


@challenge_app.command("compile")
def challenge_compile(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the challenge into (new).")],
    program: Annotated[Path, typer.Option(
        "--program", "-p", help="RASP program: a Python file defining program(rasp), which "
        "returns the output SOp built from the rasp module it is given (the sealed secret).")],
    vocab: Annotated[str, typer.Option(
        "--vocab", help="The input values, comma-separated (a,b,c or 1,2,3,4): token id i is "
        "the i-th.")],
    max_seq_len: Annotated[int, typer.Option(
        "--max-seq-len", min=1, help="Tokens a sequence: the domain is every sequence of this "
        "length over the vocabulary (at most 100,000 of them).")],
    causal: Annotated[bool, typer.Option(
        "--causal", help="Compile a causally masked model (default: bidirectional attention, "
        "as Tracr compiles by default).")] = False,
    metric: MetricOpt = None,
    threshold: ThresholdOpt = None,
    hint: HintOpt = None,
    hint_image: HintImageOpt = None,
    hint_at: HintAtOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Compile a RASP program with Tracr (the `tracr` extra: pip install 'dixit[tracr]') into
    dixit's transformer (safetensors, TransformerLens names) and write OUT/ as a labeler
    challenge with a class per position (--output sequence:C). The converted model is checked
    on every sequence of the domain against the compiled one, and the labeler (the program
    under dixit's pure-Python RASP interpreter, which the close replays without JAX) against
    both; anything short of 100% agreement is refused.

    \b
      dixit challenge compile reverse --program examples/rasp/reverse.py --vocab a,b,c \\
        --max-seq-len 5
    """
    from dixit.challenge import hints, tracr_compile

    published = hints.prepare("labeler", hint, hint_image, hint_at, None)
    judged = {k: v for k, v in (("metric", metric), ("threshold", threshold)) if v is not None}
    with _progress("checking on the whole domain", as_json) as tick:
        summary = tracr_compile.compile_challenge(out_dir, program, vocab, max_seq_len,
                                                  causal=causal, judged=judged,
                                                  hints=published, progress=tick)
    if as_json:
        _emit(summary)
        return
    _say(f"compiled {program} with Tracr in {summary['compile_seconds']:.1f} s: "
         f"{summary['layers']} layers, {summary['heads']} head"
         f"{'s' if summary['heads'] > 1 else ''} per layer, d_model {summary['d_model']} "
         f"(residual {summary['residual']}), {summary['parameters']:,} parameters")
    _say(f"exact on the whole domain {summary['domain']} ({summary['sequences']:,} sequences, "
         f"{summary['positions']:,} positions): torch vs compiled "
         f"{summary['agreement']:.2%}, labeler vs compiled {summary['labeler_agreement']:.2%}")
    _say(f"wrote {out_dir}/ (labeler challenge, output {summary['output']}; propose it with "
         f"`dixit propose --team TEAM {out_dir}`)")
