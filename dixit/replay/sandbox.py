"""Kernel isolation mechanisms for running hostile programs: pure mechanism, no policy.

``probe()`` reports what this kernel offers. The ``apply_*`` functions are meant to be called
inside a freshly forked, single-threaded child (see ``dixit._zygote``), in this order:
``set_rlimits`` -> ``drop_privileges`` -> ``apply_landlock`` -> ``apply_seccomp``.

- rlimits bound CPU time, address space (relative to what the process already maps), file
  size, open files and tasks, and disable core dumps;
- Landlock (when the kernel has it) confines the file system to read-only access to what Python
  and torch need plus read-write access to one private scratch directory; from ABI 4 it also
  denies TCP bind/connect, from ABI 6 it stops signals and abstract unix sockets that would
  leave the sandbox;
- a seccomp-bpf filter (x86_64) denies sockets, process creation (threads stay allowed), exec,
  ptrace and cross-process memory access, signals to anyone but the process itself, namespace,
  mount, key, bpf, io_uring and similar escape hatches, and metadata tampering (chmod, chown,
  utimes, xattrs) that Landlock does not cover;
- capabilities are dropped so that a root child cannot raise its own rlimits.

``DIXIT_SANDBOX_DISABLE`` (comma separated: ``landlock``, ``seccomp``, ``netns``) caps what
``probe()`` reports and hence what is applied; it exists for tests and for debugging, and
weakens isolation accordingly.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import resource
import signal
import struct
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

DISABLE_ENV = "DIXIT_SANDBOX_DISABLE"
LEVELS = ("none", "partial", "full")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.prctl.restype = ctypes.c_int
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                        ctypes.c_ulong]

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
CLONE_THREAD = 0x00010000

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
_BPF_LD_W_ABS = 0x20
_BPF_JEQ_K = 0x15
_BPF_JGE_K = 0x35
_BPF_JSET_K = 0x45
_BPF_RET_K = 0x06

# x86_64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl)
_X86_64: dict[str, int] = {
    "socket": 41, "connect": 42, "accept": 43, "sendto": 44, "recvfrom": 45, "sendmsg": 46,
    "recvmsg": 47, "shutdown": 48, "bind": 49, "listen": 50, "getsockname": 51,
    "getpeername": 52, "socketpair": 53, "setsockopt": 54, "getsockopt": 55, "clone": 56,
    "fork": 57, "vfork": 58, "execve": 59, "kill": 62, "chmod": 90, "fchmod": 91, "chown": 92,
    "fchown": 93, "lchown": 94, "ptrace": 101, "syslog": 103, "setuid": 105, "setgid": 106,
    "setpgid": 109, "setsid": 112, "setreuid": 113, "setregid": 114, "setgroups": 116,
    "setresuid": 117, "setresgid": 119, "setfsuid": 122, "setfsgid": 123, "capset": 126,
    "rt_sigqueueinfo": 129, "utime": 132, "mknod": 133, "uselib": 134, "personality": 135,
    "vhangup": 153, "modify_ldt": 154, "pivot_root": 155, "adjtimex": 159, "setrlimit": 160,
    "chroot": 161, "acct": 163, "settimeofday": 164, "mount": 165, "umount2": 166,
    "swapon": 167, "swapoff": 168, "reboot": 169, "sethostname": 170, "setdomainname": 171,
    "iopl": 172, "ioperm": 173, "init_module": 175, "delete_module": 176, "quotactl": 179,
    "setxattr": 188, "lsetxattr": 189, "fsetxattr": 190, "removexattr": 197,
    "lremovexattr": 198, "fremovexattr": 199, "tkill": 200, "clock_settime": 227,
    "tgkill": 234, "utimes": 235, "kexec_load": 246, "add_key": 248, "request_key": 249,
    "keyctl": 250, "migrate_pages": 256, "mknodat": 259, "fchownat": 260, "futimesat": 261,
    "fchmodat": 268, "unshare": 272, "move_pages": 279, "utimensat": 280, "accept4": 288,
    "rt_tgsigqueueinfo": 297, "perf_event_open": 298, "recvmmsg": 299, "fanotify_init": 300,
    "prlimit64": 302, "name_to_handle_at": 303, "open_by_handle_at": 304,
    "clock_adjtime": 305, "sendmmsg": 307, "setns": 308, "process_vm_readv": 310,
    "process_vm_writev": 311, "kcmp": 312, "finit_module": 313, "seccomp": 317,
    "kexec_file_load": 320, "bpf": 321, "execveat": 322, "userfaultfd": 323,
    "pidfd_send_signal": 424, "io_uring_setup": 425, "io_uring_enter": 426,
    "io_uring_register": 427, "open_tree": 428, "move_mount": 429, "fsopen": 430,
    "fsconfig": 431, "fsmount": 432, "fspick": 433, "pidfd_open": 434, "clone3": 435,
    "pidfd_getfd": 438, "process_madvise": 440, "mount_setattr": 442, "quotactl_fd": 443,
    "process_mrelease": 448, "fchmodat2": 452, "setxattrat": 463, "removexattrat": 466,
    "open_tree_attr": 467, "ioctl": 16, "fcntl": 72,
}
_SYS_CAPSET = 126
_SYS_UNSHARE = 272

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

    level: str  # "full" (Landlock + seccomp), "partial" (one of them), "none"
    landlock_abi: int = 0  # 0 = unavailable
    seccomp: bool = False
    netns: bool = False  # a private network namespace can be created (root or user ns)
    userns: bool = False  # unprivileged user namespaces work
    rlimits: bool = True
    arch: str = ""
    disabled: tuple[str, ...] = ()
    missing: tuple[str, ...] = field(default=())

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
            parts.append("seccomp-bpf")
        if self.netns:
            parts.append("net namespace")
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
    if platform.machine() != "x86_64":
        return False  # the filter below encodes x86_64 syscall numbers only
    if _libc.prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0:
        return False
    for action in (SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_PROCESS):
        value = ctypes.c_uint32(action)
        try:
            _syscall(_X86_64["seccomp"], SECCOMP_GET_ACTION_AVAIL, 0, ctypes.byref(value))
        except OSError:
            return False
    return True


_NS_PROBE = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
net = libc.unshare(0x40000000) == 0 if os.geteuid() == 0 else False
pid = os.fork()
if pid == 0:
    os._exit(0 if libc.unshare(0x10000000 | 0x40000000) == 0 else 1)
user = os.waitpid(pid, 0)[1] == 0
print(int(net or user), int(user))
"""


def _namespaces() -> tuple[bool, bool]:
    """(net namespace possible, unprivileged user namespace possible), tested in a subprocess
    so that this (possibly multi-threaded) process is never forked or unshared."""
    try:
        out = subprocess.run([sys.executable, "-I", "-S", "-c", _NS_PROBE], capture_output=True,
                             text=True, timeout=20, env={}, check=False).stdout.split()
        return out[0] == "1", out[1] == "1"
    except (OSError, subprocess.SubprocessError, IndexError):
        return False, False


_CACHE: dict[str, Isolation] = {}


def probe() -> Isolation:
    """What isolation this kernel offers, capped by ``DIXIT_SANDBOX_DISABLE`` (cached)."""
    raw = os.environ.get(DISABLE_ENV, "")
    if raw in _CACHE:
        return _CACHE[raw]
    disabled = tuple(sorted({p.strip() for p in raw.split(",") if p.strip()}))
    unknown = set(disabled) - {"landlock", "seccomp", "netns"}
    if unknown:
        raise ValueError(f"{DISABLE_ENV}: unknown mechanism(s) {', '.join(sorted(unknown))}; "
                         "use landlock, seccomp, netns")
    abi = 0 if "landlock" in disabled else landlock_abi()
    sec = "seccomp" not in disabled and _seccomp_available()
    net, user = _namespaces()
    net = net and "netns" not in disabled
    missing = []
    if not abi:
        missing.append("Landlock (file system confinement)")
    if not sec:
        missing.append("seccomp-bpf (system call filter)")
    level = "full" if abi and sec else "partial" if abi or sec else "none"
    iso = Isolation(level=level, landlock_abi=abi, seccomp=sec, netns=net, userns=user,
                    arch=platform.machine(), disabled=disabled, missing=tuple(missing))
    _CACHE[raw] = iso
    return iso


# -- applied in the zygote (once) ----------------------------------------------------------------


def set_pdeathsig(sig: int = signal.SIGKILL) -> None:
    """Die with the parent: an orphaned sandbox must never outlive the engine."""
    _libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)


def enter_network_namespace() -> bool:
    """Move this process into an empty network namespace (no interfaces but a down loopback).

    Done once in the zygote so children inherit it at no per-program cost. Returns False when
    the kernel refuses (no CAP_SYS_ADMIN and no unprivileged user namespaces)."""
    if os.geteuid() == 0 and _libc.syscall(ctypes.c_long(_SYS_UNSHARE),
                                           ctypes.c_long(CLONE_NEWNET)) == 0:
        return True
    uid, gid = os.geteuid(), os.getegid()
    if _libc.syscall(ctypes.c_long(_SYS_UNSHARE),
                     ctypes.c_long(CLONE_NEWUSER | CLONE_NEWNET)) != 0:
        return False
    try:  # keep the same ids inside, so file ownership checks are unchanged
        Path("/proc/self/setgroups").write_text("deny")
        Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
        Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
    except OSError:
        pass
    return True


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
    count, which bounds thread bombs without knowing how many tasks this uid already runs."""
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
    if _libc.syscall(ctypes.c_long(_SYS_CAPSET), hbuf, dbuf) != 0:
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


def seccomp_filter(pid: int) -> bytes:
    """The BPF program for a child whose pid is ``pid`` (x86_64)."""
    code, slots = seccomp_template()
    return patch_pid(code, slots, pid)


def patch_pid(code: bytes, slots: list[int], pid: int) -> bytes:
    """Fill the pid into a ``seccomp_template()`` (cheap enough for every fork)."""
    buf = bytearray(code)
    for i in slots:
        struct.pack_into("I", buf, i * 8 + 4, pid)
    return bytes(buf)


def seccomp_template() -> tuple[bytes, list[int]]:
    """The filter with the pid left blank, and the indices of the instructions that need it.
    Built once in the zygote: building it in Python costs more than the rest of a fork."""
    pid = 0
    slots: list[int] = []
    eperm = SECCOMP_RET_ERRNO | errno.EPERM
    prog = [
        _insn(_BPF_LD_W_ABS, 4),  # seccomp_data.arch
        _insn(_BPF_JEQ_K, AUDIT_ARCH_X86_64, 1, 0),
        _insn(_BPF_RET_K, SECCOMP_RET_KILL_PROCESS),
        _insn(_BPF_LD_W_ABS, 0),  # seccomp_data.nr
        _insn(_BPF_JGE_K, 0x40000000, 0, 1),  # x32 ABI: a second syscall table, refuse it
        _insn(_BPF_RET_K, SECCOMP_RET_KILL_PROCESS),
    ]
    for name in _DENY:
        prog += [_insn(_BPF_JEQ_K, _X86_64[name], 0, 1), _insn(_BPF_RET_K, eperm)]
    # clone: only threads (flags in arg 0 must include CLONE_THREAD); clone3 -> ENOSYS so that
    # glibc falls back to clone for pthread_create, where the flags can be inspected.
    prog += [
        _insn(_BPF_JEQ_K, _X86_64["clone3"], 0, 1),
        _insn(_BPF_RET_K, SECCOMP_RET_ERRNO | errno.ENOSYS),
        _insn(_BPF_JEQ_K, _X86_64["clone"], 0, 4),
        _insn(_BPF_LD_W_ABS, 16),  # args[0], low word
        _insn(_BPF_JSET_K, CLONE_THREAD, 0, 1),
        _insn(_BPF_RET_K, SECCOMP_RET_ALLOW),
        _insn(_BPF_RET_K, eperm),
    ]
    for name in _SELF_ONLY:
        prog += [
            _insn(_BPF_JEQ_K, _X86_64[name], 0, 6),
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
        prog.append(_insn(_BPF_JEQ_K, _X86_64[name], 0, k + 3))
        prog.append(_insn(_BPF_LD_W_ABS, 16 + 8))  # args[1], low word
        prog += [_insn(_BPF_JEQ_K, c, k - i, 0) for i, c in enumerate(cmds)]
        prog += [_insn(_BPF_RET_K, SECCOMP_RET_ALLOW), _insn(_BPF_RET_K, eperm)]
    # prlimit64 only to read limits (new_limit == NULL), never to change them
    prog += [
        _insn(_BPF_JEQ_K, _X86_64["prlimit64"], 0, 6),
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
