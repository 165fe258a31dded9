"""End-to-end: classification and labelling under real 2-process DDP on CPU (gloo). Each rank trains
on its own half of the batches, and the validation metrics, synchronised over the ranks, equal a
single-process validation of the same checkpoint (every example counted exactly once)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from seqlab.cli import main
from tests.engine.test_ddp import run_cli
from tests.test_configs import accepted_args

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
CASES = {
    "classify": (
        CONFIGS / "classification" / "tsv_word_bigru_attention.yaml",
        "tiny_tsv",
        ["val/accuracy", "val/macro_f1"],
    ),
    "label": (
        CONFIGS / "labelling" / "conll_ner_charbilstm_crf.yaml",
        "tiny_conll",
        ["val/accuracy", "val/span_f1"],
    ),
}


def _validation_rows(run: Path) -> list[dict[str, str]]:
    with (run / "metrics.csv").open() as file:
        return [row for row in csv.DictReader(file) if row.get("val/accuracy")]


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_ddp_metrics_equal_single_process_validation(case, request, tmp_path, tiny_encoder_model_args):
    config, data_fixture, keys = CASES[case]
    files = request.getfixturevalue(data_fixture)
    args = [
        "--config",
        str(config),
        f"--data.source.train={files['train']}",
        f"--data.source.validation={files['validation']}",
        "--data.batch_size=4",
        "--data.eval_batch_size=3",
        "--run.wandb.mode=disabled",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        "--trainer.accelerator=cpu",
    ]
    model = accepted_args(config, tiny_encoder_model_args)
    ddp = [*args, *model, "--trainer.max_epochs=2", "--trainer.devices=2", "--trainer.strategy=ddp"]
    result = run_cli(["fit", *ddp], cwd=tmp_path, timeout=240)
    assert result.returncode == 0, result.stderr[-4000:]
    (run,) = (tmp_path / "runs").glob("*/version_0")
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    train_rows = 40 if case == "classify" else 24
    per_rank = -(-train_rows // 4 // 2)  # batches per rank per epoch: half of the batches
    assert ckpt["global_step"] == 2 * per_rank
    distributed = _validation_rows(run)[-1]

    main(["validate", *args, *model, f"--ckpt_path={run / 'checkpoints' / 'last.ckpt'}"])
    single = _validation_rows(run / "evals" / "validate-0")[-1]  # the evaluation's own record
    assert single is not distributed
    for key in keys:
        assert float(distributed[key]) == pytest.approx(float(single[key]), abs=1e-6), key
