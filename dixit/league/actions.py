"""The library API behind every writing command: each action is one signed ledger commit.

Every action validates against the snapshot it is given (phase, ownership, registration) and
raises a DixitError to refuse, in which case nothing is written. Secrets a team needs to reveal
later (salts and sealed bytes) are kept in its key store, never in the ledger.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dixit import challenge as local, models
from dixit.challenge.explanation import read_explanation
from dixit.errors import ChallengeError, KeyStoreError, PhaseError, RetryableError, UsageError
from dixit.league import checks, workflows
from dixit.ledger import clock, entries, keystore, layout, protocol, seal, state as st
from dixit.ledger.store import Change, Ledger, Snapshot, find_root, init_repo
from dixit.rules import kinds, points as rules_points, scheme as schemes
from dixit.rules.rulebook import DEFAULT_RULES_TOML

Warn = Callable[[str], None]


def _noop(_: str) -> None:
    pass


def open_ledger(path: Path | None) -> Ledger:
    return Ledger(find_root(path or Path.cwd()))


def load_state(ledger: Ledger) -> st.State:
    return st.load(ledger.snapshot())


# -- init and teams --------------------------------------------------------------------------


def init(root: Path, name: str, *, escrow: bool = True, bare: Path | None = None) -> st.Info:
    """Create a tournament repository at ``root`` (and optionally its shared bare remote)."""
    if not name.strip() or len(name) > 200 or any(ord(c) < 32 for c in name):
        raise UsageError("--name must be 1-200 printable characters")
    if (root / "tournament.toml").exists() or (root.exists() and any(root.iterdir())):
        raise UsageError(f"{root} exists and is not empty; choose a new folder")
    if bare is not None and bare.exists():
        raise UsageError(f"{bare} already exists; choose a new path for the shared ledger")
    tid = uuid.uuid4().hex[:16]
    organizer, closer = keystore.generate("organizer"), keystore.generate("closer")
    info = {"tournament": {"id": tid, "name": name, "created": clock.iso(clock.now()),
                           "escrow": escrow, "format": 1},
            "organizer": {"key": organizer.public},
            "closer": {"key": closer.public, "escrow_key": closer.escrow_public}}
    files: dict[str, bytes | None] = {
        layout.TOURNAMENT: entries.signed(info, organizer.signing),
        layout.RULES: DEFAULT_RULES_TOML.encode(),
        "teams/README.md": b"One file per team, <name>.toml, signed by the organizer.\n",
        "rounds/README.md": b"One folder per round (001, 002, ...); see `dixit status`.\n",
        "scoring/data/README.md": b"Shared evaluation data (safetensors) for dataset: domains.\n",
        ".gitignore": b"__pycache__/\n*.pyc\n",
    }
    files.update(workflows.workflow_files())
    created = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    try:
        ledger = init_repo(root)
        with ledger.lock():
            new = ledger._commit(None, Change(files, f"init: tournament {name}", "organizer"))
            ledger._move(None, new)
        if bare is not None:
            attach_bare_remote(ledger, bare)
        keystore.save(tid, organizer)
        keystore.save(tid, closer)
    except BaseException:
        # Leave nothing behind: a half-made tournament is worse than none.
        shutil.rmtree(root / ".git", ignore_errors=True)
        for p in files:
            (root / p).unlink(missing_ok=True)
        if created:
            shutil.rmtree(root, ignore_errors=True)
        raise
    return st.read_info(ledger.snapshot())


def attach_bare_remote(ledger: Ledger, bare: Path) -> None:
    import git

    git.Repo.init(bare, bare=True, initial_branch="main")
    ledger.repo.create_remote("origin", str(bare.resolve()))
    ledger.repo.git.push("-q", "-u", "origin", "main")


def team_add(ledger: Ledger, name: str,
             public_key: str | None = None) -> tuple[st.Team, Path | None]:
    """Register a team, generating its key pair unless its public key is given."""
    entries.check_name(name)
    snap0 = ledger.snapshot()
    info = st.read_info(snap0)
    organizer = keystore.load(info.id, "organizer")
    ident = None
    if public_key is None:
        if keystore.path_for(info.id, keystore.team_identity(name)).exists():
            raise KeyStoreError(f"a key for team '{name}' already exists in the key store")
        ident = keystore.generate(keystore.team_identity(name))
        public_key = ident.public
    else:
        seal.load_public_key(public_key)
    added = clock.iso(clock.now())

    def build(snap: Snapshot) -> Change:
        checks.registration(st.load(snap), name)
        doc = {"team": {"name": name, "key": public_key, "added": added}}
        return Change({f"teams/{name}.toml": entries.signed(doc, organizer.signing)},
                      f"team: register {name}", "organizer")

    # The key is saved before the entry can be published (a registered team must never lack
    # its key) and removed again when the add is refused or fails: nothing is left either way.
    path = keystore.save(info.id, ident) if ident else None
    try:
        ledger.append(build)
    except BaseException:
        if path is not None:
            path.unlink(missing_ok=True)
        raise
    return st.Team(name, (public_key,), added), path


def team_rotate(ledger: Ledger, name: str, public_key: str | None = None,
                reason: str = "") -> tuple[st.Team, Path | None]:
    """Replace a team's key (organizer only). Entries signed before stay valid under the old
    key; from this commit on only the new key signs for the team. Without ``public_key`` a new
    key pair is generated into this machine's key store and the old key file is retired."""
    entries.check_name(name)
    _check_reason(reason)
    info = st.read_info(ledger.snapshot())
    organizer = keystore.load(info.id, "organizer")
    ident = None
    if public_key is None:
        ident = keystore.generate(keystore.team_identity(name))
        public_key = ident.public
    else:
        seal.load_public_key(public_key)
    holder: dict[str, int] = {}

    def build(snap: Snapshot) -> Change:
        state = st.load(snap)
        previous = state.team_key(name)
        number = len(state.teams[name].history)
        checks.rotation(state, name, number, previous, public_key)
        doc = {"rotation": {"team": name, "number": number, "key": public_key,
                            "previous": previous, "at": clock.iso(clock.now()),
                            "reason": reason}}
        holder["n"] = number
        return Change({layout.rotation_path(name, number): entries.signed(doc, organizer.signing)},
                      f"team: rotate {name}'s key ({number})", "organizer")

    # The new key is kept as the team's pending next key before the rotation can be published
    # (``team_identity`` promotes it if this process dies after the push) and dropped if the
    # rotation is refused or fails.
    pending = None
    if ident is not None:
        pending = keystore.save(info.id, keystore.Identity(keystore.next_identity(ident.name),
                                                           ident.seed))
    try:
        ledger.append(build)
    except BaseException:
        if pending is not None:
            pending.unlink(missing_ok=True)
        raise
    path = None
    if ident is not None and pending is not None:
        path = keystore.replace(info.id, ident, f"retired-{holder['n']:03d}")
        pending.unlink(missing_ok=True)
    team = st.load(ledger.snapshot()).teams[name]
    return team, path


def team_remove(ledger: Ledger, name: str, reason: str = "") -> st.Team:
    """Remove a team (organizer only): it can write nothing more, and rounds closed from now on
    are scored without it. Its entries so far stay in the ledger and verify as before."""
    entries.check_name(name)
    _check_reason(reason)
    info = st.read_info(ledger.snapshot())
    organizer = keystore.load(info.id, "organizer")

    def build(snap: Snapshot) -> Change:
        checks.removal(st.load(snap), name)
        doc = {"removal": {"team": name, "at": clock.iso(clock.now()), "reason": reason}}
        return Change({layout.removal_path(name): entries.signed(doc, organizer.signing)},
                      f"team: remove {name}", "organizer")

    ledger.append(build)
    return st.load(ledger.snapshot()).teams[name]


def _check_reason(reason: str) -> None:
    if len(reason) > 500 or reason != entries.safe_text(reason, 500):
        raise UsageError("--reason must be at most 500 printable characters on one line, "
                         "without backslashes")


def team_keygen(ledger: Ledger, name: str, pending: bool) -> tuple[str, Path]:
    """Make a team's key pair on the team's own machine; return (public key, key file).

    Without ``pending`` it is the key the organizer registers with ``team add --key``; with
    it, the next key for a rotation (``team rotate --key``), used from the rotation on."""
    entries.check_name(name)
    info = st.read_info(ledger.snapshot())
    identity = keystore.team_identity(name)
    ident = keystore.generate(keystore.next_identity(identity) if pending else identity)
    return ident.public, keystore.save(info.id, ident)


# -- rounds -----------------------------------------------------------------------------------


def round_open(ledger: Ledger, propose_by: str | None, submit_by: str | None) -> st.Round:
    base = clock.now()
    p_by = clock.parse_when(propose_by or "+2d", base)
    s_by = clock.parse_when(submit_by or "+7d", base) if submit_by else p_by + (
        clock.parse_when("+5d", base) - base)
    if p_by <= base:
        raise UsageError("--propose-by must be in the future")
    if s_by <= p_by:
        raise UsageError("--submit-by must be after --propose-by")
    info = st.read_info(ledger.snapshot())
    organizer = keystore.load(info.id, "organizer")
    holder: dict[str, st.Round] = {}

    def build(snap: Snapshot) -> Change:
        state = st.load(snap)
        cur = state.current
        number = (cur.number + 1) if cur else 1
        checks.next_round(state, number)
        entry: dict[str, object] = {"number": number, "propose_by": clock.iso(p_by),
                                    "submit_by": clock.iso(s_by), "opened": clock.iso(base)}
        tellers = None
        if state.rules.rounds.proposers == "rotate":  # fixed now, recorded in the entry
            k = state.rules.rounds.per_round
            tellers = checks.storytellers_for(state, number, k, state.roster())
            entry.update(proposers="rotate", per_round=k, storytellers=tellers)
        checks.round_turns(state, number, entry)
        doc = {"round": entry}
        holder["round"] = st.Round(number, p_by, s_by, clock.iso(base),
                                   storytellers=tuple(tellers) if tellers else None,
                                   per_round=state.rules.rounds.per_round if tellers else None)
        return Change({layout.round_entry(number): entries.signed(
            doc, organizer.signing)}, f"round: open {number:03d}", "organizer")

    ledger.append(build)
    return holder["round"]


# -- propose -----------------------------------------------------------------------------------


@dataclass
class Proposed:
    round: int
    team: str
    commitment: str
    model_sha256: str
    claimed_accuracy: float
    whole_domain_accuracy: float
    required: float  # the metric value that will solve it, estimated from the claims
    metric: str = "agreement"
    kind: str = "labeler"


def _as_team(snap: Snapshot, team: str, known: st.State | None = None
             ) -> tuple[st.State, keystore.Identity]:
    """The state a team acts on and its private key, checked to be the registered one.
    ``known`` is a state already loaded: reused when the ledger has not moved since."""
    s = known if known is not None and known.snapshot.commit == snap.commit else st.load(snap)
    key = team_identity(s, team)
    if s.team_key(team) != key.public:
        retired = key.public in s.teams[team].history
        raise KeyStoreError(
            f"the key in the key store for '{team}' " + (
                "was retired by a key rotation; load the new key (`dixit team keygen --next` "
                "makes one the organizer registers with `dixit team rotate --key`)" if retired
                else "is not the one registered for it"))
    return s, key


def team_identity(state: st.State, team: str) -> keystore.Identity:
    """The team's private key, promoting a pending next key once the organizer rotated to it."""
    ident = keystore.team_identity(team)
    registered = state.team_key(team)
    pending = keystore.path_for(state.info.id, keystore.next_identity(ident))
    if pending.exists():
        nxt = keystore.load(state.info.id, keystore.next_identity(ident))
        if nxt.public == registered:
            keystore.promote(state.info.id, nxt, ident)
    return keystore.load(state.info.id, ident)


def _committed_dataset(state: st.State, rel: str, here: str) -> None:
    """Every clone and the closer read a dataset from the ledger: propose only on a file the
    ledger holds, byte for byte (else the challenge could not be judged anywhere else)."""
    held = state.snapshot.read(rel)
    if held is None:
        raise ChallengeError(f"dataset {rel} is not in the ledger: the organizer commits "
                             f"shared data under scoring/data/ (git add {rel}, commit, push) "
                             "before a challenge can use it")
    if seal.sha256_hex(held) != here:
        raise ChallengeError(f"dataset {rel} here differs from the ledger's copy; "
                             f"`git checkout -- {rel}` (or pull) before proposing")


def propose(ledger: Ledger, team: str, folder: Path, warn: Warn = _noop) -> Proposed:
    """Seal and publish a challenge folder into the current round."""
    entries.check_name(team)
    state = load_state(ledger)
    info, rules = state.info, state.rules
    cur = state.current
    if cur is not None and (team in cur.challenges or (
            cur.storytellers is not None and team not in cur.storytellers)):
        # This clone may be behind, but an entry it holds is in the ledger: refuse before any
        # warning or file error (and ``build`` checks everything again on the fresh state).
        checks.proposal(state, cur, team, clock.now())
    ch = local.read(folder)
    kind = kinds.get(ch.kind)  # checked by local.read
    secret = local.read_secret(kind, ch.secret, rules.max_program_bytes)
    if not ch.weights.is_file():
        raise ChallengeError(f"model {ch.weights} not found")
    size = ch.weights.stat().st_size  # before reading: an oversized file is never loaded
    if size > rules.max_model_bytes:
        raise ChallengeError(f"model {ch.weights} is {size:,} bytes, over the rulebook's "
                             f"limit of {rules.max_model_bytes:,} (limits.max_model_bytes)")
    model_bytes = ch.weights.read_bytes()
    models.load_weights(ch.model, ch.weights)  # refuses anything that is not a clean safetensors
    from dixit.data import domains

    # against the rulebook's [domains] caps: nothing the closer cannot hold gets proposed
    domain = domains.parse(ch.meta["domain"], root=ledger.root, seed=int(ch.meta["seed"]),
                           caps=rules.domains)
    checks.challenge_domain(kind, domain.spec, ch.heldout is not None)
    if domain.kind == "dataset":
        _committed_dataset(state, domain.spec.split(":", 1)[1], domain.data_sha256)
    heldout: tuple[bytes, int] | None = None
    if ch.heldout is not None:  # checked again here: the folder is on disk, editable
        heldout = domains.read_heldout(ch.heldout, domain)
    how = schemes.of(ch.meta, rules)  # checked by local.read; the defaults are the ledger's
    if kind.replayed:
        how.output.check_domain(domain.kind, tuple(domain.input_shape))
    judged = {k: ch.meta[k] for k in schemes.KEYS if k in ch.meta} if kind.replayed else {}
    model_sha = seal.sha256_hex(model_bytes)
    claimed = float(ch.meta["claimed_accuracy"])
    frac = float(ch.meta["train_frac"])
    train_acc = float(ch.meta.get("train_accuracy", claimed))
    whole = frac * train_acc + (1 - frac) * claimed if frac < 1 else claimed
    # the claim is an agreement; it predicts the bar only where the metric is one
    by_agreement = how.metric == "agreement"
    need = rules_points.required(how.threshold, whole, rules.beat_model) \
        if kind.model_can_solve and by_agreement else how.threshold
    if kind.model_can_solve and by_agreement and whole >= how.threshold:
        if rules.beat_model is None:
            warn(f"running the model solves it: its accuracy over the domain (~{whole:.2%}) "
                 f"meets the solve threshold ({how.threshold:.2%}); any team can submit the "
                 "model")
        else:
            warn(f"the model alone meets the solve threshold ({whole:.2%} >= "
                 f"{how.threshold:.2%}): a program must beat it, reaching ~{need:.2%}; a "
                 "labeler this easy to read off is likely solved by every team, which scores "
                 "its proposer 0")
    published = _published_hints(ch)
    if ch.hints.timed and not info.escrow:
        raise ChallengeError("timed hints need escrow, and this tournament runs without it "
                             "(dixit init --no-escrow): the closer could not release them; "
                             "publish the hint now with --hint instead")
    if not kind.replayed and "answer_format" not in published:
        warn("a flag challenge should state its answer format publicly (`dixit challenge new "
             "... --answer-format 'one English word, lowercase'`), or solvers guess the form "
             "as well as the flag")
    holder: dict[str, Proposed] = {}

    def build(snap: Snapshot) -> Change:
        s, key = _as_team(snap, team, state)
        rnd = s.round(None)
        now = clock.now()
        checks.proposal(s, rnd, team, now)
        context = protocol.secret_context(info.id, rnd.number, team, kind.name, domain.identity(),
                                           model_sha)
        seal_table, salt, blob = protocol.make_seal(
            context, secret, info.closer_escrow_key if info.escrow else None)
        seal_table.update({"domain_id": domain.identity(), "model_sha256": model_sha})
        keystore.keep_secret(info.id, rnd.number, team, layout.SECRET_ITEM, salt, secret)
        meta = {"team": team, "round": rnd.number, "kind": kind.name, "domain": domain.spec,
                "seed": int(ch.meta["seed"]), "train_frac": frac, "claimed_accuracy": claimed,
                "train_accuracy": train_acc, "model": "model.safetensors",
                "proposed": clock.iso(now), **published, **judged}
        base = layout.challenge_dir(rnd.number, team)
        files: dict[str, bytes | None] = {f"{base}/model.safetensors": model_bytes}
        for i, data in enumerate(ch.hints.images, 1):
            files[f"{base}/{layout.hint_image_name(i)}"] = data
        if ch.hints.timed:
            meta["timed_hints"] = []
        for i, (when, text) in enumerate(ch.hints.timed, 1):
            # sealed like the secret, escrowed to the closer, who releases it at its time
            at = clock.iso(clock.parse_when(when, base=now))
            hint_seal, _salt, hint_blob = protocol.make_seal(
                protocol.hint_context(info.id, rnd.number, team, i, at,
                                      seal_table["commitment"]),
                text.encode("utf-8"), info.closer_escrow_key)
            meta["timed_hints"].append({"at": at, **hint_seal})
            files[layout.hint_escrow_path(rnd.number, team, i)] = hint_blob
        checks.hint_times(rnd, meta, now)
        if heldout is not None:
            # sealed like the secret and bound to it, escrowed to the closer; only its row
            # count is public before the close
            held_seal, held_salt, held_blob = protocol.make_seal(
                protocol.heldout_context(info.id, rnd.number, team, seal_table["commitment"]),
                heldout[0], info.closer_escrow_key if info.escrow else None)
            keystore.keep_secret(info.id, rnd.number, team, layout.HELDOUT_ITEM, held_salt,
                                 heldout[0])
            meta["heldout"] = {"rows": heldout[1], **held_seal}
            if held_blob is not None:
                files[layout.escrow_path(rnd.number, team, layout.HELDOUT_ITEM)] = held_blob
        doc = {"challenge": meta, "model": ch.model, "seal": seal_table}
        checks.challenge_entry(doc)
        files[layout.challenge_entry(rnd.number, team)] = entries.signed(doc, key.signing)
        if blob is not None:
            files[layout.escrow_path(rnd.number, team, layout.SECRET_ITEM)] = blob
        holder["p"] = Proposed(rnd.number, team, seal_table["commitment"], model_sha, claimed,
                               whole, need, how.metric, kind.name)
        return Change(files, f"propose: {team} in round {rnd.number:03d}", team)

    ledger.append(build)
    return holder["p"]


def _published_hints(ch: local.LocalChallenge) -> dict[str, object]:
    """The [challenge] keys a folder's public hints add to the signed entry: the texts, the
    pictures by hash (their files are committed with the challenge), the answer format."""
    hints = ch.hints
    meta: dict[str, object] = {}
    if hints.texts:
        meta["hints"] = list(hints.texts)
    if hints.images:
        meta["hint_images"] = [{"file": layout.hint_image_name(i), "sha256": seal.sha256_hex(d),
                                "bytes": len(d)} for i, d in enumerate(hints.images, 1)]
    if hints.answer_format is not None:
        meta["answer_format"] = hints.answer_format
    return meta


# -- submit ------------------------------------------------------------------------------------


@dataclass
class Submitted:
    round: int
    team: str
    target: str
    commitment: str
    replaced: bool
    explanation: dict[str, object] | None = None  # its format, size and seal, if one was given
    what: str = "program"  # what was submitted, in messages: the kind's ``submission``


def submit(ledger: Ledger, team: str, target: str, program: Path,
           explanation: Path | None = None) -> Submitted:
    """Seal and publish ``team``'s program for ``target``'s challenge in the current round,
    with its ``explanation`` (a .md or .ipynb file) sealed in the same entry. A resubmission
    replaces both: one without an explanation drops the earlier one's."""
    entries.check_name(team)
    entries.check_name(target, "challenge (team name)")
    # the target's kind decides how the file is read (a program or a flag guess): read it from
    # the remote's state, not a clone that has not pulled the challenge yet
    ledger.pull()
    state = load_state(ledger)
    info = state.info
    checks.submitter(state, team, target)  # before reading the program; all again when writing
    if explanation is None and state.rules.require_explanation:
        raise ChallengeError("the rulebook requires an explanation with every submission "
                             "(solve.require_explanation): add --explanation FILE (.md or "
                             ".ipynb)")
    cur = state.current
    target_ch = cur.challenges.get(target) if cur is not None else None
    kind = kinds.get(target_ch.kind if target_ch else kinds.DEFAULT)
    source = local.read_submission(kind, program, state.rules.max_program_bytes)
    told = read_explanation(explanation, state.rules.explanations) \
        if explanation is not None else None
    holder: dict[str, Submitted] = {}

    def build(snap: Snapshot) -> Change:
        s, key = _as_team(snap, team, state)
        rnd = s.round(None)
        ch = checks.submission(s, rnd, team, target, clock.now())
        if ch.kind != kind.name:  # proposed while this command ran: read the file as it is
            raise RetryableError(f"{target}'s challenge was proposed meanwhile; run the command "
                                 "again")
        context = protocol.program_context(info.id, rnd.number, team, target,
                                           str(ch.seal.get("commitment", "")))
        escrow_key = info.closer_escrow_key if info.escrow else None
        seal_table, salt, blob = protocol.make_seal(context, source, escrow_key)
        keystore.keep_secret(info.id, rnd.number, team, target, salt, source)
        sub = {"team": team, "target": target, "round": rnd.number,
               "submitted": clock.iso(clock.now())}
        previous = snap.read(layout.submission_entry(rnd.number, team, target))
        if previous is not None:  # chained to the entry it replaces: no rollback
            sub["replaces"] = seal.sha256_hex(previous)
        doc: dict[str, object] = {"submission": sub, "seal": seal_table}
        base = f"{layout.round_dir(rnd.number)}/submissions/{team}"
        files: dict[str, bytes | None] = {f"{base}/{target}.escrow": blob}
        # the explanation of the earlier entry goes with it, whatever replaces it
        files[layout.explanation_escrow(rnd.number, team, target)] = None
        shown: dict[str, object] | None = None
        if told is not None:
            # bound to the program sealed beside it, escrowed to the closer like it
            fmt, text = told
            told_seal, told_salt, told_blob = protocol.make_seal(
                protocol.explanation_context(info.id, rnd.number, team, target,
                                             seal_table["commitment"], fmt),
                text, escrow_key)
            keystore.keep_secret(info.id, rnd.number, team, layout.explanation_item(target),
                                 told_salt, text)
            doc["explanation"] = {"format": fmt, **told_seal}
            files[layout.explanation_escrow(rnd.number, team, target)] = told_blob
            shown = {"format": fmt, "bytes": len(text), "commitment": told_seal["commitment"]}
        checks.explanation_required(s.rules, checks.submission_entry(doc))
        files[f"{base}/{target}.toml"] = entries.signed(doc, key.signing)
        replaced = (team, target) in rnd.submissions
        holder["s"] = Submitted(rnd.number, team, target, seal_table["commitment"], replaced,
                                shown, kind.submission)
        verb = "resubmit" if replaced else "submit"
        return Change(files, f"{verb}: {team} -> {target} in round {rnd.number:03d}", team)

    ledger.append(build)
    return holder["s"]


# -- reveal ------------------------------------------------------------------------------------


def reveal(ledger: Ledger, team: str, round_no: int | None = None) -> list[str]:
    """Reveal ``team``'s sealed labeler and programs (after submit-by); return items revealed."""
    entries.check_name(team)
    holder: dict[str, list[str]] = {}

    def build(snap: Snapshot) -> Change:
        s, key = _as_team(snap, team)
        rnd = s.round(round_no)
        checks.team_reveal(rnd, clock.now())
        files: dict[str, bytes | None] = {}
        done: list[str] = []
        for item in checks.sealed_items(rnd, team):
            if (team, item) in rnd.reveals:
                continue
            salt, payload = keystore.load_secret(s.info.id, rnd.number, team, item)
            checks.reveal_matches(s.info, rnd, team, item, salt, payload,
                                  checks.describe_item(team, item))
            files.update(checks.reveal_files(rnd, team, item, salt, payload, "team", key.signing))
            done.append(item)
        if not files:
            raise PhaseError(f"'{team}' has nothing left to reveal in round {rnd.number}")
        holder["done"] = done
        return Change(files, f"reveal: {team} in round {rnd.number:03d}", team)

    ledger.append(build)
    return holder["done"]

