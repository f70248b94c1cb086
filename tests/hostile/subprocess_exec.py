# expect: blocked by sandbox
# attack: run /bin/cat on the ledger secret through subprocess (clone + execve)
# unsandboxed: succeeds
import subprocess

OUT = subprocess.run(["/bin/cat", "__SECRET_PATH__"], capture_output=True, check=True).stdout


def label(x):
    return (x[:, 0] + x[:, 1]) % 2 + (0 if OUT else 7)
