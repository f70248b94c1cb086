# expect: blocked by sandbox
# attack: F_SETOWN/F_SETSIG the result pipe to the zygote so the kernel signals it (SIGIO/SIGKILL)
import fcntl
import os
import signal

for fd in range(3, 16):
    try:
        fcntl.fcntl(fd, fcntl.F_GETFL)
    except OSError:
        continue
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_ASYNC)
    fcntl.fcntl(fd, 10, signal.SIGKILL)  # F_SETSIG
    fcntl.fcntl(fd, fcntl.F_SETOWN, os.getppid())


def label(x):
    return (x[:, 0] + x[:, 1]) % 2
