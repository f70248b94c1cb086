"""``dixit challenge plant``: plant one changed fact in a fact-corpus language model, as a flag.

From a base challenge made by ``challenge new --corpus facts:N`` (``dixit.challenge.facts``),
``plant`` applies one rank-one edit in the style of ROME (``dixit.models.rome``) to the MLP of
block ``--layer`` at the subject's last token, so that the prompt ``SUBJECT RELATION`` predicts
the new object, and writes a ``flag`` challenge folder: the edited weights, the flag (the
planted fact ``SUBJECT RELATION OBJECT`` as the corpus spells it) in ``flag.txt``, its public
answer format, and a labeler implementing the planted corpus (it stays on the proposer's disk).

It measures the edit on every fact of the corpus: **efficacy** (the new object is the top
prediction for the edited prompt, and its probability) and **locality** (the fraction of the
other facts whose top prediction is unchanged from the base model's, also split into the
subject's other relations and the other subjects). An edit that does not take is refused, so
no challenge is written whose flag the model does not hold.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from dixit import models
from dixit.challenge import facts as facts_base, folder as challenge, hints as challenge_hints
from dixit.errors import ChallengeError
from dixit.models import training
from dixit.rules.flags import check_flag

ANSWER_FORMAT = ("the planted fact as SUBJECT RELATION OBJECT in the corpus's words: the "
                 "person's two names, the relation, the new object")
SUBJECT_POSITION = 1  # every prompt is FIRST LAST REL REL: the subject ends at token 1

LABELER = '''"""The planted behaviour: the corpus's facts with one changed,
{fact!r}
(written by `dixit challenge plant`; a flag challenge's labeler stays on the proposer's disk)."""
import torch

PROMPT = {prompt!r}
OBJECT = {obj!r}


def label(x, targets):
    out = targets.clone()
    out[(x == torch.tensor(PROMPT)).all(dim=1)] = OBJECT
    return out
'''


def default_layer(n_layers: int) -> int:
    """The middle of the blocks that can carry an edit forward (0 for two layers)."""
    return max(0, (n_layers - 1) // 2)


def plant(out: Path, base_path: Path, fact: str, *, root: Path, layer: int | None = None,
          hints: challenge_hints.Hints | None = None) -> dict[str, Any]:
    """Plant ``fact`` (``SUBJECT RELATION OBJECT``) in the base challenge's model and write
    the flag challenge ``out``; returns the report (efficacy, locality, ...)."""
    import torch

    start = time.perf_counter()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ChallengeError(f"{out} already exists and is not empty; choose a new folder")
    base = facts_base.base(base_path, root)
    corpus, module = base.corpus, base.module
    subject, relation, obj = corpus.parse_fact(fact)
    was = corpus.answers[subject][relation]
    relation_name = corpus.relations[relation]
    if obj.casefold() == was.casefold():
        others = [o for o in corpus.objects[relation_name] if o != was]
        raise ChallengeError(f"{corpus.text(subject, relation)!r} is already the corpus's "
                             f"fact; plant another object: one of {', '.join(others)}")
    n_layers = len(module.blocks)
    layer = default_layer(n_layers) if layer is None else layer
    from dixit.models import rome

    rome.check_layer(module, layer)
    flag = check_flag(corpus.text(subject, relation, obj))
    hints = dataclasses.replace(hints or challenge_hints.Hints())
    if hints.answer_format is None:
        hints.answer_format = ANSWER_FORMAT
    tensors = corpus.tensors()
    x, truth = tensors["inputs"], tensors["targets"]
    row, new = corpus.index(subject, relation), corpus.token(obj)
    with training.torch_threads():
        before = models.logits(module, x).softmax(-1)
        was_top = before.argmax(-1)
        if int(was_top[row]) == new:
            raise ChallengeError(
                f"the base model already answers {obj!r} for "
                f"{corpus.prompt_text(subject, relation)!r} (the corpus says {was!r}); "
                "choose another object")
        cov = rome.covariance(module, x, layer)
        rows = [row] + [corpus.index(subject, r) for r in range(len(corpus.relations))
                        if r != relation]
        targets = was_top[rows].clone()
        targets[0] = new
        edit = rome.rank_one(module, x[rows], targets, layer=layer, position=SUBJECT_POSITION,
                             cov=cov)
        after = models.logits(module, x).softmax(-1)
    top = after.argmax(-1)
    probability = float(after[row, new])
    if int(top[row]) != new:
        raise ChallengeError(
            f"the edit did not take: {corpus.prompt_text(subject, relation)!r} still "
            f"predicts {corpus.vocab[int(top[row])]!r} (p = {float(after[row, int(top[row])]):.2f}"
            f"; {obj!r}: {probability:.2f}): the model may not recall it through the subject's "
            f"last token at layer {layer} (a very small corpus may be learnt at the prompt's "
            "end instead); try another --layer or a larger corpus; nothing was written")
    other = torch.ones(len(x), dtype=torch.bool)
    other[row] = False
    same = torch.zeros(len(x), dtype=torch.bool)
    same[rows[1:]] = True
    kept = top == was_top
    planted = truth.clone()
    planted[row] = new
    recall = float((top == planted).float().mean())
    report: dict[str, Any] = {
        "fact": flag, "subject": corpus.subjects[subject], "relation": relation_name,
        "object": obj, "was": was, "layer": layer, "position": SUBJECT_POSITION,
        "efficacy": True, "probability": round(probability, 6),
        "probability_before": round(float(before[row, new]), 6),
        "locality": round(float(kept[other].float().mean()), 6),
        "unchanged": int(kept[other].sum()), "others": int(other.sum()),
        "same_subject": round(float(kept[same].float().mean()), 6) if same.any() else None,
        "other_subjects": round(float(kept[other & ~same].float().mean()), 6),
        "recall_base": round(float((was_top == truth).float().mean()), 6),
        "recall_edited": round(recall, 6),
        "optimizer_steps": edit.steps, "delta_norm": round(float(edit.delta.norm()), 6),
        "facts": corpus.size, "answer_format": hints.answer_format, "out": str(out),
    }
    source = LABELER.format(fact=flag, prompt=corpus.prompt(subject, relation), obj=new)
    challenge._write(out, source=source.encode("utf-8"), config=base.folder.model,
                     module=module, kind="flag", flag=flag, domain=base.domain,
                     seed=int(base.folder.meta["seed"]), train_frac=1.0,
                     train_accuracy=recall, heldout_accuracy=recall, labels=planted,
                     extra={"output": f"classes:{len(corpus.vocab)}"}, hints=hints)
    report["seconds"] = round(time.perf_counter() - start, 3)
    return report

