"""How far back the loss reaches: ||d loss_T / d h_t|| against the distance T-1-t (plain PyTorch).

The fused kernels (``nn.LSTM/GRU/RNN`` over a whole sequence) expose per-step outputs that are *not*
inputs of later steps, so their gradients see only the direct path to the loss. To measure the
gradient that flows back through the recurrence, the same modules are run one step at a time with
the state fed back, and the gradient is taken with respect to each step's carried hidden state.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F

from seqlab.nn import RecurrentLM, RecurrentStack, State


def unroll(
    stack: RecurrentStack, x: torch.Tensor, state: State | None = None
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Run ``stack`` over ``x`` [B, T, F] one step at a time.

    Returns the top layer's outputs [B, T, H] (equal to the fused forward's) and, for every step,
    the hidden state [layers, B, H] that the next step consumes: the graph nodes whose gradients
    are the ones that flow back through time. For an LSTM that is ``h``; the cell state ``c`` is
    carried alongside but not returned (``h`` is what the layer above and the output layer see).
    """
    if stack.bidirectional:
        raise ValueError("a bidirectional stack cannot be unrolled forwards one step at a time")
    outputs, hiddens = [], []
    for t in range(x.size(1)):
        out, state = stack(x[:, t : t + 1], state)
        outputs.append(out)
        hiddens.append(state[0] if isinstance(state, tuple) else state)
    return torch.cat(outputs, dim=1), hiddens


def hidden_gradient_norms(
    stack: RecurrentStack,
    x: torch.Tensor,
    last_step_loss: Callable[[torch.Tensor], torch.Tensor],
    layer: int = -1,
) -> torch.Tensor:
    """Mean over the batch of ||d loss / d h_t|| for one layer, indexed by distance ``T-1-t`` [T].

    ``last_step_loss`` maps the top layer's last hidden state [B, H] to a loss *summed* over the
    batch, so each sequence's gradient is its own loss's (sequences do not interact). The stack runs
    in eval mode (no dropout) so the measurement is deterministic; its mode is restored afterwards.
    """
    was_training = stack.training
    stack.eval()
    try:
        with torch.enable_grad():
            _, hiddens = unroll(stack, x)
            loss = last_step_loss(hiddens[-1][-1])
            # autograd.grad instead of retain_grad + backward: no .grad is left on the parameters.
            grads = torch.autograd.grad(loss, hiddens)
    finally:
        stack.train(was_training)
    # Norms in float64: squaring float32 entries below ~1e-19 would underflow to an exact zero.
    norms = torch.stack([g[layer].double().norm(dim=-1).mean() for g in grads])
    return norms.flip(0)


def language_model_gradient_norms(
    lm: RecurrentLM,
    ids: torch.Tensor,
    targets: torch.Tensor,
    layer: int = -1,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """:func:`hidden_gradient_norms` of a language model: the loss is the next-token cross-entropy at
    the last position of ``ids`` [B, T] (target ``targets[:, -1]``).

    Measured on an eval-mode copy in ``dtype``: float64 keeps decays far below float32's range
    (an untrained GRU reaches 1e-60 within 200 steps) measurable instead of flushing them to zero.
    """
    lm = copy.deepcopy(lm).to(dtype).eval()  # the caller's model keeps its dtype, mode and .grad

    def loss(h: torch.Tensor) -> torch.Tensor:
        logits = lm.output(lm.projection(h))
        return F.cross_entropy(logits, targets[:, -1], reduction="sum")

    with torch.enable_grad():
        return hidden_gradient_norms(lm.rnn, lm.embedding(ids), loss, layer)


def ratio(norms: torch.Tensor, far: int, near: int = 1) -> float:
    """``norms[far] / norms[near]``: how much of the gradient survives ``far - near`` more steps."""
    return float(norms[far] / norms[near])
