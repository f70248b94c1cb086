# expect: blocked by sandbox
# attack: a POSIX message queue: a kernel object that outlives the process, and mq_notify
# can make the kernel signal on our behalf
# unsandboxed: succeeds
import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)
qd = libc.mq_open(b"/dixit-hostile", os.O_CREAT | os.O_RDWR, 0o600, None)
if qd < 0:
    err = ctypes.get_errno()
    raise OSError(err, "mq_open: " + os.strerror(err))


def label(x):
    return (x[:, 0] + x[:, 1]) % 2
