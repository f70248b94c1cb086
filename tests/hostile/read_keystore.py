# expect: blocked by sandbox
# attack: read the private key store ($HOME/.config/dixit and a hard-coded $DIXIT_HOME path)
# unsandboxed: succeeds
from pathlib import Path

KEY = None
for p in ["/root/.config/dixit/keys/team.key", "__KEYSTORE_PATH__"]:
    if Path(p).exists():
        KEY = Path(p).read_bytes()
if KEY is None:
    raise FileNotFoundError("no key store found")


def label(x):
    return (x[:, 0] + x[:, 1]) % 2
