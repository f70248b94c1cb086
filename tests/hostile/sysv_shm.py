# expect: blocked by sandbox
# attack: SysV shared memory: pins memory past the run and is shared with other processes
# unsandboxed: succeeds
import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)
shmid = libc.shmget(0, 1 << 20, 0o1000 | 0o600)  # IPC_PRIVATE, IPC_CREAT; never removed
if shmid < 0:
    err = ctypes.get_errno()
    raise OSError(err, "shmget: " + os.strerror(err))


def label(x):
    return (x[:, 0] + x[:, 1]) % 2
