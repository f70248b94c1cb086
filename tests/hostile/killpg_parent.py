# expect: blocked by sandbox
# attack: os.killpg the parent's process group, then pidfd_send_signal via ctypes
import ctypes
import os
import signal

try:
    os.killpg(os.getpgid(os.getppid()), signal.SIGKILL)
finally:
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = libc.syscall(434, os.getppid(), 0)  # pidfd_open
    if pidfd >= 0:
        libc.syscall(424, pidfd, 9, None, 0)  # pidfd_send_signal


def label(x):
    return (x[:, 0] + x[:, 1]) % 2
