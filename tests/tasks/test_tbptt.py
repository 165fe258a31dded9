"""Truncated BPTT in GenerationTask, run through a real Lightning Trainer and checked against hand-computed
losses, gradients and states."""

from __future__ import annotations

import copy

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from seqlab.nn import RecurrentLM, RecurrentLMConfig, detach_state
from seqlab.tasks import GenerationTask

V, B = 11, 3


def _states(state) -> tuple[torch.Tensor, ...]:
    return state if isinstance(state, tuple) else (state,)


def _clone(state):
    return None if state is None else tuple(s.detach().clone() for s in _states(state))


class RecordingTask(GenerationTask):
    """GenerationTask that records, per optimizer step, the carried state going in and the gradients."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.steps: list[dict] = []
        self.batch_end_states: list = []
        self.losses: list[torch.Tensor] = []

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        pre = {n: p.grad.detach().clone() for n, p in self.model.named_parameters() if p.grad is not None}
        super().on_before_optimizer_step(optimizer)
        post = {n: p.grad.detach().clone() for n, p in self.model.named_parameters() if p.grad is not None}
        norm = None if self._grad_norm is None else self._grad_norm.detach().clone()
        self.steps.append(
            {
                "epoch": self.current_epoch,
                "state_in": _clone(self._train_state),
                "pre": pre,
                "post": post,
                "grad_norm": norm,
            }
        )

    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        self.losses.append(loss.detach().clone())
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        self.batch_end_states.append(_clone(self._train_state))


def make_task(
    cell: str = "lstm", lr: float = 0.0, gradient_clip_norm: float | None = None, **kwargs
) -> RecordingTask:
    """A tiny GenerationTask (vocab 11, embedding 6, hidden 8, no dropout) trained by plain SGD at ``lr``."""
    net = {"embedding_size": 6, "hidden_size": 8, "num_layers": 1, "dropout": 0.0}
    net |= {key: kwargs.pop(key) for key in list(kwargs) if key in net}
    return RecordingTask(
        vocab_size=V,
        net=RecurrentLMConfig(cell=cell, **net),
        optimizer=lambda p: torch.optim.SGD(p, lr=lr),
        gradient_clip_norm=gradient_clip_norm,
        **kwargs,
    )


def make_windows(n_windows: int, t: int) -> tuple[torch.Tensor, torch.Tensor, list]:
    """B parallel streams of n_windows * t steps, as (inputs, targets) windows [B, t] in stream order."""
    stream = torch.randint(V, (B, n_windows * t + 1))
    inputs, targets = stream[:, :-1], stream[:, 1:]
    windows = [(inputs[:, i * t : (i + 1) * t], targets[:, i * t : (i + 1) * t]) for i in range(n_windows)]
    return inputs, targets, windows


def fit(task: GenerationTask, windows: list, max_epochs: int = 1) -> L.Trainer:
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=max_epochs,
        logger=False,
        log_every_n_steps=1,  # train metrics are logged on logging steps only
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(task, train_dataloaders=DataLoader(windows, batch_size=None))
    return trainer


def loss_of(model: RecurrentLM, inputs: torch.Tensor, targets: torch.Tensor, state=None):
    logits, state = model(inputs, state)
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten()), state


def grads_of(model: RecurrentLM, loss: torch.Tensor) -> dict[str, torch.Tensor]:
    names, params = zip(*model.named_parameters(), strict=True)
    grads = torch.autograd.grad(loss, params, allow_unused=True, materialize_grads=True)
    return dict(zip(names, grads, strict=True))


def assert_grads_close(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=1e-6, rtol=1e-5, msg=name)


def grads_differ(a: dict, b: dict) -> bool:
    return any(not torch.allclose(a[n], b[n], atol=1e-6, rtol=1e-5) for n in a)


# ---- a. no gradient crosses a window boundary -----------------------------------------------------
@pytest.mark.parametrize("cell", ["lstm", "gru", "mingru"])
def test_no_gradient_crosses_window_boundary(cell: str) -> None:
    """Step 2's gradients (real training_step, lr 0) equal a hand computation of window 2's loss from the
    detached state of window 1 and differ from one that backpropagates into window 1; the window-1
    embedding outputs receive gradient only in step 1."""
    task = make_task(cell)
    _, _, windows = make_windows(2, 5)
    hook_calls: list[tuple[int, int]] = []
    forward_count = [0]

    def record_embedding(module, args, output):
        window = forward_count[0]
        forward_count[0] += 1
        if output.requires_grad:
            output.register_hook(lambda g: hook_calls.append((window, len(task.steps))))

    task.model.embedding.register_forward_hook(record_embedding)
    trainer = fit(task, windows)
    assert trainer.global_step == 2 and len(task.steps) == 2
    # window 0's embedding outputs get gradient during step 0's backward only, window 1's during step 1's.
    assert hook_calls == [(0, 0), (1, 1)]

    model = task.model  # lr = 0: the parameters are those the trainer used
    (x1, y1), (x2, y2) = windows
    loss1, state1 = loss_of(model, x1, y1)
    assert_grads_close(task.steps[0]["pre"], grads_of(model, loss1))

    emb1 = model.embedding(x1)
    _, state1 = model.rnn(emb1)
    detached_loss, _ = loss_of(model, x2, y2, detach_state(state1))
    full_loss, _ = loss_of(model, x2, y2, state1)
    (g_detached,) = torch.autograd.grad(detached_loss, emb1, allow_unused=True, materialize_grads=True)
    (g_full,) = torch.autograd.grad(full_loss, emb1, retain_graph=True)
    assert torch.count_nonzero(g_detached) == 0
    assert g_full.abs().sum() > 0

    recorded = task.steps[1]["pre"]
    assert_grads_close(recorded, grads_of(model, detached_loss))
    assert grads_differ(recorded, grads_of(model, full_loss))


# ---- b. one window over the whole sequence is full BPTT -------------------------------------------
@pytest.mark.parametrize("cell", ["lstm", "rnn_tanh"])
def test_single_window_equals_full_bptt(cell: str) -> None:
    """With tbptt_steps=None and one batch holding the whole sequence, the training loss, the gradients and
    the SGD update equal full BPTT computed by hand."""
    lr = 0.1
    task = make_task(cell, lr=lr, num_layers=2)
    initial = copy.deepcopy(task.model)
    inputs, targets, windows = make_windows(1, 12)
    fit(task, windows)
    assert len(task.steps) == 1 and task.steps[0]["state_in"] is None

    loss, _ = loss_of(initial, inputs, targets)
    torch.testing.assert_close(task.losses[0], loss.detach(), atol=1e-6, rtol=1e-6)
    hand = grads_of(initial, loss)
    assert_grads_close(task.steps[0]["pre"], hand)
    for name, p in task.model.named_parameters():
        torch.testing.assert_close(p.detach(), initial.get_parameter(name).detach() - lr * hand[name])


# ---- c. tbptt_steps splits a window into optimizer steps ------------------------------------------
def test_tbptt_steps_split_window() -> None:
    """T=8 with tbptt_steps=4: two optimizer steps per batch, each chunk's gradient comes from that chunk
    alone (from the detached carried state), and the carried state after each batch equals one pass of the
    model over all windows so far."""
    task = make_task("lstm", tbptt_steps=4)
    inputs, targets, windows = make_windows(3, 8)
    trainer = fit(task, windows)
    assert trainer.global_step == 2 * len(windows)
    assert len(task.steps) == 6

    model = task.model
    with torch.no_grad():
        for b in range(len(windows)):
            _, expected = model(inputs[:, : 8 * (b + 1)])
            for got, want in zip(task.batch_end_states[b], _states(expected), strict=True):
                torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)
        assert task.steps[0]["state_in"] is None
        for i in range(1, 6):
            _, expected = model(inputs[:, : 4 * i])
            for got, want in zip(task.steps[i]["state_in"], _states(expected), strict=True):
                torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)

    # step 2 (second chunk of window 1): gradient of chunk 2's loss only, through the detached state.
    _, state = loss_of(model, inputs[:, :4], targets[:, :4])
    chunk2, _ = loss_of(model, inputs[:, 4:8], targets[:, 4:8], detach_state(state))
    assert_grads_close(task.steps[1]["pre"], grads_of(model, chunk2))
    # the batch loss is the token-weighted mean over chunks, i.e. the plain mean over the window.
    with torch.no_grad():
        window_loss, _ = loss_of(model, inputs[:, :8], targets[:, :8])
    torch.testing.assert_close(task.losses[0], window_loss, atol=1e-6, rtol=1e-6)


def test_uneven_tbptt_chunks_weight_loss_by_tokens() -> None:
    """T=8 with tbptt_steps=3 makes chunks 3, 3, 2 (three steps); the reported loss (lr 0) equals the
    whole window's mean cross-entropy, so a short last chunk is weighted by its tokens."""
    task = make_task("gru", tbptt_steps=3)
    inputs, targets, windows = make_windows(1, 8)
    trainer = fit(task, windows)
    assert trainer.global_step == 3
    with torch.no_grad():
        expected, _ = loss_of(task.model, inputs, targets)
        chunks = [loss_of(task.model, inputs[:, :i], targets[:, :i])[0] * i for i in (3, 6, 8)]
        chunk_means = [chunks[0] / 3, (chunks[1] - chunks[0]) / 3, (chunks[2] - chunks[1]) / 2]
    torch.testing.assert_close(task.losses[0], expected, atol=1e-6, rtol=1e-6)
    # control: the unweighted mean of the three chunk means is a different number
    assert not torch.allclose(task.losses[0], torch.stack(chunk_means).mean(), atol=1e-5)


# ---- d. gradient clipping -------------------------------------------------------------------------
def test_gradient_clipping_bounds_norm_and_records_pre_clip_norm() -> None:
    """With gradient_clip_norm=c, the gradients the optimizer uses have norm <= c, point the same way as
    before clipping, and _grad_norm (also logged as train/grad_norm) is the pre-clip norm (> c)."""
    c, lr = 1e-3, 1.0
    task = make_task("lstm", lr=lr, gradient_clip_norm=c)
    initial = copy.deepcopy(task.model)
    _, _, windows = make_windows(1, 6)
    trainer = fit(task, windows)
    (step,) = task.steps

    pre_norm = torch.linalg.vector_norm(torch.stack([g.norm() for g in step["pre"].values()]))
    post_norm = torch.linalg.vector_norm(torch.stack([g.norm() for g in step["post"].values()]))
    assert pre_norm > c
    assert post_norm <= c * (1 + 1e-4)
    torch.testing.assert_close(step["grad_norm"], pre_norm)
    torch.testing.assert_close(trainer.callback_metrics["train/grad_norm"], pre_norm)
    for name in step["pre"]:
        torch.testing.assert_close(step["post"][name], step["pre"][name] * (c / (pre_norm + 1e-6)))
    # the optimizer step used the clipped gradients
    for name, p in task.model.named_parameters():
        want = initial.get_parameter(name).detach() - lr * step["post"][name]
        torch.testing.assert_close(p.detach(), want, atol=1e-7, rtol=1e-6)


def test_no_clipping_leaves_gradients_unchanged() -> None:
    """gradient_clip_norm=None leaves gradients as they are but still records their norm."""
    task = make_task("gru", gradient_clip_norm=None)
    fit(task, make_windows(1, 6)[2])
    (step,) = task.steps
    assert_grads_close(step["post"], step["pre"])
    pre_norm = torch.linalg.vector_norm(torch.stack([g.norm() for g in step["pre"].values()]))
    torch.testing.assert_close(step["grad_norm"], pre_norm)


# ---- e. state reset at each epoch ------------------------------------------------------------------
def test_state_resets_at_epoch_start() -> None:
    """The carried state is None at the first step of every epoch, so (lr 0) epoch 2's first gradient equals
    epoch 1's first, while the second step of each epoch starts from the carried state."""
    task = make_task("lstm")
    _, _, windows = make_windows(2, 5)
    trainer = fit(task, windows, max_epochs=2)
    assert trainer.global_step == 4
    assert [s["epoch"] for s in task.steps] == [0, 0, 1, 1]
    assert [s["state_in"] is None for s in task.steps] == [True, False, True, False]
    assert_grads_close(task.steps[2]["pre"], task.steps[0]["pre"])
    assert_grads_close(task.steps[3]["pre"], task.steps[1]["pre"])
    # control: carrying the end-of-epoch state into epoch 2 would change the first gradient
    model = task.model
    carried = tuple(s.clone() for s in task.batch_end_states[1])
    x1, y1 = windows[0]
    stale, _ = loss_of(model, x1, y1, carried)
    assert grads_differ(task.steps[2]["pre"], grads_of(model, stale))
