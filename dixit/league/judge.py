"""Judging a close: replay outcomes -> facts per challenge -> the results document.

``judge`` turns what the replay measured into typed facts; ``assemble`` applies the rulebook
(pure). Facts are also what a shard writes and a merge reads (``as_dict``/``from_dict``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dixit.errors import DixitError
from dixit.league import measure
from dixit.league.plan import ChallengePlan, Plan, model_key, source_key, split_key
from dixit.league.secrets import Opened
from dixit.ledger import entries, state as st
from dixit.ledger.layout import SECRET_ITEM
from dixit.replay import reference
from dixit.replay.engine import Outcome, release
from dixit.rules import flags, kinds, points as rules, rulebook, scheme as schemes

if TYPE_CHECKING:
    import numpy as np

NOT_REPRODUCED = ("closed", "isolation")


@dataclass(frozen=True)
class SubmissionFacts:
    agreement: float | None           # class ids matching the reference, per position
    error: str | None
    score: float | None = None        # the challenge's metric (None: same as agreement)

    @property
    def value(self) -> float | None:
        return self.agreement if self.score is None else self.score


@dataclass
class ChallengeFacts:
    void: str | None
    model_accuracy: float | None = None   # on the claim's held-out split (the claim)
    submissions: dict[str, SubmissionFacts] = field(default_factory=dict)
    model_agreement: float | None = None  # on every judged input (what a program must beat)
    draw_seed: int | None = None          # the inputs were drawn after submit-by with it
    model_score: float | None = None      # the model's metric on every judged input

    def as_dict(self) -> dict[str, Any]:
        return {"void": self.void, "model_accuracy": self.model_accuracy,
                "model_agreement": self.model_agreement, "draw_seed": self.draw_seed,
                "model_score": self.model_score,
                "submissions": {o: {"agreement": s.agreement, "error": s.error,
                                    "score": s.score}
                                for o, s in self.submissions.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChallengeFacts:
        """From ``as_dict``'s shape (checked by the caller, e.g. ``shards``)."""
        return cls(data["void"], data["model_accuracy"],
                   {o: SubmissionFacts(s["agreement"], s["error"], s["score"])
                    for o, s in data["submissions"].items()}, data["model_agreement"],
                   data["draw_seed"], data["model_score"]).safe()

    def safe(self) -> ChallengeFacts:
        """Every text in the facts made safe to sign: errors and void reasons quote programs,
        file names and exceptions, all of which a hostile team controls."""
        def text(v: str | None) -> str | None:
            return None if v is None else entries.safe_text(v)

        return ChallengeFacts(text(self.void), self.model_accuracy,
                              {o: SubmissionFacts(s.agreement, text(s.error), s.score)
                               for o, s in self.submissions.items()}, self.model_agreement,
                              self.draw_seed, self.model_score)


def judge(state: st.State, plan: Plan, opened: Opened,
          outcomes: dict[str, Outcome]) -> dict[str, ChallengeFacts]:
    """The facts of every planned challenge from the replay's outcomes."""
    out = {t: _judge_one(state, cp, opened, outcomes) for t, cp in plan.challenges.items()}
    return {t: f.safe() for t, f in out.items()}


def _judge_one(state: st.State, cp: ChallengePlan, opened: Opened,
               outcomes: dict[str, Outcome]) -> ChallengeFacts:
    target, f = cp.target, ChallengeFacts(cp.void, draw_seed=cp.draw_seed)
    if cp.kind.reference == "flag":
        _judge_flags(target, cp.solvers, opened, f)
        return f
    truth = outcomes.get(source_key(target, target, SECRET_ITEM))
    labels = truth.labels if truth is not None and truth.error is None else None
    on_model = cp.kind.reference == "model"
    if f.void is None and not on_model and labels is None:
        f.void = f"labeler failed: {truth.error if truth else 'not replayed'}"
    runs: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for owner in cp.solvers if f.void is None else ():  # a void challenge runs nothing
        o = outcomes.get(source_key(target, owner, target))
        err = opened.missing.get((owner, target))
        if o is None:
            err = err or "not replayed"
        elif o.error is not None:
            err = o.error
        if err is not None:
            errors[owner] = err
        elif o.labels is not None:
            runs[owner] = o.labels
    if f.void is None:
        assert cp.domain is not None and cp.scheme is not None
        model = _model(outcomes.get(model_key(target)))
        if model is None and on_model:
            f.void = "the published model could not be loaded and run"
        else:
            # fresh inputs: the model never saw any, so all of them measure its claim
            # (a post-deadline draw, or the sealed held-out set): no held-out mask
            mask = None if cp.draw_seed is not None or cp.heldout else \
                _mask(outcomes.get(split_key(target)), reference.heldout_split(cp.challenge))
            mapped = [a for a in (labels, *runs.values(), _outputs(outcomes, target))
                      if a is not None]
            got = measure.measure(
                cp.scheme, cp.domain.size, reference_is_model=on_model, truth=labels,
                model=model, programs=runs, heldout=mask,
                done=lambda stop: [release(a, stop) for a in mapped])
            f.void = got.void
            f.model_accuracy = got.model_accuracy
            if got.model is not None:
                f.model_agreement, f.model_score = got.model.agreement, got.model.score
            for owner, sc in got.programs.items():
                if sc.error is not None:
                    errors[owner] = sc.error
                else:
                    f.submissions[owner] = SubmissionFacts(sc.agreement, None, sc.score)
    for owner in cp.solvers:
        if f.void is not None:
            f.submissions[owner] = SubmissionFacts(
                None, errors.get(owner) or opened.missing.get((owner, target))
                or "challenge void")
        elif owner not in f.submissions:
            f.submissions[owner] = SubmissionFacts(None, errors.get(owner, "not replayed"))
    return f


def _model(o: Outcome | None) -> measure.ModelBlock | None:
    """The published model's outputs, replayed in the sandbox, block by block; None when it
    could not be loaded (missing, over the size limit, weights that do not fit its config).
    A model that loaded but failed to run fails its first block, with the reason."""
    if o is None or (o.error or "").startswith("load:"):
        return None
    if o.error is not None or o.labels is None:
        reason = (o.error or "no outputs").removeprefix("run:").strip()

        def failing(start: int, stop: int) -> np.ndarray:
            raise DixitError(reason)

        return failing
    outputs = o.labels
    return lambda start, stop: outputs[start:stop]


def _outputs(outcomes: dict[str, Outcome], target: str) -> np.ndarray | None:
    o = outcomes.get(model_key(target))
    return None if o is None else o.labels


def _mask(o: Outcome | None, split: tuple[float, int] | None) -> np.ndarray | None:
    """The claim's held-out rows as a boolean mask (None: every row is held out)."""
    if split is None:
        return None
    if o is None or o.error is not None or o.labels is None:
        raise DixitError(f"cannot compute the held-out split of a claim: "
                         f"{o.error if o is not None else 'not replayed'}")
    return o.labels.astype(bool)


def _judge_flags(target: str, solvers: tuple[str, ...], opened: Opened,
                 f: ChallengeFacts) -> None:
    """Flag guesses against the revealed flag: nothing runs, strings are compared."""
    secret = opened.payloads.get((target, SECRET_ITEM))
    for owner in solvers:
        guess = opened.payloads.get((owner, target))
        err = opened.missing.get((owner, target))
        if f.void is not None:
            err = err or "challenge void"
        agreement = flags.flag_agreement(secret, guess) \
            if secret is not None and guess is not None and f.void is None else None
        f.submissions[owner] = SubmissionFacts(agreement, err)


def assemble(state: st.State, rnd: st.Round, facts: dict[str, ChallengeFacts],
             isolation: str) -> dict[str, Any]:
    """The results document from replayed facts: pure, applies the rulebook."""
    book: rulebook.Rulebook = state.rules
    challenges: list[dict[str, Any]] = []
    outcomes: list[rules.ChallengeOutcome] = []
    for target in sorted(rnd.challenges):
        ch, f = rnd.challenges[target], facts[target]
        claimed, measured = float(ch.meta.get("claimed_accuracy", 0)), f.model_accuracy
        subs = [{"team": owner, "agreement": s.agreement, "score": s.value, "error": s.error}
                for owner, s in sorted(f.submissions.items())]
        how = scheme_for(book, ch)
        model_score = f.model_agreement if f.model_score is None else f.model_score
        need = required_for(book, kinds.get(ch.kind), model_score, how)
        challenges.append({
            "proposer": target, "kind": ch.kind, "domain": ch.domain,
            "output": how.output.spec, "metric": how.metric,
            "claimed_accuracy": claimed, "model_accuracy": measured, "void": f.void,
            "model_agreement": f.model_agreement, "model_score": model_score,
            "required": need, "draw_seed": f.draw_seed,
            **_judged_on(ch),
            "claim_flagged": bool(measured is not None
                                  and abs(measured - claimed) > book.accuracy_tolerance),
            "submissions": subs})
        outcomes.append(rules.ChallengeOutcome(
            target, [rules.SubmissionOutcome(s["team"], s["score"], s["error"])
                     for s in subs], f.void, need, how.higher_is_better))
    roster = state.roster()
    score = rules.score_round(roster, outcomes, book.threshold, book.points)
    by_proposer = {c.proposer: c for c in score.challenges}
    for doc in challenges:
        sc = by_proposer[doc["proposer"]]
        doc["solved_by"] = sc.solved_by
        doc["points"] = sc.points
        for sub in doc["submissions"]:
            sub["solved"] = sub["team"] in sc.solved_by
    return {"round": rnd.number, "teams": roster, "points": score.points,
            "challenges": challenges, "rules": book.as_dict(), "isolation": isolation}


def _judged_on(ch: st.Challenge) -> dict[str, Any]:
    """What a challenge with a sealed held-out set was judged on (from its signed entry):
    the held-out rows, revealed at the close, never the public dataset."""
    held = ch.meta.get("heldout")
    if not isinstance(held, dict):
        return {}
    return {"judged_on": "heldout", "heldout_rows": held.get("rows")}


def scheme_for(book: rulebook.Rulebook, ch: st.Challenge) -> schemes.Scheme:
    """How ``ch`` is judged; a scheme its metadata cannot give (the plan voided it) reads as
    the default, so the results still say what the rulebook would have judged it by."""
    try:
        return schemes.of(ch.meta, book)
    except DixitError:
        return schemes.of({}, book)


def required_for(book: rulebook.Rulebook, kind: kinds.Kind, model_score: float | None,
                 how: schemes.Scheme | None = None) -> float:
    """What solves a challenge of ``kind``: its threshold, and beating the model where the
    model could solve it (``rules.points.required``), in the direction of its metric."""
    how = how or schemes.of({}, book)
    if not kind.model_can_solve:
        return how.threshold
    return rules.required(how.threshold, model_score, book.beat_model, how.higher_is_better)


def public(results: dict[str, Any]) -> dict[str, Any]:
    """Results in their documented JSON shape: optional values present, as null when absent
    (TOML, the ledger's format, cannot hold null)."""
    doc = entries.normalize(results)
    for ch in doc.get("challenges", []):
        for key in ("model_accuracy", "model_agreement", "required", "draw_seed", "void"):
            ch.setdefault(key, None)
        # results closed before outputs and metrics existed: binary, judged by agreement
        ch.setdefault("output", "binary")
        ch.setdefault("metric", "agreement")
        ch.setdefault("model_score", ch["model_agreement"])
        ch.setdefault("solved_by", [])
        ch.setdefault("points", {})
        for sub in ch.setdefault("submissions", []):
            sub.setdefault("agreement", None)
            sub.setdefault("error", None)
            sub.setdefault("score", sub["agreement"])
    return doc


def comparable(results: dict[str, Any]) -> dict[str, Any]:
    """The re-derivable part of a results document."""
    return {k: v for k, v in public(results).items() if k not in NOT_REPRODUCED}
