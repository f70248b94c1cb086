# expect: blocked by sandbox
# attack: memfd_create: file pages that RLIMIT_AS never sees (many such files: any amount)
# unsandboxed: succeeds
import os

fd = os.memfd_create("hoard")
os.write(fd, b"x" * (1 << 20))


def label(x):
    return (x[:, 0] + x[:, 1]) % 2
