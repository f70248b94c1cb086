"""The tournament as plain records, read from one ledger snapshot with every signature checked.

Where each record lives is ``dixit.ledger.layout``; which entries the rules allow is
``dixit.league.checks``. Loading checks signatures and that each entry names its own place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dixit.errors import EntryError, NotATournamentError
from dixit.ledger import clock, entries, layout
from dixit.ledger.entries import field as get
from dixit.ledger.store import Snapshot
from dixit.rules import rulebook


@dataclass(frozen=True)
class Info:
    id: str
    name: str
    organizer_key: str
    closer_key: str
    closer_escrow_key: str
    escrow: bool
    created: str


@dataclass(frozen=True)
class Team:
    name: str
    history: tuple[str, ...]  # every key in order: registration, then each rotation
    added: str
    removed: str | None = None  # when the organizer removed the team, if it did

    @property
    def key(self) -> str:
        """The key registered now (after every rotation)."""
        return self.history[-1]


@dataclass(frozen=True)
class Challenge:
    team: str
    round: int
    folder: str
    meta: dict[str, Any]      # [challenge]
    model: dict[str, Any]     # [model] architecture config
    seal: dict[str, Any]      # [seal]

    @property
    def kind(self) -> str:
        return str(self.meta.get("kind", "labeler"))

    @property
    def domain(self) -> str:
        return str(self.meta["domain"])


@dataclass(frozen=True)
class Submission:
    team: str
    target: str
    round: int
    path: str
    seal: dict[str, Any]
    submitted: str
    # [explanation]: the seal of the explanation sealed with the program, if any (entries
    # written before explanations existed have none)
    explanation: dict[str, Any] | None = None


@dataclass(frozen=True)
class Reveal:
    owner: str
    item: str                 # layout.SECRET_ITEM, HELDOUT_ITEM, a program's target team or
    #                           an explanation's item (layout.explanation_item)
    path: str                 # the revealed file
    salt: str
    by: str


@dataclass(frozen=True)
class HintRelease:
    """The closer's release of a timed hint: its exact bytes (``path``) with the seal's salt,
    or why it could not be released (``error``; then no path and no salt)."""

    team: str
    index: int                # 1-based, in the challenge's timed_hints
    at: str                   # when it was due (from the challenge's seal)
    released: str             # the closer's clock when it released it
    path: str | None
    salt: str | None
    error: str | None = None


@dataclass
class Round:
    number: int
    propose_by: datetime
    submit_by: datetime
    opened: str
    challenges: dict[str, Challenge] = field(default_factory=dict)
    submissions: dict[tuple[str, str], Submission] = field(default_factory=dict)
    reveals: dict[tuple[str, str], Reveal] = field(default_factory=dict)
    results: dict[str, Any] | None = None
    # Who may propose, fixed when the round opened (``dixit.rules.turns``); None: every team
    storytellers: tuple[str, ...] | None = None
    per_round: int | None = None
    hints: dict[tuple[str, int], HintRelease] = field(default_factory=dict)  # released

    @property
    def closed(self) -> bool:
        return self.results is not None

    def phase(self, when: datetime) -> str:
        if self.closed:
            return "closed"
        if when < self.propose_by:
            return "proposing"
        if when < self.submit_by:
            return "solving"
        return "revealing"


@dataclass
class State:
    snapshot: Snapshot
    info: Info
    teams: dict[str, Team]
    rounds: dict[int, Round]
    rules: rulebook.Rulebook

    @property
    def current(self) -> Round | None:
        return self.rounds[max(self.rounds)] if self.rounds else None

    def round(self, number: int | None) -> Round:
        if number is None:
            if self.current is None:
                raise EntryError("no round is open yet; the organizer runs `dixit round open`")
            return self.current
        if number not in self.rounds:
            raise EntryError(f"round {number} does not exist (rounds: "
                             f"{', '.join(map(str, sorted(self.rounds))) or 'none'})")
        return self.rounds[number]

    def team_key(self, team: str) -> str:
        """The key a team signs with now; refuses unknown and removed teams."""
        if team not in self.teams:
            raise EntryError(f"unknown team '{team}' (registered: "
                             f"{', '.join(sorted(self.teams)) or 'none'}); "
                             "the organizer adds teams with `dixit team add NAME`")
        t = self.teams[team]
        if t.removed is not None:
            raise EntryError(f"team '{team}' was removed from the tournament ({t.removed}); "
                             "it can no longer act")
        return t.key

    def scored_round(self, number: int | None) -> Round:
        """The round as a close scores it: without the entries of removed teams."""
        return set_aside(self.round(number), self.removed)

    @property
    def removed(self) -> set[str]:
        return {n for n, t in self.teams.items() if t.removed is not None}

    def roster(self) -> list[str]:
        """The teams that play a round closed now: registered and not removed."""
        return sorted(n for n, t in self.teams.items() if t.removed is None)

    def verify_team_entry(self, data: bytes, path: str, team: str) -> dict[str, Any]:
        """Check a team-signed entry against the team's keys. A snapshot cannot tell when an
        entry was written, so any key the team has held is accepted here; ``dixit verify``
        checks each entry against the key registered when its commit landed."""
        if team not in self.teams:
            self.team_key(team)  # raises the unknown-team error
        keys = self.teams[team].history
        for key in reversed(keys[1:]):
            try:
                return entries.verify(data, path, key)
            except EntryError:
                continue
        return entries.verify(data, path, keys[0])


def set_aside(rnd: Round, removed: set[str]) -> Round:
    """``rnd`` without the entries of removed teams: a round closed after a team's removal is
    scored as if it had never played it (its challenge, and programs by or for it)."""
    if not removed & ({*rnd.challenges} | {t for t, _ in rnd.submissions}):
        return rnd
    return Round(rnd.number, rnd.propose_by, rnd.submit_by, rnd.opened,
                 {t: c for t, c in rnd.challenges.items() if t not in removed},
                 {k: s for k, s in rnd.submissions.items()
                  if k[0] not in removed and k[1] not in removed},
                 {k: r for k, r in rnd.reveals.items()
                  if k[0] not in removed and k[1] not in removed},
                 rnd.results, rnd.storytellers, rnd.per_round,
                 {k: h for k, h in rnd.hints.items() if k[0] not in removed})


def _read(snap: Snapshot, path: str) -> bytes:
    data = snap.read(path)
    if data is None:
        raise EntryError(f"{path}: missing from the ledger")
    return data


def describe_mode(mode: str) -> str:
    return {"120000": "a symbolic link", "160000": "a gitlink (submodule)",
            "100755": "an executable file", "040000": "a folder"}.get(mode, f"git mode {mode}")


def read_info(snap: Snapshot) -> Info:
    path = layout.TOURNAMENT
    data = snap.read(path)
    if data is None:
        raise NotATournamentError("this repository has no committed tournament.toml")
    payload, _ = entries.parse(data, path)
    t = payload.get("tournament", {})
    org = get(payload.get("organizer", {}), "key", str, path)
    entries.verify(data, path, org)  # self-signed: binds the identity to its organizer
    closer = payload.get("closer", {})
    return Info(id=get(t, "id", str, path), name=get(t, "name", str, path), organizer_key=org,
                closer_key=get(closer, "key", str, path),
                closer_escrow_key=get(closer, "escrow_key", str, path),
                escrow=bool(t.get("escrow", True)), created=str(t.get("created", "")))


def load(snap: Snapshot) -> State:
    """Read and verify the whole current state; raises EntryError naming the bad path."""
    # Only the ledger's own folders: the engine's repository (scripts, .ci) may hold others.
    irregular = sorted(p for p in snap.irregular
                       if p == layout.TOURNAMENT or p.startswith(layout.LEDGER_FOLDERS))
    if irregular:
        path = irregular[0]
        raise EntryError(f"{path}: {describe_mode(snap.irregular[path])}, not a regular file; "
                         "a ledger holds only plain files")
    info = read_info(snap)
    rules_bytes = snap.read(layout.RULES)
    rules = rulebook.parse_text(rules_bytes.decode("utf-8", "replace"), layout.RULES) \
        if rules_bytes is not None else rulebook.Rulebook()
    teams: dict[str, Team] = {}
    for name in snap.children("teams"):
        if not name.endswith(".toml"):
            continue
        path = f"teams/{name}"
        payload = entries.verify(_read(snap, path), path, info.organizer_key)
        t = payload.get("team", {})
        team = entries.check_name(get(t, "name", str, path))
        if f"{team}.toml" != name:
            raise EntryError(f"{path}: registers '{team}' under another team's file name")
        teams[team] = _key_history(snap, info, team, get(t, "key", str, path),
                                   str(t.get("added", "")))
    state = State(snapshot=snap, info=info, teams=teams, rounds={}, rules=rules)
    for folder in snap.children("rounds"):
        if not folder.isdigit():
            continue
        state.rounds[int(folder)] = _load_round(state, int(folder))
    return state


def _key_history(snap: Snapshot, info: Info, name: str, key: str, added: str) -> Team:
    """A registered team with its rotations (each naming the key it replaces) and removal."""
    keys = [key]
    while (data := snap.read(path := layout.rotation_path(name, len(keys)))) is not None:
        r = entries.verify(data, path, info.organizer_key).get("rotation", {})
        if (get(r, "team", str, path), get(r, "number", int, path)) != (name, len(keys)):
            raise EntryError(f"{path}: rotation names another team or number than its place")
        if get(r, "previous", str, path) != keys[-1]:
            raise EntryError(f"{path}: rotation does not replace the key registered before it")
        keys.append(get(r, "key", str, path))
    removed = None
    if (data := snap.read(path := layout.removal_path(name))) is not None:
        r = entries.verify(data, path, info.organizer_key).get("removal", {})
        if get(r, "team", str, path) != name:
            raise EntryError(f"{path}: removal names another team than its place")
        removed = get(r, "at", str, path)
    return Team(name, tuple(keys), added, removed)


def _hint_release(state: State, number: int, team: str, name: str) -> HintRelease:
    path = f"{layout.hints_dir(number, team)}/{name}"
    h = entries.verify(_read(state.snapshot, path), path, state.info.closer_key).get("hint", {})
    index = get(h, "index", int, path)
    if (get(h, "team", str, path), get(h, "round", int, path), f"hint-{index}.toml") != (
            team, number, name) or get(h, "by", str, path) != "closer":
        raise EntryError(f"{path}: entry names another team, round or hint than its place")
    error = h.get("error")
    if error is not None:
        return HintRelease(team, index, get(h, "at", str, path),
                           get(h, "released", str, path), None, None, str(error))
    if get(h, "file", str, path) != f"hint-{index}.txt":
        raise EntryError(f"{path}: the released text must be hint-{index}.txt")
    return HintRelease(team, index, get(h, "at", str, path), get(h, "released", str, path),
                       layout.hint_text(number, team, index), get(h, "salt", str, path))


def _turns(rnd: Round, r: dict[str, Any], path: str) -> None:
    """A rotating round's storytellers, as its round entry records them."""
    tellers = r.get("storytellers")
    if get(r, "proposers", str, path) != "rotate" or not isinstance(tellers, list) \
            or not tellers or not all(isinstance(t, str) for t in tellers):
        raise EntryError(f"{path}: a round with turns says proposers = \"rotate\" and names "
                         "its storytellers (a list of teams)")
    for team in tellers:
        entries.check_name(team, "storyteller (team name)")
    rnd.storytellers = tuple(tellers)
    rnd.per_round = get(r, "per_round", int, path)


def _load_round(state: State, number: int) -> Round:
    snap = state.snapshot
    base = layout.round_dir(number)
    path = f"{base}/round.toml"
    payload = entries.verify(_read(snap, path), path, state.info.organizer_key)
    r = payload.get("round", {})
    if get(r, "number", int, path) != number:
        raise EntryError(f"{path}: says round {r.get('number')} but sits in {base}")
    rnd = Round(number=number, propose_by=clock.parse_iso(get(r, "propose_by", str, path)),
                submit_by=clock.parse_iso(get(r, "submit_by", str, path)),
                opened=str(r.get("opened", "")))
    if "storytellers" in r or "proposers" in r:
        _turns(rnd, r, path)
    for team in snap.children(f"{base}/challenges"):
        path = f"{base}/challenges/{team}/challenge.toml"
        payload = state.verify_team_entry(_read(snap, path), path, team)
        meta = payload.get("challenge", {})
        if get(meta, "team", str, path) != team or get(meta, "round", int, path) != number:
            raise EntryError(f"{path}: entry names another team or round than its place")
        rnd.challenges[team] = Challenge(team=team, round=number,
                                         folder=f"{base}/challenges/{team}", meta=meta,
                                         model=payload.get("model", {}),
                                         seal=payload.get("seal", {}))
    for team in snap.children(f"{base}/submissions"):
        for name in snap.children(f"{base}/submissions/{team}"):
            if not name.endswith(".toml"):
                continue
            path = f"{base}/submissions/{team}/{name}"
            payload = state.verify_team_entry(_read(snap, path), path, team)
            sub = payload.get("submission", {})
            target = name.removesuffix(".toml")
            if (get(sub, "team", str, path), get(sub, "target", str, path),
                    get(sub, "round", int, path)) != (team, target, number):
                raise EntryError(f"{path}: entry names another team, target or round "
                                 "than its place")
            explained = payload.get("explanation")
            if explained is not None and not isinstance(explained, dict):
                raise EntryError(f"{path}: [explanation] must be a table (an explanation's "
                                 "seal)")
            rnd.submissions[(team, target)] = Submission(
                team=team, target=target, round=number, path=path,
                seal=payload.get("seal", {}), submitted=str(sub.get("submitted", "")),
                explanation=explained)
    for owner in snap.children(f"{base}/reveals"):
        for name in snap.children(f"{base}/reveals/{owner}"):
            if not name.endswith(".toml"):
                continue
            path = f"{base}/reveals/{owner}/{name}"
            payload, _sig = entries.parse(_read(snap, path), path)
            rv = payload.get("reveal", {})
            by = get(rv, "by", str, path)
            if by == "closer":
                entries.verify(_read(snap, path), path, state.info.closer_key)
            elif by == "team":
                state.verify_team_entry(_read(snap, path), path, owner)
            else:
                raise EntryError(f"{path}: a reveal is by \"team\" or \"closer\", not {by!r}")
            item = name.removesuffix(".toml")
            if (get(rv, "owner", str, path), get(rv, "item", str, path),
                    get(rv, "round", int, path)) != (owner, item, number):
                raise EntryError(f"{path}: entry names another owner, item or round than its "
                                 "place")
            file = get(rv, "file", str, path)
            explains = layout.explained_target(item)
            if explains is not None:
                sub_of = rnd.submissions.get((owner, explains))
                sealed = sub_of.explanation if sub_of is not None else None
                if sealed is None:
                    raise EntryError(f"{path}: reveals an explanation that no submission of "
                                     f"'{owner}' for '{explains}' seals")
                want = f"{item}.{sealed.get('format')}"
                if file != want:
                    raise EntryError(f"{path}: the revealed explanation must be {want}, not "
                                     f"{file!r}")
            elif item == layout.HELDOUT_ITEM:
                if file != layout.HELDOUT_FILE:
                    raise EntryError(f"{path}: the revealed held-out set must be "
                                     f"{layout.HELDOUT_FILE}, not {file!r}")
            elif file not in (f"{item}.py", f"{item}.txt"):
                raise EntryError(f"{path}: the revealed file must be {item}.py or {item}.txt, "
                                 f"not {file!r}")
            rnd.reveals[(owner, item)] = Reveal(
                owner=owner, item=item, path=f"{layout.reveal_dir(number, owner)}/{file}",
                salt=get(rv, "salt", str, path), by=by)
    for team in snap.children(f"{base}/hints"):
        for name in snap.children(f"{base}/hints/{team}"):
            if name.endswith(".toml"):
                release = _hint_release(state, number, team, name)
                rnd.hints[(team, release.index)] = release
    res_path = f"{base}/results.toml"
    if snap.exists(res_path):
        rnd.results = entries.verify(_read(snap, res_path), res_path, state.info.closer_key)
    return rnd
