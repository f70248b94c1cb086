"""``dixit verify``: re-derive every signature, seal and score from the ledger alone.

Returns a report listing every problem found (path and, where it helps, the commit) rather than
stopping at the first; the CLI exits 1 when the list is not empty.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from dixit import rules
from dixit.data import domains
from dixit.errors import DixitError, EntryError, SealError
from dixit.league import checks, closing, judge, secrets
from dixit.ledger import clock, entries, layout, seal, state as st
from dixit.ledger.store import Ledger
from dixit.rules import kinds, rulebook


@dataclass
class Report:
    commit: str | None
    checked: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def count(self, what: str, n: int = 1) -> None:
        self.checked[what] = self.checked.get(what, 0) + n

    def as_dict(self) -> dict[str, Any]:
        return {"ok": not self.problems, "commit": self.commit, "checked": self.checked,
                "problems": self.problems}


def verify(ledger: Ledger, round_no: int | None = None, *, replay: bool = True,
           allow_weak: bool = False,
           progress: Callable[[int, int], None] | None = None) -> Report:
    snap = ledger.snapshot()
    report = Report(commit=snap.commit)
    try:
        state = st.load(snap)  # every signature of the current state
    except DixitError as exc:
        report.problems.append(str(exc))
        return report
    report.count("signatures", 1 + len(state.teams))
    if replay and any(r.closed for r in state.rounds.values()):
        from dixit.replay import prestart

        prestart()  # the sandbox imports torch while the history is checked
    timeline = _check_history(ledger, report)
    for path in snap.paths("teams/"):
        if path != "teams/README.md" and layout.registry_team(path) not in state.teams:
            report.problems.append(f"{path}: unexpected file in the team registry")
    for number, rnd in sorted(state.rounds.items()):
        if round_no is None or number == round_no:
            _check_signers(state, rnd, timeline, report)
            _check_turns(state, rnd, timeline, report)
    for path in snap.paths("rounds/"):
        rel = path.split("/", 2)
        if len(rel) < 3 or not rel[1].isdigit():
            if path != "rounds/README.md":
                report.problems.append(f"{path}: unexpected file in the round ledger")
            continue
        if not any(p.match(rel[2]) for p in layout.ROUND_FILES):
            report.problems.append(f"{path}: unexpected file in the round ledger")
    for number, rnd in sorted(state.rounds.items()):
        if round_no is not None and number != round_no:
            continue
        report.count("signatures", 1 + len(rnd.challenges) + len(rnd.submissions)
                     + len(rnd.reveals) + (1 if rnd.closed else 0))
        _check_round(ledger, state, rnd, timeline, report, replay, allow_weak, progress)
    return report


@dataclass
class Timeline:
    """When each path of the current tree was last written, as a commit's position in history."""

    commits: list[str] = field(default_factory=list)
    written: dict[str, int] = field(default_factory=dict)
    times: list[int] = field(default_factory=list)  # each commit's committer time (Unix)
    rules: list[str | None] = field(default_factory=list)  # the rulebook's blob at each commit
    rulebooks: dict[str, rulebook.Rulebook | None] = field(default_factory=dict)  # by blob

    def time_of(self, path: str) -> int | None:
        at = self.written.get(path)
        return self.times[at] if at is not None and at < len(self.times) else None

    def at(self, path: str) -> int | None:
        return self.written.get(path)

    def before(self, path: str, ordinal: int) -> bool:
        at = self.written.get(path)
        return at is not None and at < ordinal

    def where(self, path: str) -> str:
        at = self.written.get(path)
        return f"{path} (commit {self.commits[at][:10]})" if at is not None else path


def key_at(team: st.Team, timeline: Timeline, ordinal: int) -> tuple[str | None, str]:
    """The key registered for ``team`` when commit ``ordinal`` landed, or None and why not.
    A rotation or removal takes effect from the commit after its own."""
    if not timeline.before(layout.registration_path(team.name), ordinal):
        return None, f"written before team '{team.name}' was registered"
    removal = timeline.at(layout.removal_path(team.name))
    if removal is not None and removal < ordinal:
        return None, (f"written after team '{team.name}' was removed (commit "
                      f"{timeline.commits[removal][:10]})")
    key = team.history[0]
    for number, rotated in enumerate(team.history[1:], 1):
        if timeline.before(layout.rotation_path(team.name, number), ordinal):
            key = rotated
    return key, ""


def _check_signers(state: st.State, rnd: st.Round, timeline: Timeline, report: Report) -> None:
    """Every team-signed entry is signed by the key its team held when the entry landed."""
    base = layout.round_dir(rnd.number)
    signed = [(t, f"{c.folder}/challenge.toml") for t, c in rnd.challenges.items()]
    signed += [(t, s.path) for (t, _g), s in rnd.submissions.items()]
    signed += [(o, f"{base}/reveals/{o}/{i}.toml") for (o, i), r in rnd.reveals.items()
               if r.by != "closer"]
    for team, path in sorted(signed):
        ordinal = timeline.at(path)
        data = state.snapshot.read(path)
        if ordinal is None or data is None:
            continue
        key, why = key_at(state.teams[team], timeline, ordinal)
        if key is None:
            report.problems.append(f"{timeline.where(path)}: {why}")
            continue
        if len(state.teams[team].history) == 1:
            continue  # one key ever: loading the state already checked it
        try:
            entries.verify(data, path, key)
        except DixitError:
            report.problems.append(f"{timeline.where(path)}: not signed with the key registered "
                                   f"for '{team}' at that time (a retired or foreign key)")


def _check_turns(state: st.State, rnd: st.Round, timeline: Timeline, report: Report) -> None:
    """A rotating round names the storytellers the rotation gave when it opened (from the
    registry of that commit and the rounds before), and only they proposed in it."""
    if rnd.storytellers is None or rnd.per_round is None:
        return
    path = layout.round_entry(rnd.number)
    opened = timeline.at(path)
    if opened is not None:
        then = _at_close(state, timeline, opened)
        want = checks.storytellers_for(then, rnd.number, rnd.per_round, then.roster())
        if list(rnd.storytellers) != want:
            report.problems.append(f"{path}: storytellers {', '.join(rnd.storytellers)} do not "
                                   f"follow the rotation ({rnd.per_round} a round: "
                                   f"{', '.join(want) or 'none'})")
    for team in sorted(rnd.challenges):
        try:
            checks.storyteller(rnd, team)
        except DixitError as exc:
            report.problems.append(f"{layout.challenge_entry(rnd.number, team)}: {exc}")
    report.count("turns")


def _at_close(state: st.State, timeline: Timeline, closed_at: int) -> st.State:
    """The registry as it stood when a round's results were committed: later registrations
    and removals do not change what that round was scored with."""
    teams = {n: replace(t, removed=t.removed if timeline.before(layout.removal_path(n), closed_at)
                        else None)
             for n, t in state.teams.items()
             if timeline.before(layout.registration_path(n), closed_at)}
    return st.State(state.snapshot, state.info, teams, state.rounds, state.rules)


def _check_round(ledger: Ledger, state: st.State, rnd: st.Round, timeline: Timeline,
                 report: Report, replay: bool, allow_weak: bool,
                 progress: Callable[[int, int], None] | None) -> None:
    snap = state.snapshot
    for team, ch in sorted(rnd.challenges.items()):
        model = snap.read(f"{ch.folder}/{ch.meta.get('model', 'model.safetensors')}")
        if model is None or seal.sha256_hex(model) != ch.seal.get("model_sha256"):
            report.problems.append(f"{ch.folder}/model.safetensors: does not match the model "
                                   "hash in its seal")
        escrow_path = layout.escrow_path(rnd.number, team, layout.SECRET_ITEM)
        escrow = snap.read(escrow_path)
        if escrow is not None and seal.sha256_hex(escrow) != ch.seal.get("escrow_sha256"):
            report.problems.append(f"{escrow_path}: does not match its seal")
        _check_heldout_escrow(state, rnd, team, ch, report)
        _check_published(snap, ch, report)
        _check_timed_hints(state, rnd, team, ch, report)
        try:
            dom = domains.parse(ch.domain, root=ledger.root, seed=int(ch.meta.get("seed", 0)))
            if dom.identity() != ch.seal.get("domain_id"):
                report.problems.append(f"{ch.folder}/challenge.toml: domain data changed since "
                                       "the challenge was sealed")
        except DixitError as exc:
            report.problems.append(f"{ch.folder}: {exc}")
        report.count("seals")
    for (owner, target), sub in sorted(rnd.submissions.items()):
        if target not in rnd.challenges:
            report.problems.append(f"{sub.path}: submission to a challenge that does not exist")
            continue
        escrow_path = layout.escrow_path(rnd.number, owner, target)
        escrow = snap.read(escrow_path)
        if escrow is not None and seal.sha256_hex(escrow) != sub.seal.get("escrow_sha256"):
            report.problems.append(f"{escrow_path}: does not match its seal")
        _check_explanation(ledger, state, rnd, sub, timeline, report)
        report.count("seals")
    _check_releases(state, rnd, timeline, report)
    res_path = layout.results_path(rnd.number)
    closed_at = timeline.at(res_path)
    if closed_at is not None:
        state = _at_close(state, timeline, closed_at)
    rnd = st.set_aside(rnd, state.removed)
    opened = secrets.open_secrets(state, rnd, None)
    for (owner, item), why in sorted(opened.missing.items()):
        if (owner, item) in rnd.reveals or rnd.closed:
            report.problems.append(f"{layout.round_dir(rnd.number)}/reveals/{owner}/{item}: {why}")
    report.count("reveals", len(rnd.reveals))
    if not rnd.closed:
        return
    assert rnd.results is not None
    tag = layout.closed_tag(rnd.number)
    if tag not in [t.name for t in ledger.repo.tags]:
        report.problems.append(f"round {rnd.number}: closed but not tagged {tag}")
    committed = rnd.results
    # The results name every entry they scored: an entry dropped or added since is visible
    # even without a replay.
    recorded = {(s.get("team"), c.get("proposer")) for c in committed.get("challenges", [])
                for s in c.get("submissions", [])}
    if recorded != set(rnd.submissions):
        report.problems.append(f"{res_path}: scored submissions {sorted(recorded ^ set(rnd.submissions))} "  # noqa: E501
                               "differ from the ledger's")
    if {c.get("proposer") for c in committed.get("challenges", [])} != set(rnd.challenges):
        report.problems.append(f"{res_path}: scored challenges differ from the ledger's")
    if sorted(committed.get("teams", [])) != state.roster():
        report.problems.append(f"{res_path}: the teams scored differ from the registry")
    if committed.get("rules") != state.rules.as_dict():
        # Re-score under the rules the round was closed with; a rules change later is legal.
        try:
            book = rulebook.from_record(committed.get("rules", {}))
        except DixitError as exc:
            report.problems.append(f"{res_path}: recorded rules are invalid: {exc}")
            return
        state = st.State(state.snapshot, state.info, state.teams, state.rounds, book)
    if replay:
        try:
            derived = closing.evaluate(state, rnd, opened, ledger.root, allow_weak=allow_weak,
                                       progress=progress)
        except DixitError as exc:
            report.problems.append(f"round {rnd.number}: cannot replay: {exc}")
            return
        for key in rulebook.ADDED_LATER:
            if key not in committed.get("rules", {}):
                # closed before the rulebook had it (e.g. [domains]: re-scored with the
                # ceilings), which its record does not name
                derived["rules"].pop(key, None)
        if judge.comparable(derived) != judge.comparable(committed):
            report.problems.append(f"{res_path}: does not match a fresh re-score "
                                   f"({_first_difference(judge.comparable(derived), judge.comparable(committed))})")  # noqa: E501
        report.count("rounds re-scored")
    else:
        outcomes = [rules.ChallengeOutcome(
            c["proposer"], [rules.SubmissionOutcome(s["team"], s["score"], s["error"])
                            for s in c["submissions"]], c["void"],
            *_required(state, rnd, c))
            for c in judge.public(committed).get("challenges", [])]
        rescored = rules.score_round(committed.get("teams", []), outcomes,
                                     state.rules.threshold, state.rules.points)
        if rescored.points != rules.round_score(committed).points:
            report.problems.append(f"{res_path}: points do not follow from the recorded "
                                   "agreements under the rulebook")
        # the points follow from `score`; judged by agreement, it *is* the agreement
        for c in judge.public(committed).get("challenges", []):
            if c["metric"] == "agreement" and any(s["score"] != s["agreement"]
                                                  for s in c["submissions"]):
                report.problems.append(f"{res_path}: {c['proposer']}'s challenge is judged by "
                                       "agreement, but a submission's score differs from its "
                                       "agreement")
        report.count("rounds re-scored (no replay)")





def _check_explanation(ledger: Ledger, state: st.State, rnd: st.Round, sub: st.Submission,
                       timeline: Timeline, report: Report) -> None:
    """A submission entry holds only known tables; its explanation's seal is well formed, its
    escrow the one sealed (only an entry that seals an explanation has one; in an escrowing
    tournament, it must); and it carries one if the rulebook in force when it was committed
    required one, within that rulebook's cap (what ``submit`` and ``validate`` judged by)."""
    path = layout.explanation_escrow(rnd.number, sub.team, sub.target)
    blob = state.snapshot.read(path)
    try:
        payload, _sig = entries.parse(state.snapshot.read(sub.path) or b"", sub.path)
        sealed = checks.submission_entry(payload)
    except DixitError as exc:
        text = str(exc)
        report.problems.append(text if text.startswith(sub.path) else f"{sub.path}: {text}")
        return
    if sealed is None:
        if blob is not None:
            report.problems.append(f"{path}: its submission entry seals no explanation")
    elif blob is None:
        if state.info.escrow:
            report.problems.append(f"{path}: missing (its submission entry seals an "
                                   "explanation)")
    else:
        try:
            checks.explanation_escrow(sealed, blob)
        except DixitError as exc:
            report.problems.append(f"{path}: {exc}")
    book = _rules_at(ledger, state, timeline, timeline.at(sub.path))
    if book is not None:
        try:
            checks.explanation_required(book, sealed)
        except DixitError as exc:
            report.problems.append(f"{timeline.where(sub.path)}: {exc}")
    if sealed is not None:
        report.count("explanations")


def _rules_at(ledger: Ledger, state: st.State, timeline: Timeline,
              ordinal: int | None) -> rulebook.Rulebook | None:
    """The rulebook in force at commit ``ordinal`` (the defaults where there was none yet; None
    where it did not parse, which is no explanation's fault)."""
    if ordinal is None or ordinal >= len(timeline.rules):
        return state.rules
    blob = timeline.rules[ordinal]
    if blob is None:
        return rulebook.Rulebook()
    cache = timeline.rulebooks
    if blob not in cache:
        try:
            text = ledger.repo.odb.stream(bytes.fromhex(blob)).read().decode("utf-8", "replace")
            cache[blob] = rulebook.parse_text(text, layout.RULES)
        except (DixitError, ValueError):
            cache[blob] = None
    return cache[blob]


def _check_heldout_escrow(state: st.State, rnd: st.Round, team: str, ch: st.Challenge,
                          report: Report) -> None:
    """A held-out escrow is the one sealed in its challenge entry, and only a challenge that
    seals a held-out set has one (in an escrowing tournament, it must)."""
    path = layout.escrow_path(rnd.number, team, layout.HELDOUT_ITEM)
    blob = state.snapshot.read(path)
    held = ch.meta.get("heldout")
    if not isinstance(held, dict):
        if blob is not None:
            report.problems.append(f"{path}: its challenge entry seals no held-out set")
        return
    if blob is None:
        if state.info.escrow:
            report.problems.append(f"{path}: missing (its challenge entry seals a held-out "
                                   "set)")
    elif seal.sha256_hex(blob) != held.get("escrow_sha256"):
        report.problems.append(f"{path}: does not match its seal")


def _check_published(snap: Any, ch: st.Challenge, report: Report) -> None:
    """A challenge entry holds only known keys and well-formed hints, and every hint picture it
    names is committed beside it, matching its hash (and none that it does not name)."""
    entry = f"{ch.folder}/challenge.toml"
    try:
        checks.challenge_meta(ch.meta)
    except DixitError as exc:
        report.problems.append(f"{entry}: {exc}")
        return
    images = ch.meta.get("hint_images", [])
    for i in range(1, len(images) + 1):
        path = f"{ch.folder}/{layout.hint_image_name(i)}"
        data = snap.read(path)
        try:
            if data is None:
                raise EntryError("missing (its challenge entry names it)")
            checks.hint_image(ch.meta, i, data)
        except DixitError as exc:
            report.problems.append(f"{path}: {exc}")
    for path in snap.paths(f"{ch.folder}/"):
        m = layout.HINT_IMAGE.match(path.rsplit("/", 1)[1])
        if m and int(m.group(1)) > len(images):
            report.problems.append(f"{path}: a hint image its challenge entry does not name")


def _check_timed_hints(state: st.State, rnd: st.Round, team: str, ch: st.Challenge,
                       report: Report) -> None:
    """Each timed hint falls before submit-by and its escrow is the one sealed."""
    entry = f"{ch.folder}/challenge.toml"
    try:
        timed = checks.timed_hints(ch.meta)
        checks.hint_times(rnd, ch.meta)
    except DixitError as exc:
        report.problems.append(f"{entry}: {exc}")
        return
    for i, hint in enumerate(timed, 1):
        path = layout.hint_escrow_path(rnd.number, team, i)
        blob = state.snapshot.read(path)
        if blob is None or seal.sha256_hex(blob) != hint["escrow_sha256"]:
            report.problems.append(f"{path}: " + ("missing" if blob is None
                                                  else "does not match its seal"))


def _check_releases(state: st.State, rnd: st.Round, timeline: Timeline,
                    report: Report) -> None:
    """Every released timed hint opens its seal and came no earlier than its time, by the
    closer's signed clock and by its commit's time; a closed round released every hint that
    was due before it closed."""
    for (team, index), rel in sorted(rnd.hints.items()):
        entry = layout.hint_entry(rnd.number, team, index)
        ch = rnd.challenges.get(team)
        try:
            timed = checks.timed_hints(ch.meta) if ch is not None else []
        except DixitError:
            timed = []  # reported with the challenge
        if index > len(timed):
            report.problems.append(f"{entry}: releases a timed hint its challenge does not have")
            continue
        at = str(timed[index - 1]["at"])
        try:
            if rel.at != at:
                raise EntryError(f"names the time {rel.at}, but the hint is sealed for {at}")
            checks.hint_release_time(rnd, rel)
            when = timeline.time_of(entry)
            if when is not None and when < clock.parse_iso(at).timestamp():
                raise EntryError(f"committed at {clock.iso(datetime.fromtimestamp(when, UTC))}, "
                                 f"before its time ({at})")
            if rel.path is not None:
                payload = state.snapshot.read(rel.path)
                if payload is None:
                    raise SealError(f"its text {rel.path} is missing")
                checks.hint_matches(state.info, rnd, team, index,
                                    seal.unb64(str(rel.salt), "salt"), payload,
                                    "the released hint")
        except DixitError as exc:
            report.problems.append(f"{timeline.where(entry)}: {exc}")
        report.count("hints")
    if not rnd.closed or rnd.results is None:
        return
    closed = str(rnd.results.get("closed", ""))
    for team, ch in sorted(st.set_aside(rnd, state.removed).challenges.items()):
        try:
            timed = checks.timed_hints(ch.meta)
        except DixitError:
            continue
        for i, hint in enumerate(timed, 1):
            if (team, i) not in rnd.hints and closed and str(hint["at"]) <= closed:
                report.problems.append(f"{layout.hint_entry(rnd.number, team, i)}: {team}'s "
                                       f"timed hint {i}, due at {hint['at']}, was never "
                                       f"released before the round closed ({closed})")


def _check_history(ledger: Ledger, report: Report) -> Timeline:
    """Walk every commit once (one git process): sealed files are written once and never
    changed or deleted; a round's folder does not change after its results are committed.
    Returns when each path was last written, for the checks that depend on time."""
    timeline = Timeline()
    head = ledger.head()
    if head is None:
        return timeline
    log = ledger.repo.git.log("--reverse", "--no-renames", "--raw", "--no-abbrev",
                              "--format=@@%H %ct", head)
    closed_at: dict[str, str] = {}
    rules_blob: str | None = None
    replaced: list[tuple[str, str, str, str]] = []  # (commit, path, old blob, new blob)
    commits = 0
    for block in log.split("@@")[1:]:
        lines = [ln for ln in block.splitlines() if ln.strip()]
        commit, _sep, when = lines[0].strip().partition(" ")
        changes = []
        timeline.times.append(int(when) if when.isdigit() else 0)
        for ln in lines[1:]:
            meta, path = ln.split("\t", 1)
            _om, _nm, old_blob, new_blob, status = meta.lstrip(":").split()
            changes.append((status, path))
            if status[0] in "AM" and layout.SUBMISSION_FILE.match(path) \
                    and path.endswith(".toml"):
                replaced.append((commit, path, old_blob, new_blob))
            if path == layout.RULES:
                rules_blob = None if status[0] == "D" else new_blob
        commits += 1
        timeline.commits.append(commit)
        timeline.rules.append(rules_blob)
        rewritten = {path for status, path in changes if status[0] in "AM"}
        for status, path in changes:
            if status[0] == "D":
                timeline.written.pop(path, None)
            else:
                timeline.written[path] = len(timeline.commits) - 1
            where = f"{path} (commit {commit[:10]})"
            rnd = layout.ROUND_FILE.match(path)
            if rnd and rnd.group(1) in closed_at:
                report.problems.append(f"{where}: written after round {rnd.group(1)} was "
                                       f"closed in commit {closed_at[rnd.group(1)][:10]}")
            if status[0] in "MDT" and layout.IMMUTABLE.match(path):
                verb = {"M": "changed", "D": "deleted", "T": "turned into another file type"}[
                    status[0]]
                report.problems.append(f"{where}: sealed file {verb} after it was committed")
            elif status[0] == "D" and _dropped_explanation(path, rewritten):
                pass  # a resubmission replaces the explanation with the program
            elif status[0] in "DT" and layout.SUBMISSION_FILE.match(path):
                verb = "deleted" if status[0] == "D" else "turned into another file type"
                report.problems.append(f"{where}: a sealed submission was {verb}")
        for _status, path in changes:
            m = layout.RESULTS_FILE.match(path)
            if m:
                closed_at.setdefault(m.group(1), commit)
    _check_chains(ledger, replaced, report)
    report.count("commits", commits)
    return timeline


def _dropped_explanation(path: str, rewritten: set[str]) -> bool:
    """An explanation's escrow deleted by the commit that rewrites its submission entry (a
    resubmission without an explanation: whether that entry seals none is checked on it)."""
    suffix = f".{layout.EXPLANATION}.escrow"
    return bool(layout.SUBMISSION_FILE.match(path)) and path.endswith(suffix) \
        and path.removesuffix(suffix) + ".toml" in rewritten


def _check_chains(ledger: Ledger, written: list[tuple[str, str, str, str]],
                  report: Report) -> None:
    """Every submission entry written names the one it replaced (``checks.replacement``)."""
    odb = ledger.repo.odb
    for commit, path, old_blob, new_blob in written:
        previous = None if set(old_blob) == {"0"} else odb.stream(bytes.fromhex(old_blob)).read()
        try:
            payload, _sig = entries.parse(odb.stream(bytes.fromhex(new_blob)).read(), path)
            checks.replacement(previous, payload.get("submission", {}))
        except DixitError as exc:
            text = str(exc).removeprefix(f"{path}: ")
            report.problems.append(f"{path} (commit {commit[:10]}): {text}")


def _required(state: st.State, rnd: st.Round, c: dict[str, Any]) -> tuple[float | None, bool]:
    """The bar a recorded challenge was judged by and its direction, re-derived from its
    recorded model score under the rulebook and the challenge's own signed metadata (never
    taken from the results themselves)."""
    ch = rnd.challenges.get(str(c.get("proposer")))
    try:
        kind = kinds.get(str(c.get("kind", kinds.DEFAULT)))
    except DixitError:
        return None, True
    how = judge.scheme_for(state.rules, ch) if ch is not None else None
    return (judge.required_for(state.rules, kind, c.get("model_score"), how),
            True if how is None else how.higher_is_better)


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return _first_difference(a.get(k), b.get(k), f"{path}.{k}" if path else str(k))
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return _first_difference(x, y, f"{path}[{i}]")
    return f"{path}: derived {a!r}, committed {b!r}"


