"""Unit tests of the kernel mechanisms in dixit.sandbox, applied in a throwaway interpreter."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator
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
    pkg = str(Path(sandbox.__file__).resolve().parents[2])
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


# -- syscall tables per architecture ---------------------------------------------------------------

HEADERS = {"x86_64": Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
           "aarch64": Path("/usr/include/asm-generic/unistd.h")}


@pytest.mark.parametrize("arch", sorted(sandbox.ARCHES))
def test_syscall_tables_match_the_kernel_headers(arch: str) -> None:
    header = HEADERS[arch]
    if not header.exists():
        pytest.skip(f"{header} not installed")
    known = {m.group(1): int(m.group(2)) for m in re.finditer(
        r"#define __NR(?:3264)?_(\w+)\s+(\d+)", header.read_text())}
    table = sandbox.ARCHES[arch][1]
    wrong = {n: (nr, known[n]) for n, nr in table.items() if n in known and known[n] != nr}
    assert not wrong
    # older headers lack the newest calls; those share one number on every architecture
    assert all(nr >= 424 for n, nr in table.items() if n not in known)
    for name in ("shmget", "semget", "msgget", "mq_open", "memfd_create", "capset", "unshare"):
        assert table[name] == known[name]


def test_unknown_architecture_has_no_numbers_and_no_filter() -> None:
    assert sandbox.syscall_nr("capset", "riscv64") is None
    assert sandbox.syscall_nr("capset", "aarch64") == 91
    assert sandbox.syscall_nr("unshare", "x86_64") == 272
    with pytest.raises(ValueError, match="riscv64"):
        sandbox.seccomp_template("riscv64")


# A classic-BPF interpreter for the few instructions the filter uses, to check the programs of
# every architecture here (only this machine's can be loaded into the kernel).
def _bpf_run(code: bytes, arch: int, nr: int, args: tuple[int, ...] = ()) -> int:
    data = struct.pack("iIQ6Q", nr, arch, 0, *(list(args) + [0] * 6)[:6])
    acc, pc, n = 0, 0, len(code) // 8
    while pc < n:
        op, jt, jf, k = struct.unpack_from("HBBI", code, pc * 8)
        pc += 1
        if op == 0x20:  # ld w abs
            acc = struct.unpack_from("I", data, k)[0]
        elif op == 0x06:
            return k
        elif op in (0x15, 0x35, 0x45):
            hit = acc == k if op == 0x15 else acc >= k if op == 0x35 else bool(acc & k)
            pc += jt if hit else jf
        else:
            raise AssertionError(f"unexpected BPF op {op:#x}")
    raise AssertionError("fell off the end of the filter")


EPERM_RET = sandbox.SECCOMP_RET_ERRNO | 1


@pytest.mark.parametrize("arch", sorted(sandbox.ARCHES))
def test_seccomp_filter_of_each_architecture(arch: str) -> None:
    audit, nrs = sandbox.ARCHES[arch]
    code = sandbox.seccomp_filter(4242, arch)

    def run(name: str, *args: int) -> int:
        return _bpf_run(code, audit, nrs[name], args)

    for name in ("shmget", "shmat", "shmctl", "msgget", "msgsnd", "semget", "semop",
                 "semtimedop", "mq_open", "mq_notify", "memfd_create", "memfd_secret",
                 "socket", "execve", "unshare", "mount", "ptrace"):
        assert run(name) == EPERM_RET, name
    assert run("clone", 0x11) == EPERM_RET  # a process: SIGCHLD-style flags
    assert run("clone", sandbox.CLONE_THREAD | 0x100) == sandbox.SECCOMP_RET_ALLOW
    assert run("clone3") == sandbox.SECCOMP_RET_ERRNO | 38  # ENOSYS: glibc falls back
    assert run("kill", 4242, 0) == sandbox.SECCOMP_RET_ALLOW
    assert run("kill", 1, 9) == EPERM_RET
    assert run("prlimit64", 0, 7, 0) == sandbox.SECCOMP_RET_ALLOW
    assert run("prlimit64", 0, 7, 0x1000) == EPERM_RET
    read = {"x86_64": 0, "aarch64": 63}[arch]
    assert _bpf_run(code, audit, read) == sandbox.SECCOMP_RET_ALLOW
    # any other ABI (i386 on x86_64, arm32 on aarch64) is killed outright
    assert _bpf_run(code, 0x40000003, read) == sandbox.SECCOMP_RET_KILL_PROCESS
    if arch == "x86_64":  # x32: the same numbers with bit 30 set
        assert _bpf_run(code, audit, 0x40000000 + nrs["shmget"]) \
            == sandbox.SECCOMP_RET_KILL_PROCESS


# -- probing where the kernel or the user cannot give everything -------------------------------

PROBE = ("import json, sys; sys.path.insert(0, {pkg!r}); from dixit.replay import sandbox; "
         "print(json.dumps(sandbox.probe().as_dict()))")


def _python_for(uid: int) -> str:
    """An interpreter ``uid`` may execute (the venv's may live under root's home): only the
    standard library and dixit.sandbox are needed."""
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    for exe in (sys.executable, f"/usr/bin/{version}", f"/usr/local/bin/{version}"):
        try:
            subprocess.run([exe, "-c", "0"], user=uid, check=True, cwd="/", timeout=30)
            return exe
        except (OSError, subprocess.SubprocessError):
            continue
    pytest.skip(f"no Python {sys.version_info[:2]} that uid {uid} can run")


@pytest.fixture
def nobody_pkg() -> Iterator[str]:
    """A folder from which uid 65534 can import dixit: the checkout, or (when a parent of it
    is closed to others, e.g. a clone under a 0700 ``mktemp -d``) a world-readable copy."""
    root = Path(sandbox.__file__).resolve().parents[2]
    probe = f"import sys; sys.path.insert(0, {str(root)!r}); import dixit.replay.sandbox"
    if subprocess.run([_python_for(65534), "-c", probe], user=65534, cwd="/", timeout=60,
                      capture_output=True).returncode == 0:
        yield str(root)
        return
    tmp = Path(tempfile.mkdtemp(prefix="dixit-pkg-"))  # directly under the shared /tmp
    try:
        shutil.copytree(root / "dixit", tmp / "dixit",
                        ignore=shutil.ignore_patterns("__pycache__"))
        for p in [tmp, *tmp.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        yield str(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _probe_in(argv_prefix: list[str], python: str = sys.executable, pkg: str | None = None,
              **kw: object) -> sandbox.Isolation:
    pkg = pkg or str(Path(sandbox.__file__).resolve().parents[2])
    out = subprocess.run([*argv_prefix, python, "-c", PROBE.format(pkg=pkg)],
                         capture_output=True, text=True, timeout=60, check=True,
                         env={"PATH": "/usr/bin:/bin"}, **kw)  # type: ignore[call-overload]
    return sandbox.Isolation.from_dict(json.loads(out.stdout))


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


@needs_root
def test_probe_as_an_unprivileged_user_is_partial_with_the_reason(nobody_pkg: str) -> None:
    iso = _probe_in([], _python_for(65534), pkg=nobody_pkg, user=65534, group=65534, cwd="/")
    assert not iso.pids_cgroup and not iso.memory_cgroup
    assert any(m.startswith("per-program process limit (pids cgroup: cannot create a cgroup")
               and "Permission denied" in m for m in iso.missing), iso.missing
    assert iso.level == ("partial" if iso.landlock_abi or iso.seccomp else "none")
    assert "pids cgroup" in iso.describe()


@needs_root
@pytest.mark.skipif(not sandbox.cgroup_bases()[0], reason="no cgroup hierarchy")
def test_probe_with_a_read_only_cgroupfs_is_partial_with_the_reason() -> None:
    bases = sandbox.cgroup_bases()[0]
    remount = " && ".join(f"mount --bind {d} {d} && mount -o remount,bind,ro {d} {d}"
                          for d, _ in set(bases.values()))
    pkg = str(Path(sandbox.__file__).resolve().parents[2])
    script = f"{remount} && exec {sys.executable} -c {shlex.quote(PROBE.format(pkg=pkg))}"
    out = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                         capture_output=True, text=True, timeout=60, check=True)
    iso = sandbox.Isolation.from_dict(json.loads(out.stdout))
    assert iso.level == "partial" and not iso.pids_cgroup and not iso.memory_cgroup
    assert any("Read-only file system" in m for m in iso.missing), iso.missing


@needs_root
def test_probe_on_an_architecture_without_a_table_is_partial() -> None:
    # setarch makes uname (and so platform.machine) say i686: no syscall table for that
    iso = _probe_in(["setarch", "i686"])
    assert iso.arch == "i686" and not iso.seccomp
    assert "seccomp-bpf (system call filter: no syscall table for architecture 'i686')" \
        in iso.missing
    assert iso.level == ("partial" if iso.landlock_abi else "none")


# -- removing what a hostile program left in its scratch -------------------------------------------


def _deep_tree(top: Path, depth: int, name: str) -> None:
    """``depth`` nested directories called ``name`` below ``top``, made via directory fds (the
    path is far longer than PATH_MAX), with a file at every 100th level."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for i in range(depth):
            os.mkdir(name, dir_fd=fd)
            nfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nfd
            if i % 100 == 0:
                os.close(os.open("f", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd))
    finally:
        os.close(fd)


def test_remove_tree_deep_long_and_never_through_symlinks(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "keep").write_text("keep")
    (outside / "sub" / "keep").write_text("keep")
    victim = tmp_path / "scratch"
    victim.mkdir()
    _deep_tree(victim, 1100, "d" * 200)  # 220,000 characters of path
    (victim / "dir-link").symlink_to(outside)
    (victim / "file-link").symlink_to(outside / "keep")
    (victim / "x").mkdir()
    (victim / "x" / "sub-link").symlink_to(outside / "sub")
    assert sandbox.remove_tree(victim)
    assert not os.path.lexists(victim)
    assert (outside / "keep").read_text() == "keep"
    assert (outside / "sub" / "keep").read_text() == "keep"
    assert sandbox.remove_tree(victim)  # nothing there: done
    link = tmp_path / "top-link"
    link.symlink_to(outside)
    assert sandbox.remove_tree(link) and not os.path.lexists(link) and outside.is_dir()


REMOVE_AS_OWNER = ("import sys; sys.path.insert(0, {pkg!r}); from dixit.replay import sandbox; "
                   "sys.exit(0 if sandbox.remove_tree({path!r}) else 1)")


@needs_root
def test_remove_tree_gives_back_rights_a_program_took_away(nobody_pkg: str) -> None:
    # Root ignores permission bits, so remove as the (unprivileged) owner of the tree.
    base = Path(tempfile.mkdtemp())
    try:
        base.chmod(0o755)
        victim = base / "scratch"
        victim.mkdir()
        _deep_tree(victim, 30, "d")
        (victim / "locked").mkdir()
        (victim / "locked" / "f").write_text("x")
        (victim / "locked" / "inner").mkdir()
        (victim / "blind").mkdir()
        (victim / "blind" / "f").write_text("x")
        for p in [base, victim, *victim.rglob("*")]:  # as the engine owns its folder
            os.chown(p, 65534, 65534, follow_symlinks=False)
        (victim / "locked" / "inner").chmod(0o000)
        (victim / "locked").chmod(0o500)  # no write: entries cannot be unlinked
        (victim / "blind").chmod(0o000)  # not even listable
        victim.chmod(0o500)
        pkg = nobody_pkg
        res = subprocess.run([_python_for(65534), "-c", REMOVE_AS_OWNER.format(
            pkg=pkg, path=str(victim))], user=65534, group=65534, cwd="/",
            capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        assert not victim.exists()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_remove_tree_never_crosses_into_another_file_system(tmp_path: Path) -> None:
    """A mount point inside the tree (here: the tmpfs of a private mount namespace) is left
    alone and reported, and so is whatever it holds."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount")
    victim = tmp_path / "scratch"
    (victim / "mnt").mkdir(parents=True)
    (victim / "other").write_text("x")
    pkg = str(Path(sandbox.__file__).resolve().parents[2])
    code = (f"import os, sys; sys.path.insert(0, {pkg!r}); from dixit.replay import sandbox; "
            f"sandbox.mount_scratch({str(victim / 'mnt')!r}, 1 << 20, 16); "
            f"open({str(victim / 'mnt' / 'keep')!r}, 'w').write('keep'); "
            f"ok = sandbox.remove_tree({str(victim)!r}); "
            f"print(ok, open({str(victim / 'mnt' / 'keep')!r}).read())")
    out = subprocess.run(["unshare", "-m", "--propagation", "private", sys.executable, "-c",
                          code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["False", "keep"]
    assert not (victim / "other").exists()
