# expect: blocked by sandbox
# attack: plant a file next to the ledger secret (tampering outside the scratch dir)
# unsandboxed: succeeds
with open("__SECRET_DIR__/planted.txt", "w") as f:
    f.write("owned")


def label(x):
    return (x[:, 0] + x[:, 1]) % 2
