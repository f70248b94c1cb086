"""A rank-one model edit in the style of ROME (Meng et al., 2022) on our transformer.

ROME treats an MLP's output projection as a linear associative memory: the value it writes
for a key ``k`` (the MLP's hidden activation, the input of ``W_out``) is ``W k``. To make a
subject's key ``k*`` write ``v*`` instead, while disturbing the values of other keys as little
as possible under their covariance ``C = E[k k^T]``, the least-squares solution is

    W' = W + (v* - W k*) u^T / (u^T k*),    u = C^{-1} k*.

Here, in TransformerLens' layout (``blocks.{L}.mlp.W_out`` is (d_mlp, d_model) and the MLP
computes ``post @ W_out + b_out``), the same update is ``W_out' = W_out + u d^T / (u . k*)``
with ``d = v* - k*^T W_out`` the change of the MLP's output at the subject's last token:

- ``k*``: the hidden activation ``blocks.{L}.mlp.hook_post`` at the subject's last token of
  the edited prompt. This is ROME's key, the input of the edited projection (the issue calls
  it "the MLP input": the input of ``W_out``, not of ``W_in``). The prompts here have a fixed
  layout (the subject first), so there are no context prefixes to average over, and under
  causal attention the key is the same in every prompt about the subject.
- ``C``: the keys of ``blocks.{L}.mlp.hook_post`` at every position of the inputs the model
  was trained on (its own training distribution: nothing is downloaded), plus a small ridge
  (``RIDGE`` times the mean eigenvalue) since ReLU units that never fire make it singular.
- ``d``: a short Adam optimization of d alone (every weight frozen), taken through the edited
  weights ``W_out + u d^T / (u . k*)`` themselves: the update moves the MLP's output wherever
  a key is not orthogonal to u (other positions of the same prompt too), so what the
  optimization reaches is what the edited model does. Its loss: the new object's
  cross-entropy on the edited prompt, plus the other prompts about the same subject towards
  their current predictions (the edit changes the subject's representation, which every
  relation reads, so without that term the subject's other facts drift with it), plus a small
  pull of d towards 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from dixit.errors import ChallengeError

RIDGE = 1e-2    # of the mean eigenvalue of C, added to its diagonal
STEPS = 200     # Adam steps on d at most
LR = 0.05
STOP_AT = 0.9   # stop once the new object has this probability and the rest are kept
NORM_WEIGHT = 1e-3  # a small pull of d towards 0: the smallest change that does the job


@dataclass
class Edit:
    layer: int
    position: int
    key: torch.Tensor        # k*, (d_mlp,)
    direction: torch.Tensor  # u = C^{-1} k*, (d_mlp,)
    delta: torch.Tensor      # d = v* - k*^T W_out, (d_model,)
    steps: int               # optimization steps taken
    loss: float


def _mlp(model: nn.Module, layer: int) -> nn.Module:
    blocks = getattr(model, "blocks", None)
    if blocks is None or not 0 <= layer < len(blocks):
        raise ChallengeError(f"the model has no block {layer}")
    mlp = getattr(blocks[layer], "mlp", None)
    if mlp is None:
        raise ChallengeError(f"block {layer} has no MLP to edit (an attention-only model)")
    return mlp


def check_layer(model: nn.Module, layer: int) -> None:
    """A layer whose MLP output at an earlier position can still reach the last one: every
    block but the last (whose MLP runs at the last position only, read straight out)."""
    n = len(getattr(model, "blocks", []))
    if n < 2:
        raise ChallengeError("a rank-one edit needs at least 2 layers: the MLP edited at the "
                             "subject and attention after it to carry the fact to the end")
    if not 0 <= layer <= n - 2:
        allowed = "0" if n == 2 else f"0 to {n - 2}"
        raise ChallengeError(f"--layer must be {allowed} in a {n}-layer model: the last "
                             "block's MLP runs after the last attention, so an edit at the "
                             "subject could not reach the prompt's end")
    _mlp(model, layer)


@contextmanager
def _hooked(module: nn.Module, fn: Callable[..., object]) -> Iterator[None]:
    handle = module.register_forward_hook(fn)
    try:
        yield
    finally:
        handle.remove()


def keys(model: nn.Module, x: torch.Tensor, layer: int, batch: int = 1024) -> torch.Tensor:
    """The hidden activations of ``blocks.{layer}.mlp`` (``hook_post``): (N, P, d_mlp)."""
    hook = _mlp(model, layer).hook_post
    out: list[torch.Tensor] = []
    with _hooked(hook, lambda _m, _i, o: out.append(o.detach())), torch.no_grad():
        for i in range(0, len(x), batch):
            model(x[i:i + batch])
    return torch.cat(out)


def covariance(model: nn.Module, x: torch.Tensor, layer: int) -> torch.Tensor:
    """``E[k k^T]`` over every position of ``x`` (float64), with the ridge added."""
    k = keys(model, x, layer).reshape(-1, model.d_mlp).double()
    c = k.T @ k / len(k)
    return c + torch.eye(len(c), dtype=c.dtype) * RIDGE * float(c.diagonal().mean())


def rank_one(model: nn.Module, prompts: torch.Tensor, targets: torch.Tensor, *, layer: int,
             position: int, cov: torch.Tensor, steps: int = STEPS, lr: float = LR) -> Edit:
    """Edit ``blocks.{layer}.mlp.W_out`` of ``model`` in place so that ``prompts[0]`` predicts
    ``targets[0]`` and the other prompts (which share its tokens up to ``position``: the same
    subject) keep ``targets[1:]``; ``position`` is the subject's last token. Returns the edit."""
    check_layer(model, layer)
    mlp = _mlp(model, layer)
    model.eval()
    key = keys(model, prompts[:1], layer)[0, position].double()
    u = torch.linalg.solve(cov.double(), key)
    scale = float(u @ key)
    if not scale > 0:  # C + ridge is positive definite, so only a zero key gets here
        raise ChallengeError(f"the subject's key at layer {layer} is zero (no MLP unit "
                             "fires there): choose another --layer")
    name = f"blocks.{layer}.mlp.W_out"
    params = {n: p.detach() for n, p in model.named_parameters()}
    w, direction = params[name], (u / scale).to(params[name].dtype)
    # d is optimized through the edited weights themselves, W_out + u d^T / (u . k*): the
    # update moves the MLP's output wherever a key is not orthogonal to u (other positions of
    # the same prompts too), so what the optimization reaches is what the edited model does
    delta = torch.zeros(model.d_model, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=lr)
    taken, loss = 0, float("nan")
    while taken < steps:
        taken += 1
        logits = functional_call(model, {**params, name: w + torch.outer(direction, delta)},
                                 (prompts,))
        logp = F.log_softmax(logits.float(), -1)
        target = -logp[0, targets[0]]
        keep = F.nll_loss(logp[1:], targets[1:]) if len(prompts) > 1 else target * 0
        total = target + keep + NORM_WEIGHT * delta.pow(2).sum()
        loss = float(total.detach())
        with torch.no_grad():
            done = bool(logp[0, targets[0]].exp() >= STOP_AT) and bool(
                (logp[1:].argmax(-1) == targets[1:]).all())
        if done:
            break
        opt.zero_grad()
        total.backward()
        opt.step()
    d = delta.detach()
    with torch.no_grad():
        mlp.W_out += torch.outer(direction, d)
    return Edit(layer=layer, position=position, key=key.float(), direction=u.float(),
                delta=d, steps=taken, loss=loss)
