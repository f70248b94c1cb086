"""How a commit writes its files: a few as loose objects from this process, many (a close's
hundreds of reveals) as one pack through one ``git fast-import``; either way every file reads
back byte for byte, the work tree and index match the commit, and ``git fsck`` is clean."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dixit.ledger import store
from dixit.ledger.store import Change, Ledger
from tests.conftest import git


def _objects(root: Path) -> dict[str, int]:
    out = git(root, "count-objects", "-v")
    return {k: int(v) for k, v in (line.split(": ") for line in out.splitlines())}


@pytest.mark.parametrize("n", [3, store.PACK_FROM + 20])
def test_a_commit_reads_back_and_many_files_are_one_pack(tmp_path: Path, n: int) -> None:
    ledger = store.init_repo(tmp_path / "ledger")
    first = {"keep.txt": b"kept\n", "gone.txt": b"to be removed\n"}
    ledger.append(lambda snap: Change(first, "first", "organizer"))
    before = _objects(ledger.root)
    files: dict[str, bytes | None] = {f"rounds/001/f{i:03d}.toml": os.urandom(64) + b"%d" % i
                                      for i in range(n)}
    files["gone.txt"] = None
    ledger.append(lambda snap: Change(files, "many", "closer"))
    snap = Ledger(ledger.root).snapshot()
    for path, data in files.items():
        assert snap.read(path) == data
        assert (ledger.root / path).exists() == (data is not None)
        if data is not None:
            assert (ledger.root / path).read_bytes() == data
    assert snap.read("keep.txt") == b"kept\n"
    assert git(ledger.root, "status", "--porcelain") == ""
    git(ledger.root, "fsck", "--strict")
    after = _objects(ledger.root)
    if n >= store.PACK_FROM:  # the blobs are in a pack, not loose files
        assert after["in-pack"] >= n and after["count"] - before["count"] < 5
    else:
        assert after["in-pack"] == 0 and after["count"] - before["count"] >= n
