"""``dixit challenge compile``: a RASP program compiled by Tracr, as a dixit challenge.

The proposer's RASP file defines ``program(rasp)`` (see ``rasp_labeler``). Tracr (the optional
``tracr`` extra: ``tracr-pypi``, JAX, dm-haiku) compiles it to transformer weights; those are
converted into dixit's own transformer (``dixit.models.transformer``, TransformerLens names)
and checked on every sequence of the domain: the torch model's argmax per position must equal
the compiled model's output, and the labeler (the program under dixit's pure-Python RASP
interpreter, which is what the close replays) must equal it too. Anything less is refused and
nothing is written.

Tracr's layout, and how it maps onto ours:

- input ``[BOS, t_1 .. t_L]``: ``prepend_bos`` (BOS is our last token id) and ``n_ctx = L + 1``;
  our domain token id i is the i-th ``--vocab`` value; Tracr's PAD token is never used, so it
  has no row;
- attention is bidirectional unless compiled ``causal``: ``causal = false``;
- each Tracr layer is attention then MLP, as our blocks, no LayerNorm, ReLU; heads and MLP
  widths that vary per layer were already zero-padded by Tracr to the widest;
- Tracr's heads are ``key_size`` wide and its residual stream ``D`` wide; ours need
  ``d_model = n_heads * d_head``, so both are zero-padded (zero residual directions and head
  dimensions change nothing without LayerNorm) and W_Q is rescaled by sqrt(d_head / key_size),
  as our scores divide by sqrt(d_head) where Tracr's divide by sqrt(key_size);
- the unembedding is the projection onto the output SOp's directions: ``W_U`` one-hot, the
  class ids in the order of Tracr's output encoder, which the labeler's ``CLASSES`` follows;
  a categorical output only (a numerical one has no classes to judge).

The program file is the proposer's own code and runs here, in-process, like a labeler in
``challenge new``.
"""

from __future__ import annotations

import importlib.util
import math
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dixit import models
from dixit.challenge import folder, hints as challenge_hints
from dixit.challenge.rasp_labeler import check_program_source, labeler_source
from dixit.data import domains
from dixit.errors import ChallengeError, MissingExtraError
from dixit.models.training import Progress
from dixit.rules import scheme
from dixit.rules.rulebook import Rulebook

if TYPE_CHECKING:
    import numpy as np
    import torch

INSTALL = "install the tracr extra: pip install 'dixit[tracr]'"
BOS = "compiler_bos"  # Tracr's own default name; a vocabulary may not hold it
# Exactness is checked on every sequence of the domain: through JAX, torch and the labeler's
# pure-Python interpreter (the slowest, ~0.1 ms a sequence for a small program).
MAX_SEQUENCES = 100_000
BATCH = 4096


def tracr_modules() -> tuple[Any, Any]:
    """``(tracr.compiler.compiling, tracr.rasp.rasp)``, or one line naming the extra."""
    try:
        from tracr.compiler import compiling
        from tracr.rasp import rasp
    except ImportError as exc:
        missing = (getattr(exc, "name", None) or "tracr").split(".")[0]
        raise MissingExtraError(f"compiling a RASP program needs Tracr and JAX ({missing!r} is "
                                f"not installed): {INSTALL}") from None
    return compiling, rasp


def parse_vocab(text: str) -> list[Any]:
    """``--vocab a,b,c`` or ``1,2,3``: the values of token ids 0, 1, ... (integers if every
    item is one, else strings)."""
    items = [v.strip() for v in text.split(",")]
    if any(not v for v in items):
        raise ChallengeError(f"--vocab takes values separated by commas, e.g. a,b,c or 1,2,3 "
                             f"(got {text!r})")
    try:
        values: list[Any] = [int(v) for v in items]
    except ValueError:
        values = items
    if len(set(map(repr, values))) != len(values):
        raise ChallengeError(f"--vocab {text!r} names a value twice")
    if len(values) < 2:
        raise ChallengeError("--vocab needs at least two values")
    if BOS in values:
        raise ChallengeError(f"--vocab may not hold {BOS!r}: it is Tracr's BOS token")
    return values


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def read_program_source(path: Path, max_bytes: int) -> str:
    """The text of the RASP file at ``path``, checked (``check_program_source``)."""
    if not path.is_file():
        raise ChallengeError(f"RASP program {path} not found")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ChallengeError(f"RASP program {path}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise ChallengeError(f"RASP program {path} is {len(data):,} bytes, over {max_bytes:,}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ChallengeError(f"RASP program {path} is not UTF-8 text") from None
    check_program_source(text, path)
    return text


def load_program(path: Path, rasp: Any, max_bytes: int) -> tuple[str, Any]:
    """The source of the RASP file at ``path`` and its output SOp, built with ``rasp``."""
    text = read_program_source(path, max_bytes)
    name = f"_dixit_rasp_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ChallengeError(f"cannot import RASP program {path}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        sop = module.program(rasp)
    except Exception as exc:  # the proposer's own code: any failure is one line
        raise ChallengeError(f"RASP program {path} failed: {_one_line(exc)}") from None
    finally:
        sys.modules.pop(name, None)
    if not isinstance(sop, rasp.SOp):
        raise ChallengeError(f"RASP program {path}: program(rasp) returned a "
                             f"{type(sop).__name__}, not an SOp")
    if rasp.is_numerical(sop):
        raise ChallengeError(f"RASP program {path}: its output SOp is numerical; a challenge "
                             "needs a categorical output, a class per position (e.g. "
                             "rasp.categorical(rasp.Map(f, sop)))")
    return text, sop


def _pad(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    import numpy as np

    out = np.zeros(shape, dtype=np.float32)
    out[tuple(slice(0, n) for n in a.shape)] = a
    return out


def convert(assembled: Any, vocab: list[Any], length: int, output_label: str,
            causal: bool) -> tuple[dict[str, Any], dict[str, torch.Tensor], list[Any]]:
    """(config, state dict, classes) of dixit's transformer equal to Tracr's compiled model
    ``assembled`` on inputs of ``length`` tokens over ``vocab``."""
    import numpy as np
    import torch

    params = {k: {p: np.asarray(v, dtype=np.float32) for p, v in d.items()}
              for k, d in assembled.params.items()}
    cfg = assembled.model_config
    heads, key_size, layers = int(cfg.num_heads), int(cfg.key_size), int(cfg.num_layers)
    tok, pos = params["token_embed"]["embeddings"], params["pos_embed"]["embeddings"]
    resid = tok.shape[1]
    d_head = max(key_size, math.ceil(resid / heads))
    d_model = heads * d_head
    encoding = assembled.input_encoder.encoding_map
    rows = [encoding[v] for v in vocab] + [encoding[BOS]]
    classes = [v for v, _ in sorted(assembled.output_encoder.encoding_map.items(),
                                    key=lambda kv: kv[1])]
    state: dict[str, np.ndarray] = {
        "embed.W_E": _pad(tok[rows], (len(rows), d_model)),
        "pos_embed.W_pos": _pad(pos[: length + 1], (length + 1, d_model)),
    }
    scale = math.sqrt(d_head / key_size)  # Tracr divides scores by sqrt(key_size), we by d_head
    mlp_width = int(cfg.mlp_hidden_size)
    has_mlp = False
    for i in range(layers):
        attn, mlp = f"transformer/layer_{i}/attn", f"transformer/layer_{i}/mlp"
        for ours, theirs, factor in (("Q", "query", scale), ("K", "key", 1.0),
                                     ("V", "value", 1.0)):
            w = params[f"{attn}/{theirs}"]["w"].reshape(resid, heads, key_size)
            b = params[f"{attn}/{theirs}"]["b"].reshape(heads, key_size)
            state[f"blocks.{i}.attn.W_{ours}"] = _pad(w.transpose(1, 0, 2) * factor,
                                                      (heads, d_model, d_head))
            state[f"blocks.{i}.attn.b_{ours}"] = _pad(b * factor, (heads, d_head))
        out = params[f"{attn}/linear"]
        state[f"blocks.{i}.attn.W_O"] = _pad(out["w"].reshape(heads, key_size, resid),
                                             (heads, d_head, d_model))
        state[f"blocks.{i}.attn.b_O"] = _pad(out["b"], (d_model,))
        fst, snd = params[f"{mlp}/linear_1"], params[f"{mlp}/linear_2"]
        has_mlp = has_mlp or any(np.any(a) for a in (*fst.values(), *snd.values()))
        state[f"blocks.{i}.mlp.W_in"] = _pad(fst["w"], (d_model, mlp_width))
        state[f"blocks.{i}.mlp.b_in"] = fst["b"]
        state[f"blocks.{i}.mlp.W_out"] = _pad(snd["w"], (mlp_width, d_model))
        state[f"blocks.{i}.mlp.b_out"] = _pad(snd["b"], (d_model,))
    labels = list(assembled.residual_labels)
    unembed = np.zeros((d_model, len(classes)), dtype=np.float32)
    for j, value in enumerate(classes):
        where = [k for k, name in enumerate(labels) if name == f"{output_label}:{value}"]
        if len(where) != 1:
            raise ChallengeError(f"cannot find the output direction {output_label}:{value} in "
                                 "the compiled model's residual stream")
        unembed[where[0], j] = 1.0
    state["unembed.W_U"] = unembed
    state["unembed.b_U"] = np.zeros(len(classes), dtype=np.float32)
    if not has_mlp:  # no MLP anywhere: attention-only blocks, as TransformerLens has them
        state = {k: v for k, v in state.items() if ".mlp." not in k}
    config: dict[str, Any] = {
        "arch": "transformer", "vocab": len(vocab) + 1, "n_ctx": length + 1,
        "d_model": d_model, "n_heads": heads, "d_mlp": mlp_width, "act": "relu",
        "classes": len(classes), "append_eq": False, "n_layers": layers,
        "attn_only": not has_mlp, "positions": "all", "causal": causal, "prepend_bos": True}
    return config, {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in state.items()}, \
        classes


def compiled_ids(assembled: Any, vocab: list[Any], x: torch.Tensor,
                 tick: Callable[[int], None] = lambda n: None) -> np.ndarray:
    """The compiled model's class id per position on ``x`` (token ids), through JAX."""
    import jax.numpy as jnp
    import numpy as np

    encoding = assembled.input_encoder.encoding_map
    table = np.array([encoding[v] for v in vocab], dtype=np.int32)
    parts = []
    for chunk in x.split(BATCH):
        ids = table[chunk.numpy()]
        bos = np.full((ids.shape[0], 1), encoding[BOS], dtype=np.int32)
        out = assembled.forward(assembled.params, jnp.asarray(np.concatenate([bos, ids], 1)))
        parts.append(np.asarray(out.unembedded_output)[:, 1:])
        tick(len(chunk))
    return np.concatenate(parts).astype(np.int64)


def _check_defined(program: Path, vocab: list[Any], classes: list[Any], x: torch.Tensor,
                   max_bytes: int, tick: Callable[[int], None] = lambda n: None) -> None:
    """Refuse in one line a program that has no class somewhere on the domain (a None, e.g. an
    Aggregate selecting nothing, or a value outside the compiled output space), naming the
    input; evaluated with dixit's own interpreter, as the labeler will."""
    from dixit.challenge import rasp as interpreter

    sop = load_program(program, interpreter, max_bytes)[1]
    known = {(type(v).__name__, v) for v in classes}
    for n, row in enumerate(x.tolist(), 1):
        if n % BATCH == 0:
            tick(BATCH)
        values = [vocab[t] for t in row]
        try:
            out = interpreter.evaluate(sop, values)
        except Exception as exc:  # e.g. an Aggregate averaging strings
            raise ChallengeError(f"RASP program {program} fails on {values}: "
                                 f"{_one_line(exc)}") from None
        for pos, v in enumerate(out):
            if (type(v).__name__, v) not in known:
                what = ("no value (None: an Aggregate that selects nothing, with no default)"
                        if v is None else f"the value {v!r}, outside Tracr's output space")
                raise ChallengeError(f"RASP program {program} gives {what} at position {pos} of "
                                     f"{values}: a challenge needs a class at every position")


def _first_difference(a: np.ndarray, b: np.ndarray, x: torch.Tensor, vocab: list[Any]) -> str:
    import numpy as np

    row = int(np.argwhere(a != b)[0][0])
    return f"e.g. on {[vocab[t] for t in x[row].tolist()]}"


def compile_challenge(out: Path, program: Path, vocab_text: str, max_seq_len: int, *,
                      causal: bool = False, judged: dict[str, Any] | None = None,
                      hints: challenge_hints.Hints | None = None,
                      max_program_bytes: int = 262144,
                      progress: Progress | None = None) -> dict[str, Any]:
    """Compile ``program`` with Tracr over ``vocab_text`` at ``max_seq_len`` tokens, convert
    it, check it on the whole domain and write the challenge folder ``out`` (a labeler
    challenge, output ``sequence:C``). ``progress(done, total)`` follows the checks: three
    passes over the domain (the compiled model, the interpreter, the labeler). Returns the
    summary ``dixit challenge compile`` prints."""
    import numpy as np

    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ChallengeError(f"{out} already exists and is not empty; choose a new folder")
    vocab = parse_vocab(vocab_text)
    if max_seq_len < 1:
        raise ChallengeError("--max-seq-len must be >= 1")
    if len(vocab) ** max_seq_len > MAX_SEQUENCES:
        raise ChallengeError(
            f"{len(vocab)}^{max_seq_len} = {len(vocab) ** max_seq_len:,} sequences: a compiled "
            f"challenge is checked on every one, at most {MAX_SEQUENCES:,}; use fewer values or "
            "a shorter --max-seq-len")
    for key in ("output", "kind"):
        if key in (judged or {}):
            raise ChallengeError(f"a compiled challenge's {key} is fixed (a labeler, a class per "
                                 "position)")
    read_program_source(program, max_program_bytes)  # a bad file is refused before Tracr loads
    compiling, rasp = tracr_modules()
    start = time.perf_counter()
    source, sop = load_program(program, rasp, max_program_bytes)
    try:
        assembled = compiling.compile_rasp_to_model(sop, vocab=set(vocab),
                                                    max_seq_len=max_seq_len, causal=causal,
                                                    compiler_bos=BOS)
    except Exception as exc:  # Tracr raises many types for programs it cannot compile
        raise ChallengeError(f"RASP program {program} does not compile with Tracr: "
                             f"{_one_line(exc)}") from None
    compiled_at = time.perf_counter()
    config, state, classes = convert(assembled, vocab, max_seq_len, sop.label, causal)
    if len(classes) < 2:
        raise ChallengeError(f"RASP program {program}: its output takes the single value "
                             f"{classes[0]!r}; a challenge needs at least two")
    if config["n_layers"] > 12:
        raise ChallengeError(f"the compiled model has {config['n_layers']} layers; dixit's "
                             "transformer holds at most 12")
    module = models.load_state(models.build(config), state, "the converted Tracr model",
                               "transformer")
    domain = domains.parse(f"tokens:{len(vocab)}x{max_seq_len}")
    x = domain.all()
    done = [0]

    def tick(n: int) -> None:
        done[0] += n
        if progress is not None:
            progress(min(done[0], 3 * len(x)), 3 * len(x))

    reference = compiled_ids(assembled, vocab, x, tick)
    ours = models.predict(module, x).numpy()
    agreement = float((ours == reference).mean())
    if agreement < 1.0:
        raise ChallengeError(
            f"the converted model agrees with Tracr's compiled model on {agreement:.4%} of "
            f"positions, not all ({_first_difference(ours, reference, x, vocab)}); nothing "
            "written")
    spec = judged or {}
    how = folder.judging(f"sequence:{len(classes)}", spec.get("metric"), spec.get("threshold"))
    output = scheme.of(how, Rulebook()).output
    done[0] = len(x)
    _check_defined(program, vocab, classes, x, max_program_bytes, tick)
    done[0] = 2 * len(x)
    labeler = labeler_source(source, program.name, vocab, classes)
    if len(labeler) > max_program_bytes:
        raise ChallengeError(f"the labeler made from {program} is {len(labeler):,} bytes, over "
                             f"the rulebook's limit of {max_program_bytes:,}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "labeler.py"
        path.write_bytes(labeler)
        labels = folder.torch_cat(
            (folder.run_labeler_locally(path, chunk, output, max_seq_len), tick(len(chunk)))[0]
            for chunk in x.split(BATCH))
    labeled = labels.numpy()
    labeler_agreement = float((labeled == reference).mean())
    if labeler_agreement < 1.0:
        row = int(np.argwhere(labeled != reference)[0][0])
        values = [vocab[t] for t in x[row].tolist()]
        ours_row = [classes[c] for c in labeled[row]]
        why = (("compiled --causal, the model cannot read the later positions the program "
                "does; " if causal else "") + "Tracr compiled it inexactly (a numerical MLP's "
               "approximation, or a categorical Aggregate selecting several values)"
               if list(rasp.evaluate(sop, values)) == ours_row else
               "dixit's RASP interpreter and tracr.rasp.evaluate disagree here (a bug in "
               "dixit: please report it)")
        raise ChallengeError(
            f"Tracr's compiled model agrees with the RASP program on {labeler_agreement:.4%} "
            f"of positions, not all (e.g. on {values}: the program gives {ours_row}, the "
            f"model {[classes[c] for c in reference[row]]}): {why}; nothing written")
    checked_at = time.perf_counter()
    folder._write(out, source=labeler, config=config, module=module, kind="labeler", flag=None,
                  domain=domain, seed=0, train_frac=1.0, train_accuracy=labeler_agreement,
                  heldout_accuracy=labeler_agreement, labels=labels, extra=how, hints=hints)
    return {
        "out": str(out), "domain": domain.spec, "output": how["output"],
        "sequences": int(x.shape[0]), "positions": int(np.prod(reference.shape)),
        "agreement": agreement, "labeler_agreement": labeler_agreement,
        "vocab": vocab, "classes": classes, "layers": config["n_layers"],
        "heads": config["n_heads"], "d_model": config["d_model"],
        "d_mlp": None if config["attn_only"] else config["d_mlp"],
        "residual": len(assembled.residual_labels), "causal": causal,
        "parameters": models.parameter_count(module),
        "compile_seconds": round(compiled_at - start, 3),
        "check_seconds": round(checked_at - compiled_at, 3),
    }

