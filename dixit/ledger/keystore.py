"""The private key store: one file per tournament and identity, mode 0600, never in a ledger.

Layout: ``$DIXIT_HOME/<tournament-id>/<identity>.key`` where identity is ``organizer``,
``closer`` or ``team-<name>``. ``$DIXIT_HOME`` defaults to ``~/.config/dixit``. A key file holds
one line, ``dixit-key-v1:<identity>:<base64 32-byte seed>``; the same line in
``$DIXIT_CLOSER_KEY`` stands in for the closer's file (how CI gets it from a secret).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import toml
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from dixit import tomlio
from dixit.errors import DixitError, KeyStoreError
from dixit.ledger import seal
from dixit.ledger.fsutil import atomic_write

PREFIX = "dixit-key-v1"


def home() -> Path:
    env = os.environ.get("DIXIT_HOME")
    return Path(env).expanduser() if env else Path.home() / ".config" / "dixit"


@dataclass(frozen=True)
class Identity:
    """A private identity: Ed25519 for signing; the closer also derives an X25519 escrow key."""

    name: str
    seed: bytes

    def _derive(self, purpose: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                    info=b"dixit/key/v1/" + purpose).derive(self.seed)

    @property
    def signing(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self._derive(b"sign"))

    @property
    def escrow(self) -> X25519PrivateKey:
        return X25519PrivateKey.from_private_bytes(self._derive(b"escrow"))

    @property
    def public(self) -> str:
        return seal.public_key_text(self.signing)

    @property
    def escrow_public(self) -> str:
        return seal.x25519_public_text(self.escrow)

    def line(self) -> str:
        return f"{PREFIX}:{self.name}:{seal.b64(self.seed)}\n"


def generate(name: str) -> Identity:
    return Identity(name=name, seed=os.urandom(32))


def parse_line(text: str, expected: str, source: str) -> Identity:
    parts = text.strip().split(":")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise KeyStoreError(f"{source} is not a dixit key (expected '{PREFIX}:NAME:SEED')")
    if parts[1] != expected:
        raise KeyStoreError(f"{source} holds the key of '{parts[1]}', not of '{expected}'")
    try:
        seed = seal.unb64(parts[2], "key seed")
    except Exception:
        raise KeyStoreError(f"{source} has a damaged key seed") from None
    if len(seed) != 32:
        raise KeyStoreError(f"{source} has a damaged key seed")
    return Identity(name=expected, seed=seed)


def path_for(tournament_id: str, identity: str) -> Path:
    return home() / tournament_id / f"{identity}.key"


def save(tournament_id: str, ident: Identity) -> Path:
    path = path_for(tournament_id, ident.name)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.exists():
        raise KeyStoreError(f"a key for '{ident.name}' already exists at {path}; "
                            "move it away first if you really mean to replace it")
    atomic_write(path, ident.line().encode(), mode=0o600)
    return path


def load(tournament_id: str, identity: str, env_var: str | None = None) -> Identity:
    """Load a private identity from ``env_var`` (if set) or the key store."""
    if env_var and os.environ.get(env_var):
        return parse_line(os.environ[env_var], identity, f"${env_var}")
    path = path_for(tournament_id, identity)
    if not path.is_file():
        who = identity.removeprefix("team-")
        raise KeyStoreError(
            f"no private key for '{who}' in {path.parent} (set DIXIT_HOME to the key store "
            "that holds it, or register the team on this machine)")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyStoreError(f"key file {path} is readable by others (mode {mode:o}); "
                            f"run: chmod 600 {path}")
    return parse_line(path.read_text(errors="replace"), identity, str(path))


def team_identity(team: str) -> str:
    return f"team-{team}"


def next_identity(identity: str) -> str:
    """A team's pending key, made before the organizer registers it by rotation."""
    return f"{identity}.next"


def _retire(path: Path, suffix: str) -> None:
    if path.exists():
        path.replace(path.with_name(f"{path.name}.{suffix}"))  # kept, never deleted


def replace(tournament_id: str, ident: Identity, suffix: str) -> Path:
    """Make ``ident`` the current key, keeping the old key file under ``suffix``."""
    _retire(path_for(tournament_id, ident.name), suffix)
    return save(tournament_id, ident)


def promote(tournament_id: str, nxt: Identity, identity: str) -> Path:
    """Make the pending next key ``nxt`` the current key of ``identity``, keeping the old
    key file."""
    pending = path_for(tournament_id, nxt.name)
    path = replace(tournament_id, Identity(identity, nxt.seed),
                   f"retired-{int(pending.stat().st_mtime)}")
    pending.unlink()
    return path


# -- secrets a team keeps for its own reveals (salt and sealed bytes) ---------------------------


def _secret_path(tid: str, round_no: int, team: str, item: str) -> Path:
    return home() / tid / "secrets" / f"r{round_no:03d}-{team}-{item}.toml"


def keep_secret(tid: str, round_no: int, team: str, item: str, salt: bytes,
                payload: bytes) -> None:
    """Keep what ``team`` sealed so that it can reveal it after submit-by (mode 0600)."""
    path = _secret_path(tid, round_no, team, item)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write(path, toml.dumps({"salt": seal.b64(salt), "payload": seal.b64(payload)}).encode(),
                 mode=0o600)


def load_secret(tid: str, round_no: int, team: str, item: str) -> tuple[bytes, bytes]:
    path = _secret_path(tid, round_no, team, item)
    try:
        data = tomlio.loads(path.read_text())
        return seal.unb64(data["salt"]), seal.unb64(data["payload"])
    except FileNotFoundError:
        raise KeyStoreError(f"no kept secret for {team}'s {item} in round {round_no} at {path}"
                            ) from None
    except (KeyError, ValueError, tomlio.TomlError, DixitError, OSError):
        raise KeyStoreError(f"kept secret {path} is damaged") from None
