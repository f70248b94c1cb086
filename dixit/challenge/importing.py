"""``dixit challenge import``: make a challenge folder from a model trained elsewhere.

Most models in this field ship as torch state dicts (``torch.save(model.state_dict(), ...)``).
Reading one is the single ``torch.load`` in dixit, and it runs only here, on the proposer's own
machine, on the proposer's own file, with ``weights_only=True`` (torch's restricted unpickler:
tensors and plain containers only, no code). The weights are then checked against the chosen
architecture and written as safetensors like any trained challenge; nothing that reaches the
ledger is ever unpickled.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dixit import models
from dixit.challenge import folder as challenge, hints as challenge_hints
from dixit.errors import ChallengeError
from dixit.models import training

if TYPE_CHECKING:
    import torch

# TransformerLens keeps its causal mask and masking constant as saved buffers; ours are derived,
# so a HookedTransformer state dict imports once they are dropped.
_DERIVED_SUFFIXES = (".attn.mask", ".attn.IGNORE")


def load_state_dict_file(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a state dict file: ``torch.save`` output (plain, or under a "state_dict"
    or "model" key) or a safetensors file. Anything else is refused with one line."""
    import torch

    if not path.is_file():
        raise ChallengeError(f"state dict {path} not found")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load as st_load

        try:
            return dict(st_load(path.read_bytes()))
        except (OSError, SafetensorError) as exc:
            raise ChallengeError(f"{path} is not a readable safetensors file: "
                                 f"{_first_line(exc)}") from None
    try:
        # weights_only: torch's restricted unpickler, which refuses anything but tensors and
        # plain containers; the only torch.load in dixit (tests/test_cli.py checks that)
        with warnings.catch_warnings():  # e.g. pickle-protocol notes on files refused next
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for non-checkpoint files
        raise ChallengeError(f"{path} is not a torch state dict (a file saved with "
                             f"torch.save(model.state_dict(), ...)): {_first_line(exc)}"
                             ) from None
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise ChallengeError(f"{path} is not a torch state dict: expected a mapping of "
                             f"parameter names to tensors, found {_describe(obj)}")
    return dict(obj)


def import_model(out: Path, state_dict: Path, labeler: Path, domain_spec: str, *,
                 arch: str, overrides: dict[str, Any] | None = None,
                 kind: str = "labeler", flag: str | None = None, train_frac: float = 0.5,
                 seed: int = 0, root: Path | None = None,
                 max_program_bytes: int = 262144,
                 judged: dict[str, Any] | None = None,
                 hints: challenge_hints.Hints | None = None,
                 heldout: Path | None = None) -> dict[str, Any]:
    """Check the weights in ``state_dict`` against ``arch`` (its config from the domain and
    ``overrides``), measure their train and held-out accuracy against ``labeler`` on the
    domain's split (``training.split`` with ``train_frac`` and ``seed``, as training uses),
    and write the challenge folder ``out`` exactly as ``challenge.create`` does."""
    start = time.perf_counter()
    source, domain, config, labels = challenge._prepare(
        out, labeler, domain_spec, arch, train_frac, seed, kind, flag, overrides, root,
        max_program_bytes, judged, heldout is not None)
    held = challenge.read_heldout_option(heldout, domain)
    state = load_state_dict_file(state_dict)
    if arch == "transformer":
        state = {k: v for k, v in state.items() if not k.endswith(_DERIVED_SUFFIXES)}
    try:
        module = models.load_state(models.build(config), state, str(state_dict), arch)
    except ChallengeError as exc:  # usually sizes the defaults guessed wrong: say how to set
        raise ChallengeError(f"{exc} (set the architecture's sizes with --d-model, --heads, "
                             "--d-mlp, --channels, --hidden or --set KEY=VALUE)") from None
    with training.torch_threads():
        tr, ho = training.split(domain.size, train_frac, seed)
        x_all = domain.all()
        train_acc = training.accuracy(module, x_all[tr], labels[tr])
        heldout = training.accuracy(module, x_all[ho], labels[ho])
    challenge._write(out, source=source, config=config, module=module, kind=kind, flag=flag,
                     domain=domain, seed=seed, train_frac=train_frac, train_accuracy=train_acc,
                     heldout_accuracy=heldout, labels=labels,
                     extra={"imported_from": state_dict.name, **(judged or {})},
                     hints=hints, heldout_set=held)
    return {"train_accuracy": round(train_acc, 6), "heldout_accuracy": round(heldout, 6),
            "seconds": round(time.perf_counter() - start, 3), "steps": 0,
            "parameters": models.parameter_count(module), "arch": arch, "kind": kind,
            "out": str(out)}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _describe(obj: Any) -> str:
    if isinstance(obj, dict) and not obj:
        return "an empty dict"
    if isinstance(obj, dict):
        bad = next((f"{k!r}: {type(v).__name__}" for k, v in obj.items()
                    if not isinstance(k, str) or type(v).__name__ != "Tensor"), "nothing")
        return f"a dict with {len(obj)} entries (first non-tensor entry {bad})"
    return f"a {type(obj).__name__}"
