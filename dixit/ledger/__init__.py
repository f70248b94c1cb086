"""The ledger: a tournament kept in a git repository, as signed, sealed records.

- ``store``: the git store (snapshots, atomic commits, locking, push with retry);
- ``layout``: every path of the round layout and what may live there;
- ``entries``, ``seal``, ``protocol``: signed documents, commitments and escrow, and what
  exactly each seal binds;
- ``keystore``: private keys and the secrets a team keeps for its reveals;
- ``state``: the ledger as plain records, every signature checked;
- ``clock``, ``fsutil``: the trusted time, atomic writes.

Knows nothing of torch, replay or terminals.
"""
