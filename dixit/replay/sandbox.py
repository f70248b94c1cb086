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
import os
import platform
import resource
import signal
import struct
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dixit.replay import kernel

# Re-exported (``x as x``): the zygote and the tests reach every mechanism as sandbox.*
from dixit.replay.cgroups import (
    CONTROLLERS as CONTROLLERS,
    TASKS as TASKS,
    cgroup_bases as cgroup_bases,
    cgroup_clean_stale as cgroup_clean_stale,
    cgroup_job_create as cgroup_job_create,
    cgroup_job_idle as cgroup_job_idle,
    cgroup_job_limit as cgroup_job_limit,
    cgroup_job_remove as cgroup_job_remove,
    cgroup_job_report as cgroup_job_report,
    cgroup_job_rewind as cgroup_job_rewind,
    cgroup_join as cgroup_join,
    cgroup_mounts as cgroup_mounts,
    cgroup_open_runs as cgroup_open_runs,
    cgroup_run_create as cgroup_run_create,
    cgroup_run_remove as cgroup_run_remove,
    pid_alive as pid_alive,
    probe_cgroups as probe_cgroups,
)
from dixit.replay.kernel import syscall as _syscall
from dixit.replay.landlock import (
    FS_EXECUTE as FS_EXECUTE,
    FS_IOCTL_DEV as FS_IOCTL_DEV,
    FS_MAKE_BLOCK as FS_MAKE_BLOCK,
    FS_MAKE_CHAR as FS_MAKE_CHAR,
    FS_READ_DIR as FS_READ_DIR,
    FS_READ_FILE as FS_READ_FILE,
    FS_REFER as FS_REFER,
    FS_TRUNCATE as FS_TRUNCATE,
    FS_WRITE_FILE as FS_WRITE_FILE,
    LANDLOCK_CREATE_RULESET_VERSION as LANDLOCK_CREATE_RULESET_VERSION,
    NET_BIND_TCP as NET_BIND_TCP,
    NET_CONNECT_TCP as NET_CONNECT_TCP,
    SCOPE_ABSTRACT_UNIX_SOCKET as SCOPE_ABSTRACT_UNIX_SOCKET,
    SCOPE_SIGNAL as SCOPE_SIGNAL,
    SYS_LANDLOCK_CREATE_RULESET as SYS_LANDLOCK_CREATE_RULESET,
    apply_landlock as apply_landlock,
    landlock_abi as landlock_abi,
)
from dixit.replay.scratch import remove_tree as remove_tree
from dixit.replay.seccomp import (
    _DENY as _DENY,
    _DENY_CMDS as _DENY_CMDS,
    _SELF_ONLY as _SELF_ONLY,
    _SYS_CAPSET as _SYS_CAPSET,
    _SYS_UNSHARE as _SYS_UNSHARE,
    ARCHES as ARCHES,
    AUDIT_ARCH_AARCH64 as AUDIT_ARCH_AARCH64,
    AUDIT_ARCH_X86_64 as AUDIT_ARCH_X86_64,
    CLONE_THREAD as CLONE_THREAD,
    PR_SET_SECCOMP as PR_SET_SECCOMP,
    SECCOMP_GET_ACTION_AVAIL as SECCOMP_GET_ACTION_AVAIL,
    SECCOMP_MODE_FILTER as SECCOMP_MODE_FILTER,
    SECCOMP_RET_ALLOW as SECCOMP_RET_ALLOW,
    SECCOMP_RET_ERRNO as SECCOMP_RET_ERRNO,
    SECCOMP_RET_KILL_PROCESS as SECCOMP_RET_KILL_PROCESS,
    apply_seccomp as apply_seccomp,
    patch_pid as patch_pid,
    seccomp_filter as seccomp_filter,
    seccomp_template as seccomp_template,
    syscall_nr as syscall_nr,
)

DISABLE_ENV = "DIXIT_SANDBOX_DISABLE"
LEVELS = ("none", "partial", "full")

_libc = kernel.libc
_libc.prctl.restype = ctypes.c_int
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                        ctypes.c_ulong]
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]

# prctl options
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
PR_GET_SECCOMP = 21
CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MNT_DETACH = 2


# seccomp-bpf
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


def unshare_namespaces(*, mount: bool, ipc: bool) -> None:
    """New namespaces for this child alone (it still has the rights to make them): a mount
    namespace, copied from the zygote's private one, in which it mounts its own scratch (gone
    with the child, however it ends), and optionally an IPC namespace (see ``unshare_ipc``)."""
    flags = (CLONE_NEWNS if mount else 0) | (CLONE_NEWIPC if ipc else 0)
    if flags and not _unshare(flags):
        raise OSError(ctypes.get_errno(), "unshare of the child's namespaces failed")


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
    points = sorted({p for _, p, _, _ in cgroup_mounts()}, key=len)
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
