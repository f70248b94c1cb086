"""Replay hostile ``label(x)`` programs over an evaluation domain, each fully sandboxed.

``replay()`` keeps one warm zygote process (``dixit.replay.zygote``: torch imported once, one
thread, reused by later calls in this process; ``prestart()`` starts it ahead of need) that
runs up to ``workers`` children at once, one per core, and sends it jobs: batches of program
*paths*. Every batch runs in a fresh child forked from the zygote and confined by
``dixit.replay.sandbox`` (rlimits, no capabilities, Landlock, seccomp, namespaces, cgroups; see
``probe_isolation()``): one team's programs (``Program.batch``), which can only disturb each
other, or a program alone, or our models and the claims' held-out splits (``Model``,
``Split``), beside which no team's code runs. Each item of a batch has its own limits, files
and verdict; a child that dies leaves the verdict to the item it was running and the items
after it to a fresh child. Children write each item's outputs and printed text to files that
this engine reads and validates; the zygote only reports how each item ended, so no program's
bytes ever live in a process later programs fork from.

Everything on disk (the zygote's folder, revealed programs) lives in private folders
``dixit-replay-<pid>-*`` under a 0700 per-user directory (``private_folder``), each locked while
in use: the folders of a run that was killed are removed by the next run, as are its cgroups.
A batch that could not be started (fork refused, sandbox setup failed) is retried, and if it
still cannot start the run fails with DixitError: that is never scored as the team's failure.

This module compares nothing: callers compare labels outside any program's process. A zygote
that dies is restarted and the items its children were running are reported as errors; the
engine never hangs on a program (the zygote enforces each item's limits, and the engine kills
a zygote that does not answer within a grace period after them).
"""

from __future__ import annotations

import atexit
import errno
import fcntl
import json
import math
import mmap
import os
import re
import selectors
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dixit.errors import DixitError, IsolationError
from dixit.replay import sandbox
from dixit.replay.sandbox import Isolation
from dixit.replay.zygote import decode_frame, encode_frame, frame_header, one_line
from dixit.rules.outputs import BINARY, Output, positions

if TYPE_CHECKING:  # numpy is imported where outputs are read: ``prestart`` needs none of it
    import numpy

    from dixit.data.domains import Domain

STARTUP_SECONDS = 180.0  # importing torch on a cold, busy machine can be slow
GRACE_SECONDS = 10.0  # past the wall limit before the engine gives up on a zygote
START_ATTEMPTS = 4  # tries to start one program (fork refused, sandbox setup failed)
FOLDER_PREFIX = "dixit-replay-"
_FOLDER = re.compile(re.escape(FOLDER_PREFIX) + r"(\d+)-[a-z0-9_]+$")
_LOCK_NAME = ".lock"


@dataclass(frozen=True)
class Limits:
    cpu_seconds: float = 20.0
    wall_seconds: float = 30.0
    memory_mb: int = 2048  # extra address space a program may use
    output_bytes: int = 65536  # captured stdout+stderr kept per program
    batch_size: int = 4096


def model_limits(limits: Limits) -> Limits:
    """What a model item may use: our code, so not the programs' limits (a model was judged in
    the closing process before, unbounded); bounds all the same, for a weights file made to be
    slow or large."""
    return replace(limits, cpu_seconds=max(limits.cpu_seconds, 1800.0),
                   wall_seconds=max(limits.wall_seconds, 1800.0),
                   memory_mb=max(limits.memory_mb, 16384))


@dataclass(frozen=True)
class Program:
    key: str  # opaque id chosen by the caller
    path: Path  # the .py file; read only inside the sandboxed child
    # Programs with the same batch run one after another in one child (one team's: they can
    # only disturb each other), each with its own limits, files and verdict. None: alone.
    batch: str | None = None


@dataclass(frozen=True)
class Model:
    """One of our architectures (``config``) with a team's weights (``path``, safetensors, at
    most ``max_bytes``), evaluated over the domain in the sandbox, in a child where no team's
    code runs (models and splits share children: see ``_batches``). Its outputs: class ids
    (int32, the argmax) for an integer output, else float32 logits. Its error says
    ``load: ...`` (it cannot be built from the weights) or ``run: ...``."""

    key: str
    path: Path
    config: Mapping[str, Any]
    max_bytes: int


@dataclass(frozen=True)
class Split:
    """The held-out rows of a claim (``dixit.models.training.split`` with the claim's training
    fraction and seed), as 0/1 over the domain; run beside the models."""

    key: str
    train_frac: float
    seed: int


Item = Program | Model | Split
MAX_BATCH = 32  # items per child, at most


@dataclass(frozen=True)
class Outcome:
    key: str
    # The declared output (dixit.rules.outputs): class ids as uint8/uint16 of shape (N,) or
    # (N, L); distributions float32 (N, C) or (N, L, C), mapped from a file. None on error.
    labels: numpy.ndarray | None
    error: str | None  # one line
    seconds: float
    output: str  # captured stdout/stderr, truncated to output_bytes
    cpu_seconds: float = 0.0
    # peak resident memory of the program's process, pages it shares with the warm worker
    # (torch, numpy: a few hundred MB) included; 0 when not measured
    max_rss_mb: float = 0.0


def probe_isolation() -> Isolation:
    """What the sandbox can enforce here (cached; honours ``DIXIT_SANDBOX_DISABLE``)."""
    return sandbox.probe()


def check_isolation(require: str) -> Isolation:
    """The probed isolation, or IsolationError if it is weaker than ``require``."""
    iso = probe_isolation()
    if sandbox.level_rank(iso.level) < sandbox.level_rank(require):
        missing = ", ".join(iso.missing) or "see DIXIT_SANDBOX_DISABLE"
        raise IsolationError(
            f"sandbox isolation here is '{iso.level}' but '{require}' is required "
            f"(missing: {missing}); pass --allow-weak-isolation to run anyway")
    return iso


def _roots() -> list[tuple[str, bool]]:
    """Read-only roots for the child, computed here where $HOME and cwd are the real ones."""
    extra = []
    for mod in ("numpy", "torch"):
        spec = find_spec(mod)
        if spec is not None and spec.origin:
            extra.append(str(Path(spec.origin).resolve().parent.parent))
    roots = sandbox.readable_roots(tuple(extra))
    cwd = Path.cwd().resolve()  # usually the tournament: never grant it or an ancestor
    # sorted: the same set whatever this process has imported so far (numpy, torch), so the
    # warm pool (keyed by its configuration) is the one ``prestart`` made
    return sorted((p, w) for p, w in roots if not (Path(p) == cwd or Path(p) in cwd.parents))


def _private_parent() -> Path:
    """Where replay folders go (they hold revealed programs): ``$XDG_RUNTIME_DIR/dixit`` when
    that is this user's own directory, else ``<tmp>/dixit-<uid>``; either is made 0700 and is
    used only if it is a real directory owned by this user (not a symlink someone planted)."""
    uid = os.geteuid()
    cands = []
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isabs(xdg):
        try:
            st = os.stat(xdg)
            if stat.S_ISDIR(st.st_mode) and st.st_uid == uid and not st.st_mode & 0o022:
                cands.append(Path(xdg) / "dixit")
        except OSError:
            pass
    cands.append(Path(tempfile.gettempdir()) / f"dixit-{uid}")
    for path in cands:
        try:
            try:
                path.mkdir(mode=0o700)
            except FileExistsError:
                pass
            st = os.lstat(path)
            if stat.S_ISDIR(st.st_mode) and st.st_uid == uid:
                if stat.S_IMODE(st.st_mode) != 0o700:
                    os.chmod(path, 0o700)
                return path
        except OSError:
            continue
    return Path(tempfile.gettempdir())  # squatted: mkdtemp's own 0700 folder still applies


def private_folder() -> tuple[Path, int]:
    """A new 0700 folder ``dixit-replay-<pid>-<random>`` and the descriptor of the lock held on
    it for as long as it is in use; stale folders of dead runs are removed first."""
    parent = _private_parent()
    clean_stale_folders(parent)
    path = Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-", dir=parent))
    fd = os.open(path / _LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                 | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return path, fd


def release_folder(path: Path, fd: int) -> None:
    sandbox.remove_tree(path)
    os.close(fd)


def clean_stale_folders(parent: Path | None = None) -> list[str]:
    """Remove the replay folders of runs that are gone (killed, crashed): their lock is free
    (an flock dies with its process, whatever the pid is reused for), or, for a folder caught
    before its lock file was made, the pid in its name is dead. Only this user's folders, and
    nothing is ever followed through a symlink. Returns the names removed."""
    parent = parent or _private_parent()
    uid = os.geteuid()
    removed = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed
    for e in entries:
        m = _FOLDER.match(e.name)
        if not m:
            continue
        try:
            st = e.stat(follow_symlinks=False)
            if st.st_uid != uid:
                continue
            if not stat.S_ISDIR(st.st_mode):
                os.unlink(e.path)  # a planted link or file: remove the entry, not its target
                removed.append(e.name)
                continue
            try:
                fd = os.open(os.path.join(e.path, _LOCK_NAME),
                             os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
            except FileNotFoundError:
                if not sandbox.pid_alive(int(m.group(1))) and sandbox.remove_tree(e.path):
                    removed.append(e.name)
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue  # its run is alive
            try:  # removed while holding the lock: no two cleaners at once
                if sandbox.remove_tree(e.path):
                    removed.append(e.name)
            finally:
                os.close(fd)
        except OSError:
            continue
    return removed


@dataclass
class _Job:
    """A batch of items (indices into the caller's list) sent to a zygote as one child."""

    id: int
    items: list[int]
    attempt: int  # failed starts so far (never a verdict)
    wall: float
    done: int = 0  # items reported so far, in order
    deadline: float = 0.0  # the zygote enforces the limits; past this it is presumed hung


class _Zygote:
    """Engine-side handle of one zygote process."""

    def __init__(self, index: int, base: Path, cfg: dict[str, Any] | None) -> None:
        self.index = index
        self.dir = base / f"z{index}-{time.monotonic_ns()}"
        self.dir.mkdir(mode=0o700)
        self.err_path = self.dir.with_suffix(".stderr")
        pkg_parent = str(Path(__file__).resolve().parent.parent.parent)
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
               "PYTHONPATH": pkg_parent, "PYTHONNOUSERSITE": "1",
               "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
               # malloc in transparent huge pages: a third fewer page tables to copy per fork
               "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1",
               "HOME": str(self.dir), "TMPDIR": str(self.dir)}
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "dixit.replay.zygote"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=err, env=env, cwd=self.dir,
                start_new_session=True, close_fds=True)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin = self.proc.stdin
        self.fd = self.proc.stdout.fileno()
        os.set_blocking(self.fd, False)
        self.buf = bytearray()
        self.ready = False
        self.pid = self.proc.pid
        self.jobs: dict[int, _Job] = {}  # running in this zygote's children
        self.deadline = time.monotonic() + STARTUP_SECONDS  # to be ready
        if cfg is not None:
            self.configure(cfg)

    def configure(self, cfg: dict[str, Any]) -> None:
        """The zygote's first frame: it imports torch before it reads this, so a zygote can be
        started before its configuration (the isolation probe) is known."""
        self._send({**cfg, "scratch": str(self.dir)})

    def _send(self, header: dict[str, Any]) -> None:
        self.stdin.write(encode_frame(header))
        self.stdin.flush()

    def submit(self, job: _Job, items: list[dict[str, Any]], params: dict[str, Any]) -> None:
        job.deadline = time.monotonic() + job.wall + GRACE_SECONDS
        retry = {"attempt": job.attempt} if job.attempt else {}
        self._send({"op": "run", "job": job.id, "items": items, **params, **retry})
        self.jobs[job.id] = job

    def frames(self) -> tuple[list[tuple[dict[str, Any], bytes]], bool]:
        """Read what is available: (complete frames, EOF reached)."""
        eof = False
        while True:
            try:
                chunk = os.read(self.fd, 1 << 20)
            except BlockingIOError:
                break
            if not chunk:
                eof = True
                break
            self.buf += chunk
        out = []
        while (got := decode_frame(self.buf)) is not None:
            header, payload, used = got
            del self.buf[:used]
            out.append((header, payload))
        return out, eof

    def stderr_tail(self) -> str:
        try:
            lines = self.err_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return one_line(lines[-1]) if lines else ""

    def kill(self, wait: bool = True) -> None:
        try:
            os.killpg(self.pid, 9)  # its children die with it (PDEATHSIG) in any case
        except OSError:
            pass
        self.close(wait)

    def close(self, wait: bool = True) -> None:
        """Close the pipe (a zygote exits at its end) and wait for it; without ``wait`` (a
        zygote already killed, at interpreter exit) not even that: the kernel tears its
        memory down as this process exits too, and nothing of it is used any more."""
        try:
            self.stdin.close()
        except OSError:
            pass
        try:
            if wait:
                self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        sandbox.remove_tree(self.dir)
        try:
            self.err_path.unlink()
        except OSError:
            pass


def _read_file(path: str | None, limit: int) -> bytes:
    """At most ``limit`` bytes of a file a child wrote; the file is removed."""
    if not path:
        return b""
    try:
        with open(path, "rb") as f:
            data = f.read(limit)
        os.unlink(path)
    except OSError:
        return b""
    return data


def _start_failure(h: dict[str, Any]) -> str:
    """Why a program could not be started: the zygote's reason, and the child's own message
    when its sandbox setup failed (read from its result file, never in the zygote)."""
    _read_file(h.get("output_path"), 0)
    data = _read_file(h.get("result_path"), 8192 + 64)
    detail = ""
    try:
        got = decode_frame(data, max_header=8192, max_payload=0) if data else None
        if got is not None and got[0].get("error"):
            detail = f" ({got[0]['error']})"
    except ValueError:
        pass
    return one_line(f"{h['retry']}{detail}")


def _map_result(path: str | None, limit: int) -> bytes | mmap.mmap:
    """A child's result file, mapped (a distribution can be hundreds of MB: it is read in
    blocks as it is judged, never copied whole) and removed; empty if missing or too big."""
    if not path:
        return b""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return b""
    try:
        os.unlink(path)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size == 0 or st.st_size > limit:
            return b""
        return mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    except OSError:
        return b""
    finally:
        os.close(fd)


def _verdict(h: dict[str, Any], size: int, limits: Limits, output: Output = BINARY,
             domain_kind: str = "grid", input_shape: tuple[int, ...] = (), model: bool = False
             ) -> tuple[str | None, numpy.ndarray | None]:
    """Turn the zygote's report on how an item ended, and the child's result file, into
    (error, outputs). The result file is read here, never in the zygote. A ``model`` item's
    outputs are ours (class ids or logits of any shape per input, see ``Model``): checked for
    size and form, not against the challenge's declared output (the judge compares them)."""
    length = positions(domain_kind, tuple(input_shape))
    rows = output.row_shapes(length)
    limit = size * output.size_per_input(length) + 65536
    if model:
        limit = max(limit, int(h.get("file_bytes") or 0))
    data = _map_result(h.get("result_path"), limit + 64)
    if h.get("error"):
        return one_line(str(h["error"])), None
    if h.get("timed_out"):
        return f"timed out after {limits.wall_seconds:.1f} s (wall)", None
    if h.get("cpu_out"):  # an item of a batch, stopped by the zygote
        return f"timed out after {limits.cpu_seconds:.1f} s (cpu)", None
    sig = h.get("signal")
    if sig == signal.SIGKILL and h.get("oom_kills"):
        return (f"killed: memory limit ({limits.memory_mb} MB; the memory cgroup counts "
                f"memory of every kind)"), None
    if sig is not None:
        cpu = float(h.get("cpu", 0.0))
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL
                                     and cpu >= int(limits.cpu_seconds + 0.999)):
            return f"timed out after {limits.cpu_seconds:.1f} s (cpu)", None
        if sig == signal.SIGXFSZ:
            return (f"killed: output/file size limit (a file passed "
                    f"{h.get('file_bytes')} bytes)"), None
        if sig == signal.SIGSYS:
            return "blocked by sandbox: forbidden system call (SIGSYS)", None
        if sig == signal.SIGKILL:
            return "killed by SIGKILL (memory limit or out of memory)", None
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        return f"crashed with signal {name}", None
    code = h.get("exit")
    if not data:
        return f"exited with status {code} before returning labels", None
    try:
        header, offset, _plen = frame_header(data)
    except (ValueError, UnicodeDecodeError):
        return "sent a malformed result (garbage on the result channel)", None
    # The child's frame is program-controlled: trust nothing beyond its declared shape.
    if set(header) - {"error", "n", "shape", *(("dtype",) if model else ())} \
            or not isinstance(header.get("error", ""), str | None) \
            or header.get("n", size) != size:
        return "sent a malformed result (unexpected result header)", None
    if header.get("error") is not None:
        return one_line(str(header["error"])) or "failed without a message", None
    if code != 0:
        return f"exited with status {code} after returning labels", None
    if model:
        return _model_outputs(data, offset, header, size)
    return _outputs(data, offset, header, size, rows, output)


def _model_outputs(data: bytes | mmap.mmap, offset: int, header: dict[str, Any], size: int
                   ) -> tuple[str | None, numpy.ndarray | None]:
    """A model item's outputs: int32 class ids or float32 logits, ``size`` rows of any shape."""
    import numpy

    shape, kind = header.get("shape"), header.get("dtype")
    if kind not in ("int32", "float32") or not isinstance(shape, list) \
            or not all(type(d) is int and d >= 0 for d in shape) or shape[:1] != [size]:
        return "sent a malformed result (model outputs of an unexpected form)", None
    dtype = numpy.dtype(kind)
    count = math.prod(shape)
    if len(data) - offset != count * dtype.itemsize:
        return "sent a malformed result (model outputs of the wrong size)", None
    arr = numpy.frombuffer(data, dtype=dtype, count=count, offset=offset).reshape(shape)
    return None, arr.copy() if dtype.kind == "i" else arr


def _outputs(data: bytes | mmap.mmap, offset: int, header: dict[str, Any], size: int,
             rows: list[tuple[int, ...]], output: Output
             ) -> tuple[str | None, numpy.ndarray | None]:
    """The outputs in a well-formed frame, checked against the challenge's declared output."""
    import numpy

    shape = header.get("shape", [size])
    if not isinstance(shape, list) or not all(type(d) is int for d in shape) \
            or tuple(shape[:1]) != (size,) or tuple(shape[1:]) not in rows:
        return "sent a malformed result (outputs of an undeclared shape)", None
    count = math.prod(shape)
    dtype = numpy.dtype(output.dtype)
    if len(data) - offset != count * dtype.itemsize:
        return (f"sent a malformed result ({(len(data) - offset) // dtype.itemsize} outputs "
                f"for a domain of {size})"), None
    arr = numpy.frombuffer(data, dtype=dtype, count=count, offset=offset).reshape(shape)
    if output.integer:
        arr = arr.copy()  # small: let the mapping go
        if count and int(arr.max()) >= output.classes:
            return (f"sent a malformed result (label bytes outside 0..{output.classes - 1})",
                    None)
    # distributions stay mapped from the result file (memory flat in N); their values are
    # checked by the metric, batch by batch, as they are judged
    return None, arr


def release(outputs: numpy.ndarray, rows: int | None = None) -> None:
    """Let go of the memory of rows [0, ``rows``) (default all) of outputs mapped from a
    result file: their pages leave this process (the file keeps the data; reading them again
    maps them again). A judge that streams a distribution calls it after each block, so its
    memory stays flat in the number of inputs. Nothing for an array not mapped from a file."""
    import numpy

    base: Any = outputs
    while base is not None and not isinstance(base, mmap.mmap):
        base = base.obj if isinstance(base, memoryview) else getattr(base, "base", None)
    if base is None or not outputs.flags.c_contiguous or len(base) == 0:
        return
    start = numpy.frombuffer(base, numpy.uint8).__array_interface__["data"][0]
    offset = outputs.__array_interface__["data"][0] - start
    per_row = outputs.itemsize * (math.prod(outputs.shape[1:]) if outputs.ndim else 1)
    n = len(outputs) if rows is None or not outputs.ndim else min(rows, len(outputs))
    end = (offset + n * per_row) // mmap.PAGESIZE * mmap.PAGESIZE
    if end > 0:
        base.madvise(mmap.MADV_DONTNEED, 0, end)


class _Pool:
    """One warm zygote, kept between ``replay()`` calls of this process (one per isolation
    setting) so torch is imported once per close, not once per challenge or per worker: it
    runs up to ``workers`` children at once."""

    def __init__(self, cfg: dict[str, Any], folder: tuple[Path, int] | None = None,
                 spawned: _Zygote | None = None) -> None:
        """``folder``: a ``private_folder`` made for it, and ``spawned``: a zygote started
        in it without its configuration (see ``prestart``); both are the pool's from now."""
        self.base, self.lock = folder or private_folder()
        self.cgroups: list[dict[str, Any]] = []
        wanted = cfg["isolation"].get("cgroups", [])
        if wanted:
            bases = {c: b for c, b in sandbox.cgroup_bases()[0].items() if c in wanted}
            sandbox.cgroup_clean_stale(bases)
            try:
                if set(bases) != set(wanted):
                    raise OSError(errno.ENOENT, "controller no longer available")
                self.cgroups = sandbox.cgroup_run_create(bases)
            except OSError as exc:
                if spawned is not None:
                    spawned.kill()
                release_folder(self.base, self.lock)
                raise IsolationError(f"cannot create the per-program cgroups "
                                     f"({', '.join(wanted)}): {exc.strerror or exc}") from None
        self.cfg = {**cfg, "cgroups": self.cgroups, "slots": os.cpu_count() or 1}
        self.sel = selectors.DefaultSelector()
        self.zygotes: dict[int, _Zygote] = {}
        self.ids = 0  # job ids, never reused in this pool
        if spawned is not None:
            spawned.configure(self.cfg)
            self.zygotes[spawned.index] = spawned
            self.sel.register(spawned.fd, selectors.EVENT_READ, spawned)

    def start(self, index: int = 0) -> None:
        for delay in (0.0, 0.05, 0.2, 0.5, 1.0, 2.0):  # the machine may be short of tasks
            time.sleep(delay)
            try:
                z = _Zygote(index, self.base, self.cfg)
                break
            except BlockingIOError:
                continue
        else:
            raise DixitError("cannot start a sandbox worker: fork keeps failing (EAGAIN)")
        self.zygotes[index] = z
        self.sel.register(z.fd, selectors.EVENT_READ, z)

    def stop(self, z: _Zygote, kill: bool, wait: bool = True) -> None:
        self.sel.unregister(z.fd)
        del self.zygotes[z.index]
        z.kill(wait) if kill else z.close()

    def close(self, wait: bool = True) -> None:
        for z in list(self.zygotes.values()):
            # nothing a zygote holds is worth a clean exit (tearing torch down takes longer
            # than the kill): its children die with it, its scratch with its mount namespace
            self.stop(z, kill=True, wait=wait)
        self.sel.close()
        sandbox.cgroup_run_remove(self.cgroups)
        release_folder(self.base, self.lock)

    def run(self, items: Sequence[Item], domain: Domain, limits: Limits, workers: int,
            on_done: Callable[[Outcome], None] | None, output: Output) -> list[Outcome]:
        results: list[Outcome | None] = [None] * len(items)
        queue: deque[tuple[list[int], int]] = deque((b, 0) for b in _batches(items, workers))
        dom = {"spec": domain.spec, "seed": domain.seed, "root": _domain_root(domain),
               "output": output.spec}
        for_models = model_limits(limits)
        kind, shape = domain.kind, tuple(domain.input_shape)

        def limits_of(job_items: list[int]) -> Limits:
            return limits if isinstance(items[job_items[0]], Program) else for_models

        def finish(index: int, error: str | None, labels: numpy.ndarray | None,
                   seconds: float, printed: str, header: dict[str, Any] | None = None) -> None:
            h = header or {}
            cpu, rss = h.get("cpu", 0.0), h.get("max_rss_kb", 0)
            out = Outcome(key=items[index].key, labels=labels, error=error, seconds=seconds,
                          output=printed,
                          cpu_seconds=float(cpu) if isinstance(cpu, int | float) else 0.0,
                          max_rss_mb=round(rss / 1024, 1) if isinstance(rss, int) else 0.0)
            results[index] = out
            if on_done is not None:
                on_done(out)

        def judge(job: _Job, header: dict[str, Any]) -> None:
            """The verdict of the job's next item from the zygote's report on it."""
            index = job.items[job.done]
            item, lim = items[index], limits_of(job.items)
            if isinstance(item, Split):
                error, labels = _verdict(header, domain.size, lim, BINARY, kind, shape)
            else:
                error, labels = _verdict(header, domain.size, lim, output, kind, shape,
                                         model=isinstance(item, Model))
            printed = _read_file(header.get("output_path"), lim.output_bytes)
            finish(index, error, labels, float(header.get("seconds", 0.0)),
                   printed.decode("utf-8", errors="replace"), header)
            job.done += 1
            job.deadline = time.monotonic() + job.wall + GRACE_SECONDS

        def dispatch(z: _Zygote) -> None:
            while queue and z.ready and len(z.jobs) < workers:
                batch, attempt = queue.popleft()
                lim = limits_of(batch)
                self.ids += 1
                job = _Job(self.ids, batch, attempt, lim.wall_seconds)
                try:
                    z.submit(job, [_item_frame(items[i], output) for i in batch],
                             {"domain": dom, "limits": asdict(lim)})
                except OSError:
                    z.jobs.pop(job.id, None)
                    queue.appendleft((batch, attempt))  # the dead worker is noticed at EOF
                    return

        def requeue(job: _Job) -> None:
            if job.done < len(job.items):
                queue.appendleft((job.items[job.done:], 0))

        def lost(z: _Zygote, what: str, overdue: _Job | None = None) -> None:
            ready, jobs, tail = z.ready, list(z.jobs.values()), z.stderr_tail()
            self.stop(z, True)
            if not ready:  # a worker that cannot even start will not start next time either
                raise DixitError(f"sandbox worker {what}: {tail or 'no error output'}")
            for job in jobs:
                if overdue is None:  # the item each child was running is blamed
                    index = job.items[job.done]
                    finish(index, f"sandbox worker {what} while running this program"
                           + (f" ({tail})" if tail else ""), None, 0.0, "")
                    job.done += 1
                elif job is overdue:
                    lim = limits_of(job.items)
                    finish(job.items[job.done], f"timed out after {lim.wall_seconds:.1f} s "
                           f"(wall)", None, lim.wall_seconds + GRACE_SECONDS, "")
                    job.done += 1
                requeue(job)
            self.start(z.index)

        if 0 not in self.zygotes:
            self.start()
        elif self.zygotes[0].ready:
            dispatch(self.zygotes[0])
        while any(r is None for r in results):
            now = time.monotonic()
            waits = [z.deadline for z in self.zygotes.values() if not z.ready]
            waits += [j.deadline for z in self.zygotes.values() for j in z.jobs.values()]
            timeout = min(waits, default=now + 1.0) - now
            for key, _ in self.sel.select(timeout=max(0.0, min(timeout, 1.0))):
                z = key.data
                frames, eof = z.frames()
                for header, _payload in frames:
                    op = header.get("op")
                    job = z.jobs.get(header.get("job"))  # type: ignore[arg-type]
                    if op == "ready":
                        z.ready = True
                    elif job is None or header.get("index") != job.done:
                        continue  # not a report this engine is waiting for
                    elif op == "item":
                        judge(job, header)
                    elif op == "done" and header.get("retry"):
                        del z.jobs[job.id]
                        why = _start_failure(header)
                        if job.attempt + 1 >= START_ATTEMPTS:
                            raise DixitError(f"sandbox could not start "
                                             f"{items[job.items[0]].key} in "
                                             f"{START_ATTEMPTS} attempts: {why}")
                        queue.appendleft((job.items, job.attempt + 1))
                    elif op == "done":
                        del z.jobs[job.id]
                        judge(job, header)
                        requeue(job)  # the items after a child's end, in a fresh child
                    dispatch(z)
                if eof:
                    lost(z, "died")
            now = time.monotonic()
            for z in list(self.zygotes.values()):
                if not z.ready and now > z.deadline:
                    lost(z, "did not start")
                    continue
                late = [j for j in z.jobs.values() if now > j.deadline]
                if late:
                    lost(z, "hung", overdue=late[0])
        return [r for r in results if r is not None]


def _batches(items: Sequence[Item], workers: int = 1) -> list[list[int]]:
    """Indices of the items each child runs, longest first (so that the children at once end
    about together): a batch's programs in their order (at most ``MAX_BATCH`` a child), every
    unbatched program alone, and the models and splits (our code: no team's code runs beside
    them, their only input from a team is weights, parsed by safetensors and checked against
    the config) in ``workers`` children of their own, so they run side by side."""
    groups: dict[Any, list[int]] = {}
    trusted = [i for i, item in enumerate(items) if not isinstance(item, Program)]
    for i, item in enumerate(items):
        if isinstance(item, Program):
            groups.setdefault(("alone", i) if item.batch is None else ("batch", item.batch),
                              []).append(i)
    out = [g[i:i + MAX_BATCH] for g in groups.values() for i in range(0, len(g), MAX_BATCH)]
    if trusted:
        size = min(MAX_BATCH, -(-len(trusted) // max(1, workers)))
        out += [trusted[i:i + size] for i in range(0, len(trusted), size)]
    return sorted(out, key=lambda b: -len(b))


def _item_frame(item: Item, output: Output) -> dict[str, Any]:
    if isinstance(item, Model):
        return {"kind": "model", "path": str(item.path), "config": dict(item.config),
                "max_bytes": int(item.max_bytes), "integer": output.integer}
    if isinstance(item, Split):
        return {"kind": "split", "train_frac": float(item.train_frac), "seed": int(item.seed)}
    return {"kind": "program", "path": str(item.path)}


_POOLS: dict[str, _Pool] = {}
_LOCK = threading.Lock()


def shutdown(wait: bool = True) -> None:
    """Stop every warm zygote (also done at interpreter exit, without waiting for it to go)."""
    with _LOCK:
        while _POOLS:
            _POOLS.popitem()[1].close(wait)


atexit.register(shutdown, False)


def _config(iso: Isolation) -> dict[str, Any]:
    return {"isolation": {"landlock_abi": iso.landlock_abi, "seccomp": iso.seccomp,
                          "netns": iso.netns, "ipcns": iso.ipcns, "mountns": iso.mountns,
                          "cgroups": [c for c in sandbox.CONTROLLERS
                                      if getattr(iso, f"{c}_cgroup")]},
            "roots": _roots()}


def _pool(cfg: dict[str, Any]) -> _Pool:
    """The warm pool for ``cfg`` (made if needed; the caller holds ``_LOCK``)."""
    key = json.dumps(cfg, sort_keys=True)
    pool = _POOLS.get(key)
    if pool is None:
        for other in list(_POOLS):  # one warm pool at a time: each holds torch
            _POOLS.pop(other).close()
        pool = _POOLS[key] = _Pool(cfg)
    return pool


def prestart() -> None:
    """Start the zygote now, without waiting for it: it imports torch while the caller does
    other work (a close reads the ledger and opens its secrets meanwhile), and while this
    probes the kernel for its configuration. Never raises: a zygote that cannot start fails
    the ``replay`` that needs it, with the reason."""
    try:
        with _LOCK:
            if any(pool.zygotes for pool in _POOLS.values()):
                return
            folder = private_folder()
            try:
                z = _Zygote(0, folder[0], None)
            except BaseException:
                release_folder(*folder)
                raise
            try:
                cfg = _config(probe_isolation())
                for other in list(_POOLS):  # one warm pool at a time: each holds torch
                    _POOLS.pop(other).close()
            except BaseException:
                z.kill()
                release_folder(*folder)
                raise
            _POOLS[json.dumps(cfg, sort_keys=True)] = _Pool(cfg, folder, z)
    except Exception:
        pass


def replay(programs: Sequence[Item], domain: Domain, limits: Limits, *,
           workers: int | None = None, require: str = "full",
           on_done: Callable[[Outcome], None] | None = None,
           output: Output = BINARY) -> list[Outcome]:
    """Run every program (and model, and split) over ``domain`` in the sandbox, ``workers``
    children at once (default: one per core); outcomes in the order of ``programs``.

    Raises IsolationError when the kernel cannot give ``require`` ("full", "partial", "none").
    Calls are serialized; the zygote stays warm for the next call (see ``shutdown()``).
    """
    iso = check_isolation(require)
    if not programs:
        return []
    n_workers = max(1, min(workers or os.cpu_count() or 1, len(programs)))
    cfg = _config(iso)
    with _LOCK:
        pool = _pool(cfg)
        try:
            return pool.run(programs, domain, limits, n_workers, on_done, output)
        except BaseException:
            # interrupted (or on_done raised) mid-run: children may be busy, start afresh
            del _POOLS[json.dumps(cfg, sort_keys=True)]
            pool.close()
            raise


@dataclass(frozen=True)
class Weights:
    """A model to replay from bytes (see ``Model``)."""

    data: bytes
    config: Mapping[str, Any]
    max_bytes: int


def replay_sources(sources: Mapping[str, bytes], domain: Domain, limits: Limits, *,
                   require: str = "full", on_done: Callable[[Outcome], None] | None = None,
                   output: Output = BINARY, batches: Mapping[str, str] | None = None,
                   models: Mapping[str, Weights] | None = None,
                   splits: Mapping[str, tuple[float, int]] | None = None,
                   workers: int | None = None) -> dict[str, Outcome]:
    """``replay`` for programs held as bytes (revealed from a ledger), keyed like ``Program``;
    ``batches`` gives a program's batch by key, ``models`` the models to run beside them and
    ``splits`` the held-out splits ((train_frac, seed) by key).

    Each program (model) is written to a file named after its key ('/' becomes '--') in a
    private folder (see ``private_folder``: 0700, locked while in use, removed by the next run
    if this one is killed); the child reads its file before it drops its capabilities."""
    tmp, lock = private_folder()
    try:
        items: list[Item] = []
        for key, source in sources.items():
            path = tmp / f"{key.replace('/', '--')}.py"
            path.write_bytes(source)
            path.chmod(0o644)
            items.append(Program(key, path, (batches or {}).get(key)))
        for key, w in (models or {}).items():
            path = tmp / f"{key.replace('/', '--')}.safetensors"
            path.write_bytes(w.data)
            path.chmod(0o644)
            items.append(Model(key, path, w.config, w.max_bytes))
        items += [Split(key, frac, seed) for key, (frac, seed) in (splits or {}).items()]
        return {o.key: o for o in replay(items, domain, limits, require=require,
                                         on_done=on_done, output=output, workers=workers)}
    finally:
        release_folder(tmp, lock)


def _domain_root(domain: Domain) -> str | None:
    """The root against which the zygote re-parses a dataset spec."""
    if domain.kind != "dataset" or domain.path is None:
        return None
    rel = Path(domain.spec.split(":", 1)[1])
    root = domain.path
    for _ in rel.parts:
        root = root.parent
    return str(root)
