"""Removing a program's scratch tree, robustly: no recursion limit, no link followed, rights a
program took away given back, never crossing into another file system. Standard library only.
"""

from __future__ import annotations

import errno
import os
import stat

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def remove_tree(path: str | os.PathLike[str]) -> bool:
    """Remove ``path`` and everything below it; True when nothing is left.

    Written for trees a hostile program made: no recursion (any depth), one directory file
    descriptor at a time and names relative to it (any path length), symlinks never followed
    (each is removed as a link), directories it made unwritable or unreadable are given back
    their owner permissions, and it never descends into another file system (a mount point is
    left, and reported). Never raises."""
    path = os.path.abspath(os.fspath(path))
    parent, name = os.path.split(path)
    try:
        pfd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return not os.path.lexists(path)
    try:
        return _remove_at(pfd, name)
    except OSError:
        return False
    finally:
        os.close(pfd)


def _open_dir(at: int, name: str, st: os.stat_result) -> int:
    """Open directory ``name`` (whose lstat is ``st``) below ``at``, restoring owner rights if
    it was made unreadable; raises OSError unless it is still that very directory."""
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=at)
    except PermissionError:
        pfd = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=at)
        try:  # chmod through the O_PATH descriptor's /proc link: never through a symlink
            os.chmod(f"/proc/self/fd/{pfd}", stat.S_IRWXU)
        finally:
            os.close(pfd)
        fd = os.open(name, _DIR_FLAGS, dir_fd=at)
    got = os.fstat(fd)
    if (got.st_dev, got.st_ino) != (st.st_dev, st.st_ino):
        os.close(fd)
        raise OSError(errno.ESTALE, f"{name} changed while being removed")
    return fd


def _unlink(at: int, name: str, is_dir: bool) -> None:
    for attempt in range(2):
        try:
            (os.rmdir if is_dir else os.unlink)(name, dir_fd=at)
            return
        except FileNotFoundError:
            return
        except PermissionError:
            if attempt:
                raise
            os.chmod(at, stat.S_IRWXU)  # the directory itself was made unwritable


def _remove_at(pfd: int, name: str) -> bool:
    try:
        top = os.stat(name, dir_fd=pfd, follow_symlinks=False)
    except FileNotFoundError:
        return True
    if not stat.S_ISDIR(top.st_mode):
        _unlink(pfd, name, False)
        return True
    # The path from `top` down to the current directory: (name, inode) per level.
    chain: list[tuple[str, int]] = [(name, top.st_ino)]
    stuck: set[int] = set()  # inodes that could not be removed: skip them, report failure
    fd = _open_dir(pfd, name, top)
    try:
        while True:
            sub = None
            with os.scandir(fd) as it:
                entries = [(e.name, e.stat(follow_symlinks=False)) for e in it]
            for ename, st in entries:
                if st.st_ino in stuck:
                    continue
                if not stat.S_ISDIR(st.st_mode):
                    try:
                        _unlink(fd, ename, False)
                    except OSError:
                        stuck.add(st.st_ino)
                elif st.st_dev != top.st_dev:
                    stuck.add(st.st_ino)  # a mount point: never cross into it
                elif sub is None:
                    sub = (ename, st)
            if sub is not None:
                try:
                    child = _open_dir(fd, sub[0], sub[1])
                except OSError:
                    stuck.add(sub[1].st_ino)
                    continue
                os.close(fd)
                fd = child
                chain.append((sub[0], sub[1].st_ino))
                continue
            # Nothing left to descend into: go up, verifying "..", and remove this level.
            here, ino = chain.pop()
            if not chain:
                os.close(fd)
                fd = -1
                try:
                    _unlink(pfd, here, True)
                except OSError:
                    return False
                return not stuck
            up = os.open("..", _DIR_FLAGS, dir_fd=fd)
            if os.fstat(up).st_ino != chain[-1][1]:
                os.close(up)
                return False
            os.close(fd)
            fd = up
            try:
                _unlink(fd, here, True)
            except OSError:
                stuck.add(ino)
    finally:
        if fd >= 0:
            os.close(fd)


