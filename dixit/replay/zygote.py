"""The warm worker behind ``dixit.replay``: imports torch once, then forks one sandboxed child
per program.

Started by the engine as ``python -m dixit.replay.zygote`` with a minimal environment. It speaks
a length-prefixed protocol on stdin/stdout (``encode_frame``, ``decode_frame``); nothing
program-controlled is ever unpickled or eval'ed, only JSON headers and raw label bytes cross
process boundaries.

The zygote only ever sees a program's *path*: the child reads the file itself, after the fork,
so no program's source is ever in the zygote's memory (and hence in a later sibling's).
Children write their result (a frame: JSON header + label bytes) to fd 3 and stdout/stderr to
fds 1/2, both files that only the engine reads (see ``Zygote.run``).

Per program the zygote makes a scratch directory under a name never used before (a tmpfs with
a quota, in its private mount namespace); its pids and memory cgroups hold one child at a time,
get that child's limits before it starts, and are reused only once they are provably empty.
The zygote moves the child into them while the child sets its sandbox up; the child runs
nothing of the program's before it reads one byte on fd 5 (moved), then writes one on fd 4
(sandbox complete).
A child that ends without that byte never ran the program: the job is reported as ``retry``
(as is a fork the kernel keeps refusing), never as the program's failure. Cleanup cannot fail
in a way that matters to any other program.
"""

from __future__ import annotations

import builtins
import os
import struct
import sys
from json import dumps as _dumps, loads as _loads
from typing import Any, BinaryIO

RESULT_FD = 3
READY_FD = 4  # the child writes one byte here once its sandbox is complete, then closes it
GO_FD = 5  # ...after reading one byte here: the zygote has put it into its cgroups
MAX_PROGRAM_BYTES = 8 * 1024 * 1024
# A program's memory cgroup allows its memory_mb plus this much for what a fork of the zygote
# touches anyway: pages copied on write (refcounts), page tables, kernel memory.
MEMORY_SLACK_MB = 64
SCRATCH_MIN_BYTES = 256 << 20  # scratch tmpfs quota: all of a program's files together
SCRATCH_INODES = 8192
MAX_ERROR_CHARS = 300
_HDR = struct.Struct(">I")
_LEN = struct.Struct(">Q")
# Bound now, so a program that monkeypatches os/json in its (forked) copy of this process
# cannot garble how its result is sent; builtins are restored before sending (see _send).
_write = os.write
_BUILTINS = dict(builtins.__dict__)


# -- framing (shared with the engine) -------------------------------------------------------------


def encode_frame(header: dict[str, Any], payload: bytes | memoryview = b"") -> bytes:
    """``u32 len | JSON header | u64 len | payload`` (big endian)."""
    return frame_head(header, len(payload)) + bytes(payload)


def frame_head(header: dict[str, Any], payload_len: int) -> bytes:
    """A frame up to its payload, so a large payload can be written without a copy."""
    head = _dumps(header, separators=(",", ":")).encode()
    return b"".join((_HDR.pack(len(head)), head, _LEN.pack(payload_len)))


def decode_frame(buf: bytes | bytearray, max_header: int = 1 << 20,
                 max_payload: int = 1 << 32) -> tuple[dict[str, Any], bytes, int] | None:
    """Parse one frame at the start of ``buf``: (header, payload, bytes used), or None if
    incomplete. Raises ValueError on anything malformed."""
    if len(buf) < _HDR.size:
        return None
    (hlen,) = _HDR.unpack_from(buf, 0)
    if hlen > max_header:
        raise ValueError("frame header too large")
    if len(buf) < _HDR.size + hlen + _LEN.size:
        return None
    header = _loads(bytes(buf[_HDR.size:_HDR.size + hlen]))
    if not isinstance(header, dict):
        raise ValueError("frame header is not an object")
    (plen,) = _LEN.unpack_from(buf, _HDR.size + hlen)
    if plen > max_payload:
        raise ValueError("frame payload too large")
    start = _HDR.size + hlen + _LEN.size
    if len(buf) < start + plen:
        return None
    return header, bytes(buf[start:start + plen]), start + plen


def frame_header(buf: Any, max_header: int = 8192) -> tuple[dict[str, Any], int, int]:
    """(header, payload offset, payload length) of the one frame filling ``buf`` (bytes or a
    mapping), without copying the payload. Raises ValueError unless ``buf`` is exactly one
    complete frame."""
    if len(buf) < _HDR.size:
        raise ValueError("truncated frame")
    (hlen,) = _HDR.unpack_from(buf, 0)
    if hlen > max_header or len(buf) < _HDR.size + hlen + _LEN.size:
        raise ValueError("frame header too large or truncated")
    header = _loads(bytes(buf[_HDR.size:_HDR.size + hlen]))
    if not isinstance(header, dict):
        raise ValueError("frame header is not an object")
    (plen,) = _LEN.unpack_from(buf, _HDR.size + hlen)
    start = _HDR.size + hlen + _LEN.size
    if len(buf) != start + plen:
        raise ValueError("truncated frame or trailing bytes")
    return header, start, plen


def write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[_write(fd, view):]


def one_line(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """Squash to one printable line of at most ``limit`` characters, backslashes replaced (as
    ``entries.safe_text`` does before signing: error texts end up in signed results)."""
    text = " ".join("".join(c if c.isprintable() else " " for c in text.replace("\\", "/"))
                    .split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


class _Reader:
    """Blocking frame reader over a file descriptor."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.buf = bytearray()

    def read(self) -> tuple[dict[str, Any], bytes] | None:
        while True:
            got = decode_frame(self.buf)
            if got is not None:
                header, payload, used = got
                del self.buf[:used]
                return header, payload
            chunk = self.stream.read1(1 << 16)  # type: ignore[attr-defined]
            if not chunk:
                return None
            self.buf += chunk


# -- the zygote ---------------------------------------------------------------------------------


class Zygote:
    """State kept across jobs; everything here is inherited (copy-on-write) by children."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        import numpy
        import torch

        # Before any torch work: a child forked after torch's thread pool ran can deadlock.
        torch.set_num_threads(1)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass
        from dixit.replay import sandbox

        self.np = numpy
        self.torch = torch
        self.sandbox = sandbox
        self.iso: dict[str, Any] = cfg["isolation"]
        self.roots: list[tuple[str, bool]] = [(str(p), bool(w)) for p, w in cfg["roots"]]
        self.base: str = cfg["scratch"]
        self.params: tuple[str, str] | None = None  # (domain, limits) as JSON, see configure()
        self.limits: dict[str, Any] = {}
        self.domain: Any = None
        self.inputs: Any = None
        self.targets: Any = None  # a dataset's targets, for label(x, targets)
        self.takes_targets: Any = None
        self.size = 0
        self.output: Any = None  # the challenge's declared output (dixit.rules.outputs)
        self.rows: list[tuple[int, ...]] = []  # the row shapes it allows on this domain
        self.length: int | None = None  # positions per input of a token domain
        self.file_bytes = 64 << 20
        allowed = [r for r, _ in self.roots]
        self.sys_path = [p for p in sys.path if p and any(
            os.path.realpath(p) == r or os.path.realpath(p).startswith(r + os.sep)
            for r in allowed)]
        ns = sandbox.enter_namespaces(net=bool(self.iso.get("netns")),
                                      mount=bool(self.iso.get("mountns")),
                                      ipc=bool(self.iso.get("ipcns")))
        for want in ("mount", "ipc"):
            if self.iso.get(f"{want}ns") and not ns[want]:  # the engine was told otherwise
                raise RuntimeError(f"cannot enter a private {want} namespace")
        self.netns, self.mountns, self.ipcns = ns["net"], ns["mount"], ns["ipc"]
        self.cgroups: list[dict[str, Any]] = sandbox.cgroup_open_runs(cfg.get("cgroups") or [])
        if self.mountns:
            sandbox.hide_cgroupfs()  # children never see a cgroup file system by path
        self.seccomp = sandbox.seccomp_template() if self.iso.get("seccomp") else None
        # Without a seccomp filter SysV IPC is allowed: then each child gets its own IPC
        # namespace, so whatever it makes is gone when it ends and no sibling can see it.
        self.ipc_per_child = self.ipcns and self.seccomp is None
        self.seq = 0  # job names: never reused within this zygote (see run)
        self.memory_bytes = 0
        self.scratch_bytes = SCRATCH_MIN_BYTES
        self.slot: dict[str, Any] | None = None  # the next job's scratch
        # This zygote's job cgroups: one child at a time is in them, its limits set before
        # it starts; reused while provably idle (making and removing cgroups for every
        # program costs more than a third of a program's time when two zygotes share a
        # machine). See _job_cgroups.
        self.jobcg: dict[str, Any] | None = None
        self.pending: list[dict[str, Any]] = []  # finished jobs', to remove in tidy()
        self._selftest()
        # Capture the functions the child's validation uses now, before any program can
        # monkeypatch numpy/torch/builtins in its own (forked) copy.
        self.Tensor = torch.Tensor
        self.asarray = numpy.asarray
        self.isnan = numpy.isnan
        self.uint8 = numpy.uint8
        self.ndarray = numpy.ndarray
        self.zeros = numpy.zeros
        import gc

        gc.collect()
        gc.freeze()  # fewer copy-on-write faults in children

    def _selftest(self) -> None:
        """Make and remove one job's scratch mount and cgroups now: a machine where that fails
        fails here, at start-up, with the reason, instead of once per program later."""
        import errno  # noqa: F401  - and everything run() and _child() import, once
        import fcntl  # noqa: F401
        import select  # noqa: F401
        import signal  # noqa: F401
        import stat  # noqa: F401
        import time  # noqa: F401

        self.memory_bytes = 1 << 30
        self._cleanup(self._prepare())
        self._job_cgroups()
        self._drop_cgroups()
        self.memory_bytes = 0

    def configure(self, domain: dict[str, Any], limits: dict[str, Any]) -> None:
        """Set the domain and limits for the following jobs (kept while they do not change)."""
        from pathlib import Path

        from dixit.data import domains
        from dixit.rules import outputs

        key = (_dumps(domain, sort_keys=True), _dumps(limits, sort_keys=True))
        if key == self.params:
            return
        self.limits = limits
        if self.params is None or key[0] != self.params[0]:
            self.domain = self.inputs = self.targets = None  # free the previous domain's first
            dom = domains.parse(domain["spec"], seed=int(domain["seed"]),
                                root=Path(domain["root"]) if domain["root"] else None)
            width = max(1, int(self.np.prod(dom.input_shape)))
            # Materialize inputs once (shared copy-on-write with every child) unless absurdly
            # big; datasets must be loaded here anyway since children cannot read the file.
            if dom.kind == "dataset" or dom.size * width * 8 <= (512 << 20):
                self.inputs = dom.all()
            self.targets = dom.targets()
            self.takes_targets = domains.takes_targets
            self.domain, self.size = dom, dom.size
            self.output = outputs.parse(domain.get("output", outputs.DEFAULT))
            self.length = outputs.positions(dom.kind, tuple(dom.input_shape))
            self.rows = self.output.row_shapes(self.length)
        result = self.size * self.output.size_per_input(self.length)
        self.file_bytes = max(64 << 20, 16 * int(limits["output_bytes"]), result + (1 << 20))
        self.memory_bytes = (int(limits["memory_mb"]) + MEMORY_SLACK_MB) << 20
        self.scratch_bytes = max(SCRATCH_MIN_BYTES, 2 * self.file_bytes)
        self.params = key
        import ctypes
        import gc

        gc.collect()
        gc.freeze()
        ctypes.CDLL(None).malloc_trim(0)  # fewer pages for every fork to copy and tear down

    # -- per job, in the zygote ---------------------------------------------------------------

    def run(self, job: int, path: str, attempt: int = 0) -> dict[str, Any]:
        """Fork, sandbox and run one program; report how the child ended. The child's result
        and output go to files that only the engine reads: no bytes a program produced (its
        labels, its error message, its output) ever enter this process, so no later sibling
        can find them in the memory it inherits.

        A program that could not be started (fork refused, scratch or cgroup not made, the
        sandbox not set up before its code ran) is reported with ``retry`` instead of a
        verdict: that is never the program's fault. Every name is new (a counter and a random
        token), so nothing a failed cleanup left behind can collide with a later job. The
        job's scratch and cgroups are removed by ``tidy()``, once the report is sent."""
        import select
        import signal
        import time

        if attempt:
            time.sleep(min(1.0, 0.05 * 4 ** (attempt - 1)))  # back off before trying again
        slot, self.slot = self.slot, None
        if slot is not None and slot["size"] != self.scratch_bytes:
            self.pending.append(slot)  # made for another quota
            slot = None
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        fds: list[int] = []
        out_path = res_path = ""
        try:
            if slot is None:
                slot = self._prepare()
            cg = self._job_cgroups()
            out_path = os.path.join(self.base, f"out-{slot['name']}")
            res_path = os.path.join(self.base, f"res-{slot['name']}")
            for target in (out_path, res_path):
                fds.append(os.open(target, flags, 0o600))
            fds += os.pipe2(os.O_CLOEXEC)  # "sandbox in place" byte, see _child
            fds += os.pipe2(os.O_CLOEXEC)  # "in your cgroups" byte
            sys.stdout.flush()
            sys.stderr.flush()
            t0 = time.monotonic()
            pid = self._fork()
        except OSError as exc:
            for fd in fds:
                os.close(fd)
            if slot is not None:
                self.pending.append(slot)
            for target in (out_path, res_path):
                if target:
                    _unlink(target)
            return {"op": "done", "job": job, "seconds": 0.0,
                    "retry": one_line(f"could not start the program: {exc}")}
        self.pending.append(slot)
        out_fd, res_fd, ready_r, ready_w, go_r, go_w = fds
        if pid == 0:  # pragma: no cover - runs in the child
            self._child(path, slot["scratch"], out_fd, res_fd, ready_w, go_r)
        for fd in (out_fd, res_fd, ready_w, go_r):
            os.close(fd)
        # Moved here, while the child sets its sandbox up (a cgroup migration waits for an RCU
        # grace period: milliseconds on a busy machine); it runs nothing of the program's
        # before the byte on its GO_FD. If the move fails, the child dies unstarted: a retry.
        try:
            if cg:
                self.sandbox.cgroup_join(cg["fds"], pid)
            _write(go_w, b"1")
        except OSError:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        finally:
            os.close(go_w)
        wall = float(self.limits["wall_seconds"])
        timed_out = False
        pidfd = os.pidfd_open(pid)
        try:
            left = t0 + wall - time.monotonic()
            while left > 0 and not select.select([pidfd], [], [], left)[0]:
                left = t0 + wall - time.monotonic()
            if left <= 0:
                timed_out = True
                # The child leads its own process group and cannot fork: this kills it all.
                for kill in (os.killpg, os.kill):
                    try:
                        kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
            _, status, usage = os.wait4(pid, 0)
            seconds = time.monotonic() - t0
            os.set_blocking(ready_r, False)
            try:
                started = os.read(ready_r, 1) == b"1"
            except BlockingIOError:
                started = False
            report = {}
            if cg:  # what this child did: the counters now less those before it ran
                after = self.sandbox.cgroup_job_report(self.cgroups, cg["fds"])
                report = {k: v - cg["before"].get(k, 0) for k, v in after.items()}
                report["memory_peak"] = after.get("memory_peak", 0)
                cg["before"] = after
                cg["used"] = True
        finally:
            os.close(pidfd)
            os.close(ready_r)
        header: dict[str, Any] = {
            "op": "done", "job": job, "seconds": round(seconds, 6),
            "cpu": round(usage.ru_utime + usage.ru_stime, 6), "timed_out": timed_out,
            "max_rss_kb": int(usage.ru_maxrss),
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            "file_bytes": self.file_bytes, "memory_bytes": self.memory_bytes,
            "output_path": out_path, "result_path": res_path, **report}
        if not started and header["exit"] != 0:
            # The sandbox failed before the program's code ran (the child's result file says
            # why): not the program's doing. A program that could not be read exits 0.
            header["retry"] = "sandbox setup failed"
            self._drop_cgroups()  # joining them may be what failed: the next try gets new ones
        return header

    def _prepare(self) -> dict[str, Any]:
        """A new job's scratch: a tmpfs with the quota, where there is a mount namespace.
        Raises OSError, having removed what it made."""
        self.seq += 1
        name = f"{self.seq}-{os.urandom(4).hex()}"
        slot: dict[str, Any] = {"name": name, "scratch": os.path.join(self.base, f"job-{name}"),
                                "mounted": False, "size": self.scratch_bytes}
        try:
            os.mkdir(slot["scratch"], 0o700)
            if self.mountns:
                self.sandbox.mount_scratch(slot["scratch"], self.scratch_bytes, SCRATCH_INODES)
                slot["mounted"] = True
        except OSError:
            self._cleanup(slot)
            raise
        return slot

    def _job_cgroups(self) -> dict[str, Any] | None:
        """The job cgroups for the next child, with the current limits: made once, and again
        only if a previous child's could not be proved empty. Raises OSError."""
        sb = self.sandbox
        if not self.cgroups:
            return None
        self._settle_cgroups()  # normally done by tidy() already
        cg = self.jobcg
        if cg is None:
            self.seq += 1
            name = f"job-{self.seq}-{os.urandom(4).hex()}"
            fds = sb.cgroup_job_create(self.cgroups, name, tasks=sb.TASKS,
                                       memory_bytes=self.memory_bytes)
            cg = self.jobcg = {"name": name, "fds": fds, "memory": self.memory_bytes,
                               "before": sb.cgroup_job_report(self.cgroups, fds),
                               "used": False}
        elif cg["memory"] != self.memory_bytes:
            sb.cgroup_job_limit(self.cgroups, cg["fds"], self.memory_bytes)
            cg["memory"] = self.memory_bytes
        return cg

    def tidy(self) -> None:
        """After a report is sent, while the engine reads it: remove the finished jobs'
        scratch, check that its child left nothing in the job cgroups (else they are dropped
        and new ones made), and make the next job's scratch: none of it on any program's
        clock."""
        while self.pending:
            self._cleanup(self.pending.pop())
        self._settle_cgroups()
        if self.slot is None and self.memory_bytes:
            try:
                self.slot = self._prepare()
            except OSError as exc:  # run() tries again, and reports a retry if it fails
                print(f"dixit zygote: cannot prepare a job: {exc}", file=sys.stderr)

    def _settle_cgroups(self) -> None:
        """Make used job cgroups fit for the next child: provably empty, peaks rewound; else
        they are dropped (and new ones made when next needed)."""
        sb = self.sandbox
        cg = self.jobcg
        if cg is None or not cg["used"]:
            return
        if sb.cgroup_job_idle(cg["fds"]):
            sb.cgroup_job_rewind(self.cgroups, cg["fds"])
            cg["before"] = sb.cgroup_job_report(self.cgroups, cg["fds"])
            cg["used"] = False
        else:
            self._drop_cgroups()

    def _drop_cgroups(self) -> None:
        cg, self.jobcg = self.jobcg, None
        if cg is not None and not self.sandbox.cgroup_job_remove(self.cgroups, cg["name"],
                                                                 cg["fds"]):
            print(f"dixit zygote: could not remove cgroup {cg['name']}", file=sys.stderr)

    def _fork(self) -> int:
        """fork(), retried with back-off while the kernel has no task or memory to spare."""
        import errno
        import time

        delays = (0.0, 0.01, 0.05, 0.2, 0.5, 1.0)
        for i, delay in enumerate(delays):
            time.sleep(delay)
            try:
                return os.fork()
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.ENOMEM) or i == len(delays) - 1:
                    raise
        raise AssertionError("unreachable")

    def _cleanup(self, slot: dict[str, Any]) -> None:
        """Remove a job's scratch; never raises. What cannot be removed is logged and left:
        names are never reused, so it cannot affect any later program."""
        sb = self.sandbox
        ok = not slot["mounted"] or sb.unmount_scratch(slot["scratch"])  # frees all at once
        if not sb.remove_tree(slot["scratch"]) or not ok:
            print(f"dixit zygote: could not fully clean up {slot['scratch']}", file=sys.stderr)

    # -- in the child ---------------------------------------------------------------------------

    def _child(self, path: str, scratch: str, out_fd: int, res_fd: int, ready_fd: int,
               go_fd: int) -> None:  # pragma: no cover
        """Never returns. Sandbox setup failures are reported on the result channel and exit
        71 without the "sandbox in place" byte on ``ready_fd``, which tells the zygote that the
        program never ran (see ``run``). Nothing of the program runs before the zygote has
        put this process into its cgroups (one byte on ``go_fd``)."""
        import fcntl
        import signal

        sb = self.sandbox
        status = 0
        try:
            zygote = os.getppid()
            os.setsid()
            sb.set_pdeathsig(signal.SIGKILL)
            if os.getppid() != zygote:
                os._exit(70)
            # Above the target numbers first, so that no dup2 below overwrites a source.
            out_fd, res_fd, ready_fd, go_fd = (fcntl.fcntl(fd, fcntl.F_DUPFD, 16)
                                               for fd in (out_fd, res_fd, ready_fd, go_fd))
            devnull = os.open("/dev/null", os.O_RDONLY)
            os.dup2(devnull, 0)
            os.dup2(out_fd, 1)
            os.dup2(out_fd, 2)
            os.dup2(res_fd, RESULT_FD)
            os.dup2(ready_fd, READY_FD)
            os.dup2(go_fd, GO_FD)
            os.closerange(GO_FD + 1, 1 << 20)  # the zygote's pipes to the engine, etc.
            if self.ipc_per_child:
                sb.unshare_ipc()
            lim = self.limits
            sb.set_rlimits(cpu_seconds=float(lim["cpu_seconds"]),
                           memory_mb=int(lim["memory_mb"]), file_bytes=self.file_bytes)
            os.chdir(scratch)
            try:
                # O_NOFOLLOW: a submission that is a symlink (to a key, to another team's
                # file) is refused rather than read with the child's pre-sandbox rights;
                # O_NONBLOCK and S_ISREG: a FIFO or device would hang or never end.
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
                with os.fdopen(fd, "rb") as f:
                    if not _is_regular(f.fileno()):
                        raise OSError(0, "not a regular file")
                    source = f.read(MAX_PROGRAM_BYTES + 1)
            except OSError as exc:
                self._send({"error": f"cannot read program: {exc.strerror or exc}"})
                os._exit(0)
            if len(source) > MAX_PROGRAM_BYTES:
                self._send({"error": f"program is larger than {MAX_PROGRAM_BYTES} bytes"})
                os._exit(0)
            os.environ.clear()
            os.environ.update({"HOME": scratch, "TMPDIR": scratch, "PATH": "/usr/bin:/bin",
                               "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1"})
            sys.path[:] = self.sys_path
            sys.argv = ["label"]
            sb.drop_privileges()
            if self.iso.get("landlock_abi"):
                sb.apply_landlock(int(self.iso["landlock_abi"]), self.roots, scratch)
            if self.seccomp:
                sb.apply_seccomp(os.getpid(), self.seccomp)
            if os.read(GO_FD, 1) != b"1":  # not in its cgroups: must not start
                raise OSError("not moved into the program's cgroups")
            os.close(GO_FD)
            _write(READY_FD, b"1")
            os.close(READY_FD)
        except BaseException as exc:
            try:
                self._send({"error": one_line(f"sandbox setup failed: {exc!r}")})
            finally:
                os._exit(71)
        try:
            status = self._execute(path, source)
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            except BaseException:
                pass
            os._exit(status)

    def _send(self, header: dict[str, Any],
              payload: bytes | memoryview = b"") -> None:  # pragma: no cover
        builtins.__dict__.clear()
        builtins.__dict__.update(_BUILTINS)
        write_all(RESULT_FD, frame_head(header, len(payload)))
        write_all(RESULT_FD, payload)

    def _execute(self, path: str, source: bytes) -> int:  # pragma: no cover - in the child
        import types

        module = types.ModuleType("__program__")
        module.__file__ = path
        sys.modules["__program__"] = module
        try:
            code = compile(source, os.path.basename(path), "exec")
            exec(code, module.__dict__)
        except BaseException as exc:
            return self._fail("at import", exc)
        label = module.__dict__.get("label")
        if not callable(label):
            self._send({"error": "defines no label(x) function"})
            return 0
        labels: Any = None  # allocated once the first batch fixes the shape of a row
        with_targets = self.targets is not None and self.takes_targets(label)
        bs = max(1, int(self.limits["batch_size"]))
        for start in range(0, self.size, bs):
            stop = min(start + bs, self.size)
            n = stop - start
            x = self.inputs[start:stop].clone() if self.inputs is not None else \
                self.domain.slice(start, stop)
            try:
                out = label(x, self.targets[start:stop].clone()) if with_targets else label(x)
            except BaseException as exc:
                return self._fail("in label()", exc)
            try:
                arr = self._as_array(out)
            except BaseException as exc:
                self._send({"error": one_line(
                    f"returned labels that cannot be read as an array: {_describe(exc)}")})
                return 0
            problem = self._check(arr, n, self.rows if labels is None else [labels.shape[1:]])
            if problem:
                self._send({"error": problem})
                return 0
            if labels is None:
                labels = self.zeros((self.size, *arr.shape[1:]), dtype=self.output.dtype)
            labels[start:stop] = arr
        if labels is None:  # an empty domain
            labels = self.zeros((0, *self.rows[0]), dtype=self.output.dtype)
        self._send({"error": None, "n": self.size, "shape": list(labels.shape)},
                   memoryview(labels.reshape(-1)).cast("B"))
        return 0

    def _as_array(self, out: Any) -> Any:
        if isinstance(out, self.Tensor):
            t = out.detach().cpu()
            try:
                return t.numpy()
            except (TypeError, RuntimeError):  # e.g. bfloat16 has no numpy dtype
                return t.float().numpy()
        return self.asarray(out)

    def _check(self, arr: Any, n: int, rows: list[tuple[int, ...]]) -> str | None:
        if not isinstance(arr, self.ndarray):
            return "returned something that is not an array"
        # A program could patch this check in its own copy of the process: the engine checks
        # the shape and range of what it sends again (see engine._verdict).
        problem = self.output.problem(arr, n, rows)
        return None if problem is None else one_line(problem)

    def _fail(self, where: str, exc: BaseException) -> int:
        import errno

        text = _describe(exc)
        low = text.lower()
        if isinstance(exc, MemoryError) or "can't allocate memory" in low \
                or "cannot allocate memory" in low:
            msg = f"killed: memory limit ({where}: {text})"
        elif isinstance(exc, OSError) and exc.errno == errno.EFBIG:
            msg = f"killed: output/file size limit ({where}: {text})"
        elif (isinstance(exc, OSError) and exc.errno in (errno.EPERM, errno.EACCES)) \
                or "permission denied" in low or "operation not permitted" in low:
            msg = f"blocked by sandbox {where}: {text}"
        else:
            msg = f"crashed {where}: {text}"
        self._send({"error": one_line(msg)})
        return 0


def _is_regular(fd: int) -> bool:
    import stat

    return stat.S_ISREG(os.fstat(fd).st_mode)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _describe(exc: BaseException) -> str:
    try:
        msg = str(exc)
    except BaseException:
        msg = "<unprintable>"
    name = type(exc).__name__
    return f"{name}: {msg}" if msg else name


def main() -> None:
    import signal

    from dixit.replay import sandbox

    # Keep the protocol channel private: anything printed by imports goes to stderr.
    proto = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    sandbox.set_pdeathsig()
    signal.signal(signal.SIGIO, signal.SIG_IGN)  # belt and braces: see sandbox._DENY_CMDS
    if os.getppid() == 1:
        return
    reader = _Reader(sys.stdin.buffer)
    first = reader.read()
    if first is None:
        return
    zygote = Zygote(first[0])
    proto.write(encode_frame({"op": "ready", "pid": os.getpid(), "netns": zygote.netns,
                              "mountns": zygote.mountns, "ipcns": zygote.ipcns}))
    while True:
        msg = reader.read()
        if msg is None or msg[0].get("op") != "run":
            return
        job = int(msg[0]["job"])
        try:
            zygote.configure(msg[0]["domain"], msg[0]["limits"])
            header = zygote.run(job, str(msg[0]["path"]), int(msg[0].get("attempt", 0)))
        except Exception as exc:  # keep serving: report this job, not a dead worker
            header = {"op": "done", "job": job, "seconds": 0.0,
                      "retry": one_line(f"sandbox could not run the program: {exc!r}")}
        proto.write(encode_frame(header))
        zygote.tidy()


if __name__ == "__main__":
    main()
