"""Commitments, signatures and escrow: pure functions over bytes, no files, no git.

- ``commit``: a salted, domain-separated SHA-256 commitment. Every field is length-prefixed so no
  two different field lists can hash the same, and the purpose label keeps a labeler seal from
  ever validating as a program seal.
- ``sign`` / ``verify_signature``: Ed25519 over canonical JSON (sorted keys, no spaces, UTF-8).
- ``escrow`` / ``open_escrow``: the secret encrypted to the closer's X25519 public key with a fresh
  ephemeral key, HKDF-SHA256 and ChaCha20-Poly1305; the entry's context is authenticated data,
  so an escrow blob cannot be replayed under another team, round or challenge.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from dixit.errors import EntryError, SealError

SEAL_VERSION = "dixit/seal/v1"
ESCROW_VERSION = b"dixit/escrow/v1"
SALT_BYTES = 32
ESCROW_OVERHEAD = 32 + 12 + 16  # an escrow blob: eph_pub | nonce | ciphertext with its tag


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str, what: str = "value") -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise EntryError(f"{what} is not valid base64") from None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical(obj: Any) -> bytes:
    """The exact bytes that are signed: sorted keys, no whitespace, UTF-8, no NaN."""
    try:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise EntryError(f"entry cannot be canonicalized: {exc}") from None


# -- commitments ----------------------------------------------------------------------------


def new_salt() -> bytes:
    return os.urandom(SALT_BYTES)


def commit(purpose: str, context: dict[str, Any], salt: bytes, payload: bytes) -> str:
    """Hex SHA-256 commitment to ``payload`` under ``purpose`` and ``context`` with ``salt``."""
    h = hashlib.sha256()
    for part in (SEAL_VERSION.encode(), purpose.encode(), canonical(context), salt, payload):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def check_commitment(expected: str, purpose: str, context: dict[str, Any], salt: bytes,
                     payload: bytes) -> bool:
    return hmac.compare_digest(expected, commit(purpose, context, salt, payload))


# -- signatures -----------------------------------------------------------------------------


def public_key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return b64(pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def load_public_key(text: str) -> Ed25519PublicKey:
    raw = unb64(text, "public key")
    if len(raw) != 32:
        raise EntryError("public key must be 32 bytes of Ed25519")
    return Ed25519PublicKey.from_public_bytes(raw)


def sign(key: Ed25519PrivateKey, payload: dict[str, Any]) -> dict[str, str]:
    """Signature block for ``payload`` (which must not itself contain a signature)."""
    return {"key": public_key_text(key), "sig": b64(key.sign(canonical(payload)))}


def verify_signature(payload: dict[str, Any], signature: dict[str, Any],
                     expected_key: str) -> None:
    """Raise EntryError unless ``signature`` is ``expected_key``'s signature over ``payload``."""
    if not isinstance(signature, dict) or not {"key", "sig"} <= signature.keys():
        raise EntryError("entry is unsigned (no [signature] with key and sig)")
    if not hmac.compare_digest(str(signature["key"]), expected_key):
        raise EntryError("entry is signed by a key that is not the one registered")
    try:
        load_public_key(expected_key).verify(unb64(str(signature["sig"]), "signature"),
                                             canonical(payload))
    except InvalidSignature:
        raise EntryError("signature does not match the entry's content") from None


# -- escrow ---------------------------------------------------------------------------------


def x25519_public_text(key: X25519PrivateKey) -> str:
    return b64(key.public_key().public_bytes(serialization.Encoding.Raw,
                                             serialization.PublicFormat.Raw))


def _escrow_key(shared: bytes, eph_pub: bytes, recipient_pub: bytes, aad: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=eph_pub + recipient_pub,
                info=ESCROW_VERSION + b"\x00" + hashlib.sha256(aad).digest()).derive(shared)


def escrow(recipient_public: str, context: dict[str, Any], plaintext: bytes) -> bytes:
    """Encrypt ``plaintext`` to the closer; the blob is eph_pub(32) | nonce(12) | ciphertext."""
    recipient = unb64(recipient_public, "closer escrow key")
    if len(recipient) != 32:
        raise SealError("closer escrow key must be 32 bytes of X25519")
    eph = X25519PrivateKey.generate()
    eph_pub = eph.public_key().public_bytes(serialization.Encoding.Raw,
                                            serialization.PublicFormat.Raw)
    aad = canonical(context)
    key = _escrow_key(eph.exchange(X25519PublicKey.from_public_bytes(recipient)), eph_pub,
                      recipient, aad)
    nonce = os.urandom(12)
    return eph_pub + nonce + ChaCha20Poly1305(key).encrypt(nonce, plaintext, aad)


def open_escrow(private: X25519PrivateKey, context: dict[str, Any], blob: bytes) -> bytes:
    if len(blob) < 32 + 12 + 16:
        raise SealError("escrow blob is truncated")
    eph_pub, nonce, ct = blob[:32], blob[32:44], blob[44:]
    recipient = private.public_key().public_bytes(serialization.Encoding.Raw,
                                                  serialization.PublicFormat.Raw)
    aad = canonical(context)
    key = _escrow_key(private.exchange(X25519PublicKey.from_public_bytes(eph_pub)), eph_pub,
                      recipient, aad)
    try:
        return ChaCha20Poly1305(key).decrypt(nonce, ct, aad)
    except InvalidTag:
        raise SealError("escrow cannot be opened: wrong closer key or altered blob") from None


def pack_secret(salt: bytes, payload: bytes) -> bytes:
    """What goes inside an escrow: the seal's salt, then the sealed bytes."""
    return salt + payload


def unpack_secret(secret: bytes) -> tuple[bytes, bytes]:
    if len(secret) < SALT_BYTES:
        raise SealError("escrowed secret is truncated")
    return secret[:SALT_BYTES], secret[SALT_BYTES:]
