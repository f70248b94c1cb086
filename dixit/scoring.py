"""Closing a round: reveal from escrow, check every reveal, replay, apply Dixit rules, commit.

The results are a pure function of the ledger at the close (reveals included) and the replay
outcomes, so ``dixit verify`` can re-derive them exactly; only ``closed`` (the time) and
``isolation`` (what the closer's kernel offered) are not re-derived.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dixit import (
    actions,
    clock,
    domains,
    entries,
    keystore,
    kinds,
    models,
    protocol,
    rules,
    seal,
    training,
)
from dixit import state as st
from dixit.errors import EntryError, KeyStoreError, PhaseError, SealError
from dixit.ledger import Change, Ledger, Snapshot
from dixit.rulebook import Rulebook

if TYPE_CHECKING:
    import numpy as np

Progress = Callable[[int, int], None]
NOT_REPRODUCED = ("closed", "isolation")


@dataclass
class Opened:
    """The revealed secrets of a round: (owner, item) -> bytes, plus why others are missing."""

    payloads: dict[tuple[str, str], bytes] = field(default_factory=dict)
    missing: dict[tuple[str, str], str] = field(default_factory=dict)
    new_files: dict[str, bytes | None] = field(default_factory=dict)


def open_round(state: st.State, rnd: st.Round, closer: keystore.Identity | None) -> Opened:
    """Collect every sealed item's content: from its reveal, else from escrow (closer)."""
    out = Opened()
    snap = state.snapshot
    items = [(t, st.LABELER) for t in rnd.challenges] + list(rnd.submissions)
    for owner, item in sorted(items):
        where = f"{owner}'s {'labeler' if item == st.LABELER else 'program for ' + item}"
        context = actions.context_for(state, rnd, owner, item)
        seal_table = actions.seal_of(rnd, owner, item)
        rv = rnd.reveals.get((owner, item))
        try:
            if rv is not None:
                payload = snap.read(rv.path)
                if payload is None:
                    raise SealError(f"{where}: reveal file {rv.path} is missing")
                protocol.check_reveal(seal_table, context, seal.unb64(rv.salt), payload, where)
                out.payloads[(owner, item)] = payload
                continue
            blob = snap.read(st.escrow_path(rnd.number, owner, item))
            if blob is None or closer is None:
                out.missing[(owner, item)] = "not revealed (no reveal and no escrow)"
                continue
            if seal.sha256_hex(blob) != seal_table.get("escrow_sha256"):
                raise SealError(f"{where}: escrow file does not match its sealed hash")
            salt, payload = seal.unpack_secret(seal.open_escrow(closer.escrow, context, blob))
            protocol.check_reveal(seal_table, context, salt, payload, where)
            out.payloads[(owner, item)] = payload
            out.new_files.update(actions.reveal_files(rnd, owner, item, salt, payload, "closer",
                                                      closer.signing))
        except (SealError, EntryError) as exc:
            out.missing[(owner, item)] = str(exc)
    return out


def _agreement(a: np.ndarray, b: np.ndarray) -> float:
    return round(float((a == b).mean()), 6) if len(a) else 0.0


def replay_limits(book: Rulebook, allow_weak: bool = False) -> tuple[Any, str]:
    """The rulebook's replay limits, and the weakest isolation to accept."""
    from dixit import replay

    limits = replay.Limits(cpu_seconds=book.replay.cpu_seconds,
                           wall_seconds=book.replay.wall_seconds,
                           memory_mb=book.replay.memory_mb,
                           output_bytes=book.replay.output_bytes,
                           batch_size=book.replay.batch_size)
    return limits, "none" if allow_weak else book.replay.isolation


def replay_challenges(state: st.State, rnd: st.Round, opened: Opened, root: Path,
                      targets: list[str] | None = None, *, allow_weak: bool = False,
                      progress: Progress | None = None) -> dict[str, dict[str, Any]]:
    """Replay the labelers, programs and models of ``targets`` (default: every challenge).

    Returns, per challenge, JSON-ready facts: ``void``, ``model_accuracy`` and per submitting
    team its ``agreement`` and ``error``. Challenges that share a domain share one replay call,
    so warm workers are started once per domain, not once per challenge.
    """
    from dixit import replay

    limits, require = replay_limits(state.rules, allow_weak)
    chosen = sorted(rnd.challenges) if targets is None else sorted(targets)
    facts: dict[str, dict[str, Any]] = {}
    groups: dict[tuple[str, int], list[str]] = {}
    parsed: dict[str, domains.Domain] = {}
    for target in chosen:
        ch = rnd.challenges[target]
        # An emulate challenge is judged against its public model, so it stands without the
        # labeler (which then only checks the claim).
        facts[target] = {"void": None if ch.kind == "emulate"
                         else opened.missing.get((target, st.LABELER)),
                         "model_accuracy": None, "submissions": {}}
        if facts[target]["void"] is not None or not kinds.replayed(ch.kind):
            continue
        try:
            parsed[target] = domains.parse(ch.domain, root=root,
                                           seed=int(ch.meta.get("seed", 0)))
        except Exception as exc:  # a broken domain voids this challenge only
            facts[target]["void"] = f"domain unusable: {str(exc).splitlines()[0]}"
            continue
        groups.setdefault((parsed[target].identity(), int(ch.meta.get("seed", 0))),
                          []).append(target)
    total = sum(1 for (o, i) in opened.payloads
                if (i == st.LABELER and o in parsed) or i in parsed)
    done = [0]

    def tick(_o: replay.Outcome) -> None:
        done[0] += 1
        if progress:
            progress(done[0], total)

    outcomes: dict[str, replay.Outcome] = {}
    for members in groups.values():
        sources: dict[str, bytes] = {}
        for target in members:
            subs = sorted(s for (s, t) in rnd.submissions if t == target)
            for owner, item in [(target, st.LABELER), *((s, target) for s in subs)]:
                if (owner, item) in opened.payloads:
                    sources[f"{target}/{owner}/{item}"] = opened.payloads[(owner, item)]
        outcomes.update(replay.replay_sources(sources, parsed[members[0]], limits,
                                              require=require, on_done=tick))
    for target in chosen:
        ch, f = rnd.challenges[target], facts[target]
        if ch.kind == "flag":
            _judge_flags(rnd, target, opened, f)
            continue
        truth = outcomes.get(f"{target}/{target}/{st.LABELER}")
        labels = truth.labels if truth is not None and truth.error is None else None
        reference = labels
        if f["void"] is None and ch.kind == "emulate":
            preds = model_predictions(state, ch, parsed[target])
            if preds is None:
                f["void"] = "the published model could not be loaded and run"
            reference = preds
            if preds is not None and labels is not None:
                f["model_accuracy"] = _held_out_agreement(ch, parsed[target], preds, labels)
        elif f["void"] is None:
            if labels is None:
                f["void"] = f"labeler failed: {truth.error if truth else 'not replayed'}"
            else:
                f["model_accuracy"] = _model_accuracy(state, ch, parsed[target], labels)
        for owner in sorted(s for (s, t) in rnd.submissions if t == target):
            o = outcomes.get(f"{target}/{owner}/{target}")
            err = opened.missing.get((owner, target))
            agreement: float | None = None
            if f["void"] is not None:
                err = err or "challenge void"
            elif o is None:
                err = err or "not replayed"
            elif o.error is not None:
                err = o.error
            else:
                assert reference is not None and o.labels is not None
                agreement = _agreement(o.labels, reference)
            f["submissions"][owner] = {"agreement": agreement, "error": err}
    return facts


def _judge_flags(rnd: st.Round, target: str, opened: Opened, f: dict[str, Any]) -> None:
    """Flag guesses against the revealed flag: nothing runs, strings are compared."""
    secret = opened.payloads.get((target, st.LABELER))
    for owner in sorted(s for (s, t) in rnd.submissions if t == target):
        guess = opened.payloads.get((owner, target))
        err = opened.missing.get((owner, target))
        if f["void"] is not None:
            err = err or "challenge void"
        agreement = kinds.flag_agreement(secret, guess) \
            if secret is not None and guess is not None and f["void"] is None else None
        f["submissions"][owner] = {"agreement": agreement, "error": err}


def assemble(state: st.State, rnd: st.Round, facts: dict[str, dict[str, Any]],
             isolation: str) -> dict[str, Any]:
    """The results document from replayed facts: pure, applies the rulebook."""
    book: Rulebook = state.rules
    challenges: list[dict[str, Any]] = []
    outcomes: list[rules.ChallengeOutcome] = []
    for target in sorted(rnd.challenges):
        ch, f = rnd.challenges[target], facts[target]
        claimed, measured = float(ch.meta.get("claimed_accuracy", 0)), f["model_accuracy"]
        subs = [{"team": owner, "agreement": s["agreement"], "error": s["error"]}
                for owner, s in sorted(f["submissions"].items())]
        challenges.append({
            "proposer": target, "kind": ch.kind, "domain": ch.domain,
            "claimed_accuracy": claimed, "model_accuracy": measured, "void": f["void"],
            "claim_flagged": bool(measured is not None
                                  and abs(measured - claimed) > book.accuracy_tolerance),
            "submissions": subs})
        outcomes.append(rules.ChallengeOutcome(
            target, [rules.SubmissionOutcome(s["team"], s["agreement"], s["error"])
                     for s in subs], f["void"]))
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


def evaluate(state: st.State, rnd: st.Round, opened: Opened, root: Path, *,
             allow_weak: bool = False, progress: Progress | None = None) -> dict[str, Any]:
    """Replay every labeler, program and model; return the results document (unsigned)."""
    from dixit import replay

    facts = replay_challenges(state, rnd, opened, root, allow_weak=allow_weak,
                              progress=progress)
    return assemble(state, rnd, facts, replay.probe_isolation().describe())


def model_predictions(state: st.State, ch: st.Challenge, domain: domains.Domain
                      ) -> np.ndarray | None:
    """The published model's class predictions over the whole domain (None if unloadable)."""
    import torch

    snap = state.snapshot
    weights = snap.read(f"{ch.folder}/{ch.meta.get('model', 'model.safetensors')}")
    if weights is None:
        return None
    with tempfile.NamedTemporaryFile(suffix=".safetensors") as fh:
        fh.write(weights)
        fh.flush()
        try:
            module = models.load_weights(ch.model, Path(fh.name), state.rules.max_model_bytes)
        except Exception:
            return None
    # One thread: tiny models gain nothing from more, and the sandbox workers need the cores.
    with training.torch_threads(1):
        return torch.cat([models.predict(module, b) for b in domain.batches(8192)]).numpy()


def heldout_index(ch: st.Challenge, domain: domains.Domain) -> np.ndarray | None:
    """Indices of the held-out part of the domain (the claim's own split), or None for all."""
    from dixit.training import split

    frac = float(ch.meta.get("train_frac", 1.0))
    if frac >= 1.0:
        return None
    _tr, ho = split(domain.size, frac, int(ch.meta.get("seed", 0)))
    return ho.numpy()


def _model_accuracy(state: st.State, ch: st.Challenge, domain: domains.Domain,
                    truth: np.ndarray) -> float | None:
    """Accuracy of the published model on the held-out part (the claim's own split)."""
    preds = model_predictions(state, ch, domain)
    return None if preds is None else _held_out_agreement(ch, domain, preds, truth)


def _held_out_agreement(ch: st.Challenge, domain: domains.Domain, preds: np.ndarray,
                        truth: np.ndarray) -> float:
    idx = heldout_index(ch, domain)
    if idx is not None:
        return _agreement(preds[idx], truth[idx])
    return _agreement(preds, truth)


def public(results: dict[str, Any]) -> dict[str, Any]:
    """Results in their documented JSON shape: optional values present, as null when absent
    (TOML, the ledger's format, cannot hold null)."""
    doc = entries.normalize(results)
    for ch in doc.get("challenges", []):
        for key in ("model_accuracy", "void"):
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


def load_closer(info: st.Info) -> keystore.Identity:
    closer = keystore.load(info.id, "closer", env_var="DIXIT_CLOSER_KEY")
    if closer.public != info.closer_key:
        raise KeyStoreError("the closer key given is not this tournament's closer key")
    return closer


@dataclass
class ScoreOutcome:
    results: dict[str, Any]
    written: bool


def score(ledger: Ledger, round_no: int | None = None, *, force: bool = False,
          allow_weak: bool = False, progress: Progress | None = None) -> ScoreOutcome:
    """Close a round (idempotent: a closed round is returned as it is, nothing written)."""
    ledger.pull()
    state = st.load(ledger.snapshot())
    rnd = state.scored_round(round_no)
    if rnd.closed:
        assert rnd.results is not None and ledger.head() is not None
        _retag(ledger, state, rnd)
        return ScoreOutcome(public(rnd.results), False)
    now = clock.now()
    if now < rnd.submit_by and not force:
        raise PhaseError(f"round {rnd.number} is still open for submissions until "
                         f"{clock.iso(rnd.submit_by)}; the organizer may close it early with "
                         "--force")
    if force:
        keystore.load(state.info.id, "organizer")  # only the organizer may close early
    closer = load_closer(state.info)
    for _attempt in range(3):
        base_commit = state.snapshot.commit
        opened = open_round(state, rnd, closer)
        doc = evaluate(state, rnd, opened, ledger.root, allow_weak=allow_weak, progress=progress)
        doc["closed"] = clock.iso(clock.now())

        def build(snap: Snapshot, doc: dict[str, Any] = doc, opened: Opened = opened,
                  base_commit: str | None = base_commit, rnd: st.Round = rnd) -> Change:
            if snap.commit != base_commit:
                raise _Stale
            files = dict(opened.new_files)
            files[f"{st.round_dir(rnd.number)}/results.toml"] = entries.signed(doc,
                                                                               closer.signing)
            return Change(files, f"close: round {rnd.number:03d} scored", "closer",
                          tag=st.closed_tag(rnd.number))

        try:
            ledger.append(build)
            return ScoreOutcome(public(doc), True)
        except _Stale:
            # New entries landed while we replayed: score what the ledger now holds.
            state = st.load(ledger.snapshot())
            rnd = state.scored_round(rnd.number)
            if rnd.closed:
                assert rnd.results is not None
                return ScoreOutcome(public(rnd.results), False)
    raise PhaseError("the ledger kept changing while scoring; run `dixit score` again")


class _Stale(Exception):
    pass


def _retag(ledger: Ledger, state: st.State, rnd: st.Round) -> None:
    """A crash between the results commit and its tag leaves the tag missing: add it."""
    commit = ledger.repo.git.log("-1", "--format=%H", "--",
                                 f"{st.round_dir(rnd.number)}/results.toml")
    if commit:
        ledger.ensure_tag(st.closed_tag(rnd.number), commit)


def due_rounds(state: st.State, now: Any = None) -> list[int]:
    """Rounds whose submit-by has passed and that are not closed yet, oldest first."""
    now = now or clock.now()
    return [n for n, r in sorted(state.rounds.items()) if not r.closed and now >= r.submit_by]


def score_due(ledger: Ledger, *, allow_weak: bool = False,
              progress: Progress | None = None) -> list[ScoreOutcome]:
    """Close every due round (what the scheduled workflow runs); [] when none is due, so a
    second run, or two runs racing, write nothing twice (``score`` re-checks under the lock)."""
    ledger.pull()
    state = st.load(ledger.snapshot())
    return [score(ledger, n, allow_weak=allow_weak, progress=progress)
            for n in due_rounds(state)]
