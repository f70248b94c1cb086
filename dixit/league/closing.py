"""Closing a round: open the secrets, plan, replay, judge, apply Dixit rules, commit.

The results are a pure function of the ledger at the close (reveals included) and the replay
outcomes, so ``dixit verify`` can re-derive them exactly; only ``closed`` (the time) and
``isolation`` (what the closer's kernel offered) are not re-derived (``judge.NOT_REPRODUCED``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dixit.errors import PhaseError
from dixit.league import hints, plan as planning
from dixit.league.judge import ChallengeFacts, assemble, judge, public
from dixit.league.secrets import Opened, load_closer, open_secrets
from dixit.ledger import clock, entries, keystore, layout, state as st
from dixit.ledger.store import Change, Ledger, Snapshot
from dixit.replay import reference
from dixit.rules.draw import draw_seed

if TYPE_CHECKING:
    from dixit.replay import engine as replay_engine

Progress = Callable[[int, int], None]


@contextlib.contextmanager
def replayed(state: st.State, rnd: st.Round, opened: Opened, root: Path,
             targets: list[str] | None = None, *, allow_weak: bool = False,
             progress: Progress | None = None
             ) -> Iterator[tuple[planning.Plan, dict[str, replay_engine.Outcome]]]:
    """Plan and replay the labelers, programs and models of ``targets`` (default: every
    challenge) exactly as the close does: the plan (each challenge's judged domain: a
    post-deadline draw, a revealed held-out set) and the outcomes by ``plan.source_key`` (the
    models' and held-out splits' by ``plan.model_key`` and ``plan.split_key``). The plan's
    revealed held-out sets exist until the block ends."""
    from dixit import replay

    limits, require = reference.replay_limits(state.rules, allow_weak)
    the_plan = planning.plan(rnd, opened, root, targets,
                             draw_seed(state.info.id, rnd.number, opened.salts), state.rules,
                             caps=state.rules.domains)
    total, done = the_plan.replay_count(opened), [0]

    def tick(o: replay.Outcome) -> None:
        if planning.is_program(o.key):  # models and splits are not counted
            done[0] += 1
            if progress:
                progress(done[0], total)

    outcomes: dict[str, replay.Outcome] = {}
    try:
        for members in the_plan.groups:
            first = the_plan.challenges[members[0]]
            assert first.domain is not None and first.scheme is not None
            sources = the_plan.sources(members, opened)
            models, splits = {}, {}
            for target in members:  # each published model, and its claim's held-out split
                cp = the_plan.challenges[target]
                weights = reference.model_weights(state, cp.challenge)
                if weights is not None:
                    models[planning.model_key(target)] = weights
                split = None if cp.draw_seed is not None or cp.heldout else \
                    reference.heldout_split(cp.challenge)
                if split is not None:
                    splits[planning.split_key(target)] = split
            outcomes.update(replay.replay_sources(
                sources, first.domain, limits, require=require, on_done=tick,
                output=first.scheme.output, models=models, splits=splits,
                # one child per team and domain runs its programs; each labeler runs alone
                batches={key: b for key in sources
                         if (b := planning.batch_of(key)) is not None}))
        yield the_plan, outcomes
    finally:
        the_plan.close()  # revealed held-out sets leave no copy behind


def replay_challenges(state: st.State, rnd: st.Round, opened: Opened, root: Path,
                      targets: list[str] | None = None, *, allow_weak: bool = False,
                      progress: Progress | None = None) -> dict[str, ChallengeFacts]:
    """Plan, replay and judge the labelers, programs and models of ``targets`` (default:
    every challenge): the facts per challenge that ``assemble`` scores."""
    with replayed(state, rnd, opened, root, targets, allow_weak=allow_weak,
                  progress=progress) as (the_plan, outcomes):
        return judge(state, the_plan, opened, outcomes)


def evaluate(state: st.State, rnd: st.Round, opened: Opened, root: Path, *,
             allow_weak: bool = False, progress: Progress | None = None) -> dict[str, Any]:
    """Replay every labeler, program and model; return the results document (unsigned)."""
    from dixit import replay

    facts = replay_challenges(state, rnd, opened, root, allow_weak=allow_weak,
                              progress=progress)
    return assemble(state, rnd, facts, replay.probe_isolation().describe())


@dataclass
class ScoreOutcome:
    results: dict[str, Any]
    written: bool


def score(ledger: Ledger, round_no: int | None = None, *, force: bool = False,
          allow_weak: bool = False, progress: Progress | None = None) -> ScoreOutcome:
    """Close a round (idempotent: a closed round is returned as it is, nothing written)."""
    from dixit import replay

    replay.prestart()  # the zygote imports torch while the ledger is read, secrets opened
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
    if hints.due(state, clock.now(), rnd.number) and \
            hints.release_due(ledger, rnd.number, closer):  # a hint due first comes first
        state = st.load(ledger.snapshot())
        rnd = state.scored_round(rnd.number)
    for _attempt in range(3):
        base_commit = state.snapshot.commit
        opened = open_secrets(state, rnd, closer)
        doc = evaluate(state, rnd, opened, ledger.root, allow_weak=allow_weak, progress=progress)
        doc["closed"] = clock.iso(clock.now())

        def build(snap: Snapshot, doc: dict[str, Any] = doc, opened: Opened = opened,
                  base_commit: str | None = base_commit, rnd: st.Round = rnd) -> Change:
            if snap.commit != base_commit:
                raise _Stale
            files = dict(opened.new_files)
            files[layout.results_path(rnd.number)] = entries.signed(doc, closer.signing)
            return Change(files, f"close: round {rnd.number:03d} scored", "closer",
                          tag=layout.closed_tag(rnd.number))

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
                                 layout.results_path(rnd.number))
    if commit:
        ledger.ensure_tag(layout.closed_tag(rnd.number), commit)


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
