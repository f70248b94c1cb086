"""Kernel isolation mechanisms for running hostile programs: pure mechanism, no policy.

``probe()`` reports what this kernel offers. The ``apply_*`` functions are meant to be called
inside a freshly forked, single-threaded child (see ``dixit._zygote``), in this order:
``set_rlimits`` -> ``drop_privileges`` -> ``apply_landlock`` -> ``apply_seccomp``, and the
child must be in its cgroups (``cgroup_join``) before it runs anything of a program's.

- cgroups (v1 or v2, whichever hierarchy has the controller) give every program its own
  ``pids`` limit (``TASKS``: RLIMIT_NPROC does not bind uid 0) and ``memory`` limit, which
  counts what RLIMIT_AS cannot see: memfd and tmpfs pages, kernel memory;
- namespaces, entered once by the zygote: an empty network namespace, a private IPC namespace
  (and one per child when no seccomp filter denies SysV IPC), a private mount namespace in
  which each child's scratch is a tmpfs of its own with a quota on bytes and files (unmounted,
  however deep, when the child ends) and /dev/shm is an empty read-only tmpfs;
- rlimits bound CPU time, address space (relative to what the process already maps), file
  size, open files and tasks, and disable core dumps;
- Landlock (when the kernel has it) confines the file system to read-only access to what Python
  and torch need plus read-write access to one private scratch directory; from ABI 4 it also
  denies TCP bind/connect, from ABI 6 it stops signals and abstract unix sockets that would
  leave the sandbox;
- a seccomp-bpf filter (x86_64 and aarch64: ``ARCHES``) denies sockets, process creation
  (threads stay allowed), exec, ptrace and cross-process memory access, signals to anyone but
  the process itself, SysV IPC, POSIX message queues, memfd, namespace, mount, key, bpf,
  io_uring and similar escape hatches, and metadata tampering (chmod, chown, utimes, xattrs)
  that Landlock does not cover;
- capabilities are dropped so that a root child cannot raise its own rlimits.

"full" isolation needs Landlock, seccomp, both cgroups and the scratch quota; without any of
them the level is "partial" and ``Isolation.missing`` says what is missing and why (never an
error: a read-only cgroupfs or an unprivileged user simply get less). ``remove_tree`` removes
what a program left behind, whatever it did to it.

``DIXIT_SANDBOX_DISABLE`` (comma separated: ``landlock``, ``seccomp``, ``netns``, ``ipcns``,
``mountns``, ``cgroups``) caps what ``probe()`` reports and hence what is applied; it exists
for tests and for debugging, and weakens isolation accordingly.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import re
import resource
import signal
import stat
import struct
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

DISABLE_ENV = "DIXIT_SANDBOX_DISABLE"
LEVELS = ("none", "partial", "full")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.prctl.restype = ctypes.c_int
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                        ctypes.c_ulong]
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]

# prctl options
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_SECCOMP = 22
PR_SET_NO_NEW_PRIVS = 38
PR_GET_SECCOMP = 21
SECCOMP_MODE_FILTER = 2
CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWNS = 0x00020000
CLONE_THREAD = 0x00010000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
TASKS = 256  # pids.max of one program's cgroup: its threads included

# Landlock (include/uapi/linux/landlock.h); the syscall numbers are the same on all arches.
SYS_LANDLOCK_CREATE_RULESET = 444
SYS_LANDLOCK_ADD_RULE = 445
SYS_LANDLOCK_RESTRICT_SELF = 446
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_REMOVE_DIR = 1 << 4
FS_REMOVE_FILE = 1 << 5
FS_MAKE_CHAR = 1 << 6
FS_MAKE_DIR = 1 << 7
FS_MAKE_REG = 1 << 8
FS_MAKE_SOCK = 1 << 9
FS_MAKE_FIFO = 1 << 10
FS_MAKE_BLOCK = 1 << 11
FS_MAKE_SYM = 1 << 12
FS_REFER = 1 << 13  # ABI 2
FS_TRUNCATE = 1 << 14  # ABI 3
FS_IOCTL_DEV = 1 << 15  # ABI 5
NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1
_FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV

# seccomp-bpf
SECCOMP_GET_ACTION_AVAIL = 2
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000
AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_AARCH64 = 0xC00000B7
_BPF_LD_W_ABS = 0x20
_BPF_JEQ_K = 0x15
_BPF_JGE_K = 0x35
_BPF_JSET_K = 0x45
_BPF_RET_K = 0x06

# System call numbers per architecture. Those from 424 on are the same on every architecture
# (include/uapi/asm-generic/unistd.h); the older ones come from each arch's own table.
_COMMON: dict[str, int] = {
    "pidfd_send_signal": 424, "io_uring_setup": 425, "io_uring_enter": 426,
    "io_uring_register": 427, "open_tree": 428, "move_mount": 429, "fsopen": 430,
    "fsconfig": 431, "fsmount": 432, "fspick": 433, "pidfd_open": 434, "clone3": 435,
    "pidfd_getfd": 438, "process_madvise": 440, "mount_setattr": 442, "quotactl_fd": 443,
    "memfd_secret": 447, "process_mrelease": 448, "fchmodat2": 452, "setxattrat": 463,
    "removexattrat": 466, "open_tree_attr": 467,
}
# arch/x86/entry/syscalls/syscall_64.tbl
_X86_64: dict[str, int] = {
    "ioctl": 16, "shmget": 29, "shmat": 30, "shmctl": 31, "socket": 41, "connect": 42,
    "accept": 43, "sendto": 44, "recvfrom": 45, "sendmsg": 46, "recvmsg": 47, "shutdown": 48,
    "bind": 49, "listen": 50, "getsockname": 51, "getpeername": 52, "socketpair": 53,
    "setsockopt": 54, "getsockopt": 55, "clone": 56, "fork": 57, "vfork": 58, "execve": 59,
    "kill": 62, "semget": 64, "semop": 65, "semctl": 66, "shmdt": 67, "msgget": 68, "msgsnd": 69,
    "msgrcv": 70, "msgctl": 71, "fcntl": 72, "chmod": 90, "fchmod": 91, "chown": 92, "fchown": 93,
    "lchown": 94, "ptrace": 101, "syslog": 103, "setuid": 105, "setgid": 106, "setpgid": 109,
    "setsid": 112, "setreuid": 113, "setregid": 114, "setgroups": 116, "setresuid": 117,
    "setresgid": 119, "setfsuid": 122, "setfsgid": 123, "capset": 126, "rt_sigqueueinfo": 129,
    "utime": 132, "mknod": 133, "uselib": 134, "personality": 135, "vhangup": 153,
    "modify_ldt": 154, "pivot_root": 155, "adjtimex": 159, "setrlimit": 160, "chroot": 161,
    "acct": 163, "settimeofday": 164, "mount": 165, "umount2": 166, "swapon": 167, "swapoff": 168,
    "reboot": 169, "sethostname": 170, "setdomainname": 171, "iopl": 172, "ioperm": 173,
    "init_module": 175, "delete_module": 176, "quotactl": 179, "setxattr": 188, "lsetxattr": 189,
    "fsetxattr": 190, "removexattr": 197, "lremovexattr": 198, "fremovexattr": 199, "tkill": 200,
    "semtimedop": 220, "clock_settime": 227, "tgkill": 234, "utimes": 235, "mq_open": 240,
    "mq_unlink": 241, "mq_timedsend": 242, "mq_timedreceive": 243, "mq_notify": 244,
    "mq_getsetattr": 245, "kexec_load": 246, "add_key": 248, "request_key": 249, "keyctl": 250,
    "migrate_pages": 256, "mknodat": 259, "fchownat": 260, "futimesat": 261, "fchmodat": 268,
    "unshare": 272, "move_pages": 279, "utimensat": 280, "accept4": 288, "rt_tgsigqueueinfo": 297,
    "perf_event_open": 298, "recvmmsg": 299, "fanotify_init": 300, "prlimit64": 302,
    "name_to_handle_at": 303, "open_by_handle_at": 304, "clock_adjtime": 305, "sendmmsg": 307,
    "setns": 308, "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312,
    "finit_module": 313, "seccomp": 317, "memfd_create": 319, "kexec_file_load": 320, "bpf": 321,
    "execveat": 322, "userfaultfd": 323, **_COMMON,
}
# include/uapi/asm-generic/unistd.h: no fork, vfork, chmod, chown, utime(s), mknod, iopl...
_AARCH64: dict[str, int] = {
    "setxattr": 5, "lsetxattr": 6, "fsetxattr": 7, "removexattr": 14, "lremovexattr": 15,
    "fremovexattr": 16, "fcntl": 25, "ioctl": 29, "mknodat": 33, "umount2": 39, "mount": 40,
    "pivot_root": 41, "chroot": 51, "fchmod": 52, "fchmodat": 53, "fchownat": 54, "fchown": 55,
    "vhangup": 58, "quotactl": 60, "utimensat": 88, "acct": 89, "capset": 91, "personality": 92,
    "unshare": 97, "kexec_load": 104, "init_module": 105, "delete_module": 106,
    "clock_settime": 112, "syslog": 116, "ptrace": 117, "kill": 129, "tkill": 130, "tgkill": 131,
    "rt_sigqueueinfo": 138, "reboot": 142, "setregid": 143, "setgid": 144, "setreuid": 145,
    "setuid": 146, "setresuid": 147, "setresgid": 149, "setfsuid": 151, "setfsgid": 152,
    "setpgid": 154, "setsid": 157, "setgroups": 159, "sethostname": 161, "setdomainname": 162,
    "setrlimit": 164, "settimeofday": 170, "adjtimex": 171, "mq_open": 180, "mq_unlink": 181,
    "mq_timedsend": 182, "mq_timedreceive": 183, "mq_notify": 184, "mq_getsetattr": 185,
    "msgget": 186, "msgctl": 187, "msgrcv": 188, "msgsnd": 189, "semget": 190, "semctl": 191,
    "semtimedop": 192, "semop": 193, "shmget": 194, "shmctl": 195, "shmat": 196, "shmdt": 197,
    "socket": 198, "socketpair": 199, "bind": 200, "listen": 201, "accept": 202, "connect": 203,
    "getsockname": 204, "getpeername": 205, "sendto": 206, "recvfrom": 207, "setsockopt": 208,
    "getsockopt": 209, "shutdown": 210, "sendmsg": 211, "recvmsg": 212, "add_key": 217,
    "request_key": 218, "keyctl": 219, "clone": 220, "execve": 221, "swapon": 224, "swapoff": 225,
    "migrate_pages": 238, "move_pages": 239, "rt_tgsigqueueinfo": 240, "perf_event_open": 241,
    "accept4": 242, "recvmmsg": 243, "prlimit64": 261, "fanotify_init": 262,
    "name_to_handle_at": 264, "open_by_handle_at": 265, "clock_adjtime": 266, "setns": 268,
    "sendmmsg": 269, "process_vm_readv": 270, "process_vm_writev": 271, "kcmp": 272,
    "finit_module": 273, "seccomp": 277, "memfd_create": 279, "bpf": 280, "execveat": 281,
    "userfaultfd": 282, "kexec_file_load": 294, **_COMMON,
}
# platform.machine() -> (AUDIT_ARCH_*, table). Anywhere else there is no seccomp filter and
# the isolation level is at best "partial".
ARCHES: dict[str, tuple[int, dict[str, int]]] = {
    "x86_64": (AUDIT_ARCH_X86_64, _X86_64),
    "aarch64": (AUDIT_ARCH_AARCH64, _AARCH64),
}


def syscall_nr(name: str, arch: str | None = None) -> int | None:
    """``name``'s number on ``arch`` (default: this machine), None where unknown or absent."""
    entry = ARCHES.get(arch or platform.machine())
    return entry[1].get(name) if entry else None


_SYS_CAPSET = syscall_nr("capset")
_SYS_UNSHARE = syscall_nr("unshare")

# Denied outright with EPERM: every way out of the process or into the kernel's rarely used,
# historically buggy corners. Sockets are denied wholesale: labels need no I/O at all.
_DENY = (
    "socket", "socketpair", "connect", "accept", "accept4", "bind", "listen", "sendto",
    "sendmsg", "sendmmsg", "recvmmsg", "fork", "vfork", "execve", "execveat", "ptrace",
    "process_vm_readv", "process_vm_writev", "process_madvise", "process_mrelease", "kcmp",
    "pidfd_open", "pidfd_getfd", "pidfd_send_signal", "setsid", "setpgid", "setuid", "setgid",
    "setreuid", "setregid", "setresuid", "setresgid", "setfsuid", "setfsgid", "setgroups",
    "capset", "chroot", "pivot_root", "mount", "umount2", "open_tree", "open_tree_attr",
    "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr", "unshare",
    "setns", "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "fanotify_init",
    "name_to_handle_at", "open_by_handle_at", "init_module", "finit_module", "delete_module",
    "kexec_load", "kexec_file_load", "reboot", "swapon", "swapoff", "acct", "syslog",
    "quotactl", "quotactl_fd", "iopl", "ioperm", "modify_ldt", "uselib", "vhangup",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "sethostname",
    "setdomainname", "mknod", "mknodat", "migrate_pages", "move_pages", "setrlimit",
    "seccomp", "personality", "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown",
    "lchown", "fchownat", "utime", "utimes", "utimensat", "futimesat", "setxattr", "lsetxattr",
    "fsetxattr", "setxattrat", "removexattr", "lremovexattr", "fremovexattr", "removexattrat",
    # SysV IPC and POSIX message queues: objects that outlive the process and that other
    # processes in the same IPC namespace can read and overwrite (no Landlock rule covers them).
    "shmget", "shmat", "shmdt", "shmctl", "msgget", "msgsnd", "msgrcv", "msgctl", "semget",
    "semop", "semctl", "semtimedop", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive",
    "mq_notify", "mq_getsetattr",
    # Anonymous files: their pages are not address space, so RLIMIT_AS does not see them.
    "memfd_create", "memfd_secret",
)
# Signals may only target the process itself (arg 0 is the pid / tgid / tid).
_SELF_ONLY = ("kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo")
# Commands (arg 1) that make the kernel signal *another* process on I/O (F_SETOWN & co: a
# child could otherwise have the zygote SIGKILLed when it reads the result pipe) or push
# input into a terminal.
_DENY_CMDS = {
    "fcntl": (8, 10, 15, 1024),  # F_SETOWN, F_SETSIG, F_SETOWN_EX, F_SETLEASE
    "ioctl": (0x8901, 0x8902, 0x5412, 0x5410, 0x540E, 0x541C),  # FIOSETOWN, SIOCSPGRP,
    # TIOCSTI, TIOCSPGRP, TIOCSCTTY, TIOCLINUX
}


@dataclass(frozen=True)
class Isolation:
    """What the sandbox can enforce on this machine (after ``DIXIT_SANDBOX_DISABLE``)."""

    # "full": Landlock + seccomp + per-program pids and memory cgroups + scratch quota;
    # "partial": Landlock or seccomp, something else missing; "none": neither
    level: str
    landlock_abi: int = 0  # 0 = unavailable
    seccomp: bool = False
    netns: bool = False  # a private network namespace can be created (root or user ns)
    userns: bool = False  # unprivileged user namespaces work
    rlimits: bool = True
    arch: str = ""
    disabled: tuple[str, ...] = ()
    missing: tuple[str, ...] = field(default=())
    ipcns: bool = False  # private IPC namespaces (SysV IPC, POSIX message queues)
    mountns: bool = False  # private mount namespace: per-program tmpfs scratch with a quota
    pids_cgroup: int = 0  # cgroup version (1 or 2) bounding each program's tasks; 0 = none
    memory_cgroup: int = 0  # cgroup version bounding each program's memory of any kind

    def describe(self) -> str:
        parts = []
        if self.landlock_abi:
            extra = []
            if self.landlock_abi >= 4:
                extra.append("tcp")
            if self.landlock_abi >= 6:
                extra.append("signal/unix scopes")
            parts.append(f"Landlock ABI {self.landlock_abi}"
                         + (f" (fs+{'+'.join(extra)})" if extra else " (fs)"))
        if self.seccomp:
            parts.append(f"seccomp-bpf ({self.arch})")
        if self.netns:
            parts.append("net namespace")
        if self.ipcns:
            parts.append("ipc namespace")
        if self.pids_cgroup:
            parts.append(f"pids cgroup v{self.pids_cgroup} ({TASKS} tasks)")
        if self.memory_cgroup:
            parts.append(f"memory cgroup v{self.memory_cgroup}")
        if self.mountns:
            parts.append("tmpfs scratch quota")
        parts.append("rlimits")
        text = f"{self.level}: " + ", ".join(parts)
        if self.missing:
            text += f"; missing: {', '.join(self.missing)}"
        if self.disabled:
            text += f"; disabled by {DISABLE_ENV}: {','.join(self.disabled)}"
        return text

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["disabled"] = list(self.disabled)
        data["missing"] = list(self.missing)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Isolation:
        kw = dict(data)
        kw["disabled"] = tuple(kw.get("disabled", ()))  # type: ignore[arg-type]
        kw["missing"] = tuple(kw.get("missing", ()))  # type: ignore[arg-type]
        return cls(**kw)  # type: ignore[arg-type]


def level_rank(level: str) -> int:
    if level not in LEVELS:
        raise ValueError(f"unknown isolation level {level!r}; use one of {', '.join(LEVELS)}")
    return LEVELS.index(level)


def _syscall(nr: int, *args: int | ctypes.c_void_p | bytes | None) -> int:
    ret = _libc.syscall(ctypes.c_long(nr), *[
        ctypes.c_long(a) if isinstance(a, int) else a for a in args])
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return int(ret)


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, or 0 when Landlock is absent or disabled at boot."""
    try:
        return _syscall(SYS_LANDLOCK_CREATE_RULESET, None, 0, LANDLOCK_CREATE_RULESET_VERSION)
    except OSError:
        return 0


def _seccomp_available() -> bool:
    nr = syscall_nr("seccomp")
    if nr is None:
        return False  # no syscall table for this architecture: no filter can be built
    if _libc.prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0:
        return False
    for action in (SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_PROCESS):
        value = ctypes.c_uint32(action)
        try:
            _syscall(nr, SECCOMP_GET_ACTION_AVAIL, 0, ctypes.byref(value))
        except OSError:
            return False
    return True


# Run with -I -S and an empty environment. Prints four flags: net namespace, unprivileged user
# namespace, private mount namespace with a tmpfs mounted in it, private IPC namespace (each
# in its own forked child, as root directly and otherwise inside a new user namespace).
_NS_PROBE = """
import ctypes, os, tempfile
libc = ctypes.CDLL(None, use_errno=True)
root = os.geteuid() == 0
def attempt(flags, user):
    pid = os.fork()
    if pid == 0:
        ok = libc.unshare((0x10000000 if user else 0) | flags) == 0
        if ok and flags & 0x00020000:
            d = tempfile.mkdtemp()
            ok = (libc.mount(b"none", b"/", None, 0x4000 | 0x40000, None) == 0
                  and libc.mount(b"tmpfs", d.encode(), b"tmpfs", 0xE, b"size=65536") == 0
                  and libc.umount2(d.encode(), 2) == 0)
            os.rmdir(d)
        os._exit(0 if ok else 1)
    return os.waitpid(pid, 0)[1] == 0
user = attempt(0x40000000, True)
print(int(root and attempt(0x40000000, False) or user), int(user),
      *(int(attempt(f, not root)) for f in (0x00020000, 0x08000000)))
"""


def _namespaces() -> tuple[bool, bool, bool, bool]:
    """(net, unprivileged user, mount + tmpfs, IPC) namespaces possible, tested in a
    subprocess so that this (possibly multi-threaded) process is never forked or unshared."""
    try:
        out = subprocess.run([sys.executable, "-I", "-S", "-c", _NS_PROBE], capture_output=True,
                             text=True, timeout=20, env={}, check=False).stdout.split()
        net, user, mnt, ipc = (v == "1" for v in out[:4])
        return net, user, mnt, ipc
    except (OSError, subprocess.SubprocessError, ValueError):
        return False, False, False, False


_CACHE: dict[str, Isolation] = {}
MECHANISMS = ("landlock", "seccomp", "netns", "ipcns", "mountns", "cgroups")


def probe() -> Isolation:
    """What isolation this kernel offers, capped by ``DIXIT_SANDBOX_DISABLE`` (cached)."""
    raw = os.environ.get(DISABLE_ENV, "")
    if raw in _CACHE:
        return _CACHE[raw]
    disabled = tuple(sorted({p.strip() for p in raw.split(",") if p.strip()}))
    unknown = set(disabled) - set(MECHANISMS)
    if unknown:
        raise ValueError(f"{DISABLE_ENV}: unknown mechanism(s) {', '.join(sorted(unknown))}; "
                         f"use {', '.join(MECHANISMS)}")
    abi = 0 if "landlock" in disabled else landlock_abi()
    sec = "seccomp" not in disabled and _seccomp_available()
    net, user, mnt, ipc = _namespaces()
    net = net and "netns" not in disabled
    ipc = ipc and "ipcns" not in disabled
    mnt = mnt and "mountns" not in disabled
    if "cgroups" in disabled:
        versions, why = {}, {c: f"disabled by {DISABLE_ENV}" for c in CONTROLLERS}
    else:
        versions, why = probe_cgroups()
    missing = []
    if not abi:
        missing.append("Landlock (file system confinement)")
    if not sec:
        missing.append("seccomp-bpf (system call filter" + (
            ")" if syscall_nr("seccomp") is not None
            else f": no syscall table for architecture {platform.machine()!r})"))
    if "pids" not in versions:
        missing.append(f"per-program process limit (pids cgroup: {why['pids']})")
    if "memory" not in versions:
        missing.append(f"per-program memory limit beyond RLIMIT_AS "
                       f"(memory cgroup: {why['memory']})")
    if not mnt:
        missing.append("scratch quota (no private mount namespace for a tmpfs"
                       + (f": disabled by {DISABLE_ENV})" if "mountns" in disabled else ")"))
    complete = abi and sec and mnt and len(versions) == len(CONTROLLERS)
    level = "full" if complete else "partial" if abi or sec else "none"
    iso = Isolation(level=level, landlock_abi=abi, seccomp=sec, netns=net, userns=user,
                    arch=platform.machine(), disabled=disabled, missing=tuple(missing),
                    ipcns=ipc, mountns=mnt, pids_cgroup=versions.get("pids", 0),
                    memory_cgroup=versions.get("memory", 0))
    _CACHE[raw] = iso
    return iso


# -- applied in the zygote (once) ----------------------------------------------------------------


def set_pdeathsig(sig: int = signal.SIGKILL) -> None:
    """Die with the parent: an orphaned sandbox must never outlive the engine."""
    _libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)


def _unshare(flags: int) -> bool:
    if _SYS_UNSHARE is not None:
        return _libc.syscall(ctypes.c_long(_SYS_UNSHARE), ctypes.c_long(flags)) == 0
    return _libc.unshare(ctypes.c_int(flags)) == 0  # unknown arch: libc knows the number


def enter_namespaces(*, net: bool, mount: bool, ipc: bool) -> dict[str, bool]:
    """Move this process into new namespaces (done once, in the zygote; children inherit them
    at no per-program cost): an empty network namespace, a private IPC namespace (no SysV
    object of the host is visible) and a private mount namespace in which scratch tmpfs mounts
    are made (they vanish with the zygote, however it dies) and /dev/shm is an empty read-only
    tmpfs. Root unshares directly; anyone else through a new user namespace keeping the same
    ids. Returns which namespaces were entered."""
    wanted = {"net": (net, CLONE_NEWNET), "mount": (mount, CLONE_NEWNS),
              "ipc": (ipc, CLONE_NEWIPC)}
    got = dict.fromkeys(wanted, False)
    if os.geteuid() == 0:
        for name, (want, flag) in wanted.items():
            got[name] = want and _unshare(flag)
    else:
        flags = sum(flag for want, flag in wanted.values() if want)
        uid, gid = os.geteuid(), os.getegid()
        if flags and _unshare(CLONE_NEWUSER | flags):
            got = {name: want for name, (want, _) in wanted.items()}
            try:  # keep the same ids inside, so file ownership checks are unchanged
                Path("/proc/self/setgroups").write_text("deny")
                Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
                Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
            except OSError:
                pass
    if got["mount"]:
        # Without MS_PRIVATE a mount made here would propagate back into the host's namespace.
        if _libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0:
            got["mount"] = False
        elif os.path.isdir("/dev/shm") and not os.path.islink("/dev/shm"):
            _libc.mount(b"tmpfs", b"/dev/shm", b"tmpfs",
                        MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, b"size=4096,mode=0555")
    return got


def enter_network_namespace() -> bool:
    """Move this process into an empty network namespace (no interfaces but a down loopback).
    Returns False when the kernel refuses (no CAP_SYS_ADMIN and no unprivileged user
    namespaces)."""
    return enter_namespaces(net=True, mount=False, ipc=False)["net"]


def unshare_ipc() -> None:
    """A fresh IPC namespace for this child alone: whatever SysV object it makes dies with it
    (used when no seccomp filter denies SysV IPC outright)."""
    if not _unshare(CLONE_NEWIPC):
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWIPC) failed")


def mount_scratch(path: str, size_bytes: int, inodes: int) -> None:
    """Mount a private tmpfs on ``path``: a quota on the bytes and the files of one program's
    scratch in total (charged to its memory cgroup, too); unmounting frees all of it at once."""
    opts = f"size={size_bytes},nr_inodes={inodes},mode=0700,huge=never".encode()
    if _libc.mount(b"tmpfs", os.fsencode(path), b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                   opts) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount tmpfs on {path}: {os.strerror(err)}")


def hide_cgroupfs() -> list[str]:
    """Cover every cgroup file system with an empty read-only tmpfs (in the zygote's private
    mount namespace, after it has opened its run directories: descriptors keep reaching the
    real ones). Without Landlock a uid-0 child could otherwise write its own pid elsewhere or
    raise its own limits: cgroup files are root's, and owners need no capability. Returns what
    was covered."""
    covered: list[str] = []
    points = sorted({p for _, p, _, _ in _cgroup_mounts()}, key=len)
    if any(p.startswith("/sys/fs/cgroup/") for p in points):
        points.insert(0, "/sys/fs/cgroup")  # the usual tmpfs holding the v1 hierarchies
    for point in points:
        if any(point == c or point.startswith(c.rstrip("/") + "/") for c in covered):
            continue
        if _libc.mount(b"tmpfs", os.fsencode(point), b"tmpfs",
                       MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                       b"size=4096,mode=0555") == 0:
            covered.append(point)
    return covered


def unmount_scratch(path: str) -> bool:
    """Detach a ``mount_scratch`` tmpfs; its contents go however deep or large they are."""
    return _libc.umount2(os.fsencode(path), MNT_DETACH) == 0


# -- cgroups: a pids and a memory limit per program ---------------------------------------------
#
# RLIMIT_NPROC does not bind uid 0 and RLIMIT_AS does not see memfd, tmpfs or kernel memory, so
# each child gets a cgroup of its own in every hierarchy that has the controller (v1 or v2):
# the engine makes one run directory per pool (``cgroup_run_create``), the zygote one job
# directory per child (``cgroup_job_create``) which the child joins before it runs anything
# (``cgroup_join``) and which is removed once it has been reaped (``cgroup_job_remove``).
# Directories are named ``dixit-<engine pid>-<token>``, so ``cgroup_clean_stale`` can remove
# those of an engine that was killed.

CONTROLLERS = ("pids", "memory")
_STALE = re.compile(r"dixit-(\d+)-[0-9a-f]+$")


def _cgroup_mounts() -> list[tuple[str, str, str, set[str]]]:
    """(mount root, mount point, fs type, super options) of every cgroup file system."""
    out = []
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                pre, _, post = line.partition(" - ")
                fields, tail = pre.split(), post.split()
                if len(fields) >= 5 and len(tail) >= 3 and tail[0] in ("cgroup", "cgroup2"):
                    point = fields[4].replace("\\040", " ")
                    out.append((fields[3], point, tail[0], set(tail[2].split(","))))
    except OSError:
        pass
    return out


def cgroup_bases() -> tuple[dict[str, tuple[str, int]], dict[str, str]]:
    """For each controller, where this process may create child cgroups ``(directory,
    version)``; and for the others, why not. v1: below our own cgroup of that hierarchy. v2:
    beside our own cgroup (a cgroup with processes cannot delegate controllers to children),
    so the parent must already delegate the controller; at the root we delegate it ourselves."""
    own: dict[str, str] = {}
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, ctrls, path = line.rstrip("\n").split(":", 2)
                for c in ctrls.split(",") if ctrls else [""]:
                    own[c] = path
    except (OSError, ValueError):
        pass
    mounts = _cgroup_mounts()
    bases: dict[str, tuple[str, int]] = {}
    why: dict[str, str] = {}
    for c in CONTROLLERS:
        v1 = [(r, p) for r, p, t, o in mounts if t == "cgroup" and c in o]
        v2 = [(r, p) for r, p, t, _ in mounts if t == "cgroup2"]
        try:
            if v1 and c in own:
                bases[c] = (_below(v1[0], own[c]), 1)
            elif v2 and "" in own:
                bases[c] = (_v2_base(v2[0], own[""], c), 2)
            else:
                why[c] = "no cgroup hierarchy with this controller"
        except OSError as exc:
            why[c] = exc.strerror or str(exc)
    return bases, why


def _below(mount: tuple[str, str], path: str) -> str:
    root, point = mount
    rel = os.path.relpath(path, root) if root != "/" else path.lstrip("/")
    if rel.startswith(".."):
        raise OSError(errno.ENOENT, f"own cgroup {path} is outside the mounted {root}")
    d = os.path.normpath(os.path.join(point, rel))
    if not os.path.isdir(d):
        raise OSError(errno.ENOENT, f"own cgroup {d} not found")
    return d


def _v2_base(mount: tuple[str, str], path: str, ctrl: str) -> str:
    here = _below(mount, path)
    at_root = os.path.normpath(here) == os.path.normpath(mount[1])
    base = here if at_root else os.path.dirname(here)
    with open(os.path.join(base, "cgroup.subtree_control")) as f:
        delegated = f.read().split()
    if ctrl not in delegated:
        if not at_root:
            raise OSError(errno.EPERM, f"{ctrl} controller not delegated to {base}")
        _write(os.path.join(base, "cgroup.subtree_control"), f"+{ctrl}")
    return base


def _write(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def cgroup_run_create(bases: dict[str, tuple[str, int]] | None = None) -> list[dict[str, Any]]:
    """One run directory per distinct base: ``[{"dir", "version", "controllers"}]``, the
    form the zygote is given. Raises OSError when a directory cannot be made."""
    if bases is None:
        bases = cgroup_bases()[0]
    runs: dict[str, dict[str, Any]] = {}
    for c, (base, version) in bases.items():
        run = runs.setdefault(base, {"dir": os.path.join(
            base, f"dixit-{os.getpid()}-{os.urandom(6).hex()}"), "version": version,
            "controllers": []})
        run["controllers"].append(c)
    made: list[dict[str, Any]] = []
    try:
        for run in runs.values():
            os.mkdir(run["dir"], 0o755)
            made.append(run)
            if run["version"] == 2:
                _write(os.path.join(run["dir"], "cgroup.subtree_control"),
                       " ".join(f"+{c}" for c in run["controllers"]))
    except OSError:
        cgroup_run_remove(made)
        raise
    return made


def cgroup_open_runs(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs with an ``fd`` (O_PATH) each: jobs are then made and used relative to it, a
    few short names per program instead of long paths looked up again and again."""
    return [{**run, "fd": os.open(run["dir"], os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)}
            for run in runs]


def _write_at(fd: int, name: str, value: str) -> None:
    f = os.open(name, os.O_WRONLY | os.O_CLOEXEC, dir_fd=fd)
    try:
        os.write(f, value.encode())
    finally:
        os.close(f)


def _read_at(fd: int, name: str) -> str:
    try:
        f = os.open(name, os.O_RDONLY | os.O_CLOEXEC, dir_fd=fd)
    except OSError:
        return ""
    try:
        return os.read(f, 1 << 16).decode(errors="replace")
    except OSError:
        return ""
    finally:
        os.close(f)


def _keyed(text: str) -> dict[str, str]:
    return dict(line.split(None, 1) for line in text.splitlines() if " " in line)


def cgroup_job_create(runs: list[dict[str, Any]], name: str, *, tasks: int,
                      memory_bytes: int) -> list[int]:
    """A job cgroup ``name`` under each run (opened with ``cgroup_open_runs``), limits set;
    returns a descriptor of each job directory, for ``cgroup_join`` & co."""
    fds: list[int] = []
    try:
        for run in runs:
            os.mkdir(name, 0o755, dir_fd=run["fd"])
            fds.append(os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC,
                               dir_fd=run["fd"]))
            if "pids" in run["controllers"]:
                _write_at(fds[-1], "pids.max", str(tasks))
        cgroup_job_limit(runs, fds, memory_bytes)
    except OSError:
        cgroup_job_remove(runs, name, fds)
        raise
    return fds


_SWAP_FILES = ("memory.memsw.limit_in_bytes", "memory.swap.max")


def cgroup_job_limit(runs: list[dict[str, Any]], fds: list[int], memory_bytes: int) -> None:
    """Set the memory limit of a job cgroup (swap included: it must not be a way round)."""
    for run, fd in zip(runs, fds, strict=False):
        if "memory" not in run["controllers"]:
            continue
        if run["version"] == 1:
            files = [("memory.limit_in_bytes", str(memory_bytes)),
                     ("memory.memsw.limit_in_bytes", str(memory_bytes))]
            try:  # memsw may not go below the limit: lower it after, raise it before
                current = int(_read_at(fd, "memory.limit_in_bytes") or 0)
            except ValueError:
                current = 0
            if memory_bytes > current:
                files.reverse()
        else:
            files = [("memory.max", str(memory_bytes)), ("memory.swap.max", "0")]
        for fname, value in files:
            try:
                _write_at(fd, fname, value)
            except FileNotFoundError:
                if fname not in _SWAP_FILES:  # absent without swap accounting: fine
                    raise


def cgroup_job_idle(fds: list[int]) -> bool:
    """True when no task is left in any of a job's cgroups (so another may use them)."""
    return all(not _read_at(fd, "cgroup.procs").strip() for fd in fds)


def cgroup_job_rewind(runs: list[dict[str, Any]], fds: list[int]) -> None:
    """Between two programs in the same (idle) job cgroups: reset the peak and the limit-hit
    count where the kernel allows (v1); the other counters are compared before and after."""
    for run, fd in zip(runs, fds, strict=False):
        if "memory" in run["controllers"] and run["version"] == 1:
            for fname in ("memory.max_usage_in_bytes", "memory.failcnt"):
                try:
                    _write_at(fd, fname, "0")
                except OSError:
                    pass


def cgroup_join(fds: list[int], pid: int | None = None) -> None:
    """Move process ``pid`` (default: this one) into job cgroups. It must not run anything of
    a program's before this returns."""
    text = str(os.getpid() if pid is None else pid)
    for fd in fds:
        _write_at(fd, "cgroup.procs", text)


def cgroup_job_report(runs: list[dict[str, Any]], fds: list[int]) -> dict[str, int]:
    """Peak memory and how often a limit refused or killed: counters since the cgroups were
    made (or last rewound), so callers compare two reports."""
    report: dict[str, int] = {}
    for run, fd in zip(runs, fds, strict=False):
        if "memory" in run["controllers"]:
            if run["version"] == 1:
                peak = _read_at(fd, "memory.max_usage_in_bytes")
                events = _keyed(_read_at(fd, "memory.oom_control"))
                hits = _read_at(fd, "memory.failcnt")
            else:
                peak = _read_at(fd, "memory.peak")
                events = _keyed(_read_at(fd, "memory.events"))
                hits = events.get("max", "0")
            report["memory_peak"] = int(peak.strip() or 0)
            report["memory_refused"] = int(hits.strip() or 0)
            report["oom_kills"] = int(events.get("oom_kill", "0"))
        if "pids" in run["controllers"]:
            report["tasks_refused"] = int(_keyed(_read_at(fd, "pids.events")).get("max", "0"))
    return report


def _rmdir_cgroup(name: str, dir_fd: int | None = None) -> bool:
    """rmdir a cgroup; one whose last task was just reaped can stay busy for a moment."""
    for delay in (0, 0.001, 0.005, 0.02, 0.1, 0.3):
        time.sleep(delay)
        try:
            os.rmdir(name, dir_fd=dir_fd)
            return True
        except FileNotFoundError:
            return True
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                return False
    return False


def cgroup_job_remove(runs: list[dict[str, Any]], name: str, fds: list[int]) -> bool:
    """Close the job's descriptors and remove its cgroups; True when all are gone."""
    for fd in fds:
        os.close(fd)
    ok = True
    for run in runs[:len(fds)]:
        ok = _rmdir_cgroup(name, run["fd"]) and ok
    return ok


def cgroup_run_remove(runs: list[dict[str, Any]]) -> bool:
    ok = True
    for run in runs:
        ok = _remove_cgroup_dir(run["dir"]) and ok
    return ok


def _remove_cgroup_dir(path: str) -> bool:
    try:
        subs = [e.path for e in os.scandir(path) if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return True
    except OSError:
        return False
    ok = all([_rmdir_cgroup(s) for s in subs])
    return _rmdir_cgroup(path) and ok


def cgroup_clean_stale(bases: dict[str, tuple[str, int]] | None = None) -> int:
    """Remove the cgroups of engines that are no longer running; returns how many went. A
    cgroup that still holds a task cannot be removed (EBUSY), so this never harms a live run."""
    if bases is None:
        bases = cgroup_bases()[0]
    removed = 0
    for base in {b for b, _ in bases.values()}:
        try:
            entries = list(os.scandir(base))
        except OSError:
            continue
        for e in entries:
            m = _STALE.match(e.name)
            if m and e.is_dir(follow_symlinks=False) and not pid_alive(int(m.group(1))):
                removed += _remove_cgroup_dir(e.path)
    return removed


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_CG_CACHE: list[tuple[dict[str, int], dict[str, str]]] = []


def probe_cgroups() -> tuple[dict[str, int], dict[str, str]]:
    """Which controllers give each child a limit here: ``{controller: version}``, and why the
    others do not. Really makes (and removes) a run and a job cgroup, so a read-only cgroupfs
    or missing permissions show up as such."""
    if _CG_CACHE:
        return _CG_CACHE[0]
    bases, why = cgroup_bases()
    versions: dict[str, int] = {}
    for c, base in bases.items():
        try:
            runs = cgroup_run_create({c: base})
            try:
                opened = cgroup_open_runs(runs)
                try:
                    cgroup_job_remove(opened, "probe", cgroup_job_create(
                        opened, "probe", tasks=TASKS, memory_bytes=1 << 30))
                finally:
                    for run in opened:
                        os.close(run["fd"])
            finally:
                cgroup_run_remove(runs)
            versions[c] = base[1]
        except OSError as exc:
            why[c] = f"cannot create a cgroup in {base[0]}: {exc.strerror or exc}"
    _CG_CACHE.append((versions, why))
    return versions, why


# -- removing a scratch tree ----------------------------------------------------------------------

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


def readable_roots(extra: tuple[str, ...] = ()) -> list[tuple[str, bool]]:
    """Paths a sandboxed Python needs to read to import the standard library, numpy and torch:
    ``(path, writable)`` pairs. Never ``/``, never ``$HOME`` or any ancestor of it."""
    cands: list[str] = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    for mod in ("numpy", "torch"):
        m = sys.modules.get(mod)
        if m is not None and getattr(m, "__file__", None):
            cands.append(str(Path(m.__file__).resolve().parent.parent))  # type: ignore[arg-type]
    cands += ["/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/local/lib",
              "/etc/ld.so.cache", "/dev/urandom", *extra]
    forbidden = {Path("/")}
    for var in ("HOME", "DIXIT_HOME"):
        if os.environ.get(var):
            forbidden.add(Path(os.environ[var]).resolve())
    roots: list[tuple[str, bool]] = []
    seen: set[str] = set()
    for c in cands:
        try:
            p = Path(c).resolve(strict=True)
        except OSError:
            continue
        # refuse anything that would expose a whole home directory or the root
        if any(p == f or p in f.parents for f in forbidden):
            continue
        if str(p) not in seen:
            seen.add(str(p))
            roots.append((str(p), False))
    roots.append(("/dev/null", True))
    return roots


# -- applied in each forked child ----------------------------------------------------------------


def set_rlimits(*, cpu_seconds: float, memory_mb: int, file_bytes: int, nofile: int = 256,
                extra_tasks: int = 256) -> None:
    """Hard limits (soft == hard, except CPU where SIGXCPU comes one second before SIGKILL).

    Address space is relative to what this process already maps (a zygote with torch loaded
    maps a lot of virtual memory it never touches); tasks are relative to the system-wide
    count, which bounds thread bombs without knowing how many tasks this uid already runs
    (for anyone but uid 0, which RLIMIT_NPROC does not bind: the pids cgroup does)."""
    cpu = max(1, int(cpu_seconds + 0.999))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    with open("/proc/self/statm", "rb") as f:
        vsize = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit_as = vsize + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit_as, limit_as))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
    resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        with open("/proc/loadavg", "rb") as f:
            tasks = int(f.read().split()[3].split(b"/")[1])
        resource.setrlimit(resource.RLIMIT_NPROC, (tasks + extra_tasks, tasks + extra_tasks))
    except (OSError, ValueError, IndexError):
        pass


def drop_privileges() -> None:
    """``no_new_privs`` (required by Landlock and seccomp) and, for root, drop every capability
    so the child cannot raise rlimits, override permissions or ptrace."""
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # no core dumps, no /proc/<pid>/mem for peers
    header = struct.pack("Ii", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = bytes(24)  # effective/permitted/inheritable = 0, two 32-bit words each
    hbuf, dbuf = ctypes.create_string_buffer(header), ctypes.create_string_buffer(data)
    if _SYS_CAPSET is not None:
        ret = _libc.syscall(ctypes.c_long(_SYS_CAPSET), hbuf, dbuf)
    else:  # unknown architecture: libc's wrapper knows the number
        ret = _libc.capset(hbuf, dbuf)
    if ret != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


def _fs_rights(abi: int) -> int:
    rights = (1 << 13) - 1  # ABI 1: EXECUTE .. MAKE_SYM
    if abi >= 2:
        rights |= FS_REFER
    if abi >= 3:
        rights |= FS_TRUNCATE
    if abi >= 5:
        rights |= FS_IOCTL_DEV
    return rights


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


def apply_landlock(abi: int, roots: list[tuple[str, bool]], scratch: str) -> None:
    """Confine the file system: read-only ``roots`` (writable where flagged), read-write
    ``scratch``, nothing else; plus TCP (ABI >= 4) and signal/abstract-socket scoping
    (ABI >= 6). Irreversible for this process."""
    handled = _fs_rights(abi)
    attr = struct.pack("Q", handled)
    if abi >= 4:
        attr += struct.pack("Q", NET_BIND_TCP | NET_CONNECT_TCP)
    if abi >= 6:
        attr += struct.pack("Q", SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL)
    buf = ctypes.create_string_buffer(attr, len(attr))
    ruleset = _syscall(SYS_LANDLOCK_CREATE_RULESET, buf, len(attr), 0)
    read = FS_READ_FILE | FS_READ_DIR
    write = handled & ~(FS_EXECUTE | FS_MAKE_CHAR | FS_MAKE_BLOCK | FS_IOCTL_DEV)
    try:
        for path, writable in [*roots, (scratch, True)]:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                access = (write if writable else read) & handled
                if not os.path.isdir(path):
                    access &= _FILE_RIGHTS
                rule = _PathBeneath(access, fd)
                _syscall(SYS_LANDLOCK_ADD_RULE, ruleset, LANDLOCK_RULE_PATH_BENEATH,
                         ctypes.byref(rule), 0)
            finally:
                os.close(fd)
        _syscall(SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0)
    finally:
        os.close(ruleset)


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k & 0xFFFFFFFF)


def seccomp_filter(pid: int, arch: str | None = None) -> bytes:
    """The BPF program for a child whose pid is ``pid`` (on ``arch``, default this machine)."""
    code, slots = seccomp_template(arch)
    return patch_pid(code, slots, pid)


def patch_pid(code: bytes, slots: list[int], pid: int) -> bytes:
    """Fill the pid into a ``seccomp_template()`` (cheap enough for every fork)."""
    buf = bytearray(code)
    for i in slots:
        struct.pack_into("I", buf, i * 8 + 4, pid)
    return bytes(buf)


def seccomp_template(arch: str | None = None) -> tuple[bytes, list[int]]:
    """The filter with the pid left blank, and the indices of the instructions that need it.
    Built once in the zygote: building it in Python costs more than the rest of a fork.
    Raises ValueError for an architecture without a syscall table here."""
    arch = arch or platform.machine()
    if arch not in ARCHES:
        raise ValueError(f"no seccomp syscall table for architecture {arch!r}")
    audit, nrs = ARCHES[arch]
    pid = 0
    slots: list[int] = []
    eperm = SECCOMP_RET_ERRNO | errno.EPERM
    prog = [
        _insn(_BPF_LD_W_ABS, 4),  # seccomp_data.arch: any other ABI (i386, arm32) is killed
        _insn(_BPF_JEQ_K, audit, 1, 0),
        _insn(_BPF_RET_K, SECCOMP_RET_KILL_PROCESS),
        _insn(_BPF_LD_W_ABS, 0),  # seccomp_data.nr
    ]
    if arch == "x86_64":
        prog += [
            _insn(_BPF_JGE_K, 0x40000000, 0, 1),  # x32 ABI: a second syscall table, refuse it
            _insn(_BPF_RET_K, SECCOMP_RET_KILL_PROCESS),
        ]
    for name in _DENY:
        if name in nrs:  # e.g. aarch64 has no fork, vfork, chmod, chown, mknod or utime
            prog += [_insn(_BPF_JEQ_K, nrs[name], 0, 1), _insn(_BPF_RET_K, eperm)]
    # clone: only threads (flags in arg 0 must include CLONE_THREAD); clone3 -> ENOSYS so that
    # glibc falls back to clone for pthread_create, where the flags can be inspected.
    prog += [
        _insn(_BPF_JEQ_K, nrs["clone3"], 0, 1),
        _insn(_BPF_RET_K, SECCOMP_RET_ERRNO | errno.ENOSYS),
        _insn(_BPF_JEQ_K, nrs["clone"], 0, 4),
        _insn(_BPF_LD_W_ABS, 16),  # args[0], low word
        _insn(_BPF_JSET_K, CLONE_THREAD, 0, 1),
        _insn(_BPF_RET_K, SECCOMP_RET_ALLOW),
        _insn(_BPF_RET_K, eperm),
    ]
    for name in _SELF_ONLY:
        prog += [
            _insn(_BPF_JEQ_K, nrs[name], 0, 6),
            _insn(_BPF_LD_W_ABS, 20),  # args[0], high word: must be 0 (no negative pids)
            _insn(_BPF_JEQ_K, 0, 0, 3),
            _insn(_BPF_LD_W_ABS, 16),  # args[0], low word: must be our own pid
        ]
        slots.append(len(prog))
        prog += [
            _insn(_BPF_JEQ_K, pid, 0, 1),
            _insn(_BPF_RET_K, SECCOMP_RET_ALLOW),
            _insn(_BPF_RET_K, eperm),
        ]
    for name, cmds in _DENY_CMDS.items():
        k = len(cmds)
        prog.append(_insn(_BPF_JEQ_K, nrs[name], 0, k + 3))
        prog.append(_insn(_BPF_LD_W_ABS, 16 + 8))  # args[1], low word
        prog += [_insn(_BPF_JEQ_K, c, k - i, 0) for i, c in enumerate(cmds)]
        prog += [_insn(_BPF_RET_K, SECCOMP_RET_ALLOW), _insn(_BPF_RET_K, eperm)]
    # prlimit64 only to read limits (new_limit == NULL), never to change them
    prog += [
        _insn(_BPF_JEQ_K, nrs["prlimit64"], 0, 6),
        _insn(_BPF_LD_W_ABS, 16 + 8 * 2),
        _insn(_BPF_JEQ_K, 0, 0, 3),
        _insn(_BPF_LD_W_ABS, 16 + 8 * 2 + 4),
        _insn(_BPF_JEQ_K, 0, 0, 1),
        _insn(_BPF_RET_K, SECCOMP_RET_ALLOW),
        _insn(_BPF_RET_K, eperm),
    ]
    prog.append(_insn(_BPF_RET_K, SECCOMP_RET_ALLOW))
    return b"".join(prog), slots


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


def apply_seccomp(pid: int, template: tuple[bytes, list[int]] | None = None) -> None:
    """Install the filter (needs no_new_privs). Irreversible; inherited by threads."""
    code = patch_pid(*template, pid) if template else seccomp_filter(pid)
    buf = ctypes.create_string_buffer(code, len(code))
    prog = _SockFprog(len(code) // 8, ctypes.cast(buf, ctypes.c_void_p))
    if _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")
