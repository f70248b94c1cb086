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
"""

from __future__ import annotations

import builtins
import os
import struct
import sys
from json import dumps as _dumps
from json import loads as _loads
from typing import Any, BinaryIO

RESULT_FD = 3
MAX_PROGRAM_BYTES = 8 * 1024 * 1024
MAX_ERROR_CHARS = 300
_HDR = struct.Struct(">I")
_LEN = struct.Struct(">Q")
# Bound now, so a program that monkeypatches os/json in its (forked) copy of this process
# cannot garble how its result is sent; builtins are restored before sending (see _send).
_write = os.write
_BUILTINS = dict(builtins.__dict__)


# -- framing (shared with the engine) -------------------------------------------------------------


def encode_frame(header: dict[str, Any], payload: bytes = b"") -> bytes:
    """``u32 len | JSON header | u64 len | payload`` (big endian)."""
    head = _dumps(header, separators=(",", ":")).encode()
    return b"".join((_HDR.pack(len(head)), head, _LEN.pack(len(payload)), payload))


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


def write_all(fd: int, data: bytes) -> None:
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
        self.size = 0
        self.file_bytes = 64 << 20
        allowed = [r for r, _ in self.roots]
        self.sys_path = [p for p in sys.path if p and any(
            os.path.realpath(p) == r or os.path.realpath(p).startswith(r + os.sep)
            for r in allowed)]
        self.netns = False
        if self.iso.get("netns"):
            self.netns = sandbox.enter_network_namespace()
        self.seccomp = sandbox.seccomp_template() if self.iso.get("seccomp") else None
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

    def configure(self, domain: dict[str, Any], limits: dict[str, Any]) -> None:
        """Set the domain and limits for the following jobs (kept while they do not change)."""
        from pathlib import Path

        from dixit.data import domains

        key = (_dumps(domain, sort_keys=True), _dumps(limits, sort_keys=True))
        if key == self.params:
            return
        self.limits = limits
        if self.params is None or key[0] != self.params[0]:
            self.domain = self.inputs = None  # free the previous domain's inputs first
            dom = domains.parse(domain["spec"], seed=int(domain["seed"]),
                                root=Path(domain["root"]) if domain["root"] else None)
            width = max(1, int(self.np.prod(dom.input_shape)))
            # Materialize inputs once (shared copy-on-write with every child) unless absurdly
            # big; datasets must be loaded here anyway since children cannot read the file.
            if dom.kind == "dataset" or dom.size * width * 8 <= (512 << 20):
                self.inputs = dom.all()
            self.domain, self.size = dom, dom.size
        self.file_bytes = max(64 << 20, 16 * int(limits["output_bytes"]), self.size + (1 << 20))
        self.params = key
        import ctypes
        import gc

        gc.collect()
        gc.freeze()
        ctypes.CDLL(None).malloc_trim(0)  # fewer pages for every fork to copy and tear down

    # -- per job, in the zygote ---------------------------------------------------------------

    def run(self, job: int, path: str) -> dict[str, Any]:
        """Fork, sandbox and run one program; report how the child ended. The child's result
        and output go to files that only the engine reads: no bytes a program produced (its
        labels, its error message, its output) ever enter this process, so no later sibling
        can find them in the memory it inherits."""
        import select
        import shutil
        import signal
        import time

        scratch = os.path.join(self.base, f"job-{job}")
        os.mkdir(scratch, 0o700)
        out_path = os.path.join(self.base, f"out-{job}")
        res_path = os.path.join(self.base, f"res-{job}")
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
        out_fd = os.open(out_path, flags, 0o600)
        res_fd = os.open(res_path, flags, 0o600)
        sys.stdout.flush()
        sys.stderr.flush()
        t0 = time.monotonic()
        try:
            pid = os.fork()
        except OSError:
            os.close(out_fd)
            os.close(res_fd)
            raise
        if pid == 0:  # pragma: no cover - runs in the child
            self._child(path, scratch, out_fd, res_fd)
        os.close(out_fd)
        os.close(res_fd)
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
        finally:
            os.close(pidfd)
            shutil.rmtree(scratch, ignore_errors=True)
        return {"op": "done", "job": job, "seconds": round(seconds, 6),
                "cpu": round(usage.ru_utime + usage.ru_stime, 6), "timed_out": timed_out,
                "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
                "exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
                "file_bytes": self.file_bytes, "output_path": out_path,
                "result_path": res_path}

    # -- in the child ---------------------------------------------------------------------------

    def _child(self, path: str, scratch: str, out_fd: int, res_fd: int) -> None:  # pragma: no cover
        """Never returns. Sandbox setup failures are reported as the program's error."""
        import signal

        sb = self.sandbox
        status = 0
        try:
            zygote = os.getppid()
            os.setsid()
            sb.set_pdeathsig(signal.SIGKILL)
            if os.getppid() != zygote:
                os._exit(70)
            devnull = os.open("/dev/null", os.O_RDONLY)
            os.dup2(devnull, 0)
            os.dup2(out_fd, 1)
            os.dup2(out_fd, 2)
            os.dup2(res_fd, RESULT_FD)
            os.closerange(RESULT_FD + 1, 1 << 20)  # the zygote's pipes to the engine, etc.
            lim = self.limits
            sb.set_rlimits(cpu_seconds=float(lim["cpu_seconds"]),
                           memory_mb=int(lim["memory_mb"]), file_bytes=self.file_bytes)
            os.chdir(scratch)
            try:
                # O_NOFOLLOW: a submission that is a symlink (to a key, to another team's
                # file) is refused rather than read with the child's pre-sandbox rights.
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
                with os.fdopen(fd, "rb") as f:
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
            if self.iso.get("seccomp"):
                sb.apply_seccomp(os.getpid(), self.seccomp)
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

    def _send(self, header: dict[str, Any], payload: bytes = b"") -> None:  # pragma: no cover
        builtins.__dict__.clear()
        builtins.__dict__.update(_BUILTINS)
        write_all(RESULT_FD, encode_frame(header, payload))

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
        labels = self.zeros(self.size, dtype=self.uint8)
        bs = max(1, int(self.limits["batch_size"]))
        for start in range(0, self.size, bs):
            stop = min(start + bs, self.size)
            n = stop - start
            x = self.inputs[start:stop].clone() if self.inputs is not None else \
                self.domain.slice(start, stop)
            try:
                out = label(x)
            except BaseException as exc:
                return self._fail("in label()", exc)
            try:
                arr = self._as_array(out)
            except BaseException as exc:
                self._send({"error": one_line(
                    f"returned labels that cannot be read as an array: {_describe(exc)}")})
                return 0
            problem = self._check(arr, n)
            if problem:
                self._send({"error": problem})
                return 0
            labels[start:stop] = arr
        self._send({"error": None, "n": self.size}, labels.tobytes())
        return 0

    def _as_array(self, out: Any) -> Any:
        if isinstance(out, self.Tensor):
            t = out.detach().cpu()
            try:
                return t.numpy()
            except (TypeError, RuntimeError):  # e.g. bfloat16 has no numpy dtype
                return t.float().numpy()
        return self.asarray(out)

    def _check(self, arr: Any, n: int) -> str | None:
        if not isinstance(arr, self.ndarray):
            return "returned something that is not an array"
        if tuple(arr.shape) != (n,):
            return f"returned shape {tuple(arr.shape)} for a batch of {n}"
        if arr.dtype.kind not in "biuf":
            return f"returned labels of dtype {arr.dtype} (need 0/1 numbers)"
        if arr.dtype.kind == "f" and bool(self.isnan(arr).any()):
            return "returned NaN labels"
        bad = arr[(arr != 0) & (arr != 1)]
        if bad.size:
            return one_line(f"returned non-binary labels (e.g. {bad.flat[0].item()!r})")
        return None

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
    proto.write(encode_frame({"op": "ready", "pid": os.getpid(), "netns": zygote.netns}))
    while True:
        msg = reader.read()
        if msg is None or msg[0].get("op") != "run":
            return
        job = int(msg[0]["job"])
        try:
            zygote.configure(msg[0]["domain"], msg[0]["limits"])
            header = zygote.run(job, str(msg[0]["path"]))
        except Exception as exc:  # keep serving: report this job, not a dead worker
            header = {"op": "done", "job": job, "seconds": 0.0,
                      "error": one_line(f"sandbox could not run the program: {exc!r}")}
        proto.write(encode_frame(header))


if __name__ == "__main__":
    main()
