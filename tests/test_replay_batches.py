"""Batches, models and splits in the replay engine: real zygotes, real children, no mocks.

A batch (one team's programs, ``Program.batch``) runs in one child, in order, each program
with its own files, limits and verdict; a program that kills its child leaves its own verdict
and the programs after it to a fresh child. Programs here report the pid of the child that ran
them (in their labels), so the tests see which ran together.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy
import pytest
import torch

from dixit import models
from dixit.data import domains
from dixit.models import training
from dixit.replay.engine import (
    Limits,
    Model,
    Outcome,
    Program,
    Split,
    Weights,
    replay,
    replay_sources,
)
from tests.test_replay import _scan_memory

GRID = domains.parse("grid:9x9")
LIMITS = Limits(cpu_seconds=2.0, wall_seconds=3.0, output_bytes=4096)
PID = """
import os
import torch
print("ran in", os.getpid())
def label(x):
    out = torch.zeros(x.shape[0], dtype=torch.uint8)
    out[:24] = torch.tensor([(os.getpid() >> i) & 1 for i in range(24)], dtype=torch.uint8)
    return out
"""
SEGFAULT = """
import ctypes
def label(x):
    return ctypes.cast(8, ctypes.POINTER(ctypes.c_int64)).contents.value
"""
SLEEP = "import time\ndef label(x):\n    time.sleep(10**6)\n"
SPIN = "def label(x):\n    while True:\n        pass\n"
EXIT3 = "import os\ndef label(x):\n    os._exit(3)\n"
CRASH = "raise RuntimeError('boom at import')\n"
WRONG = "def label(x):\n    return [0, 1, 0]\n"
SUM = "def label(x):\n    return ((x[:, 0] + x[:, 1]) % 2).long()\n"


def _pid(o: Outcome) -> int:
    assert o.error is None and o.labels is not None, o.error
    return sum(int(b) << i for i, b in enumerate(o.labels[:24]))


def _batch(tmp: Path, sources: list[tuple[str, str]], batch: str | None = "team",
           limits: Limits = LIMITS, workers: int | None = 1,
           domain: domains.Domain = GRID) -> dict[str, Outcome]:
    progs = []
    for key, text in sources:
        path = tmp / f"{key}.py"
        path.write_text(text)
        progs.append(Program(key, path, batch))
    return {o.key: o for o in replay(progs, domain, limits, workers=workers)}


def test_a_batch_runs_in_one_child_each_verdict_and_output_its_own(tmp_path: Path) -> None:
    outs = _batch(tmp_path, [("a", PID), ("crash", CRASH), ("b", PID), ("wrong", WRONG),
                             ("sum", SUM), ("c", PID)])
    assert len({_pid(outs[k]) for k in "abc"}) == 1  # one child ran them all
    assert outs["crash"].error == "crashed at import: RuntimeError: boom at import"
    assert outs["wrong"].error and "returned shape (3,)" in outs["wrong"].error
    x = GRID.all()
    assert numpy.array_equal(outs["sum"].labels, ((x[:, 0] + x[:, 1]) % 2).numpy())
    for k in "abc":  # each program's own output, none of the others'
        assert outs[k].output == f"ran in {_pid(outs[k])}\n"
    assert outs["sum"].output == "" and outs["crash"].output == ""
    # and the same verdicts as alone, each in a child of its own
    alone = _batch(tmp_path, [("crash", CRASH), ("wrong", WRONG), ("a", PID), ("b", PID)],
                   batch=None)
    assert alone["crash"].error == outs["crash"].error
    assert alone["wrong"].error == outs["wrong"].error
    assert _pid(alone["a"]) != _pid(alone["b"])


@pytest.mark.parametrize(("killer", "want", "wall"), [
    (SEGFAULT, "crashed with signal SIGSEGV", 10.0),
    (SLEEP, "timed out after 3.0 s (wall)", 3.0),
    (SPIN, "timed out after 1.0 s (cpu)", 20.0),  # the zygote's check: per program
    (EXIT3, "exited with status 3 before returning labels", 10.0),
], ids=["segfault", "wall", "cpu", "exit"])
def test_a_program_that_ends_its_child_leaves_the_rest_to_a_fresh_one(
        tmp_path: Path, killer: str, want: str, wall: float) -> None:
    outs = _batch(tmp_path, [("a", PID), ("b", PID), ("killer", killer), ("c", PID),
                             ("d", PID)], limits=Limits(cpu_seconds=1.0, wall_seconds=wall,
                                                        output_bytes=4096))
    assert outs["killer"].error == want and outs["killer"].labels is None
    first, second = {_pid(outs[k]) for k in "ab"}, {_pid(outs[k]) for k in "cd"}
    assert len(first) == len(second) == 1 and first != second


def test_each_program_of_a_batch_has_the_whole_cpu_limit(tmp_path: Path) -> None:
    # three programs of 0.7 s of CPU each: 2.1 s in one child, under a 1 s limit per program
    burn = ("import time\ndef label(x):\n    t = time.process_time()\n"
            "    while time.process_time() - t < 0.7:\n        pass\n"
            "    return (x[:, 0] * 0).long()\n")
    outs = _batch(tmp_path, [(f"p{i}", burn) for i in range(3)],
                  limits=Limits(cpu_seconds=1.0, wall_seconds=10.0, output_bytes=4096))
    assert {k: o.error for k, o in outs.items()} == {"p0": None, "p1": None, "p2": None}


FORGER = """
import os
def label(x):
    os.write(5, b"__MARKER__" * 4)  # fake "done" bytes, and bytes for the zygote to keep
    return (x[:, 0] * 0).long()
"""
CLOSER = "import os\nos.close(5)\ndef label(x):\n    return (x[:, 0] * 0).long()\n"


def test_progress_bytes_never_enter_the_zygote_and_forging_them_harms_only_the_batch(
        tmp_path: Path) -> None:
    marker = "PROGRESS-MARKER-" + os.urandom(6).hex()
    path_marker = "PATH-MARKER-" + os.urandom(6).hex()
    progs = []
    for key, text, batch in [("forger", FORGER.replace("__MARKER__", marker), "mallory"),
                             ("m2", PID, "mallory"), ("m3", PID, "mallory"),
                             ("closer", CLOSER, "eve"), ("e2", PID, "eve"),
                             ("honest", PID, "alice"), ("honest2", PID, "alice")]:
        path = tmp_path / f"{key}.py"
        path.write_text(text)
        progs.append(Program(key, path, batch))
    t0 = time.monotonic()
    outs = {o.key: o for o in replay(progs, GRID, LIMITS, workers=1)}
    assert time.monotonic() - t0 < 60  # a closed progress pipe neither spins nor hangs it
    # what mallory's and eve's programs did to their own batches is theirs; the other
    # team's batch is untouched, in a child of its own
    assert outs["closer"].error is None
    assert _pid(outs["honest"]) == _pid(outs["honest2"]) != _pid(outs["e2"])
    # the zygote, idle now, never read the bytes: the positive control is its last job's path
    probe = tmp_path / f"{path_marker}.py"
    probe.write_text(PID.replace("os.getpid()", "os.getppid()"))
    scans = []

    def on_done(o: Outcome) -> None:
        scans.append(_scan_memory(_pid(o), [marker.encode(), path_marker.encode()]))

    replay([Program("probe", probe)], GRID, LIMITS, workers=1, on_done=on_done)
    (scan,) = scans
    assert scan[path_marker.encode()], "scanner failed its positive control (path marker)"
    assert not scan[marker.encode()], "a program's bytes are in the zygote"


def test_one_zygote_runs_a_child_per_worker_at_once(tmp_path: Path) -> None:
    nap = PID.replace("def label(x):", "def label(x):\n    import time\n    time.sleep(2.0)")
    nap = nap.replace("os.getpid()", "os.getppid()")
    _batch(tmp_path, [("warm", SUM)])  # the zygote's start-up is not what is timed
    started = time.monotonic()
    outs = _batch(tmp_path, [("nap0", nap), ("nap1", nap)], batch=None,
                  limits=Limits(cpu_seconds=5.0, wall_seconds=10.0), workers=2)
    # two naps of 2 s side by side, well under the 4 s they take one after the other, in
    # children of the one zygote
    assert time.monotonic() - started < 3.9
    assert _pid(outs["nap0"]) == _pid(outs["nap1"])


def _model(tmp: Path, output: str = "binary") -> tuple[Path, dict, torch.nn.Module]:
    cfg = models.default_config("mlp", tuple(GRID.input_shape), tuple(GRID.dims),
                                classes=2 if output == "binary" else 3, hidden=[8])
    module = models.build(cfg, seed=0)
    path = tmp / "model.safetensors"
    models.save(module, cfg, path)
    return path, cfg, module


def test_a_model_runs_in_the_sandbox_as_it_does_in_process(tmp_path: Path) -> None:
    path, cfg, module = _model(tmp_path)
    x = GRID.all()
    outs = {o.key: o for o in replay([Model("m", path, cfg, 1 << 20)], GRID, LIMITS)}
    assert outs["m"].error is None
    assert outs["m"].labels.dtype == numpy.int32
    assert numpy.array_equal(outs["m"].labels, models.predict(module, x).numpy())
    # a distribution: the float32 logits themselves
    from dixit.rules import outputs

    (o,) = replay([Model("m", path, cfg, 1 << 20)], GRID, LIMITS,
                  output=outputs.parse("distribution:2"))
    assert o.error is None and o.labels.dtype == numpy.float32
    assert numpy.allclose(o.labels, models.logits(module, x).numpy(), atol=1e-6)


def test_a_model_that_cannot_load_says_so(tmp_path: Path) -> None:
    path, cfg, _ = _model(tmp_path)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    other = {**cfg, "hidden": [9]}
    outs = {o.key: o for o in replay([Model("junk", junk, cfg, 1 << 20),
                                      Model("shape", path, other, 1 << 20),
                                      Model("big", path, cfg, 10)], GRID, LIMITS)}
    for key in ("junk", "shape", "big"):
        assert (outs[key].error or "").startswith("load: "), outs[key].error
    assert "expected torch.float32(9, 2)" in outs["shape"].error
    assert "over the limit of 10 bytes" in outs["big"].error


def test_splits_are_the_training_split(tmp_path: Path) -> None:
    outs = {o.key: o for o in replay([Split("a", 0.5, 0), Split("b", 0.3, 7)], GRID, LIMITS)}
    for key, frac, seed in (("a", 0.5, 0), ("b", 0.3, 7)):
        _tr, held = training.split(GRID.size, frac, seed)
        want = numpy.zeros(GRID.size, dtype=numpy.uint8)
        want[held.numpy()] = 1
        assert outs[key].error is None and numpy.array_equal(outs[key].labels, want)


def test_replay_sources_with_batches_models_and_splits(tmp_path: Path) -> None:
    path, cfg, module = _model(tmp_path)
    outs = replay_sources({"t/alice/labeler": SUM.encode(), "t/bob/t": PID.encode(),
                           "u/bob/u": PID.encode()}, GRID, LIMITS,
                          batches={"t/alice/labeler": "alice", "t/bob/t": "bob",
                                   "u/bob/u": "bob"},
                          models={"t/@model": Weights(path.read_bytes(), cfg, 1 << 20)},
                          splits={"t/@split": (0.5, 0)})
    assert _pid(outs["t/bob/t"]) == _pid(outs["u/bob/u"])
    assert numpy.array_equal(outs["t/@model"].labels, models.predict(module, GRID.all()))
    assert outs["t/@split"].labels.sum() == GRID.size - round(GRID.size * 0.5)


def _rss_file_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssFile:"):
            return int(line.split()[1])
    raise AssertionError("no RssFile in /proc/self/status")


def test_released_rows_of_mapped_outputs_leave_the_process_and_read_back(
        tmp_path: Path) -> None:
    # what the judge does after each block of a distribution: its memory stays flat in N
    rows, width = 1 << 16, 256  # 64 MiB of float32 outputs, mapped as the engine maps them
    data = numpy.arange(rows * width, dtype=numpy.float32)
    path = tmp_path / "res"
    path.write_bytes(data.tobytes())
    from dixit.replay import engine

    mapped = engine._map_result(str(path), 1 << 30)
    outputs = numpy.frombuffer(mapped, dtype=numpy.float32).reshape(rows, width)
    before = _rss_file_kb()
    assert float(outputs.sum(dtype=numpy.float64)) == float(data.sum(dtype=numpy.float64))
    touched = _rss_file_kb()
    assert touched - before > 48 << 10, (before, touched)  # the pages are in the process
    engine.release(outputs, rows // 2)
    half = _rss_file_kb()
    assert touched - half > 24 << 10, (touched, half)
    engine.release(outputs)
    assert touched - _rss_file_kb() > 48 << 10
    assert numpy.array_equal(outputs[-3:], data.reshape(rows, width)[-3:])  # read back
    engine.release(numpy.zeros(4))  # not mapped: nothing to do


AHEAD = """
import json, sys
from pathlib import Path
from dixit.replay import engine
engine.prestart()  # before numpy and torch are imported here, as `dixit score` does
(pool,) = engine._POOLS.values()
ahead = pool.zygotes[0].pid
import numpy, torch  # noqa: E401,F401 - what a close imports meanwhile
from dixit.data import domains
path = Path(sys.argv[1])
path.write_text(sys.argv[2])
(out,) = engine.replay([engine.Program("p", path)], domains.parse("grid:9x9"), engine.Limits())
print(json.dumps({"ahead": ahead, "ran": sum(int(b) << i for i, b in enumerate(out.labels[:24])),
                  "error": out.error}))
"""


def test_the_zygote_started_ahead_is_the_one_that_replays(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    ppid = PID.replace("os.getpid()", "os.getppid()")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    res = subprocess.run([sys.executable, "-c", AHEAD, str(tmp_path / "p.py"), ppid],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    got = json.loads(res.stdout.splitlines()[-1])
    assert got["error"] is None and got["ran"] == got["ahead"]
