"""A challenge before it is proposed: the folder ``dixit challenge new`` writes on a team's disk.

    OUT/challenge.toml      kind, secret, domain, split, claimed accuracy, [model] config
    OUT/model.safetensors   the trained (or imported) weights
    OUT/labeler.py          the labeler the model was trained on; the secret of the labeler
                            and emulate kinds (sealed and escrowed at propose time)
    OUT/flag.txt            the secret of a flag challenge: a short string (the labeler then
                            implements the planted behaviour and stays on the proposer's disk)
    OUT/heldout.safetensors with --heldout (dataset: domains): the hidden evaluation set the
                            challenge is judged on at the close (sealed and escrowed at propose)

``[challenge] secret`` names the file to seal. Kinds: ``labeler`` (recover the program),
``emulate`` (reproduce the model's own outputs), ``flag`` (name the planted string).

Training runs the team's own labeler in-process: it is their code on their machine. Everywhere
else (scoring, verification) labelers only ever run in the sandbox.
"""

from __future__ import annotations

import importlib.util
import itertools
import re
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import toml

from dixit import models, tomlio
from dixit.challenge import hints as challenge_hints
from dixit.data import domains
from dixit.errors import ChallengeError
from dixit.ledger.fsutil import atomic_write
from dixit.models import training
from dixit.rules import kinds, outputs, scheme as schemes
from dixit.rules.flags import check_flag
from dixit.rules.rulebook import Rulebook

if TYPE_CHECKING:
    import torch

KINDS = tuple(kinds.KINDS)

# Every table and every [challenge] key a challenge.toml may hold, in one place: anything else
# is refused with this list, never dropped silently (a typo such as ``claimed_acuracy`` must not
# vanish). Hints and the answer format are listed by ``dixit.challenge.hints``.
TABLES = ("challenge", "model")
CHALLENGE_KEYS = ("kind", "domain", "seed", "train_frac", "claimed_accuracy", "train_accuracy",
                  "positive_rate", "labeler", "secret", "model", "imported_from", "heldout",
                  *schemes.KEYS)
HELDOUT_FILE = "heldout.safetensors"


def check_known_keys(data: dict[str, Any], where: str) -> None:
    """Refuse a table or [challenge] key of challenge.toml that dixit does not know."""
    for names, found, what in (
            (TABLES, data, "table"),
            ((*CHALLENGE_KEYS, *challenge_hints.FOLDER_KEYS), data.get("challenge", {}), "key")):
        if not isinstance(found, dict):
            continue
        unknown = sorted(set(found) - set(names))
        if unknown:
            prefix = "" if what == "table" else "challenge."
            raise ChallengeError(
                f"{where}: unknown {what}{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(prefix + u for u in unknown)}; known: "
                f"{', '.join(prefix + n for n in sorted(names))}")


def read_flag_file(path: Path) -> str:
    """The flag in ``path`` (UTF-8 text, checked by ``check_flag``)."""
    limit = 4096  # far above 256 characters of UTF-8 with whitespace around them
    try:
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
        text = data.decode("utf-8")
    except OSError as exc:
        raise ChallengeError(f"cannot read flag {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ChallengeError(f"flag {path} is not UTF-8 text") from None
    if len(data) > limit:
        raise ChallengeError(f"flag {path} is over {limit} bytes; a flag is a short string")
    try:
        return check_flag(text)
    except ChallengeError as exc:
        raise ChallengeError(f"flag {path}: {exc}") from None




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


def read_flag(path: Path) -> bytes:
    """A flag, or a team's guess at one: short UTF-8 text (``check_flag``)."""
    return read_flag_file(path).encode("utf-8")


def read_secret(kind: kinds.Kind, path: Path, max_program_bytes: int) -> bytes:
    """The secret a challenge of ``kind`` seals: its labeler, or its flag."""
    if kind.replayed:
        return read_program(path, max_program_bytes, "labeler")
    return read_flag(path)


def read_submission(kind: kinds.Kind, path: Path, max_program_bytes: int) -> bytes:
    """What a team submits for a challenge of ``kind``: a program, or a flag guess."""
    if kind.replayed:
        return read_program(path, max_program_bytes)
    return read_flag(path)


def run_labeler_locally(path: Path, x: torch.Tensor, output: outputs.Output = outputs.BINARY,
                        length: int | None = None,
                        targets: torch.Tensor | None = None) -> torch.Tensor:
    """Label ``x`` with the team's own labeler, in this process (training only): int64 class
    ids, or float32 logits/probabilities for a distribution, checked against ``output``."""
    import numpy as np
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
        out = torch.as_tensor(fn(x, targets) if targets is not None
                              and domains.takes_targets(fn)
                              else fn(x))
    except ChallengeError:
        raise
    except Exception as exc:
        raise ChallengeError(f"labeler {path} failed: {type(exc).__name__}: {exc}") from None
    finally:
        sys.modules.pop(name, None)
    if output == outputs.BINARY:
        out = out.reshape(-1)  # a column of labels is fine for binary, as it always was
    arr = out.detach().cpu().numpy() if out.dtype != torch.bfloat16 else out.float().numpy()
    problem = output.problem(np.asarray(arr), x.shape[0],
                             output.row_shapes(length))
    if problem is not None:
        raise ChallengeError(f"labeler {path} {problem} for output {output.spec}")
    return out.to(torch.int64) if output.integer else out.to(torch.float32)


@dataclass
class LocalChallenge:
    folder: Path
    meta: dict[str, Any]
    model: dict[str, Any]
    labeler: Path
    weights: Path
    kind: str = "labeler"
    secret: Path | None = None  # the file to seal: labeler.py, or flag.txt for a flag
    hints: challenge_hints.Hints = field(default_factory=challenge_hints.Hints)
    heldout: Path | None = None  # the sealed held-out evaluation set, if the challenge has one

    def __post_init__(self) -> None:
        if self.secret is None:
            self.secret = self.labeler


def parse_settings(items: list[str] | None) -> dict[str, Any]:
    """``key=value`` pairs (``--set``) as config values: integers, numbers, true/false,
    comma-separated integer lists (``8,16``), else the text itself."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        key, raw = key.strip().replace("-", "_"), raw.strip()
        if not sep or not key:
            raise ChallengeError(f"--set takes key=value, e.g. --set d_mlp=512 (got {item!r})")
        value = _value(raw)
        # sizes lists take a single size too: --set hidden=64
        out[key] = [value] if key in _LIST_KEYS and isinstance(value, int) else value
    return out


_LIST_KEYS = frozenset({"hidden", "channels", "input_shape", "input_ranges"})


def _value(raw: str) -> Any:
    low = raw.lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    if re.fullmatch(r"\[?\s*\d+(\s*,\s*\d+)*\s*,?\s*\]?|\[\s*\]", raw):
        return [int(v) for v in re.findall(r"\d+", raw)]
    return raw


def _int_list(text: str | None, option: str) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ChallengeError(f"{option} takes sizes like 128,128 (got {text!r})") from None


def arch_overrides(*, hidden: str | None = None, channels: str | None = None,
                   d_model: int | None = None, heads: int | None = None,
                   d_mlp: int | None = None, settings: list[str] | None = None
                   ) -> dict[str, Any]:
    """Architecture config fields from the command line (None: the architecture's default)."""
    out: dict[str, Any] = {"hidden": _int_list(hidden, "--hidden"),
                           "channels": _int_list(channels, "--channels"),
                           "d_model": d_model, "n_heads": heads, "d_mlp": d_mlp}
    out.update(parse_settings(settings))
    return {k: v for k, v in out.items() if v is not None}


def _check_kind(kind: str, flag: str | None) -> None:
    if not kinds.get(kind).replayed:
        if flag is None:
            raise ChallengeError("a flag challenge needs its secret string: --flag TEXT")
        check_flag(flag)
    elif flag is not None:
        raise ChallengeError(f"--flag is only for --kind flag (this challenge is {kind})")


def judging(output: str | None = None, metric: str | None = None,
            threshold: float | None = None) -> dict[str, Any]:
    """The metadata keys a challenge declares how it is judged with (``rules.scheme``),
    checked now: the defaults are left out, a threshold is kept only when given."""
    given = {k: v for k, v in (("output", output), ("metric", metric),
                               ("threshold", threshold)) if v is not None}
    how = schemes.of(given, Rulebook())
    meta = how.as_meta()
    if threshold is not None:
        meta["threshold"] = how.threshold
    return meta


def _output_config(arch: str, output: outputs.Output, length: int | None) -> dict[str, Any]:
    """The architecture fields that give ``output``: C classes, per position if need be."""
    per_position = output.form == "sequence" or (output.form == "distribution"
                                                  and length is not None)
    if arch == "transformer":
        return {"classes": output.classes, **({"positions": "all"} if per_position else {})}
    if per_position:
        raise ChallengeError(f"output {output.spec} gives an output per position: use "
                             "--arch transformer (a causal model over the token sequence)")
    return {"classes": output.classes}


def _prepare(out: Path, labeler: Path, domain_spec: str, arch: str, train_frac: float,
             seed: int, kind: str, flag: str | None, overrides: dict[str, Any] | None,
             root: Path | None, max_program_bytes: int, judged: dict[str, Any] | None = None,
             heldout: bool = False
             ) -> tuple[bytes, domains.Domain, dict[str, Any], torch.Tensor]:
    """Everything ``create`` and ``import_model`` check before the expensive part."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ChallengeError(f"{out} already exists and is not empty; choose a new folder")
    if not 0.0 < train_frac <= 1.0:
        raise ChallengeError("--train-frac must be in (0, 1]")
    _check_kind(kind, flag)
    problem = kinds.domain_problem(kinds.get(kind), domain_spec, heldout)
    if problem is not None:
        raise ChallengeError(problem)
    if heldout and not kinds.get(kind).replayed:
        raise ChallengeError("a held-out set (--heldout) is for a challenge judged on inputs; "
                             "a flag challenge is judged on a string")
    source = read_program(labeler, max_program_bytes, "labeler")
    domain = domains.parse(domain_spec, root=root, seed=seed)
    output = schemes.of(judged or {}, Rulebook()).output
    output.check_domain(domain.kind, tuple(domain.input_shape))
    length = outputs.positions(domain.kind, tuple(domain.input_shape))
    fields = {**_output_config(arch, output, length), **(overrides or {})}
    config = models.default_config(arch, domain.input_shape, domain.dims,
                                   domain_kind=domain.kind, **fields)
    if config.get("positions") == "all" and not (
            output.form == "sequence" or (output.form == "distribution" and length)):
        raise ChallengeError("positions = 'all' gives an output per position: declare one, "
                             "--output sequence:C or distribution:C, on a tokens domain")
    models.build(config)  # validates the config before the labeler runs over the domain
    targets = domain.targets()
    per_batch = targets.split(4096) if targets is not None else itertools.repeat(None)
    labels = torch_cat(run_labeler_locally(labeler, x, output, length, t)
                       for x, t in zip(domain.batches(4096), per_batch, strict=False))
    return source, domain, config, labels


def _write(out: Path, *, source: bytes, config: dict[str, Any], module: Any, kind: str,
           flag: str | None, domain: domains.Domain, seed: int, train_frac: float,
           train_accuracy: float, heldout_accuracy: float, labels: torch.Tensor,
           extra: dict[str, Any] | None = None,
           hints: challenge_hints.Hints | None = None, heldout_set: bytes | None = None) -> None:
    heldout = heldout_accuracy if train_frac < 1.0 else train_accuracy
    meta = {
        "kind": kind,
        "domain": domain.spec,
        "seed": seed,
        "train_frac": train_frac,
        "claimed_accuracy": round(heldout, 6),
        "train_accuracy": round(train_accuracy, 6),
        **({"positive_rate": round(float(labels.float().mean()), 6)}
           if "output" not in (extra or {}) else {}),
        "labeler": "labeler.py",
        "secret": kinds.get(kind).secret_file,
        "model": "model.safetensors",
        **(extra or {}),
    }
    out.mkdir(parents=True, exist_ok=True)
    meta.update(challenge_hints.write(out, hints or challenge_hints.Hints()))
    models.save(module, config, out / "model.safetensors")
    atomic_write(out / "labeler.py", source)
    if heldout_set is not None:
        atomic_write(out / HELDOUT_FILE, heldout_set)
        meta["heldout"] = HELDOUT_FILE
    if not kinds.get(kind).replayed:
        assert flag is not None
        atomic_write(out / kinds.get(kind).secret_file, flag.encode("utf-8"))
    atomic_write(out / "challenge.toml",
                 toml.dumps({"challenge": meta, "model": config}).encode())


def create(out: Path, labeler: Path, domain_spec: str, *, arch: str = "mlp",
           train_frac: float = 0.5, seed: int = 0, steps: int | None = None,
           hidden: list[int] | None = None, overrides: dict[str, Any] | None = None,
           lr: float | None = None, weight_decay: float | None = None,
           batch_size: int | None = None, kind: str = "labeler", flag: str | None = None,
           root: Path | None = None, max_program_bytes: int = 262144,
           progress: training.Progress | None = None,
           judged: dict[str, Any] | None = None,
           hints: challenge_hints.Hints | None = None,
           heldout: Path | None = None) -> dict[str, Any]:
    """Train a model on ``labeler`` over the domain and write the challenge folder ``out``.

    ``overrides`` set architecture config fields (``hidden`` is a shortcut for the mlp's and
    cnn's); ``steps``, ``lr``, ``weight_decay`` and ``batch_size`` default per architecture
    (``training.HYPER``). A ``flag`` challenge needs ``flag``, the secret string. ``judged``
    holds how it is judged (``judging()``: output, metric, threshold); ``hints``
    (``challenge.hints.prepare``) are written with it; ``heldout`` (a safetensors dataset
    like the domain's, on a dataset: domain) is copied in as the sealed evaluation set the
    challenge is judged on at the close. Returns the training summary
    (train/held-out accuracy, seconds, steps, parameters, out).
    """
    if steps is not None and steps < 1:
        raise ChallengeError("--steps must be >= 1")
    settings = dict(overrides or {})
    if hidden is not None:
        settings["hidden"] = hidden
    source, domain, config, labels = _prepare(out, labeler, domain_spec, arch, train_frac,
                                              seed, kind, flag, settings, root,
                                              max_program_bytes, judged, heldout is not None)
    held = read_heldout_option(heldout, domain)
    module = models.build(config, seed=seed)
    opts = training.hyper(arch, steps=steps, lr=lr, weight_decay=weight_decay,
                          batch_size=batch_size)
    try:
        result = training.train(module, domain, labels, train_frac=train_frac, seed=seed,
                                progress=progress,
                                probs=schemes.of(judged or {}, Rulebook()).output.probs,
                                **opts)
    except ValueError as exc:
        raise ChallengeError(f"cannot train: {exc}") from None
    _write(out, source=source, config=config, module=module, kind=kind, flag=flag,
           domain=domain, seed=seed, train_frac=train_frac,
           train_accuracy=result.train_accuracy, heldout_accuracy=result.heldout_accuracy,
           labels=labels, extra=judged, hints=hints, heldout_set=held)
    summary = training.summary(result)
    summary.update(parameters=models.parameter_count(module), arch=arch, kind=kind,
                   out=str(out))
    return summary


def read_heldout_option(path: Path | None, domain: domains.Domain) -> bytes | None:
    """The bytes of ``--heldout`` checked against the public dataset (``domains.check_heldout``);
    None without one."""
    if path is None:
        return None
    return domains.read_heldout(path, domain)[0]


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
    check_known_keys(data, str(meta_path))
    for key, kind in (("domain", str), ("claimed_accuracy", float), ("seed", int),
                      ("train_frac", float)):
        if not isinstance(meta.get(key), kind) or isinstance(meta.get(key), bool):
            raise ChallengeError(f"{meta_path}: challenge.{key} is missing or not a "
                                 f"{kind.__name__}")
    kind = meta.get("kind", kinds.DEFAULT)
    if kind not in KINDS:
        raise ChallengeError(f"{meta_path}: unknown kind {kind!r}; expected one of "
                             f"{', '.join(KINDS)}")
    try:
        schemes.of(meta, Rulebook())
    except ChallengeError as exc:
        raise ChallengeError(f"{meta_path}: {exc}") from None
    labeler = folder / str(meta.get("labeler", "labeler.py"))
    weights = folder / str(meta.get("model", "model.safetensors"))
    secret = folder / str(meta.get("secret", kinds.get(kind).secret_file))
    for p in (labeler, weights, secret):
        if p.parent != folder:
            raise ChallengeError(f"{meta_path}: file names must stay inside the folder")
    if not kinds.get(kind).replayed:
        if secret == labeler or secret == weights:
            raise ChallengeError(f"{meta_path}: a flag challenge's secret must be its own "
                                 "text file (flag.txt)")
        if not secret.is_file():
            raise ChallengeError(f"{folder} is a flag challenge but has no {secret.name} "
                                 "(make it with `dixit challenge new --kind flag --flag TEXT`)")
        read_flag_file(secret)
    elif secret != labeler:
        raise ChallengeError(f"{meta_path}: the secret of a {kind} challenge is its labeler "
                             f"({labeler.name}), not {secret.name}")
    found = challenge_hints.read(folder, meta, str(kind), str(meta_path))
    heldout = None
    if "heldout" in meta:
        if meta["heldout"] != HELDOUT_FILE:
            raise ChallengeError(f"{meta_path}: challenge.heldout names the held-out set, "
                                 f"which is {HELDOUT_FILE} in the folder")
        heldout = folder / HELDOUT_FILE
    return LocalChallenge(folder=folder, meta=meta, model=config, labeler=labeler,
                          weights=weights, kind=str(kind), secret=secret, hints=found,
                          heldout=heldout)
