"""Seals, escrow, signed entries and the ledger's paths, table by table.

Fixed vectors pin ledger format 1: a commitment or an escrow made by an earlier release must
still open, so a change to how they are computed fails here even if it is self-consistent.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from dixit.errors import EntryError, SealError
from dixit.ledger import entries, keystore, layout, protocol, seal
from dixit.ledger.layout import Place

SALT = bytes(range(32))
CLOSER = keystore.Identity("closer", b"\x07" * 32)
ORG = keystore.Identity("organizer", b"\x08" * 32)

# -- fixed vectors (ledger format 1) ------------------------------------------------------------

COMMITMENT = "53b5ddc380e5723734fc512de2bcabd517adcca358e78d9d9e1165191cc718fb"
ESCROW_CONTEXT = {"purpose": "labeler", "round": 1}
ESCROW_BLOB = bytes.fromhex(
    "6f2d8c27c9d6bcc166a96eaf5c7a091f4cd98b1ee4006b2add5b51894a2e0c620d1fa31f05546aac1db61636"
    "563a20c47b2504d5167e2beae1713cdd583b797c120510e961446d187c9f6dc2c3c63ae33c7779d4a78c2e80"
    "90ce416c7fdee6dd72e2")


def test_commitment_vector() -> None:
    args = ("labeler", {"round": 1, "team": "alice"}, SALT, b"payload")
    assert seal.commit(*args) == COMMITMENT
    # the documented construction: every field length-prefixed (8 bytes, big-endian)
    h = hashlib.sha256()
    for part in (b"dixit/seal/v1", b"labeler", b'{"round":1,"team":"alice"}', SALT, b"payload"):
        h.update(len(part).to_bytes(8, "big") + part)
    assert h.hexdigest() == COMMITMENT
    assert seal.check_commitment(COMMITMENT, *args) is True


def test_escrow_vector() -> None:
    assert CLOSER.escrow_public == "X4gK4TjSQs/hEB2Y91kh7nei1pa57R7Ar4rJKMkwUQ8="
    secret = seal.open_escrow(CLOSER.escrow, ESCROW_CONTEXT, ESCROW_BLOB)
    assert seal.unpack_secret(secret) == (SALT, b"secret")


# -- seal.py -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "text"), [(b"", ""), (b"\x00\xff", "AP8="), (b"abc", "YWJj")])
def test_b64(data: bytes, text: str) -> None:
    assert seal.b64(data) == text
    assert seal.unb64(text) == data


@pytest.mark.parametrize("text", ["YWJ", "Y W J j", "YWJj!", "é", "YWJj\n"])
def test_unb64_refuses(text: str) -> None:
    with pytest.raises(EntryError) as err:
        seal.unb64(text)
    assert str(err.value) == "value is not valid base64"
    with pytest.raises(EntryError) as err:
        seal.unb64(text, "the salt")
    assert str(err.value) == "the salt is not valid base64"


def test_sha256_hex() -> None:
    assert seal.sha256_hex(b"") == \
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@pytest.mark.parametrize(("obj", "data"), [
    ({"b": 1, "a": [1, "é"]}, '{"a":[1,"é"],"b":1}'.encode()),
    ({"x": {"z": None, "y": True}}, b'{"x":{"y":true,"z":null}}'),
    ([], b"[]"),
    ({"n": 1.5}, b'{"n":1.5}'),
])
def test_canonical(obj: Any, data: bytes) -> None:
    assert seal.canonical(obj) == data


@pytest.mark.parametrize("obj", [{"x": float("nan")}, {"x": float("inf")}, {"x": b"bytes"},
                                 {"x": object()}, {1: 2, "1": 3}])
def test_canonical_refuses(obj: Any) -> None:
    with pytest.raises(EntryError, match=r"^entry cannot be canonicalized: "):
        seal.canonical(obj)


CTX = {"round": 1, "team": "alice"}
BASE = ("labeler", CTX, SALT, b"payload")


@pytest.mark.parametrize(("name", "args"), [
    ("purpose", ("program", CTX, SALT, b"payload")),
    ("context value", ("labeler", {**CTX, "round": 2}, SALT, b"payload")),
    ("context key", ("labeler", {"round": 1, "teams": "alice"}, SALT, b"payload")),
    ("context empty", ("labeler", {}, SALT, b"payload")),
    ("salt", ("labeler", CTX, b"\x01" + SALT[1:], b"payload")),
    ("salt length", ("labeler", CTX, SALT[:31], b"payload")),
    ("payload", ("labeler", CTX, SALT, b"payloaD")),
    ("payload empty", ("labeler", CTX, SALT, b"")),
    ("byte moved from payload to salt", ("labeler", CTX, SALT + b"p", b"ayload")),
])
def test_every_input_changes_the_commitment(name: str, args: tuple[Any, ...]) -> None:
    assert seal.commit(*args) != COMMITMENT
    assert seal.check_commitment(COMMITMENT, *args) is False


def test_check_commitment_needs_the_whole_hex() -> None:
    assert seal.check_commitment(COMMITMENT.upper(), *BASE) is False
    assert seal.check_commitment(COMMITMENT[:-1], *BASE) is False
    assert seal.check_commitment("", *BASE) is False


def test_new_salt() -> None:
    salts = {seal.new_salt() for _ in range(4)}
    assert len(salts) == 4 and {len(s) for s in salts} == {seal.SALT_BYTES} == {32}


def test_keys_and_signatures() -> None:
    key = ORG.signing
    text = seal.public_key_text(key)
    assert text == seal.public_key_text(key.public_key()) == ORG.public
    assert len(seal.unb64(text)) == 32
    pub = seal.load_public_key(text)
    payload = {"b": [1, 2], "a": "é"}
    block = seal.sign(key, payload)
    assert set(block) == {"key", "sig"} and block["key"] == text
    pub.verify(seal.unb64(block["sig"]), seal.canonical(payload))  # Ed25519 over canonical JSON
    assert seal.verify_signature(payload, block, text) is None


@pytest.mark.parametrize(("text", "message"), [
    ("AAAA", "public key must be 32 bytes of Ed25519"),
    (seal.b64(b"\x00" * 33), "public key must be 32 bytes of Ed25519"),
    ("not base64!", "public key is not valid base64"),
])
def test_load_public_key_refuses(text: str, message: str) -> None:
    with pytest.raises(EntryError) as err:
        seal.load_public_key(text)
    assert str(err.value) == message


UNSIGNED = "entry is unsigned (no [signature] with key and sig)"
OTHER_KEY = "entry is signed by a key that is not the one registered"
BAD_SIG = "signature does not match the entry's content"


def _sig_cases() -> list[tuple[str, Any, Any, str]]:
    payload = {"team": {"name": "alice"}}
    good = seal.sign(ORG.signing, payload)
    other = keystore.Identity("x", b"\x09" * 32)
    return [
        ("not a table", payload, "sig", UNSIGNED),
        ("no sig", payload, {"key": good["key"]}, UNSIGNED),
        ("no key", payload, {"sig": good["sig"]}, UNSIGNED),
        ("empty", payload, {}, UNSIGNED),
        ("another key", payload, seal.sign(other.signing, payload), OTHER_KEY),
        ("another key's signature under this key", payload,
         {"key": good["key"], "sig": seal.sign(other.signing, payload)["sig"]}, BAD_SIG),
        ("payload changed", {"team": {"name": "alicf"}}, good, BAD_SIG),
        ("payload grew", {**payload, "x": 1}, good, BAD_SIG),
        ("sig not base64", payload, {"key": good["key"], "sig": "!!"},
         "signature is not valid base64"),
    ]


@pytest.mark.parametrize(("name", "payload", "signature", "message"), _sig_cases(),
                         ids=[c[0] for c in _sig_cases()])
def test_verify_signature_refuses(name: str, payload: Any, signature: Any,
                                  message: str) -> None:
    with pytest.raises(EntryError) as err:
        seal.verify_signature(payload, signature, ORG.public)
    assert str(err.value) == message


def test_escrow_round_trip_and_layout() -> None:
    blob = seal.escrow(CLOSER.escrow_public, ESCROW_CONTEXT, b"abc")
    assert len(blob) == 32 + 12 + 3 + 16       # eph_pub | nonce | ciphertext with its tag
    assert seal.open_escrow(CLOSER.escrow, ESCROW_CONTEXT, blob) == b"abc"
    again = seal.escrow(CLOSER.escrow_public, ESCROW_CONTEXT, b"abc")
    assert again[:32] != blob[:32] and again[32:44] != blob[32:44]  # fresh key and nonce
    empty = seal.escrow(CLOSER.escrow_public, ESCROW_CONTEXT, b"")
    assert len(empty) == 60 and seal.open_escrow(CLOSER.escrow, ESCROW_CONTEXT, empty) == b""
    assert seal.x25519_public_text(CLOSER.escrow) == CLOSER.escrow_public


@pytest.mark.parametrize(("name", "change"), [
    ("context", lambda ctx, blob: ({**ctx, "round": 2}, blob)),
    ("context key added", lambda ctx, blob: ({**ctx, "x": 0}, blob)),
    ("ephemeral key", lambda ctx, blob: (ctx, bytes([blob[0] ^ 1]) + blob[1:])),
    ("nonce", lambda ctx, blob: (ctx, blob[:40] + bytes([blob[40] ^ 1]) + blob[41:])),
    ("ciphertext", lambda ctx, blob: (ctx, blob[:50] + bytes([blob[50] ^ 1]) + blob[51:])),
    ("tag", lambda ctx, blob: (ctx, blob[:-1] + bytes([blob[-1] ^ 1]))),
    ("cut", lambda ctx, blob: (ctx, blob[:-1])),
])
def test_altered_escrow_does_not_open(name: str, change: Any) -> None:
    ctx, blob = change(ESCROW_CONTEXT, ESCROW_BLOB)
    with pytest.raises(SealError) as err:
        seal.open_escrow(CLOSER.escrow, ctx, blob)
    assert str(err.value) == "escrow cannot be opened: wrong closer key or altered blob"


def test_escrow_for_another_closer_does_not_open() -> None:
    with pytest.raises(SealError, match="wrong closer key"):
        seal.open_escrow(ORG.escrow, ESCROW_CONTEXT, ESCROW_BLOB)


@pytest.mark.parametrize("size", [0, 31, 32, 44, 59])
def test_truncated_escrow(size: int) -> None:
    with pytest.raises(SealError) as err:
        seal.open_escrow(CLOSER.escrow, ESCROW_CONTEXT, ESCROW_BLOB[:size])
    assert str(err.value) == "escrow blob is truncated"


@pytest.mark.parametrize(("key", "exc", "message"), [
    (seal.b64(b"\x00" * 31), SealError, "closer escrow key must be 32 bytes of X25519"),
    (seal.b64(b"\x00" * 33), SealError, "closer escrow key must be 32 bytes of X25519"),
    ("??", EntryError, "closer escrow key is not valid base64"),
])
def test_escrow_refuses_a_bad_closer_key(key: str, exc: type[Exception], message: str) -> None:
    with pytest.raises(exc) as err:
        seal.escrow(key, ESCROW_CONTEXT, b"x")
    assert str(err.value) == message


@pytest.mark.parametrize(("secret", "parts"), [
    (SALT + b"x", (SALT, b"x")),
    (SALT, (SALT, b"")),
])
def test_pack_and_unpack(secret: bytes, parts: tuple[bytes, bytes]) -> None:
    assert seal.unpack_secret(secret) == parts
    assert seal.pack_secret(*parts) == secret


def test_unpack_truncated() -> None:
    with pytest.raises(SealError) as err:
        seal.unpack_secret(SALT[:31])
    assert str(err.value) == "escrowed secret is truncated"


# -- protocol.py -------------------------------------------------------------------------------

SECRET_CTX = {"purpose": "labeler", "tournament": "tid", "round": 1, "team": "alice",
              "kind": "flag", "domain": "dom", "model_sha256": "ab" * 32}
PROGRAM_CTX = {"purpose": "program", "tournament": "tid", "round": 2, "team": "bob",
               "target": "alice", "challenge": "cd" * 32}


def test_contexts() -> None:
    got = protocol.secret_context("tid", 1, "alice", "flag", "dom", "ab" * 32)
    assert got == SECRET_CTX
    assert protocol.program_context("tid", 2, "bob", "alice", "cd" * 32) == PROGRAM_CTX


@pytest.mark.parametrize("context", [SECRET_CTX, PROGRAM_CTX], ids=["secret", "program"])
def test_make_seal(context: dict[str, Any]) -> None:
    table, salt, blob = protocol.make_seal(context, b"payload", None)
    assert blob is None
    assert table == {"commitment": seal.commit(context["purpose"], context, salt, b"payload"),
                     "scheme": "dixit/seal/v1", "payload_bytes": 7}
    assert len(salt) == 32
    assert protocol.make_seal(context, b"payload", "")[2] is None  # no escrow key: no escrow
    table, salt, blob = protocol.make_seal(context, b"payload", CLOSER.escrow_public)
    assert blob is not None
    assert table == {"commitment": seal.commit(context["purpose"], context, salt, b"payload"),
                     "scheme": "dixit/seal/v1", "payload_bytes": 7,
                     "escrow_sha256": seal.sha256_hex(blob)}
    assert seal.open_escrow(CLOSER.escrow, context, blob) == salt + b"payload"
    protocol.check_reveal(table, context, salt, b"payload", "here")


@pytest.mark.parametrize("key", sorted(SECRET_CTX))
def test_every_field_of_the_secret_context_is_sealed(key: str) -> None:
    table, salt, _ = protocol.make_seal(SECRET_CTX, b"payload", None)
    value = SECRET_CTX[key]
    other = {**SECRET_CTX, key: value + 1 if isinstance(value, int) else value + "x"}
    with pytest.raises(SealError) as err:
        protocol.check_reveal(table, other, salt, b"payload", "where")
    assert str(err.value) == "where: revealed content does not match its seal"


@pytest.mark.parametrize("key", sorted(PROGRAM_CTX))
def test_every_field_of_the_program_context_is_sealed(key: str) -> None:
    table, salt, _ = protocol.make_seal(PROGRAM_CTX, b"payload", None)
    value = PROGRAM_CTX[key]
    other = {**PROGRAM_CTX, key: value + 1 if isinstance(value, int) else value + "x"}
    with pytest.raises(SealError, match=r"^where: revealed content does not match its seal$"):
        protocol.check_reveal(table, other, salt, b"payload", "where")


def test_wrong_purpose_and_tampered_reveals() -> None:
    table, salt, _ = protocol.make_seal(SECRET_CTX, b"payload", None)
    # the same context with the other purpose label: a labeler seal never opens as a program
    as_program = {**SECRET_CTX, "purpose": "program"}
    for ctx, s, payload, tbl in [
        (as_program, salt, b"payload", table),
        (SECRET_CTX, SALT, b"payload", table),
        (SECRET_CTX, salt, b"payload ", table),
        (SECRET_CTX, salt, b"payload", {}),
        (SECRET_CTX, salt, b"payload", {**table, "commitment": table["commitment"][::-1]}),
    ]:
        with pytest.raises(SealError, match=r"^w: revealed content does not match its seal$"):
            protocol.check_reveal(tbl, ctx, s, payload, "w")
    assert protocol.check_reveal(table, SECRET_CTX, salt, b"payload", "w") is None


# -- entries.py --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "0", "a-b_c", "x" * 32, "team-7", "0-"])
def test_valid_names(name: str) -> None:
    assert entries.check_name(name) == name


@pytest.mark.parametrize(("name", "shown"), [
    ("", "''"), ("-a", "'-a'"), ("_a", "'_a'"), ("A", "'A'"), ("a b", "'a b'"),
    ("x" * 33, repr("x" * 33)), ("x" * 41, repr("x" * 40 + "...")), ("é", "'é'"),
    ("a/b", "'a/b'"), ("a.b", "'a.b'"),
])
def test_invalid_names(name: str, shown: str) -> None:
    with pytest.raises(EntryError) as err:
        entries.check_name(name)
    assert str(err.value) == (f"invalid team name {shown}: use 1-32 lowercase letters, digits, "
                              "'-' or '_', starting with a letter or digit")


def test_invalid_name_shown_whole_up_to_40_characters() -> None:
    with pytest.raises(EntryError, match="^invalid team name '" + "X" * 40 + "': use"):
        entries.check_name("X" * 40)


def test_invalid_name_of_another_kind() -> None:
    with pytest.raises(EntryError) as err:
        entries.check_name(5, "challenge (team name)")  # type: ignore[arg-type]
    assert str(err.value).startswith("invalid challenge (team name) 5: use 1-32")
    with pytest.raises(EntryError, match=r"^invalid challenge 'X'"):
        entries.check_name("X", "challenge")


def test_render_and_normalize() -> None:
    payload = {"b": {"y": 1, "x": [{"d": 2, "c": 1}]}, "a": "s", "n": None}
    assert entries.render(payload) == b'a = "s"\n\n[b]\ny = 1\n[[b.x]]\nc = 1\nd = 2\n\n'
    assert entries.normalize(payload) == {"a": "s", "b": {"y": 1, "x": [{"c": 1, "d": 2}]}}


def test_signed_is_canonical_and_deterministic() -> None:
    payload = {"submission": {"team": "alice", "round": 1, "none": None}}
    data = entries.signed(payload, ORG.signing)
    assert data == entries.signed(payload, ORG.signing)
    doc, sig = entries.parse(data, "p.toml")
    assert doc == {"submission": {"team": "alice", "round": 1}}  # None dropped before signing
    assert sig == seal.sign(ORG.signing, doc)
    assert entries.verify(data, "p.toml", ORG.public) == doc
    with pytest.raises(EntryError) as err:
        entries.signed({"signature": {}, "x": 1}, ORG.signing)
    assert str(err.value) == "payload already carries a signature"


def _signed(payload: dict[str, Any]) -> bytes:
    return entries.signed(payload, ORG.signing)


@pytest.mark.parametrize(("data", "message"), [
    (b"\xff\xfe", "p.toml: not UTF-8 text"),
    (b'[x]\ny = "a"\n', "p.toml: entry is unsigned"),
    (b'signature = "x"\n', "p.toml: entry is unsigned"),
    (b"signature = 1\n", "p.toml: entry is unsigned"),
    (_signed({"x": {"y": 1}}).replace(b"y = 1", b"y =  1"),
     "p.toml: file is not in canonical form (edited by hand?)"),
    (_signed({"x": {"y": 1}}) + b"\n", "p.toml: file is not in canonical form (edited by hand?)"),
    (b"x" * ((1 << 20) + 1), "p.toml: entry is larger than 1048576 bytes"),
])
def test_parse_refuses(data: bytes, message: str) -> None:
    with pytest.raises(EntryError) as err:
        entries.parse(data, "p.toml")
    assert str(err.value) == message


def test_parse_size_limit_is_inclusive() -> None:
    with pytest.raises(EntryError) as err:
        entries.parse(b"#" * (1 << 20), "p.toml")  # exactly the limit: read (a comment)
    assert str(err.value) == "p.toml: entry is unsigned"


def test_parse_invalid_toml() -> None:
    with pytest.raises(EntryError) as err:
        entries.parse(b"[x\n", "p.toml")
    assert str(err.value).startswith("p.toml: not valid TOML (") and str(err.value)[-1] == ")"


def test_verify_names_the_file() -> None:
    for data, message in [(b"\xff", "p.toml: not UTF-8 text"),
                          (b"x = 1\n", "p.toml: entry is unsigned")]:
        with pytest.raises(EntryError) as err:
            entries.verify(data, "p.toml", ORG.public)
        assert str(err.value) == message
    data = _signed({"x": {"y": 1}})
    with pytest.raises(EntryError) as err:
        entries.verify(data, "p.toml", CLOSER.public)
    assert str(err.value) == "p.toml: entry is signed by a key that is not the one registered"
    forged = data.replace(b"y = 1", b"y = 2")
    with pytest.raises(EntryError) as err:
        entries.verify(forged, "p.toml", ORG.public)
    assert str(err.value) == "p.toml: signature does not match the entry's content"


@pytest.mark.parametrize(("table", "key", "kind", "value"), [
    ({"k": "s"}, "k", str, "s"),
    ({"k": 0}, "k", int, 0),
    ({"k": ""}, "k", str, ""),
    ({"k": 1.5}, "k", (int, float), 1.5),
    ({"k": 2}, "k", (int, float), 2),
    ({"k": True}, "k", bool, True),
    ({"k": False}, "k", (bool, int), False),
])
def test_field(table: dict[str, Any], key: str, kind: Any, value: Any) -> None:
    assert entries.field(table, key, kind, "p") == value


@pytest.mark.parametrize(("table", "kind", "names"), [
    ({}, str, "str"),
    ({"k": None}, str, "str"),
    ({"k": 1}, str, "str"),
    ({"k": True}, int, "int"),          # a bool is not an int here
    ({"k": False}, (int, float), "int/float"),
    ({"k": "1"}, (int, float), "int/float"),
    ("not a table", str, "str"),
    (None, str, "str"),
])
def test_field_refuses(table: Any, kind: Any, names: str) -> None:
    with pytest.raises(EntryError) as err:
        entries.field(table, "k", kind, "p")
    assert str(err.value) == f"p: field 'k' is missing or not a {names}"


# -- layout.py ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "expected"), [  # built inside the test, under a mutant
    (lambda: layout.round_dir(1), "rounds/001"),
    (lambda: layout.round_dir(12), "rounds/012"),
    (lambda: layout.round_dir(1000), "rounds/1000"),
    (lambda: layout.round_entry(3), "rounds/003/round.toml"),
    (lambda: layout.results_path(3), "rounds/003/results.toml"),
    (lambda: layout.closed_tag(7), "round-007-closed"),
    (lambda: layout.challenge_dir(2, "bob"), "rounds/002/challenges/bob"),
    (lambda: layout.challenge_entry(2, "bob"), "rounds/002/challenges/bob/challenge.toml"),
    (lambda: layout.submission_entry(2, "bob", "alice"), "rounds/002/submissions/bob/alice.toml"),
    (lambda: layout.reveal_dir(2, "bob"), "rounds/002/reveals/bob"),
    (lambda: layout.reveal_entry(2, "bob", "labeler"), "rounds/002/reveals/bob/labeler.toml"),
    (lambda: layout.escrow_path(2, "bob", "labeler"), "rounds/002/challenges/bob/labeler.escrow"),
    (lambda: layout.escrow_path(2, "bob", "alice"), "rounds/002/submissions/bob/alice.escrow"),
    (lambda: layout.registration_path("bob"), "teams/bob.toml"),
    (lambda: layout.rotation_path("bob", 2), "teams/bob/key-002.toml"),
    (lambda: layout.removal_path("bob"), "teams/bob/removed.toml"),
])
def test_paths(path: Any, expected: str) -> None:
    assert path() == expected


@pytest.mark.parametrize(("path", "team"), [
    ("teams/bob.toml", "bob"),
    ("teams/bob/key-001.toml", "bob"),
    ("teams/bob/key-1234.toml", "bob"),
    ("teams/bob/removed.toml", "bob"),
    ("teams/bob/key-01.toml", None),
    ("teams/bob/other.toml", None),
    ("teams/README.md", None),
    ("teams/Bob.toml", None),
    ("teams/bob.txt", None),
    ("rounds/001/round.toml", None),
])
def test_registry_team(path: str, team: str | None) -> None:
    assert layout.registry_team(path) == team


@pytest.mark.parametrize(("path", "place", "entry"), [
    ("teams/bob.toml", Place("team", "organizer", team="bob", name="bob.toml"),
     "teams/bob.toml"),
    ("teams/bob/key-002.toml", Place("team", "organizer", team="bob", name="key-002.toml"),
     "teams/bob/key-002.toml"),
    ("rounds/003/round.toml", Place("round", "organizer", 3), "rounds/003/round.toml"),
    ("rounds/003/results.toml", Place("results", "closer", 3), "rounds/003/results.toml"),
    ("rounds/003/challenges/bob/model.safetensors",
     Place("challenge", "bob", 3, "bob", "model.safetensors"),
     "rounds/003/challenges/bob/challenge.toml"),
    ("rounds/003/challenges/bob/labeler.escrow",
     Place("challenge", "bob", 3, "bob", "labeler.escrow"),
     "rounds/003/challenges/bob/challenge.toml"),
    ("rounds/003/submissions/bob/alice.escrow",
     Place("submission", "bob", 3, "bob", "alice.escrow"),
     "rounds/003/submissions/bob/alice.toml"),
    ("rounds/003/reveals/bob/labeler.py", Place("reveal", "bob", 3, "bob", "labeler.py"),
     "rounds/003/reveals/bob/labeler.toml"),
    ("rounds/003/reveals/bob/alice.txt", Place("reveal", "bob", 3, "bob", "alice.txt"),
     "rounds/003/reveals/bob/alice.toml"),
    ("rounds/1234/round.toml", Place("round", "organizer", 1234), "rounds/1234/round.toml"),
])
def test_classify(path: str, place: Place, entry: str) -> None:
    assert layout.classify(path) == place
    assert place.entry(path) == entry


@pytest.mark.parametrize("path", [
    "rounds/01/round.toml", "rounds/001/notes.toml", "rounds/001/challenges/bob/x.py",
    "rounds/001/submissions/bob/alice.py", "rounds/001/reveals/bob/alice.md",
    "rounds/001/challenges/bob/sub/challenge.toml", "rounds/README.md", "teams/README.md",
    "scoring/rules.toml", "tournament.toml", "rounds/abc/round.toml",
])
def test_classify_refuses(path: str) -> None:
    assert layout.classify(path) is None
