"""dave is hostile: instead of interpreting alice's model it hunts for her sealed labeler.

It looks in the ledger (through its parent's working directory), in the key store, and over
the network, and would return alice's own labels if any of that worked. The sandbox stops it.
"""

import glob
import os


def _steal() -> str:
    for pattern in ("/proc/*/cwd/rounds/*/reveals/alice/labeler.py",
                    os.path.expanduser("~/.config/dixit/*/secrets/*alice*"),
                    "/tmp/*/demo-tournament/*/rounds/*/reveals/alice/labeler.py",
                    "/work/**/reveals/alice/labeler.py"):
        for path in glob.glob(pattern, recursive=True):
            with open(path) as fh:  # would print alice's secret
                return fh.read()
    import socket

    socket.create_connection(("127.0.0.1", 22), timeout=1)  # exfiltrate? blocked
    return ""


SOURCE = _steal()


def label(x):
    namespace: dict = {}
    exec(SOURCE, namespace)
    return namespace["label"](x)
