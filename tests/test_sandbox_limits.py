"""Resource attacks against the replay sandbox: real programs through ``dixit.replay.replay``.

Each attack is also run with the mechanism that stops it switched off (``DIXIT_SANDBOX_DISABLE``)
where that is safe, and must then *succeed*: so its failure under the sandbox is that
mechanism's doing, and removing the mechanism fails the test.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy
import pytest
import torch

from dixit.data import domains
from dixit.errors import DixitError
from dixit.replay import Limits, Outcome, Program, engine as replay, sandbox

ROOT = os.geteuid() == 0
GRID = domains.parse("grid:5x5")
QUICK = Limits(cpu_seconds=10.0, wall_seconds=20.0, output_bytes=4096)
SMALL_MEMORY = Limits(cpu_seconds=10.0, wall_seconds=20.0, memory_mb=256, output_bytes=4096)
ZERO = "\ndef label(x):\n    return (x[:, 0] * 0).long()\n"
HONEST = "import torch\ndef label(x):\n    return ((x[:, 0] + x[:, 1]) % 2).to(torch.int64)\n"
REPORT_PPID = """
import os
import torch
def label(x):
    out = torch.zeros(x.shape[0], dtype=torch.uint8)
    out[:24] = torch.tensor([(os.getppid() >> i) & 1 for i in range(24)], dtype=torch.uint8)
    return out
"""

needs_full = pytest.mark.skipif(sandbox.probe().level != "full",
                                reason="needs the full sandbox (root on a kernel with cgroups)")
needs_root = pytest.mark.skipif(not ROOT, reason="the attack needs uid 0 to be real")


def _run(tmp: Path, sources: dict[str, str], limits: Limits = QUICK, *, disable: str = "",
         workers: int | None = 1, domain: domains.Domain = GRID,
         on_done: object = None) -> dict[str, Outcome]:
    """Replay ``sources`` with the given mechanisms disabled (the environment is restored)."""
    progs = []
    for key, text in sources.items():
        path = tmp / f"{key}.py"
        path.write_text(text)
        progs.append(Program(key, path))
    saved = os.environ.get(sandbox.DISABLE_ENV)
    os.environ[sandbox.DISABLE_ENV] = disable
    try:
        outs = replay.replay(progs, domain, limits, workers=workers,
                             require="full" if not disable else "none",
                             on_done=on_done)  # type: ignore[arg-type]
    finally:
        if saved is None:
            del os.environ[sandbox.DISABLE_ENV]
        else:
            os.environ[sandbox.DISABLE_ENV] = saved
    return {o.key: o for o in outs}


def _ref(domain: domains.Domain) -> numpy.ndarray:
    x = domain.all()
    return ((x[:, 0] + x[:, 1]) % 2).numpy().astype(numpy.uint8)


def _ppid(o: Outcome) -> int:
    assert o.error is None and o.labels is not None, o.error
    return sum(int(b) << i for i, b in enumerate(o.labels[:24]))


# -- 5. processes ---------------------------------------------------------------------------------

THREAD_BOMB = """
import threading, time
threading.stack_size(64 << 10)  # small stacks: the address-space limit is no obstacle
threads = []
try:
    while len(threads) < 2000:
        t = threading.Thread(target=time.sleep, args=(4,), daemon=True)
        t.start()
        threads.append(t)
except RuntimeError:
    pass
def label(x):
    time.sleep(1.5)  # hold every thread while the other programs run
    if len(threads) < 2000:
        raise RuntimeError(f"started {len(threads)} threads")
    return (x[:, 0] * 0).long()
"""


@needs_full
def test_thread_bomb_is_capped_per_program_and_others_still_run(tmp_path: Path) -> None:
    sources = {"bomb": THREAD_BOMB, **{f"honest{i}": HONEST for i in range(4)}}
    outs = _run(tmp_path, sources, workers=2)
    m = re.search(r"started (\d+) threads", outs["bomb"].error or "")
    assert m, outs["bomb"].error
    assert int(m.group(1)) < sandbox.TASKS  # the program's own pids cgroup, root or not
    for i in range(4):
        o = outs[f"honest{i}"]
        assert o.error is None and numpy.array_equal(o.labels, _ref(GRID)), o.error


@needs_root
@needs_full
def test_thread_bomb_is_real_for_root_without_the_pids_cgroup(tmp_path: Path) -> None:
    # RLIMIT_NPROC does not bind uid 0: without the cgroup all 2000 threads start
    outs = _run(tmp_path, {"bomb": THREAD_BOMB}, disable="cgroups")
    assert outs["bomb"].error is None


def _pids_base() -> str:
    bases = sandbox.cgroup_bases()[0]
    if "pids" not in bases or not ROOT:
        pytest.skip("needs a writable pids cgroup hierarchy")
    return bases["pids"][0]


@pytest.fixture()
def choke_cgroup() -> Iterator[Path]:
    """A pids cgroup of the test's own into which a zygote is moved to make its forks fail;
    everything is moved back and the cgroup removed afterwards."""
    base = Path(_pids_base())
    cg = base / f"dixit-test-{os.getpid()}-{os.urandom(4).hex()}"
    cg.mkdir()
    try:
        yield cg
    finally:
        replay.shutdown()  # the zygotes we starved must not serve later tests
        for _ in range(100):
            pids = (cg / "cgroup.procs").read_text().split()
            for pid in pids:
                try:
                    (base / "cgroup.procs").write_text(pid)
                except OSError:
                    pass
            try:
                cg.rmdir()
                break
            except OSError:
                time.sleep(0.05)


def _starve(cg: Path, release_after: float | None) -> object:
    """on_done hook: once the report program has told us its zygote, put that zygote alone in
    ``cg`` with pids.max 1, so its next fork gets EAGAIN; optionally lift that later."""
    def on_done(o: Outcome) -> None:
        if o.key == "report":
            (cg / "pids.max").write_text("1")
            (cg / "cgroup.procs").write_text(str(_ppid(o)))
            if release_after is not None:
                threading.Timer(release_after,
                                lambda: (cg / "pids.max").write_text("max")).start()
    return on_done


def _refused_forks(cg: Path) -> int:
    events = (cg / "pids.events").read_text().split()
    return int(events[events.index("max") + 1])


@needs_full
def test_fork_refused_in_the_zygote_is_retried_not_scored(tmp_path: Path,
                                                         choke_cgroup: Path) -> None:
    outs = _run(tmp_path, {"report": REPORT_PPID, "honest": HONEST},
                on_done=_starve(choke_cgroup, release_after=0.3))
    assert _refused_forks(choke_cgroup) >= 1  # the kernel really refused the zygote's fork
    assert outs["honest"].error is None, outs["honest"].error
    assert numpy.array_equal(outs["honest"].labels, _ref(GRID))


@needs_full
def test_fork_that_never_succeeds_aborts_the_run_instead_of_scoring(
        tmp_path: Path, choke_cgroup: Path) -> None:
    with pytest.raises(DixitError, match=r"could not start honest in \d+ attempts: could not "
                                         r"start the program: .*Resource temporarily"):
        _run(tmp_path, {"report": REPORT_PPID, "honest": HONEST},
             on_done=_starve(choke_cgroup, release_after=None))
    assert _refused_forks(choke_cgroup) >= replay.START_ATTEMPTS


CGROUP_ESCAPE = """
import os
with open("__PROCS__", "w") as f:  # uid 0 owns the cgroup files: no capability needed
    f.write(str(os.getpid()))
""" + ZERO


@needs_root
@needs_full
def test_program_cannot_leave_its_cgroup_even_without_landlock(tmp_path: Path) -> None:
    procs = os.path.join(_pids_base(), "cgroup.procs")
    src = CGROUP_ESCAPE.replace("__PROCS__", procs)
    err = _run(tmp_path, {"p": src}, disable="landlock")["p"].error or ""
    assert "No such file or directory" in err, err  # the zygote hid every cgroupfs
    # the attack is real: where the cgroup file system is visible, the program leaves
    assert _run(tmp_path, {"p": src}, disable="landlock,mountns")["p"].error is None


def _job_cgroups() -> dict[str, list[Path]]:
    """This engine's job cgroups, per hierarchy."""
    out: dict[str, list[Path]] = {}
    for c, (base, _) in sandbox.cgroup_bases()[0].items():
        out[c] = [j for r in Path(base).glob(f"dixit-{os.getpid()}-*") for j in r.iterdir()
                  if j.is_dir() and j.name.startswith("job-")]
    return out


@needs_root
@needs_full
def test_cgroups_vanishing_between_programs_is_a_retry_not_a_failure(tmp_path: Path) -> None:
    removed: list[str] = []

    def on_done(o: Outcome) -> None:
        if o.key == "report":  # as a careless cleaner elsewhere would: the zygote's are gone
            for dirs in _job_cgroups().values():
                for d in dirs:
                    d.rmdir()
                    removed.append(d.name)

    outs = _run(tmp_path, {"report": REPORT_PPID, "honest": HONEST}, on_done=on_done)
    assert removed
    assert outs["honest"].error is None and numpy.array_equal(outs["honest"].labels,
                                                              _ref(GRID))
    now = {d.name for dirs in _job_cgroups().values() for d in dirs}
    assert now and not now & set(removed)  # the child could not join: new ones were made


# -- 6. SysV IPC ----------------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
_libc.shmat.restype = ctypes.c_void_p
_libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
IPC_CREAT, IPC_RMID = 0o1000, 0

SHM_READER = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
shmid = libc.shmget(__KEY__, 0, 0)
if shmid < 0:
    err = ctypes.get_errno()
    raise OSError(err, os.strerror(err))
addr = libc.shmat(shmid, None, 0)
ctypes.memmove(addr, b"OVERWRITTEN-BY-P", 16)
""" + ZERO


@pytest.fixture()
def host_segment() -> Iterator[tuple[int, int, int]]:
    """A SysV shared memory segment of this (host) process: (key, shmid, address)."""
    key = int.from_bytes(os.urandom(3), "big") + 0x10000
    shmid = _libc.shmget(key, 4096, IPC_CREAT | 0o600)
    assert shmid >= 0, os.strerror(ctypes.get_errno())
    addr = _libc.shmat(shmid, None, 0)
    ctypes.memmove(addr, b"HOST-SECRET-DATA", 16)
    try:
        yield key, shmid, addr
    finally:
        _libc.shmdt(ctypes.c_void_p(addr))
        _libc.shmctl(shmid, IPC_RMID, None)


@needs_full
def test_sysv_shm_of_the_host_is_refused_and_invisible(
        tmp_path: Path, host_segment: tuple[int, int, int]) -> None:
    key, _, addr = host_segment
    src = SHM_READER.replace("__KEY__", str(key))
    # seccomp refuses shmget outright
    err = _run(tmp_path, {"p": src})["p"].error or ""
    assert "blocked by sandbox" in err and "Operation not permitted" in err, err
    # without seccomp the private IPC namespace hides the segment
    err = _run(tmp_path, {"p": src}, disable="seccomp")["p"].error or ""
    assert "No such file or directory" in err, err
    assert ctypes.string_at(addr, 16) == b"HOST-SECRET-DATA"
    # the attack is real: with neither, the program overwrites the host's segment
    assert _run(tmp_path, {"p": src}, disable="seccomp,ipcns")["p"].error is None
    assert ctypes.string_at(addr, 16) == b"OVERWRITTEN-BY-P"


SHM_HOARDER = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
shmid = libc.shmget(0, __SIZE__, 0o1000 | 0o600)  # IPC_PRIVATE, never removed
if shmid < 0:
    err = ctypes.get_errno()
    raise OSError(err, os.strerror(err))
ctypes.memset(libc.shmat(shmid, None, 0), 1, __SIZE__)
""" + REPORT_PPID

_SHM_LIST = """
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
with open(sys.argv[1]) as ns:
    assert libc.setns(ns.fileno(), 0x08000000) == 0, ctypes.get_errno()
print(open("/proc/sysvipc/shm").read())
"""


def _segment_sizes(ipc_ns: str) -> list[int]:
    """Sizes of the SysV segments in the IPC namespace behind ``ipc_ns`` (a /proc ns link)."""
    out = subprocess.run([sys.executable, "-I", "-c", _SHM_LIST, ipc_ns], check=True,
                         capture_output=True, text=True).stdout.splitlines()[1:]
    return [int(line.split()[3]) for line in out if line.strip()]


@needs_root
@needs_full
def test_sysv_segments_die_with_their_program(tmp_path: Path) -> None:
    size = (24 << 20) + 4096 * int.from_bytes(os.urandom(1), "big")
    src = SHM_HOARDER.replace("__SIZE__", str(size))
    # Without seccomp each child has an IPC namespace of its own: nothing is left in the
    # zygote's (which every later program of that zygote would share) nor in the host's.
    zygote = _ppid(_run(tmp_path, {"p": src}, disable="seccomp")["p"])
    assert size not in _segment_sizes(f"/proc/{zygote}/ns/ipc")
    assert size not in _segment_sizes("/proc/self/ns/ipc")
    # the attack is real: without IPC namespaces the segment stays pinned in the host
    assert _run(tmp_path, {"p": src}, disable="seccomp,ipcns")["p"].error is None
    try:
        assert size in _segment_sizes("/proc/self/ns/ipc")
    finally:
        for line in Path("/proc/sysvipc/shm").read_text().splitlines()[1:]:
            if int(line.split()[3]) == size:
                _libc.shmctl(int(line.split()[1]), IPC_RMID, None)


# -- 7. memory outside RLIMIT_AS ------------------------------------------------------------------

MEMFD_HOARDER = """
import os
fds = []
chunk = b"x" * (1 << 20)
for i in range(10):  # 600 MiB in memfds: none of it is address space
    fd = os.memfd_create(f"hoard{i}")
    for _ in range(60):
        os.write(fd, chunk)
    fds.append(fd)
""" + ZERO


@needs_full
def test_memfd_cannot_hold_memory_beyond_the_limit(tmp_path: Path) -> None:
    err = _run(tmp_path, {"p": MEMFD_HOARDER}, SMALL_MEMORY)["p"].error or ""
    assert "blocked by sandbox" in err, err  # seccomp denies memfd_create
    # without seccomp the memory cgroup counts the memfd pages and stops the program
    err = _run(tmp_path, {"p": MEMFD_HOARDER}, SMALL_MEMORY, disable="seccomp")["p"].error or ""
    assert "memory limit" in err, err
    # the attack is real: rlimits alone let it hold 600 MiB under a 256 MB limit
    out = _run(tmp_path, {"p": MEMFD_HOARDER}, SMALL_MEMORY, disable="seccomp,cgroups")["p"]
    assert out.error is None, out.error


BIG_BUT_HONEST = """
import numpy
hold = numpy.ones(200 << 20, dtype=numpy.uint8)  # 200 MiB, under the 256 MB limit
""" + ZERO


@needs_full
def test_every_program_gets_the_whole_limit_after_attacks_in_the_same_zygote(
        tmp_path: Path) -> None:
    # One zygote: its job cgroups are reused, so nothing an attack did may carry over.
    sources = {"hoard1": MEMFD_HOARDER, "bomb1": THREAD_BOMB, "big": BIG_BUT_HONEST,
               "hoard2": MEMFD_HOARDER, "bomb2": THREAD_BOMB, "big2": BIG_BUT_HONEST}
    outs = _run(tmp_path, sources, SMALL_MEMORY, disable="seccomp", workers=1)
    for key in ("hoard1", "hoard2"):
        assert "memory limit" in (outs[key].error or ""), outs[key].error
    for key in ("bomb1", "bomb2"):
        m = re.search(r"started (\d+) threads", outs[key].error or "")
        assert m and sandbox.TASKS - 8 < int(m.group(1)) < sandbox.TASKS, outs[key].error
    for key in ("big", "big2"):
        assert outs[key].error is None, outs[key].error


SCRATCH_FILLER = """
chunk = b"x" * (1 << 20)
for i in range(6):  # 360 MiB in files of 60 MiB, each under the per-file size limit
    with open(f"f{i}", "wb") as f:
        for _ in range(60):
            f.write(chunk)
""" + ZERO
INODE_FILLER = """
for i in range(10000):
    open(f"f{i}", "w").close()
""" + ZERO
SHM_WRITER = """
with open("/dev/shm/__NAME__", "wb") as f:
    f.write(b"x" * (1 << 20))
""" + ZERO


@needs_full
def test_scratch_has_a_total_quota_in_bytes_and_files(tmp_path: Path) -> None:
    outs = _run(tmp_path, {"bytes": SCRATCH_FILLER, "files": INODE_FILLER})
    for key in ("bytes", "files"):
        assert "No space left on device" in (outs[key].error or ""), outs[key].error
    # the attack is real: without the private tmpfs both fill the host's disk
    outs = _run(tmp_path, {"bytes": SCRATCH_FILLER, "files": INODE_FILLER}, disable="mountns")
    assert {k: o.error for k, o in outs.items()} == {"bytes": None, "files": None}


@needs_full
def test_dev_shm_cannot_keep_memory_after_the_run(tmp_path: Path) -> None:
    name = f"dixit-test-{os.urandom(4).hex()}"
    src = SHM_WRITER.replace("__NAME__", name)
    err = _run(tmp_path, {"p": src})["p"].error or ""
    assert "Read-only file system" in err or "Permission denied" in err, err
    err = _run(tmp_path, {"p": src}, disable="landlock")["p"].error or ""
    assert "Read-only file system" in err, err  # the zygote's empty, read-only /dev/shm
    assert not Path("/dev/shm", name).exists()
    # the attack is real: otherwise the file (its memory) outlives the program
    try:
        assert _run(tmp_path, {"p": src}, disable="landlock,mountns")["p"].error is None
        assert Path("/dev/shm", name).exists()
    finally:
        Path("/dev/shm", name).unlink(missing_ok=True)


# -- 8. scratch that cannot be removed ----------------------------------------------------------

DEEP = """
import os
top = os.getcwd()
for i in range(1100):  # 1,100 levels, 220,000 characters of path
    os.mkdir("d" * 200)
    os.chdir("d" * 200)
with open("bottom", "w") as f:
    f.write("x" * 4096)
os.chdir(top)
""" + ZERO


def _job_dirs() -> dict[str, bool]:
    """Every job scratch directory of the live pool's zygotes -> whether it holds anything,
    as each zygote sees it (in its mount namespace, where the tmpfs mounts are)."""
    seen = {}
    for pool in replay._POOLS.values():
        for z in pool.zygotes.values():
            view = Path(f"/proc/{z.pid}/root") / str(z.dir).lstrip("/")
            for p in view.iterdir():
                if p.name.startswith("job-"):
                    seen[p.name] = any(p.iterdir())
    return seen


@needs_full
@pytest.mark.parametrize("disable", ["", "mountns"], ids=["tmpfs", "plain-directory"])
def test_deep_scratch_is_removed_and_the_next_group_is_unaffected(tmp_path: Path,
                                                                  disable: str) -> None:
    outs = _run(tmp_path, {"deep": DEEP}, disable=disable)
    assert outs["deep"].error is None  # it really made them
    # the next domain group starts its job numbers again: nothing may collide
    other = domains.parse("grid:7x7")
    outs = _run(tmp_path, {"honest": HONEST}, disable=disable, domain=other)
    assert outs["honest"].error is None and numpy.array_equal(outs["honest"].labels,
                                                              _ref(other))
    # The zygote cleans a job up once it has reported it, before it reads the next job:
    # at most the honest job's and the next one's directories are left, both empty.
    dirs = _job_dirs()
    assert len(dirs) <= 2 and not any(dirs.values()), dirs


# -- 10. secrets left on disk ---------------------------------------------------------------------

KILLED_RUN = """
from dixit.data import domains
from dixit.replay import Limits, replay_sources
src = b"import time\\ntime.sleep(120)\\ndef label(x):\\n    return x[:, 0]\\n"
replay_sources({"team/labeler": src}, domains.parse("grid:3x3"),
               Limits(cpu_seconds=120, wall_seconds=120), require="none")
"""


def _wait(cond: object, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)


def test_private_folder_is_private_and_owned(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    path, fd = replay.private_folder()
    try:
        parent = path.parent
        assert parent != Path(tempfile.gettempdir())
        st = parent.lstat()
        assert st.st_uid == os.geteuid() and st.st_mode & 0o777 == 0o700
        assert path.stat().st_mode & 0o777 == 0o700
        assert re.fullmatch(rf"dixit-replay-{os.getpid()}-\w+", path.name)
    finally:
        replay.release_folder(path, fd)
    assert not path.exists()
    xdg = tmp_path / "run"
    xdg.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(xdg))
    path, fd = replay.private_folder()
    try:
        assert path.parent == xdg / "dixit"
    finally:
        replay.release_folder(path, fd)


def test_stale_folders_of_dead_runs_are_removed_never_following_links(tmp_path: Path) -> None:
    live, fd = replay.private_folder()  # ours, in use: must stay
    parent = live.parent
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("keep me")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True).stdout.strip()
    # a folder caught before its lock was made, of a dead pid, holding a link outside
    unlocked = parent / f"dixit-replay-{dead}-unlocked"
    unlocked.mkdir()
    (unlocked / "link").symlink_to(outside)
    (unlocked / "file-link").symlink_to(outside / "keep")
    planted = parent / f"dixit-replay-{dead}-planted"  # a link in place of a folder
    planted.symlink_to(outside)
    try:
        removed = replay.clean_stale_folders(parent)
        assert {unlocked.name, planted.name} <= set(removed)
        assert not unlocked.exists() and not planted.is_symlink()
        assert live.is_dir()
        assert (outside / "keep").read_text() == "keep me"
    finally:
        replay.release_folder(live, fd)


@pytest.mark.skipif(sandbox.probe().level != "full", reason="checks the cgroups, too")
def test_killed_run_leaves_nothing_behind_after_the_next_run(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN], cwd=tmp_path,
                            start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    parent = replay._private_parent()
    bases = sandbox.cgroup_bases()[0]
    pids_base = Path(bases["pids"][0])

    def mine(where: Path, prefix: str) -> list[Path]:
        return [p for p in where.iterdir() if p.name.startswith(f"{prefix}{proc.pid}-")]

    try:
        # wait until the labeler is on disk and its child runs in its job cgroup
        _wait(lambda: any((f / "team--labeler.py").exists()
                          for f in mine(parent, "dixit-replay-")))
        _wait(lambda: any(j.name.startswith("job-") and (j / "cgroup.procs").read_text()
                          for r in mine(pids_base, "dixit-") for j in r.iterdir()
                          if j.is_dir()))
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    folders = mine(parent, "dixit-replay-")
    assert any((f / "team--labeler.py").exists() for f in folders)  # the secret is left
    removed = replay.clean_stale_folders()
    assert {f.name for f in folders} <= set(removed)
    assert mine(parent, "dixit-replay-") == []
    # the dead run's zygote and child go with it (PDEATHSIG); then its cgroups can go
    _wait(lambda: sandbox.cgroup_clean_stale() >= 0 and mine(pids_base, "dixit-") == [],
          seconds=20)
    if "memory" in bases:
        assert mine(Path(bases["memory"][0]), "dixit-") == []


# -- what the isolation description says --------------------------------------------------------


def test_description_names_the_limits_and_what_is_missing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    iso = sandbox.probe()
    if iso.level == "full":
        text = iso.describe()
        for part in ("pids cgroup", "memory cgroup", "tmpfs scratch quota", "ipc namespace"):
            assert part in text, text
    monkeypatch.setenv(sandbox.DISABLE_ENV, "cgroups")
    iso = sandbox.probe()
    assert iso.level == "partial" and not iso.pids_cgroup and not iso.memory_cgroup
    assert any(m.startswith("per-program process limit (pids cgroup: disabled by")
               for m in iso.missing), iso.missing
    assert any(m.startswith("per-program memory limit") for m in iso.missing), iso.missing
    monkeypatch.setenv(sandbox.DISABLE_ENV, "mountns")
    iso = sandbox.probe()
    assert iso.level == "partial"
    assert "scratch quota (no private mount namespace for a tmpfs: disabled by" \
        in iso.describe()


def test_torch_still_works_in_the_sandbox(tmp_path: Path) -> None:
    # memfd_create and SysV IPC are denied: make sure nothing torch needs relies on them
    src = """
import torch
net = torch.nn.Sequential(torch.nn.Linear(2, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1))
opt = torch.optim.SGD(net.parameters(), lr=0.1)
def label(x):
    loss = net(x.float()).pow(2).mean()
    loss.backward()
    opt.step()
    with torch.no_grad():
        return (net(x.float()) * 0).flatten().long() + ((x[:, 0] + x[:, 1]) % 2)
"""
    out = _run(tmp_path, {"p": src})["p"]
    assert out.error is None and numpy.array_equal(out.labels, _ref(GRID)), out.error
    assert torch.get_num_threads() >= 1


READ_ONLY_RUN = """
import json, sys
from pathlib import Path
from dixit.data import domains
from dixit.replay import sandbox
from dixit.replay import Limits, Program, replay
path = Path(sys.argv[1])
path.write_text(sys.argv[2])
(out,) = replay([Program("p", path)], domains.parse("grid:5x5"), Limits(), require="partial")
print(json.dumps({"error": out.error, "ok": out.labels is not None,
                  "iso": sandbox.probe().describe()}))
"""


@needs_root
@pytest.mark.skipif(not sandbox.cgroup_bases()[0], reason="no cgroup hierarchy")
def test_read_only_cgroupfs_degrades_to_partial_and_still_runs(tmp_path: Path) -> None:
    bases = {d for d, _ in sandbox.cgroup_bases()[0].values()}
    remount = " && ".join(f"mount --bind {d} {d} && mount -o remount,bind,ro {d} {d}"
                          for d in bases)
    script = (f'{remount} && exec "$0" -c "$1" "$2" "$3"')
    out = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script,
                          sys.executable, READ_ONLY_RUN, str(tmp_path / "p.py"), HONEST],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.splitlines()[-1])
    assert res["error"] is None and res["ok"]
    assert res["iso"].startswith("partial: ") and "Read-only file system" in res["iso"]


def test_doctor_says_what_is_missing(dixit: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sandbox.DISABLE_ENV, "cgroups")
    res = dixit.ok("doctor")  # type: ignore[attr-defined]
    assert "sandbox isolation: partial" in res.err  # human output goes to stderr
    assert "missing: per-program process limit (pids cgroup: disabled by" in res.err
    data = dixit.ok("doctor", "--json").json()  # type: ignore[attr-defined]
    assert data["pids_cgroup"] == 0 and data["level"] == "partial"
