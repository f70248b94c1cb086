# expect: blocked by sandbox
# attack: raw openat(2) through ctypes.syscall on the ledger secret
# unsandboxed: succeeds
import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)
fd = libc.syscall(257, -100, b"__SECRET_PATH__", os.O_RDONLY, 0)  # SYS_openat, AT_FDCWD
if fd < 0:
    err = ctypes.get_errno()
    raise OSError(err, os.strerror(err))
DATA = os.read(fd, 100)


def label(x):
    return (x[:, 0] + x[:, 1]) % 2
