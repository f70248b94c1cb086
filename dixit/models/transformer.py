"""``transformer``: one attention + MLP layer over tokens, logits read at the last position.

No LayerNorm (grokking-style). A grid pair (a, b) becomes the tokens a, b, ``=`` with ``=`` the
last vocabulary id. Submodules, parameter names and shapes, and the identity hook points mirror
TransformerLens' ``HookedTransformer`` (``embed.W_E``, ``blocks.0.attn.W_Q``,
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
from dixit.models.config import ACTS, check_size, integer


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


class Attention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, n_ctx: int) -> None:
        super().__init__()
        d_head = d_model // n_heads
        self.n_heads, self.d_head = n_heads, d_head
        self.W_Q = _param(n_heads, d_model, d_head, std=d_model ** -0.5)
        self.W_K = _param(n_heads, d_model, d_head, std=d_model ** -0.5)
        self.W_V = _param(n_heads, d_model, d_head, std=d_model ** -0.5)
        self.W_O = _param(n_heads, d_head, d_model, std=d_model ** -0.5)
        self.b_Q, self.b_K, self.b_V = (_param(n_heads, d_head) for _ in range(3))
        self.b_O = _param(d_model)
        # causal mask: derived, never saved (state dicts stay weights-only)
        self.register_buffer("mask", torch.ones(n_ctx, n_ctx).tril().bool(), persistent=False)
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
        scores = scores.masked_fill(~self.mask[:p, :p], float("-inf"))
        pattern = self.hook_pattern(scores.softmax(dim=-1))  # [batch, heads, q, k]
        z = self.hook_z((pattern @ v).transpose(1, 2))       # [batch, pos, heads, d_head]
        return z.reshape(n, p, -1) @ self.W_O.reshape(-1, d) + self.b_O


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
    def __init__(self, d_model: int, n_heads: int, d_mlp: int, n_ctx: int, act: str) -> None:
        super().__init__()
        self.attn = Attention(d_model, n_heads, n_ctx)
        self.mlp = MLP(d_model, d_mlp, act)
        self.hook_resid_mid = nn.Identity()

    def forward(self, resid: torch.Tensor) -> torch.Tensor:
        # only the last position reaches the logits (one layer), so the MLP runs there only
        mid = self.hook_resid_mid(resid + self.attn(resid))[:, -1]
        return mid + self.mlp(mid)


class Unembed(nn.Module):
    def __init__(self, d_model: int, classes: int) -> None:
        super().__init__()
        self.W_U = _param(d_model, classes, std=d_model ** -0.5)
        self.b_U = _param(classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.W_U + self.b_U


class Transformer(nn.Module):
    """One-layer attention-then-MLP transformer; returns [batch, classes] logits."""

    def __init__(self, *, vocab: int, n_ctx: int, d_model: int, n_heads: int, d_mlp: int,
                 act: str, classes: int, append_eq: bool) -> None:
        super().__init__()
        self.vocab, self.n_ctx, self.append_eq = vocab, n_ctx, append_eq
        self.embed = Embed(vocab, d_model)
        self.pos_embed = PosEmbed(n_ctx, d_model)
        self.blocks = nn.ModuleList([Block(d_model, n_heads, d_mlp, n_ctx, act)])
        self.unembed = Unembed(d_model, classes)
        self.hook_tokens = nn.Identity()

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """The model's token sequence for domain inputs (the ``=`` token appended)."""
        tokens = x.reshape(x.shape[0], -1).long()
        if self.append_eq:
            eq = torch.full((tokens.shape[0], 1), self.vocab - 1, dtype=torch.long)
            tokens = torch.cat([tokens, eq], dim=1)
        if tokens.shape[1] != self.n_ctx:
            raise ValueError(f"inputs make {tokens.shape[1]} tokens; the model's context "
                             f"is {self.n_ctx}")
        return tokens

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.hook_tokens(self.tokens(x))
        resid = self.embed(tokens) + self.pos_embed(tokens)
        for block in self.blocks:
            resid = block(resid)
        return self.unembed(resid)


def from_config(cfg: dict[str, Any]) -> Transformer:
    vocab = integer(cfg, "vocab", 2, 1_000_000)
    n_ctx = integer(cfg, "n_ctx", 1, 4096)
    d_model = integer(cfg, "d_model", 1, 16384)
    n_heads = integer(cfg, "n_heads", 1, 1024)
    d_mlp = integer(cfg, "d_mlp", 1, 65536)
    classes = integer(cfg, "classes", 2, 1_000_000)
    act, append = cfg["act"], cfg["append_eq"]
    if act not in ACTS:
        raise ValueError(f"act must be one of {', '.join(ACTS)}, not {act!r}")
    if not isinstance(append, bool):
        raise ValueError("append_eq must be true or false")
    if d_model % n_heads:
        raise ValueError(f"d_model ({d_model}) must be a multiple of n_heads ({n_heads})")
    if append and n_ctx < 2:
        raise ValueError("n_ctx must leave room for the appended '=' token")
    check_size((vocab + n_ctx + 4 * d_model + 2 * d_mlp + classes + 4) * d_model
               + d_mlp + classes)
    return Transformer(vocab=vocab, n_ctx=n_ctx, d_model=d_model, n_heads=n_heads,
                       d_mlp=d_mlp, act=act, classes=classes, append_eq=append)


def transformer_lens_config(config: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments of TransformerLens' ``HookedTransformerConfig`` for a transformer
    config: a HookedTransformer built with them takes our state dict as it is (load it with
    ``strict=False``: only its own mask/IGNORE buffers are missing) and its logits at the last
    position equal ours, given the same tokens (``model.tokens(x)`` appends the ``=``)."""
    if config.get("arch") != "transformer":
        raise ChallengeError(f"a {config.get('arch')} model has no TransformerLens equivalent")
    d_model, heads = int(config["d_model"]), int(config["n_heads"])
    return {"n_layers": 1, "d_model": d_model, "n_heads": heads, "d_head": d_model // heads,
            "d_mlp": int(config["d_mlp"]), "d_vocab": int(config["vocab"]),
            "d_vocab_out": int(config["classes"]), "n_ctx": int(config["n_ctx"]),
            "act_fn": str(config["act"]), "normalization_type": None}
