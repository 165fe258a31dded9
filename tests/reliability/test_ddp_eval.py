"""Evaluation under DDP counts every example exactly once, whatever the number of examples per rank.

Unit level: the evaluation sampler gives every rank the same number of batches (at least one) and
counts each example once, in the single-process batches; language-model evaluation streams are cut
the same way for any number of processes. End to end: a real 2-process CPU fit (gloo) of each kind of
task, with so few validation examples that a rank has only filler to run, logs the validation metrics
that a single-process validation of the same checkpoint logs.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from seqlab.cli import main
from seqlab.data.modules.batching import EvalBatchSampler, is_filler
from seqlab.data.modules.streams import IGNORE_INDEX, StreamWindows
from tests.data.speech_helpers import write_manifest, write_wav
from tests.engine.test_ddp import run_cli
from tests.test_configs import accepted_args

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


# ---- the evaluation sampler -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("n", "batch_size", "world_size"),
    [(3, 4, 2), (1, 1, 3), (5, 2, 2), (7, 2, 4), (503, 10, 3), (12, 3, 2)],
)
def test_every_rank_runs_the_same_number_of_batches_and_each_example_counts_once(
    n: int, batch_size: int, world_size: int
) -> None:
    lengths = np.random.default_rng(n).integers(1, 50, size=n).tolist()
    single = [[i for i, _ in b] for b in EvalBatchSampler(lengths, batch_size)]
    ranks = [list(EvalBatchSampler(lengths, batch_size, r, world_size)) for r in range(world_size)]
    steps = {len(batches) for batches in ranks}
    assert steps == {max(1, -(-len(single) // world_size))}  # equal, and never zero
    assert [len(list(EvalBatchSampler(lengths, batch_size, r, world_size))) for r in range(world_size)] == [
        len(EvalBatchSampler(lengths, batch_size, r, world_size)) for r in range(world_size)
    ]
    counted = [[i for i, c in batch] for batches in ranks for batch in batches if all(c for _, c in batch)]
    fillers = [batch for batches in ranks for batch in batches if not any(c for _, c in batch)]
    assert len(counted) + len(fillers) == sum(len(b) for b in ranks)  # no batch mixes the two
    assert sorted(counted) == sorted(single)  # the single-process batches, each on exactly one rank
    assert sorted(i for batch in counted for i in batch) == list(range(n))
    assert all(len(batch) == 1 for batch in fillers)  # fillers cost one short example


def test_an_empty_split_gives_no_batches_on_any_rank() -> None:
    assert [len(EvalBatchSampler([], 4, r, 2)) for r in range(2)] == [0, 0]


def test_filler_batches_are_recognised_and_mixed_batches_refused() -> None:
    assert not is_filler({"counted": torch.tensor([True, True])})
    assert not is_filler({"ids": torch.zeros(2)})  # batches from elsewhere (prediction) count
    assert is_filler({"counted": torch.tensor([False])})
    with pytest.raises(ValueError, match="mixes"):
        is_filler({"counted": torch.tensor([True, False])})


# ---- language-model evaluation streams ------------------------------------------------------------
@pytest.mark.parametrize(("streams", "world_size"), [(3, 2), (4, 2), (1, 2), (2, 3)])
def test_evaluation_streams_do_not_depend_on_the_number_of_processes(streams: int, world_size: int) -> None:
    """The ranks' streams together are the single-process streams (each once); a rank without a
    stream reads a filler whose targets are all ignored, for as many windows as the others."""
    ids = torch.arange(1001)
    single = StreamWindows(ids, streams, seq_len=7, evaluation=True)
    ranks = [
        StreamWindows(ids, streams, seq_len=7, rank=r, world_size=world_size, evaluation=True)
        for r in range(world_size)
    ]
    assert {len(w) for w in ranks} == {len(single)}
    real = [
        row for w in ranks for row, t in zip(w.inputs, w.targets, strict=True) if (t != IGNORE_INDEX).all()
    ]
    assert sorted(map(tuple, torch.stack(real).tolist())) == sorted(map(tuple, single.inputs.tolist()))
    fillers = [w for w in ranks if (w.targets == IGNORE_INDEX).all()]
    assert len(fillers) == max(0, world_size - streams)
    assert sum(w.num_tokens for w in ranks) == single.num_tokens
    # training keeps streams per rank: world_size times as many, each rank its own block
    train = StreamWindows(ids, streams, seq_len=7, rank=0, world_size=world_size)
    assert train.stream_length == (len(ids) - 1) // (streams * world_size)


# ---- end to end: a 2-process fit's validation equals a single-process validation ----------------
def _speech_files(tmp_path: Path) -> list[str]:
    words = ["ab", "ba", "abba", "b", "aab", "bab", "a", "bb"]
    rows = [{"audio": write_wav(tmp_path / f"{i}.wav", 0.2 + 0.05 * i, hz=300 + 60 * i).name, "text": w}
            for i, w in enumerate(words)]  # fmt: skip
    train = write_manifest(tmp_path / "train.jsonl", rows[:5])
    valid = write_manifest(tmp_path / "valid.jsonl", rows[5:])  # 3 utterances
    return [
        "--data.source=seqlab.data.SpeechManifests",
        f"--data.source.train={train}",
        f"--data.source.validation={valid}",
        "--data.num_mel_bins=16",
        "--data.spec_augment=false",
        "--data.batch_size=2",
        "--data.eval_batch_size=1",
        "--model.net.hidden_size=8",
        "--model.net.num_layers=1",
    ]


def _transduction_files(tmp_path: Path, tiny_parallel: dict[str, list[Path]]) -> list[str]:
    for path in tiny_parallel["validation"]:  # 3 validation pairs
        path.write_text("".join(path.read_text().splitlines(keepends=True)[:3]))
    (src, tgt), (vsrc, vtgt) = tiny_parallel["train"], tiny_parallel["validation"]
    return [
        f"--data.source.train=[{src},{tgt}]",
        f"--data.source.validation=[{vsrc},{vtgt}]",
        "--data.batch_size=4",
        "--data.eval_batch_size=1",
        "--model.net.embedding_size=8",
        "--model.net.hidden_size=16",
        "--model.eval_beam_size=3",
    ]


def _classification_files(tiny_tsv: dict[str, Path]) -> list[str]:
    path = tiny_tsv["validation"]
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:4]))  # header + 3 rows
    return [
        f"--data.source.train={tiny_tsv['train']}",
        f"--data.source.validation={path}",
        "--data.batch_size=4",
        "--data.eval_batch_size=4",
        "--model.net.embedding_size=8",
        "--model.net.hidden_size=16",
    ]


# case: (config, what the validation row is compared on)
CASES = {
    "classify_3_rows": (
        "classification/tsv_word_bigru_attention.yaml",
        ["val/loss", "val/accuracy", "val/macro_f1"],
    ),
    "translate_3_rows": (
        "transduction/translation_spm_bigru_luong.yaml",
        ["val/loss", "val/bleu", "val/chrf"],
    ),
    "speech_3_utterances": ("transduction/speech_ctc_bilstm.yaml", ["val/loss", "val/cer", "val/wer"]),
    "lm_3_streams": ("generation/char_lstm.yaml", ["val/loss", "val/bpc"]),
    "lm_1_stream": ("generation/char_lstm.yaml", ["val/loss", "val/bpc"]),
}


def _validation_rows(run: Path) -> dict[tuple[str, int], dict[str, str]]:
    """Every validation row in any metrics.csv of the run (a fit's, or an evaluation's own record),
    keyed by file and row number, so the rows a later command adds can be told apart."""
    rows = {}
    for path in run.rglob("metrics.csv"):
        with path.open() as file:
            for i, row in enumerate(csv.DictReader(file)):
                if row.get("val/loss"):
                    rows[(str(path), i)] = row
    return rows


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_ddp_validation_equals_single_process_validation(case: str, request, tmp_path: Path) -> None:
    """2 processes, 2 training steps, one validation; then the same checkpoint validated on one
    process. With 3 validation examples (or 1 language-model stream) one rank has only filler batches:
    it must still run (else the fit hangs or dies) and its filler must not count."""
    name, keys = CASES[case]
    config = CONFIGS / name
    common = [
        "--config",
        str(config),
        "--run.wandb.mode=disabled",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        "--trainer.accelerator=cpu",
        "--trainer.precision=32-true",  # the ranks batch examples differently: keep the sums exact
        "--trainer.log_every_n_steps=1",
    ]
    if case.startswith("lm"):
        streams = 3 if case == "lm_3_streams" else 1
        data = [*request.getfixturevalue("tiny_fit_args"), f"--data.eval_batch_size={streams}"]
        data += ["--model.net.hidden_size=16", "--model.net.num_layers=1", "--trainer.limit_val_batches=4"]
        schedule = [
            "--trainer.max_steps=2",
            "--trainer.val_check_interval=2",
            "--trainer.check_val_every_n_epoch=null",
        ]
    else:
        if case.startswith("classify"):
            data = _classification_files(request.getfixturevalue("tiny_tsv"))
        elif case.startswith("translate"):
            data = _transduction_files(tmp_path, request.getfixturevalue("tiny_parallel"))
        else:
            data = _speech_files(tmp_path)
        schedule = ["--trainer.max_epochs=1", "--trainer.limit_train_batches=2"]
    args = [*common, *accepted_args(config, data)]
    ddp = ["fit", *args, *schedule, "--trainer.devices=2", "--trainer.strategy=ddp"]
    result = run_cli(ddp, cwd=tmp_path, timeout=240)
    assert result.returncode == 0, result.stderr[-4000:]
    (run,) = (tmp_path / "runs").glob("*/version_0")
    fit_rows = _validation_rows(run)
    assert len(fit_rows) == 1  # the one validation, after step 2 (no sanity check rows are logged)
    (distributed,) = fit_rows.values()

    main(["validate", *args, f"--ckpt_path={run / 'checkpoints' / 'last.ckpt'}"])
    new = [row for key, row in _validation_rows(run).items() if key not in fit_rows]
    assert len(new) == 1, new  # the single-process validation's own row
    single = new[0]
    for key in keys:
        assert float(distributed[key]) == pytest.approx(float(single[key]), rel=1e-5, abs=1e-6), key
