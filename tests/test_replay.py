"""End-to-end tests of the sandboxed replay engine: real zygotes, real children, no mocks.

The hostile corpus lives in ``tests/hostile``: each file says on line 1 which substring its
error must contain (``# expect:``) and on line 2 what it attacks. Files marked
``# unsandboxed: succeeds`` are also run with Landlock, seccomp and the network namespace
disabled, where they must *succeed*: that proves each attack is real, so its failure under the
sandbox is the sandbox's doing and not a bug in the attack.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import numpy
import pytest
import torch

from dixit.data import domains
from dixit.errors import IsolationError
from dixit.replay.engine import Limits, Outcome, Program, probe_isolation, replay

HOSTILE = Path(__file__).parent / "hostile"
FAST = Limits(cpu_seconds=1.0, wall_seconds=4.0, output_bytes=4096)

HONEST_SUM = """
import torch
def label(x):
    return ((x[:, 0] + x[:, 1]) % 2).to(torch.int64)
"""
HONEST_CMP = """
import numpy as np
print("honest program says hi")
def label(x):
    return np.asarray(x[:, 0] > x[:, 1])
"""
HONEST_TOKENS = """
def label(x):
    return [int(v) for v in (x.sum(dim=1) % 2 == 1)]
"""


def _sum_ref(x: torch.Tensor) -> numpy.ndarray:
    return ((x[:, 0] + x[:, 1]) % 2).numpy().astype(numpy.uint8)


def _write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text)
    return path


def _expect(path: Path) -> str:
    m = re.match(r"# expect: (.+)\n", path.read_text())
    assert m, f"{path.name}: first line must be '# expect: ...'"
    return m.group(1).strip()


@pytest.fixture()
def victim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A fake tournament (ledger secret) and key store; the engine runs inside the ledger, as
    `dixit score` does. The corpus is copied with the real paths substituted in."""
    ledger = tmp_path / "tournament" / "ledger"
    ledger.mkdir(parents=True)
    secret = ledger / "secret-ledger.txt"
    secret.write_text("TOP SECRET LEDGER ENTRY\n")
    secret.chmod(0o600)
    home = tmp_path / "home"
    keys = home / ".config" / "dixit" / "keys"
    keys.mkdir(parents=True)
    key = keys / "team.key"
    key.write_text("PRIVATE KEY\n")
    key.chmod(0o600)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("DIXIT_HOME", str(home / ".config" / "dixit"))
    monkeypatch.chdir(ledger)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for src in sorted(HOSTILE.glob("*.py")):
        text = (src.read_text().replace("__SECRET_PATH__", str(secret))
                .replace("__SECRET_NAME__", secret.name).replace("__SECRET_DIR__", str(ledger))
                .replace("__KEYSTORE_PATH__", str(key)))
        (corpus / src.name).write_text(text)
    return {"ledger": ledger, "secret": secret, "key": key, "corpus": corpus, "tmp": tmp_path}


def test_probe_reports_kernel_mechanisms() -> None:
    iso = probe_isolation()
    assert iso.landlock_abi >= 1, iso.describe()
    assert iso.seccomp, iso.describe()
    assert iso.level == "full"
    assert "Landlock" in iso.describe() and "seccomp" in iso.describe()
    assert iso.as_dict()["level"] == "full"


def test_honest_programs_exact_on_grid(tmp_path: Path) -> None:
    dom = domains.parse("grid:113x113")
    progs = [Program("sum", _write(tmp_path, "sum.py", HONEST_SUM)),
             Program("cmp", _write(tmp_path, "cmp.py", HONEST_CMP))]
    seen: list[str] = []
    outs = replay(progs, dom, Limits(batch_size=1000), on_done=lambda o: seen.append(o.key))
    x = dom.all()
    assert [o.key for o in outs] == ["sum", "cmp"] and sorted(seen) == ["cmp", "sum"]
    for o in outs:
        assert o.error is None, o.error
        assert o.labels is not None and o.labels.dtype == numpy.uint8
    assert numpy.array_equal(outs[0].labels, _sum_ref(x))
    assert numpy.array_equal(outs[1].labels, (x[:, 0] > x[:, 1]).numpy().astype(numpy.uint8))
    assert outs[1].output == "honest program says hi\n"


@pytest.mark.parametrize("spec", ["tokens:5x3", "tokens:10x4:1000"])
def test_honest_program_exact_on_tokens(tmp_path: Path, spec: str) -> None:
    dom = domains.parse(spec, seed=7)
    (out,) = replay([Program("t", _write(tmp_path, "t.py", HONEST_TOKENS))], dom,
                    Limits(batch_size=64))
    assert out.error is None, out.error
    want = (dom.all().sum(dim=1) % 2 == 1).numpy().astype(numpy.uint8)
    assert numpy.array_equal(out.labels, want)


def test_hostile_corpus_is_contained(victim: dict[str, Path]) -> None:
    corpus = sorted(victim["corpus"].glob("*.py"))
    assert len(corpus) >= 18
    tmp = victim["tmp"]
    progs = [Program("honest-first", _write(tmp, "h1.py", HONEST_SUM))]
    progs += [Program(p.name, p) for p in corpus]
    progs += [Program("honest-last", _write(tmp, "h2.py", HONEST_SUM))]
    dom = domains.parse("grid:113x113")
    outs = {o.key: o for o in replay(progs, dom, FAST)}
    assert list(outs) == [p.key for p in progs]
    ref = _sum_ref(dom.all())
    for key in ("honest-first", "honest-last"):
        assert outs[key].error is None and numpy.array_equal(outs[key].labels, ref)
    failures = []
    for p in corpus:
        o: Outcome = outs[p.name]
        want = _expect(p)
        if o.error is None or want not in o.error.lower() or o.labels is not None:
            failures.append(f"{p.name}: expected {want!r}, got {o.error!r}")
        elif "\n" in o.error or len(o.error) > 300:
            failures.append(f"{p.name}: error is not one short line: {o.error!r}")
        assert len(o.output.encode()) <= FAST.output_bytes + 4  # + utf-8 replacement slack
    assert not failures, "\n".join(failures)
    assert not (victim["ledger"] / "planted.txt").exists()
    assert victim["secret"].read_text() == "TOP SECRET LEDGER ENTRY\n"


def test_attacks_are_real_without_the_sandbox(victim: dict[str, Path],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIXIT_SANDBOX_DISABLE", "landlock,seccomp,netns")
    marked = [p for p in sorted(victim["corpus"].glob("*.py"))
              if "\n# unsandboxed: succeeds\n" in p.read_text()]
    assert len(marked) >= 8
    with pytest.raises(IsolationError, match="--allow-weak-isolation"):
        replay([Program(p.name, p) for p in marked], domains.parse("grid:113x113"), FAST)
    outs = replay([Program(p.name, p) for p in marked], domains.parse("grid:113x113"), FAST,
                  require="none")
    assert {o.key: o.error for o in outs} == {p.name: None for p in marked}
    assert (victim["ledger"] / "planted.txt").exists()


def test_require_level(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    prog = [Program("p", _write(tmp_path, "p.py", HONEST_SUM))]
    dom = domains.parse("grid:3x3")
    monkeypatch.setenv("DIXIT_SANDBOX_DISABLE", "landlock")
    assert probe_isolation().level == "partial"
    with pytest.raises(IsolationError, match=r"Landlock.*--allow-weak-isolation"):
        replay(prog, dom, FAST, require="full")
    monkeypatch.setenv("DIXIT_SANDBOX_DISABLE", "landlock,seccomp")
    assert probe_isolation().level == "none"
    with pytest.raises(IsolationError, match="seccomp"):
        replay(prog, dom, FAST, require="partial")
    assert replay([], dom, FAST, require="none") == []


REPORT_PPID = """
import os
import torch
def label(x):
    bits = [(os.getppid() >> i) & 1 for i in range(32)]
    out = torch.zeros(x.shape[0], dtype=torch.uint8)
    out[:32] = torch.tensor(bits, dtype=torch.uint8)
    return out
"""


def _zygote_pid(o: Outcome) -> int:
    assert o.error is None and o.labels is not None, o.error
    return sum(int(b) << i for i, b in enumerate(o.labels[:32]))


def _scan_memory(pid: int, needles: list[bytes]) -> dict[bytes, bool]:
    """Search every readable writable/anonymous mapping of ``pid`` (as the test process, which
    is the zygote's grandparent, so /proc/<pid>/mem is readable)."""
    found = dict.fromkeys(needles, False)
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            fields = line.split()
            if not fields[1].startswith("rw"):
                continue
            start, end = (int(v, 16) for v in fields[0].split("-"))
            overlap = max(len(n) for n in needles)
            pos, tail = start, b""
            while pos < end:
                size = min(16 << 20, end - pos)
                try:
                    mem.seek(pos)
                    chunk = tail + mem.read(size)
                except OSError:
                    break
                for n in needles:
                    found[n] = found[n] or n in chunk
                tail, pos = chunk[-overlap:], pos + size
    return found


def test_zygote_never_holds_program_source(tmp_path: Path) -> None:
    src_marker = "SRC-MARKER-" + os.urandom(8).hex()
    path_marker = "PATH-MARKER-" + os.urandom(8).hex()
    other = _write(tmp_path, "other.py",
                   f"# {src_marker}\nSECRET = {src_marker!r}\n" + HONEST_SUM)
    # The positive control: the zygote does hold paths, and the idle zygote still holds the
    # message of its last job (the probe's); a freed one may be overwritten at any time.
    probe = _write(tmp_path, f"{path_marker}.py", REPORT_PPID)
    scans: list[dict[bytes, bool]] = []

    def on_done(o: Outcome) -> None:
        if o.key == "probe":  # the zygote is idle now, having served `other` first
            scans.append(_scan_memory(_zygote_pid(o),
                                      [src_marker.encode(), path_marker.encode()]))

    outs = replay([Program("other", other), Program("probe", probe)],
                  domains.parse("grid:113x113"), FAST, workers=1, on_done=on_done)
    assert outs[0].error is None
    (scan,) = scans
    assert scan[path_marker.encode()], "scanner failed its positive control (path marker)"
    assert not scan[src_marker.encode()], "another program's source is in the zygote"


def test_dead_zygote_is_replaced(tmp_path: Path) -> None:
    report = _write(tmp_path, "report.py", REPORT_PPID)
    sleeper = _write(tmp_path, "sleeper.py", "import time\ndef label(x):\n    time.sleep(20)\n")
    honest = _write(tmp_path, "honest.py", HONEST_SUM)
    timers: list[threading.Timer] = []

    def on_done(o: Outcome) -> None:
        if o.key == "report":  # kill the zygote while it runs the sleeper
            timers.append(threading.Timer(0.5, os.kill, (_zygote_pid(o), 9)))
            timers[-1].start()

    dom = domains.parse("grid:113x113")
    outs = replay([Program("report", report), Program("sleeper", sleeper),
                   Program("honest", honest)], dom, Limits(wall_seconds=15), workers=1,
                  on_done=on_done)
    for t in timers:
        t.join()
    assert outs[1].error is not None and "sandbox worker died" in outs[1].error
    assert outs[2].error is None and numpy.array_equal(outs[2].labels, _sum_ref(dom.all()))


def test_hostile_corpus_as_one_teams_batch_is_contained(victim: dict[str, Path]) -> None:
    # One team's programs share a child: they may disturb each other's verdicts (the
    # documented trade-off), but the sandbox holds for every one of them, and another team's
    # batch, in a child of its own, is untouched.
    corpus = sorted(victim["corpus"].glob("*.py"))
    tmp = victim["tmp"]
    progs = [Program(p.name, p, "mallory") for p in corpus]
    progs += [Program(f"honest{i}", _write(tmp, f"honest{i}.py", HONEST_SUM), "alice")
              for i in range(3)]
    dom = domains.parse("grid:113x113")
    outs = {o.key: o for o in replay(progs, dom, FAST)}
    assert list(outs) == [p.key for p in progs]
    ref = _sum_ref(dom.all())
    for i in range(3):
        o = outs[f"honest{i}"]
        assert o.error is None and numpy.array_equal(o.labels, ref), o.error
    for p in corpus:  # whatever each got, none ran outside its sandbox
        assert outs[p.name].error is not None or outs[p.name].labels is not None
    assert not (victim["ledger"] / "planted.txt").exists()
    assert victim["secret"].read_text() == "TOP SECRET LEDGER ENTRY\n"
    assert victim["key"].read_text() == "PRIVATE KEY\n"
