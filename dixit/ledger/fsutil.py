"""Small filesystem helpers: atomic writes (temp file in the same folder, then os.replace)."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` so readers see the old file or the new one, never a torn one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_regular(root: Path, rel: Path | str, limit: int) -> bytes:
    """The bytes of ``root/rel``, a regular file of at most ``limit`` bytes, read without
    following a symbolic link anywhere below ``root`` and without blocking on a FIFO or a
    device (a ledger checkout is hostile: a link to /proc/kmsg would hang a reader)."""
    real_root = os.path.realpath(root)
    path = os.path.join(real_root, str(rel))
    if os.path.realpath(path) != os.path.normpath(path):
        raise OSError(errno.ELOOP, "a symbolic link is on the path (links are never followed)",
                      str(rel))
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(rel))
        if info.st_size > limit:
            raise OSError(errno.EFBIG, f"over the limit of {limit:,} bytes", str(rel))
        chunks, left = [], limit + 1
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > limit:
            raise OSError(errno.EFBIG, f"over the limit of {limit:,} bytes", str(rel))
        return data
    finally:
        os.close(fd)
