# expect: blocked by sandbox
# attack: read the ledger secret by its absolute path (substituted at test time)
# unsandboxed: succeeds
SECRET = open("__SECRET_PATH__").read()


def label(x):
    return (x[:, 0] + x[:, 1]) % 2 + (0 if SECRET else 5)
