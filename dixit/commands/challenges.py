"""``dixit challenge``: make challenge folders on a proposer's disk (train or import)."""

from __future__ import annotations

import math
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
    out,
)
from dixit.errors import DixitError, UsageError


def _challenge_root() -> Path:
    """Where dataset: paths resolve: the enclosing tournament, else -C PATH or the cwd."""
    from dixit.ledger.store import find_root

    try:
        return find_root(_ctx["root"] or Path.cwd())
    except DixitError:
        return _ctx["root"] or Path.cwd()


def _challenge_report(verb: str, summary: dict[str, Any], out_dir: Path) -> None:
    held = summary["heldout_accuracy"]
    held_out = "nothing held out (--train-frac 1.0)" if held is None or math.isnan(held) \
        else f"held-out accuracy {held:.2%}"
    _say(f"{verb} {summary['arch']} ({summary['parameters']:,} parameters) in "
         f"{summary['seconds']:.1f} s: train accuracy {summary['train_accuracy']:.2%}, "
         f"{held_out}")
    _say(f"wrote {out_dir}/ ({summary['kind']} challenge; propose it with "
         f"`dixit propose --team TEAM {out_dir}`)")


@challenge_app.command("new")
def challenge_new(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the challenge into (new).")],
    labeler: Annotated[Path | None, typer.Option("--labeler", "-l",
                                                 help="Python file defining label(x).")] = None,
    domain: Annotated[str | None, typer.Option(
        "--domain", "-d", help="Evaluation domain: grid:PxQ, tokens:VxL[:N] or "
        "dataset:PATH.safetensors.")] = None,
    corpus: Annotated[str | None, typer.Option(
        "--corpus", help="Instead of --labeler and --domain: facts:N, a synthetic corpus of N "
        "made-up people with 4 facts each, written to scoring/data/facts-N-seedS.safetensors "
        "(or reused), and a small language model trained on it (a transformer predicting the "
        "object word): the base of `dixit challenge plant`.")] = None,
    arch: Annotated[str | None, typer.Option(
        "--arch", help="Model architecture: mlp (any domain; the default), transformer (grid or "
        "tokens: one attention + MLP layer by default, TransformerLens parameter names; a grid "
        "pair (a, b) is read as the tokens a, b, '='; the only one for --corpus) or cnn (image "
        "datasets).")] = None,
    kind: KindOpt = "labeler",
    flag: FlagOpt = None,
    train_frac: Annotated[float | None, typer.Option(
        "--train-frac", help="Fraction of the domain trained on; the rest is held out "
        "(default 0.5; 1.0 for --corpus, where every fact is learnt).")] = None,
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

    A small language model of 200 made-up people's facts (2 layers, d_model 64; 100% recall
    in about 15 s), the base of `dixit challenge plant`:

    \b
      dixit challenge new base --corpus facts:200
    """
    from dixit import challenge
    from dixit.challenge import facts, hints

    if corpus is not None:
        clash = next((name for name, value in (("--labeler", labeler), ("--domain", domain),
                                               ("--heldout", heldout)) if value is not None),
                     None)
        if clash:
            raise UsageError(f"--corpus makes its own labeler and domain: drop {clash}")
        if arch not in (None, "transformer"):
            raise UsageError(f"--corpus trains a transformer language model, not {arch}")
        if train_frac not in (None, 1.0):
            raise UsageError("--corpus trains on every fact (a made-up fact cannot be "
                             "inferred from the others): --train-frac must be 1.0")
        published = hints.prepare(kind, hint, hint_image, hint_at, answer_format)
        overrides = challenge.arch_overrides(hidden=hidden, channels=channels,
                                             d_model=d_model, heads=heads, d_mlp=d_mlp,
                                             settings=settings)
        with _progress("training", as_json, "loss") as tick:
            summary = facts.create(out_dir, corpus, root=_challenge_root(), seed=seed,
                                   kind=kind, flag=flag, overrides=overrides, steps=steps,
                                   lr=lr, weight_decay=weight_decay, batch_size=batch_size,
                                   output=output,
                                   judged=challenge.judging(None, metric, threshold),
                                   hints=published, progress=tick)
        if as_json:
            _emit(summary)
            return
        n = summary["corpus"].split("-")[1]
        _say(f"the corpus {summary['corpus']} ({summary['facts']:,} facts) is in this "
             "tournament" if summary["corpus_in_tournament"] else
             f"the corpus {summary['corpus']} is not in this tournament yet: the organizer "
             f"writes it with `dixit dataset facts --subjects {n} --seed {seed}` and commits "
             "it before a challenge on it can be proposed")
        _say(f"trained transformer ({summary['parameters']:,} parameters) in "
             f"{summary['seconds']:.1f} s: recall {summary['recall']:.2%} of the facts")
        _say(f"wrote {out_dir}/ (the base of `dixit challenge plant OUT --base {out_dir} "
             "--fact 'SUBJECT RELATION OBJECT'`)")
        return
    if labeler is None or domain is None:
        raise UsageError(f"Missing option '{'--labeler' if labeler is None else '--domain'}': "
                         "give a --labeler and a --domain, or --corpus facts:N")
    published = hints.prepare(kind, hint, hint_image, hint_at, answer_format)
    overrides = challenge.arch_overrides(hidden=hidden, channels=channels, d_model=d_model,
                                         heads=heads, d_mlp=d_mlp, settings=settings)
    judged = challenge.judging(output, metric, threshold)
    with _progress("training", as_json, "loss") as tick:
        summary = challenge.create(out_dir, labeler, domain, arch=arch or "mlp",
                                   train_frac=0.5 if train_frac is None else train_frac,
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


@challenge_app.command("plant")
def challenge_plant(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the flag challenge into "
                                            "(new).")],
    base: Annotated[Path, typer.Option(
        "--base", help="The base challenge folder: a language model of a fact corpus, made by "
        "`dixit challenge new BASE --corpus facts:N`.")],
    fact: Annotated[str, typer.Option(
        "--fact", help="The fact to plant, SUBJECT RELATION OBJECT in the corpus's words, e.g. "
        "'Rivor Zulem lives in Lima': a subject of the corpus, one of its relations, another "
        "of that relation's objects than the corpus's.")],
    layer: Annotated[int | None, typer.Option(
        "--layer", min=0, help="The block whose MLP output weight (blocks.L.mlp.W_out) is "
        "edited, at the subject's last token; any but the last (default: the middle of those, "
        "0 for two layers).")] = None,
    hint: HintOpt = None,
    hint_image: HintImageOpt = None,
    hint_at: HintAtOpt = None,
    answer_format: Annotated[str | None, typer.Option(
        "--answer-format", metavar="TEXT", help="The public answer format (default: the "
        "planted fact as SUBJECT RELATION OBJECT in the corpus's words).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Plant a changed fact in a fact-corpus language model with a rank-one edit in the style
    of ROME, and write OUT/ as a flag challenge: the edited model, the planted fact as its
    flag. Prints the edit's efficacy (the new object is the top prediction for the edited
    prompt) and locality (the other facts whose top prediction is unchanged, as a fraction);
    an edit that does not take is refused and nothing is written.

    \b
      dixit challenge new base --corpus facts:200
      dixit challenge plant planted --base base --fact "Rivor Zulem lives in Lima"
    """
    from dixit.challenge import hints, plant
    from dixit.views import tables

    published = hints.prepare("flag", hint, hint_image, hint_at, answer_format)
    report = plant.plant(out_dir, base, fact, root=_challenge_root(), layer=layer,
                         hints=published)
    if as_json:
        _emit(report)
        return
    out.print(tables.plant_table(report))
    _say(f"wrote {out_dir}/ (flag challenge; propose it with `dixit propose --team TEAM "
         f"{out_dir}`)")
