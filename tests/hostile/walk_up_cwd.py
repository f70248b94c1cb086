# expect: blocked by sandbox
# attack: walk up from the scratch cwd and search sibling directories for the ledger secret
# unsandboxed: succeeds
import os

NAME = "__SECRET_NAME__"
SECRET_DIR = "__SECRET_DIR__"
here = os.getcwd()
found = None
# list every ancestor (this alone is a leak of the engine's layout)
for parent in [os.path.dirname(here), os.path.dirname(os.path.dirname(here)), "/tmp", "/"]:
    os.listdir(parent)
# then look where the tournament keeps its ledger, as a real attacker who guessed would
for root, _dirs, files in os.walk(os.path.dirname(SECRET_DIR)):
    if NAME in files:
        found = open(os.path.join(root, NAME)).read()
        break
if found is None:
    raise FileNotFoundError("ledger not found")


def label(x):
    return (x[:, 0] + x[:, 1]) % 2
