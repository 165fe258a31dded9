"""An exported encoder-decoder as a :class:`~seqlab.nn.search_rules.StepDecoder`: the searches of
``seqlab.nn.search`` (greedy, beam, sampling) drive its two graphs unchanged, on either backend.

The encoder side stays as the encoder graph gave it, one row per source; reordering hypotheses moves
only the decoder state and ``rows`` (each hypothesis's source row), which the step graph uses to
gather what it attends to.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import torch

from seqlab.data.modules.transduction import BOS, EOS, PAD
from seqlab.inference.export.bundle import Bundle, ExportError, open_graph
from seqlab.inference.export.seq2seq_graphs import NEXT
from seqlab.inference.kinds import verb_of_kind

ENCODER_KIND = "encoder-decoder"


@dataclasses.dataclass
class ExportedState:
    """The encoder side [G, ...] (fixed), each decoder row's source row [N], and the decoder state."""

    encoder: dict[str, torch.Tensor]
    rows: torch.Tensor
    decoder: dict[str, torch.Tensor]


def _row_axis(name: str) -> int:
    return 1 if name in ("hidden", "cell") else 0


class ExportedSeq2Seq:
    """The ``encoder`` and ``decoder_step`` graphs of an export folder, stepped like ``Seq2Seq``."""

    bos_id, eos_id, pad_id = BOS, EOS, PAD

    def __init__(self, bundle: Bundle, backend: Literal["torch", "onnxruntime"], threads: int = 0) -> None:
        if bundle.kind != ENCODER_KIND:
            verb = verb_of_kind(bundle.kind)
            use = f"; use seqlab {verb} for it" if verb else ""
            raise ExportError(
                f"{bundle.folder} holds an exported {bundle.kind} model, not an {ENCODER_KIND}{use}"
            )
        self.encoder = open_graph(bundle, "encoder", backend, threads)
        self.decoder_step = open_graph(bundle, "decoder_step", backend, threads)
        graphs = bundle.manifest["graphs"]
        self.state_names = [n.removeprefix(NEXT) for n in graphs["decoder_step"]["outputs"][1:]]
        self.side_names = [n for n in graphs["encoder"]["outputs"] if n not in self.state_names]

    def start(self, src: torch.Tensor, src_lengths: torch.Tensor) -> ExportedState:
        out = self.encoder(source=src, source_lengths=src_lengths)
        named = dict(zip(self.side_names + self.state_names, out, strict=True))
        return ExportedState(
            encoder={n: named[n] for n in self.side_names},
            rows=torch.arange(src.size(0)),
            decoder={n: named[n] for n in self.state_names},
        )

    def step(self, tokens: torch.Tensor, state: ExportedState) -> tuple[torch.Tensor, ExportedState]:
        log_probs, *new = self.decoder_step(tokens=tokens, rows=state.rows, **state.decoder, **state.encoder)
        return log_probs, dataclasses.replace(state, decoder=dict(zip(self.state_names, new, strict=True)))

    def reorder(self, state: ExportedState, index: torch.Tensor) -> ExportedState:
        return dataclasses.replace(
            state,
            rows=state.rows.index_select(0, index),
            decoder={n: t.index_select(_row_axis(n), index) for n, t in state.decoder.items()},
        )


@dataclasses.dataclass(frozen=True)
class RecordedDecoding:
    """The decoding settings the exported model was evaluated with (the manifest's ``decoding``), the
    defaults of ``seqlab decode`` as a checkpoint's task gives them."""

    eval_beam_size: int
    length_penalty: float
    max_decode_length: int
    max_decode_ratio: float | None

    @classmethod
    def of(cls, bundle: Bundle) -> RecordedDecoding:
        recorded = bundle.decoding
        names = [field.name for field in dataclasses.fields(cls)]
        missing = [name for name in names if name not in recorded]
        if missing:
            raise ExportError(
                f"{bundle.folder / 'manifest.json'}: its decoding settings lack {', '.join(missing)}"
            )
        return cls(**{name: recorded[name] for name in names})


class ExportedTransducer:
    """An export folder's encoder-decoder as ``seqlab decode`` uses a ``TransductionTask``: ``model``
    for the searches to step, and the decoding settings it was evaluated with under the task's names."""

    device = torch.device("cpu")

    def __init__(self, bundle: Bundle, backend: Literal["torch", "onnxruntime"], threads: int = 0) -> None:
        self.model = ExportedSeq2Seq(bundle, backend, threads)
        recorded = RecordedDecoding.of(bundle)
        self.eval_beam_size, self.length_penalty = recorded.eval_beam_size, recorded.length_penalty
        self.max_decode_length, self.max_decode_ratio = recorded.max_decode_length, recorded.max_decode_ratio
