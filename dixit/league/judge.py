"""Judging a close: replay outcomes -> facts per challenge -> the results document.

``judge`` turns what the replay measured into typed facts; ``assemble`` applies the rulebook
(pure). Facts are also what a shard writes and a merge reads (``as_dict``/``from_dict``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dixit.league.plan import ChallengePlan, Plan, source_key
from dixit.league.secrets import Opened
from dixit.ledger import entries, state as st
from dixit.ledger.layout import SECRET_ITEM
from dixit.replay import reference
from dixit.replay.engine import Outcome
from dixit.rules import flags, kinds, points as rules, rulebook

NOT_REPRODUCED = ("closed", "isolation")


@dataclass(frozen=True)
class SubmissionFacts:
    agreement: float | None
    error: str | None


@dataclass
class ChallengeFacts:
    void: str | None
    model_accuracy: float | None = None   # on the claim's held-out split (the claim)
    submissions: dict[str, SubmissionFacts] = field(default_factory=dict)
    model_agreement: float | None = None  # on every judged input (what a program must beat)
    draw_seed: int | None = None          # the inputs were drawn after submit-by with it

    def as_dict(self) -> dict[str, Any]:
        return {"void": self.void, "model_accuracy": self.model_accuracy,
                "model_agreement": self.model_agreement, "draw_seed": self.draw_seed,
                "submissions": {o: {"agreement": s.agreement, "error": s.error}
                                for o, s in self.submissions.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChallengeFacts:
        """From ``as_dict``'s shape (checked by the caller, e.g. ``shards``)."""
        return cls(data["void"], data["model_accuracy"],
                   {o: SubmissionFacts(s["agreement"], s["error"])
                    for o, s in data["submissions"].items()}, data["model_agreement"],
                   data["draw_seed"]).safe()

    def safe(self) -> ChallengeFacts:
        """Every text in the facts made safe to sign: errors and void reasons quote programs,
        file names and exceptions, all of which a hostile team controls."""
        def text(v: str | None) -> str | None:
            return None if v is None else entries.safe_text(v)

        return ChallengeFacts(text(self.void), self.model_accuracy,
                              {o: SubmissionFacts(s.agreement, text(s.error))
                               for o, s in self.submissions.items()}, self.model_agreement,
                              self.draw_seed)


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
    reference_labels = labels
    if f.void is None and cp.kind.reference == "model":
        assert cp.domain is not None
        preds = reference.model_predictions(state, cp.challenge, cp.domain)
        if preds is None:
            f.void = "the published model could not be loaded and run"
        reference_labels = preds
        if preds is not None and labels is not None:
            # fresh inputs: the model never saw any, so all of them measure its claim
            f.model_accuracy = reference.agreement(preds, labels) if cp.draw_seed is not None \
                else reference.held_out_agreement(cp.challenge, cp.domain, preds, labels)
            f.model_agreement = reference.agreement(preds, labels)
    elif f.void is None:
        assert cp.domain is not None
        if labels is None:
            f.void = f"labeler failed: {truth.error if truth else 'not replayed'}"
        else:
            preds = reference.model_predictions(state, cp.challenge, cp.domain)
            if preds is not None:
                f.model_accuracy = reference.held_out_agreement(cp.challenge, cp.domain,
                                                                preds, labels)
                f.model_agreement = reference.agreement(preds, labels)
    for owner in cp.solvers:
        o = outcomes.get(source_key(target, owner, target))
        err = opened.missing.get((owner, target))
        agreement: float | None = None
        if f.void is not None:
            err = err or "challenge void"
        elif o is None:
            err = err or "not replayed"
        elif o.error is not None:
            err = o.error
        else:
            assert reference_labels is not None and o.labels is not None
            agreement = reference.agreement(o.labels, reference_labels)
        f.submissions[owner] = SubmissionFacts(agreement, err)
    return f


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
        subs = [{"team": owner, "agreement": s.agreement, "error": s.error}
                for owner, s in sorted(f.submissions.items())]
        need = required_for(book, kinds.get(ch.kind), f.model_agreement)
        challenges.append({
            "proposer": target, "kind": ch.kind, "domain": ch.domain,
            "claimed_accuracy": claimed, "model_accuracy": measured, "void": f.void,
            "model_agreement": f.model_agreement, "required": need,
            "draw_seed": f.draw_seed,
            "claim_flagged": bool(measured is not None
                                  and abs(measured - claimed) > book.accuracy_tolerance),
            "submissions": subs})
        outcomes.append(rules.ChallengeOutcome(
            target, [rules.SubmissionOutcome(s["team"], s["agreement"], s["error"])
                     for s in subs], f.void, need))
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


def required_for(book: rulebook.Rulebook, kind: kinds.Kind,
                 model_agreement: float | None) -> float:
    """What solves a challenge of ``kind``: beat the model where the model could solve it."""
    if not kind.model_can_solve:
        return book.threshold
    return rules.required(book.threshold, model_agreement, book.beat_model)


def public(results: dict[str, Any]) -> dict[str, Any]:
    """Results in their documented JSON shape: optional values present, as null when absent
    (TOML, the ledger's format, cannot hold null)."""
    doc = entries.normalize(results)
    for ch in doc.get("challenges", []):
        for key in ("model_accuracy", "model_agreement", "required", "draw_seed", "void"):
            ch.setdefault(key, None)
        ch.setdefault("solved_by", [])
        ch.setdefault("points", {})
        for sub in ch.setdefault("submissions", []):
            sub.setdefault("agreement", None)
            sub.setdefault("error", None)
    return doc


def comparable(results: dict[str, Any]) -> dict[str, Any]:
    """The re-derivable part of a results document."""
    return {k: v for k, v in public(results).items() if k not in NOT_REPRODUCED}
