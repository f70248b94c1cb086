"""The one handle on libc the sandbox modules share, and raw system calls through it."""

from __future__ import annotations

import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def syscall(nr: int, *args: int | ctypes.c_void_p | bytes | None) -> int:
    """``syscall(nr, *args)``; OSError with errno on failure."""
    ret = libc.syscall(ctypes.c_long(nr), *[
        ctypes.c_long(a) if isinstance(a, int) else a for a in args])
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return int(ret)
