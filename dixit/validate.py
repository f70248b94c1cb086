"""``dixit validate``: check the entries a pull request adds to the ledger, running no team code.

Everything is judged against the *base* (the branch the pull request targets): team keys,
rounds and their phases come from the base's state, deadlines from this machine's clock
(``dixit.clock.now()``, the runner's). The pull request's net change (merge base -> HEAD) must
consist only of ledger entries, all of one signer (a team, or the organizer), each signed with
the key the base registers for the owner of its path, with every unsigned companion file (model,
escrow, revealed program) bound by hash to its signed entry, and nothing sealed deleted or
edited. Every commit of the pull request is also checked to touch only ledger entry paths.
Problems are collected, not raised, so one run names them all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import git

from dixit import clock, entries, protocol, seal
from dixit import state as st
from dixit.errors import DixitError, EntryError, LedgerError, PhaseError
from dixit.ledger import Snapshot, find_root

_ROUND_PATH = re.compile(r"^rounds/(\d{3,})/(.+)$")
ORGANIZER, CLOSER = "organizer", "closer"


@dataclass(frozen=True)
class Place:
    """What a ledger path is: its kind, round, the team (folder) and the identity that signs."""

    kind: str                 # team | round | challenge | submission | reveal | results
    signer: str               # ORGANIZER, CLOSER or a team name
    round: int | None = None
    team: str | None = None   # the team the path belongs to (or registers)
    name: str = ""            # file name inside the entry's folder


def classify(path: str) -> Place | None:
    """The entry a path belongs to, or None when no ledger entry may live there."""
    if (team := st.registry_team(path)) is not None:
        return Place("team", ORGANIZER, team=team, name=path.rsplit("/", 1)[1])
    m = _ROUND_PATH.match(path)
    if not m or not any(p.match(m.group(2)) for p in st.ROUND_FILES):
        return None
    number, rest = int(m.group(1)), m.group(2).split("/")
    if rest == ["round.toml"]:
        return Place("round", ORGANIZER, number)
    if rest == ["results.toml"]:
        return Place("results", CLOSER, number)
    kind = {"challenges": "challenge", "submissions": "submission", "reveals": "reveal"}[rest[0]]
    return Place(kind, rest[1], number, team=rest[1], name=rest[2])


def entry_of(path: str, place: Place) -> str:
    """The signed file that vouches for ``path`` (itself for a signed file)."""
    folder = path.rsplit("/", 1)[0]
    if place.kind == "challenge":
        return f"{folder}/challenge.toml"
    if place.kind in ("submission", "reveal"):
        return f"{folder}/{place.name.rsplit('.', 1)[0]}.toml"
    return path


@dataclass
class Report:
    base: str
    head: str
    merge_base: str | None
    now: str
    commits: int = 0
    entries: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": not self.problems, "base": self.base, "head": self.head,
                "merge_base": self.merge_base, "now": self.now, "commits": self.commits,
                "entries": self.entries, "problems": self.problems}


def _rev(repo: git.Repo, rev: str) -> str:
    try:
        return repo.git.rev_parse("--verify", "-q", f"{rev}^{{commit}}")
    except git.GitCommandError:
        raise LedgerError(f"cannot resolve {rev!r} to a commit (fetch it first, e.g. "
                          "actions/checkout with fetch-depth: 0)") from None


def _changes(repo: git.Repo, *args: str) -> list[tuple[str, str]]:
    """(status letter, path) pairs of a diff, renames split into delete + add."""
    out = repo.git.execute(["git", "diff-tree", "-r", "-z", "--no-renames", "--name-status",
                            *args])
    fields = [f for f in str(out).split("\0") if f]
    if fields and re.fullmatch(r"[0-9a-f]{40,64}", fields[0]):
        fields = fields[1:]  # diff-tree of one commit prints its id first
    return [(fields[i][0], fields[i + 1]) for i in range(0, len(fields) - 1, 2)]


def validate(root: Path, base: str, now: datetime | None = None) -> Report:
    """Validate the commits of HEAD that ``base`` does not have; return every problem found."""
    root = find_root(root)
    try:
        repo = git.Repo(root)  # a pull request checkout is often a detached HEAD: no Ledger here
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise LedgerError(f"{root} is not a git repository") from None
    now = now or clock.now()
    base_commit, head = _rev(repo, base), _rev(repo, "HEAD")
    try:
        merge_base: str | None = repo.git.merge_base(base_commit, head)
    except git.GitCommandError:
        merge_base = None
    report = Report(base=base_commit, head=head, merge_base=merge_base, now=clock.iso(now))
    if merge_base is None:
        report.problem(f"HEAD shares no history with {base}; branch off the tournament's "
                       "main branch")
        return report
    try:
        trusted = st.load(Snapshot(repo, base_commit))
    except DixitError as exc:
        raise LedgerError(f"the base {base} itself does not load: {exc}") from None
    old, new = Snapshot(repo, merge_base), Snapshot(repo, head)
    changes = _changes(repo, merge_base, head)
    net = {path for _s, path in changes}
    commits = [c for c in repo.git.rev_list("--reverse", f"{merge_base}..{head}").split() if c]
    report.commits = len(commits)
    for commit in commits:
        if len(repo.commit(commit).parents) > 1:
            continue  # a merge brings in base commits; the net change covers what it adds
        for status, path in _changes(repo, "--no-commit-id", commit):
            if path in net:
                continue  # judged once below, on the net change
            if classify(path) is None:
                report.problem(f"{path}: not a ledger entry path (commit {commit[:10]}); a pull "
                               "request may only add entries under rounds/ and teams/")
            elif status == "D" and old.exists(path):
                report.problem(f"{path}: deletes a sealed ledger file (commit {commit[:10]})")

    places: dict[str, Place] = {}
    for status, path in changes:
        place = classify(path)
        if place is None:
            report.problem(f"{path}: not a ledger entry path; a pull request may only add "
                           "entries under rounds/ and teams/")
            continue
        places[path] = place
        report.entries.append({"path": path, "status": {"A": "added", "M": "modified",
                                                        "D": "deleted"}.get(status, status),
                               "kind": place.kind, "signer": place.signer})
        if status == "D":
            report.problem(f"{path}: deletes a sealed ledger file")
        elif status != "A" and place.kind != "submission":
            # Only a submission may be replaced (a resubmission before submit-by).
            report.problem(f"{path}: changes an entry already in the ledger; entries are "
                           "immutable once committed")
    signers = sorted({p.signer for p in places.values()})
    if len(signers) > 1:
        report.problem(f"the pull request mixes entries of {', '.join(signers)}; open one "
                       "pull request per team")
    changed = {path for _s, path in changes}
    failed: set[str] = set()
    # Signed entries first; a companion file of an entry already refused adds no more noise.
    for path, place in sorted(places.items(), key=lambda kv: (entry_of(*kv) != kv[0], kv[0])):
        if not new.exists(path) or entry_of(path, place) in failed:
            continue
        try:
            _check_entry(trusted, new, changed, path, place, now)
        except DixitError as exc:
            failed.add(path)
            report.problem(str(exc))
    if not report.problems:
        try:
            st.load(new)  # the whole resulting ledger must still load and verify
        except DixitError as exc:
            report.problem(str(exc))
    return report


def _signed(snap: Snapshot, path: str, key: str) -> dict[str, Any]:
    data = snap.read(path)
    assert data is not None
    try:
        return entries.verify(data, path, key)
    except DixitError as exc:
        raise EntryError(f"{exc} (a forged entry, or signed with another team's key)") from None


def _team_key(state: st.State, team: str, path: str) -> str:
    if team not in state.teams:
        raise EntryError(f"{path}: team '{team}' is not registered in this tournament")
    try:
        return state.team_key(team)  # the key registered now; a removed team has none
    except EntryError as exc:
        raise EntryError(f"{path}: {exc}") from None


def _round(state: st.State, number: int, path: str) -> st.Round:
    rnd = state.rounds.get(number)
    if rnd is None:
        raise EntryError(f"{path}: round {number} is not open")
    if rnd.closed:
        raise PhaseError(f"{path}: round {number} is closed")
    return rnd


def _too_late(path: str, what: str, rnd: st.Round, until: datetime, now: datetime) -> None:
    if now >= until:
        raise PhaseError(f"{path}: too late: {what} in round {rnd.number} closed at "
                         f"{clock.iso(until)} (now {clock.iso(now)})")


def _companion(snap: Snapshot, changed: set[str], path: str, entry: str, sealed: Any,
               what: str) -> None:
    """An unsigned file must arrive with its signed entry and match the hash sealed in it."""
    if entry not in changed:
        raise EntryError(f"{path}: changes the {what} of an entry already in the ledger")
    data = snap.read(path)
    if data is None or seal.sha256_hex(data) != sealed:
        raise EntryError(f"{path}: does not match the hash sealed in {entry}")


def _check_team_entry(trusted: st.State, payload: dict[str, Any], path: str,
                      place: Place) -> None:
    """A registration, key rotation or removal, judged against the base's registry."""
    team = place.team
    assert team is not None
    if place.name == f"{team}.toml":
        if payload.get("team", {}).get("name") != team:
            raise EntryError(f"{path}: registers another team than its file name says")
        return
    _team_key(trusted, team, path)  # registered and not removed
    if place.name == "removed.toml":
        if payload.get("removal", {}).get("team") != team:
            raise EntryError(f"{path}: removes another team than its folder says")
        return
    r = payload.get("rotation", {})
    number = len(trusted.teams[team].history)
    if (r.get("team"), r.get("number")) != (team, number) or \
            place.name != f"key-{number:03d}.toml":
        raise EntryError(f"{path}: the next key rotation of '{team}' is number {number}")
    if r.get("previous") != trusted.teams[team].key:
        raise EntryError(f"{path}: rotation does not replace the key registered now")


def _check_entry(trusted: st.State, snap: Snapshot, changed: set[str], path: str, place: Place,
                 now: datetime) -> None:
    """Check one added or changed file; raise DixitError naming the first problem."""
    info, n = trusted.info, place.round
    if place.kind == "team":
        payload = _signed(snap, path, info.organizer_key)
        _check_team_entry(trusted, payload, path, place)
        return
    if place.kind == "results":
        raise EntryError(f"{path}: results are written by the closer (close-round workflow), "
                         "not by pull requests")
    if place.kind == "round":
        payload = _signed(snap, path, info.organizer_key)
        cur = trusted.current
        if cur is not None and not cur.closed:
            raise PhaseError(f"{path}: round {cur.number} is still open")
        if n != (cur.number + 1 if cur else 1) or payload.get("round", {}).get("number") != n:
            raise EntryError(f"{path}: rounds are opened in order; the next is "
                             f"{(cur.number + 1) if cur else 1}")
        return
    assert n is not None and place.team is not None
    team, base = place.team, st.round_dir(n)
    key = _team_key(trusted, team, path)
    rnd = _round(trusted, n, path)
    if place.kind == "challenge":
        entry = f"{base}/challenges/{team}/challenge.toml"
        if entry not in changed or not snap.exists(entry):
            raise EntryError(f"{path}: adds to a challenge already in the ledger")
        payload = _signed(snap, entry, key)
        _too_late(path, "proposing", rnd, rnd.propose_by, now)
        if team in rnd.challenges:
            raise EntryError(f"{path}: '{team}' already proposed in round {n}")
        meta, sealed = payload.get("challenge", {}), payload.get("seal", {})
        if path == entry:
            if meta.get("team") != team or meta.get("round") != n:
                raise EntryError(f"{path}: entry names another team or round than its place")
            model = f"{base}/challenges/{team}/{meta.get('model', 'model.safetensors')}"
            if not snap.exists(model):
                raise EntryError(f"{path}: its model {model} is missing")
            if info.escrow and not snap.exists(st.escrow_path(n, team, st.LABELER)):
                raise EntryError(f"{path}: its labeler.escrow is missing (this tournament "
                                 "escrows every secret to the closer)")
        elif place.name == "model.safetensors":
            size = len(snap.read(path) or b"")
            if size > trusted.rules.max_model_bytes:
                raise EntryError(f"{path}: {size:,} bytes, over the rulebook's limit of "
                                 f"{trusted.rules.max_model_bytes:,}")
            _companion(snap, changed, path, entry, sealed.get("model_sha256"), "model")
        else:
            _companion(snap, changed, path, entry, sealed.get("escrow_sha256"), "escrow")
        return
    if place.kind == "submission":
        target = place.name.rsplit(".", 1)[0]
        entry = f"{base}/submissions/{team}/{target}.toml"
        if not snap.exists(entry):
            raise EntryError(f"{path}: has no signed submission {entry}")
        payload = _signed(snap, entry, key)  # who signed comes first: a forgery is a forgery
        _too_late(path, "submitting", rnd, rnd.submit_by, now)
        if target == team:
            raise EntryError(f"{path}: '{team}' cannot submit to its own challenge")
        if target not in rnd.challenges:
            raise EntryError(f"{path}: '{target}' has not proposed a challenge in round {n}")
        if path == entry:
            sub = payload.get("submission", {})
            if (sub.get("team"), sub.get("target"), sub.get("round")) != (team, target, n):
                raise EntryError(f"{path}: entry names another team, target or round than its "
                                 "place")
            if info.escrow and not snap.exists(st.escrow_path(n, team, target)):
                raise EntryError(f"{path}: its .escrow is missing (this tournament escrows "
                                 "every secret to the closer)")
        else:
            _companion(snap, changed, path, entry, payload.get("seal", {}).get("escrow_sha256"),
                       "escrow")
        return
    # A reveal by the team itself (tournaments without escrow), after submit-by.
    item = place.name.rsplit(".", 1)[0]
    entry = f"{base}/reveals/{team}/{item}.toml"
    if entry not in changed or not snap.exists(entry):
        raise EntryError(f"{path}: changes a reveal already in the ledger")
    payload = _signed(snap, entry, key)
    if now < rnd.submit_by:
        raise PhaseError(f"{path}: too early: reveals open after submit-by "
                         f"({clock.iso(rnd.submit_by)})")
    rv = payload.get("reveal", {})
    if rv.get("by") != "team" or (rv.get("owner"), rv.get("item"), rv.get("round")) != (
            team, item, n):
        raise EntryError(f"{path}: entry names another owner, item or round than its place")
    if path != entry:
        return
    if item == st.LABELER:
        if team not in rnd.challenges:
            raise EntryError(f"{path}: '{team}' has no challenge in round {n} to reveal")
        ch = rnd.challenges[team]
        seal_table = ch.seal
        context = protocol.labeler_context(info.id, n, team, ch.kind,
                                           str(ch.seal.get("domain_id", "")),
                                           str(ch.seal.get("model_sha256", "")))
    else:
        if (team, item) not in rnd.submissions or item not in rnd.challenges:
            raise EntryError(f"{path}: '{team}' has no submission for '{item}' in round {n}")
        seal_table = rnd.submissions[(team, item)].seal
        context = protocol.program_context(info.id, n, team, item,
                                           str(rnd.challenges[item].seal.get("commitment", "")))
    revealed = f"{base}/reveals/{team}/{rv.get('file', '')}"
    data = snap.read(revealed) if revealed in changed else None
    if data is None:
        raise EntryError(f"{path}: the revealed file {revealed} is not in the pull request")
    protocol.check_reveal(seal_table, context, seal.unb64(str(rv.get("salt", "")), "salt"),
                          data, path)
