# expect: blocked by sandbox
# attack: os.system, then os.posix_spawn, a shell that copies the secret into scratch
# unsandboxed: succeeds
import os

rc = os.system("cat __SECRET_PATH__ > stolen.txt")
if rc != 0:
    # os.system hides the errno; posix_spawn raises it
    pid = os.posix_spawn("/bin/sh", ["sh", "-c", "cat __SECRET_PATH__ > stolen.txt"], {})
    os.waitpid(pid, 0)
if not os.path.exists("stolen.txt"):
    raise FileNotFoundError("the shell did not run")


def label(x):
    return (x[:, 0] + x[:, 1]) % 2
