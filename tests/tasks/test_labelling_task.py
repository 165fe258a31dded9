"""LabellingTask: token accuracy, exact match and span F1 equal hand counts and seqeval on the same
predictions; CRF constraints are wired for BIO tags only; the checkpoint picks the right metric."""

from __future__ import annotations

from typing import Any

import lightning as L
import pytest
import torch
from seqeval.metrics import f1_score, precision_score, recall_score

from seqlab.data import LabelledFiles, LabellingData
from seqlab.engine.task_data import hand_data
from seqlab.nn import PretrainedEmbeddings, TaggerConfig
from seqlab.tasks import LabellingTask


def _fit(
    data: LabellingData, steps: int, pretrained_embeddings: Any = None, **net: Any
) -> tuple[LabellingTask, dict[str, float]]:
    config = TaggerConfig(**{"hidden_size": 8, **net})
    task = LabellingTask(
        data.vocab_size,
        data.labels,
        data.char_vocab_size,
        config,
        pretrained_embeddings=pretrained_embeddings,
    )
    trainer = L.Trainer(
        max_steps=steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
        num_sanity_val_steps=0,
    )
    hand_data(task, data)  # what seqlab's engine does after building
    trainer.fit(task, data)
    (metrics,) = trainer.validate(task, data, verbose=False)
    return task, metrics


@pytest.mark.parametrize("crf", [False, True])
def test_metrics_equal_seqeval_on_the_same_predictions(tiny_conll, crf):
    data = LabellingData(
        LabelledFiles(str(tiny_conll["train"]), str(tiny_conll["validation"])),
        batch_size=4,
        eval_batch_size=3,
    )
    task, metrics = _fit(data, 8, crf=crf, word_embedding_size=8, char_embedding_size=4, char_hidden_size=4)
    task.eval()
    items = data.splits["validation"].items
    with torch.no_grad():
        predicted = task.tag(data.collate(items))
    gold = [[data.labels[t] for t in tags] for _, _, tags, _ in items]
    tokens = sum(len(g) for g in gold)
    right = sum(p == g for ps, gs in zip(predicted, gold, strict=True) for p, g in zip(ps, gs, strict=True))
    assert metrics["val/accuracy"] == pytest.approx(right / tokens, abs=1e-6)
    exact = sum(p == g for p, g in zip(predicted, gold, strict=True)) / len(gold)
    assert metrics["val/exact_match"] == pytest.approx(exact, abs=1e-6)
    assert metrics["val/span_f1"] == pytest.approx(f1_score(gold, predicted), abs=1e-6)
    assert metrics["val/precision"] == pytest.approx(precision_score(gold, predicted), abs=1e-6)
    assert metrics["val/recall"] == pytest.approx(recall_score(gold, predicted), abs=1e-6)


def test_bio_tags_constrain_the_crf_and_pick_span_f1(tiny_conll):
    data = LabellingData(LabelledFiles(str(tiny_conll["train"]), str(tiny_conll["validation"])))
    task = LabellingTask(data.vocab_size, data.labels, net=TaggerConfig(crf=True))
    assert task.monitor == "val/span_f1"
    allowed = task.model.crf.allowed
    o, i_per = data.labels.index("O"), data.labels.index("I-PER")
    assert not allowed[o, i_per] and allowed[data.labels.index("B-PER"), i_per]
    unconstrained = LabellingTask(
        data.vocab_size, data.labels, constrain_crf=False, net=TaggerConfig(crf=True)
    )
    assert unconstrained.model.crf.allowed.all()


def test_tags_without_a_span_scheme_monitor_accuracy_and_leave_the_crf_free(tiny_conllu):
    data = LabellingData(LabelledFiles(str(tiny_conllu["train"]), str(tiny_conllu["validation"])))
    assert "NOUN" in data.labels
    task = LabellingTask(data.vocab_size, data.labels, data.char_vocab_size, net=TaggerConfig(crf=True))
    assert task.monitor == "val/accuracy"
    assert task.model.crf.allowed.all()
    _, metrics = _fit(data, 2, crf=True)
    assert "val/span_f1" not in metrics and 0 <= metrics["val/accuracy"] <= 1


def test_iob1_files_become_iob2_with_the_same_spans(tmp_path):
    """The original CoNLL-2003 is IOB1: a span starts with I- unless it follows one of its type."""
    rows = ["Ada I-PER\nLovelace I-PER\nmet O\nTuring I-PER\n", "in O\nRome I-LOC\nParis B-LOC\n"] * 3
    path = tmp_path / "iob1.conll"
    path.write_text("\n".join(rows))
    data = LabellingData(LabelledFiles(str(path), str(path)))
    assert "B-PER" in data.labels and "B-LOC" in data.labels
    first, second = data.raw["validation"][:2]
    assert first.tags == ["B-PER", "I-PER", "O", "B-PER"]
    assert second.tags == ["O", "B-LOC", "B-LOC"]


def test_pretrained_word_vectors_start_the_tagger_and_stay_frozen(tiny_conll, tmp_path):
    """The word table starts from the file's vectors (matched through the data's word vocabulary) and,
    frozen, keeps them while the rest of the tagger trains."""
    data = LabellingData(LabelledFiles(str(tiny_conll["train"]), str(tiny_conll["validation"])), batch_size=4)
    vectors = {"Paris": [0.5, -1.0, 2.0, 0.25], "met": [1.0, 1.0, -1.0, 0.0]}
    path = tmp_path / "vectors.txt"
    path.write_text("".join(f"{w} {' '.join(map(str, v))}\n" for w, v in vectors.items()))
    spec = PretrainedEmbeddings(str(path), freeze=True)
    task, _ = _fit(data, 3, word_embedding_size=4, pretrained_embeddings=spec)
    table = task.model.embedding.weight.detach()
    assert not task.model.embedding.weight.requires_grad
    for word, vector in vectors.items():
        torch.testing.assert_close(table[data.words.token_strings().index(word)], torch.tensor(vector))


@pytest.mark.parametrize("crf", [False, True])
def test_a_tag_unseen_in_training_is_scored_wrong_not_a_crash(tmp_path, crf):
    """Validation holds a tag (B-EVENT) that train lacks: evaluation runs, that token counts as wrong
    in accuracy (the model cannot predict it), and the loss leaves its sentence out."""
    train = "".join(f"we\tO\nmet\tO\n{name}\tB-PER\n\n" for name in ("Ada", "Alan", "Grace") * 4)
    (tmp_path / "train.conll").write_text(train, encoding="utf-8")
    (tmp_path / "dev.conll").write_text("we\tO\nmet\tO\nAda\tB-PER\n\nthe\tO\nfair\tB-EVENT\n\n")
    data = LabellingData(LabelledFiles(str(tmp_path / "train.conll"), str(tmp_path / "dev.conll")))
    task, metrics = _fit(data, 4, crf=crf, word_embedding_size=8, char_embedding_size=4, char_hidden_size=4)
    task.eval()
    with torch.no_grad():
        predicted = task.tag(data.collate(data.splits["validation"].items))
    gold = [["O", "O", "B-PER"], ["O", None]]  # None: a tag the model cannot predict
    right = sum(p == g for ps, gs in zip(predicted, gold, strict=True) for p, g in zip(ps, gs, strict=True))
    assert metrics["val/accuracy"] == pytest.approx(right / 5, abs=1e-6)
    assert metrics["val/exact_match"] <= 0.5  # the second sentence can never be all right
    assert torch.isfinite(torch.tensor(metrics["val/loss"]))
