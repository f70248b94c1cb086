"""Timed hints: sealed and escrowed at propose, released by the closer when due, verified.

A real league through the CLI (bare remote, team clones, real keys, the shifted clock of
``$DIXIT_NOW``): the text of a timed hint is never in the ledger, nor shown, before its time;
``dixit hints --due`` releases it as a closer-signed entry; ``dixit score`` releases what is
still due before it closes; ``verify`` checks each release against its seal and its time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from dixit.league import checks, hints as timed
from dixit.ledger import clock, entries, keystore, layout, seal, state as st
from dixit.ledger.store import Ledger
from tests import ledgers
from tests.conftest import (
    EXAMPLES,
    League,
    Runner,
    git,
    ledger_fingerprint,
    make_league,
    scoped_env,
)

LABELER = EXAMPLES / "labelers" / "alice.py"
SMALL = ("--domain", "grid:20x20", "--hidden", "8", "--steps", "5")
SECRET = "the ring is <b>centred</b> & thin"
LATER = "its radius is near 7"
ENTRY = "rounds/001/challenges/alice/challenge.toml"
RELEASE = "rounds/001/hints/alice/hint-1.toml"
ROOT = Path(__file__).resolve().parent.parent


# -- the folder -------------------------------------------------------------------------------


@pytest.mark.parametrize(("arg", "message"), [
    ("+3d", "--hint-at takes the time and the hint in one argument, e.g. --hint-at '+3d the "
     "boundary is a circle' (got '+3d')"),
    ("soon look left", "--hint-at 'soon': cannot read time 'soon': use ISO-8601 like "
     "2026-12-01T18:00Z or a relative time like +2d, +90m, +1w"),
    ("+1h two\x07bells", "a timed hint holds a control or unprintable character (U+0007); use "
     "one line of printable text"),
])
def test_bad_timed_hints_are_refused_before_training(dixit: Runner, tmp_path: Path, arg: str,
                                                     message: str) -> None:
    res = dixit("challenge", "new", tmp_path / "out", "--labeler", LABELER, *SMALL,
                "--hint-at", arg)
    assert (res.code, res.err.strip()) == (1, f"error: {message}")
    assert not (tmp_path / "out").exists()


def test_the_folder_keeps_the_time_as_written_and_inspect_never_shows_the_text(
        dixit: Runner, tmp_path: Path) -> None:
    folder = tmp_path / "c"
    dixit.ok("challenge", "new", folder, "--labeler", LABELER, *SMALL,
             "--hint-at", f"+1h {SECRET}", "--hint-at", "2030-01-02T03:04:05+01:00 absolute")
    text = (folder / "challenge.toml").read_text()
    assert 'at = "+1h"' in text and 'at = "2030-01-02T02:04:05Z"' in text
    res = dixit.ok("inspect", folder, "--json")
    assert res.json()["timed_hints"] == [
        {"index": 1, "at": "+1h", "status": "sealed at propose", "released": None,
         "text": None, "error": None},
        {"index": 2, "at": "2030-01-02T02:04:05Z", "status": "sealed at propose",
         "released": None, "text": None, "error": None}]
    shown = dixit.ok("inspect", folder).out
    assert "centred" not in shown and "absolute" not in shown
    assert "at +1h (sealed at propose; its text stays secret" in shown


# -- a league -----------------------------------------------------------------------------------


@pytest.fixture
def league(tmp_path: Path, dixit: Runner) -> tuple[League, Path]:
    league = make_league(tmp_path, dixit, ("alice", "bob"))
    dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
    folder = tmp_path / "c"
    dixit.ok("challenge", "new", folder, "--labeler", LABELER, *SMALL,
             "--hint", "public from the start", "--hint-at", f"+30m {SECRET}",
             "--hint-at", f"+90m {LATER}")
    return league, folder


def _everything(repo: Path) -> bytes:
    """Every blob of every commit of a repository."""
    objects = git(repo, "rev-list", "--objects", "--all").split("\n")
    shas = "\n".join(line.split()[0] for line in objects if line) + "\n"
    return subprocess.run(["git", "-C", str(repo), "cat-file", "--batch"], input=shas.encode(),
                          capture_output=True, check=True).stdout


def test_a_timed_hint_is_secret_until_due_then_released_and_verified(
        league, dixit: Runner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    league, folder = league
    root = league.root
    dixit.ok("-C", root, "propose", "--team", "alice", folder)
    state = st.load(Ledger(root).snapshot())
    timed = state.rounds[1].challenges["alice"].meta["timed_hints"]
    assert [sorted(h) for h in timed] == [sorted(checks.TIMED_HINT_KEYS)] * 2
    assert [h["payload_bytes"] for h in timed] == [len(SECRET), len(LATER)]
    assert SECRET.encode() not in _everything(root)  # sealed and escrowed, never in the clear
    for args in (["status"], ["inspect", "alice"], ["hints"]):
        shown = dixit.ok("-C", root, *args).out
        assert "centred" not in shown and "radius" not in shown, args
        assert f"alice: timed hint 1: due at {timed[0]['at']}" in shown or args[0] == "inspect"
    # nothing due yet: nothing written
    before = ledger_fingerprint(root)
    assert dixit.ok("-C", root, "hints", "--due").err.strip() == "no timed hint is due"
    assert ledger_fingerprint(root) == before

    monkeypatch.setenv("DIXIT_NOW", "+31m")
    res = dixit.ok("-C", root, "hints", "--due", "--json").json()
    assert [(r["team"], r["index"], r["at"], r["error"]) for r in res["released"]] == [
        ("alice", 1, timed[0]["at"], None)]
    assert dixit.ok("-C", root, "hints", "--due", "--json").json() == {"released": []}
    assert git(root, "log", "-1", "--format=%an %s") == "closer hints: release alice 1"
    state = st.load(Ledger(root).snapshot())
    rel = state.rounds[1].hints[("alice", 1)]
    assert (rel.at, rel.error) == (timed[0]["at"], None)
    assert clock.parse_iso(rel.released) >= clock.parse_iso(rel.at)
    assert state.snapshot.read(layout.hint_text(1, "alice", 1)) == SECRET.encode()
    status = dixit.ok("-C", root, "status", "--json").json()["round"]["challenges"][0]
    assert status["timed_hints"] == [
        {"index": 1, "at": timed[0]["at"], "status": "released", "released": rel.released,
         "text": SECRET, "error": None},
        {"index": 2, "at": timed[1]["at"], "status": "due", "released": None, "text": None,
         "error": None}]
    shown = dixit.ok("-C", root, "status").out
    assert f"alice: timed hint 1: released at {rel.released}: {SECRET}" in shown
    assert f"alice: timed hint 2: due at {timed[1]['at']}" in shown and "radius" not in shown
    doc = dixit.ok("-C", root, "inspect", "alice", "--json").json()
    assert doc["timed_hints"] == status["timed_hints"]
    rep = dixit("-C", root, "verify", "--no-replay", "--json").json()
    assert rep["ok"], rep["problems"]
    assert rep["checked"]["hints"] == 1

    # the close releases the hint still due first, then scores; the site shows both
    monkeypatch.setenv("DIXIT_NOW", "+3h")
    dixit.ok("-C", root, "score")
    subjects = git(root, "log", "-3", "--format=%s").splitlines()
    assert subjects[:2] == ["close: round 001 scored", "hints: release alice 2"]
    rep = dixit("-C", root, "verify", "--json").json()
    assert rep["ok"], rep["problems"]
    assert rep["checked"]["hints"] == 2
    dixit.ok("-C", root, "report", "-o", tmp_path / "site", "--no-pictures")
    html = (tmp_path / "site" / "index.html").read_text()
    assert "the ring is &lt;b&gt;centred&lt;/b&gt; &amp; thin" in html
    assert "<b>centred" not in html
    assert f"timed hint 1, due at {timed[0]['at']}, released at {rel.released}: " in html
    assert "<li>public from the start</li>" in html

    # a release taken out of the history: the closed round did not keep its promise
    copy = shutil.copytree(root, tmp_path / "copy", symlinks=True)
    ledgers.rewrite(copy, {RELEASE: None, layout.hint_text(1, "alice", 1): None})
    rep = dixit("-C", copy, "verify", "--no-replay", "--json").json()
    assert any(p.startswith(f"{RELEASE}: alice's timed hint 1, due at {timed[0]['at']}, was "
                            "never released before the round closed (") for p in rep["problems"])


def test_a_hint_due_after_submit_by_or_now_is_refused(league, dixit: Runner) -> None:
    league, folder = league
    path = folder / "challenge.toml"
    path.write_text(path.read_text().replace('"+90m"', '"+3h"'))
    before = ledger_fingerprint(league.root)
    res = dixit("-C", league.root, "propose", "--team", "alice", folder)
    submit_by = st.load(Ledger(league.root).snapshot()).rounds[1].submit_by
    assert res.code == 1
    last = res.err.strip().splitlines()[-1]
    assert last.startswith("error: timed hint 2 is due at ")
    assert last.endswith(f", not before the round's submit-by ({clock.iso(submit_by)}); a hint "
                         "must be released while teams still solve")
    assert ledger_fingerprint(league.root) == before
    path.write_text(path.read_text().replace('"+3h"', '"2020-01-01T00:00:00Z"'))
    res = dixit("-C", league.root, "propose", "--team", "alice", folder)
    last = res.err.strip().splitlines()[-1]
    assert last.startswith("error: timed hint 2 is due at 2020-01-01T00:00:00Z, which is not "
                           "after the proposal (")
    assert ledger_fingerprint(league.root) == before


def test_timed_hints_need_escrow(tmp_path: Path, dixit: Runner) -> None:
    league = make_league(tmp_path, dixit, ("alice", "bob"), escrow=False)
    dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
    folder = tmp_path / "c"
    dixit.ok("challenge", "new", folder, "--labeler", LABELER, *SMALL, "--hint-at", "+1m x")
    res = dixit("-C", league.root, "propose", "--team", "alice", folder)
    assert (res.code, res.err.strip().splitlines()[-1]) == (
        1, "error: timed hints need escrow, and this tournament runs without it (dixit init "
        "--no-escrow): the closer could not release them; publish the hint now with --hint "
        "instead")


# -- forged releases ------------------------------------------------------------------------------


def _release(root: Path, *, released: str, commit_now: str | None,
             text: bytes | None = None) -> None:
    """The closer's key signs a release of alice's hint 1 at ``released``, committed with the
    clock at ``commit_now`` (None: the real clock)."""
    state = st.load(Ledger(root).snapshot())
    closer = keystore.load(state.info.id, "closer")
    rnd = state.rounds[1]
    salt, payload = timed._open(state, rnd, "alice", 1, closer)
    files = checks.hint_release_files(rnd, "alice", 1, clock.parse_iso(released),
                                      closer.signing, salt=salt, payload=text or payload)
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data or b"")
        git(root, "add", path)
    env = {}
    if commit_now is not None:
        stamp = f"{int(clock.parse_iso(commit_now).timestamp())} +0000"
        env = {"GIT_COMMITTER_DATE": stamp, "GIT_AUTHOR_DATE": stamp}
    subprocess.run(["git", "-C", str(root), "-c", "user.name=c", "-c", "user.email=c@c",
                    "commit", "-qm", "hints: release alice 1"], check=True,
                   env={**os.environ, **env})


@pytest.mark.parametrize(("case", "problem"), [
    ("early", "released at {early}, before its time ({at})"),
    ("early-commit", "committed at {now}, before its time ({at})"),
    ("other-text", "the released hint: revealed content does not match its seal"),
])
def test_verify_catches_a_release_before_its_time_or_of_another_text(
        league, dixit: Runner, case: str, problem: str) -> None:
    league, folder = league
    root = league.root
    dixit.ok("-C", root, "propose", "--team", "alice", folder)
    at = st.load(Ledger(root).snapshot()).rounds[1].challenges["alice"].meta[
        "timed_hints"][0]["at"]
    early = clock.iso(clock.parse_iso(at) - timedelta(minutes=5))
    now = clock.iso(clock.now())
    if case == "early":
        _release(root, released=early, commit_now=at)
    elif case == "early-commit":
        _release(root, released=at, commit_now=None)
        now = clock.iso(clock.parse_iso(git(root, "log", "-1", "--format=%cI")))
    else:
        _release(root, released=at, commit_now=at, text=b"a made-up hint")
    rep = dixit("-C", root, "verify", "--no-replay", "--json").json()
    text = problem.format(early=early, at=at, now=now)
    assert [ledgers.COMMIT.sub("commit C", p) for p in rep["problems"]] == [
        f"{RELEASE} (commit C): {text}"]


# -- pull requests --------------------------------------------------------------------------------


def test_validate_refuses_hint_releases_and_bad_hint_escrows(league, dixit: Runner) -> None:
    league, folder = league
    bob = league.clone("alice")
    git(bob, "remote", "rename", "origin", "upstream")
    git(bob, "pull", "-q", "upstream", "main")
    dixit.ok("-C", bob, "propose", "--team", "alice", folder)
    assert dixit("-C", bob, "validate", "--base", "upstream/main").code == 0
    escrow = bob / "rounds/001/challenges/alice/hint-2.escrow"
    data = escrow.read_bytes()  # the last byte flipped: always another escrow
    escrow.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    git(bob, "commit", "-qam", "another escrow", "--amend")
    res = dixit("-C", bob, "validate", "--base", "upstream/main", "--json")
    assert res.json()["problems"] == [
        f"rounds/001/challenges/alice/hint-2.escrow: does not match the hash sealed in {ENTRY}"]
    git(bob, "reset", "-q", "--hard", "HEAD~1")
    # a team cannot release a hint itself: only the closer does
    (bob / "rounds/001/hints/alice").mkdir(parents=True)
    (bob / RELEASE).write_text("[hint]\n")
    git(bob, "add", RELEASE)
    git(bob, "commit", "-qm", "release my own hint")
    res = dixit("-C", bob, "validate", "--base", "upstream/main", "--json")
    assert f"{RELEASE}: timed hints are released by the closer (close-round workflow, `dixit " \
        "hints --due`), not by pull requests" in res.json()["problems"]


def test_the_close_round_workflow_releases_hints_before_it_scores() -> None:
    for where in (ROOT / ".github/workflows", ROOT / "dixit/league/templates/github/workflows"):
        doc = yaml.safe_load((where / "close-round.yml").read_text())
        run = next(s["run"] for s in doc["jobs"]["close"]["steps"]
                   if s.get("id") == "close")
        assert run.index("dixit hints --due") < run.index("dixit score --due")


def test_the_trust_ledgers_still_load(tmp_path_factory, dixit: Runner) -> None:
    """Ledgers made before hints existed load and verify as before (no hints, no turns)."""
    built = ledgers.bases(tmp_path_factory, dixit)[ledgers.CLOSED]
    with scoped_env(built.keys.parent):
        state = st.load(Ledger(built.root).snapshot())
    assert state.rounds[1].hints == {} and state.rounds[1].storytellers is None


def test_a_hint_whose_escrow_does_not_open_is_recorded_once_with_why(
        league, dixit: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    """A proposer can seal an escrow nobody can open (only it could make it so): the closer
    records the failure once, with the reason, and shows no text."""
    league, folder = league
    root = league.root
    dixit.ok("-C", root, "propose", "--team", "alice", folder)
    blob = b"\x01" * 120
    payload, _sig = entries.parse((root / ENTRY).read_bytes(), ENTRY)
    payload["challenge"]["timed_hints"][0]["escrow_sha256"] = seal.sha256_hex(blob)
    tid = st.read_info(Ledger(root).snapshot()).id
    (root / ENTRY).write_bytes(entries.signed(payload, keystore.load(tid, "team-alice").signing))
    (root / "rounds/001/challenges/alice/hint-1.escrow").write_bytes(blob)
    git(root, "commit", "-qam", "alice: an escrow nobody can open")
    git(root, "push", "-q", "origin", "main")
    monkeypatch.setenv("DIXIT_NOW", "+31m")
    res = dixit.ok("-C", root, "hints", "--due", "--json").json()["released"]
    why = "alice's timed hint 1: escrow cannot be opened: wrong closer key or altered blob"
    assert [(r["index"], r["error"]) for r in res] == [(1, why)]
    assert dixit.ok("-C", root, "hints", "--due", "--json").json() == {"released": []}
    shown = dixit.ok("-C", root, "status", "--json").json()["round"]["challenges"][0]
    assert shown["timed_hints"][0]["status"] == "failed"
    assert (shown["timed_hints"][0]["text"], shown["timed_hints"][0]["error"]) == (None, why)
    assert f"without text: {why}" in dixit.ok("-C", root, "status").out
    assert not (root / layout.hint_text(1, "alice", 1)).exists()


def test_validate_refuses_an_oversized_hint_escrow(league, dixit: Runner) -> None:
    league, folder = league
    alice = league.clone("alice")
    git(alice, "remote", "rename", "origin", "upstream")
    git(alice, "pull", "-q", "upstream", "main")
    dixit.ok("-C", alice, "propose", "--team", "alice", folder)
    (alice / "rounds/001/challenges/alice/hint-1.escrow").write_bytes(b"\x00" * 3000)
    git(alice, "commit", "-qam", "a big escrow", "--amend")
    res = dixit("-C", alice, "validate", "--base", "upstream/main", "--json")
    assert res.json()["problems"] == [
        "rounds/001/challenges/alice/hint-1.escrow: is larger than a timed hint's escrow can be "
        "(2,092 bytes)"]
