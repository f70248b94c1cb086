"""Every error dixit raises on purpose derives from DixitError.

The CLI turns a DixitError into one line on stderr and its ``exit_code``; anything else
is a bug. Messages say what is wrong and, where possible, how to fix it.
"""

from __future__ import annotations


class DixitError(Exception):
    """Root of all expected failures; ``str(err)`` is the user-facing line."""

    exit_code = 1


class UsageError(DixitError):
    """The command line itself is wrong (exit 2, like click's usage errors)."""

    exit_code = 2


class NotATournamentError(DixitError):
    """No tournament.toml at the given path or any parent."""


class LedgerError(DixitError):
    """The git ledger cannot be read or written as asked."""


class RetryableError(LedgerError):
    """A concurrent writer won the race; the same command may simply be run again."""


class EntryError(DixitError):
    """A ledger entry is malformed, misplaced, unsigned or wrongly signed."""


class SealError(DixitError):
    """A reveal does not match its seal, or an escrow cannot be opened."""


class KeyStoreError(DixitError):
    """A private key is missing, unreadable or has unsafe permissions."""


class PhaseError(DixitError):
    """The action is not allowed in the round's current phase (too early or too late)."""


class ChallengeError(DixitError):
    """A challenge directory, labeler, model or domain is invalid."""


class RulesError(DixitError):
    """The rulebook (scoring/rules.toml) is invalid."""


class IsolationError(DixitError):
    """The kernel cannot give the sandbox the isolation the rulebook requires."""


class ShardError(DixitError):
    """A partial result file (``dixit score --shard``) cannot be merged as given."""


class MissingExtraError(DixitError):
    """An optional extra a command needs is not installed; the message names it."""
