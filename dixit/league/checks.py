"""The rules of every ledger entry, in one place.

``actions`` calls these before it writes an entry, ``validate`` on the entries a pull request
adds, ``verify`` and ``closing`` on what the ledger holds; so an entry the CLI would refuse is
refused by the same code when it arrives by any other way. Each check raises a DixitError whose
message names the problem without a path (callers that judge files prefix it): ``PhaseError``
for what is right but at the wrong time, ``EntryError`` for what is never allowed.

Also here: what each sealed item is sealed to (its seal table and context), since a reveal, an
escrow opening and a seal check must agree on it exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from dixit.data import domains
from dixit.data.domains import MAX_DATASET_BYTES
from dixit.errors import ChallengeError, EntryError, PhaseError
from dixit.ledger import clock, entries, layout, protocol, seal, state as st
from dixit.ledger.layout import HELDOUT_ITEM, SECRET_ITEM
from dixit.rules import (
    explanations as explanation_rules,
    hints as hint_rules,
    kinds,
    scheme as schemes,
    turns,
)
from dixit.rules.domain_caps import DomainRules
from dixit.rules.rulebook import Rulebook

# -- teams and rounds (organizer entries) ----------------------------------------------------


def registration(state: st.State, team: str) -> None:
    entries.check_name(team)
    if team in state.teams:
        raise EntryError(f"team '{team}' is already registered")


def rotation(state: st.State, team: str, number: int, previous: str, key: str) -> None:
    """A key rotation must be the team's next one, replace the key registered now, and bring a
    key the team has never held (an old key may have leaked)."""
    current = state.team_key(team)  # registered and not removed
    history = state.teams[team].history
    if number != len(history):
        raise EntryError(f"the next key rotation of '{team}' is number {len(history)}")
    if previous != current:
        raise EntryError("the rotation does not replace the key registered now")
    if key in history:
        raise EntryError(f"team '{team}' has held this key before; rotate to a new key")


def removal(state: st.State, team: str) -> None:
    state.team_key(team)  # unknown or already removed: refuse


def next_round(state: st.State, number: int) -> None:
    """Rounds open one at a time, in order, with at least two teams to play."""
    cur = state.current
    if cur is not None and not cur.closed:
        raise PhaseError(f"round {cur.number} is still open; close it with `dixit score` "
                         "before opening the next")
    expected = cur.number + 1 if cur else 1
    if number != expected:
        raise EntryError(f"rounds are opened in order; the next is {expected}")
    if len(state.roster()) < 2:
        raise PhaseError("a round needs at least two registered teams (`dixit team add`)")


def told(rnd: st.Round) -> list[str]:
    """Who told a story in ``rnd``: its storytellers, or in a round open to every team, the
    teams that proposed."""
    return list(rnd.storytellers) if rnd.storytellers is not None else sorted(rnd.challenges)


def storytellers_for(state: st.State, number: int, per_round: int,
                     roster: list[str]) -> list[str]:
    """The storytellers round ``number`` must have under the rotation (``dixit.rules.turns``),
    from ``roster`` (the teams playing it when it opens) and the rounds before it."""
    history = [told(state.rounds[n]) for n in range(1, number) if n in state.rounds]
    return turns.storytellers(roster, history, per_round)


def round_turns(state: st.State, number: int, doc: dict[str, Any]) -> None:
    """A round entry follows the rulebook's ``[rounds]``: when proposers rotate it names exactly
    the storytellers the rotation gives (and the K it used); otherwise it names none."""
    rotate = state.rules.rounds.proposers == turns.ROTATE
    if not rotate:
        if "storytellers" in doc or "proposers" in doc:
            raise EntryError("names storytellers, but the rulebook lets every team propose "
                             "(rounds.proposers = \"all\")")
        return
    per_round = state.rules.rounds.per_round
    want = storytellers_for(state, number, per_round, state.roster())
    got = doc.get("storytellers")
    if doc.get("proposers") != turns.ROTATE or doc.get("per_round") != per_round \
            or got != want:
        raise EntryError(f"the rulebook rotates proposers ({per_round} a round): round "
                         f"{number}'s storytellers are {', '.join(want)}, not "
                         f"{', '.join(map(str, got)) if isinstance(got, list) else 'unnamed'}")


def storyteller(rnd: st.Round, team: str) -> None:
    """Only a rotating round's storytellers may propose in it."""
    if rnd.storytellers is not None and team not in rnd.storytellers:
        raise EntryError(f"'{team}' is not a storyteller of round {rnd.number}: only "
                         f"{', '.join(rnd.storytellers)} may propose (rounds.proposers = "
                         "\"rotate\"); everyone else solves")


# -- team entries of a round ------------------------------------------------------------------


def open_round(state: st.State, number: int | None) -> st.Round:
    """The round an entry goes into: it exists and is not closed."""
    if number is not None and number not in state.rounds:
        raise EntryError(f"round {number} is not open")
    rnd = state.round(number)
    if rnd.closed:
        raise PhaseError(f"round {rnd.number} is closed")
    return rnd


def _before(rnd: st.Round, now: datetime, action: str, until: datetime) -> None:
    if rnd.closed:
        raise PhaseError(f"round {rnd.number} is closed; {action} is no longer possible")
    if now >= until:
        raise PhaseError(f"too late: {action} in round {rnd.number} closed at {clock.iso(until)} "
                         f"(now {clock.iso(now)})")


def proposal(state: st.State, rnd: st.Round, team: str, now: datetime) -> None:
    """``team`` may propose in ``rnd`` now: active, a storyteller of a rotating round, before
    propose-by, not proposed yet."""
    state.team_key(team)
    storyteller(rnd, team)
    _before(rnd, now, "proposing", rnd.propose_by)
    if team in rnd.challenges:
        raise EntryError(f"'{team}' already proposed a challenge in round {rnd.number}")


# Every table of a challenge entry and every key of its [challenge] table, in one place: an
# entry with anything else is refused with this list (a key nobody reads must not ride along in
# a signed entry, nor a misspelt one be dropped).
CHALLENGE_TABLES = ("challenge", "model", "seal")
CHALLENGE_META_KEYS = ("team", "round", "kind", "domain", "seed", "train_frac",
                       "claimed_accuracy", "train_accuracy", "model", "proposed", "hints",
                       "hint_images", "answer_format", "timed_hints", "heldout", *schemes.KEYS)
_HEX64 = frozenset("0123456789abcdef")


def known_keys(found: dict[str, Any], known: tuple[str, ...], what: str) -> None:
    unknown = sorted(set(found) - set(known))
    if unknown:
        raise EntryError(f"unknown {what} {', '.join(unknown)}; known: "
                         f"{', '.join(sorted(known))}")


def challenge_entry(payload: dict[str, Any]) -> kinds.Kind:
    """A challenge entry (without its signature): known tables, then ``challenge_meta``."""
    known_keys(payload, CHALLENGE_TABLES, "table(s)")
    meta = payload.get("challenge")
    if not isinstance(meta, dict):
        raise EntryError("a challenge entry needs a [challenge] table")
    return challenge_meta(meta)


def challenge_meta(meta: dict[str, Any]) -> kinds.Kind:
    """A challenge names a known kind, only known keys, and hints within the limits. (That
    every entry names its own place is checked where entries are read, by ``state.load``, for
    the CLI, pull requests and verify alike.)"""
    known_keys(meta, CHALLENGE_META_KEYS, "challenge key(s)")
    kind = kinds.get(str(meta.get("kind", kinds.DEFAULT)))
    if "heldout" in meta:
        heldout_seal(meta)
        if not kind.replayed:
            raise EntryError("a flag challenge takes no held-out set")
    challenge_domain(kind, str(meta.get("domain", "")), "heldout" in meta)
    if kind.replayed:
        challenge_scheme(meta)
    published_hints(kind, meta)
    return kind


def challenge_scheme(meta: dict[str, Any]) -> schemes.Scheme:
    """Output, metric and threshold are known and within the metrics' bounds (which are the
    same for every rulebook; only the default thresholds differ)."""
    return schemes.of(meta, Rulebook())


def _sha(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and set(value) <= _HEX64


def published_hints(kind: kinds.Kind, meta: dict[str, Any]) -> None:
    """The hints, hint pictures and answer format of a challenge entry are well formed."""
    texts = meta.get("hints", [])
    if not isinstance(texts, list):
        raise EntryError("challenge.hints must be a list of texts")
    hint_rules.check_count(len(texts), hint_rules.MAX_HINTS, "hints")
    for i, text in enumerate(texts, 1):
        hint_rules.check_text(text, f"hint {i}")
    images = meta.get("hint_images", [])
    if not isinstance(images, list):
        raise EntryError("challenge.hint_images must be a list")
    hint_rules.check_count(len(images), hint_rules.MAX_HINT_IMAGES, "hint images")
    for i, image in enumerate(images, 1):
        if not isinstance(image, dict) or set(image) != {"file", "sha256", "bytes"} \
                or image["file"] != layout.hint_image_name(i) or not _sha(image["sha256"]) \
                or not isinstance(image["bytes"], int) or isinstance(image["bytes"], bool) \
                or not 0 < image["bytes"] <= hint_rules.MAX_HINT_IMAGE_BYTES:
            raise EntryError(f"hint image {i} must be a table of file = "
                             f"\"{layout.hint_image_name(i)}\", its sha256 and its bytes "
                             f"(at most {hint_rules.MAX_HINT_IMAGE_BYTES:,})")
    timed_hints(meta)
    if "answer_format" in meta:
        if kind.replayed:
            raise EntryError(f"an answer format is only for flag challenges (this one is "
                             f"{kind.name})")
        hint_rules.check_answer_format(meta["answer_format"])


TIMED_HINT_KEYS = frozenset({"at", "commitment", "scheme", "payload_bytes", "escrow_sha256"})


def timed_hints(meta: dict[str, Any]) -> list[dict[str, Any]]:
    """A challenge entry's timed hints: each a seal (and escrow hash) with its release time."""
    timed = meta.get("timed_hints", [])
    if not isinstance(timed, list):
        raise EntryError("challenge.timed_hints must be a list")
    hint_rules.check_count(len(timed), hint_rules.MAX_TIMED_HINTS, "timed hints")
    for i, hint in enumerate(timed, 1):
        if not isinstance(hint, dict) or set(hint) != TIMED_HINT_KEYS \
                or not _sha(hint["commitment"]) or not _sha(hint["escrow_sha256"]) \
                or hint["scheme"] != seal.SEAL_VERSION or not _iso(hint["at"]) \
                or not isinstance(hint["payload_bytes"], int) \
                or isinstance(hint["payload_bytes"], bool) \
                or not 0 < hint["payload_bytes"] <= hint_rules.MAX_HINT_BYTES:
            raise EntryError(f"timed hint {i} must be a seal: at (an ISO-8601 time), "
                             f"commitment, scheme, payload_bytes and escrow_sha256")
    return timed


def _iso(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return clock.iso(clock.parse_iso(value)) == value
    except ValueError:
        return False


def hint_times(rnd: st.Round, meta: dict[str, Any], now: datetime | None = None) -> None:
    """Every timed hint falls before the round's submit-by (while teams still solve) and, when
    it is proposed ``now``, after now."""
    for i, hint in enumerate(timed_hints(meta), 1):
        at = clock.parse_iso(hint["at"])
        if at >= rnd.submit_by:
            raise EntryError(f"timed hint {i} is due at {hint['at']}, not before the round's "
                             f"submit-by ({clock.iso(rnd.submit_by)}); a hint must be released "
                             "while teams still solve")
        if now is not None and at <= now:
            raise EntryError(f"timed hint {i} is due at {hint['at']}, which is not after the "
                             f"proposal ({clock.iso(now)})")


def hint_context_for(info: st.Info, rnd: st.Round, team: str, index: int) -> dict[str, Any]:
    """The context ``team``'s ``index``-th timed hint was sealed under (and escrowed to)."""
    ch = rnd.challenges[team]
    hint = timed_hints(ch.meta)[index - 1]
    return protocol.hint_context(info.id, rnd.number, team, index, str(hint["at"]),
                                 str(ch.seal.get("commitment", "")))


def hint_matches(info: st.Info, rnd: st.Round, team: str, index: int, salt: bytes,
                 payload: bytes, where: str) -> None:
    """Raise SealError unless ``payload`` with ``salt`` opens the timed hint's seal."""
    seal_table = timed_hints(rnd.challenges[team].meta)[index - 1]
    protocol.check_reveal(seal_table, hint_context_for(info, rnd, team, index), salt, payload,
                          where)


def hint_release_files(rnd: st.Round, team: str, index: int, released: datetime, key: Any, *,
                       salt: bytes | None = None, payload: bytes | None = None,
                       error: str | None = None) -> dict[str, bytes | None]:
    """The closer's record of a released timed hint and its exact bytes, or of why it could
    not be released (``error``: then no text)."""
    hint = timed_hints(rnd.challenges[team].meta)[index - 1]
    doc: dict[str, Any] = {"team": team, "round": rnd.number, "index": index,
                           "at": hint["at"], "released": clock.iso(released), "by": "closer"}
    files: dict[str, bytes | None] = {}
    if error is not None:
        doc["error"] = entries.safe_text(error)
    else:
        assert salt is not None and payload is not None
        doc.update(salt=seal.b64(salt), file=f"hint-{index}.txt",
                   sha256=seal.sha256_hex(payload))
        files[layout.hint_text(rnd.number, team, index)] = payload
    files[layout.hint_entry(rnd.number, team, index)] = entries.signed({"hint": doc}, key)
    return files


def hint_release_time(rnd: st.Round, release: st.HintRelease) -> None:
    """A timed hint is released no earlier than its time (by the closer's clock)."""
    if clock.parse_iso(release.released) < clock.parse_iso(release.at):
        raise EntryError(f"released at {release.released}, before its time ({release.at})")


def hint_image(meta: dict[str, Any], index: int, data: bytes) -> None:
    """A committed hint picture is a PNG within the cap, matching the hash in its entry."""
    images = meta.get("hint_images", [])
    if not isinstance(images, list) or not 0 < index <= len(images) \
            or not isinstance(images[index - 1], dict):
        raise EntryError(f"its challenge entry names no hint image {index}")
    hint_rules.check_png(data, "the hint image")
    if seal.sha256_hex(data) != images[index - 1].get("sha256"):
        raise EntryError("the hint image does not match the hash in its challenge entry")


HELDOUT_KEYS = frozenset({"rows", "commitment", "scheme", "payload_bytes"})


def heldout_seal(meta: dict[str, Any]) -> dict[str, Any]:
    """A challenge entry's sealed held-out set: its seal (commitment, scheme, payload_bytes,
    and its escrow's hash where the tournament escrows) and its public row count."""
    held = meta.get("heldout")
    if not isinstance(held, dict) or not HELDOUT_KEYS <= set(held) \
            or not set(held) <= HELDOUT_KEYS | {"escrow_sha256"} \
            or not _sha(held["commitment"]) or held["scheme"] != seal.SEAL_VERSION \
            or ("escrow_sha256" in held and not _sha(held["escrow_sha256"])) \
            or not all(isinstance(held[k], int) and not isinstance(held[k], bool)
                       for k in ("rows", "payload_bytes")) \
            or not 0 < held["payload_bytes"] <= MAX_DATASET_BYTES or held["rows"] < 1:
        raise EntryError("challenge.heldout must be a seal: rows, commitment, scheme, "
                         f"payload_bytes (at most {MAX_DATASET_BYTES:,}) and, with escrow, "
                         "escrow_sha256")
    return held


def has_heldout(ch: st.Challenge) -> bool:
    return "heldout" in ch.meta


def challenge_domain(kind: kinds.Kind, spec: str, heldout: bool = False) -> None:
    """A kind judged against its public model needs inputs nobody can tabulate."""
    problem = kinds.domain_problem(kind, spec, heldout)
    if problem is not None:
        raise EntryError(problem)


DatasetHead = Callable[[str], tuple[int, bytes] | None]


def domain_within(caps: DomainRules, spec: str, dataset: DatasetHead) -> None:
    """A challenge's domain within the rulebook's [domains] caps, judged without a checkout:
    the spec itself and, for a dataset, the file the ledger holds, given by ``dataset(path)``
    as its size and content (content only needed within the size cap; None when the ledger has
    no such file)."""
    try:
        rel = domains.check_spec(spec, caps)
        if rel is None:
            return
        head = dataset(rel.as_posix())
        if head is None:
            raise ChallengeError(f"dataset {rel} is not in the ledger (the organizer commits "
                                 f"shared evaluation data under {domains.DATASET_FOLDER}/)")
        domains.check_dataset(rel, head[0], head[1], caps)
    except ChallengeError as exc:
        raise EntryError(str(exc)) from None


def model_size(size: int, limit: int) -> None:
    if size > limit:
        raise EntryError(f"{size:,} bytes, over the rulebook's limit of {limit:,} "
                         "(limits.max_model_bytes)")


def submission(state: st.State, rnd: st.Round, team: str, target: str,
               now: datetime) -> st.Challenge:
    """``team`` may submit for ``target`` in ``rnd`` now; returns the target's challenge."""
    submitter(state, team, target)
    _before(rnd, now, "submitting", rnd.submit_by)
    ch = rnd.challenges.get(target)
    if ch is None:
        raise PhaseError(f"'{target}' has not proposed a challenge in round {rnd.number} "
                         f"(proposed so far: {', '.join(sorted(rnd.challenges)) or 'none'})")
    return ch


def submitter(state: st.State, team: str, target: str) -> None:
    """``team`` may ever submit for ``target``'s challenge (whatever the round's phase)."""
    state.team_key(team)
    state.team_key(target)  # a removed team's challenge takes no more programs
    if team == target:
        raise EntryError(f"'{team}' cannot submit to its own challenge")


def replacement(previous: bytes | None, sub: dict[str, Any]) -> None:
    """A submission entry names the exact entry it replaces (``replaces``: the sha256 of its
    bytes), and a first submission names none. So an entry can only be replaced by a newer one
    its team signed knowing the current one: restoring an older, validly signed entry (a
    rollback that would cost its team a solve) breaks the chain and is refused."""
    want = None if previous is None else seal.sha256_hex(previous)
    got = sub.get("replaces")
    if got == want:
        return
    if want is None:
        raise EntryError("names an entry it replaces, but there is none in the ledger")
    raise EntryError("does not replace the submission now in the ledger (an older entry "
                     "brought back?); a resubmission names the sha256 of the entry it replaces")


SUBMISSION_TABLES = ("submission", "seal", "explanation")
EXPLANATION_KEYS = frozenset({"format", "commitment", "scheme", "payload_bytes"})


def submission_entry(payload: dict[str, Any]) -> dict[str, Any] | None:
    """A submission entry (without its signature) holds only known tables, and its explanation
    seal, if any, is well formed; returns that seal (None: no explanation)."""
    known_keys(payload, SUBMISSION_TABLES, "table(s)")
    if "explanation" not in payload:
        return None
    return explanation_seal(payload["explanation"])


def explanation_seal(table: object) -> dict[str, Any]:
    """A submission's [explanation]: the seal (commitment, scheme, payload_bytes, and its
    escrow's hash where the tournament escrows) of an md or ipynb file within the code's
    ceiling for its format (the rulebook's caps: ``explanation_rules``)."""
    ok = isinstance(table, dict) and EXPLANATION_KEYS <= set(table) \
        and set(table) <= EXPLANATION_KEYS | {"escrow_sha256"} \
        and table["format"] in explanation_rules.FORMATS and _sha(table["commitment"]) \
        and table["scheme"] == seal.SEAL_VERSION \
        and ("escrow_sha256" not in table or _sha(table["escrow_sha256"])) \
        and isinstance(table["payload_bytes"], int) \
        and not isinstance(table["payload_bytes"], bool) \
        and explanation_rules.check_size(explanation_rules.CEILING, table["format"],
                                         table["payload_bytes"]) is None
    if not ok:
        ceiling = explanation_rules.CEILING
        raise EntryError("[explanation] must be a seal: format (md or ipynb), commitment, "
                         f"scheme, payload_bytes (1 to {ceiling.max_markdown_bytes:,} for md, "
                         f"{ceiling.max_notebook_bytes:,} for ipynb) and, with escrow, "
                         "escrow_sha256")
    assert isinstance(table, dict)
    return table


def explanation_required(book: Rulebook, sealed: dict[str, Any] | None) -> None:
    """A submission follows the rulebook's explanation rules: it carries one when
    ``[solve] require_explanation`` says so, within ``[explanations]``' cap for its format."""
    if sealed is None:
        if book.require_explanation:
            raise EntryError("carries no explanation, but the rulebook requires one with every "
                             "submission (solve.require_explanation)")
        return
    problem = explanation_rules.check_size(book.explanations, str(sealed.get("format")),
                                           int(sealed.get("payload_bytes", 0)))
    if problem is not None:
        raise EntryError(problem)


def explanation_escrow(sealed: dict[str, Any], blob: bytes) -> None:
    """An explanation's escrow is the one sealed, exactly as long as its sealed size says (so
    a seal cannot claim a small explanation and escrow a huge one)."""
    if seal.sha256_hex(blob) != sealed.get("escrow_sha256"):
        raise EntryError("does not match its seal")
    want = int(sealed.get("payload_bytes", 0)) + seal.SALT_BYTES + seal.ESCROW_OVERHEAD
    if len(blob) != want:
        raise EntryError(f"is {len(blob):,} bytes, but the explanation it escrows is sealed as "
                         f"{sealed.get('payload_bytes')} bytes (its escrow is {want:,})")


def team_reveal(rnd: st.Round, now: datetime) -> None:
    """Teams reveal after submit-by (so no one can copy a secret) and before the close."""
    if rnd.closed:
        raise PhaseError(f"round {rnd.number} is closed; nothing left to reveal")
    if now < rnd.submit_by:
        raise PhaseError(f"too early: reveals open after submit-by "
                         f"({clock.iso(rnd.submit_by)}), so no one can copy a secret")


def team_reveal_entry(rv: dict[str, Any]) -> None:
    """A reveal a team writes is its own ("by" team); only the closer reveals from escrow."""
    if rv.get("by") != "team":
        raise EntryError("a team's reveal must say by = \"team\"; only the closer reveals "
                         "from escrow")


# -- what is sealed ---------------------------------------------------------------------------


def sealed_items(rnd: st.Round, team: str) -> list[str]:
    """Everything ``team`` sealed in ``rnd``: its challenge's secret and held-out set, then its
    programs, each followed by its explanation."""
    items = [SECRET_ITEM] if team in rnd.challenges else []
    if team in rnd.challenges and has_heldout(rnd.challenges[team]):
        items.append(HELDOUT_ITEM)
    for target in sorted(t for (s, t) in rnd.submissions if s == team):
        items.append(target)
        if rnd.submissions[(team, target)].explanation is not None:
            items.append(layout.explanation_item(target))
    return items


def has_sealed(rnd: st.Round, owner: str, item: str) -> bool:
    if (target := layout.explained_target(item)) is not None:
        sub = rnd.submissions.get((owner, target))
        return sub is not None and sub.explanation is not None and target in rnd.challenges
    if item == SECRET_ITEM:
        return owner in rnd.challenges
    if item == HELDOUT_ITEM:
        return owner in rnd.challenges and has_heldout(rnd.challenges[owner])
    return (owner, item) in rnd.submissions and item in rnd.challenges


def seal_of(rnd: st.Round, owner: str, item: str) -> dict[str, Any]:
    if (target := layout.explained_target(item)) is not None:
        return rnd.submissions[(owner, target)].explanation or {}
    if item == HELDOUT_ITEM:
        held = rnd.challenges[owner].meta.get("heldout")
        return held if isinstance(held, dict) else {}
    return rnd.challenges[owner].seal if item == SECRET_ITEM \
        else rnd.submissions[(owner, item)].seal


def context_for(info: st.Info, rnd: st.Round, owner: str, item: str) -> dict[str, Any]:
    """The context ``owner``'s ``item`` was sealed under (and its escrow encrypted to)."""
    if (target := layout.explained_target(item)) is not None:
        sub = rnd.submissions[(owner, target)]
        return protocol.explanation_context(info.id, rnd.number, owner, target,
                                            str(sub.seal.get("commitment", "")),
                                            str((sub.explanation or {}).get("format", "")))
    if item == HELDOUT_ITEM:
        return protocol.heldout_context(info.id, rnd.number, owner,
                                        str(rnd.challenges[owner].seal.get("commitment", "")))
    if item == SECRET_ITEM:
        ch = rnd.challenges[owner]
        return protocol.secret_context(info.id, rnd.number, owner, ch.kind,
                                       str(ch.seal.get("domain_id", "")),
                                       str(ch.seal.get("model_sha256", "")))
    ch = rnd.challenges[item]
    return protocol.program_context(info.id, rnd.number, owner, item,
                                    str(ch.seal.get("commitment", "")))


def describe_item(owner: str, item: str) -> str:
    # "labeler" for every kind's secret: these words are part of committed results
    if item == HELDOUT_ITEM:
        return f"{owner}'s held-out set"
    if (target := layout.explained_target(item)) is not None:
        return f"{owner}'s explanation for {target}"
    return f"{owner}'s {'labeler' if item == SECRET_ITEM else 'program for ' + item}"


def reveal_matches(info: st.Info, rnd: st.Round, owner: str, item: str, salt: bytes,
                   payload: bytes, where: str) -> None:
    """Raise SealError unless ``payload`` and ``salt`` open ``owner``'s seal of ``item``."""
    protocol.check_reveal(seal_of(rnd, owner, item), context_for(info, rnd, owner, item),
                          salt, payload, where)


def kind_of_item(rnd: st.Round, owner: str, item: str) -> kinds.Kind:
    """The kind of the challenge a sealed item belongs to (its own, or its target's)."""
    own = item in (SECRET_ITEM, HELDOUT_ITEM)
    return kinds.get(rnd.challenges[owner if own else item].kind)


def reveal_suffix(rnd: st.Round, owner: str, item: str) -> str:
    """The suffix of a revealed item's file: its kind's, .safetensors for a held-out set, or an
    explanation's sealed format."""
    if layout.explained_target(item) is not None:
        return "." + str(seal_of(rnd, owner, item).get("format"))
    if item == HELDOUT_ITEM:
        return ".safetensors"
    return kind_of_item(rnd, owner, item).suffix


def reveal_files(rnd: st.Round, owner: str, item: str, salt: bytes, payload: bytes, by: str,
                 key: Any) -> dict[str, bytes | None]:
    """The ledger files of one reveal record (signed by the team or the closer)."""
    name = item + reveal_suffix(rnd, owner, item)
    doc = {"reveal": {"owner": owner, "item": item, "round": rnd.number, "by": by,
                      "salt": seal.b64(salt), "file": name,
                      "sha256": seal.sha256_hex(payload)}}
    base = layout.reveal_dir(rnd.number, owner)
    return {layout.reveal_entry(rnd.number, owner, item): entries.signed(doc, key),
            f"{base}/{name}": payload}
