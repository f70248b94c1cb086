"""Seals, signatures, escrow and signed entries: pure functions over bytes."""

from __future__ import annotations

import pytest

from dixit.errors import EntryError, SealError
from dixit.ledger import entries, keystore, protocol, seal

CTX = protocol.secret_context("tid", 1, "alice", "labeler", "dom", "00" * 32)
PAYLOAD = b"def label(x):\n    return x[:, 0] > 3\n"


def test_commitment_opens_only_with_exact_bytes_salt_and_context() -> None:
    table, salt, _ = protocol.make_seal(CTX, PAYLOAD, None)
    protocol.check_reveal(table, CTX, salt, PAYLOAD, "here")
    for i in range(len(PAYLOAD)):  # every flipped byte of the secret breaks the seal
        bad = bytearray(PAYLOAD)
        bad[i] ^= 0x20
        with pytest.raises(SealError, match="does not match"):
            protocol.check_reveal(table, CTX, salt, bytes(bad), "here")
    with pytest.raises(SealError):
        protocol.check_reveal(table, CTX, seal.new_salt(), PAYLOAD, "here")
    for key in CTX:
        other = {**CTX, key: "x" if isinstance(CTX[key], str) else 2}
        with pytest.raises(SealError):
            protocol.check_reveal(table, other, salt, PAYLOAD, "here")


def test_commitments_are_domain_separated_and_salted() -> None:
    salt = b"\x01" * 32
    assert seal.commit("labeler", {}, salt, PAYLOAD) != seal.commit("program", {}, salt, PAYLOAD)
    # length prefixes: moving a byte between fields changes the hash
    assert seal.commit("ab", {}, salt, b"c") != seal.commit("a", {}, salt, b"bc")
    t1, _, _ = protocol.make_seal(CTX, PAYLOAD, None)
    t2, _, _ = protocol.make_seal(CTX, PAYLOAD, None)
    assert t1["commitment"] != t2["commitment"]  # fresh salt: equal secrets look different


def test_escrow_round_trip_and_failures() -> None:
    closer = keystore.generate("closer")
    table, salt, blob = protocol.make_seal(CTX, PAYLOAD, closer.escrow_public)
    assert blob is not None and PAYLOAD not in blob
    assert table["escrow_sha256"] == seal.sha256_hex(blob)
    got_salt, got = seal.unpack_secret(seal.open_escrow(closer.escrow, CTX, blob))
    assert (got_salt, got) == (salt, PAYLOAD)
    with pytest.raises(SealError, match="cannot be opened"):
        seal.open_escrow(keystore.generate("closer").escrow, CTX, blob)
    with pytest.raises(SealError, match="cannot be opened"):  # replayed under another team
        seal.open_escrow(closer.escrow, {**CTX, "team": "bob"}, blob)
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    with pytest.raises(SealError):
        seal.open_escrow(closer.escrow, CTX, bytes(tampered))
    with pytest.raises(SealError, match="truncated"):
        seal.open_escrow(closer.escrow, CTX, blob[:20])


def test_signed_entries_detect_any_change() -> None:
    ident = keystore.generate("team-alice")
    data = entries.signed({"submission": {"team": "alice", "round": 1, "x": 0.5}}, ident.signing)
    assert entries.verify(data, "p.toml", ident.public)["submission"]["x"] == 0.5
    with pytest.raises(EntryError, match="not the one registered"):
        entries.verify(data, "p.toml", keystore.generate("other").public)
    forged = data.replace(b"alice", b"bobby")
    with pytest.raises(EntryError, match="signature does not match"):
        entries.verify(forged, "p.toml", ident.public)
    with pytest.raises(EntryError, match="canonical"):
        entries.verify(data.replace(b" = ", b"= "), "p.toml", ident.public)
    with pytest.raises(EntryError, match="unsigned"):
        entries.verify(b'[submission]\nteam = "alice"\n', "p.toml", ident.public)
    with pytest.raises(EntryError, match="not UTF-8"):
        entries.verify(b"\xff\xfe", "p.toml", ident.public)


@pytest.mark.parametrize("name", ["../x", "a/b", "", "A", "x" * 33, "a\nb", "-rf", "é"])
def test_team_names_are_validated(name: str) -> None:
    with pytest.raises(EntryError, match="invalid team name"):
        entries.check_name(name)


def test_key_store_refuses_unsafe_permissions(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DIXIT_HOME", str(tmp_path))
    ident = keystore.generate("team-a")
    path = keystore.save("tid", ident)
    assert path.stat().st_mode & 0o777 == 0o600
    assert keystore.load("tid", "team-a").public == ident.public
    path.chmod(0o644)
    with pytest.raises(Exception, match="chmod 600"):
        keystore.load("tid", "team-a")
    monkeypatch.setenv("DIXIT_CLOSER_KEY", keystore.generate("closer").line())
    assert keystore.load("tid", "closer", env_var="DIXIT_CLOSER_KEY").name == "closer"
    monkeypatch.setenv("DIXIT_CLOSER_KEY", "garbage")
    with pytest.raises(Exception, match="not a dixit key"):
        keystore.load("tid", "closer", env_var="DIXIT_CLOSER_KEY")
