"""`dixit verify` on tampered copies of small real ledgers: each case asserts the exact list of
problems, so a check that is removed, weakened or reports the wrong thing fails its case.

Tampering is done two ways. A *new commit* is what a careless or hostile writer does: the
history shows it. A *history rewrite* (``ledgers.rewrite``) makes a file look as if it had
always held the bad content, so only the content check itself can catch it; these cases are
the ones that prove each content check works on its own. Most cases are on an OPEN round
(proposed and submitted, not revealed or scored), where no "written after the round was
closed" problem can mask the real one.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from dixit.league import verify
from dixit.ledger import entries, keystore, layout, seal, state as st
from dixit.ledger.store import Ledger
from tests import ledgers
from tests.conftest import Runner, git
from tests.ledgers import (
    ALICE,
    CAROL,
    CLOSED,
    DATASET,
    OPEN,
    REVEALED,
    ROT_CLOSED,
    ROT_OPEN,
    ROT_SEED,
    SUB_BOB_ALICE,
    Built,
    commit_files,
    flipped,
    normalized,
    rewrite,
)

RESULTS = "rounds/001/results.toml"


def _info(b: Built) -> st.Info:
    return st.read_info(Ledger(b.root).snapshot())


def identity(b: Built, name: str) -> keystore.Identity:
    return keystore.load(_info(b).id, name)


def resigned(b: Built, path: str, edit: Callable[[dict[str, Any]], None], signer: str) -> bytes:
    """The entry at ``path`` with ``edit`` applied to its payload, signed by ``signer``."""
    payload, _sig = entries.parse((b.root / path).read_bytes(), path)
    edit(payload)
    return entries.signed(payload, identity(b, signer).signing)


def _set(*keys: str | int, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(payload: dict[str, Any]) -> None:
        target: Any = payload
        for k in keys[:-1]:
            target = target[k]
        target[keys[-1]] = value
    return edit


def _challenge(payload: dict[str, Any], proposer: str) -> dict[str, Any]:
    return next(c for c in payload["challenges"] if c["proposer"] == proposer)


# -- tampers -----------------------------------------------------------------------------------


def model_rewritten(b: Built) -> None:
    rewrite(b.root, {f"{ALICE}/model.safetensors": flipped(b.root, f"{ALICE}/model.safetensors")})


def model_changed(b: Built) -> None:
    commit_files(b.root, {f"{ALICE}/model.safetensors":
                          flipped(b.root, f"{ALICE}/model.safetensors")}, "new weights")


def model_never_committed(b: Built) -> None:
    rewrite(b.root, {f"{ALICE}/model.safetensors": None})


def labeler_escrow_rewritten(b: Built) -> None:
    rewrite(b.root, {f"{ALICE}/labeler.escrow": flipped(b.root, f"{ALICE}/labeler.escrow")})


def program_escrow_rewritten(b: Built) -> None:
    rewrite(b.root, {f"{SUB_BOB_ALICE}.escrow": flipped(b.root, f"{SUB_BOB_ALICE}.escrow", 3)})


def program_escrow_changed(b: Built) -> None:
    # a submission may be replaced until submit-by, so the change itself is no problem; only
    # the escrow no longer being the one its seal names is
    commit_files(b.root, {f"{SUB_BOB_ALICE}.escrow": flipped(b.root, f"{SUB_BOB_ALICE}.escrow")},
                 "new escrow")


def submission_deleted(b: Built) -> None:
    commit_files(b.root, {f"{SUB_BOB_ALICE}.toml": None, f"{SUB_BOB_ALICE}.escrow": None},
                 "withdraw")


def challenge_deleted(b: Built) -> None:
    commit_files(b.root, {f"{CAROL}/{n}": None
                          for n in ("challenge.toml", "labeler.escrow", "model.safetensors")},
                 "carol withdraws")


def challenge_never_committed(b: Built) -> None:
    rewrite(b.root, {f"{CAROL}/{n}": None
                     for n in ("challenge.toml", "labeler.escrow", "model.safetensors")})


def dataset_changed(b: Built) -> None:
    commit_files(b.root, {DATASET: flipped(b.root, DATASET)}, "data: other images")


def dataset_deleted(b: Built) -> None:
    commit_files(b.root, {DATASET: None}, "data: gone")


def stray_files(b: Built) -> None:
    commit_files(b.root, {"rounds/001/notes.toml": b"x = 1\n", "rounds/notes.txt": b"x\n",
                          "rounds/draft/round.toml": b"x = 1\n", "teams/notes.txt": b"x\n",
                          "teams/alice/extra.toml": b"x = 1\n",
                          "rounds/001/reveals/alice/labeler.md": b"x\n"}, "strays")


def entry_with_its_registration(b: Built, rnd: int = 1) -> None:
    """frank is registered in the same commit as a submission he signed: the entry did not
    come after his registration."""
    frank = keystore.generate("team-frank")
    reg = entries.signed({"team": {"name": "frank", "key": frank.public, "added": "x"}},
                         identity(b, "organizer").signing)
    files = {"teams/frank.toml": reg}
    for target in ("alice", "bob"):
        payload, _ = entries.parse((b.root / f"{SUB_BOB_ALICE}.toml").read_bytes(), "x")
        payload["submission"].update({"team": "frank", "target": target, "round": rnd})
        files[f"rounds/{rnd:03d}/submissions/frank/{target}.toml"] = entries.signed(
            payload, frank.signing)
    commit_files(b.root, files, "frank")


def _sha(path: Path) -> str:
    return seal.sha256_hex(path.read_bytes())


def retired_key_after_rotation(b: Built) -> None:
    old = identity(b, "team-bob")
    Runner().ok("-C", b.root, "team", "rotate", "bob")
    payload, _ = entries.parse((b.root / f"{SUB_BOB_ALICE}.toml").read_bytes(), "x")
    payload["submission"]["submitted"] = "2030-01-01T00:00:00Z"
    payload["submission"]["replaces"] = _sha(b.root / f"{SUB_BOB_ALICE}.toml")  # chain kept
    commit_files(b.root, {f"{SUB_BOB_ALICE}.toml": entries.signed(payload, old.signing)},
                 "bob re-signs with his retired key")


def new_key_after_rotation(b: Built) -> None:
    Runner().ok("-C", b.root, "team", "rotate", "bob")
    Runner().ok("-C", b.root, "submit", "--team", "bob", "--challenge", "alice",
                ledgers.PROGRAMS / "bob_for_alice.py")


def entry_after_removal(b: Built) -> None:
    dave = identity(b, "team-dave")
    Runner().ok("-C", b.root, "team", "remove", "dave")
    path = "rounds/001/submissions/dave/carol.toml"
    payload, _ = entries.parse((b.root / path).read_bytes(), path)
    payload["submission"]["submitted"] = "2030-01-01T00:00:00Z"
    payload["submission"]["replaces"] = _sha(b.root / path)  # chain kept: only the removal
    commit_files(b.root, {path: entries.signed(payload, dave.signing)}, "dave again")


def challenge_signature_rewritten(b: Built) -> None:
    path = f"{ALICE}/challenge.toml"
    rewrite(b.root, {path: (b.root / path).read_bytes().replace(b"grid:113x113", b"grid:113x114")})


def revealed_labeler_rewritten(b: Built) -> None:
    path = "rounds/001/reveals/alice/labeler.py"
    rewrite(b.root, {path: (b.root / path).read_bytes() + b"# edited\n"})


def revealed_program_changed(b: Built) -> None:
    path = "rounds/001/reveals/alice/bob.py"
    commit_files(b.root, {path: (b.root / path).read_bytes() + b"# edited\n"}, "edit")


def revealed_guess_never_committed(b: Built) -> None:
    rewrite(b.root, {"rounds/001/reveals/alice/carol.txt": None})


def tag_deleted(b: Built) -> None:
    git(b.root, "tag", "-d", layout.closed_tag(1))


def _results(edit: Callable[[dict[str, Any]], None]) -> ledgers.Tamper:
    def tamper(b: Built) -> None:
        rewrite(b.root, {RESULTS: resigned(b, RESULTS, edit, "closer")})
    return tamper


def _more_points(p: dict[str, Any]) -> None:
    p["points"]["alice"] = 11


def _bob_did_not_solve(p: dict[str, Any]) -> None:
    _challenge(p, "alice")["submissions"][0].update(agreement=0.5, score=0.5)


def _extra_submission(p: dict[str, Any]) -> None:
    _challenge(p, "bob")["submissions"].append({"team": "dave", "agreement": 0.0,
                                                "solved": False})


def _extra_challenge(p: dict[str, Any]) -> None:
    p["challenges"].append({"proposer": "dave", "solved_by": [], "submissions": [],
                            "points": {}})


def _fewer_teams(p: dict[str, Any]) -> None:
    p["teams"] = ["alice", "bob", "carol"]


def _threshold(value: float) -> Callable[[dict[str, Any]], None]:
    def edit(p: dict[str, Any]) -> None:
        p["rules"]["threshold"] = value
    return edit


def _no_domains(p: dict[str, Any]) -> None:
    """Results as a round closed before the rulebook had [domains] recorded them."""
    del p["rules"]["domains"]


def _unknown_kind(p: dict[str, Any]) -> None:
    """Without a replay an unknown kind is judged by the threshold (the points still follow);
    the replay sees the kind is not the ledger's (``test_replay_re_derives_the_results``)."""
    _challenge(p, "alice")["kind"] = "oracle"


def _kindless_model_beats_the_solver(p: dict[str, Any]) -> None:
    """alice's challenge as a round closed before kinds existed recorded it (no kind: a
    labeler), its model agreeing 0.998 with the labeler: bob's 0.995 no longer beats it, yet the
    points still say he solved it."""
    ch = _challenge(p, "alice")
    del ch["kind"]
    ch["model_agreement"] = ch["model_score"] = 0.998
    ch["submissions"][0].update(agreement=0.995, score=0.995)


def _agreement_alone(p: dict[str, Any]) -> None:
    """bob's agreement edited to 0.5 while the score that decides says 1.0."""
    _challenge(p, "alice")["submissions"][0]["agreement"] = 0.5


def _lower_domain_caps(p: dict[str, Any]) -> None:
    """Recorded caps under which alice's and bob's grids (25,538 numbers each) are void."""
    p["rules"]["domains"]["max_elements"] = 20000


def _garbled_then_restored(data: Callable[[Built], bytes]) -> ledgers.Tamper:
    """bob's submission overwritten in one commit (by ``data``) and restored in the next: the
    tree ends as it was, only the history holds the broken chain."""
    def tamper(b: Built) -> None:
        path = f"{SUB_BOB_ALICE}.toml"
        original = (b.root / path).read_bytes()
        commit_files(b.root, {path: data(b)}, "overwrite")
        commit_files(b.root, {path: original}, "restore")
    return tamper


def _signed_without_submission(b: Built) -> bytes:
    return entries.signed({"note": {"text": "no submission here"}},
                          identity(b, "team-bob").signing)


def _type_changed_and_back(path: str) -> ledgers.Tamper:
    """``path`` made a symbolic link in one commit and a regular file again in the next."""
    def tamper(b: Built) -> None:
        blob = git(b.root, "rev-parse", f"HEAD:{path}")
        link = subprocess.run(["git", "-C", str(b.root), "hash-object", "-w", "--stdin"],
                              input=b"/proc/kmsg", capture_output=True,
                              check=True).stdout.decode().strip()
        for mode, sha in (("120000", link), ("100644", blob)):
            git(b.root, "update-index", "--cacheinfo", f"{mode},{sha},{path}")
            git(b.root, "commit", "-q", "-m", f"{path} as {mode}")
        git(b.root, "reset", "-q", "--hard")
    return tamper


def results_changed_after_close(b: Built) -> None:
    commit_files(b.root, {RESULTS: resigned(b, RESULTS, _more_points, "closer")}, "more points")


def stray_after_close(b: Built) -> None:
    commit_files(b.root, {"rounds/001/notes.txt": b"x\n"}, "notes")


def closer_reveal_never_committed(b: Built) -> None:
    rewrite(b.root, {"rounds/001/reveals/bob/labeler.toml": None,
                     "rounds/001/reveals/bob/labeler.py": None})


def rulebook_changed_after_close(b: Built) -> None:
    rules = (b.root / layout.RULES).read_text().replace("threshold = 0.99", "threshold = 0.9")
    commit_files(b.root, {layout.RULES: rules.encode()}, "rules: lower threshold for round 2")


def sealed_file_renamed(b: Built) -> None:
    git(b.root, "mv", f"{ALICE}/labeler.escrow", f"{ALICE}/old.escrow")
    git(b.root, "commit", "-q", "-m", "rename")


def removal_deleted_then_entry(b: Built) -> None:
    """dave's removal is deleted again: a sealed file deleted, but dave is a member again, so
    his later entry is his to sign."""
    dave = identity(b, "team-dave")
    Runner().ok("-C", b.root, "team", "remove", "dave")
    commit_files(b.root, {"teams/dave/removed.toml": None}, "undo")
    path = "rounds/001/submissions/dave/carol.toml"
    payload, _ = entries.parse((b.root / path).read_bytes(), path)
    payload["submission"]["submitted"] = "2030-01-01T00:00:00Z"
    payload["submission"]["replaces"] = _sha(b.root / path)  # chain kept: only the deletion
    commit_files(b.root, {path: entries.signed(payload, dave.signing)}, "dave again")


def _challenge_meta(edit: Callable[[dict[str, Any]], None]) -> ledgers.Tamper:
    def tamper(b: Built) -> None:
        path = f"{ALICE}/challenge.toml"
        rewrite(b.root, {path: resigned(b, path, lambda p: edit(p["challenge"]), "team-alice")})
    return tamper


def _drop_model_and_seed(meta: dict[str, Any]) -> None:
    del meta["model"], meta["seed"]


def _other_model(meta: dict[str, Any]) -> None:
    meta["model"] = "weights.safetensors"


def challenge_resigned_with_retired_key(b: Built) -> None:
    old = identity(b, "team-alice")
    Runner().ok("-C", b.root, "team", "rotate", "alice")
    path = f"{ALICE}/challenge.toml"
    payload, _ = entries.parse((b.root / path).read_bytes(), path)
    payload["challenge"]["proposed"] = "2030-01-01T00:00:00Z"
    commit_files(b.root, {path: entries.signed(payload, old.signing)}, "alice re-signs")


def reveal_after_removal(b: Built) -> None:
    from dixit.league import checks

    dave = identity(b, "team-dave")
    Runner().ok("-C", b.root, "team", "remove", "dave")
    state = st.load(Ledger(b.root).snapshot())
    salt, payload = keystore.load_secret(state.info.id, 1, "dave", "carol")
    commit_files(b.root, checks.reveal_files(state.rounds[1], "dave", "carol", salt, payload,
                                             "team", dave.signing), "dave reveals")


def _no_teams(p: dict[str, Any]) -> None:
    del p["teams"]


def _no_challenges(p: dict[str, Any]) -> None:
    del p["challenges"]


def _no_submissions(p: dict[str, Any]) -> None:
    del _challenge(p, "alice")["submissions"]


def _no_rules(p: dict[str, Any]) -> None:
    del p["rules"]


def _void(p: dict[str, Any]) -> None:
    """alice's challenge void, and the points to match: nobody scores from it."""
    _challenge(p, "alice")["void"] = "labeler failed"
    p["points"].update({"alice": 6, "bob": 4})


def _errored(p: dict[str, Any]) -> None:
    """bob's program for alice agreed fully but errored: no solve, and the points to match."""
    _challenge(p, "alice")["submissions"][0]["error"] = "timed out"
    p["points"].update({"alice": 6, "bob": 4})


@dataclass(frozen=True)
class Case:
    name: str
    base: str
    tamper: ledgers.Tamper | None
    problems: list[str]


def _c(name: str, base: str, tamper: ledgers.Tamper | None, *problems: str) -> Case:
    return Case(name, base, tamper, list(problems))


MODEL = f"{ALICE}/model.safetensors"
CHANGED = "sealed file changed after it was committed"
DELETED = "sealed file deleted after it was committed"
AFTER_CLOSE = "written after round 001 was closed in commit C"
POINTS_OFF = f"{RESULTS}: points do not follow from the recorded agreements under the rulebook"

CASES = [
    _c("pristine open round", OPEN, None),
    _c("pristine revealed round", REVEALED, None),
    _c("pristine closed round, a team added and one removed since", CLOSED, None),
    # -- open round: each content check on its own (history rewritten) and with the history
    _c("model rewritten in history", OPEN, model_rewritten,
       f"{MODEL}: does not match the model hash in its seal"),
    _c("model changed in a new commit", OPEN, model_changed,
       f"{MODEL} (commit C): {CHANGED}", f"{MODEL}: does not match the model hash in its seal"),
    _c("model never committed", OPEN, model_never_committed,
       f"{MODEL}: does not match the model hash in its seal"),
    _c("labeler escrow rewritten in history", OPEN, labeler_escrow_rewritten,
       f"{ALICE}/labeler.escrow: does not match its seal"),
    _c("program escrow rewritten in history", OPEN, program_escrow_rewritten,
       f"{SUB_BOB_ALICE}.escrow: does not match its seal"),
    _c("program escrow changed in a new commit", OPEN, program_escrow_changed,
       f"{SUB_BOB_ALICE}.escrow: does not match its seal"),
    _c("submission deleted", OPEN, submission_deleted,
       f"{SUB_BOB_ALICE}.escrow (commit C): a sealed submission was deleted",
       f"{SUB_BOB_ALICE}.toml (commit C): a sealed submission was deleted"),
    _c("challenge deleted", OPEN, challenge_deleted,
       f"{CAROL}/challenge.toml (commit C): {DELETED}",
       f"{CAROL}/labeler.escrow (commit C): {DELETED}",
       f"{CAROL}/model.safetensors (commit C): {DELETED}",
       "rounds/001/submissions/alice/carol.toml: submission to a challenge that does not exist",
       "rounds/001/submissions/dave/carol.toml: submission to a challenge that does not exist"),
    _c("challenge never committed", OPEN, challenge_never_committed,
       "rounds/001/submissions/alice/carol.toml: submission to a challenge that does not exist",
       "rounds/001/submissions/dave/carol.toml: submission to a challenge that does not exist"),
    _c("dataset changed after the challenge was sealed", OPEN, dataset_changed,
       f"{CAROL}/challenge.toml: domain data changed since the challenge was sealed"),
    _c("dataset deleted", OPEN, dataset_deleted,
       f"{CAROL}: dataset {DATASET} not found under ROOT"),
    _c("stray files", OPEN, stray_files,
       "teams/alice/extra.toml: unexpected file in the team registry",
       "teams/notes.txt: unexpected file in the team registry",
       "rounds/001/notes.toml: unexpected file in the round ledger",
       "rounds/001/reveals/alice/labeler.md: unexpected file in the round ledger",
       "rounds/draft/round.toml: unexpected file in the round ledger",
       "rounds/notes.txt: unexpected file in the round ledger"),
    _c("entries in the same commit as their team's registration", OPEN,
       entry_with_its_registration,
       "rounds/001/submissions/frank/alice.toml (commit C): written before team 'frank' was "
       "registered",
       "rounds/001/submissions/frank/bob.toml (commit C): written before team 'frank' was "
       "registered"),
    _c("entry signed with a retired key after the rotation", OPEN, retired_key_after_rotation,
       f"{SUB_BOB_ALICE}.toml (commit C): not signed with the key registered for 'bob' at that "
       "time (a retired or foreign key)"),
    _c("entry signed with the new key after the rotation", OPEN, new_key_after_rotation),
    _c("entry signed after its team was removed", OPEN, entry_after_removal,
       "rounds/001/submissions/dave/carol.toml (commit C): written after team 'dave' was "
       "removed (commit C)"),
    _c("signed entry rewritten in history", OPEN, challenge_signature_rewritten,
       f"{ALICE}/challenge.toml: signature does not match the entry's content"),
    # -- revealed, still open
    _c("revealed labeler rewritten in history", REVEALED, revealed_labeler_rewritten,
       "rounds/001/reveals/alice/labeler: alice's labeler: revealed content does not match its "
       "seal"),
    _c("revealed program changed in a new commit", REVEALED, revealed_program_changed,
       f"rounds/001/reveals/alice/bob.py (commit C): {CHANGED}",
       "rounds/001/reveals/alice/bob: alice's program for bob: revealed content does not match "
       "its seal"),
    _c("revealed guess never committed", REVEALED, revealed_guess_never_committed,
       "rounds/001/reveals/alice/carol: alice's program for carol: reveal file "
       "rounds/001/reveals/alice/carol.txt is missing"),
    # -- closed
    _c("tag deleted", CLOSED, tag_deleted, "round 1: closed but not tagged round-001-closed"),
    _c("results re-signed with other points", CLOSED, _results(_more_points),
       f"{RESULTS}: points do not follow from the recorded agreements under the rulebook"),
    _c("results re-signed with an agreement below the threshold", CLOSED,
       _results(_bob_did_not_solve),
       f"{RESULTS}: points do not follow from the recorded agreements under the rulebook"),
    _c("results score a submission the ledger lacks", CLOSED, _results(_extra_submission),
       f"{RESULTS}: scored submissions [('dave', 'bob')] differ from the ledger's"),
    _c("results score a challenge the ledger lacks", CLOSED, _results(_extra_challenge),
       f"{RESULTS}: scored challenges differ from the ledger's"),
    _c("results score other teams", CLOSED, _results(_fewer_teams),
       f"{RESULTS}: the teams scored differ from the registry",
       f"{RESULTS}: points do not follow from the recorded agreements under the rulebook"),
    _c("results record invalid rules", CLOSED, _results(_threshold(2.0)),
       f"{RESULTS}: recorded rules are invalid: rules.toml: solve.threshold must be in (0, 1]"),
    _c("results record rules under which the points differ", CLOSED, _results(_threshold(0.9)),
       f"{RESULTS}: points do not follow from the recorded agreements under the rulebook"),
    _c("results record equivalent rules", CLOSED, _results(_threshold(0.95))),
    _c("rulebook changed after the close", CLOSED, rulebook_changed_after_close),
    # the round now counts as closed by the later commit, when erin had joined and dave had
    # left: the results no longer name the round's teams and entries either
    _c("results changed after the close", CLOSED, results_changed_after_close,
       f"{RESULTS} (commit C): {AFTER_CLOSE}", f"{RESULTS} (commit C): {CHANGED}",
       f"{RESULTS}: scored submissions [('dave', 'carol')] differ from the ledger's",
       f"{RESULTS}: the teams scored differ from the registry",
       f"{RESULTS}: points do not follow from the recorded agreements under the rulebook"),
    _c("file added after the close", CLOSED, stray_after_close,
       f"rounds/001/notes.txt (commit C): {AFTER_CLOSE}",
       "rounds/001/notes.txt: unexpected file in the round ledger"),
    _c("closer's reveal never committed", CLOSED, closer_reveal_never_committed,
       "rounds/001/reveals/bob/labeler: not revealed (no reveal and no escrow)"),
    _c("sealed file renamed", OPEN, sealed_file_renamed,
       f"{ALICE}/labeler.escrow (commit C): {DELETED}",
       f"{ALICE}/old.escrow: unexpected file in the round ledger"),
    _c("removal deleted, then an entry of the team", OPEN, removal_deleted_then_entry,
       f"teams/dave/removed.toml (commit C): {DELETED}"),
    _c("challenge without model and seed fields", OPEN, _challenge_meta(_drop_model_and_seed)),
    _c("challenge naming another model file", OPEN, _challenge_meta(_other_model),
       f"{MODEL}: does not match the model hash in its seal"),
    _c("challenge re-signed with a retired key", OPEN, challenge_resigned_with_retired_key,
       f"{ALICE}/challenge.toml (commit C): {CHANGED}",
       f"{ALICE}/challenge.toml (commit C): not signed with the key registered for 'alice' at "
       "that time (a retired or foreign key)"),
    _c("team reveal after the team was removed", OPEN, reveal_after_removal,
       "rounds/001/reveals/dave/carol.toml (commit C): written after team 'dave' was removed "
       "(commit C)"),
    _c("results without teams", CLOSED, _results(_no_teams),
       f"{RESULTS}: the teams scored differ from the registry", POINTS_OFF),
    _c("results without challenges", CLOSED, _results(_no_challenges),
       f"{RESULTS}: scored submissions [('alice', 'bob'), ('alice', 'carol'), ('bob', 'alice'), "
       "('carol', 'alice'), ('dave', 'carol')] differ from the ledger's",
       f"{RESULTS}: scored challenges differ from the ledger's", POINTS_OFF),
    _c("results without a challenge's submissions", CLOSED, _results(_no_submissions),
       f"{RESULTS}: scored submissions [('bob', 'alice'), ('carol', 'alice')] differ from the "
       "ledger's", POINTS_OFF),
    _c("results without rules", CLOSED, _results(_no_rules),
       f"{RESULTS}: recorded rules are invalid: rules.toml: solve.threshold must be a float, "
       "got None"),
    _c("results with a void challenge, points to match", CLOSED, _results(_void)),
    _c("results recorded before [domains] existed", CLOSED, _results(_no_domains)),
    _c("submission garbled in one commit, restored in the next", OPEN,
       _garbled_then_restored(lambda b: b"x = 1\n"),
       f"{SUB_BOB_ALICE}.toml (commit C): entry is unsigned",
       f"{SUB_BOB_ALICE}.toml (commit C): does not replace the submission now in the ledger (an "
       "older entry brought back?); a resubmission names the sha256 of the entry it replaces"),
    _c("submission replaced by a signed entry of nothing, then restored", OPEN,
       _garbled_then_restored(_signed_without_submission),
       f"{SUB_BOB_ALICE}.toml (commit C): does not replace the submission now in the ledger (an "
       "older entry brought back?); a resubmission names the sha256 of the entry it replaces",
       f"{SUB_BOB_ALICE}.toml (commit C): does not replace the submission now in the ledger (an "
       "older entry brought back?); a resubmission names the sha256 of the entry it replaces"),
    _c("sealed file made a link and back", OPEN, _type_changed_and_back(f"{ALICE}/labeler.escrow"),
       f"{ALICE}/labeler.escrow (commit C): sealed file turned into another file type after it "
       "was committed",
       f"{ALICE}/labeler.escrow (commit C): sealed file turned into another file type after it "
       "was committed"),
    _c("submission made a link and back", OPEN, _type_changed_and_back(f"{SUB_BOB_ALICE}.toml"),
       f"{SUB_BOB_ALICE}.toml (commit C): a sealed submission was turned into another file type",
       f"{SUB_BOB_ALICE}.toml (commit C): a sealed submission was turned into another file type"),
    _c("results naming an unknown kind", CLOSED, _results(_unknown_kind)),
    _c("results without a kind (a labeler) whose model beats the solver", CLOSED,
       _results(_kindless_model_beats_the_solver), POINTS_OFF),
    _c("results record lower domain caps", CLOSED, _results(_lower_domain_caps)),
    _c("results with an errored program, points to match", CLOSED, _results(_errored)),
    _c("results whose agreement alone says bob did not solve", CLOSED,
       _results(_agreement_alone),
       f"{RESULTS}: alice's challenge is judged by agreement, but a submission's score differs "
       "from its agreement"),
]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, dixit: Runner) -> dict[str, Built]:
    bases = ledgers.bases(tmp_path_factory, dixit)
    out = dict(bases)
    for case in CASES:
        if case.tamper is not None:
            out[case.name] = ledgers.derive(tmp_path_factory, "verify", bases[case.base],
                                            case.name, case.tamper)
    out["round 2 open, round 1 model rewritten"] = ledgers.derive(
        tmp_path_factory, "verify", bases[CLOSED], "round 2 open, round 1 model rewritten",
        _second_round)
    return out


def _second_round(b: Built) -> None:
    model_rewritten(b)
    Runner().ok("-C", b.root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
    entry_with_its_registration(b, 2)


def _problems(b: Built, **kw: Any) -> list[str]:
    rep = verify.verify(Ledger(b.root), replay=False, **kw)
    return [p.replace(str(b.root), "ROOT") for p in normalized(rep.problems)]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_verify_reports_exactly_what_was_tampered(case: Case, built: dict[str, Built]) -> None:
    b = built[case.name if case.tamper else case.base]
    assert _problems(b) == case.problems


@pytest.mark.parametrize(("base", "checked"), [
    (OPEN, {"signatures": 14, "commits": 15, "seals": 8, "reveals": 0}),
    (REVEALED, {"signatures": 17, "commits": 16, "seals": 8, "reveals": 3}),
    (CLOSED, {"signatures": 24, "commits": 19, "seals": 8, "reveals": 8,
              "rounds re-scored (no replay)": 1}),
])
def test_report_counts_what_it_checked(base: str, checked: dict[str, int],
                                       built: dict[str, Built]) -> None:
    """4 teams + tournament; a round: itself, its challenges, submissions, reveals, results."""
    rep = verify.verify(Ledger(built[base].root), replay=False)
    assert rep.as_dict() == {"ok": True, "commit": git(built[base].root, "rev-parse", "HEAD"),
                             "checked": checked, "problems": []}


def test_a_ledger_that_cannot_load_reports_only_that(built: dict[str, Built]) -> None:
    rep = verify.verify(Ledger(built["signed entry rewritten in history"].root), replay=False)
    assert rep.as_dict()["ok"] is False and rep.checked == {}
    assert len(rep.problems) == 1


def test_a_round_can_be_verified_alone(built: dict[str, Built]) -> None:
    b = built["round 2 open, round 1 model rewritten"]
    one = [f"{MODEL}: does not match the model hash in its seal"]
    two = [f"rounds/002/submissions/frank/{t}.toml (commit C): written before team 'frank' was "
           "registered" for t in ("alice", "bob")]
    two_round = [f"rounds/002/submissions/frank/{t}.toml: submission to a challenge that does "
                 "not exist" for t in ("alice", "bob")]
    assert _problems(b, round_no=1) == one
    assert _problems(b, round_no=2) == two + two_round
    assert _problems(b) == two + one + two_round
    rep = verify.verify(Ledger(b.root), replay=False, round_no=2)
    # the tournament, 6 teams and round 2 with 2 submissions (no seal: nothing to check them
    # against); every commit of the history
    assert rep.checked == {"signatures": 10, "commits": 21, "reveals": 0}


@pytest.mark.parametrize(("name", "problems"), [
    ("pristine closed round, a team added and one removed since", []),
    ("results re-signed with other points",
     [f"{RESULTS}: does not match a fresh re-score (points.alice: derived 10, committed 11)"]),
    ("results re-signed with an agreement below the threshold",
     [f"{RESULTS}: does not match a fresh re-score (challenges[0].submissions[0].agreement: "
      "derived 1.0, committed 0.5)"]),
    # the required agreement is recorded and follows from the rules: 0.95 is not equivalent
    ("results record equivalent rules",
     [f"{RESULTS}: does not match a fresh re-score (challenges[0].required: derived 0.95, "
      "committed 0.99)"]),
    ("results naming an unknown kind",
     [f"{RESULTS}: does not match a fresh re-score (challenges[0].kind: derived 'labeler', "
      "committed 'oracle')"]),
])
def test_replay_re_derives_the_results(name: str, problems: list[str],
                                       built: dict[str, Built]) -> None:
    b = built[name] if name in built else built[CLOSED]
    rep = verify.verify(Ledger(b.root), replay=True)
    assert normalized(rep.problems) == problems
    assert rep.checked.get("rounds re-scored") == 1 and "rounds re-scored (no replay)" \
        not in rep.checked


def test_problems_name_the_commits(built: dict[str, Built]) -> None:
    b = built["entry signed after its team was removed"]
    head, removal = git(b.root, "rev-parse", "HEAD"), git(b.root, "rev-parse", "HEAD~1")
    rep = verify.verify(Ledger(b.root), replay=False)
    assert rep.problems == [f"rounds/001/submissions/dave/carol.toml (commit {head[:10]}): "
                            f"written after team 'dave' was removed (commit {removal[:10]})"]


def test_replay_reports_progress(built: dict[str, Built]) -> None:
    calls: list[tuple[int, int]] = []
    rep = verify.verify(Ledger(built[CLOSED].root), progress=lambda d, t: calls.append((d, t)))
    assert rep.problems == [] and rep.checked["rounds re-scored"] == 1
    total = calls[-1][1]
    assert total > 0 and calls == [(i, total) for i in range(1, total + 1)]


def test_cli_exit_code_and_message(built: dict[str, Built], dixit: Runner) -> None:
    ok = dixit("-C", built[OPEN].root, "verify", "--no-replay")
    assert ok.code == 0
    bad = dixit("-C", built["model rewritten in history"].root, "verify", "--no-replay")
    assert bad.code == 1
    assert "does not match the model hash in its seal" in bad.out + bad.err


def test_replay_re_derives_with_the_recorded_domain_caps(built: dict[str, Built]) -> None:
    """A record without [domains] (an older round) is re-scored with the ceilings and matches;
    recorded caps lower than the ledger's rulebook are the ones the re-score applies."""
    old = verify.verify(Ledger(built["results recorded before [domains] existed"].root))
    assert old.problems == [] and old.checked["rounds re-scored"] == 1
    rep = verify.verify(Ledger(built["results record lower domain caps"].root))
    assert len(rep.problems) == 1
    assert rep.problems[0].startswith(
        f"{RESULTS}: does not match a fresh re-score (challenges[0].model_accuracy: derived "
        "None, committed "), rep.problems


def test_replay_needs_the_isolation_the_rules_ask_unless_allowed_weaker(
        built: dict[str, Built], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIXIT_SANDBOX_DISABLE", "landlock")  # 'partial' here; 'full' required
    b = built[CLOSED]
    rep = verify.verify(Ledger(b.root))
    assert rep.problems == [
        "round 1: cannot replay: sandbox isolation here is 'partial' but 'full' is required "
        "(missing: Landlock (file system confinement)); pass --allow-weak-isolation to run "
        "anyway"]
    weak = verify.verify(Ledger(b.root), allow_weak=True)
    assert weak.problems == [] and weak.checked["rounds re-scored"] == 1


# -- the second tournament: a key rotated mid-round, a sampled emulate challenge ----------------

ROT_ALICE = "rounds/001/challenges/alice"
ROT_BOB_REVEALS = "rounds/001/reveals/bob"


def _retired_key(b: Built, name: str) -> keystore.Identity:
    """The key ``name`` held before its rotation (the key store keeps it, renamed)."""
    (path,) = (b.keys / _info(b).id).glob(f"{name}.key.retired-*")
    return keystore.parse_line(path.read_text(), name, str(path))


def _bob_reveals(retired: bool) -> ledgers.Tamper:
    """After submit-by, bob reveals his labeler himself, signed with his retired or his
    current key (an escrow tournament still lets a team reveal its own)."""
    def tamper(b: Built) -> None:
        from dixit.league import checks

        key = _retired_key(b, "team-bob") if retired else identity(b, "team-bob")
        state = st.load(Ledger(b.root).snapshot())
        salt, payload = keystore.load_secret(state.info.id, 1, "bob", layout.SECRET_ITEM)
        commit_files(b.root, checks.reveal_files(state.rounds[1], "bob", layout.SECRET_ITEM,
                                                 salt, payload, "team", key.signing),
                     "bob reveals")
    return tamper


def _reseeded(b: Built) -> None:
    """alice's sampled challenge claims another seed: another public sample than sealed."""
    path = f"{ROT_ALICE}/challenge.toml"
    rewrite(b.root, {path: resigned(b, path, _set("challenge", "seed", value=ROT_SEED + 1),
                                    "team-alice")})


def _seedless(b: Built) -> None:
    """alice's sampled challenge without a seed field, sealed with the seed that means: 0."""
    from dixit.data import domains

    path = f"{ROT_ALICE}/challenge.toml"

    def edit(p: dict[str, Any]) -> None:
        del p["challenge"]["seed"]
        p["seal"]["domain_id"] = domains.parse(p["challenge"]["domain"], seed=0).identity()
    rewrite(b.root, {path: resigned(b, path, edit, "team-alice")})


def _emulate_solved(p: dict[str, Any]) -> None:
    """bob's program agrees 0.995 with alice's emulate model, which agrees 0.999 with its
    labeler: an emulate challenge is judged by the threshold alone (the model is its
    reference), so bob solves it; the points to match."""
    ch = _challenge(p, "alice")
    ch["model_agreement"] = ch["model_score"] = 0.999
    ch["submissions"][0].update(agreement=0.995, score=0.995)
    p["points"].update({"alice": 7, "bob": 7})


def _model_beats_the_solver(p: dict[str, Any]) -> None:
    """bob's labeler model agrees 0.998 with his labeler: alice's 0.995 does not beat it
    (required 0.999), yet the points still say she solved it."""
    ch = _challenge(p, "bob")
    ch["model_agreement"] = ch["model_score"] = 0.998
    ch["submissions"][0].update(agreement=0.995, score=0.995)


def _draw_seed(p: dict[str, Any]) -> None:
    _challenge(p, "alice")["draw_seed"] += 1


ROT_CASES = [
    _c("rotated: pristine open round", ROT_OPEN, None),
    # the closer's reveals of bob's secret and program are the closer's, not bob's: neither
    # his retired nor his current key signed them
    _c("rotated: pristine closed round", ROT_CLOSED, None),
    _c("rotated: bob reveals with his retired key", ROT_OPEN, _bob_reveals(retired=True),
       f"{ROT_BOB_REVEALS}/labeler.toml (commit C): not signed with the key registered for "
       "'bob' at that time (a retired or foreign key)"),
    _c("rotated: bob reveals with his current key", ROT_OPEN, _bob_reveals(retired=False)),
    _c("rotated: sampled challenge re-seeded", ROT_OPEN, _reseeded,
       f"{ROT_ALICE}/challenge.toml: domain data changed since the challenge was sealed"),
    _c("rotated: sampled challenge without a seed field (sealed with seed 0)", ROT_OPEN,
       _seedless),
    _c("rotated: emulate solved by the threshold alone", ROT_CLOSED, _results(_emulate_solved)),
    _c("rotated: a model that beats the solver", ROT_CLOSED, _results(_model_beats_the_solver),
       POINTS_OFF),
    _c("rotated: results with another draw seed", ROT_CLOSED, _results(_draw_seed)),
]


@pytest.fixture(scope="module")
def rot_built(tmp_path_factory: pytest.TempPathFactory, dixit: Runner) -> dict[str, Built]:
    bases = ledgers.rotated(tmp_path_factory, dixit)
    out = dict(bases)
    for case in ROT_CASES:
        if case.tamper is not None:
            out[case.name] = ledgers.derive(tmp_path_factory, "verify", bases[case.base],
                                            case.name, case.tamper)
    return out


@pytest.mark.parametrize("case", ROT_CASES, ids=lambda c: c.name)
def test_verify_rotated_reports_exactly_what_was_tampered(case: Case,
                                                          rot_built: dict[str, Built]) -> None:
    b = rot_built[case.name if case.tamper else case.base]
    assert _problems(b) == case.problems


def test_rotated_ledger_is_what_it_claims(rot_built: dict[str, Built]) -> None:
    """The fixture holds what these cases rely on (so a change to it cannot void them)."""
    state = st.load(Ledger(rot_built[ROT_CLOSED].root).snapshot())
    rnd = state.rounds[1]
    assert len(state.teams["bob"].history) == 2
    assert rnd.challenges["alice"].kind == "emulate"
    assert rnd.challenges["alice"].meta["seed"] == ROT_SEED
    assert rnd.reveals[("bob", layout.SECRET_ITEM)].by == "closer"
    assert rnd.reveals[("bob", "alice")].by == "closer"
    assert rnd.challenges["bob"].domain == f"dataset:{ledgers.ROT_DATASET}"


def test_replay_re_derives_a_rotated_round(rot_built: dict[str, Built]) -> None:
    """The re-score reads bob's dataset from the ledger's root, draws alice's inputs with the
    seed the revealed salts give, and matches; a recorded draw seed that is not that one does
    not."""
    rep = verify.verify(Ledger(rot_built[ROT_CLOSED].root))
    assert rep.problems == [] and rep.checked["rounds re-scored"] == 1
    b = rot_built["rotated: results with another draw seed"]
    committed = _challenge(entries.parse((b.root / RESULTS).read_bytes(), RESULTS)[0],
                           "alice")["draw_seed"]
    rep = verify.verify(Ledger(b.root))
    assert rep.problems == [f"{RESULTS}: does not match a fresh re-score (challenges[0]."
                            f"draw_seed: derived {committed - 1}, committed {committed})"]


# -- the pure parts ----------------------------------------------------------------------------


@pytest.mark.parametrize(("a", "b", "expected"), [
    ({"a": 1, "b": 2}, {"a": 1, "b": 3}, "b: derived 2, committed 3"),
    ({"b": 1, "a": 1}, {"b": 2, "a": 2}, "a: derived 1, committed 2"),  # sorted: a first
    ({"x": {"y": [1, 2]}}, {"x": {"y": [1, 3]}}, "x.y[1]: derived 2, committed 3"),
    ({"x": [{"p": 1}]}, {"x": [{"p": 2}]}, "x[0].p: derived 1, committed 2"),
    ({"a": 1}, {}, "a: derived 1, committed None"),
    ({}, {"a": 1}, "a: derived None, committed 1"),
    ([1], [1, 2], ": derived [1], committed [1, 2]"),  # lengths differ: the lists themselves
    (1, 2, ": derived 1, committed 2"),
    ({"a": 1}, [1], ": derived {'a': 1}, committed [1]"),
])
def test_first_difference_names_the_path(a: Any, b: Any, expected: str) -> None:
    assert verify._first_difference(a, b) == expected


def test_first_difference_under_a_path() -> None:
    assert verify._first_difference({"k": 1}, {"k": 2}, "top") == "top.k: derived 1, committed 2"
    assert verify._first_difference([0, 1], [0, 2], "top") == "top[1]: derived 1, committed 2"


COMMITS = [f"{i}" * 40 for i in range(8)]
TEAM = st.Team("t", ("key0", "key1"), "added")
TIMELINE = verify.Timeline(COMMITS, {"teams/t.toml": 1, "teams/t/key-001.toml": 3,
                                     "teams/t/removed.toml": 5})


@pytest.mark.parametrize(("ordinal", "expected"), [
    (0, (None, "written before team 't' was registered")),
    (1, (None, "written before team 't' was registered")),   # the registration's own commit
    (2, ("key0", "")),
    (3, ("key0", "")),          # the rotation's own commit: the old key still signs
    (4, ("key1", "")),
    (5, ("key1", "")),          # the removal's own commit
    (6, (None, "written after team 't' was removed (commit 5555555555)")),
])
def test_key_at_each_commit(ordinal: int, expected: tuple[str | None, str]) -> None:
    assert verify.key_at(TEAM, TIMELINE, ordinal) == expected


def test_key_at_without_removal_or_rotation() -> None:
    tl = verify.Timeline(COMMITS, {"teams/t.toml": 0})
    assert verify.key_at(replace(TEAM, history=("k",)), tl, 7) == ("k", "")
    assert verify.key_at(TEAM, tl, 7) == ("key0", "")  # a rotation not in the history yet


def test_timeline() -> None:
    assert TIMELINE.at("teams/t.toml") == 1 and TIMELINE.at("nope") is None
    assert TIMELINE.before("teams/t.toml", 2) and not TIMELINE.before("teams/t.toml", 1)
    assert not TIMELINE.before("nope", 7)
    assert TIMELINE.where("teams/t.toml") == "teams/t.toml (commit 1111111111)"
    assert TIMELINE.where("nope") == "nope"


def test_report_count() -> None:
    rep = verify.Report(commit="c")
    rep.count("x")
    rep.count("x", 2)
    rep.count("y", 0)
    assert rep.checked == {"x": 3, "y": 0}
    assert rep.as_dict() == {"ok": True, "commit": "c", "checked": {"x": 3, "y": 0},
                             "problems": []}
    rep.problems.append("p")
    assert rep.as_dict()["ok"] is False


def test_an_empty_repository_has_no_tournament(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main", str(tmp_path)], check=True)
    rep = verify.verify(Ledger(tmp_path), replay=False)
    assert rep.problems == ["this repository has no committed tournament.toml"]
    assert rep.commit is None and rep.checked == {}
