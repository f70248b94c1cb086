"""Control groups for the sandbox: a pids and a memory limit for each program's child.

``RLIMIT_NPROC`` does not hold for uid 0 and ``RLIMIT_AS`` does not count memfd or shared
pages, so a root closer needs the kernel's own accounting: one cgroup per run (v1 or v2,
whichever hierarchy this kernel mounts), one per job below it, removed when the job ends; stale
ones of dead runs are cleaned. Pure mechanism (``sandbox`` decides), standard library only.
"""

from __future__ import annotations

import errno
import os
import re
import time
from typing import Any

TASKS = 256  # pids.max of one program's cgroup: its threads included


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


def cgroup_mounts() -> list[tuple[str, str, str, set[str]]]:
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
    mounts = cgroup_mounts()
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


