"""Closing a large round on several machines: ``dixit score --shard K/N`` and ``--merge``.

**Shard plan.** Shards partition the round *by challenge*: a challenge's labeler, its model and
every program submitted to it always replay in the same shard, so each shard computes its
agreements and model accuracies on its own and no labels ever travel between machines. The
plan is a pure function of the ledger: challenges are weighed by what they replay (1 labeler +
their programs) and dealt heaviest first to the lightest shard (ties: lower shard number, then
challenge name), which keeps shards within one challenge's weight of each other.

**Partial files** are JSON (never pickle) holding the replayed facts of the shard's challenges
(void, model accuracy, each submission's agreement and error: exactly what
``judge.assemble`` consumes) plus what they were computed from: tournament, round, ledger
commit, a digest of the round's inputs and the plan. ``merge`` checks every part against the
ledger it runs on and against the plan, then applies Dixit scoring once and commits the results
exactly as one ``dixit score`` run would (same document; only ``closed`` and ``isolation``, never
re-derived, may differ).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dixit.errors import PhaseError, ShardError, UsageError
from dixit.league import closing, judge, secrets
from dixit.league.measure import MAX_KL
from dixit.ledger import clock, entries, keystore, layout, state as st
from dixit.ledger.fsutil import atomic_write
from dixit.ledger.store import Change, Ledger, Snapshot

FORMAT = "dixit-shard/1"
MAX_PART_BYTES = 64 << 20
_SPEC = re.compile(r"^(\d+)/(\d+)$")


def parse_spec(text: str) -> tuple[int, int]:
    """``K/N`` -> (K, N) with 1 <= K <= N."""
    m = _SPEC.match(text.strip())
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise UsageError(f"--shard takes K/N with 1 <= K <= N (like 2/4), not {text!r}")
    return int(m.group(1)), int(m.group(2))


def plan(rnd: st.Round, n: int) -> list[list[str]]:
    """The challenges of each of ``n`` shards (index K-1), balanced by replay count."""
    weight = {t: 1 + sum(1 for (_s, tg) in rnd.submissions if tg == t) for t in rnd.challenges}
    shards: list[list[str]] = [[] for _ in range(n)]
    load = [0] * n
    for target in sorted(weight, key=lambda t: (-weight[t], t)):
        i = min(range(n), key=lambda j: (load[j], j))
        shards[i].append(target)
        load[i] += weight[target]
    return [sorted(s) for s in shards]


def inputs_digest(snap: Snapshot, number: int) -> str:
    """A hash of everything a round's results depend on: its entries, the teams, the rules and
    the tournament's identity. Equal digests mean a shard replayed the same round."""
    h = hashlib.sha256(b"dixit/shard-inputs/v1\0")
    for path in sorted([*snap.paths(f"{layout.round_dir(number)}/"), *snap.paths("teams/"),
                        "scoring/rules.toml", "tournament.toml"]):
        h.update(f"{path}\0{snap.blob_id(path)}\0".encode())
    return h.hexdigest()


def _closable(ledger: Ledger, state: st.State, rnd: st.Round, force: bool) -> None:
    if rnd.closed:
        raise PhaseError(f"round {rnd.number} is already closed; nothing to replay")
    if clock.now() < rnd.submit_by and not force:
        raise PhaseError(f"round {rnd.number} is still open for submissions until "
                         f"{clock.iso(rnd.submit_by)}; the organizer may close it early with "
                         "--force")
    if force:
        keystore.load(state.info.id, "organizer")  # only the organizer may close early


@dataclass
class Part:
    """One shard's partial result, as written to and read from its JSON file."""

    data: dict[str, Any]
    path: str

    @property
    def k(self) -> int:
        return int(self.data["shard"]["k"])


def run_shard(ledger: Ledger, k: int, n: int, out: Path, round_no: int | None = None, *,
              due: bool = False, force: bool = False, allow_weak: bool = False,
              progress: closing.Progress | None = None) -> dict[str, Any] | None:
    """Replay shard ``k`` of ``n`` and write its partial file to ``out``; return its data.

    With ``due``, shard the oldest round whose submit-by has passed, or return None (and write
    nothing) when no round is due.
    """
    from dixit import replay

    ledger.pull()
    state = st.load(ledger.snapshot())
    if due:
        numbers = closing.due_rounds(state)
        if not numbers:
            return None
        round_no = numbers[0]
    rnd = state.scored_round(round_no)
    _closable(ledger, state, rnd, force)
    closer = secrets.load_closer(state.info)
    opened = secrets.open_secrets(state, rnd, closer)
    targets = plan(rnd, n)[k - 1]
    facts = closing.replay_challenges(state, rnd, opened, ledger.root, targets,
                                      allow_weak=allow_weak, progress=progress) if targets else {}
    data = {"format": FORMAT, "tournament": state.info.id, "round": rnd.number,
            "ledger_commit": state.snapshot.commit,
            "inputs": inputs_digest(state.snapshot, rnd.number),
            "shard": {"k": k, "n": n, "challenges": targets},
            "isolation": replay.probe_isolation().describe(), "made": clock.iso(clock.now()),
            "facts": {target: f.as_dict() for target, f in facts.items()}}
    atomic_write(out, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode())
    return data


def read_part(path: Path) -> Part:
    """Load a partial file; a ShardError names the file when it is not one."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ShardError(f"{path}: cannot read partial result ({exc.strerror})") from None
    if len(raw) > MAX_PART_BYTES:
        raise ShardError(f"{path}: larger than {MAX_PART_BYTES} bytes; not a partial result")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ShardError(f"{path}: not JSON ({str(exc).splitlines()[0][:80]})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ShardError(f"{path}: not a dixit partial result (format {FORMAT!r} expected)")
    shard = data.get("shard")
    if not (isinstance(shard, dict) and _int(shard.get("k")) and _int(shard.get("n"))
            and isinstance(shard.get("challenges"), list) and _int(data.get("round"))
            and all(isinstance(data.get(f), str) for f in ("tournament", "inputs", "isolation"))
            and isinstance(data.get("facts"), dict)):
        raise ShardError(f"{path}: partial result is missing fields or has wrong types")
    return Part(data, str(path))


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


_FACTS = {"void", "model_accuracy", "model_agreement", "model_score", "draw_seed",
          "submissions"}


def _check_facts(part: Part, rnd: st.Round) -> None:
    """Each challenge's facts must have exactly the documented shape and submitters."""
    where = part.path
    for target, f in part.data["facts"].items():
        subs = f.get("submissions") if isinstance(f, dict) else None
        if not isinstance(subs, dict) or set(f) != _FACTS:
            raise ShardError(f"{where}: facts of '{target}' are malformed")
        if not (f["void"] is None or isinstance(f["void"], str)) or not all(
                f[k] is None or _fraction(f[k]) for k in ("model_accuracy", "model_agreement")) \
                or not (f["model_score"] is None or _score(f["model_score"])):
            raise ShardError(f"{where}: facts of '{target}' are malformed")
        if not (f["draw_seed"] is None or (isinstance(f["draw_seed"], int)
                                           and not isinstance(f["draw_seed"], bool))):
            raise ShardError(f"{where}: facts of '{target}' are malformed")
        want = {s for (s, t) in rnd.submissions if t == target}
        if set(subs) != want:
            raise ShardError(f"{where}: '{target}' has submissions from "
                             f"{', '.join(sorted(subs)) or 'nobody'} but the ledger has "
                             f"{', '.join(sorted(want)) or 'none'}")
        for owner, s in subs.items():
            if not (isinstance(s, dict) and set(s) == {"agreement", "error", "score"}
                    and (s["agreement"] is None or _fraction(s["agreement"]))
                    and (s["score"] is None or _score(s["score"]))
                    and (s["error"] is None or isinstance(s["error"], str))):
                raise ShardError(f"{where}: facts of {owner} -> {target} are malformed")


def _score(v: Any) -> bool:
    """A metric's value: a fraction, or a KL in nats (at most ``measure.MAX_KL``)."""
    return isinstance(v, int | float) and not isinstance(v, bool) and 0.0 <= v <= MAX_KL


def _fraction(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and 0.0 <= v <= 1.0


def check_parts(state: st.State, parts: list[Part]) -> st.Round:
    """Refuse parts that do not make exactly one complete shard plan of this ledger's round."""
    if not parts:
        raise UsageError("--merge needs the partial result files of every shard")
    first = parts[0]
    for p in parts:
        if p.data["tournament"] != state.info.id:
            raise ShardError(f"{p.path}: made for another tournament "
                             f"({p.data['tournament']}, this is {state.info.id})")
        if p.data["round"] != first.data["round"]:
            raise ShardError(f"{p.path}: is for round {p.data['round']}, {first.path} for "
                             f"round {first.data['round']}; merge the parts of one round")
        if p.data["shard"]["n"] != first.data["shard"]["n"]:
            raise ShardError(f"{p.path}: is one of {p.data['shard']['n']} shards, {first.path} "
                             f"one of {first.data['shard']['n']}; use one shard plan")
    n, number = int(first.data["shard"]["n"]), int(first.data["round"])
    seen: dict[int, str] = {}
    for p in parts:
        if p.k > n:
            raise ShardError(f"{p.path}: shard {p.k}/{n} does not exist")
        if p.k in seen:
            raise ShardError(f"{p.path}: shard {p.k}/{n} given twice (also {seen[p.k]})")
        seen[p.k] = p.path
    missing = sorted(set(range(1, n + 1)) - set(seen))
    if missing:
        raise ShardError(f"missing shard(s) {', '.join(f'{k}/{n}' for k in missing)} of round "
                         f"{number}; merge needs every part")
    rnd = state.scored_round(number)
    digest = inputs_digest(state.snapshot, number)
    expected = plan(rnd, n)
    for p in parts:
        if p.data["inputs"] != digest:
            raise ShardError(f"{p.path}: replayed round {number} as of ledger commit "
                             f"{str(p.data.get('ledger_commit'))[:10]}, and the round's entries "
                             "changed since; run the shards again")
        if sorted(p.data["shard"]["challenges"]) != expected[p.k - 1] \
                or sorted(p.data["facts"]) != expected[p.k - 1]:
            raise ShardError(f"{p.path}: shard {p.k}/{n} should hold challenges "
                             f"{', '.join(expected[p.k - 1]) or '(none)'} under the shard plan")
        _check_facts(p, rnd)
    return rnd


def merge(ledger: Ledger, paths: list[Path], *, force: bool = False) -> closing.ScoreOutcome:
    """Merge every shard's part into the round's results and commit them like ``score``."""
    parts = [read_part(p) for p in paths]
    ledger.pull()
    state = st.load(ledger.snapshot())
    if parts and _int(parts[0].data["round"]):
        rnd0 = state.rounds.get(int(parts[0].data["round"]))
        if rnd0 is not None and rnd0.closed:
            assert rnd0.results is not None  # merging again is as harmless as scoring again
            return closing.ScoreOutcome(judge.public(rnd0.results), False)
    rnd = check_parts(state, parts)
    _closable(ledger, state, rnd, force)
    closer = secrets.load_closer(state.info)
    opened = secrets.open_secrets(state, rnd, closer)  # the closer's reveal records, no replay
    facts: dict[str, judge.ChallengeFacts] = {}
    for p in parts:  # shapes checked by check_parts
        facts.update({t: judge.ChallengeFacts.from_dict(f) for t, f in p.data["facts"].items()})
    isolation = "; ".join(sorted({str(p.data["isolation"]) for p in parts}))
    doc = judge.assemble(state, rnd, facts, isolation)
    doc["closed"] = clock.iso(clock.now())
    base_commit = state.snapshot.commit

    def build(snap: Snapshot) -> Change:
        if snap.commit != base_commit and inputs_digest(snap, rnd.number) != \
                inputs_digest(state.snapshot, rnd.number):
            raise ShardError(f"round {rnd.number} changed while merging; run the shards again")
        if st.load(snap).rounds[rnd.number].closed:
            raise PhaseError(f"round {rnd.number} was closed by another run while merging")
        files = dict(opened.new_files)
        files[f"{layout.round_dir(rnd.number)}/results.toml"] = entries.signed(doc, closer.signing)
        return Change(files, f"close: round {rnd.number:03d} scored ({len(parts)} shards)",
                      "closer", tag=layout.closed_tag(rnd.number))

    ledger.append(build)
    return closing.ScoreOutcome(judge.public(doc), True)
