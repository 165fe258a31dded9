"""K1/K2 truncated BPTT (Williams & Peng's BPTT(K2; K1), ``tbptt_backprop_steps``) in GenerationTask: a
real Lightning Trainer against a hand-unrolled LSTMCell reference, the K2 == K1 default, an exact
mid-epoch resume, and argument checks."""

from __future__ import annotations

import copy
from pathlib import Path

import lightning as L
import pytest
import torch
import torch.nn.functional as F

from seqlab.data.modules.streams import ResumableWindows
from seqlab.engine.errors import SettingError
from seqlab.engine.lightning_internals import batches_trained
from seqlab.nn import RecurrentLMConfig
from seqlab.tasks import GenerationTask

V, B, E, H = 7, 3, 4, 5


class LossRecordingTask(GenerationTask):
    """GenerationTask that keeps the loss each training step returns (the window's logged loss)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.losses: list[torch.Tensor] = []

    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        self.losses.append(loss.detach().clone())
        return loss


def make_task(lr: float = 0.5, **kwargs) -> LossRecordingTask:
    """A tiny one-layer LSTM language model trained by plain SGD (no momentum), clipping off."""
    torch.manual_seed(0)
    return LossRecordingTask(
        vocab_size=V,
        net=RecurrentLMConfig(cell="lstm", embedding_size=E, hidden_size=H, num_layers=1, dropout=0.0),
        optimizer=lambda p: torch.optim.SGD(p, lr=lr),
        gradient_clip_norm=None,
        **kwargs,
    )


def make_windows(n_windows: int, t: int, seed: int = 1) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """B parallel streams of n_windows * t steps, cut into (inputs, targets) windows [B, t] in order."""
    stream = torch.randint(V, (B, n_windows * t + 1), generator=torch.Generator().manual_seed(seed))
    inputs, targets = stream[:, :-1], stream[:, 1:]
    return [(inputs[:, i * t : (i + 1) * t], targets[:, i * t : (i + 1) * t]) for i in range(n_windows)]


class SaveAfterBatch(L.Callback):
    """Write a checkpoint right after training batch ``batch_idx`` (as ``checkpoint_every_n_steps`` does)."""

    def __init__(self, batch_idx: int, path: Path) -> None:
        self.batch_idx, self.path = batch_idx, path

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if batch_idx == self.batch_idx:
            trainer.save_checkpoint(self.path)


def fit(
    task: GenerationTask,
    windows: list,
    ckpt_path: str | None = None,
    epochs: int = 1,
    callbacks: list[L.Callback] | None = None,
) -> L.Trainer:
    """Train on ``windows`` in order (resumable mid-epoch, as LanguageModelData's loader is)."""
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=epochs,
        callbacks=callbacks,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    loader = ResumableWindows(windows, lambda: batches_trained(trainer))
    trainer.fit(task, train_dataloaders=loader, ckpt_path=ckpt_path)
    return trainer


# ---- the reference: one LSTMCell step at a time -------------------------------------------------------
def reference_training(
    task: GenerationTask, windows: list, k1: int, k2: int, lr: float
) -> tuple[dict[str, torch.Tensor], list[float]]:
    """BPTT(K2; K1) unrolled by hand from ``task``'s initial weights: an update at the end of every K1-step
    chunk of each window (a shorter last chunk where K1 does not divide the window); its loss is the mean
    cross-entropy over the chunk's targets; it runs an LSTMCell from the detached state K2 - K1 steps
    before the chunk (as last computed; zeros at the stream start) through the chunk, so the gradient
    reaches back that far; then p -= lr * grad. Returns the final weights and each window's mean loss."""
    model = task.model
    embedding = copy.deepcopy(model.embedding)
    output = copy.deepcopy(model.output)
    cell = torch.nn.LSTMCell(E, H)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(model.rnn.rnn, f"{name}_l0"))
    params = {
        "embedding.weight": embedding.weight,
        "output.weight": output.weight,
        "output.bias": output.bias,
    }
    params |= {f"cell.{n}": p for n, p in cell.named_parameters()}

    inputs = torch.cat([x for x, _ in windows], dim=1)
    targets = torch.cat([y for _, y in windows], dim=1)
    t_window = windows[0][0].size(1)
    chunk_ends = [min(e, t_window) for e in range(k1, t_window + k1, k1)]  # a short last chunk
    ends = [w * t_window + e for w in range(len(windows)) for e in chunk_ends]
    states = {0: (torch.zeros(B, H), torch.zeros(B, H))}  # detached state after s steps, as last computed
    window_sums = [0.0] * len(windows)
    previous = 0
    for end in ends:
        start = max(0, previous - (k2 - k1))
        h, c = states[start]
        nll = []
        for s in range(start, end):
            h, c = cell(embedding(inputs[:, s]), (h, c))
            states[s + 1] = (h.detach(), c.detach())
            if s >= previous:  # the chunk's own targets
                nll.append(F.cross_entropy(output(h), targets[:, s], reduction="sum"))
        loss = torch.stack(nll).sum() / (B * (end - previous))
        for p in params.values():
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in params.values():
                p -= lr * p.grad
        window_sums[(end - 1) // t_window] += loss.item() * (end - previous)
        previous = end
    return {n: p.detach() for n, p in params.items()}, [s / t_window for s in window_sums]


def task_weights(task: GenerationTask) -> dict[str, torch.Tensor]:
    model = task.model
    weights = {"embedding.weight": model.embedding.weight, "output.weight": model.output.weight}
    weights["output.bias"] = model.output.bias
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        weights[f"cell.{name}"] = getattr(model.rnn.rnn, f"{name}_l0")
    return {n: p.detach().clone() for n, p in weights.items()}


def max_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[n] - b[n]).abs().max()) for n in a)


@pytest.mark.parametrize(
    ("t_window", "k1", "k2"),
    [
        (6, 2, 5),  # overlap 3 > K1: the first chunk of a window reaches into the previous one
        (7, 3, 4),  # chunks 3, 3, 1 per window, overlap 1
        (4, 2, 9),  # overlap 7 spans more than a whole window
    ],
)
def test_matches_hand_unrolled_reference(t_window: int, k1: int, k2: int) -> None:
    """After training through the task's own training_step, the weights and each window's logged loss
    equal the LSTMCell reference (fp32, 1e-5); plain TBPTT (K2 = K1) ends measurably elsewhere."""
    lr = 0.5
    windows = make_windows(3, t_window)
    task = make_task(lr, tbptt_steps=k1, tbptt_backprop_steps=k2)
    assert {n for n, _ in task.model.named_parameters()} == {
        "embedding.weight",
        "rnn.rnn.weight_ih_l0",
        "rnn.rnn.weight_hh_l0",
        "rnn.rnn.bias_ih_l0",
        "rnn.rnn.bias_hh_l0",
        "output.weight",
        "output.bias",
    }, "the reference copies exactly these weights"
    want, window_losses = reference_training(task, windows, k1, k2, lr)
    initial = task_weights(task)
    trainer = fit(task, windows)
    assert trainer.global_step == 3 * -(-t_window // k1)

    got = task_weights(task)
    assert max_difference(got, initial) > 0.05  # training moved the weights
    for name in want:
        torch.testing.assert_close(got[name], want[name], atol=1e-5, rtol=1e-5, msg=name)
    torch.testing.assert_close(torch.stack(task.losses), torch.tensor(window_losses), atol=1e-5, rtol=1e-5)

    plain = make_task(lr, tbptt_steps=k1)
    fit(plain, windows)
    assert max_difference(task_weights(plain), want) > 1e-3  # the check can tell K2 from K1


def test_k2_equal_to_k1_is_the_default_bit_for_bit() -> None:
    """tbptt_backprop_steps == tbptt_steps trains exactly (bit for bit) like leaving it unset, over two
    epochs with uneven chunks, and carries no overlap (nor saves one)."""
    windows = make_windows(3, 7)
    default, same = make_task(tbptt_steps=3), make_task(tbptt_steps=3, tbptt_backprop_steps=3)
    fit(default, windows, epochs=2)
    trainer = fit(same, windows, epochs=2)
    for name, p in default.state_dict().items():
        torch.testing.assert_close(same.state_dict()[name], p, atol=0, rtol=0, msg=name)
    assert torch.equal(torch.stack(same.losses), torch.stack(default.losses))
    assert same._train_overlap is None
    trainer.save_checkpoint("same.ckpt")
    saved = torch.load("same.ckpt", weights_only=True)["seqlab"]
    assert "train_state" in saved and "train_overlap" not in saved


def test_mid_epoch_resume_continues_exactly(tmp_path: Path) -> None:
    """Resumed from a weights_only checkpoint written after 2 of 5 windows (mid-epoch), a K1=2, K2=7 run
    ends with the weights of the uninterrupted run; resumed without the saved overlap it would not."""
    windows = make_windows(5, 4)
    kwargs = {"tbptt_steps": 2, "tbptt_backprop_steps": 7}
    ckpt = tmp_path / "mid.ckpt"
    whole = make_task(**kwargs)
    fit(whole, windows, callbacks=[SaveAfterBatch(1, ckpt)])

    saved = torch.load(ckpt, weights_only=True)
    assert saved["global_step"] == 4
    assert saved["seqlab"]["train_overlap"]["world_size"] == 1
    overlap = saved["seqlab"]["train_overlap"]["ids"]  # [world, B, K2 - K1]: the last 5 ids seen
    assert overlap.shape == (1, B, 5)
    assert torch.equal(overlap[0], torch.cat([x for x, _ in windows[:2]], dim=1)[:, 3:])
    assert saved["seqlab"]["train_state"]["tensors"][0].shape == (1, 1, B, H)  # [world, layers, B, H]

    resumed = make_task(**kwargs)
    trainer = fit(resumed, windows, ckpt_path=str(ckpt))
    assert trainer.global_step == 10
    assert len(resumed.losses) == 3  # windows 3 to 5 only
    torch.testing.assert_close(
        torch.stack(resumed.losses), torch.stack(whole.losses[2:]), atol=1e-6, rtol=1e-6
    )
    for name, p in whole.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[name], p, atol=1e-6, rtol=1e-6, msg=name)

    # control: the same resume with the overlap dropped from the checkpoint ends elsewhere
    del saved["seqlab"]["train_overlap"]
    torch.save(saved, tmp_path / "no_overlap.ckpt")
    blind = make_task(**kwargs)
    fit(blind, windows, ckpt_path=str(tmp_path / "no_overlap.ckpt"))
    assert max_difference(task_weights(blind), task_weights(whole)) > 1e-4


def test_state_and_overlap_reset_each_epoch() -> None:
    """Each epoch starts from a zero state and an empty overlap: with lr 0, both epochs of a two-epoch run
    log the losses of a fresh one-epoch run, although the state and overlap carried at the end of an
    epoch would change the first window's loss."""
    windows = make_windows(2, 4)
    task, fresh = (make_task(lr=0.0, tbptt_steps=2, tbptt_backprop_steps=5) for _ in range(2))
    fit(task, windows, epochs=2)
    fit(fresh, windows)
    assert len(task.losses) == 4
    assert torch.equal(torch.stack(task.losses[:2]), torch.stack(fresh.losses))
    assert torch.equal(torch.stack(task.losses[2:]), torch.stack(fresh.losses))
    # control: the first chunk's loss from the carried state and overlap differs from the fresh one
    assert task._train_overlap is not None and task._train_overlap.shape == (B, 3)
    with torch.no_grad():
        x, y = windows[0]
        carried, _, _ = task.overlap_chunk_loss(x[:, :2], y[:, :2], task._train_state, task._train_overlap)
        stale, _, _ = task.overlap_chunk_loss(x[:, :2], y[:, :2], None, task._train_overlap)
        zero, _, _ = task.overlap_chunk_loss(x[:, :2], y[:, :2], None, None)
    assert not torch.allclose(carried, zero) and not torch.allclose(stale, zero)


@pytest.mark.parametrize(("k2", "kept"), [(3, 1), (None, 0)])
def test_resume_with_a_shorter_overlap_advances_the_state(k2: int | None, kept: int) -> None:
    """An overlap longer than K2 - K1 (a checkpoint of a run with a larger K2) is trimmed by running the
    model over its excess ids from the carried state, so the state is again where the overlap starts
    (for plain TBPTT: no overlap left, the state at the current step)."""
    task = make_task(tbptt_steps=2, tbptt_backprop_steps=k2)
    ids = torch.randint(V, (B, 4))
    task._train_overlap, task._train_state = ids, None
    task._trim_overlap()
    if kept:
        assert torch.equal(task._train_overlap, ids[:, 4 - kept :])
    else:
        assert task._train_overlap is None
    with torch.no_grad():
        _, want = task.model(ids[:, : 4 - kept])
    for got, expected in zip(task._train_state, want, strict=True):
        torch.testing.assert_close(got, expected)


POSITIVE = "must be a positive whole number"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"tbptt_steps": 4, "tbptt_backprop_steps": 3},
            r"tbptt_backprop_steps \(3\) must be at least tbptt_steps",
        ),
        ({"tbptt_backprop_steps": 8}, "tbptt_backprop_steps=8 needs tbptt_steps"),
        ({"tbptt_steps": 4, "tbptt_backprop_steps": 0}, f"tbptt_backprop_steps {POSITIVE}"),
        ({"tbptt_steps": 4, "tbptt_backprop_steps": -2}, f"tbptt_backprop_steps {POSITIVE}"),
        ({"tbptt_steps": 0}, f"tbptt_steps {POSITIVE}"),
        ({"tbptt_steps": 2.5}, f"tbptt_steps {POSITIVE}"),
        ({"tbptt_steps": True}, f"tbptt_steps {POSITIVE}"),
    ],
)
def test_bad_values_raise_clear_errors(kwargs: dict, message: str) -> None:
    """Each bad setting raises a SettingError (a ValueError the CLI reports plainly) naming it."""
    with pytest.raises(ValueError, match=message) as error:
        make_task(**kwargs)
    assert isinstance(error.value, SettingError)
