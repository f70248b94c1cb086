# expect: blocked by sandbox
# attack: read the ledger through /proc/<ancestor>/cwd (the engine runs inside the ledger dir)
import os

NAME = "__SECRET_NAME__"


def ancestors():
    pid = os.getppid()
    for _ in range(4):
        yield pid
        with open(f"/proc/{pid}/status") as f:
            pid = int(next(line for line in f if line.startswith("PPid:")).split()[1])
        if pid <= 1:
            return


found = None
for pid in ancestors():
    path = f"/proc/{pid}/cwd/{NAME}"
    if os.path.exists(path):
        found = open(path).read()
        break
if found is None:
    raise FileNotFoundError("no ancestor cwd holds the ledger")


def label(x):
    return (x[:, 0] + x[:, 1]) % 2
