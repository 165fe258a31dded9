"""Pretrained embeddings: matching a vocabulary to a vector file (init_embedding_from), applying it in a
task's setup (frozen or not, recurrent and fixed-window models), and `--model.pretrained_embeddings` through
the CLI (coverage in metrics.csv, clear errors, freeze surviving a resume)."""

from __future__ import annotations

import csv
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from torch import nn

from seqlab.cli import main
from seqlab.data import LanguageModelData, TextFiles, read_embedding_file
from seqlab.engine.task_data import hand_data
from seqlab.nn import FixedWindowLMConfig, PretrainedEmbeddings, RecurrentLMConfig, init_embedding_from
from seqlab.tasks import FixedWindowLMTask, GenerationTask

REPO = Path(__file__).resolve().parents[2]
CHAR_LSTM = REPO / "configs" / "generation" / "char_lstm.yaml"


# ---- matching (plain torch) ------------------------------------------------------------------------
VOCAB = ["<unk>", "the", "The", "cat", "Dog", "zebra"]
FILE_TOKENS = ["dog", "the", "<unk>", "cat", "unused"]
FILE_VECTORS = np.arange(15, dtype=np.float32).reshape(5, 3) / 10


def test_partial_coverage_with_lowercase_fallback() -> None:
    """Matched rows hold exactly the file's vectors ('The' and 'Dog' through their lowercase forms), the
    unmatched row and rows past the vocabulary keep their values; 5 of 6 covered."""
    embedding = nn.Embedding(len(VOCAB) + 1, 3)  # one extra row, e.g. padding
    before = embedding.weight.detach().clone()
    stats = init_embedding_from(embedding, VOCAB, FILE_TOKENS, FILE_VECTORS)
    weight = embedding.weight.detach()
    for row, source in {0: 2, 1: 1, 2: 1, 3: 3, 4: 0}.items():
        torch.testing.assert_close(weight[row], torch.from_numpy(FILE_VECTORS[source]), rtol=0, atol=0)
    assert torch.equal(weight[5:], before[5:])
    assert (stats.matched, stats.total, stats.lowercase, stats.unmatched) == (5, 6, 2, ["zebra"])
    assert stats.coverage == pytest.approx(5 / 6)
    assert embedding.weight.requires_grad


def test_exact_matching_only() -> None:
    embedding = nn.Embedding(len(VOCAB), 3)
    before = embedding.weight.detach().clone()
    stats = init_embedding_from(embedding, VOCAB, FILE_TOKENS, FILE_VECTORS, lowercase_fallback=False)
    assert (stats.matched, stats.lowercase, stats.unmatched) == (3, 0, ["The", "Dog", "zebra"])
    assert torch.equal(embedding.weight.detach()[[2, 4, 5]], before[[2, 4, 5]])


def test_dimension_mismatch_names_source_and_sizes() -> None:
    with pytest.raises(ValueError, match=r"glove\.txt: the vectors have 3 dimensions .* table has 4"):
        init_embedding_from(nn.Embedding(6, 4), VOCAB, FILE_TOKENS, FILE_VECTORS, source="glove.txt")


# ---- in a task: setup, freeze ---------------------------------------------------------------------
def glove_for(vocab: list[str], path: Path, dim: int) -> Path:
    """A GloVe file covering every third vocabulary token in lowercase, plus tokens no vocabulary has."""
    rng = np.random.default_rng(0)
    words = [*sorted({t.lower() for t in vocab[::3] if t.strip()}), "zebra", "naïve"]
    lines = [f"{w} " + " ".join(f"{v:.4f}" for v in rng.normal(size=dim)) for w in words]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def tiny_data(tiny_corpus: dict[str, Path]) -> LanguageModelData:
    corpus = TextFiles(**{split: str(p) for split, p in tiny_corpus.items()})
    return LanguageModelData(corpus=corpus, batch_size=4, seq_len=16)


def expected_table(before: torch.Tensor, vocab: list[str], path: Path) -> tuple[torch.Tensor, int]:
    """The table after initialisation, computed independently of init_embedding_from."""
    tokens, vectors = read_embedding_file(path)
    index = {t: i for i, t in enumerate(tokens)}
    table, matched = before.clone(), 0
    for row, token in enumerate(vocab):
        source = index.get(token, index.get(token.lower()))
        if source is not None:
            table[row] = torch.from_numpy(vectors[source])
            matched += 1
    return table, matched


def make_task(kind: str, vocab_size: int, spec: PretrainedEmbeddings, **kwargs) -> L.LightningModule:
    net = {"embedding_size": 6, "hidden_size": 8, "num_layers": 1, **kwargs}
    if kind == "window":
        return FixedWindowLMTask(vocab_size, FixedWindowLMConfig(context_size=3, **net), spec)
    return GenerationTask(vocab_size, RecurrentLMConfig(cell="gru", **net), spec)


def train_steps(task: L.LightningModule, data: LanguageModelData, steps: int = 2) -> None:
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=steps,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    hand_data(task, data)  # what seqlab's engine does after building
    trainer.fit(task, datamodule=data)


@pytest.mark.parametrize("kind", ["window", "recurrent"])
@pytest.mark.parametrize("freeze", [True, False])
def test_setup_initialises_and_freeze_keeps_rows(
    kind: str, freeze: bool, tiny_corpus, tmp_path, capsys
) -> None:
    """fit's setup copies the file's vectors into the table and prints the coverage; after two AdamW steps
    a frozen table is exactly that (while the rest of the model trained), an unfrozen one has moved."""
    data = tiny_data(tiny_corpus)
    vocab = data.tokenizer.token_strings()
    path = glove_for(vocab, tmp_path / "glove.txt", 6)
    task = make_task(kind, data.vocab_size, PretrainedEmbeddings(str(path), freeze=freeze))
    before = task.model.embedding.weight.detach().clone()
    others = {n: p.detach().clone() for n, p in task.model.named_parameters() if "embedding" not in n}
    expected, matched = expected_table(before, vocab, path)
    assert 0 < matched < len(vocab)

    train_steps(task, data)
    printed = capsys.readouterr().out
    assert f"{matched} of {len(vocab)} tokens matched ({matched / len(vocab):.1%}" in printed
    after = task.model.embedding.weight.detach()
    assert task.model.embedding.weight.requires_grad == (not freeze)
    assert any(
        not torch.equal(p.detach(), others[n]) for n, p in task.model.named_parameters() if n in others
    )
    if freeze:
        assert torch.equal(after, expected)
    else:
        assert not torch.equal(after, expected)
        assert not torch.equal(after, before)


def test_frozen_tied_embeddings_warn(tiny_corpus, tmp_path) -> None:
    """With tied weights the output layer is the embedding table: freezing it says so."""
    data = tiny_data(tiny_corpus)
    path = glove_for(data.tokenizer.token_strings(), tmp_path / "glove.txt", 6)
    task = make_task(
        "window", data.vocab_size, PretrainedEmbeddings(str(path), freeze=True), tie_weights=True
    )
    with pytest.warns(UserWarning, match=r"model\.output\.weight shares the embedding matrix .* frozen too"):
        train_steps(task, data, steps=1)
    assert not task.model.output.weight.requires_grad


# ---- through the CLI ------------------------------------------------------------------------------
def test_cli_logs_coverage_and_freeze_survives_resume(tiny_fit_args, tiny_corpus, tmp_path, capsys) -> None:
    """`--model.pretrained_embeddings.path/freeze` on char_lstm.yaml: embeddings/coverage lands in
    metrics.csv, matched rows in last.ckpt are the file's vectors, also after resuming to step 9."""
    vocab = tiny_data(tiny_corpus).tokenizer.token_strings()
    path = glove_for(vocab, tmp_path / "glove.txt", 16)  # tiny_fit_args set embedding_size 16
    args = [
        *tiny_fit_args,
        f"--model.pretrained_embeddings.path={path}",
        "--model.pretrained_embeddings.freeze=true",
    ]
    main(["fit", "--config", str(CHAR_LSTM), *args])
    run = Path("runs/char_lstm/version_0")
    _, matched = expected_table(torch.zeros(len(vocab), 16), vocab, path)
    with open(run / "metrics.csv", newline="") as file:
        (coverage,) = [
            float(r["embeddings/coverage"]) for r in csv.DictReader(file) if r["embeddings/coverage"]
        ]
    assert coverage == pytest.approx(matched / len(vocab))
    assert f"{matched} of {len(vocab)} tokens matched" in capsys.readouterr().out

    def step_and_rows_match() -> tuple[int, bool]:
        ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
        weight = ckpt["state_dict"]["model.embedding.weight"]
        expected, _ = expected_table(weight, vocab, path)
        return ckpt["global_step"], torch.equal(weight, expected)

    assert step_and_rows_match() == (6, True)
    main(["fit", "--config", str(CHAR_LSTM), *args, "--ckpt_path", "last", "--trainer.max_steps=9"])
    assert step_and_rows_match() == (9, True)


def test_cli_dimension_mismatch_is_a_clear_error(tiny_fit_args, tmp_path, capsys) -> None:
    """A 5-dimensional file for a 16-wide table stops the run with both sizes and the file named."""
    path = tmp_path / "small.txt"
    path.write_text("e 1 2 3 4 5\n", encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        main(
            ["fit", "--config", str(CHAR_LSTM), *tiny_fit_args, f"--model.pretrained_embeddings.path={path}"]
        )
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert (
        f"seqlab: error: {path}: the vectors have 5 dimensions but the model's embedding table has 16" in err
    )


def test_cli_malformed_file_names_the_line(tiny_fit_args, tmp_path, capsys) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("a " + " ".join(["0.5"] * 16) + "\nb oops\n", encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        main(
            ["fit", "--config", str(CHAR_LSTM), *tiny_fit_args, f"--model.pretrained_embeddings.path={path}"]
        )
    assert exit_info.value.code == 2
    assert f"seqlab: error: {path}, line 2: expected the token 'b' and 16 values" in capsys.readouterr().err
