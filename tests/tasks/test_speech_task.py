"""SpeechRecognitionTask on synthetic "speech": each character is a few frames of its own feature
pattern, so a tiny CTC model learns to transcribe in a few hundred steps. Also: infeasible utterances
skipped and named, non-finite steps skipped (alone and on every DDP rank together)."""

from __future__ import annotations

import csv
import socket
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

from seqlab.engine.task_data import hand_data
from seqlab.nn import AcousticConfig
from seqlab.nn.errors import NetSettingError
from seqlab.tasks.speech import SpeechRecognitionTask

SYMBOLS = "abc "  # ids 1..4; 0 is the CTC blank
FEATURES = 6


class ToyAlphabet:
    blank = 0
    kind = "characters"

    def encode(self, text: str) -> list[int]:
        return [SYMBOLS.index(c) + 1 for c in text]

    def detokenize(self, ids: list[int]) -> str:
        return "".join(SYMBOLS[i - 1] for i in ids)


def toy_text(generator: torch.Generator) -> str:
    words = int(torch.randint(1, 3, (1,), generator=generator))
    return " ".join(
        "".join(
            "abc"[int(i)]
            for i in torch.randint(
                0, 3, (int(torch.randint(1, 4, (1,), generator=generator)),), generator=generator
            )
        )
        for _ in range(words)
    )


def toy_features(text: str, generator: torch.Generator) -> torch.Tensor:
    """Per character 2-3 frames with its channel on, then a silent frame (channel 0), plus noise."""
    frames = []
    for c in text:
        pattern = torch.zeros(FEATURES)
        pattern[SYMBOLS.index(c) + 1] = 2.0
        frames += [pattern] * int(torch.randint(2, 4, (1,), generator=generator))
        silence = torch.zeros(FEATURES)
        silence[0] = 2.0
        frames.append(silence)
    x = torch.stack(frames)
    return x + 0.3 * torch.randn(x.shape, generator=generator)


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    lengths = torch.tensor([len(i["features"]) for i in items])
    features = torch.zeros(len(items), int(lengths.max()), FEATURES)
    target_lengths = torch.tensor([len(i["targets"]) for i in items])
    targets = torch.zeros(len(items), int(target_lengths.max()), dtype=torch.long)
    for row, item in enumerate(items):
        features[row, : len(item["features"])] = item["features"]
        targets[row, : len(item["targets"])] = torch.tensor(item["targets"])
    return {
        "features": features,
        "feature_lengths": lengths,
        "targets": targets,
        "target_lengths": target_lengths,
        "texts": [i["text"] for i in items],
        "ids": [i["id"] for i in items],
    }


def toy_items(count: int, seed: int) -> list[dict[str, Any]]:
    generator = torch.Generator().manual_seed(seed)
    alphabet = ToyAlphabet()
    items = []
    for n in range(count):
        text = toy_text(generator)
        items.append(
            {
                "id": seed * 1000 + n,
                "text": text,
                "targets": alphabet.encode(text),
                "features": toy_features(text, generator),
            }
        )
    return items


class ToySpeechData(L.LightningDataModule):
    """The DataModule interface the task uses: ``alphabet``, ``vocab_size``, ``num_features`` and
    batches of the speech DataModule's shape. ``poison`` maps (rank, batch index) to a change made to
    that training batch (NaN features, an utterance cut too short)."""

    def __init__(self, train: int = 64, batch_size: int = 8, poison: dict | None = None) -> None:
        super().__init__()
        self.alphabet = ToyAlphabet()
        self.vocab_size, self.num_features = len(SYMBOLS) + 1, FEATURES
        self.train_items, self.val_items = toy_items(train, 1), toy_items(16, 2)
        self.batch_size, self.poison = batch_size, poison or {}

    def train_dataloader(self) -> Any:
        rank = self.trainer.global_rank if self.trainer is not None else 0
        batches = [
            collate(self.train_items[i : i + self.batch_size])
            for i in range(0, len(self.train_items), self.batch_size)
        ]
        for (where, index), change in self.poison.items():
            if where == rank:
                change(batches[index])
        return DataLoader(batches, batch_size=None)

    def val_dataloader(self) -> Any:
        return DataLoader(self.val_items, batch_size=8, collate_fn=collate)


def nan_features(batch: dict[str, Any]) -> None:
    batch["features"][1, 0, 0] = float("nan")


def cut_first_utterance(batch: dict[str, Any]) -> None:
    batch["feature_lengths"][0] = 2  # far fewer frames than its target needs after subsampling x2


def adamw(params: Any) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=0.01)


def tiny_task(**kwargs: Any) -> SpeechRecognitionTask:
    net = AcousticConfig(hidden_size=24, num_layers=2, dropout=0.0, subsampling="stack", subsampling_factor=2)
    return SpeechRecognitionTask(
        vocab_size=len(SYMBOLS) + 1, num_features=FEATURES, net=net, optimizer=adamw, **kwargs
    )


def trainer(max_steps: int, **kwargs: Any) -> L.Trainer:
    settings = {
        "max_steps": max_steps,
        "accelerator": "cpu",
        "devices": 1,
        "logger": L.pytorch.loggers.CSVLogger("logs", name="speech"),
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "log_every_n_steps": 1,
        "num_sanity_val_steps": 0,
        "use_distributed_sampler": False,
    }
    return L.Trainer(**(settings | kwargs))


def test_training_learns_to_transcribe():
    """The loss falls and greedy transcripts of held-out utterances become nearly right."""
    data, task = ToySpeechData(), tiny_task()
    before = trainer(max_steps=1, limit_train_batches=0)
    hand_data(task, data)  # what seqlab's engine does after building
    before.validate(task, datamodule=data, verbose=False)
    initial = {k: float(v) for k, v in before.callback_metrics.items()}
    fit = trainer(max_steps=160, check_val_every_n_epoch=20)
    fit.fit(task, datamodule=data)
    final = {k: float(v) for k, v in fit.callback_metrics.items()}
    assert final["val/loss"] < 0.3 * initial["val/loss"], (initial, final)
    assert initial["val/cer"] > 0.5
    assert final["val/cer"] < 0.15 and final["val/wer"] < 0.5, final
    media = list(Path(fit.logger.log_dir, "media").glob("val_transcripts-step*.csv"))
    assert media and media[0].read_text().splitlines()[0] == "id,reference,transcript"
    assert list(Path(fit.logger.log_dir, "media").glob("val_posteriorgram-step*.png"))
    # Beam search over the trained model agrees with what greedy found (peaked posteriors).
    task.eval_beam_size = 4
    beam = trainer(max_steps=1)
    beam.validate(task, datamodule=data, verbose=False)
    assert float(beam.callback_metrics["val/cer"]) <= final["val/cer"] + 0.05


def test_infeasible_utterance_is_skipped_and_named(recwarn):
    data, task = ToySpeechData(train=16, poison={(0, 0): cut_first_utterance}), tiny_task()
    run = trainer(max_steps=2, limit_val_batches=0)
    hand_data(task, data)  # what seqlab's engine does after building
    run.fit(task, datamodule=data)
    messages = [str(w.message) for w in recwarn if "skipped" in str(w.message)]
    assert len(messages) == 1, messages
    assert "skipped 1 of 8 utterances" in messages[0] and "1000 (needs" in messages[0]
    assert "has 1)" in messages[0]
    rows = _metrics(run)
    skipped = [float(r["train/skipped"]) for r in rows if r.get("train/skipped")]
    assert skipped == [1.0, 0.0]
    assert all(torch.isfinite(p).all() for p in task.parameters())


def _metrics(run: L.Trainer) -> list[dict[str, str]]:
    with Path(run.logger.log_dir, "metrics.csv").open() as file:
        return list(csv.DictReader(file))


def _parameters(task: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten().clone() for p in task.parameters()])


class StepWatch(L.Callback):
    """Records whether each training step changed the parameters; under DDP also checks that every
    rank ends with the same parameters."""

    def __init__(self) -> None:
        self.changed: list[bool] = []

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self._before = _parameters(module)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        after = _parameters(module)
        assert torch.isfinite(after).all(), f"rank {trainer.global_rank}: non-finite parameters"
        self.changed.append(not torch.equal(after, self._before))

    def on_train_end(self, trainer, module) -> None:
        if trainer.world_size > 1:
            gathered = trainer.strategy.all_gather(_parameters(module))
            assert torch.equal(gathered[0], gathered[1]), "ranks diverged"
            assert self.changed == [True, False, True], f"rank {trainer.global_rank}: {self.changed}"


def test_nonfinite_loss_skips_the_step():
    data, task = ToySpeechData(train=24, poison={(0, 1): nan_features}), tiny_task()
    watch = StepWatch()
    run = trainer(max_steps=3, limit_val_batches=0, callbacks=[watch])
    hand_data(task, data)  # what seqlab's engine does after building
    run.fit(task, datamodule=data)
    assert watch.changed == [True, False, True]
    rows = _metrics(run)
    skipped = [float(r["train/nonfinite_skipped"]) for r in rows if r.get("train/nonfinite_skipped")]
    assert skipped == [0.0, 1.0, 1.0]  # a running total


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_nonfinite_loss_on_one_ddp_rank_skips_the_step_on_both(monkeypatch):
    """NaN features on rank 1 only: both ranks skip the step (rank 0's finite loss too), stay finite and
    equal; a rank-local skip would leave rank 0 stepping on the NaN gradients from the all-reduce."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2]))  # spawned ranks import this module
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(_free_port()))
    data, task = ToySpeechData(train=48, poison={(1, 1): nan_features}), tiny_task()
    run = trainer(
        max_steps=3,
        limit_val_batches=0,
        callbacks=[StepWatch()],
        devices=2,
        strategy="ddp_spawn",
        logger=False,
    )
    hand_data(task, data)  # what seqlab's engine does after building
    run.fit(task, datamodule=data)  # the assertions run in the ranks (StepWatch.on_train_end)
    assert all(torch.isfinite(p).all() for p in task.parameters())


def test_error_units_of_characters_and_phonemes():
    """CER/WER count characters and space-separated words; for phoneme targets, phoneme symbols and
    the words between `|` boundaries."""
    from seqlab.tasks.speech import error_units

    assert error_units(" hello world ", "characters") == ("hello world", ["hello", "world"])
    symbols, words = error_units("h ə l oʊ | w ɜː l d", "phonemes")
    assert symbols == ["h", "ə", "l", "oʊ", "w", "ɜː", "l", "d"]
    assert words == ["h ə l oʊ", "w ɜː l d"]


def test_search_settings_out_of_range_are_refused_when_the_task_is_built():
    """A beam of 0 and a positive prune (a log-probability above 0 prunes every label) are named when
    the task is built, not met at the first validation."""
    with pytest.raises(NetSettingError, match=r"model\.eval_beam_size: expected a whole number >= 1, got 0"):
        tiny_task(eval_beam_size=0)
    with pytest.raises(
        NetSettingError, match=r"model\.eval_prune: expected a log-probability \(0 or below\)"
    ):
        tiny_task(eval_prune=0.5)
