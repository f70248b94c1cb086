"""seccomp-bpf for the sandbox: per-architecture syscall tables, the filter a child installs
(sockets, process creation, exec, ptrace, cross-process memory, SysV IPC, memfd, namespaces,
mounts, keys, bpf, io_uring and metadata tampering denied; signals only to itself), and its
installation. Standard library only.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct

from dixit.replay.kernel import libc as _libc

CLONE_THREAD = 0x00010000
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2

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
