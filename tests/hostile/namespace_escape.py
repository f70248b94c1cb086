# expect: blocked by sandbox
# attack: unshare a user+mount namespace via ctypes, then setsid/setpgid to escape the group
import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(0x10000000 | 0x00020000) != 0:  # CLONE_NEWUSER | CLONE_NEWNS
    err = ctypes.get_errno()
    raise OSError(err, "unshare: " + os.strerror(err))


def label(x):
    return (x[:, 0] + x[:, 1]) % 2
