"""Opening a round's secrets at the close: from their reveals, else from escrow (closer)."""

from __future__ import annotations

from dataclasses import dataclass, field

from dixit.errors import EntryError, KeyStoreError, SealError
from dixit.league import checks
from dixit.ledger import keystore, layout, seal, state as st

Item = tuple[str, str]  # (owner, item): layout.SECRET_ITEM, HELDOUT_ITEM, a target team or an
#                        explanation's item (layout.explanation_item)


@dataclass
class Opened:
    """The revealed secrets of a round, why others are missing, and the closer's reveal
    records to commit for what it opened from escrow."""

    payloads: dict[Item, bytes] = field(default_factory=dict)
    salts: dict[Item, str] = field(default_factory=dict)  # base64, of every opened item
    missing: dict[Item, str] = field(default_factory=dict)
    new_files: dict[str, bytes | None] = field(default_factory=dict)


def open_secrets(state: st.State, rnd: st.Round, closer: keystore.Identity | None) -> Opened:
    """Collect every sealed item's content, each checked against its seal. Without the closer
    key (verify, views) only reveals already in the ledger are opened."""
    out = Opened()
    snap = state.snapshot
    # a submission to a challenge that is not in the round has nothing to open (verify reports
    # it); its context names that challenge's seal, so it must not be looked up
    items = [(t, layout.SECRET_ITEM) for t in rnd.challenges] + [
        (t, layout.HELDOUT_ITEM) for t in rnd.challenges
        if checks.has_sealed(rnd, t, layout.HELDOUT_ITEM)] + [
        (o, i) for o, i in rnd.submissions if checks.has_sealed(rnd, o, i)] + [
        (o, layout.explanation_item(t)) for o, t in rnd.submissions
        if checks.has_sealed(rnd, o, layout.explanation_item(t))]
    for owner, item in sorted(items):
        where = checks.describe_item(owner, item)
        context = checks.context_for(state.info, rnd, owner, item)
        seal_table = checks.seal_of(rnd, owner, item)
        rv = rnd.reveals.get((owner, item))
        try:
            if rv is not None:
                payload = snap.read(rv.path)
                if payload is None:
                    raise SealError(f"{where}: reveal file {rv.path} is missing")
                checks.reveal_matches(state.info, rnd, owner, item, seal.unb64(rv.salt),
                                      payload, where)
                out.payloads[(owner, item)] = payload
                out.salts[(owner, item)] = seal.b64(seal.unb64(rv.salt))
                continue
            blob = snap.read(layout.escrow_path(rnd.number, owner, item))
            if blob is None or closer is None:
                out.missing[(owner, item)] = "not revealed (no reveal and no escrow)"
                continue
            if seal.sha256_hex(blob) != seal_table.get("escrow_sha256"):
                raise SealError(f"{where}: escrow file does not match its sealed hash")
            salt, payload = seal.unpack_secret(seal.open_escrow(closer.escrow, context, blob))
            checks.reveal_matches(state.info, rnd, owner, item, salt, payload, where)
            out.payloads[(owner, item)] = payload
            out.salts[(owner, item)] = seal.b64(salt)
            out.new_files.update(checks.reveal_files(rnd, owner, item, salt, payload, "closer",
                                                     closer.signing))
        except (SealError, EntryError) as exc:
            out.missing[(owner, item)] = str(exc)
    return out


def load_closer(info: st.Info) -> keystore.Identity:
    closer = keystore.load(info.id, "closer", env_var="DIXIT_CLOSER_KEY")
    if closer.public != info.closer_key:
        raise KeyStoreError("the closer key given is not this tournament's closer key")
    return closer
