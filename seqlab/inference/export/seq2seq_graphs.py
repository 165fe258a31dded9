"""The graphs of an encoder-decoder (``TransductionTask``): the search stays on the host, the model is
two graphs.

- ``encoder``: ``source`` [B, S], ``source_lengths`` [B] -> the encoder side, one row per source
  (``memory`` [B, S, H] zero on padding, ``mask`` [B, S], and the additive attention's projected
  ``keys`` [B, S, A]; none of them without attention), then the decoder's initial state (``hidden``
  [layers, B, H], ``cell`` for LSTM, ``feed`` [B, H] with input feeding).
- ``decoder_step``: previous ``tokens`` [N], ``rows`` [N] (the source row each hypothesis reads), the
  decoder state of the N rows and the encoder side as the encoder gave it -> ``log_probs`` [N, V] and
  the new decoder state (``next_hidden``, ...). The graph gathers each row's memory, keys and mask
  itself, so the host never copies them per hypothesis: reordering beams only moves the small decoder
  state and ``rows``.

Both graphs are the model's own ``start`` and ``step`` traced, so they compute what PyTorch computes.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from seqlab.inference.export.bundle import Graph
from seqlab.nn.seq2seq import Seq2Seq, Seq2SeqState

NEXT = "next_"  # the step's new state: ``next_hidden`` (an ONNX graph names each value once)


def encoder_side_names(model: Seq2Seq) -> list[str]:
    """The encoder outputs the decoder step reads (none without attention)."""
    if model.attention is None:
        return []
    return ["memory", "mask"] + (["keys"] if model.attention.kind == "additive" else [])


def state_names(model: Seq2Seq) -> list[str]:
    """The decoder state's tensors, in graph order."""
    lstm = model.bridge_cell is not None
    return ["hidden"] + (["cell"] if lstm else []) + (["feed"] if model.input_feeding else [])


class Seq2SeqEncoderGraph(nn.Module):
    """``model.start`` as flat tensors: encoder side, then the initial decoder state."""

    def __init__(self, model: Seq2Seq) -> None:
        super().__init__()
        self.model = model
        self.side = encoder_side_names(model)

    def forward(self, source: torch.Tensor, source_lengths: torch.Tensor) -> tuple[torch.Tensor, ...]:
        state = self.model.start(source, source_lengths)
        side = {"memory": state.memory, "mask": state.mask, "keys": state.projected_keys}
        return (*(side[name] for name in self.side), *_flat_state(state))


class Seq2SeqStepGraph(nn.Module):
    """``model.step`` as flat tensors, each decoder row reading its source row ``rows[n]``."""

    def __init__(self, model: Seq2Seq) -> None:
        super().__init__()
        self.model = model
        self.side, self.state = encoder_side_names(model), state_names(model)
        self.inputs = ["tokens"] + (["rows"] if self.side else []) + self.state + self.side

    def forward(self, tokens: torch.Tensor, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        named = dict(zip(self.inputs[1:], tensors, strict=True))
        hidden = (named["hidden"], named["cell"]) if "cell" in named else named["hidden"]
        if self.side:
            rows = named["rows"]
            memory = named["memory"].index_select(0, rows)
            mask = named["mask"].index_select(0, rows)
            keys = named["keys"].index_select(0, rows) if "keys" in named else None
        else:  # no attention: the step never reads the encoder side
            memory = mask = keys = None
        state = Seq2SeqState(memory, mask, hidden, feed=named.get("feed"), projected_keys=keys)  # type: ignore[arg-type]
        log_probs, state = self.model.step(tokens, state)
        return (log_probs, *_flat_state(state))


def _flat_state(state: Seq2SeqState) -> list[torch.Tensor]:
    hidden = list(state.hidden) if isinstance(state.hidden, tuple) else [state.hidden]
    return hidden + ([state.feed] if state.feed is not None else [])


def seq2seq_graphs(task: Any) -> list[Graph]:
    """The ``encoder`` and ``decoder_step`` graphs of a ``TransductionTask`` (see the module)."""
    model: Seq2Seq = task.model
    model.eval()
    side, state = encoder_side_names(model), state_names(model)
    # Traced on sizes unlike each other and unlike any model width, so no size is taken for another;
    # every batch and length axis is dynamic.
    sources, length, rows = 2, 5, 3
    source = torch.full((sources, length), model.pad_id, dtype=torch.long)
    source[0, :] = source[1, :3] = model.source_vocab_size - 1
    lengths = torch.tensor([length, 3])
    encoder = Graph(
        name="encoder",
        module=Seq2SeqEncoderGraph(model),
        example=(source, lengths),
        inputs=["source", "source_lengths"],
        outputs=side + state,
        dynamic={"source": {0: "sources", 1: "source_length"}, "source_lengths": {0: "sources"}},
    )
    with torch.no_grad():
        encoded = dict(zip(side + state, Seq2SeqEncoderGraph(model)(source, lengths), strict=True))
    row_of = torch.tensor([0, 1, 1])
    step = Seq2SeqStepGraph(model)
    example: dict[str, torch.Tensor] = {
        "tokens": torch.full((rows,), model.bos_id, dtype=torch.long),
        "rows": row_of,
        **{name: encoded[name] for name in side},
        **{
            name: encoded[name].index_select(1 if name in ("hidden", "cell") else 0, row_of) for name in state
        },
    }
    dynamic: dict[str, dict[int, str]] = {"tokens": {0: "rows"}, "rows": {0: "rows"}}
    dynamic |= {name: {1 if name in ("hidden", "cell") else 0: "rows"} for name in state}
    dynamic |= {name: {0: "sources", 1: "source_length"} for name in side}
    decoder_step = Graph(
        name="decoder_step",
        module=step,
        example=tuple(example[name] for name in step.inputs),
        inputs=step.inputs,
        outputs=["log_probs", *(NEXT + name for name in state)],
        dynamic={name: axes for name, axes in dynamic.items() if name in step.inputs},
    )
    return [encoder, decoder_step]


def seq2seq_decoding(task: Any) -> dict[str, Any]:
    """The decoding settings the task was evaluated with, as the manifest records them."""
    return {
        "eval_beam_size": task.eval_beam_size,
        "length_penalty": task.length_penalty,
        "max_decode_length": task.max_decode_length,
        "max_decode_ratio": task.max_decode_ratio,
    }
