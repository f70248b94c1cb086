"""Unit tests of the kernel mechanisms in dixit.sandbox, applied in a throwaway interpreter."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from dixit.replay import sandbox

CHILD = r"""
import json, os, sys, threading
sys.path.insert(0, {pkg!r})
from dixit.replay import sandbox as sb
roots = [tuple(r) for r in json.loads({roots!r})]
iso = sb.probe()
sb.set_rlimits(cpu_seconds=5, memory_mb=512, file_bytes=1 << 20)
sb.drop_privileges()
sb.apply_landlock(iso.landlock_abi, roots, {scratch!r})
sb.apply_seccomp(os.getpid())
res = {{}}
def attempt(name, fn):
    try:
        fn()
        res[name] = "ok"
    except OSError as exc:
        res[name] = type(exc).__name__
attempt("read_secret", lambda: open({secret!r}).read())
attempt("write_scratch", lambda: open(os.path.join({scratch!r}, "f"), "w").write("x"))
attempt("read_scratch", lambda: open(os.path.join({scratch!r}, "f")).read())
attempt("read_stdlib", lambda: open(os.__file__).read())
attempt("fork", os.fork)
attempt("kill_self", lambda: os.kill(os.getpid(), 0))
attempt("kill_parent", lambda: os.kill(os.getppid(), 0))
attempt("killpg", lambda: os.killpg(os.getpgid(0), 0))
attempt("chmod_scratch", lambda: os.chmod({scratch!r}, 0o777))
import socket
attempt("socket", lambda: socket.socket())
t = threading.Thread(target=lambda: res.__setitem__("thread", "ok"))
t.start(); t.join()
print(json.dumps(res))
"""


@pytest.mark.skipif(sandbox.probe().level != "full", reason="needs Landlock and seccomp")
def test_mechanisms_in_a_child(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    pkg = str(Path(sandbox.__file__).resolve().parent.parent)
    code = CHILD.format(pkg=pkg, roots=json.dumps(sandbox.readable_roots()),
                        scratch=str(scratch), secret=str(secret))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, env={"PATH": "/usr/bin:/bin"}, cwd=scratch)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert res == {
        "read_secret": "PermissionError", "write_scratch": "ok", "read_scratch": "ok",
        "read_stdlib": "ok", "fork": "PermissionError", "kill_self": "ok",
        "kill_parent": "PermissionError", "killpg": "PermissionError",
        "chmod_scratch": "PermissionError", "socket": "PermissionError", "thread": "ok",
    }


def test_seccomp_filter_is_well_formed() -> None:
    code = sandbox.seccomp_filter(4242)
    n = len(code) // 8
    assert len(code) % 8 == 0 and n < 4096
    for i in range(n):
        op, jt, jf, _k = struct.unpack_from("HBBI", code, i * 8)
        if op & 0x07 == 0x05:  # BPF_JMP: both targets inside the program
            assert i + 1 + max(jt, jf) < n
    assert struct.unpack_from("HBBI", code, (n - 1) * 8)[0] == 0x06  # ends with a return
    assert code.count(struct.pack("I", 4242)) >= 5


def test_disable_env_caps_the_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sandbox.DISABLE_ENV, "seccomp")
    iso = sandbox.probe()
    assert not iso.seccomp and iso.disabled == ("seccomp",)
    assert iso.level in ("partial", "none")
    assert "seccomp" in iso.describe()
    assert sandbox.Isolation.from_dict(iso.as_dict()) == iso
    monkeypatch.setenv(sandbox.DISABLE_ENV, "landlock,bogus")
    with pytest.raises(ValueError, match="bogus"):
        sandbox.probe()


def test_readable_roots_never_expose_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", sys.prefix)  # pretend the venv is $HOME itself
    roots = [Path(p) for p, _ in sandbox.readable_roots()]
    home = Path(sys.prefix).resolve()
    assert all(p != home and p not in home.parents for p in roots)
    assert Path("/") not in roots
    assert ("/dev/null", True) in sandbox.readable_roots()
