"""The hostile corpus through `dixit score`: every attack contained and recorded as unsolved
with its reason, while honest programs in the same round are scored correctly."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import toml

from tests.conftest import EXAMPLES, Runner, git

CORPUS = sorted((Path(__file__).parent / "hostile").glob("*.py"))


def _expect(path: Path) -> str:
    m = re.match(r"# expect: (.+)\n", path.read_text())
    assert m, f"{path.name}: first line must be '# expect: ...'"
    return m.group(1).strip().lower()


def _team(path: Path) -> str:
    return "h-" + path.stem.replace("_", "-")[:30]


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 15


def test_hostile_corpus_through_score(tmp_path: Path, dixit: Runner,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "league"
    dixit.ok("init", root, "--name", "Hostile League", "--bare", tmp_path / "ledger.git")
    # Short limits keep the hangs in the corpus quick; the organizer commits the rulebook.
    rules_path = root / "scoring" / "rules.toml"
    rules = toml.loads(rules_path.read_text())
    # wall >> cpu so a CPU hog is caught by its CPU limit even on a loaded 2-core machine
    rules["replay"].update(cpu_seconds=2.0, wall_seconds=12.0, memory_mb=1024)
    rules_path.write_text(toml.dumps(rules))
    git(root, "commit", "-qam", "rules: short replay limits for the corpus")
    git(root, "push", "-q", "origin", "main")
    honest = ("alice", "bob", "carol")
    for t in (*honest, *(_team(p) for p in CORPUS)):
        dixit.ok("-C", root, "team", "add", t)
    dixit.ok("-C", root, "round", "open", "--propose-by", "+1h", "--submit-by", "+2h")
    out = tmp_path / "work" / "alice"
    dixit.ok("challenge", "new", out, "--labeler", EXAMPLES / "labelers" / "alice.py",
             "--domain", "grid:113x113", "--hidden", "16,16", "--steps", "40")
    dixit.ok("-C", root, "propose", "--team", "alice", out)
    dixit.ok("-C", root, "submit", "--team", "bob", "--challenge", "alice",
             EXAMPLES / "programs" / "bob_for_alice.py")
    dixit.ok("-C", root, "submit", "--team", "carol", "--challenge", "alice",
             EXAMPLES / "programs" / "carol_for_alice.py")

    # Secrets a program must never reach: the ledger it runs from, and the key store.
    home = Path(os.environ["DIXIT_HOME"])
    keyfile = next(home.glob("*/team-alice.key"))
    secret = root / "tournament.toml"
    progs = tmp_path / "corpus"
    progs.mkdir()
    for src in CORPUS:
        text = (src.read_text().replace("__SECRET_PATH__", str(keyfile))
                .replace("__SECRET_NAME__", secret.name).replace("__SECRET_DIR__", str(root))
                .replace("__KEYSTORE_PATH__", str(keyfile)))
        dst = progs / src.name
        dst.write_text(text)
        dixit.ok("-C", root, "submit", "--team", _team(src), "--challenge", "alice", dst)

    monkeypatch.chdir(root)  # the engine runs inside the ledger, as a closer's job would
    results = dixit.ok("-C", root, "score", "--force", "--json").json()
    (alice,) = results["challenges"]
    subs = {s["team"]: s for s in alice["submissions"]}
    assert subs["bob"]["solved"] and subs["bob"]["agreement"] == 1.0
    assert not subs["carol"]["solved"] and 0.85 < subs["carol"]["agreement"] < 0.95
    assert alice["void"] is None and alice["solved_by"] == ["bob"]
    failures = []
    for src in CORPUS:
        sub = subs[_team(src)]
        err = (sub["error"] or "").lower()
        if sub["solved"] or _expect(src) not in err or "\n" in err:
            failures.append(f"{src.name}: solved={sub['solved']} error={sub['error']!r}")
    assert failures == []
    assert results["points"]["alice"] == 4 and results["points"]["bob"] == 3
    # The round closed, and the ledger and key store are intact.
    assert keyfile.read_text().startswith("dixit-key-v1:")
    assert dixit.ok("-C", root, "verify", "--no-replay", "--json").json()["ok"]
