"""TransductionData and TransductionTask: target specials, one training pair per reference, decoded
metrics equal the edit-distance metrics on the same outputs, and `seqlab decode` round trips."""

from __future__ import annotations

import io
import re
from pathlib import Path

import lightning as L
import pytest
import torch

from seqlab.cli import main
from seqlab.data import (
    CharTokenizer,
    HubParallel,
    ParallelFiles,
    SentencePieceTokenizer,
    TransductionData,
    WordTokenizer,
)
from seqlab.data.errors import DataError
from seqlab.data.examples import ParallelExample
from seqlab.data.modules.batching import pad
from seqlab.data.modules.transduction import BOS, EOS, PAD, SPECIALS, detokenize_target
from seqlab.data.sources.transduction import ParallelSource
from seqlab.data.tokenizers.state import tokenizer_from_state
from seqlab.engine.checkpoints import checkpoint_data_state, read_checkpoint
from seqlab.engine.task_data import hand_data
from seqlab.inference.decode import _write, one_line
from seqlab.inference.loader import load_task
from seqlab.metrics.edit_distance import item_error_rate, phoneme_error_rate
from seqlab.nn import Seq2SeqConfig
from seqlab.nn.errors import NetSettingError
from seqlab.tasks import TransductionTask

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "transduction" / "g2p_bilstm_attention.yaml"


class Lexicon(ParallelSource):
    """A tiny in-memory pronunciation lexicon (two references for one word)."""

    def load(self) -> dict[str, list[ParallelExample]]:
        train = [
            ParallelExample("cat", ["K AE T"], "lex:1"),
            ParallelExample("read", ["R IY D", "R EH D"], "lex:2"),
            ParallelExample("tea", ["T IY"], "lex:3"),
        ]
        return {"train": train, "validation": [ParallelExample("read", ["R IY D", "R EH D"], "lex:9")]}


def test_targets_carry_specials_and_every_reference_trains():
    data = TransductionData(Lexicon(), CharTokenizer(), WordTokenizer())
    train = data.splits["train"].items
    assert len(train) == 4  # "read" trains on both pronunciations
    _, target, refs, _ = train[1]
    assert target[0] == BOS and target[-1] == EOS and refs is None
    assert detokenize_target(data.target_tokenizer, target[1:]) == "R IY D"
    (valid,) = data.splits["validation"].items
    assert valid[2] == ["R IY D", "R EH D"]  # evaluation keeps every reference
    assert data.target_vocab_size == data.target_tokenizer.vocab_size + SPECIALS
    batch = data.collate(train)
    assert batch["target_in"][:, 0].eq(BOS).all()
    lengths = (batch["target_out"] != PAD).sum(1)
    assert batch["target_out"][torch.arange(4), lengths - 1].eq(EOS).all()


def test_line_count_mismatch_names_both_files(tmp_path):
    (tmp_path / "a.src").write_text("x\ny\n")
    (tmp_path / "a.tgt").write_text("x\n")
    with pytest.raises(DataError, match=r"a\.src.*2.*a\.tgt.*1"):
        TransductionData(ParallelFiles([str(tmp_path / "a.src"), str(tmp_path / "a.tgt")]))


def test_length_filter_drops_long_training_pairs(tiny_parallel):
    files = {k: [str(p) for p in v] for k, v in tiny_parallel.items()}
    full = TransductionData(
        ParallelFiles(files["train"], files["validation"]), WordTokenizer(), WordTokenizer()
    )
    short = TransductionData(
        ParallelFiles(files["train"], files["validation"]),
        WordTokenizer(),
        WordTokenizer(),
        max_source_length=3,
    )
    kept = [len(src) for src, _, _, _ in short.splits["train"].items]
    assert max(kept) == 3 and len(kept) < len(full.splits["train"].items)
    assert len(short.splits["validation"].items) == 10  # evaluation data is never filtered


@pytest.mark.parametrize("joint", [False, True])
def test_sentencepiece_separate_or_joint(tiny_parallel, tmp_path, joint):
    """Separate models (BPE source, unigram target) or one joint model over both sides; either way
    every target round trips through the shifted ids, and a checkpoint's tokenizers only load into
    the same data settings."""
    files = {k: [str(p) for p in v] for k, v in tiny_parallel.items()}
    for _, tgt in tiny_parallel.values():  # an upper-case "target language"
        tgt.write_text(tgt.read_text().upper())

    def build(joint: bool) -> TransductionData:
        return TransductionData(
            ParallelFiles(files["train"], files["validation"]),
            SentencePieceTokenizer("bpe", vocab_size=300),
            SentencePieceTokenizer("unigram", vocab_size=300),
            joint_tokenizer=joint,
            cache_dir=tmp_path / "cache",
        )

    data = build(joint)
    source, target = data.source_tokenizer, data.target_tokenizer
    pieces = set(source.token_strings())
    if joint:
        assert target is source and source.model_type == "bpe"
        assert {"R", "r"} <= pieces  # one model learned both sides' alphabets
    else:
        assert (source.model_type, target.model_type) == ("bpe", "unigram")
        assert "R" not in pieces and "R" in set(target.token_strings())
    for _, tgt, refs, _ in data.splits["validation"].items:
        assert detokenize_target(target, tgt[1:]) == refs[0]
    build(joint).load_state_dict(data.state_dict())  # same settings: accepted
    with pytest.raises(ValueError, match="different tokenizers"):
        build(not joint).load_state_dict(data.state_dict())


@pytest.mark.parametrize("beam", [1, 3])
def test_validation_metrics_equal_edit_distance_on_decoded_outputs(tiny_parallel, beam):
    files = {k: [str(p) for p in v] for k, v in tiny_parallel.items()}
    data = TransductionData(
        ParallelFiles(files["train"], files["validation"]), WordTokenizer(), WordTokenizer(), batch_size=8
    )
    task = TransductionTask(
        data.source_vocab_size,
        data.target_vocab_size,
        eval_beam_size=beam,
        net=Seq2SeqConfig(embedding_size=8, hidden_size=16),
    )
    trainer = L.Trainer(
        max_steps=10,
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
    task.eval()
    items = data.splits["validation"].items
    batch = data.collate(items)
    with torch.no_grad():
        outputs = [
            data.detokenize(ids) for ids in task.decode_ids(batch["source"], batch["source_lengths"], beam)
        ]
    refs = [r for _, _, r, _ in items]
    assert metrics["val/per"] == pytest.approx(phoneme_error_rate(outputs, refs), abs=1e-6)
    assert metrics["val/wer"] == pytest.approx(item_error_rate(outputs, refs), abs=1e-6)


def test_fit_writes_heatmaps_and_decode_round_trip(tmp_path, tiny_trainer_args, capsys, monkeypatch):
    words = tmp_path / "words.txt"
    words.write_text("cat\nreading\n")
    main(
        [
            "fit",
            "--config",
            str(CONFIG),
            "--data.source.max_words=300",
            "--data.batch_size=8",
            "--model.net.hidden_size=16",
            "--model.net.embedding_size=8",
            *tiny_trainer_args,
        ]
    )
    run = next(Path("runs").glob("*/version_0"))
    media = run / "media"
    assert any(media.glob("val_attention_0-step*.png")) and any(media.glob("val_outputs-step*.csv"))
    capsys.readouterr()

    main(["decode", "--ckpt_path", str(run), "--input", str(words)])
    greedy = capsys.readouterr().out.splitlines()
    assert len(greedy) == 2
    # the CLI's output is the task's own greedy decoding of the checkpoint (run dir -> best.ckpt)
    ckpt = run / "checkpoints" / "best.ckpt"
    task, source_tokenizer = load_task(ckpt)
    target_tokenizer = tokenizer_from_state(checkpoint_data_state(read_checkpoint(ckpt))["target_tokenizer"])
    ids = [torch.as_tensor(source_tokenizer.encode(w), dtype=torch.long) for w in ("cat", "reading")]
    with torch.no_grad():
        found = task.decode_ids(pad(ids), torch.tensor([3, 7]), beam_size=1)
    assert greedy == [detokenize_target(target_tokenizer, t) for t in found]

    main(["decode", "--ckpt_path", str(run), "--input", str(words), "--beam_size", "3", "--n_best", "2"])
    lines = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [int(n) for n, _, _ in lines] == [1, 1, 2, 2]
    scores = [float(s) for _, s, _ in lines]
    assert scores[0] >= scores[1] and scores[2] >= scores[3]

    main(
        ["decode", "--ckpt_path", str(run), "--input", str(words), "--beam_size", "1", "--output", "out.txt"]
    )
    assert Path("out.txt").read_text().splitlines() == greedy  # beam 1 is greedy

    monkeypatch.setattr("sys.stdin", open(words))  # noqa: SIM115
    main(["decode", "--ckpt_path", str(run), "--interactive", "true"])
    assert capsys.readouterr().out.splitlines() == greedy

    # Line 3 has no tokens: the error names it, and the earlier output is neither changed nor
    # left half-written, although lines 1-2 were decoded first (one line per batch).
    words.write_text("cat\nreading\n\ntea\n")
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(
            [
                "decode",
                "--ckpt_path",
                str(run),
                "--input",
                str(words),
                "--output",
                "out.txt",
                "--overwrite",
                "true",
                "--batch_size",
                "1",
            ]
        )
    assert "words.txt:3: the source '' has no tokens" in capsys.readouterr().err
    assert Path("out.txt").read_text().splitlines() == greedy
    assert not Path("out.txt.partial").exists()
    with pytest.raises(SystemExit):
        main(["decode", "--ckpt_path", str(run), "--input", str(words), "--output", str(words)])
    assert "is the input being read; choose another path" in capsys.readouterr().err
    assert words.read_text() == "cat\nreading\n\ntea\n"


def test_hub_parallel_translation_column_offline(tmp_path):
    """A WMT-style dataset (a `translation` column of language -> text) saved locally."""
    import datasets

    rows = [{"de": f"hallo {i}", "en": f"hello {i}"} for i in range(12)]
    datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict({"translation": rows}),
            "validation": datasets.Dataset.from_dict({"translation": rows[:3]}),
        }
    ).save_to_disk(str(tmp_path / "wmt"))
    data = TransductionData(
        HubParallel(str(tmp_path / "wmt"), source_lang="de", target_lang="en"),
        CharTokenizer(),
        CharTokenizer(),
    )
    _, target, refs, source = data.splits["validation"].items[1]
    assert source == "hallo 1" and refs == ["hello 1"]
    assert detokenize_target(data.target_tokenizer, target[1:]) == "hello 1"


def test_decoded_outputs_stay_one_line_per_input() -> None:
    """A hypothesis holding line breaks (a subword model can emit a newline piece) is written on one
    line, with or without scores, so output line k is still the output of input line k."""
    assert one_line("a\nb\r\nc\u2028d") == "a b c d" and one_line("") == ""
    out = io.StringIO()
    _write(out, 1, [("x\ny", -1.0)], with_scores=False)
    _write(out, 2, [("p\nq", -0.5), ("r", -0.7)], with_scores=True)
    assert out.getvalue().splitlines() == ["x y", "2\t-0.5000\tp q", "2\t-0.7000\tr"]


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"eval_beam_size": 0}, "model.eval_beam_size: expected a whole number >= 1, got 0"),
        ({"max_decode_length": 0}, "model.max_decode_length: expected a whole number >= 1, got 0"),
        ({"max_decode_ratio": -1.0}, "model.max_decode_ratio: expected a number above 0, got -1.0"),
    ],
)
def test_search_settings_out_of_range_are_refused_when_the_task_is_built(setting, message):
    """A beam of 0 ran greedy in silence; a negative max_decode_ratio was a traceback at the first
    validation, after the training steps before it."""
    with pytest.raises(NetSettingError, match=re.escape(message)):
        TransductionTask(10, 10, net=Seq2SeqConfig(embedding_size=8, hidden_size=16), **setting)
