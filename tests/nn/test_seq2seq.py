"""Seq2Seq: padding invariance, step == teacher forcing, reorder, bridge, tying, gradients, learning."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seqlab.nn import Seq2SeqConfig
from seqlab.nn.seq2seq import Seq2Seq, Seq2SeqState

SV, TV, E, H = 13, 11, 6, 8
PAD, BOS, EOS = 0, 1, 2


def _model(seed: int = 0, **kwargs) -> Seq2Seq:
    torch.manual_seed(seed)
    options = {"embedding_size": E, "hidden_size": H, "dropout": 0.3} | kwargs
    return Seq2Seq(SV, TV, Seq2SeqConfig(**options)).eval()


def _batch(
    lengths: list[int], t: int = 5, seed: int = 0, junk_padding: bool = False
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded sources (padding is PAD, or random real ids with ``junk_padding``) and BOS-led targets."""
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(3, SV, (len(lengths), max(lengths)), generator=g)
    if not junk_padding:
        for b, n in enumerate(lengths):
            src[b, n:] = PAD
    tgt_in = torch.randint(3, TV, (len(lengths), t), generator=g)
    tgt_in[:, 0] = BOS
    return src, torch.tensor(lengths), tgt_in


def _hidden_tensors(state: Seq2SeqState) -> tuple[torch.Tensor, ...]:
    return state.hidden if isinstance(state.hidden, tuple) else (state.hidden,)


@pytest.mark.parametrize("attention", ["none", "additive", "dot", "general"])
def test_shapes_and_attention_maps(attention: str) -> None:
    model = _model(attention=attention)
    src, lengths, tgt_in = _batch([4, 2, 3], t=5)
    logits, weights = model(src, lengths, tgt_in, return_attention=True)
    assert logits.shape == (3, 5, TV)
    assert torch.equal(model(src, lengths, tgt_in), logits)
    if attention == "none":
        assert weights is None
        return
    assert weights.shape == (3, 5, 4) and weights.dtype == torch.float32
    mask = torch.arange(4) < lengths.unsqueeze(1)
    assert torch.all(weights.masked_select(~mask.unsqueeze(1)) == 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 5))


@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("attention", ["none", "additive", "dot", "general"])
@pytest.mark.parametrize("cell", ["lstm", "gru", "mingru"])
def test_padding_invariance(cell: str, attention: str, bidirectional: bool) -> None:
    """A sentence gets the same logits (and attention) alone as in a batch with much longer sources, even
    when its padding holds real token ids: only the lengths decide what is padding."""
    model = _model(cell=cell, attention=attention, bidirectional_encoder=bidirectional, encoder_layers=2)
    src, lengths, tgt_in = _batch([9, 3, 7], t=5, junk_padding=True)
    logits, weights = model(src, lengths, tgt_in, return_attention=True)
    alone, alone_weights = model(src[1:2, :3], lengths[1:2], tgt_in[1:2], return_attention=True)
    torch.testing.assert_close(logits[1:2], alone, atol=1e-5, rtol=1e-5)
    if attention != "none":
        torch.testing.assert_close(weights[1:2, :, :3], alone_weights, atol=1e-6, rtol=1e-5)
        assert torch.all(weights[1, :, 3:] == 0)
    # The junk is visible to the model where it is not padding: the longest sentence depends on it.
    src2 = src.clone()
    src2[0, 8] = 3 if src[0, 8] != 3 else 4
    assert not torch.allclose(model(src2, lengths, tgt_in)[0], logits[0])


@pytest.mark.parametrize("input_feeding", [True, False])
@pytest.mark.parametrize("attention", ["none", "additive", "dot", "general"])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh", "minlstm"])
def test_step_matches_teacher_forcing(cell: str, attention: str, input_feeding: bool) -> None:
    """start + T steps fed the teacher-forced tokens give the log-probs (and attention) of forward."""
    model = _model(
        cell=cell, attention=attention, input_feeding=input_feeding, encoder_layers=2, decoder_layers=2
    )
    src, lengths, tgt_in = _batch([5, 2, 4], t=6)
    logits, weights = model(src, lengths, tgt_in, return_attention=True)
    expected = torch.log_softmax(logits, -1)
    state = model.start(src, lengths)
    assert model.attention_weights(state) is None
    for t in range(tgt_in.size(1)):
        log_probs, state = model.step(tgt_in[:, t], state)
        assert log_probs.shape == (3, TV) and log_probs.dtype == torch.float32
        torch.testing.assert_close(log_probs, expected[:, t], atol=1e-5, rtol=1e-5)
        if attention == "none":
            assert model.attention_weights(state) is None
        else:
            torch.testing.assert_close(model.attention_weights(state), weights[:, t], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("input_feeding", [True, False])
@pytest.mark.parametrize("attention", ["additive", "dot", "general"])
def test_decoder_follows_the_attention_equations(attention: str, input_feeding: bool) -> None:
    """Against a by-hand decoder: score, masked softmax, context, h~ = tanh(W_c [c; h]), logits from h~, and
    (with input feeding) the previous h~ appended to the next input."""
    model = _model(cell="gru", attention=attention, input_feeding=input_feeding)
    src, lengths, tgt_in = _batch([5, 2, 4], t=4)
    memory, mask, hidden = model.encode(src, lengths)
    att = model.attention
    feed = torch.zeros(3, H)
    expected = []
    for t in range(tgt_in.size(1)):
        x = model.target_embedding(tgt_in[:, t])
        if input_feeding:
            x = torch.cat([x, feed], dim=-1)
        h, hidden = model.decoder.rnn(x.unsqueeze(1), hidden)
        h = h.squeeze(1)
        if attention == "additive":
            hid = torch.tanh(
                (h @ att.query_proj.weight.T).unsqueeze(1)
                + memory @ att.key_proj.weight.T
                + att.key_proj.bias
            )
            scores = (hid @ att.score.weight.T).squeeze(-1)
        elif attention == "general":
            scores = torch.einsum("bq,kq,bsk->bs", h, att.query_proj.weight, memory)
        else:
            scores = torch.einsum("bk,bsk->bs", h, memory)
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
        context = torch.einsum("bs,bsk->bk", weights, memory)
        feed = torch.tanh(torch.cat([context, h], dim=-1) @ model.combine.weight.T)
        expected.append(model.output(feed))
    torch.testing.assert_close(
        model(src, lengths, tgt_in), torch.stack(expected, dim=1), atol=1e-5, rtol=1e-5
    )


def test_protocol_attributes_and_step_leaves_state_alone() -> None:
    model = Seq2Seq(
        SV, TV, Seq2SeqConfig(embedding_size=E, hidden_size=H), pad_id=3, bos_id=4, eos_id=5
    ).eval()
    assert (model.pad_id, model.bos_id, model.eos_id, model.target_vocab_size) == (3, 4, 5, TV)
    src, lengths, _ = _batch([4, 2])
    state = model.start(src, lengths)
    tokens = torch.full((2,), model.bos_id)
    first, after = model.step(tokens, state)
    again, _ = model.step(tokens, state)  # a search may step the same state twice
    assert torch.equal(first, again)
    assert after is not state


@pytest.mark.parametrize("attention", ["none", "additive"])
@pytest.mark.parametrize("cell", ["lstm", "gru", "mingru"])
def test_reorder_permutes_rows(cell: str, attention: str) -> None:
    """Decode two sentences, swap them with reorder: the next step is the swapped next step; repeating rows
    (beam expansion) repeats them, including the LSTM (h, c) whose batch is dim 1."""
    model = _model(cell=cell, attention=attention, decoder_layers=2)
    src, lengths, tgt_in = _batch([5, 3], t=4, seed=3)
    state = model.start(src, lengths)
    for t in range(3):
        _, state = model.step(tgt_in[:, t], state)
    plain, _ = model.step(tgt_in[:, 3], state)
    assert not torch.allclose(plain[0], plain[1])

    swapped_state = model.reorder(state, torch.tensor([1, 0]))
    swapped, _ = model.step(tgt_in[[1, 0], 3], swapped_state)
    torch.testing.assert_close(swapped, plain[[1, 0]])
    for before, after in zip(_hidden_tensors(state), _hidden_tensors(swapped_state), strict=True):
        assert torch.equal(after, before[:, [1, 0]])

    repeated_state = model.reorder(state, torch.tensor([0, 0, 1, 1, 1]))
    assert repeated_state.memory.shape[0] == repeated_state.mask.shape[0] == 5
    for h in _hidden_tensors(repeated_state):
        assert h.shape[1] == 5
    repeated, _ = model.step(tgt_in[[0, 0, 1, 1, 1], 3], repeated_state)
    torch.testing.assert_close(repeated, plain[[0, 0, 1, 1, 1]])

    # The first sentence decoded on its own agrees with its row of the batch.
    alone = model.start(src[:1], lengths[:1])
    for t in range(4):
        alone_lp, alone = model.step(tgt_in[:1, t], alone)
    torch.testing.assert_close(alone_lp[0], plain[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("encoder_layers", "decoder_layers"), [(1, 3), (3, 1), (2, 2)])
@pytest.mark.parametrize("cell", ["lstm", "gru", "minlstm"])
def test_bridge_between_layer_counts(cell: str, encoder_layers: int, decoder_layers: int) -> None:
    """Equal counts map layer-wise; otherwise every decoder layer maps from the top encoder layer (both
    directions concatenated), through tanh(W s + b)."""
    model = _model(cell=cell, encoder_layers=encoder_layers, decoder_layers=decoder_layers)
    src, lengths, tgt_in = _batch([5, 2, 4])
    assert model(src, lengths, tgt_in).shape == (3, 5, TV)
    state = model.start(src, lengths)
    _, final = model.encoder(model.source_embedding(src), lengths=lengths)
    finals = final if isinstance(final, tuple) else (final,)
    maps = [model.bridge, model.bridge_cell] if cell == "lstm" else [model.bridge]
    for enc_state, dec_state, bridge in zip(finals, _hidden_tensors(state), maps, strict=True):
        assert dec_state.shape == (decoder_layers, 3, H)
        per_layer = enc_state.view(encoder_layers, 2, 3, H // 2)  # [layer, direction, batch, h]
        for layer in range(decoder_layers):
            source = per_layer[layer if encoder_layers == decoder_layers else -1]
            expected = torch.tanh(bridge[layer](torch.cat([source[0], source[1]], dim=-1)))
            torch.testing.assert_close(dec_state[layer], expected)


@pytest.mark.parametrize("embedding_size", [E, H])
def test_tied_target_embeddings_share_the_parameter(embedding_size: int) -> None:
    tied = _model(tie_target_embeddings=True, embedding_size=embedding_size)
    untied = _model(embedding_size=embedding_size)
    assert tied.output.weight is tied.target_embedding.weight
    assert untied.output.weight is not untied.target_embedding.weight
    assert isinstance(tied.projection, nn.Linear if embedding_size != H else nn.Identity)
    src, lengths, tgt_in = _batch([4, 2])
    tied(src, lengths, tgt_in).sum().backward()
    assert tied.target_embedding.weight.grad is not None
    # Rows never fed as inputs still learn through the output layer.
    unused = sorted(set(range(3, TV)) - set(tgt_in.flatten().tolist()))
    if unused:
        assert tied.target_embedding.weight.grad[unused].abs().sum() > 0


@pytest.mark.parametrize("attention", ["none", "additive", "dot", "general"])
def test_gradients_reach_the_encoder_through_attention(attention: str) -> None:
    """With the bridge zeroed the only route from encoder to loss is attention: both encoder directions get
    gradients with attention and none without."""
    model = _model(attention=attention, dropout=0.0)
    with torch.no_grad():
        for linear in [*model.bridge, *model.bridge_cell]:
            linear.weight.zero_()
            linear.bias.zero_()
    src, lengths, tgt_in = _batch([5, 3, 4])
    logits = model(src, lengths, tgt_in)
    nn.functional.cross_entropy(
        logits.reshape(-1, TV), torch.randint(3, TV, (logits.numel() // TV,))
    ).backward()
    for name in ["weight_ih_l0", "weight_ih_l0_reverse"]:
        grad = getattr(model.encoder.rnn, name).grad
        if attention == "none":
            assert grad is None or torch.all(grad == 0)
        else:
            assert grad is not None and grad.abs().sum() > 0
    assert model.source_embedding.weight.grad is not None
    assert (model.source_embedding.weight.grad.abs().sum() > 0) == (attention != "none")


def test_invalid_configurations() -> None:
    with pytest.raises(ValueError, match="attention must be one of"):
        Seq2Seq(SV, TV, Seq2SeqConfig(attention="luong"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="even hidden_size"):
        Seq2Seq(SV, TV, Seq2SeqConfig(hidden_size=7, bidirectional_encoder=True))
    Seq2Seq(SV, TV, Seq2SeqConfig(hidden_size=7, bidirectional_encoder=False, attention="dot"))


def _reverse_batch(
    n: int, g: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sources of 2-5 symbols; targets are the reversed sources then EOS."""
    lengths = torch.randint(2, 6, (n,), generator=g)
    src = torch.randint(3, 3 + 8, (n, 5), generator=g)
    src[torch.arange(5) >= lengths.unsqueeze(1)] = PAD
    tgt = torch.full((n, 6), PAD)
    for b in range(n):
        k = int(lengths[b])
        tgt[b, :k] = src[b, :k].flip(0)
        tgt[b, k] = EOS
    tgt_in = torch.cat([torch.full((n, 1), BOS), tgt[:, :-1]], dim=1)
    return src, lengths, tgt_in, tgt


def test_learns_to_reverse_sequences() -> None:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    model = Seq2Seq(
        12, 12, Seq2SeqConfig(embedding_size=16, hidden_size=32, cell="gru", attention="additive")
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(250):
        src, lengths, tgt_in, tgt = _reverse_batch(32, g)
        logits = model(src, lengths, tgt_in)
        loss = nn.functional.cross_entropy(logits.reshape(-1, 12), tgt.reshape(-1), ignore_index=PAD)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    model.eval()
    src, lengths, _, tgt = _reverse_batch(100, g)
    with torch.no_grad():
        state = model.start(src, lengths)
        tokens = torch.full((100,), model.bos_id)
        decoded = []
        for _ in range(tgt.size(1)):
            log_probs, state = model.step(tokens, state)
            tokens = log_probs.argmax(-1)
            decoded.append(tokens)
    decoded_t = torch.stack(decoded, dim=1)
    correct = sum(torch.equal(decoded_t[b, : lengths[b] + 1], tgt[b, : lengths[b] + 1]) for b in range(100))
    assert correct >= 80, f"only {correct}/100 reversed exactly"


class _PerRowSeq2Seq(Seq2Seq):
    """The decoder as it was before beams shared their sentence's memory: every reorder (the identity too)
    copies the memory, keys and mask to one row per hypothesis."""

    def reorder(self, state: Seq2SeqState, index: torch.Tensor) -> Seq2SeqState:
        source = torch.div(index, state.rows_per_source, rounding_mode="floor")

        def rows(t: torch.Tensor | None, by: torch.Tensor) -> torch.Tensor | None:
            return None if t is None else t.index_select(0, by)

        hidden = state.hidden
        hidden = tuple(h[:, index] for h in hidden) if isinstance(hidden, tuple) else hidden[:, index]
        return Seq2SeqState(
            memory=state.memory[source],
            mask=state.mask[source],
            hidden=hidden,
            feed=rows(state.feed, index),
            projected_keys=rows(state.projected_keys, source),
            attention=rows(state.attention, index),
        )


def test_beams_share_their_sentence_memory() -> None:
    """Forking each sentence into K rows keeps one memory row per sentence (rows_per_source = K) while the
    decoder state is copied; the identity is no copy at all; dropping a sentence keeps the others' memory."""
    model = _model(attention="additive")
    src, lengths, _ = _batch([5, 3, 4], t=1)
    state = model.start(src, lengths)
    forked = model.reorder(state, torch.arange(3).repeat_interleave(4))
    assert forked.rows_per_source == 4 and forked.memory.size(0) == 3 and forked.rows == 12
    assert forked.memory.data_ptr() == state.memory.data_ptr()
    assert model.reorder(forked, torch.arange(12)) is forked
    parents = torch.tensor([1, 1, 0, 3, 4, 4, 6, 7, 8, 8, 9, 11])  # beams swap within their sentence
    assert model.reorder(forked, parents).memory.data_ptr() == state.memory.data_ptr()
    dropped = model.reorder(forked, torch.tensor([0, 1, 2, 3, 8, 9, 10, 11]))  # sentence 1 finished
    assert dropped.rows_per_source == 4
    assert torch.equal(dropped.memory, state.memory[[0, 2]])


@pytest.mark.parametrize("attention", ["additive", "dot", "general", "none"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_beam_search_with_shared_memory_equals_per_row_copies(cell: str, attention: str) -> None:
    """Beam search over the shared-memory state finds the same hypotheses and scores as over a decoder that
    copies the memory to every hypothesis row at every reorder (the way it was before)."""
    from seqlab.nn.search import beam_search

    shared = _model(seed=4, cell=cell, attention=attention)
    per_row = _PerRowSeq2Seq(
        SV, TV, Seq2SeqConfig(embedding_size=E, hidden_size=H, dropout=0.3, cell=cell, attention=attention)
    ).eval()
    per_row.load_state_dict(shared.state_dict())
    src, lengths, _ = _batch([6, 2, 5, 4], t=1, seed=5)
    want = beam_search(per_row, src, lengths, beam_size=4, n_best=3, max_len=7)
    got = beam_search(shared, src, lengths, beam_size=4, n_best=3, max_len=7)
    for g, w in zip(got, want, strict=True):
        assert [h.tokens for h in g] == [h.tokens for h in w]
        torch.testing.assert_close([h.score for h in g], [h.score for h in w], atol=1e-5, rtol=1e-5)
