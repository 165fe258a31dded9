"""An encoder-decoder (sequence-to-sequence) model (Sutskever et al. 2014, Cho et al. 2014), optionally with
attention over the encoder outputs (Bahdanau et al. 2014, Luong et al. 2015).

Besides teacher-forced :meth:`Seq2Seq.forward`, the model speaks the step protocol that decoding (greedy, beam
search) is written against::

    state = model.start(src, src_lengths)            # encode once
    log_probs, state = model.step(tokens, state)     # one decoder step: [N] -> [N, V] float32
    state = model.reorder(state, index)              # keep / repeat rows (beams)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from seqlab.nn.attention import Attention
from seqlab.nn.errors import NetSettingError
from seqlab.nn.language_model import output_layers
from seqlab.nn.pooling import lengths_to_mask
from seqlab.nn.recurrent import Cell, RecurrentStack, State

Seq2SeqAttention = Literal["none", "additive", "dot", "general"]


@dataclass
class Seq2SeqState:
    """What one decoder step needs: the fixed encoder side, one row per source, and the decoder side, one
    row per hypothesis. Row ``r`` reads source ``r // rows_per_source``, so a beam search's K rows per
    sentence share one copy of their sentence's memory, keys and mask, indexed once per beam set rather
    than re-gathered at every step. Every tensor has its rows in dim 0, except ``hidden`` (dim 1, as
    torch's recurrent layers keep it).

    Attributes:
        memory: encoder outputs [G, S, H], zero on padding (masked once, never again per step).
        mask: [G, S], True on real source tokens.
        hidden: decoder state [layers, N, H] (an ``(h, c)`` pair for LSTM), N = G * rows_per_source.
        feed: the previous attentional state h~ [N, H] (input feeding), ``None`` without input feeding.
        projected_keys: the attention's per-source precomputation [G, S, A] (additive: ``W_k memory``), else
            ``None``.
        attention: the last step's attention weights [N, S] (float32), ``None`` before the first step or
            without attention.
        rows_per_source: decoder rows per source row (the beam size in a beam search, else 1).
    """

    memory: torch.Tensor
    mask: torch.Tensor
    hidden: State
    feed: torch.Tensor | None = None
    projected_keys: torch.Tensor | None = None
    attention: torch.Tensor | None = None
    rows_per_source: int = 1

    @property
    def rows(self) -> int:
        """N, the decoder rows."""
        return (self.hidden[0] if isinstance(self.hidden, tuple) else self.hidden).size(1)

    def index_select(self, index: torch.Tensor) -> Seq2SeqState:
        """The state of rows ``index`` [N'] (a permutation, a subset or repeats).

        The identity returns the state itself. The decoder side is always gathered; the encoder side only
        when the sources change: where each source's new rows are consecutive and equally many (beams
        forked or pruned within their sentence, finished sentences dropped), it keeps one row per source.
        """
        index = index.to(self.memory.device)
        n = self.rows
        if index.numel() == n and torch.equal(index, torch.arange(n, device=index.device)):
            return self

        def rows(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.index_select(0, index)

        if isinstance(self.hidden, tuple):
            hidden: State = tuple(h.index_select(1, index) for h in self.hidden)  # type: ignore[assignment]
        else:
            hidden = self.hidden.index_select(1, index)
        source = torch.div(index, self.rows_per_source, rounding_mode="floor")
        sources, counts = torch.unique_consecutive(source, return_counts=True)
        if bool((counts == counts[0]).all()):
            per_source = int(counts[0])
        else:  # uneven repeats: one source row per decoder row
            sources, per_source = source, 1
        same = sources.numel() == self.memory.size(0) and torch.equal(
            sources, torch.arange(sources.numel(), device=sources.device)
        )

        def fixed(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None or same else t.index_select(0, sources)

        return Seq2SeqState(
            memory=self.memory if same else self.memory.index_select(0, sources),
            mask=self.mask if same else self.mask.index_select(0, sources),
            hidden=hidden,
            feed=rows(self.feed),
            projected_keys=self.projected_keys if same else fixed(self.projected_keys),
            attention=rows(self.attention),
            rows_per_source=per_source,
        )


@dataclass(frozen=True)
class Seq2SeqConfig:
    """The architecture of a :class:`Seq2Seq` (the ``net`` of ``TransductionTask``).

    Attributes:
        cell: recurrent cell of encoder and decoder (``lstm``, ``gru``, ``rnn_tanh``, ``rnn_relu``,
            ``mingru``, ``minlstm``).
        embedding_size: width of both embeddings.
        hidden_size: decoder state width, and encoder width over both directions (must be even when
            bidirectional).
        encoder_layers: stacked encoder layers.
        decoder_layers: stacked decoder layers.
        bidirectional_encoder: read the source in both directions.
        attention: ``none`` (the fixed-vector bottleneck), ``additive`` (Bahdanau), ``dot`` or ``general``
            (Luong).
        input_feeding: feed the previous attentional state to the decoder (Luong; ignored without
            attention).
        dropout: dropout on embeddings, between stacked layers and before the output layer.
        tie_target_embeddings: the output layer shares the target embedding matrix (a projection from
            ``hidden_size`` to ``embedding_size`` is added when they differ).
        orthogonal_init: orthogonal recurrent matrices at initialisation.
        forget_bias: LSTM forget-gate bias at initialisation.
    """

    cell: Cell = "lstm"
    embedding_size: int = 128
    hidden_size: int = 256
    encoder_layers: int = 1
    decoder_layers: int = 1
    bidirectional_encoder: bool = True
    attention: Seq2SeqAttention = "additive"
    input_feeding: bool = True
    dropout: float = 0.2
    tie_target_embeddings: bool = False
    orthogonal_init: bool = True
    forget_bias: float | None = 1.0


class Seq2Seq(nn.Module):
    """Encoder-decoder over token ids, with right-padded sources packed away (padding never changes a
    prediction).

    Encoder: embedding -> (optionally bidirectional) recurrent stack. With a bidirectional encoder each
    direction has ``hidden_size // 2`` units, so the memory (both directions side by side) is ``hidden_size``
    wide like the decoder: dot attention works and the bridge is square.

    Bridge: the decoder's initial state is ``tanh(W_l s + b_l)`` per decoder layer ``l``, where ``s`` is the
    encoder's final state of one layer with both directions concatenated (for LSTM, ``h`` and ``c`` each get
    their own map). With as many encoder as decoder layers, layer ``l`` maps from encoder layer ``l``;
    otherwise every decoder layer maps from the top encoder layer (the most abstract summary).

    Decoder: a recurrent stack stepped one token at a time. With attention, the top state ``h`` queries the
    memory for a context ``c`` and the attentional state ``h~ = tanh(W_c [c; h])`` feeds the output layer;
    with ``input_feeding`` (Luong et al. 2015) the previous ``h~`` is concatenated to the next input
    embedding, so the decoder knows what it attended to. ``attention="none"`` is the fixed-vector bottleneck
    of Sutskever et al.: the decoder sees the source only through the bridged state, and the output comes
    from ``h`` directly.

    Args:
        source_vocab_size: source token ids.
        target_vocab_size: target token ids (the output layer's size).
        config: the architecture (:class:`Seq2SeqConfig`).
        pad_id: padding id (of both vocabularies); its embedding rows are zero.
        bos_id: target begin-of-sequence id: decoder inputs start with it.
        eos_id: target end-of-sequence id: decoding stops at it.
    """

    def __init__(
        self,
        source_vocab_size: int,
        target_vocab_size: int,
        config: Seq2SeqConfig = Seq2SeqConfig(),
        pad_id: int = 0,
        bos_id: int = 1,
        eos_id: int = 2,
    ) -> None:
        super().__init__()
        c = config
        if c.attention not in ("none", "additive", "dot", "general"):
            raise NetSettingError(
                f"attention must be one of none, additive, dot, general; got {c.attention!r}"
            )
        directions = 2 if c.bidirectional_encoder else 1
        hidden_size = c.hidden_size
        if hidden_size % directions:
            raise NetSettingError(f"a bidirectional encoder needs an even hidden_size, got {hidden_size}")
        self.source_vocab_size, self.target_vocab_size = source_vocab_size, target_vocab_size
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.hidden_size, self.directions = hidden_size, directions
        self.input_feeding = c.input_feeding and c.attention != "none"

        self.source_embedding = nn.Embedding(source_vocab_size, c.embedding_size, padding_idx=pad_id)
        self.target_embedding = nn.Embedding(target_vocab_size, c.embedding_size, padding_idx=pad_id)
        self.drop = nn.Dropout(c.dropout)
        recurrent = {"dropout": c.dropout, "orthogonal_init": c.orthogonal_init, "forget_bias": c.forget_bias}
        self.encoder = RecurrentStack(
            c.cell,
            c.embedding_size,
            hidden_size // directions,
            c.encoder_layers,
            bidirectional=c.bidirectional_encoder,
            **recurrent,
        )
        self.bridge = nn.ModuleList(nn.Linear(hidden_size, hidden_size) for _ in range(c.decoder_layers))
        self.bridge_cell = (
            nn.ModuleList(nn.Linear(hidden_size, hidden_size) for _ in range(c.decoder_layers))
            if c.cell == "lstm"
            else None
        )
        decoder_input = c.embedding_size + (hidden_size if self.input_feeding else 0)
        self.decoder = RecurrentStack(c.cell, decoder_input, hidden_size, c.decoder_layers, **recurrent)
        self.attention: Attention | None = None
        self.combine: nn.Linear | None = None
        if c.attention != "none":
            self.attention = Attention(c.attention, hidden_size, hidden_size)
            self.combine = nn.Linear(2 * hidden_size, hidden_size, bias=False)
        self.projection, self.output = output_layers(
            self.target_embedding, hidden_size, c.tie_target_embeddings
        )

    # ---- encoder ---------------------------------------------------------------------------------------
    def encode(
        self, src: torch.Tensor, src_lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, State]:
        """Memory [B, S, H] (zero on padding), mask [B, S] and the decoder's initial state, for right-padded
        ``src`` [B, S] with ``src_lengths`` [B] (all >= 1)."""
        lengths = src_lengths.to(src.device)
        memory, final = self.encoder(self.drop(self.source_embedding(src)), lengths=lengths)
        mask = lengths_to_mask(lengths, src.size(1))
        if isinstance(final, tuple):
            assert self.bridge_cell is not None
            hidden: State = (self._bridge(final[0], self.bridge), self._bridge(final[1], self.bridge_cell))
        else:
            hidden = self._bridge(final, self.bridge)
        return memory, mask, hidden

    def _bridge(self, final: torch.Tensor, maps: nn.ModuleList) -> torch.Tensor:
        """Encoder final states [layers * directions, B, h] -> decoder initial states [dec_layers, B, H]."""
        layers, batch = self.encoder.num_layers, final.size(1)
        # torch orders states layer-major, forward before backward: put a layer's directions side by side.
        per_layer = final.view(layers, self.directions, batch, -1).transpose(1, 2).reshape(layers, batch, -1)
        same = layers == len(maps)
        return torch.stack([torch.tanh(m(per_layer[i if same else -1])) for i, m in enumerate(maps)])

    # ---- decoder ---------------------------------------------------------------------------------------
    def _attend(self, h: torch.Tensor, state: Seq2SeqState) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attentional states h~ [N, T, H] and weights [N, T, S] for decoder outputs ``h`` [N, T, H]; with
        several rows per source (one step of a beam search, T = 1) each source's rows query its memory
        together, so the memory is never copied per row."""
        if self.attention is None or self.combine is None:
            return h, None
        k = state.rows_per_source
        query = h if k == 1 else h.reshape(-1, k, h.size(-1))
        context, weights = self.attention(
            query, state.memory, state.mask, state.projected_keys, padding_is_zero=True
        )
        if k > 1:
            context, weights = context.reshape(h.shape), weights.reshape(h.size(0), 1, -1)
        return torch.tanh(self.combine(torch.cat([context, h], dim=-1))), weights

    def _decode(
        self, embedded: torch.Tensor, state: Seq2SeqState
    ) -> tuple[torch.Tensor, torch.Tensor | None, Seq2SeqState]:
        """Run the decoder over embedded inputs [B, T, E]: attentional states [B, T, H], weights [B, T, S]
        (or ``None``) and the state after the last step."""
        if not self.input_feeding:
            # Nothing flows back from one step's output to the next input: one fused call over all steps.
            h, hidden = self.decoder(embedded, state.hidden)
            out, weights = self._attend(h, state)
            last = None if weights is None else weights[:, -1]
            return out, weights, dataclasses.replace(state, hidden=hidden, attention=last)
        hidden, feed = state.hidden, state.feed
        assert feed is not None
        outs, all_weights = [], []
        for t in range(embedded.size(1)):
            x = torch.cat([embedded[:, t], feed], dim=-1).unsqueeze(1)
            h, hidden = self.decoder(x, hidden)
            out, weights = self._attend(h, state)
            assert weights is not None
            feed = out.squeeze(1)
            outs.append(out)
            all_weights.append(weights)
        weights = torch.cat(all_weights, dim=1)
        new_state = dataclasses.replace(state, hidden=hidden, feed=feed, attention=weights[:, -1])
        return torch.cat(outs, dim=1), weights, new_state

    def _logits(self, out: torch.Tensor) -> torch.Tensor:
        return self.output(self.projection(self.drop(out)))

    # ---- teacher forcing ---------------------------------------------------------------------------------
    def forward(
        self,
        src: torch.Tensor,
        src_lengths: torch.Tensor,
        tgt_in: torch.Tensor,
        return_attention: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor | None]:
        """Teacher-forced logits [B, T, V] for decoder inputs ``tgt_in`` [B, T] (starting with BOS).

        With ``return_attention``, returns ``(logits, weights [B, T, S] float32)``; the weights are ``None``
        without attention. Target padding needs no lengths: the decoder runs left to right, so positions
        after a target's end never affect the ones before it (mask them in the loss).
        """
        state = self.start(src, src_lengths)
        out, weights, _ = self._decode(self.drop(self.target_embedding(tgt_in)), state)
        logits = self._logits(out)
        return (logits, weights) if return_attention else logits

    # ---- step protocol -------------------------------------------------------------------------------
    def start(self, src: torch.Tensor, src_lengths: torch.Tensor) -> Seq2SeqState:
        """Encode once: the state before the first decoder step (feed it BOS)."""
        memory, mask, hidden = self.encode(src, src_lengths)
        memory = memory.masked_fill(~mask.unsqueeze(-1), 0.0)  # once: attention then never re-masks it
        projected = self.attention.precompute(memory, mask) if self.attention is not None else None
        feed = memory.new_zeros(memory.size(0), self.hidden_size) if self.input_feeding else None
        return Seq2SeqState(memory, mask, hidden, feed=feed, projected_keys=projected)

    def step(self, tokens: torch.Tensor, state: Seq2SeqState) -> tuple[torch.Tensor, Seq2SeqState]:
        """One decoder step: log-probabilities [N, V] (float32) of the token after ``tokens`` [N], and the new
        state (``state`` itself is left unchanged, so a search may keep it)."""
        embedded = self.drop(self.target_embedding(tokens)).unsqueeze(1)
        out, _, state = self._decode(embedded, state)
        return torch.log_softmax(self._logits(out.squeeze(1)).float(), dim=-1), state

    def reorder(self, state: Seq2SeqState, index: torch.Tensor) -> Seq2SeqState:
        """Keep / repeat / permute the rows of ``state`` by ``index`` [N'] (e.g. surviving beams)."""
        return state.index_select(index)

    def attention_weights(self, state: Seq2SeqState) -> torch.Tensor | None:
        """The last step's attention weights [N, S] (float32), or ``None`` (no attention, or no step yet)."""
        return state.attention
