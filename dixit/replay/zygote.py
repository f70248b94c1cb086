"""The warm worker behind ``dixit.replay``: imports torch once, then forks sandboxed children,
one per job, several at once (one per core).

Started by the engine as ``python -m dixit.replay.zygote`` with a minimal environment. It speaks
a length-prefixed protocol on stdin/stdout (``encode_frame``, ``decode_frame``); nothing
program-controlled is ever unpickled or eval'ed, only JSON headers and raw label bytes cross
process boundaries.

A job is a batch of items run in order by one child: programs (one team's: a team's programs
can only disturb each other), or one of our models with a team's weights and its claim's
held-out split (no team's code beside it). Each item has its own output and result files and
its own wall (and CPU) limit; the child writes one byte on fd 5 after each, which the zygote
counts without reading it (``os.splice`` to /dev/null), so it knows which item a child that
dies was running: that item gets the verdict, the ones after it go to a fresh child.

The zygote only ever sees an item's *path*: the child reads the file itself, after the fork,
so no program's source is ever in the zygote's memory (and hence in a later sibling's).
Children write their result (a frame: JSON header + label bytes) to fd 3 and stdout/stderr to
fds 1/2, both files that only the engine reads (see ``Zygote.run``).

Per job the zygote makes a scratch directory under a name never used before (a tmpfs with
a quota, in its private mount namespace); each set of job cgroups (pids, memory) holds one
child at a time, gets that child's limits before it starts, and is reused only once provably
empty. The child moves itself into them, and mounts its scratch tmpfs in a mount namespace
of its own, before anything of an item's runs; it writes one byte on fd 4 once its sandbox is
complete.
A child that ends without that byte never ran anything: the job is reported as ``retry``
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
DONE_FD = 5  # one byte after each item of its batch
MODEL_ROWS = 4096  # inputs per forward pass of a model item (as the judge always fed it)
CPU_CHECK_SECONDS = 0.1  # how often the zygote looks at the CPU time of a batch's item
_TICKS = os.sysconf("SC_CLK_TCK")
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


# -- the zygote ---------------------------------------------------------------------------------


class _Run:
    """One running child: its batch of items and what the zygote knows of its progress."""

    def __init__(self, job: int, items: list[dict[str, Any]], limits: dict[str, Any],
                 file_bytes: int, memory_bytes: int) -> None:
        self.job = job
        self.items = items
        self.wall = float(limits["wall_seconds"])
        self.cpu_limit = float(limits["cpu_seconds"])
        self.file_bytes = file_bytes
        self.memory_bytes = memory_bytes
        self.pid = 0
        self.pidfd = -1
        self.done_r = -1  # one byte arrives per finished item (spliced away, never read)
        self.ready_r = -1
        self.slot: dict[str, Any] = {}
        self.cg: dict[str, Any] | None = None
        self.outs: list[str] = []
        self.results: list[str] = []
        self.count = 0  # items the child says it finished
        self.reported = 0  # items reported to the engine
        self.t_prev = 0.0  # when the current item started
        self.cpu_prev = 0.0  # the child's CPU seconds then
        self.timed_out = False
        self.cpu_out = False
        self.killed = False
        self.eof = False  # no more progress can come
        self.cpu_check = 0.0  # when to look at the CPU time of a batch's item next


class Zygote:
    """State kept across jobs; everything here is inherited (copy-on-write) by children.

    A job is a batch of items (``run``): programs, or one of our models with a team's weights,
    or the held-out split of a claim. One child runs a batch's items in order, each with its
    own output and result files and its own wall and CPU limits, and writes one byte on
    ``DONE_FD`` after each; the zygote reports every item as it finishes, so a child killed
    mid-batch leaves a verdict for the item it was running and the rest for a fresh child.
    Several children may run at once (one per core), each in its own job cgroups."""

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
        self.slots = max(1, int(cfg.get("slots", 1)))  # children at once
        self.domain_key: str | None = None  # the domain as JSON, see configure()
        self.limits_key: str | None = None
        self.limits: dict[str, Any] = {}
        self.domain: Any = None
        self.inputs: Any = None
        self.targets: Any = None  # a dataset's targets, for label(x, targets)
        self.takes_targets: Any = None
        self.size = 0
        self.output: Any = None  # the challenge's declared output (dixit.rules.outputs)
        self.rows: list[tuple[int, ...]] = []  # the row shapes it allows on this domain
        self.length: int | None = None  # positions per input of a token domain
        self.result_bytes = 0  # a program's result file on this domain, at most
        self.file_bytes = 64 << 20
        self.models: Any = None  # what a model item needs, imported with the first one
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
        self.spares: list[dict[str, Any]] = []  # the next jobs' scratch, made ahead
        # Job cgroups: one child at a time is in each, its limits set before it starts;
        # reused while provably idle (making and removing cgroups for every program costs
        # more than a third of a program's time when children share a machine). See
        # _job_cgroups.
        self.idle_cgroups: list[dict[str, Any]] = []
        self.used_cgroups: list[dict[str, Any]] = []  # their child ended: settle in tidy()
        self.pending: list[dict[str, Any]] = []  # finished jobs' scratch, to remove in tidy()
        self.running: dict[int, _Run] = {}  # by pidfd
        self.sink = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)  # progress bytes go here
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

        # Fewer copy-on-write faults in children. No collection first: it would take longer
        # (80 ms after torch's import) than the little garbage it could free is worth.
        gc.freeze()

    def _selftest(self) -> None:
        """Make and remove one job's scratch mount and cgroups now: a machine where that fails
        fails here, at start-up, with the reason, instead of once per program later."""
        import errno  # noqa: F401  - and everything run() and _child() import, once
        import fcntl  # noqa: F401
        import selectors  # noqa: F401
        import signal  # noqa: F401
        import stat  # noqa: F401
        import time  # noqa: F401

        self.memory_bytes = 1 << 30
        slot = self._prepare()
        try:  # the mount each child makes of its own scratch, tried here once
            if self.mountns:
                self.sandbox.mount_scratch(slot["scratch"], self.scratch_bytes, SCRATCH_INODES)
                slot["mounted"] = True
        finally:
            self._cleanup(slot)
        cg = self._job_cgroups(self.memory_bytes)
        if cg is not None:
            self._drop_cgroups(cg)
        self.memory_bytes = 0

    def configure(self, domain: dict[str, Any], limits: dict[str, Any]) -> None:
        """Set the domain and limits for the following jobs (kept while they do not change).
        Jobs already running keep what they were forked with."""
        from pathlib import Path

        from dixit.data import domains
        from dixit.rules import outputs

        key, lkey = _dumps(domain, sort_keys=True), _dumps(limits, sort_keys=True)
        if key == self.domain_key and lkey == self.limits_key:
            return
        if key != self.domain_key:
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
            self.result_bytes = self.size * self.output.size_per_input(self.length)
        self.limits = limits
        self.file_bytes = max(64 << 20, 16 * int(limits["output_bytes"]),
                              self.result_bytes + (1 << 20))
        self.memory_bytes = (int(limits["memory_mb"]) + MEMORY_SLACK_MB) << 20
        self.scratch_bytes = max(SCRATCH_MIN_BYTES, 2 * self.file_bytes)
        if key != self.domain_key:
            import ctypes
            import gc

            gc.collect()
            gc.freeze()
            ctypes.CDLL(None).malloc_trim(0)  # fewer pages for every fork to copy and tear down
        self.domain_key, self.limits_key = key, lkey

    def _import_models(self) -> None:
        """What a model item runs, imported here once (children cannot read the package)."""
        if self.models is None:
            import importlib

            from safetensors.torch import load as st_load

            from dixit.models import config, training, weights

            for arch in config.ARCHS:
                importlib.import_module(f"dixit.models.{arch}")
            self.models = {"build": config.build, "load": st_load,
                           "load_state": weights.load_state, "split": training.split}

    # -- per job, in the zygote ---------------------------------------------------------------

    def run(self, job: int, items: list[dict[str, Any]], attempt: int = 0
            ) -> _Run | dict[str, Any]:
        """Fork and sandbox one child for a batch of items: the running child (``finish``
        reports it), or the report of why it could not start. The child's results and
        output go to files that only the engine reads: no bytes a program produced (its
        labels, its error message, its output) ever enter this process, so no later sibling
        can find them in the memory it inherits.

        A batch that could not be started (fork refused, scratch or cgroup not made, the
        sandbox not set up before its code ran) is reported with ``retry`` instead of a
        verdict: that is never the program's fault. Every name is new (a counter and a random
        token), so nothing a failed cleanup left behind can collide with a later job. The
        job's scratch is removed, and its cgroups made fit for the next child, by ``tidy()``,
        once the report is sent."""
        import time

        if attempt:
            time.sleep(min(1.0, 0.05 * 4 ** (attempt - 1)))  # back off before trying again
        if any(it.get("kind") == "model" or it.get("kind") == "split" for it in items):
            self._import_models()
        memory = (int(self.limits["memory_mb"]) + MEMORY_SLACK_MB) << 20
        file_bytes = self.file_bytes
        if any(it.get("kind") == "model" for it in items):
            file_bytes = max(file_bytes, 4 * self.result_bytes + (1 << 20))  # int32 class ids
        r = _Run(job, items, self.limits, file_bytes, memory)
        slot = self.spares.pop() if self.spares else None
        if slot is not None and slot["size"] != self.scratch_bytes:
            self.pending.append(slot)  # made for another quota
            slot = None
        pipes: list[int] = []
        try:
            if slot is None:
                slot = self._prepare()
            r.slot = slot
            r.cg = self._job_cgroups(memory)
            self.seq += 1
            name = f"{self.seq}-{os.urandom(4).hex()}"  # never used before (a slot may be)
            for i in range(len(items)):
                r.outs.append(os.path.join(self.base, f"out-{name}-{i}"))
                r.results.append(os.path.join(self.base, f"res-{name}-{i}"))
            for _ in range(2):  # "sandbox in place", "item done"
                pipes += os.pipe2(os.O_CLOEXEC)
            sys.stdout.flush()
            sys.stderr.flush()
            r.t_prev = time.monotonic()
            pid = self._fork()
        except OSError as exc:
            for fd in pipes:
                os.close(fd)
            if slot is not None:
                self.pending.append(slot)
            if r.cg is not None:
                self.used_cgroups.append(r.cg)
            for target in (*r.outs, *r.results):
                _unlink(target)
            return {"op": "done", "job": job, "index": 0, "seconds": 0.0,
                    "retry": one_line(f"could not start the program: {exc}")}
        ready_r, ready_w, done_r, done_w = pipes
        if pid == 0:  # pragma: no cover - runs in the child
            self._child(items, slot["scratch"], r.outs, r.results, ready_w, done_w, file_bytes,
                        r.cg["fds"] if r.cg else [])
        for fd in (ready_w, done_w):
            os.close(fd)
        r.pid, r.ready_r, r.done_r = pid, ready_r, done_r
        os.set_blocking(done_r, False)
        r.pidfd = os.pidfd_open(pid)
        self.running[r.pidfd] = r
        return r

    def progress(self, r: _Run) -> list[dict[str, Any]]:
        """Count the bytes on a child's "item done" pipe (moved to /dev/null by the kernel,
        never into this process); the reports of the items that finished, but for the last
        item, which is reported with how the child ended."""
        import time

        while r.count < len(r.items):
            try:
                got = os.splice(r.done_r, self.sink, 1)
            except BlockingIOError:
                break
            if not got:  # the pipe's write end is closed (the child ended, or closed it)
                r.eof = True
                break
            r.count += 1
        out = []
        while r.reported < min(r.count, len(r.items) - 1):
            now = time.monotonic()
            cpu = _cpu(r.pid)
            i = r.reported
            out.append({"op": "item", "job": r.job, "index": i,
                        "seconds": round(now - r.t_prev, 6),
                        "cpu": round(max(0.0, cpu - r.cpu_prev), 6), "max_rss_kb": 0,
                        "timed_out": False, "signal": None, "exit": 0,
                        "file_bytes": r.file_bytes, "memory_bytes": r.memory_bytes,
                        "output_path": r.outs[i], "result_path": r.results[i]})
            r.reported += 1
            r.t_prev, r.cpu_prev = now, cpu
        return out

    def overdue(self, now: float) -> float | None:
        """Kill the children whose current item is past its wall (or, in a batch, its CPU)
        limit; seconds until the next check is due (None: nothing runs)."""
        import signal

        wait: float | None = None
        for r in self.running.values():
            if r.killed:
                continue
            left = r.t_prev + r.wall - now
            over = left <= 0
            if not over and len(r.items) > 1 and r.cpu_limit > 0:
                # one process runs the batch: RLIMIT_CPU bounds the whole, the zygote each item
                if now >= r.cpu_check:
                    over = r.cpu_out = _cpu(r.pid) - r.cpu_prev > r.cpu_limit
                    r.cpu_check = now + CPU_CHECK_SECONDS
                left = min(left, r.cpu_check - now)
            if over:
                r.killed = True
                r.timed_out = not r.cpu_out
                # The child leads its own process group and cannot fork: this kills it all.
                for kill in (os.killpg, os.kill):
                    try:
                        kill(r.pid, signal.SIGKILL)
                    except OSError:
                        pass
                continue
            wait = left if wait is None else min(wait, left)
        return wait

    def finish(self, r: _Run) -> list[dict[str, Any]]:
        """The child ended: the reports of its last items. The last one says how it ended
        (its index, and ``left``: the items it never reached, for a fresh child)."""
        import time

        del self.running[r.pidfd]
        out = self.progress(r)  # first: a finished item's counters are in /proc till the reap
        try:
            _, status, usage = os.wait4(r.pid, 0)
        finally:
            os.close(r.pidfd)
        seconds = time.monotonic() - r.t_prev
        try:
            started = os.read(r.ready_r, 1) == b"1"
        except BlockingIOError:
            started = False
        finally:
            os.set_blocking(r.ready_r, True)
            os.close(r.ready_r)
            os.close(r.done_r)
        report = {}
        if r.cg:  # what this child did: the counters now less those before it ran
            try:
                after = self.sandbox.cgroup_job_report(self.cgroups, r.cg["fds"])
            except OSError:  # the cgroups went away under us: new ones for the next child
                self._drop_cgroups(r.cg)
                r.cg = None
            else:
                report = {k: v - r.cg["before"].get(k, 0) for k, v in after.items()}
                report["memory_peak"] = after.get("memory_peak", 0)
                r.cg["before"] = after
                self.used_cgroups.append(r.cg)
        self.pending.append(r.slot)  # see tidy(): an untouched mount point is used again
        index = min(r.count, len(r.items) - 1)
        header: dict[str, Any] = {
            "op": "done", "job": r.job, "index": index, "seconds": round(seconds, 6),
            "cpu": round(max(0.0, usage.ru_utime + usage.ru_stime - r.cpu_prev), 6),
            "timed_out": r.timed_out, "cpu_out": r.cpu_out, "max_rss_kb": int(usage.ru_maxrss),
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            "file_bytes": r.file_bytes, "memory_bytes": r.memory_bytes,
            "output_path": r.outs[index], "result_path": r.results[index],
            "left": list(range(index + 1, len(r.items))), **report}
        if not started and header["exit"] != 0:
            # The sandbox failed before any item's code ran (the child's first result file
            # says why): not the program's doing.
            header.update(retry="sandbox setup failed", index=0, left=[],
                          output_path=r.outs[0], result_path=r.results[0])
            for path in (*r.outs[1:], *r.results[1:]):
                _unlink(path)
            if r.cg is not None:  # joining them may be what failed: new ones next time
                self.used_cgroups.remove(r.cg)
                self._drop_cgroups(r.cg)
        else:
            for i in header["left"]:
                _unlink(r.outs[i])
                _unlink(r.results[i])
        out.append(header)
        return out

    def kill_all(self) -> None:
        import signal

        for r in list(self.running.values()):
            try:
                os.killpg(r.pid, signal.SIGKILL)
            except OSError:
                pass

    def _prepare(self) -> dict[str, Any]:
        """A new job's scratch directory. Where there is a mount namespace it is only the
        mount point of the tmpfs (with the quota) that the child mounts in a mount namespace
        of its own: that tmpfs, and whatever the program left in it, goes when the child does.
        Raises OSError, having removed what it made."""
        self.seq += 1
        name = f"{self.seq}-{os.urandom(4).hex()}"
        slot: dict[str, Any] = {"name": name, "scratch": os.path.join(self.base, f"job-{name}"),
                                "mounted": False, "size": self.scratch_bytes}
        try:
            os.mkdir(slot["scratch"], 0o700)
        except OSError:
            self._cleanup(slot)
            raise
        return slot

    def _reusable(self, slot: dict[str, Any]) -> bool:
        """Whether a finished job's mount point can serve the next job as it is: the child's
        tmpfs was its own, so nothing of the program's ever reached it; checked all the same
        (still an empty 0700 directory of ours)."""
        import stat

        if not self.mountns or slot["size"] != self.scratch_bytes:
            return False
        try:
            st = os.lstat(slot["scratch"])
            return (stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700
                    and st.st_uid == os.geteuid() and not os.listdir(slot["scratch"]))
        except OSError:
            return False

    def _job_cgroups(self, memory: int) -> dict[str, Any] | None:
        """Job cgroups for the next child, with its memory limit: idle ones of an earlier
        child, else new ones. Raises OSError."""
        sb = self.sandbox
        if not self.cgroups:
            return None
        self._settle_cgroups()  # normally done by tidy() already
        if self.idle_cgroups:
            cg = self.idle_cgroups.pop()
            if cg["memory"] != memory:
                try:
                    sb.cgroup_job_limit(self.cgroups, cg["fds"], memory)
                except OSError:
                    self._drop_cgroups(cg)
                    raise
                cg["memory"] = memory
            return cg
        self.seq += 1
        name = f"job-{self.seq}-{os.urandom(4).hex()}"
        fds = sb.cgroup_job_create(self.cgroups, name, tasks=sb.TASKS, memory_bytes=memory)
        return {"name": name, "fds": fds, "memory": memory,
                "before": sb.cgroup_job_report(self.cgroups, fds)}

    def tidy(self) -> None:
        """After a report is sent, while the engine reads it: remove the finished jobs'
        scratch, check that their children left nothing in the job cgroups (else those are
        dropped and new ones made), and make the next jobs' scratch: none of it on any
        program's clock."""
        while self.pending:
            slot = self.pending.pop()
            if self._reusable(slot) and len(self.spares) < self.slots:
                self.spares.append(slot)
            else:
                self._cleanup(slot)
        self._settle_cgroups()
        while len(self.spares) < self.slots - len(self.running) and self.memory_bytes:
            try:
                self.spares.append(self._prepare())
            except OSError as exc:  # run() tries again, and reports a retry if it fails
                print(f"dixit zygote: cannot prepare a job: {exc}", file=sys.stderr)
                break

    def _settle_cgroups(self) -> None:
        """Make used job cgroups fit for the next child: provably empty, peaks rewound; else
        they are dropped (and new ones made when next needed)."""
        sb = self.sandbox
        while self.used_cgroups:
            cg = self.used_cgroups.pop()
            try:
                idle = sb.cgroup_job_idle(cg["fds"])
            except OSError:
                idle = False
            if idle:
                try:
                    sb.cgroup_job_rewind(self.cgroups, cg["fds"])
                    cg["before"] = sb.cgroup_job_report(self.cgroups, cg["fds"])
                except OSError:
                    idle = False
            if idle:
                self.idle_cgroups.append(cg)
            else:
                self._drop_cgroups(cg)

    def _drop_cgroups(self, cg: dict[str, Any]) -> None:
        if not self.sandbox.cgroup_job_remove(self.cgroups, cg["name"], cg["fds"]):
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

    def _child(self, items: list[dict[str, Any]], scratch: str, out_paths: list[str],
               res_paths: list[str], ready_fd: int, done_fd: int, file_bytes: int,
               cgroups: list[int]) -> None:  # pragma: no cover
        """Never returns. Sandbox setup failures are reported on the first result file and
        exit 71 without the "sandbox in place" byte on ``ready_fd``, which tells the zygote
        that nothing ran (see ``run``). It makes every item's output and result file itself
        (names the zygote chose, never used before), before it drops its rights. Before
        anything of an item runs, this process has
        moved itself into its job cgroups (``cgroups``: their directories) and mounted its
        scratch tmpfs in a mount namespace of its own (both off the zygote's clock: a cgroup
        move waits for an RCU grace period, an unmount would too)."""
        import fcntl
        import signal

        sb = self.sandbox
        wired = False  # until fd 3 is the first result file it is the zygote's, not ours
        try:
            zygote = os.getppid()
            os.setsid()
            sb.set_pdeathsig(signal.SIGKILL)
            if os.getppid() != zygote:
                os._exit(70)
            # Above the target numbers first, so that no dup2 below overwrites a source.
            ready_fd, done_fd = (fcntl.fcntl(fd, fcntl.F_DUPFD, 16) for fd in (ready_fd, done_fd))
            cgs = [fcntl.fcntl(fd, fcntl.F_DUPFD, 16) for fd in cgroups]
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
            outs = [_above(os.open(p, flags, 0o600), 16) for p in out_paths]
            results = [_above(os.open(p, flags, 0o600), 16) for p in res_paths]
            devnull = os.open("/dev/null", os.O_RDONLY)
            os.dup2(devnull, 0)
            os.dup2(outs[0], 1)
            os.dup2(outs[0], 2)
            os.dup2(results[0], RESULT_FD)
            wired = True
            os.dup2(ready_fd, READY_FD)
            os.dup2(done_fd, DONE_FD)
            keep = sorted((*outs, *results, *cgs))
            low = DONE_FD + 1  # close the zygote's pipes to the engine, etc.
            for fd in keep:
                os.closerange(low, fd)
                low = fd + 1
            os.closerange(low, 1 << 20)
            if cgs:
                sb.cgroup_join(cgs)  # raises: then nothing runs (a retry, with new cgroups)
                for fd in cgs:
                    os.close(fd)
            if self.mountns:
                sb.unshare_namespaces(mount=True, ipc=self.ipc_per_child)
                sb.mount_scratch(scratch, self.scratch_bytes, SCRATCH_INODES)
            elif self.ipc_per_child:
                sb.unshare_ipc()
            lim = self.limits
            cpu = float(lim["cpu_seconds"])
            # One process runs the batch: the rlimit bounds all of it, the zygote each item.
            sb.set_rlimits(cpu_seconds=cpu * len(items), memory_mb=int(lim["memory_mb"]),
                           file_bytes=file_bytes, nofile=max(256, 3 * len(items) + 32))
            os.chdir(scratch)
            # Every item's file is read now, before the sandbox (the folder it is in is not
            # readable after); one that cannot be read is that item's error, not the batch's.
            sources = [self._read_item(it) for it in items]
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
            _write(READY_FD, b"1")
            os.close(READY_FD)
        except BaseException as exc:
            try:
                if wired:
                    self._send({"error": one_line(f"sandbox setup failed: {exc!r}")})
            finally:
                os._exit(71)
        env = dict(os.environ)
        stdout, stderr = sys.stdout, sys.stderr
        for i, (item, source) in enumerate(zip(items, sources, strict=True)):
            try:
                if i:  # this item's files; the previous item's are closed for good
                    os.dup2(outs[i], 1)
                    os.dup2(outs[i], 2)
                    os.dup2(results[i], RESULT_FD)
                os.close(outs[i])
                os.close(results[i])
                # what an earlier item of the batch (the same team's) may have changed
                builtins.__dict__.clear()
                builtins.__dict__.update(_BUILTINS)
                sys.stdout, sys.stderr = stdout, stderr
                sys.path[:] = self.sys_path
                os.environ.clear()
                os.environ.update(env)
                if isinstance(source, str):
                    self._send({"error": source})
                elif item.get("kind") == "model":
                    self._execute_model(item, source)
                elif item.get("kind") == "split":
                    self._execute_split(item)
                else:
                    self._execute(str(item["path"]), source)
            except BaseException:  # the item's own failures are reported by _execute
                pass
            try:
                stdout.flush()
                stderr.flush()
            except BaseException:
                pass
            try:
                _write(DONE_FD, b"1")
            except BaseException:
                pass
        os._exit(0)

    def _read_item(self, item: dict[str, Any]) -> bytes | str | None:  # pragma: no cover
        """An item's file (a program's source, a model's weights), or why it cannot be read.
        O_NOFOLLOW: a submission that is a symlink (to a key, to another team's file) is
        refused rather than read with the child's pre-sandbox rights; O_NONBLOCK and
        S_ISREG: a FIFO or device would hang or never end."""
        kind = item.get("kind", "program")
        if kind == "split":
            return None
        limit = MAX_PROGRAM_BYTES if kind == "program" else int(item["max_bytes"])
        what = "program" if kind == "program" else "model"
        try:
            fd = os.open(str(item["path"]),
                         os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
            with os.fdopen(fd, "rb") as f:
                if not _is_regular(f.fileno()):
                    raise OSError(0, "not a regular file")
                data = f.read(limit + 1)
        except OSError as exc:
            return f"cannot read {what}: {exc.strerror or exc}"
        if len(data) > limit:
            return (f"program is larger than {MAX_PROGRAM_BYTES} bytes" if kind == "program"
                    else f"load: the model is over the limit of {limit:,} bytes")
        return data

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

    def _execute_model(self, item: dict[str, Any], data: bytes) -> None:  # pragma: no cover
        """One of our architectures with a team's weights (safetensors, checked key by key,
        shape and dtype) over the domain, 4,096 inputs at a time: class ids as int32, or
        float32 logits for a distribution. Errors: ``load: ...`` or ``run: <first line>``."""
        torch, m = self.torch, self.models
        config = item["config"]
        try:
            module = m["build"](config)
            m["load_state"](module, m["load"](data), "the model", str(config.get("arch")))
        except BaseException as exc:
            self._send({"error": one_line(f"load: {_describe(exc)}")})
            return
        out: Any = None
        try:
            with torch.no_grad():
                for start in range(0, self.size, MODEL_ROWS):
                    stop = min(start + MODEL_ROWS, self.size)
                    x = self.inputs[start:stop] if self.inputs is not None else \
                        self.domain.slice(start, stop)
                    logits = module(x)
                    arr = (logits.argmax(dim=-1).to(torch.int32) if item["integer"]
                           else logits.float()).numpy()
                    if out is None:
                        out = self.zeros((self.size, *arr.shape[1:]), dtype=arr.dtype)
                    if arr.shape != (stop - start, *out.shape[1:]):
                        raise ValueError(f"outputs of shape {tuple(arr.shape)} for "
                                         f"{stop - start} inputs")
                    out[start:stop] = arr
        except BaseException as exc:
            text = str(exc).splitlines()
            self._send({"error": one_line(f"run: {text[0] if text else ''}")})
            return
        if out is None:  # an empty domain
            out = self.zeros((0,), dtype="int32")
        self._send({"error": None, "n": self.size, "shape": list(out.shape),
                    "dtype": str(out.dtype)}, memoryview(out.reshape(-1)).cast("B"))

    def _execute_split(self, item: dict[str, Any]) -> None:  # pragma: no cover
        """The rows a claim's model did not train on (``training.split``), as 0/1."""
        _train, held = self.models["split"](self.size, float(item["train_frac"]),
                                            int(item["seed"]))
        mask = self.zeros(self.size, dtype=self.uint8)
        mask[held.numpy()] = 1
        self._send({"error": None, "n": self.size, "shape": [self.size]},
                   memoryview(mask).cast("B"))

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


def _above(fd: int, low: int) -> int:
    """``fd`` moved to a number >= ``low`` (in the child, before its fixed numbers are set)."""
    import fcntl

    if fd >= low:
        return fd
    new = fcntl.fcntl(fd, fcntl.F_DUPFD, low)
    os.close(fd)
    return new


def _cpu(pid: int) -> float:
    """A running (or not yet reaped) child's CPU seconds so far, from /proc (0 if gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS
    except (OSError, ValueError, IndexError):
        return 0.0


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


def serve(zygote: Zygote, proto: BinaryIO, buf: bytearray) -> None:
    """Run the engine's jobs until its pipe closes: start each as it comes (the engine sends
    at most one per free slot), report items as their children finish them, enforce every
    item's limits, and tidy up between reports."""
    import selectors
    import time

    sel = selectors.DefaultSelector()
    sel.register(0, selectors.EVENT_READ, None)

    def send(frames: list[dict[str, Any]]) -> None:
        for header in frames:
            proto.write(encode_frame(header))

    try:
        while True:
            wait = zygote.overdue(time.monotonic())
            for key, _ in sel.select(wait):
                r = key.data
                if r is None:
                    chunk = os.read(0, 1 << 16)
                    if not chunk:
                        return
                    buf += chunk
                    while (got := decode_frame(buf)) is not None:
                        msg, _payload, used = got
                        del buf[:used]
                        if msg.get("op") != "run":
                            return
                        job = int(msg["job"])
                        try:
                            zygote.configure(msg["domain"], msg["limits"])
                            got_run = zygote.run(job, list(msg["items"]),
                                                 int(msg.get("attempt", 0)))
                        except Exception as exc:  # keep serving: report this job, not a dead worker
                            got_run = {"op": "done", "job": job, "index": 0, "seconds": 0.0,
                                       "retry": one_line(
                                           f"sandbox could not run the program: {exc!r}")}
                        if isinstance(got_run, dict):
                            send([got_run])
                            zygote.tidy()
                            continue
                        sel.register(got_run.pidfd, selectors.EVENT_READ, (got_run, "exit"))
                        sel.register(got_run.done_r, selectors.EVENT_READ, (got_run, "item"))
                elif r[1] == "item":
                    run = r[0]
                    send(zygote.progress(run))
                    if run.eof:  # else an EOF would wake this loop forever
                        sel.unregister(run.done_r)
                else:
                    run = r[0]
                    sel.unregister(run.pidfd)
                    if not run.eof:
                        sel.unregister(run.done_r)
                    send(zygote.finish(run))
                    zygote.tidy()
    finally:
        zygote.kill_all()


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
    import numpy  # noqa: F401 - before the configuration comes (see engine.prestart)
    import torch  # noqa: F401

    buf = bytearray()  # read from fd 0 directly, as serve() does: no buffer in between
    while (first := decode_frame(buf)) is None:
        chunk = os.read(0, 1 << 16)
        if not chunk:
            return
        buf += chunk
    del buf[:first[2]]
    zygote = Zygote(first[0])
    proto.write(encode_frame({"op": "ready", "pid": os.getpid(), "netns": zygote.netns,
                              "mountns": zygote.mountns, "ipcns": zygote.ipcns}))
    zygote.tidy()
    serve(zygote, proto, buf)


if __name__ == "__main__":
    main()
