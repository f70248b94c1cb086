"""Hints, hint pictures and answer formats, and the keys challenge.toml may hold.

Real leagues through the CLI (a bare remote, team clones, real keys): a challenge folder with
hints is proposed, its hints land in the signed entry and are shown by status, inspect and the
site; bad hints, unknown keys and forged entries are refused, each by its exact message.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from dixit.ledger import entries, keystore, state as st
from dixit.ledger.store import Ledger
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
ENTRY = "rounds/001/challenges/alice/challenge.toml"
IMAGE = "rounds/001/challenges/alice/hint-image-1.png"


def png(width: int = 4, height: int = 4, extra: bytes = b"") -> bytes:
    """A real PNG (red pixels), made here; ``extra`` pads it with a private chunk."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                               0, 0, 0))
            + (chunk(b"prVt", extra) if extra else b"")
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, dixit: Runner):
    """A league with round 1 open and alice's challenge (two hints and a picture) proposed."""
    base = tmp_path_factory.mktemp("hints")
    with scoped_env(base):
        league = make_league(base, dixit)
        dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
        (base / "hint.png").write_bytes(png())
        folder = base / "work" / "alice"
        dixit.ok("challenge", "new", folder, "--labeler", LABELER, *SMALL,
                 "--hint", "the ring is centred", "--hint", "its width is about 20",
                 "--hint-image", base / "hint.png")
        dixit.ok("-C", league.clone("alice"), "propose", "--team", "alice", folder)
        git(league.root, "pull", "-q")
        yield league, folder, base


def test_folder_records_hints_and_copies_the_picture(world) -> None:
    _league, folder, base = world
    text = (folder / "challenge.toml").read_text()
    assert 'hints = [ "the ring is centred", "its width is about 20",]' in text
    assert 'hint_images = [ "hint-image-1.png",]' in text
    assert (folder / "hint-image-1.png").read_bytes() == (base / "hint.png").read_bytes()


def test_proposal_signs_the_hints_and_commits_the_picture(world) -> None:
    league, _folder, base = world
    state = st.load(Ledger(league.root).snapshot())
    meta = state.rounds[1].challenges["alice"].meta
    assert meta["hints"] == ["the ring is centred", "its width is about 20"]
    data = (base / "hint.png").read_bytes()
    import hashlib

    assert meta["hint_images"] == [{"file": "hint-image-1.png", "bytes": len(data),
                                    "sha256": hashlib.sha256(data).hexdigest()}]
    assert state.snapshot.read(IMAGE) == data
    assert "answer_format" not in meta


def test_status_and_inspect_show_the_hints(world, dixit: Runner) -> None:
    league, folder, _base = world
    status = dixit.ok("-C", league.root, "status", "--json").json()
    ch = status["round"]["challenges"][0]
    assert ch["hints"] == ["the ring is centred", "its width is about 20"]
    assert ch["hint_images"] == [IMAGE]
    assert ch["answer_format"] is None
    shown = dixit.ok("-C", league.root, "status").out
    assert "alice: hint: the ring is centred" in shown
    assert f"alice: hint picture: {IMAGE}" in shown
    doc = dixit.ok("-C", league.root, "inspect", "alice", "--json").json()
    assert doc["hints"] == ch["hints"]
    assert doc["hint_images"] == [str(league.root / IMAGE)]
    local = dixit.ok("inspect", folder, "--json").json()
    assert local["hints"] == ch["hints"]
    assert local["hint_images"] == [str(folder / "hint-image-1.png")]
    assert "its width is about 20" in dixit.ok("-C", league.root, "inspect", "alice").out


def test_verify_checks_the_hint_picture(world, dixit: Runner, tmp_path: Path) -> None:
    league, _folder, _base = world
    assert dixit("-C", league.root, "verify", "--no-replay").code == 0
    # a picture changed behind the entry's back
    clone = tmp_path / "c"
    git(tmp_path, "clone", "-q", str(league.root), str(clone))
    (clone / IMAGE).write_bytes(png(5, 5))
    git(clone, "commit", "-qam", "another picture")
    rep = dixit("-C", clone, "verify", "--no-replay", "--json").json()
    assert f"{IMAGE}: the hint image does not match the hash in its challenge entry" \
        in rep["problems"]


# -- refused on the command line ------------------------------------------------------------------


@pytest.mark.parametrize(("args", "message"), [
    (["--hint", "two\nlines"], "hint 1 holds a control or unprintable character (U+000A); use "
     "one line of printable text"),
    (["--hint", "a\x1b[31mred"], "hint 1 holds a control or unprintable character (U+001B); use "
     "one line of printable text"),
    (["--hint", "C:\\path"], "hint 1 holds a backslash; write it without one"),
    (["--hint", "   "], "hint 1 is empty"),
    (["--hint", " padded"], "hint 1 starts or ends with spaces or holds runs of them"),
    (["--hint", "x" * 501], "hint 1 is 501 characters, over the limit of 500"),
    (["--hint", "h"] * 9, "at most 8 hints per challenge (got 9)"),
    (["--answer-format", "one word"], "--answer-format is only for --kind flag (this challenge "
     "is labeler: its solvers submit programs)"),
    (["--kind", "flag", "--flag", "secret", "--answer-format", "a\tb"], "the answer format "
     "holds a control or unprintable character (U+0009); use one line of printable text"),
    (["--kind", "flag", "--flag", "secret", "--answer-format", "x" * 201], "the answer format is "
     "201 characters, over the limit of 200"),
])
def test_bad_hints_are_refused_before_training(dixit: Runner, tmp_path: Path, args: list[str],
                                               message: str) -> None:
    res = dixit("challenge", "new", tmp_path / "out", "--labeler", LABELER, *SMALL, *args)
    assert (res.code, res.err.strip()) == (1, f"error: {message}")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("content", "message"), [
    (b"GIF89a not a png", "is not a PNG file (no PNG signature)"),
    (png()[:40], "is not a complete PNG file (no header or end chunk)"),
    (png(extra=b"x" * (512 * 1024)), None),
])
def test_a_hint_image_must_really_be_a_png_under_the_cap(dixit: Runner, tmp_path: Path,
                                                         content: bytes,
                                                         message: str | None) -> None:
    picture = tmp_path / "hint.png"
    picture.write_bytes(content)
    res = dixit("challenge", "new", tmp_path / "out", "--labeler", LABELER, *SMALL,
                "--hint-image", picture)
    if message is None:
        message = f"is {len(content):,} bytes, over the limit of 524,288"
    assert (res.code, res.err.strip()) == (1, f"error: hint image {picture} {message}")
    assert not (tmp_path / "out").exists()


def test_a_missing_hint_image_is_one_line(dixit: Runner, tmp_path: Path) -> None:
    res = dixit("challenge", "new", tmp_path / "out", "--labeler", LABELER, *SMALL,
                "--hint-image", tmp_path / "nope.png")
    assert (res.code, res.err.strip()) == (
        1, f"error: hint image {tmp_path / 'nope.png'} not found (or not a file)")


# -- challenge.toml: only known keys ------------------------------------------------------------


KNOWN = ("challenge.answer_format, challenge.claimed_accuracy, challenge.domain, "
         "challenge.heldout, challenge.hint_images, challenge.hints, challenge.imported_from, "
         "challenge.kind, "
         "challenge.labeler, challenge.metric, challenge.model, challenge.output, "
         "challenge.positive_rate, challenge.secret, challenge.seed, challenge.threshold, "
         "challenge.timed_hints, challenge.train_accuracy, challenge.train_frac")


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.replace("seed = 0\n", "seed = 0\nclaimed_acuracy = 0.5\n"),
     f"unknown key challenge.claimed_acuracy; known: {KNOWN}"),
    (lambda t: t.replace("seed = 0\n", "seed = 0\nzz = 1\nhint = \"x\"\n"),
     f"unknown keys challenge.hint, challenge.zz; known: {KNOWN}"),
    (lambda t: t + "\n[extras]\nnote = 1\n", "unknown table extras; known: challenge, model"),
    (lambda t: t.replace("hint_images = [ \"hint-image-1.png\",]\n", "hint_images = [ "
                         "\"../hint.png\",]\n"),
     "hint image 1 must be named hint-image-1.png (got '../hint.png')"),
    (lambda t: t.replace("\"its width is about 20\"", "\"tab\\there\""),
     "hint 2 holds a control or unprintable character (U+0009); use one line of printable "
     "text"),
])
def test_challenge_toml_is_refused_naming_what_is_wrong(world, dixit: Runner, tmp_path: Path,
                                                        edit, message: str) -> None:
    league, folder, _base = world
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(folder, copy)
    path = copy / "challenge.toml"
    path.write_text(edit(path.read_text()))
    bob = league.clone("bob")
    before = ledger_fingerprint(bob)
    res = dixit("-C", bob, "propose", "--team", "bob", copy)
    assert (res.code, res.err.strip()) == (1, f"error: {path}: {message}")
    assert ledger_fingerprint(bob) == before
    res = dixit("inspect", copy)
    assert (res.code, res.err.strip()) == (1, f"error: {path}: {message}")


# -- answer format ------------------------------------------------------------------------------


def test_a_flag_challenge_states_its_answer_format(tmp_path: Path, dixit: Runner,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    league = make_league(tmp_path, dixit, ("alice", "bob"))
    dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
    flag = tmp_path / "flag"
    dixit.ok("challenge", "new", flag, "--labeler", LABELER, *SMALL, "--kind", "flag",
             "--flag", "ring", "--answer-format", "one English word, lowercase")
    res = dixit.ok("-C", league.root, "propose", "--team", "alice", flag)
    assert "answer format" not in res.err
    status = dixit.ok("-C", league.root, "status", "--json").json()
    assert status["round"]["challenges"][0]["answer_format"] == "one English word, lowercase"
    assert "alice: answer format: one English word, lowercase" in \
        dixit.ok("-C", league.root, "status").out
    doc = dixit.ok("-C", league.root, "inspect", "alice", "--json").json()
    assert doc["answer_format"] == "one English word, lowercase"
    # one without: proposed with a warning
    plain = tmp_path / "plain"
    dixit.ok("challenge", "new", plain, "--labeler", LABELER, *SMALL, "--kind", "flag",
             "--flag", "ring")
    res = dixit.ok("-C", league.root, "propose", "--team", "bob", plain)
    assert "warning: a flag challenge should state its answer format publicly" in res.err
    # the site, after the close, escapes it
    monkeypatch.setenv("DIXIT_NOW", "+3h")
    dixit.ok("-C", league.root, "score")
    dixit.ok("-C", league.root, "report", "-o", tmp_path / "site", "--no-pictures")
    html = (tmp_path / "site" / "index.html").read_text()
    assert "<li>answer format: <em>one English word, lowercase</em></li>" in html


# -- pull requests ------------------------------------------------------------------------------


def _resign(league: League, clone: Path, path: str, change) -> None:
    """Change a team's entry in its clone and sign it again with the team's own key, as a
    hostile team could: the signature is right, the content is what is judged."""
    data = (clone / path).read_bytes()
    payload, _sig = entries.parse(data, path)
    change(payload)
    tid = st.read_info(Ledger(clone).snapshot()).id
    key = keystore.load(tid, "team-bob")
    (clone / path).write_bytes(entries.signed(payload, key.signing))


@pytest.fixture
def pr_league(tmp_path: Path, dixit: Runner) -> tuple[League, Path, Path]:
    """bob proposes a challenge with a picture in a clone that does not push (a pull request)."""
    league = make_league(tmp_path, dixit, ("alice", "bob"))
    dixit.ok("-C", league.root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
    (tmp_path / "hint.png").write_bytes(png())
    folder = tmp_path / "bobs"
    dixit.ok("challenge", "new", folder, "--labeler", LABELER, *SMALL, "--hint", "look left",
             "--hint-image", tmp_path / "hint.png")
    bob = league.clone("bob")
    git(bob, "remote", "rename", "origin", "upstream")
    git(bob, "pull", "-q", "upstream", "main")
    dixit.ok("-C", bob, "propose", "--team", "bob", folder)
    return league, bob, folder


BOB = "rounds/001/challenges/bob"


def test_validate_accepts_a_proposal_with_hints(pr_league, dixit: Runner) -> None:
    _league, bob, _folder = pr_league
    res = dixit("-C", bob, "validate", "--base", "upstream/main", "--json")
    assert res.code == 0, res.out


@pytest.mark.parametrize(("change", "problem"), [
    (lambda p: p["challenge"].update(note="hi"), f"{BOB}/challenge.toml: unknown challenge "
     "key(s) note; known: answer_format, claimed_accuracy, domain, heldout, hint_images, "
     "hints, kind, metric, model, output, proposed, round, seed, team, threshold, timed_hints, "
     "train_accuracy, train_frac"),
    (lambda p: p.update(extra={"x": 1}), f"{BOB}/challenge.toml: unknown table(s) extra; "
     "known: challenge, model, seal"),
    (lambda p: p["challenge"].update(hints=["\u202eevil"]), f"{BOB}/challenge.toml: hint 1 holds "
     "a control or unprintable character (U+202E); use one line of printable text"),
    (lambda p: p["challenge"].update(answer_format="x"), f"{BOB}/challenge.toml: an answer "
     "format is only for flag challenges (this one is labeler)"),
    (lambda p: p["challenge"]["hint_images"][0].update(file="../../x.png"),
     f"{BOB}/challenge.toml: hint image 1 must be a table of file = \"hint-image-1.png\", its "
     "sha256 and its bytes (at most 524,288)"),
])
def test_validate_refuses_a_proposal_with_bad_metadata(pr_league, dixit: Runner, change,
                                                       problem: str) -> None:
    league, bob, _folder = pr_league
    _resign(league, bob, f"{BOB}/challenge.toml", change)
    git(bob, "commit", "-qam", "amend", "--amend")
    res = dixit("-C", bob, "validate", "--base", "upstream/main", "--json")
    assert res.code == 1
    assert problem in res.json()["problems"], res.out


def test_validate_refuses_a_hint_picture_that_is_not_the_signed_one(pr_league,
                                                                   dixit: Runner) -> None:
    _league, bob, _folder = pr_league
    (bob / BOB / "hint-image-1.png").write_bytes(png(6, 6))
    git(bob, "commit", "-qam", "another picture", "--amend")
    res = dixit("-C", bob, "validate", "--base", "upstream/main", "--json")
    assert res.code == 1
    assert res.json()["problems"] == [f"{BOB}/hint-image-1.png: the hint image does not match "
                                      "the hash in its challenge entry"]
    (bob / BOB / "hint-image-1.png").write_bytes(b"<svg onload=alert(1)>")
    git(bob, "commit", "-qam", "not a picture", "--amend")
    res = dixit("-C", bob, "validate", "--base", "upstream/main", "--json")
    assert res.json()["problems"] == [f"{BOB}/hint-image-1.png: the hint image is not a PNG "
                                      "file (no PNG signature)"]
    git(bob, "rm", "-q", f"{BOB}/hint-image-1.png")
    git(bob, "commit", "-qm", "no picture", "--amend")
    res = dixit("-C", bob, "validate", "--base", "upstream/main", "--json")
    assert res.json()["problems"] == [f"{BOB}/challenge.toml: its hint image hint-image-1.png "
                                      "is missing"]
