"""Replay hostile ``label(x)`` programs over an evaluation domain, each fully sandboxed.

``replay()`` keeps ``workers`` warm zygote processes (``dixit._zygote``: torch imported once,
one thread, reused by later calls in this process) and sends each a program *path* at a time.
Every program runs in a fresh child forked from a zygote and confined by ``dixit.sandbox``
(rlimits, no capabilities, Landlock, seccomp; see ``probe_isolation()``). The child writes
its labels and output to files that this engine reads and validates; the zygote only reports
how the child ended, so no program's bytes ever live in a process later programs fork from.

This module compares nothing: callers compare labels outside any program's process. A zygote
that dies is restarted and the program it was running is reported as an error; the engine
never hangs on a program (the zygote enforces the wall-time limit, and the engine kills a
zygote that does not answer within a grace period after it).
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy

from dixit.data.domains import Domain
from dixit.errors import DixitError, IsolationError
from dixit.replay import sandbox
from dixit.replay.sandbox import Isolation
from dixit.replay.zygote import decode_frame, encode_frame, one_line

STARTUP_SECONDS = 180.0  # importing torch on a cold, busy machine can be slow
GRACE_SECONDS = 10.0  # past the wall limit before the engine gives up on a zygote


@dataclass(frozen=True)
class Limits:
    cpu_seconds: float = 20.0
    wall_seconds: float = 30.0
    memory_mb: int = 2048  # extra address space a program may use
    output_bytes: int = 65536  # captured stdout+stderr kept per program
    batch_size: int = 4096


@dataclass(frozen=True)
class Program:
    key: str  # opaque id chosen by the caller
    path: Path  # the .py file; read only inside the sandboxed child


@dataclass(frozen=True)
class Outcome:
    key: str
    labels: numpy.ndarray | None  # uint8 (domain.size,), values 0/1; None on error
    error: str | None  # one line
    seconds: float
    output: str  # captured stdout/stderr, truncated to output_bytes


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
    return [(p, w) for p, w in roots if not (Path(p) == cwd or Path(p) in cwd.parents)]


class _Zygote:
    """Engine-side handle of one zygote process."""

    def __init__(self, index: int, base: Path, cfg: dict[str, Any]) -> None:
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
        self.job: int | None = None
        self.deadline = time.monotonic() + STARTUP_SECONDS
        self._send({**cfg, "scratch": str(self.dir)})

    def _send(self, header: dict[str, Any]) -> None:
        self.stdin.write(encode_frame(header))
        self.stdin.flush()

    def submit(self, job: int, path: Path, wall: float, params: dict[str, Any]) -> None:
        self.job = job
        self.deadline = time.monotonic() + wall + GRACE_SECONDS
        self._send({"op": "run", "job": job, "path": str(path), **params})

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

    def kill(self) -> None:
        try:
            os.killpg(self.pid, 9)  # its children die with it (PDEATHSIG) in any case
        except OSError:
            pass
        self.close()

    def close(self) -> None:
        try:
            self.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        shutil.rmtree(self.dir, ignore_errors=True)
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


def _verdict(h: dict[str, Any], size: int,
             limits: Limits) -> tuple[str | None, numpy.ndarray | None]:
    """Turn the zygote's report on how a child ended, and the child's result file, into
    (error, labels). The result file is read here, never in the zygote."""
    data = _read_file(h.get("result_path"), size + 65536 + 1)
    if h.get("error"):
        return one_line(str(h["error"])), None
    if h.get("timed_out"):
        return f"timed out after {limits.wall_seconds:.1f} s (wall)", None
    sig = h.get("signal")
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
        got = decode_frame(data, max_header=8192, max_payload=size)
        if got is None or got[2] != len(data):
            raise ValueError("truncated frame or trailing bytes")
        header, payload, _ = got
    except ValueError:
        return "sent a malformed result (garbage on the result channel)", None
    # The child's frame is program-controlled: trust nothing beyond its declared shape.
    if set(header) - {"error", "n"} or not isinstance(header.get("error", ""), str | None) \
            or header.get("n", size) != size:
        return "sent a malformed result (unexpected result header)", None
    if header.get("error") is not None:
        return one_line(str(header["error"])) or "failed without a message", None
    if code != 0:
        return f"exited with status {code} after returning labels", None
    labels = numpy.frombuffer(payload, dtype=numpy.uint8).copy()
    if labels.shape != (size,):
        return f"sent a malformed result ({labels.size} labels for a domain of {size})", None
    if labels.max(initial=0) > 1:
        return "sent a malformed result (label bytes other than 0/1)", None
    return None, labels


class _Pool:
    """Warm zygotes, kept between ``replay()`` calls of this process (one per isolation
    setting) so torch is imported once per worker, not once per challenge."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.base = Path(tempfile.mkdtemp(prefix="dixit-replay-"))
        self.sel = selectors.DefaultSelector()
        self.zygotes: dict[int, _Zygote] = {}

    def start(self, index: int) -> None:
        z = _Zygote(index, self.base, self.cfg)
        self.zygotes[index] = z
        self.sel.register(z.fd, selectors.EVENT_READ, z)

    def stop(self, z: _Zygote, kill: bool) -> None:
        self.sel.unregister(z.fd)
        del self.zygotes[z.index]
        z.kill() if kill else z.close()

    def close(self) -> None:
        for z in list(self.zygotes.values()):
            self.stop(z, kill=z.job is not None)
        self.sel.close()
        shutil.rmtree(self.base, ignore_errors=True)

    def run(self, programs: Sequence[Program], domain: Domain, limits: Limits, workers: int,
            on_done: Callable[[Outcome], None] | None) -> list[Outcome]:
        results: list[Outcome | None] = [None] * len(programs)
        queue = deque(range(len(programs)))
        params = {"domain": {"spec": domain.spec, "seed": domain.seed,
                             "root": _domain_root(domain)},
                  "limits": asdict(limits)}

        def finish(job: int, error: str | None, labels: numpy.ndarray | None,
                   seconds: float, output: str) -> None:
            out = Outcome(key=programs[job].key, labels=labels, error=error, seconds=seconds,
                          output=output)
            results[job] = out
            if on_done is not None:
                on_done(out)

        def dispatch(z: _Zygote) -> None:
            z.job = None
            if queue and z.index < workers:
                job = queue.popleft()
                try:
                    z.submit(job, programs[job].path, limits.wall_seconds, params)
                except OSError:
                    z.job = None
                    queue.appendleft(job)  # the dead worker is noticed at EOF and replaced

        def lost(z: _Zygote, what: str) -> None:
            ready, job, tail = z.ready, z.job, z.stderr_tail()
            self.stop(z, True)
            if not ready:  # a worker that cannot even start will not start next time either
                raise DixitError(f"sandbox worker {what}: {tail or 'no error output'}")
            if job is not None:
                finish(job, f"sandbox worker {what} while running this program"
                       + (f" ({tail})" if tail else ""), None, 0.0, "")
            self.start(z.index)

        for i in range(workers):
            if i not in self.zygotes:
                self.start(i)
            elif self.zygotes[i].ready:
                dispatch(self.zygotes[i])
        while any(r is None for r in results):
            now = time.monotonic()
            busy = [z for z in self.zygotes.values() if z.job is not None or not z.ready]
            timeout = min((z.deadline for z in busy), default=now + 1.0) - now
            for key, _ in self.sel.select(timeout=max(0.0, min(timeout, 1.0))):
                z = key.data
                frames, eof = z.frames()
                for header, _payload in frames:
                    if header.get("op") == "ready":
                        z.ready = True
                        dispatch(z)
                    elif header.get("op") == "done" and z.job is not None \
                            and header.get("job") == z.job:
                        job = z.job
                        error, labels = _verdict(header, domain.size, limits)
                        output = _read_file(header.get("output_path"), limits.output_bytes)
                        finish(job, error, labels, float(header.get("seconds", 0.0)),
                               output.decode("utf-8", errors="replace"))
                        dispatch(z)
                if eof:
                    lost(z, "died")
            now = time.monotonic()
            for z in list(self.zygotes.values()):
                if (z.job is not None or not z.ready) and now > z.deadline:
                    if not z.ready:
                        lost(z, "did not start")
                        continue
                    job = z.job
                    self.stop(z, kill=True)
                    assert job is not None
                    finish(job, f"timed out after {limits.wall_seconds:.1f} s (wall)", None,
                           limits.wall_seconds + GRACE_SECONDS, "")
                    self.start(z.index)
        return [r for r in results if r is not None]


_POOLS: dict[str, _Pool] = {}
_LOCK = threading.Lock()


@atexit.register
def shutdown() -> None:
    """Stop every warm zygote (also done at interpreter exit)."""
    with _LOCK:
        while _POOLS:
            _POOLS.popitem()[1].close()


def replay(programs: Sequence[Program], domain: Domain, limits: Limits, *,
           workers: int | None = None, require: str = "full",
           on_done: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Run every program over ``domain`` in the sandbox; outcomes in the order of ``programs``.

    Raises IsolationError when the kernel cannot give ``require`` ("full", "partial", "none").
    Calls are serialized; the zygotes stay warm for the next call (see ``shutdown()``).
    """
    iso = check_isolation(require)
    if not programs:
        return []
    n_workers = max(1, min(workers or os.cpu_count() or 1, len(programs)))
    cfg = {"isolation": {"landlock_abi": iso.landlock_abi, "seccomp": iso.seccomp,
                         "netns": iso.netns},
           "roots": _roots()}
    key = json.dumps(cfg, sort_keys=True)
    with _LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            for other in list(_POOLS):  # one warm pool at a time: each holds torch per worker
                _POOLS.pop(other).close()
            pool = _POOLS[key] = _Pool(cfg)
        try:
            return pool.run(programs, domain, limits, n_workers, on_done)
        except BaseException:
            # interrupted (or on_done raised) mid-run: zygotes may be busy, start afresh
            del _POOLS[key]
            pool.close()
            raise


def replay_sources(sources: Mapping[str, bytes], domain: Domain, limits: Limits, *,
                   require: str = "full", on_done: Callable[[Outcome], None] | None = None
                   ) -> dict[str, Outcome]:
    """``replay`` for programs held as bytes (revealed from a ledger), keyed like ``Program``.

    Each is written to a private temporary file named after its key ('/' becomes '--'),
    readable by all so the sandboxed child, which may run as another user, can read it."""
    with tempfile.TemporaryDirectory(prefix="dixit-replay-") as tmp:
        programs = []
        for key, source in sources.items():
            path = Path(tmp) / f"{key.replace('/', '--')}.py"
            path.write_bytes(source)
            path.chmod(0o644)
            programs.append(Program(key, path))
        return {o.key: o for o in replay(programs, domain, limits, require=require,
                                         on_done=on_done)}


def _domain_root(domain: Domain) -> str | None:
    """The root against which the zygote re-parses a dataset spec."""
    if domain.kind != "dataset" or domain.path is None:
        return None
    rel = Path(domain.spec.split(":", 1)[1])
    root = domain.path
    for _ in rel.parts:
        root = root.parent
    return str(root)
