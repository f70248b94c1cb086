"""Evaluation domains: the exact, reproducible set of inputs a challenge is judged on.

A domain is named by a short spec string that is part of the sealed challenge metadata:

- ``grid:PxQ`` (or ``grid:PxQxR``...): every integer tuple, row-major, as int64 of shape (N, d).
- ``tokens:VxL`` / ``tokens:VxL:N``: every length-L sequence over a vocabulary of V (int64 (N, L));
  with N, N sequences sampled with the challenge's seed so every replay sees the same inputs.
- ``dataset:PATH``: the tensor named ``inputs`` in a safetensors file (PATH relative to the
  tournament root, for example ``scoring/data/mnist.safetensors``).

Inputs are produced in batches so memory stays flat as the domain grows; ``identity`` is a
stable hash of the spec and (for datasets) of the data itself, covered by every seal.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dixit.errors import ChallengeError
from dixit.ledger.fsutil import read_regular

if TYPE_CHECKING:
    import torch

MAX_ENUMERATED = 50_000_000  # refuse domains whose full enumeration is absurd
# What the engine may hold of a domain outside the sandbox: every domain (grid, token sample,
# dataset) is checked against these when parsed, at propose, score, verify and inspect alike.
MAX_ELEMENTS = 100_000_000   # numbers (grid points x coordinates, tokens)
MAX_LENGTH = 4096            # tokens a sequence (the transformer's largest context)
MAX_DATASET_BYTES = 512 << 20
DATASET_FOLDER = Path("scoring/data")
_GRID = re.compile(r"^grid:(\d+(?:x\d+)+)$")
_TOKENS = re.compile(r"^tokens:(\d+)x(\d+)(?::(\d+))?$")
_DATASET = re.compile(r"^dataset:([A-Za-z0-9_./-]+\.safetensors)$")


@dataclass(frozen=True)
class Domain:
    """A parsed domain spec; cheap to build, inputs are only materialized on demand."""

    spec: str
    kind: str
    dims: tuple[int, ...] = ()
    sample: int | None = None
    seed: int = 0
    path: Path | None = None
    _data_hash: str = field(default="", compare=False)
    _root: Path | None = field(default=None, compare=False)

    @property
    def size(self) -> int:
        if self.kind == "grid":
            return math.prod(self.dims)
        if self.kind == "tokens":
            return self.sample if self.sample is not None else self.dims[0] ** self.dims[1]
        return int(self._dataset_shape()[0])

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input (without the batch dimension)."""
        if self.kind == "grid":
            return (len(self.dims),)
        if self.kind == "tokens":
            return (self.dims[1],)
        return tuple(int(d) for d in self._dataset_shape()[1:])

    @property
    def is_grid2d(self) -> bool:
        return self.kind == "grid" and len(self.dims) == 2

    def identity(self) -> str:
        """Stable hash naming exactly these inputs (spec, sampling seed, dataset bytes)."""
        h = hashlib.sha256(b"dixit/domain/v1\x00")
        h.update(self.spec.encode())
        if self.kind == "tokens" and self.sample is not None:
            h.update(f"\x00seed={self.seed}".encode())
        if self.kind == "dataset":
            h.update(b"\x00" + self._data_hash.encode())
        return h.hexdigest()

    def batches(self, batch_size: int = 4096) -> Iterator[torch.Tensor]:
        """Yield the inputs in order, ``batch_size`` at a time."""
        for start in range(0, self.size, batch_size):
            yield self.slice(start, min(start + batch_size, self.size))

    def slice(self, start: int, stop: int) -> torch.Tensor:
        """Inputs ``start`` to ``stop`` (exclusive) in the domain's canonical order."""
        import torch

        if self.kind == "grid":
            idx = torch.arange(start, stop, dtype=torch.int64)
            cols = []
            for d in reversed(self.dims):
                cols.append(idx % d)
                idx = idx // d
            return torch.stack(list(reversed(cols)), dim=1)
        if self.kind == "tokens":
            if self.sample is None:
                idx = torch.arange(start, stop, dtype=torch.int64)
                vocab, length = self.dims
                cols = []
                for _ in range(length):
                    cols.append(idx % vocab)
                    idx = idx // vocab
                return torch.stack(list(reversed(cols)), dim=1)
            return self._sampled()[start:stop]
        return self._dataset()[start:stop]

    def all(self) -> torch.Tensor:
        return self.slice(0, self.size)

    # -- datasets and samples ---------------------------------------------------------------

    def _sampled(self) -> torch.Tensor:
        import torch

        vocab, length = self.dims
        gen = torch.Generator().manual_seed(self.seed)
        assert self.sample is not None
        return torch.randint(0, vocab, (self.sample, length), generator=gen, dtype=torch.int64)

    def _tensors(self) -> dict[str, torch.Tensor]:
        from safetensors import SafetensorError
        from safetensors.torch import load

        assert self.path is not None
        try:
            tensors = load(self._read())
        except (OSError, SafetensorError) as exc:
            raise ChallengeError(f"cannot read dataset {self.path}: {exc}") from None
        if "inputs" not in tensors:
            raise ChallengeError(f"dataset {self.path} has no tensor named 'inputs'")
        return tensors

    def _dataset(self) -> torch.Tensor:
        return self._tensors()["inputs"]

    def targets(self) -> torch.Tensor | None:
        """A dataset's ``targets`` (e.g. MNIST's digit classes): one integer per input, int64,
        given to a labeler that takes a second argument, ``label(x, targets)``. None when the
        dataset has none (and for grids and token domains)."""
        import torch

        if self.kind != "dataset":
            return None
        tensors = self._tensors()
        t = tensors.get("targets")
        if t is None:
            return None
        if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool \
                or tuple(t.shape) != (int(tensors["inputs"].shape[0]),):
            raise ChallengeError(f"dataset {self.path}: 'targets' must hold one integer per "
                                 f"input, shape ({int(tensors['inputs'].shape[0])},); got "
                                 f"{t.dtype} of shape {tuple(t.shape)}")
        return t.to(torch.int64)

    @property
    def data_sha256(self) -> str:
        """SHA-256 (hex) of a dataset's file as parsed; empty for other kinds."""
        return self._data_hash

    def _dataset_shape(self) -> tuple[int, ...]:
        return tuple(self._dataset().shape)

    def _read(self) -> bytes:
        """The dataset's bytes, never through a link (``fsutil.read_regular``)."""
        assert self.path is not None
        root = self._root if self._root is not None else self.path.parent
        return read_regular(root, self.path.relative_to(root), MAX_DATASET_BYTES)


def parse(spec: str, *, root: Path | None = None, seed: int = 0) -> Domain:
    """Parse a domain spec; ``root`` resolves dataset paths, ``seed`` drives token sampling."""
    spec = spec.strip()
    if m := _GRID.match(spec):
        dims = tuple(int(d) for d in m.group(1).split("x"))
        if any(d < 1 for d in dims) or math.prod(dims) * len(dims) > MAX_ELEMENTS:
            raise ChallengeError(f"grid domain {spec!r}: every side must be >= 1 and the "
                                 f"grid at most {MAX_ENUMERATED:,} points")
        return Domain(spec=spec, kind="grid", dims=dims)
    if m := _TOKENS.match(spec):
        vocab, length = int(m.group(1)), int(m.group(2))
        sample = int(m.group(3)) if m.group(3) else None
        if vocab < 1 or length < 1:
            raise ChallengeError(f"tokens domain {spec!r}: vocabulary and length must be >= 1")
        if length > MAX_LENGTH or vocab > MAX_ELEMENTS:  # before any power of them is taken
            raise ChallengeError(f"tokens domain {spec!r}: at most {MAX_LENGTH:,} tokens a "
                                 f"sequence and a vocabulary of {MAX_ELEMENTS:,}")
        if sample is None and vocab**length > MAX_ENUMERATED:
            raise ChallengeError(
                f"tokens domain {spec!r} has {vocab}^{length} sequences; "
                f"add a sample size, e.g. tokens:{vocab}x{length}:100000")
        if sample is not None and not 1 <= sample <= MAX_ENUMERATED:
            raise ChallengeError(f"tokens domain {spec!r}: sample size out of range")
        if (sample or vocab**length) * length > MAX_ELEMENTS:
            raise ChallengeError(f"tokens domain {spec!r}: at most {MAX_ELEMENTS:,} tokens in "
                                 "all (sample size x length)")
        return Domain(spec=spec, kind="tokens", dims=(vocab, length), sample=sample, seed=seed)
    if m := _DATASET.match(spec):
        rel = Path(m.group(1))
        if rel.is_absolute() or ".." in rel.parts:
            raise ChallengeError(f"dataset path in {spec!r} must be relative, without '..'")
        if rel.parts[:2] != DATASET_FOLDER.parts:
            raise ChallengeError(f"dataset {rel} must be under {DATASET_FOLDER}/, where the "
                                 "organizer commits shared evaluation data")
        base = root or Path.cwd()
        try:
            data = read_regular(base, rel, MAX_DATASET_BYTES)
        except FileNotFoundError:
            raise ChallengeError(f"dataset {rel} not found under {base}") from None
        except OSError as exc:
            raise ChallengeError(f"dataset {rel}: {exc.strerror or exc}") from None
        data_hash = hashlib.sha256(data).hexdigest()
        return Domain(spec=spec, kind="dataset", path=base / rel, _data_hash=data_hash,
                      _root=base)
    raise ChallengeError(
        f"unknown domain {spec!r}; use grid:PxQ, tokens:VOCABxLEN[:N] or dataset:PATH.safetensors")


def check_heldout(data: bytes, public: Domain, what: str) -> int:
    """The rows of a held-out evaluation set: a safetensors file (parsed, never unpickled)
    whose ``inputs`` have the public dataset's per-row shape and dtype, within the dataset cap.
    Raises ChallengeError (one line naming ``what``) otherwise."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    if public.kind != "dataset":
        raise ChallengeError(f"{what}: a held-out set is for a dataset:PATH domain, not "
                             f"{public.spec!r}")
    if len(data) > MAX_DATASET_BYTES:
        raise ChallengeError(f"{what} is {len(data):,} bytes, over the dataset limit of "
                             f"{MAX_DATASET_BYTES:,}")
    try:
        tensors = load(data)
    except (SafetensorError, ValueError, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ChallengeError(f"{what} is not a safetensors file: {first}") from None
    inputs = tensors.get("inputs")
    if inputs is None:
        raise ChallengeError(f"{what} has no tensor named 'inputs'")
    want = public.all()
    shape, rows = tuple(inputs.shape[1:]), int(inputs.shape[0]) if inputs.dim() else 0
    if shape != tuple(want.shape[1:]) or inputs.dtype != want.dtype or rows < 1:
        raise ChallengeError(
            f"{what}: its inputs are {rows} {inputs.dtype} rows of shape {shape}; the public "
            f"dataset's rows are {want.dtype} of shape {tuple(want.shape[1:])} (at least one)")
    return rows


def read_heldout(path: Path, public: Domain) -> tuple[bytes, int]:
    """A held-out set file on disk (never through a link) and its rows (``check_heldout``)."""
    try:
        data = read_regular(path.parent, path.name, MAX_DATASET_BYTES)
    except FileNotFoundError:
        raise ChallengeError(f"held-out set {path} not found") from None
    except OSError as exc:
        raise ChallengeError(f"held-out set {path}: {exc.strerror or exc}") from None
    return data, check_heldout(data, public, f"held-out set {path}")


def takes_targets(fn: Any) -> bool:
    """Whether ``label`` takes a second positional argument (a dataset's targets); a
    signature that cannot be read takes one."""
    import inspect

    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return True
    return len([p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]) >= 2
