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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import git

from dixit.errors import DixitError, EntryError, LedgerError
from dixit.league import checks
from dixit.ledger import clock, entries, layout, seal, state as st
from dixit.ledger.layout import Place, classify
from dixit.ledger.store import Snapshot, find_root
from dixit.rules import hints as hint_rules


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

    irregular = {path for _s, path in changes if path in new.irregular}
    for path in sorted(irregular):
        report.problem(f"{path}: {st.describe_mode(new.irregular[path])}, not a regular file; "
                       "a pull request may only add plain files (no links, submodules or "
                       "executables)")
    places: dict[str, Place] = {}
    changed_paths = {path for _s, path in changes}
    for status, path in changes:
        if path in irregular:
            continue
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
            if not _drops_explanation(new, changed_paths, path, place):
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
    for path, place in sorted(places.items(), key=lambda kv: (kv[1].entry(kv[0]) != kv[0], kv[0])):
        if not new.exists(path) or place.entry(path) in failed:
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


def _team_key(state: st.State, team: str) -> str:
    if team not in state.teams:
        raise EntryError(f"team '{team}' is not registered in this tournament")
    return state.team_key(team)  # the key registered now; a removed team has none


def _head(snap: Snapshot, path: str, limit: int) -> tuple[int, bytes] | None:
    """A blob's size and, when at most ``limit`` bytes, its content (``checks.domain_within``),
    read from git; None when ``path`` is not a regular file of ``snap``."""
    sha = snap.blob_id(path)
    if sha is None:
        return None
    size = int(snap.repo.git.cat_file("-s", sha))
    return size, (snap.read(path) or b"") if size <= limit else b""


def _companion(snap: Snapshot, changed: set[str], path: str, entry: str, sealed: Any,
               what: str) -> None:
    """An unsigned file must arrive with its signed entry and match the hash sealed in it."""
    if entry not in changed:
        raise EntryError(f"changes the {what} of an entry already in the ledger")
    data = snap.read(path)
    if data is None or seal.sha256_hex(data) != sealed:
        raise EntryError(f"does not match the hash sealed in {entry}")


@dataclass(frozen=True)
class _Entry:
    """One changed file to judge, with what it is judged against."""

    trusted: st.State         # the base's state: keys, rounds, phases
    snap: Snapshot            # the pull request's head
    changed: set[str]         # every path the pull request changes
    path: str
    place: Place
    now: datetime


def _team_entry(e: _Entry) -> None:
    """A registration, key rotation or removal, judged against the base's registry."""
    payload = _signed(e.snap, e.path, e.trusted.info.organizer_key)
    team, name = e.place.team, e.place.name
    assert team is not None
    if name == f"{team}.toml":
        if payload.get("team", {}).get("name") != team:
            raise EntryError("registers another team than its file name says")
        checks.registration(e.trusted, team)
        return
    _team_key(e.trusted, team)
    if name == "removed.toml":
        if payload.get("removal", {}).get("team") != team:
            raise EntryError("removes another team than its folder says")
        checks.removal(e.trusted, team)
        return
    r = payload.get("rotation", {})
    number = r.get("number")
    if r.get("team") != team or not isinstance(number, int) or \
            name != f"key-{number:03d}.toml":
        raise EntryError("rotation names another team or number than its place")
    checks.rotation(e.trusted, team, number, str(r.get("previous", "")), str(r.get("key", "")))


def _round_entry(e: _Entry) -> None:
    payload = _signed(e.snap, e.path, e.trusted.info.organizer_key)
    assert e.place.round is not None
    if payload.get("round", {}).get("number") != e.place.round:
        raise EntryError("says another round number than its folder")
    checks.next_round(e.trusted, e.place.round)
    checks.round_turns(e.trusted, e.place.round, payload.get("round", {}))


def _results_entry(e: _Entry) -> None:
    raise EntryError("results are written by the closer (close-round workflow), not by pull "
                     "requests")


def _hint_entry(e: _Entry) -> None:
    raise EntryError("timed hints are released by the closer (close-round workflow, `dixit "
                     "hints --due`), not by pull requests")


def _team_round_entry(e: _Entry) -> tuple[int, str, str, st.Round]:
    """Round, team, the team's key and the open round of a team's entry in a round."""
    n, team = e.place.round, e.place.team
    assert n is not None and team is not None
    key = _team_key(e.trusted, team)
    return n, team, key, checks.open_round(e.trusted, n)


def _challenge_entry(e: _Entry) -> None:
    n, team, key, rnd = _team_round_entry(e)
    entry = layout.challenge_entry(n, team)
    if entry not in e.changed or not e.snap.exists(entry):
        raise EntryError("adds to a challenge already in the ledger")
    payload = _signed(e.snap, entry, key)
    checks.proposal(e.trusted, rnd, team, e.now)
    meta, sealed = payload.get("challenge", {}), payload.get("seal", {})
    folder = layout.challenge_dir(n, team)
    if e.path == entry:
        checks.challenge_entry(payload)
        caps = e.trusted.rules.domains
        checks.domain_within(caps, str(meta.get("domain", "")),
                             lambda path: _head(e.trusted.snapshot, path, caps.max_dataset_bytes))
        model = f"{folder}/{meta.get('model', 'model.safetensors')}"
        if not e.snap.exists(model):
            raise EntryError(f"its model {model} is missing")
        if e.trusted.info.escrow and \
                not e.snap.exists(layout.escrow_path(n, team, layout.SECRET_ITEM)):
            raise EntryError("its labeler.escrow is missing (this tournament escrows every "
                             "secret to the closer)")
        if e.trusted.info.escrow and "heldout" in meta and \
                not e.snap.exists(layout.escrow_path(n, team, layout.HELDOUT_ITEM)):
            raise EntryError("its heldout.escrow is missing (this tournament escrows every "
                             "secret to the closer)")
        for i in range(1, len(meta.get("hint_images", [])) + 1):
            if not e.snap.exists(f"{folder}/{layout.hint_image_name(i)}"):
                raise EntryError(f"its hint image {layout.hint_image_name(i)} is missing")
        checks.hint_times(rnd, meta)  # before submit-by (its time may pass while in review)
        for i in range(1, len(meta.get("timed_hints", [])) + 1):
            if not e.snap.exists(layout.hint_escrow_path(n, team, i)):
                raise EntryError(f"its hint-{i}.escrow is missing (a timed hint is escrowed "
                                 "to the closer, who releases it)")
    elif e.place.name == "model.safetensors":
        checks.model_size(len(e.snap.read(e.path) or b""), e.trusted.rules.max_model_bytes)
        _companion(e.snap, e.changed, e.path, entry, sealed.get("model_sha256"), "model")
    elif (m := layout.HINT_IMAGE.match(e.place.name)) is not None:
        if entry not in e.changed:
            raise EntryError("changes the hint image of an entry already in the ledger")
        checks.hint_image(meta, int(m.group(1)), e.snap.read(e.path) or b"")
    elif (m := layout.HINT_ESCROW.match(e.place.name)) is not None:
        timed = checks.timed_hints(meta)
        index = int(m.group(1))
        if index > len(timed):
            raise EntryError(f"its challenge entry has no timed hint {index}")
        if len(e.snap.read(e.path) or b"") > hint_rules.MAX_HINT_ESCROW_BYTES:
            raise EntryError(f"is larger than a timed hint's escrow can be "
                             f"({hint_rules.MAX_HINT_ESCROW_BYTES:,} bytes)")
        _companion(e.snap, e.changed, e.path, entry, timed[index - 1]["escrow_sha256"],
                   "timed hint escrow")
    elif e.place.name == "heldout.escrow":
        if entry not in e.changed:
            raise EntryError("changes the held-out escrow of an entry already in the ledger")
        held = meta.get("heldout")
        if not isinstance(held, dict):
            raise EntryError("its challenge entry seals no held-out set")
        _companion(e.snap, e.changed, e.path, entry, held.get("escrow_sha256"),
                   "held-out escrow")
    else:
        _companion(e.snap, e.changed, e.path, entry, sealed.get("escrow_sha256"), "escrow")


def _drops_explanation(snap: Snapshot, changed: set[str], path: str, place: Place) -> bool:
    """A resubmission without an explanation deletes the earlier one's escrow: allowed when its
    entry is rewritten in the same pull request and seals none (the entry is judged itself)."""
    entry = place.entry(path)
    if place.kind != "submission" or not path.endswith(f".{layout.EXPLANATION}.escrow") \
            or entry not in changed or not snap.exists(entry):
        return False
    try:
        payload, _sig = entries.parse(snap.read(entry) or b"", entry)
    except DixitError:
        return False  # refused with the entry
    return "explanation" not in payload


def _submission_entry(e: _Entry) -> None:
    n, team, key, rnd = _team_round_entry(e)
    target = e.place.name.split(".", 1)[0]
    entry = layout.submission_entry(n, team, target)
    if not e.snap.exists(entry):
        raise EntryError(f"has no signed submission {entry}")
    payload = _signed(e.snap, entry, key)  # who signed comes first: a forgery is a forgery
    checks.submission(e.trusted, rnd, team, target, e.now)
    sealed = checks.submission_entry(payload)
    if e.path == entry:
        checks.replacement(e.trusted.snapshot.read(entry), payload.get("submission", {}))
        checks.explanation_required(e.trusted.rules, sealed)
        if e.trusted.info.escrow and not e.snap.exists(layout.escrow_path(n, team, target)):
            raise EntryError("its .escrow is missing (this tournament escrows every secret to "
                             "the closer)")
        if e.trusted.info.escrow and sealed is not None and \
                not e.snap.exists(layout.explanation_escrow(n, team, target)):
            raise EntryError(f"its {target}.{layout.EXPLANATION}.escrow is missing (this "
                             "tournament escrows every secret to the closer)")
    elif e.path == layout.explanation_escrow(n, team, target):
        if entry not in e.changed:
            raise EntryError("changes the explanation escrow of an entry already in the "
                             "ledger")
        if sealed is None:
            raise EntryError("its submission entry seals no explanation")
        _companion(e.snap, e.changed, e.path, entry, sealed.get("escrow_sha256"),
                   "explanation escrow")
        checks.explanation_escrow(sealed, e.snap.read(e.path) or b"")
    else:
        _companion(e.snap, e.changed, e.path, entry,
                   payload.get("seal", {}).get("escrow_sha256"), "escrow")


def _reveal_entry(e: _Entry) -> None:
    """A reveal by the team itself (tournaments without escrow), after submit-by."""
    n, team, key, rnd = _team_round_entry(e)
    item = e.place.name.rsplit(".", 1)[0]
    entry = layout.reveal_entry(n, team, item)
    if entry not in e.changed or not e.snap.exists(entry):
        raise EntryError("changes a reveal already in the ledger")
    payload = _signed(e.snap, entry, key)
    checks.team_reveal(rnd, e.now)
    rv = payload.get("reveal", {})
    checks.team_reveal_entry(rv)
    if e.path != entry:
        return
    if not checks.has_sealed(rnd, team, item):
        raise EntryError(f"'{team}' sealed no {item} in round {n} to reveal")
    revealed = f"{layout.reveal_dir(n, team)}/{rv.get('file', '')}"
    data = e.snap.read(revealed) if revealed in e.changed else None
    if data is None:
        raise EntryError(f"the revealed file {revealed} is not in the pull request")
    checks.reveal_matches(e.trusted.info, rnd, team, item,
                          seal.unb64(str(rv.get("salt", "")), "salt"), data, e.path)


_CHECKS: dict[str, Callable[[_Entry], None]] = {
    "team": _team_entry, "round": _round_entry, "results": _results_entry,
    "challenge": _challenge_entry, "submission": _submission_entry, "reveal": _reveal_entry,
    "hint": _hint_entry}


def _check_entry(trusted: st.State, snap: Snapshot, changed: set[str], path: str, place: Place,
                 now: datetime) -> None:
    """Check one added or changed file; raise DixitError naming its path and first problem."""
    try:
        _CHECKS[place.kind](_Entry(trusted, snap, changed, path, place, now))
    except DixitError as exc:
        text = str(exc)
        raise type(exc)(text if text.startswith(f"{path}:") else f"{path}: {text}") from None
