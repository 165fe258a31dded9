"""ClassificationTask: its metrics equal scikit-learn's on the same predictions, class weights, the
confusion matrix files, and a stop-and-go run that equals an uninterrupted one."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import lightning as L
import pytest
import torch
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

from seqlab.cli import main
from seqlab.data import CharTokenizer, ClassificationData, ClassificationFiles, WordTokenizer
from seqlab.data.modules.classification import collate_texts
from seqlab.engine.task_data import hand_data
from seqlab.inference.loader import load_task
from seqlab.nn import ClassifierConfig
from seqlab.tasks import ClassificationTask

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "classification" / "tsv_word_bigru_attention.yaml"


def _trainer(steps: int) -> L.Trainer:
    return L.Trainer(
        max_steps=steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
        num_sanity_val_steps=0,
    )


def _write_three_class_data(tmp_path: Path) -> tuple[Path, Path]:
    """Three labels; validation holds only two of them (a class absent from validation is the case
    where macro averages differ between libraries)."""
    rows = [
        (f"{w} {i}", label) for i in range(30) for w, label in (("aaa", "x"), ("bbb", "y"), ("abab", "z"))
    ]
    train, valid = tmp_path / "train.tsv", tmp_path / "valid.tsv"
    train.write_text("sentence\tlabel\n" + "".join(f"{t}\t{lab}\n" for t, lab in rows))
    valid.write_text(
        "sentence\tlabel\n"
        + "".join(f"{w} {i}\t{lab}\n" for i in range(7) for w, lab in (("ab", "x"), ("bab", "y")))
    )
    return train, valid


def test_metrics_equal_sklearn_on_the_same_predictions(tmp_path):
    train, valid = _write_three_class_data(tmp_path)
    data = ClassificationData(ClassificationFiles(str(train), str(valid)), CharTokenizer(), batch_size=8)
    task = ClassificationTask(
        data.vocab_size, data.labels, net=ClassifierConfig(hidden_size=8, embedding_size=4)
    )
    trainer = _trainer(steps=6)
    hand_data(task, data)  # what seqlab's engine does after building
    trainer.fit(task, data)
    (metrics,) = trainer.validate(task, data, verbose=False)

    task.eval()
    items = data.splits["validation"].items
    with torch.no_grad():
        predicted = task.probabilities(collate_texts(items)).argmax(-1).tolist()
    gold = [label for _, label, _ in items]
    present = sorted(set(gold) | set(predicted))
    assert metrics["val/accuracy"] == pytest.approx(accuracy_score(gold, predicted), abs=1e-6)
    # scikit-learn's macro-F1 over the labels that occur (in gold or predictions), the usual definition
    assert metrics["val/macro_f1"] == pytest.approx(
        f1_score(gold, predicted, average="macro", labels=present), abs=1e-6
    )


def test_balanced_class_weights_follow_the_training_counts(tmp_path):
    train = tmp_path / "train.tsv"
    train.write_text("sentence\tlabel\n" + "a\tx\n" * 6 + "b\ty\n" * 2 + "c\tz\n" * 4)
    data = ClassificationData(ClassificationFiles(str(train), str(train)), CharTokenizer())
    task = ClassificationTask(
        data.vocab_size,
        data.labels,
        class_weights="balanced",
        net=ClassifierConfig(hidden_size=4, embedding_size=4),
    )
    trainer = _trainer(steps=1)
    hand_data(task, data)  # what seqlab's engine does after building
    trainer.fit(task, data)
    # n / (classes * count) for counts x=6, y=2, z=4 of n=12
    torch.testing.assert_close(task.class_weight, torch.tensor([12 / 18, 12 / 6, 12 / 12]))


def test_explicit_class_weights_must_match_the_labels():
    with pytest.raises(ValueError, match="expected 2 non-negative weights"):
        ClassificationTask(10, ["a", "b"], class_weights=[1.0, 2.0, 3.0])


def test_fit_writes_confusion_matrix_png_and_tables(tiny_tsv, tiny_trainer_args):
    """The last validation's confusion table equals scikit-learn's on the last checkpoint's predictions."""
    source = [
        f"--data.source.train={tiny_tsv['train']}",
        f"--data.source.validation={tiny_tsv['validation']}",
    ]
    model = [
        "--model.net.hidden_size=16",
        "--model.net.embedding_size=8",
        "--data.batch_size=4",
        "--trainer.limit_val_batches=1.0",
    ]
    main(["fit", "--config", str(CONFIG), *source, *tiny_trainer_args, *model])
    run = next(Path("runs").glob("*/version_0"))
    media = run / "media"
    png = media / "val_confusion_matrix-step6.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with (media / "val_confusion_table-step6.csv").open() as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["true \\ predicted", "animal", "thing"]
    table = [[int(x) for x in row[1:]] for row in rows[1:]]

    task, _ = load_task(run / "checkpoints" / "last.ckpt")
    data = ClassificationData(
        ClassificationFiles(str(tiny_tsv["train"]), str(tiny_tsv["validation"])),
        WordTokenizer(max_vocab=20000, min_freq=2, lowercase=True),
        max_length=100,
    )
    items = data.splits["validation"].items
    with torch.no_grad():
        predicted = task.probabilities(collate_texts(items)).argmax(-1).tolist()
    gold = [label for _, label, _ in items]
    assert table == confusion_matrix(gold, predicted, labels=[0, 1]).tolist()
    with (media / "val_predictions-step6.csv").open() as file:
        predictions = list(csv.DictReader(file))
    assert predictions and all(p["label"] in ("animal", "thing") for p in predictions)


def _weights(ckpt: Path) -> dict[str, torch.Tensor]:
    return torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]


def test_stop_and_go_equals_uninterrupted(tiny_tsv, tmp_path):
    """Killed mid-epoch at step 5 and resumed to step 13 (into the second epoch) ends with the same
    weights as 13 uninterrupted steps: the loader skips the batches already trained."""
    common = [
        "fit",
        "--config",
        str(CONFIG),
        f"--data.source.train={tiny_tsv['train']}",
        f"--data.source.validation={tiny_tsv['validation']}",
        "--data.batch_size=4",  # 40 examples: 10 batches per epoch
        "--model.net.hidden_size=8",
        "--model.net.embedding_size=4",
        "--model.net.dropout=0",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        "--run.wandb.mode=disabled",
        "--trainer.val_check_interval=1.0",
    ]
    main([*common, "--run.name=straight", "--trainer.max_steps=13"])
    main([*common, "--run.name=stopped", "--trainer.max_steps=5"])
    main([*common, "--run.name=stopped", "--trainer.max_steps=13", "--ckpt_path=last"])
    straight = _weights(Path("runs/straight/version_0/checkpoints/last.ckpt"))
    resumed = _weights(Path("runs/stopped/version_0/checkpoints/last.ckpt"))
    assert straight.keys() == resumed.keys()
    for key in straight:
        torch.testing.assert_close(resumed[key], straight[key], rtol=0, atol=0, msg=key)
    assert (
        torch.load(Path("runs/stopped/version_0/checkpoints/last.ckpt"), weights_only=True)["global_step"]
        == 13
    )


@pytest.mark.parametrize(
    "scheduler, expected_lr",
    [
        (
            {"class_path": "torch.optim.lr_scheduler.StepLR", "init_args": {"step_size": 1, "gamma": 0.5}},
            0.01 / 2**15,
        ),
        ({"class_path": "torch.optim.lr_scheduler.ReduceLROnPlateau", "init_args": {"patience": 0}}, None),
    ],
    ids=["per-step", "plateau"],
)
def test_lr_schedulers_step_per_optimizer_step_or_on_val_loss(tiny_tsv, scheduler, expected_lr):
    """A step scheduler moves after every optimizer step (not once per epoch); ReduceLROnPlateau runs
    on val/loss without any extra configuration."""
    common = [
        "fit",
        "--config",
        str(CONFIG),
        f"--data.source.train={tiny_tsv['train']}",
        f"--data.source.validation={tiny_tsv['validation']}",
        "--data.batch_size=4",
        "--model.net.hidden_size=8",
        "--model.net.embedding_size=4",
        "--model.optimizer=torch.optim.SGD",
        "--model.optimizer.lr=0.01",
        f"--model.lr_scheduler={json.dumps(scheduler)}",
        "--trainer.max_steps=15",  # epochs of 10 batches, each ending with a validation
        "--trainer.enable_progress_bar=false",
        "--run.wandb.mode=disabled",
    ]
    main(common)
    ckpt = torch.load(next(Path("runs").glob("*/version_0/checkpoints/last.ckpt")), weights_only=True)
    lr = ckpt["optimizer_states"][0]["param_groups"][0]["lr"]
    if expected_lr is not None:
        assert lr == pytest.approx(expected_lr)
    else:
        assert ckpt["lr_schedulers"][0]["best"] < float("inf")  # it saw a val/loss


def test_word_dropout_hides_training_tokens_only():
    """With word_dropout 0.5 about half the training ids reach the model as the unknown id (0), the
    rest unchanged; evaluation sees every id; 1.0 would leave nothing to learn from and is refused."""
    torch.manual_seed(0)
    task = ClassificationTask(vocab_size=50, labels=["a", "b"], word_dropout=0.5)
    seen: list[torch.Tensor] = []
    model_forward = task.forward
    task.forward = lambda ids, lengths: (seen.append(ids), model_forward(ids, lengths))[1]  # type: ignore[method-assign]
    ids = torch.randint(1, 50, (16, 40))
    batch = {"ids": ids, "lengths": torch.full((16,), 40), "labels": torch.zeros(16, dtype=torch.long)}
    task.training_step(batch, 0)
    dropped = seen[-1] == 0
    assert 0.4 < dropped.float().mean().item() < 0.6
    assert torch.equal(seen[-1][~dropped], ids[~dropped])
    task.probabilities(batch)
    assert torch.equal(seen[-1], ids)
    with pytest.raises(ValueError, match=r"model\.word_dropout: expected a share"):
        ClassificationTask(vocab_size=50, labels=["a", "b"], word_dropout=1.0)
    with pytest.raises(ValueError, match=r"model\.label_smoothing: expected a share"):
        ClassificationTask(vocab_size=50, labels=["a", "b"], label_smoothing=2)  # was a traceback in training
