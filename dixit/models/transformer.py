"""``transformer``: attention (+ MLP) blocks over tokens, TransformerLens names and hooks.

The default config is the seed challenge's grokking-style model: one attention + MLP layer, no
LayerNorm, logits read at the last position. A grid pair (a, b) becomes the tokens a, b, ``=``
with ``=`` the last vocabulary id. Optional keys (absent from older configs, whose models are
unchanged): ``n_layers``, ``normalization`` ("none" or "LN": pre-norm LayerNorm),
``attn_only`` (blocks without MLP), ``positions`` ("last": one output per input; "all":
per-position outputs, a language model over token sequences), ``causal`` (false: every position
attends to every other, as Tracr compiles RASP programs) and ``prepend_bos`` (a BOS token, the
last vocabulary id, at position 0, whose output is dropped: Tracr's input convention).
Submodules, parameter names and shapes, and the identity hook points mirror TransformerLens'
``HookedTransformer`` (``embed.W_E``, ``blocks.{i}.attn.W_Q``, ``blocks.{i}.ln1.w``, ``ln_final.w``,
``blocks[0].attn.hook_pattern``, ``blocks[0].mlp.hook_post`` ...), so state dicts move between
the two directly and nnsight traces these modules by name.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dixit.errors import ChallengeError
from dixit.models.config import ACTS, MAX_TRANSFORMER_LAYERS, check_size, integer

NORMALIZATIONS = ("none", "LN")
POSITIONS = ("last", "all")
# Attention scores per input row, summed over heads (n_heads * n_ctx**2): 64 MiB of float32. A
# hostile config within the other caps (1024 heads, 4096 positions) would need 68 GB per input
# to evaluate; this still allows a 1024-token context with 16 heads.
MAX_ATTENTION_SCORES = 1 << 24
LN_EPS = 1e-5  # TransformerLens' default


def _param(*shape: int, std: float | None = None) -> nn.Parameter:
    # std 1/sqrt(fan_in) keeps every layer's output at unit scale; biases start at zero
    t = torch.zeros(*shape) if std is None else torch.randn(*shape) * std
    return nn.Parameter(t)


class Embed(nn.Module):
    def __init__(self, vocab: int, d_model: int) -> None:
        super().__init__()
        self.W_E = _param(vocab, d_model, std=d_model ** -0.5)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.W_E[tokens]


class PosEmbed(nn.Module):
    def __init__(self, n_ctx: int, d_model: int) -> None:
        super().__init__()
        self.W_pos = _param(n_ctx, d_model, std=d_model ** -0.5)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.W_pos[: tokens.shape[1]].unsqueeze(0)


class LayerNorm(nn.Module):
    """TransformerLens' ``LayerNorm`` (``w``, ``b``; eps 1e-5) with its two hook points."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(d_model))
        self.b = nn.Parameter(torch.zeros(d_model))
        self.hook_scale = nn.Identity()
        self.hook_normalized = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x - x.mean(-1, keepdim=True)
        scale = self.hook_scale((x.pow(2).mean(-1, keepdim=True) + LN_EPS).sqrt())
        return self.hook_normalized(x / scale) * self.w + self.b


def _norm(normalization: str, d_model: int) -> nn.Module:
    # like TransformerLens, no normalization is an identity module (no parameters, no names)
    return LayerNorm(d_model) if normalization == "LN" else nn.Identity()


class Attention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, n_ctx: int, causal: bool = True) -> None:
        super().__init__()
        d_head = d_model // n_heads
        self.n_heads, self.d_head, self.n_ctx, self.causal = n_heads, d_head, n_ctx, causal
        self.W_Q = _param(n_heads, d_model, d_head, std=d_model ** -0.5)
        self.W_K = _param(n_heads, d_model, d_head, std=d_model ** -0.5)
        self.W_V = _param(n_heads, d_model, d_head, std=d_model ** -0.5)
        self.W_O = _param(n_heads, d_head, d_model, std=d_model ** -0.5)
        self.b_Q, self.b_K, self.b_V = (_param(n_heads, d_head) for _ in range(3))
        self.b_O = _param(d_model)
        self.hook_pattern = nn.Identity()
        self.hook_z = nn.Identity()

    def _project(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        # [batch, pos, d_model] @ [d_model, heads * d_head] -> [batch, heads, pos, d_head]
        n, p, d = x.shape
        flat = w.permute(1, 0, 2).reshape(d, -1)
        out = (x @ flat).view(n, p, self.n_heads, self.d_head) + b
        return out.transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, p, d = x.shape
        q = self._project(x, self.W_Q, self.b_Q)
        k = self._project(x, self.W_K, self.b_K)
        v = self._project(x, self.W_V, self.b_V)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(self.d_head)
        # causal mask, made per call: a saved [n_ctx, n_ctx] buffer per layer would cost up to
        # 16 MB each and state dicts stay weights-only
        if self.causal:
            mask = torch.ones(p, p, dtype=torch.bool, device=x.device).tril()
            scores = scores.masked_fill(~mask, float("-inf"))
        pattern = self.hook_pattern(scores.softmax(dim=-1))  # [batch, heads, q, k]
        z = self.hook_z((pattern @ v).transpose(1, 2))       # [batch, pos, heads, d_head]
        return z.reshape(n, p, self.n_heads * self.d_head) @ self.W_O.reshape(-1, d) + self.b_O


class MLP(nn.Module):
    def __init__(self, d_model: int, d_mlp: int, act: str) -> None:
        super().__init__()
        self.W_in = _param(d_model, d_mlp, std=d_model ** -0.5)
        self.b_in = _param(d_mlp)
        self.W_out = _param(d_mlp, d_model, std=d_mlp ** -0.5)
        self.b_out = _param(d_model)
        self.act = act
        self.hook_post = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = x @ self.W_in + self.b_in
        post = self.hook_post(F.relu(pre) if self.act == "relu" else F.gelu(pre))
        return post @ self.W_out + self.b_out


class Block(nn.Module):
    """Pre-norm residual block: ``resid + attn(ln1(resid))``, then ``+ mlp(ln2(mid))``.

    ``last_only`` (the last block of a model read at the last position) keeps only the last
    position after attention, so the MLP runs there only and the block returns [batch, d_model].
    """

    def __init__(self, d_model: int, n_heads: int, d_mlp: int, n_ctx: int, act: str, *,
                 normalization: str = "none", attn_only: bool = False,
                 last_only: bool = True, causal: bool = True) -> None:
        super().__init__()
        self.ln1 = _norm(normalization, d_model)
        self.attn = Attention(d_model, n_heads, n_ctx, causal)
        self.attn_only, self.last_only = attn_only, last_only
        if not attn_only:  # TransformerLens' attn-only blocks have neither ln2 nor mlp
            self.ln2 = _norm(normalization, d_model)
            self.mlp = MLP(d_model, d_mlp, act)
        self.hook_resid_mid = nn.Identity()

    def forward(self, resid: torch.Tensor) -> torch.Tensor:
        mid = self.hook_resid_mid(resid + self.attn(self.ln1(resid)))
        if self.last_only:
            mid = mid[:, -1]
        return mid if self.attn_only else mid + self.mlp(self.ln2(mid))


class Unembed(nn.Module):
    def __init__(self, d_model: int, classes: int) -> None:
        super().__init__()
        self.W_U = _param(d_model, classes, std=d_model ** -0.5)
        self.b_U = _param(classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.W_U + self.b_U


class Transformer(nn.Module):
    """Returns [batch, classes] logits (positions "last") or [batch, pos, classes] ("all")."""

    def __init__(self, *, vocab: int, n_ctx: int, d_model: int, n_heads: int, d_mlp: int,
                 act: str, classes: int, append_eq: bool, n_layers: int = 1,
                 normalization: str = "none", attn_only: bool = False,
                 positions: str = "last", causal: bool = True,
                 prepend_bos: bool = False) -> None:
        super().__init__()
        self.vocab, self.n_ctx, self.append_eq = vocab, n_ctx, append_eq
        self.positions, self.causal, self.prepend_bos = positions, causal, prepend_bos
        self.n_heads, self.d_model, self.d_mlp, self.classes = n_heads, d_model, d_mlp, classes
        self.attn_only = attn_only
        self.embed = Embed(vocab, d_model)
        self.pos_embed = PosEmbed(n_ctx, d_model)
        self.blocks = nn.ModuleList([
            Block(d_model, n_heads, d_mlp, n_ctx, act, normalization=normalization,
                  attn_only=attn_only, last_only=positions == "last" and i == n_layers - 1,
                  causal=causal)
            for i in range(n_layers)])
        if normalization == "LN":  # between blocks and unembed, as TransformerLens has it
            self.ln_final = LayerNorm(d_model)
        self.unembed = Unembed(d_model, classes)
        self.hook_tokens = nn.Identity()

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """The model's token sequence for domain inputs (the ``=`` token appended, or the BOS
        token prepended: both are the last vocabulary id)."""
        # the width spelled out (not -1) so an empty batch reshapes too
        tokens = x.reshape(x.shape[0], math.prod(x.shape[1:])).long()
        special = torch.full((tokens.shape[0], 1), self.vocab - 1, dtype=torch.long)
        if self.append_eq:
            tokens = torch.cat([tokens, special], dim=1)
        if self.prepend_bos:
            tokens = torch.cat([special, tokens], dim=1)
        if tokens.shape[1] != self.n_ctx:
            raise ValueError(f"inputs make {tokens.shape[1]} tokens; the model's context "
                             f"is {self.n_ctx}")
        return tokens

    def activations_per_row(self) -> int:
        """Elements of the largest intermediate tensor one input row needs (batch sizing)."""
        p = self.n_ctx
        widths = [self.n_heads * p * p, p * self.d_model, p * self.classes]
        if not self.attn_only:
            widths.append(p * self.d_mlp)
        return max(widths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.hook_tokens(self.tokens(x))
        resid = self.embed(tokens) + self.pos_embed(tokens)
        for block in self.blocks:
            resid = block(resid)
        if self.prepend_bos and self.positions == "all":
            resid = resid[:, 1:]  # the BOS position has no output of its own
        if hasattr(self, "ln_final"):
            resid = self.ln_final(resid)
        return self.unembed(resid)


def _choice(cfg: dict[str, Any], key: str, allowed: tuple[str, ...], default: str) -> str:
    value = cfg.get(key, default)
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{key} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _flag(cfg: dict[str, Any], key: str, default: bool) -> bool:
    value = cfg.get(key, default)
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false, not {value!r}")
    return value


def parameter_total(*, vocab: int, n_ctx: int, d_model: int, d_mlp: int, classes: int,
                    n_layers: int, normalization: str, attn_only: bool) -> int:
    """The parameters a config makes, counted before anything is allocated."""
    ln = 2 * d_model if normalization == "LN" else 0
    attn = 4 * d_model * d_model + 4 * d_model + ln        # W_Q/K/V/O, b_Q/K/V/O, ln1
    mlp = 0 if attn_only else 2 * d_model * d_mlp + d_mlp + d_model + ln
    return ((vocab + n_ctx + classes) * d_model + classes + n_layers * (attn + mlp) + ln)


def from_config(cfg: dict[str, Any]) -> Transformer:
    vocab = integer(cfg, "vocab", 2, 1_000_000)
    n_ctx = integer(cfg, "n_ctx", 1, 4096)
    d_model = integer(cfg, "d_model", 1, 16384)
    n_heads = integer(cfg, "n_heads", 1, 1024)
    d_mlp = integer(cfg, "d_mlp", 1, 65536)
    classes = integer(cfg, "classes", 2, 1_000_000)
    # the keys added with multi-layer models are optional: older configs mean their defaults
    n_layers = integer({"n_layers": cfg.get("n_layers", 1)}, "n_layers", 1,
                       MAX_TRANSFORMER_LAYERS)
    normalization = _choice(cfg, "normalization", NORMALIZATIONS, "none")
    positions = _choice(cfg, "positions", POSITIONS, "last")
    attn_only = _flag(cfg, "attn_only", False)
    causal = _flag(cfg, "causal", True)
    bos = _flag(cfg, "prepend_bos", False)
    act = cfg["act"]
    if not isinstance(act, str) or act not in ACTS:
        raise ValueError(f"act must be one of {', '.join(ACTS)}, not {act!r}")
    append = cfg["append_eq"]
    if not isinstance(append, bool):
        raise ValueError("append_eq must be true or false")
    if d_model % n_heads:
        raise ValueError(f"d_model ({d_model}) must be a multiple of n_heads ({n_heads})")
    if append and n_ctx < 2:
        raise ValueError("n_ctx must leave room for the appended '=' token")
    if append and bos:
        raise ValueError("append_eq and prepend_bos both use the last vocabulary id: choose one")
    if bos and n_ctx < 2:
        raise ValueError("n_ctx must leave room for the prepended BOS token")
    if append and positions == "all":
        raise ValueError("positions = 'all' reads the token sequence as it is: append_eq "
                         "must be false")
    if n_heads * n_ctx * n_ctx > MAX_ATTENTION_SCORES:
        raise ValueError(f"n_heads * n_ctx^2 = {n_heads * n_ctx * n_ctx:,} attention scores "
                         f"per input, over the limit of {MAX_ATTENTION_SCORES:,}")
    check_size(parameter_total(vocab=vocab, n_ctx=n_ctx, d_model=d_model, d_mlp=d_mlp,
                               classes=classes, n_layers=n_layers,
                               normalization=normalization, attn_only=attn_only))
    return Transformer(vocab=vocab, n_ctx=n_ctx, d_model=d_model, n_heads=n_heads,
                       d_mlp=d_mlp, act=act, classes=classes, append_eq=append,
                       n_layers=n_layers, normalization=normalization, attn_only=attn_only,
                       positions=positions, causal=causal, prepend_bos=bos)


def transformer_lens_config(config: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments of TransformerLens' ``HookedTransformerConfig`` for a transformer
    config: a HookedTransformer built with them takes our state dict as it is (load it with
    ``strict=False``: only its own mask/IGNORE buffers are missing) and its logits equal ours,
    given the same tokens (``model.tokens(x)`` appends the ``=`` or prepends the BOS): at the
    last position for positions "last", at every position for "all" (after the BOS with
    ``prepend_bos``: ours has no output there)."""
    if config.get("arch") != "transformer":
        raise ChallengeError(f"a {config.get('arch')} model has no TransformerLens equivalent")
    d_model, heads = int(config["d_model"]), int(config["n_heads"])
    attn_only = bool(config.get("attn_only", False))
    return {"n_layers": int(config.get("n_layers", 1)), "d_model": d_model, "n_heads": heads,
            "d_head": d_model // heads,
            "d_mlp": None if attn_only else int(config["d_mlp"]),
            "d_vocab": int(config["vocab"]), "d_vocab_out": int(config["classes"]),
            "n_ctx": int(config["n_ctx"]), "act_fn": str(config["act"]),
            "normalization_type": "LN" if config.get("normalization") == "LN" else None,
            "attn_only": attn_only,
            # TransformerLens' default is causal: said only for a non-causal model
            **({} if config.get("causal", True) else {"attention_dir": "bidirectional"})}
