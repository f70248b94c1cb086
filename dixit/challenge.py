"""A challenge before it is proposed: the folder ``dixit challenge new`` writes on a team's disk.

    OUT/challenge.toml      kind, domain, split, claimed accuracy, [model] architecture config
    OUT/model.safetensors   the trained weights
    OUT/labeler.py          the secret (sealed and escrowed at propose time, never published)

Training runs the team's own labeler in-process: it is their code on their machine. Everywhere
else (scoring, verification) labelers only ever run in the sandbox.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import toml

from dixit import domains, models, tomlio, training
from dixit.errors import ChallengeError
from dixit.fsutil import atomic_write

if TYPE_CHECKING:
    import torch

KINDS = ("labeler",)


def read_program(path: Path, max_bytes: int, what: str = "program") -> bytes:
    """Bytes of a labeler or program file, checked to be UTF-8 Python source under the limit."""
    try:
        size = path.stat().st_size
    except OSError:
        raise ChallengeError(f"{what} {path} not found") from None
    if not path.is_file():
        raise ChallengeError(f"{what} {path} is not a file")
    if size > max_bytes:
        raise ChallengeError(f"{what} {path} is {size:,} bytes, over the rulebook's limit of "
                             f"{max_bytes:,} (limits.max_program_bytes)")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ChallengeError(f"{what} {path} is not UTF-8 text") from None
    try:
        compile(text, str(path), "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        raise ChallengeError(f"{what} {path} is not valid Python: {exc}") from None
    if not re.search(r"\blabel\b", text):
        raise ChallengeError(f"{what} {path} defines no label(x) function")
    return data


def run_labeler_locally(path: Path, x: torch.Tensor) -> torch.Tensor:
    """Label ``x`` with the team's own labeler, in this process (training only)."""
    import torch

    name = f"_dixit_labeler_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ChallengeError(f"cannot import labeler {path}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        fn = getattr(module, "label", None)
        if not callable(fn):
            raise ChallengeError(f"labeler {path} defines no label(x) function")
        out = torch.as_tensor(fn(x))
    except ChallengeError:
        raise
    except Exception as exc:
        raise ChallengeError(f"labeler {path} failed: {type(exc).__name__}: {exc}") from None
    finally:
        sys.modules.pop(name, None)
    out = out.reshape(-1)
    if out.shape[0] != x.shape[0] or not bool(((out == 0) | (out == 1)).all()):
        raise ChallengeError(f"labeler {path} must return {x.shape[0]} labels in {{0, 1}}")
    return out.to(torch.int64)


@dataclass
class LocalChallenge:
    folder: Path
    meta: dict[str, Any]
    model: dict[str, Any]
    labeler: Path
    weights: Path


def create(out: Path, labeler: Path, domain_spec: str, *, arch: str = "mlp",
           train_frac: float = 0.5, seed: int = 0, steps: int = 400,
           hidden: list[int] | None = None,
           root: Path | None = None, max_program_bytes: int = 262144,
           progress: training.Progress | None = None) -> dict[str, Any]:
    """Train a model on ``labeler`` over the domain and write the challenge folder ``out``."""
    if out.exists() and any(out.iterdir()):
        raise ChallengeError(f"{out} already exists and is not empty; choose a new folder")
    if not 0.0 < train_frac <= 1.0:
        raise ChallengeError("--train-frac must be in (0, 1]")
    if steps < 1:
        raise ChallengeError("--steps must be >= 1")
    source = read_program(labeler, max_program_bytes, "labeler")
    domain = domains.parse(domain_spec, root=root, seed=seed)
    config = models.default_config(arch, domain.input_shape, domain.dims, hidden=hidden)
    module = models.build(config)
    labels = torch_cat(run_labeler_locally(labeler, b) for b in domain.batches())
    result = training.train(module, domain, labels, train_frac=train_frac, seed=seed,
                            steps=steps, progress=progress)
    heldout = result.heldout_accuracy if train_frac < 1.0 else result.train_accuracy
    meta = {
        "kind": "labeler",
        "domain": domain.spec,
        "seed": seed,
        "train_frac": train_frac,
        "claimed_accuracy": round(heldout, 6),
        "train_accuracy": round(result.train_accuracy, 6),
        "positive_rate": round(float(labels.float().mean()), 6),
        "labeler": "labeler.py",
        "model": "model.safetensors",
    }
    out.mkdir(parents=True, exist_ok=True)
    models.save(module, config, out / "model.safetensors")
    atomic_write(out / "labeler.py", source)
    atomic_write(out / "challenge.toml",
                 toml.dumps({"challenge": meta, "model": config}).encode())
    summary = training.summary(result)
    summary["parameters"] = models.parameter_count(module)
    summary["out"] = str(out)
    return summary


def torch_cat(parts: Any) -> torch.Tensor:
    import torch

    return torch.cat(list(parts))


def read(folder: Path) -> LocalChallenge:
    """Read and check a challenge folder written by ``create``."""
    meta_path = folder / "challenge.toml"
    try:
        data = tomlio.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ChallengeError(f"{folder} is not a challenge folder (no challenge.toml); "
                             "make one with `dixit challenge new`") from None
    except (OSError, UnicodeDecodeError, tomlio.TomlError) as exc:
        raise ChallengeError(f"{meta_path} is not valid TOML: {exc}") from None
    meta, config = data.get("challenge"), data.get("model")
    if not isinstance(meta, dict) or not isinstance(config, dict):
        raise ChallengeError(f"{meta_path} needs [challenge] and [model] tables")
    for key, kind in (("domain", str), ("claimed_accuracy", float), ("seed", int),
                      ("train_frac", float)):
        if not isinstance(meta.get(key), kind) or isinstance(meta.get(key), bool):
            raise ChallengeError(f"{meta_path}: challenge.{key} is missing or not a "
                                 f"{kind.__name__}")
    if meta.get("kind", "labeler") not in KINDS:
        raise ChallengeError(f"{meta_path}: unknown kind {meta.get('kind')!r}")
    labeler = folder / str(meta.get("labeler", "labeler.py"))
    weights = folder / str(meta.get("model", "model.safetensors"))
    for p in (labeler, weights):
        if p.parent != folder:
            raise ChallengeError(f"{meta_path}: file names must stay inside the folder")
    return LocalChallenge(folder=folder, meta=meta, model=config, labeler=labeler,
                          weights=weights)
