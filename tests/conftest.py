"""Shared fixtures: every test runs in its own directory with private caches and W&B offline."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Imported now, so that Lightning's console log handler holds the session's stderr, not the capsys
# stream of whichever test first imports it (closed by the next test: "--- Logging error ---").
import lightning  # noqa: F401
import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "configs"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run in ``tmp_path`` with private seqlab, Hugging Face and W&B state; nothing reaches the network.

    Also: torch seeded and on one intra-op thread (tiny models on a busy 2-core machine crawl when
    OpenMP threads spin-wait), restored afterwards; SEQLAB_RUN_DIR and SEQLAB_LOG_DIR, which a fit exports
    into this process, do not outlive the test."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEQLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    for name in ("SEQLAB_RUN_DIR", "SEQLAB_LOG_DIR"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)  # recorded, so whatever a fit sets is undone afterwards
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield tmp_path
    torch.set_num_threads(threads)


def _python_source(megabytes: float) -> str:
    """Real text for tiny runs: the start of a few standard-library modules."""
    root = Path(sysconfig.get_paths()["stdlib"])
    text = ""
    for name in ("argparse.py", "json/decoder.py", "textwrap.py", "string.py", "fractions.py"):
        text += (root / name).read_text(encoding="utf-8")
    return text[: int(megabytes * 1e6)]


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> dict[str, Path]:
    """train/validation/test UTF-8 files of Python source, ~40k/6k/6k characters."""
    text = _python_source(0.052)
    files = {"train": text[:40_000], "validation": text[40_000:46_000], "test": text[46_000:52_000]}
    out = {}
    for split, content in files.items():
        path = tmp_path / f"{split}.txt"
        path.write_text(content, encoding="utf-8")
        out[split] = path
    return out


@pytest.fixture
def tiny_fit_args(tiny_corpus: dict[str, Path]) -> list[str]:
    """Overrides that turn any generation config into a seconds-long CPU run on ``tiny_corpus``."""
    return [
        "--data.corpus=seqlab.data.TextFiles",
        f"--data.corpus.train={tiny_corpus['train']}",
        f"--data.corpus.validation={tiny_corpus['validation']}",
        f"--data.corpus.test={tiny_corpus['test']}",
        "--data.batch_size=4",
        "--data.seq_len=16",
        "--model.net.hidden_size=32",
        "--model.net.embedding_size=16",
        "--trainer.max_steps=6",
        "--trainer.val_check_interval=3",
        "--trainer.limit_val_batches=2",
        "--trainer.log_every_n_steps=1",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        "--run.wandb.mode=disabled",
    ]


# Tiny labelled data for the encoder tasks: sentences whose label is a real property of the text
# (does it mention an animal?), so a few steps of training have something to learn.
_ANIMALS = ["cat", "dog", "horse", "owl", "fox"]
_THINGS = ["table", "lamp", "car", "book", "door"]


def _sentence(i: int) -> tuple[str, str]:
    animal = i % 2 == 0
    noun = (_ANIMALS if animal else _THINGS)[i % 5]
    words = ["the", noun, "is", ["big", "small", "red", "old"][i % 4]] + ["here"] * (i % 3)
    return " ".join(words), "animal" if animal else "thing"


@pytest.fixture
def tiny_tsv(tmp_path: Path) -> dict[str, Path]:
    """GLUE-style ``sentence<TAB>label`` train (40 rows) and validation (12 rows) files."""
    out = {}
    for split, rows in {"train": range(40), "validation": range(40, 52)}.items():
        path = tmp_path / f"{split}.tsv"
        lines = ["sentence\tlabel", *("\t".join(_sentence(i)) for i in rows)]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        out[split] = path
    return out


def _conll_sentence(i: int) -> list[tuple[str, str]]:
    names = [["Ada", "Lovelace"], ["Paris"], ["Alan", "Turing"], ["Rome"]]
    name = names[i % 4]
    kind = "LOC" if len(name) == 1 else "PER"
    tagged = [(w, ("B-" if j == 0 else "I-") + kind) for j, w in enumerate(name)]
    return [("we", "O"), ("met", "O"), *tagged, ("there" if i % 2 else "today", "O")]


@pytest.fixture
def tiny_conll(tmp_path: Path) -> dict[str, Path]:
    """CoNLL-2003-style ``token POS tag`` files with BIO entity tags: train (24) and validation (8)."""
    out = {}
    for split, rows in {"train": range(24), "validation": range(24, 32)}.items():
        blocks = ["-DOCSTART- -X- O\n"]
        for i in rows:
            blocks.append("".join(f"{w} X {t}\n" for w, t in _conll_sentence(i)))
        path = tmp_path / f"{split}.conll"
        path.write_text("\n".join(blocks), encoding="utf-8")
        out[split] = path
    return out


@pytest.fixture
def tiny_conllu(tmp_path: Path) -> dict[str, Path]:
    """Universal Dependencies CoNLL-U train/validation files (comments, a multiword token)."""
    sentence = (
        "# sent_id = {n}\n# text = Vamos al mercado.\n"
        "1\tVamos\tir\tVERB\tV\t_\t0\troot\t_\t_\n"
        "2-3\tal\t_\t_\t_\t_\t_\t_\t_\t_\n"
        "2\ta\ta\tADP\tP\t_\t4\tcase\t_\t_\n"
        "3\tel\tel\tDET\tD\t_\t4\tdet\t_\t_\n"
        "4\tmercado\tmercado\tNOUN\tN\t_\t1\tobl\t_\t_\n"
        "5\t.\t.\tPUNCT\tF\t_\t1\tpunct\t_\t_\n\n"
    )
    out = {}
    for split, count in {"train": 12, "validation": 4}.items():
        path = tmp_path / f"{split}.conllu"
        path.write_text("".join(sentence.format(n=i) for i in range(count)), encoding="utf-8")
        out[split] = path
    return out


@pytest.fixture
def tiny_trainer_args() -> list[str]:
    """Six training steps, two validations of two batches, nothing printed or sent to W&B."""
    return [
        "--trainer.max_steps=6",
        "--trainer.val_check_interval=3",
        "--trainer.limit_val_batches=2",
        "--trainer.log_every_n_steps=1",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        "--run.wandb.mode=disabled",
    ]


@pytest.fixture
def tiny_encoder_model_args() -> list[str]:
    """Model sizes that make any classification or labelling config a seconds-long CPU run."""
    return [
        "--model.net.hidden_size=16",
        "--model.net.embedding_size=8",
        "--model.net.word_embedding_size=8",
        "--model.net.char_embedding_size=4",
        "--model.net.char_hidden_size=4",
    ]


@pytest.fixture
def tiny_parallel(tmp_path: Path) -> dict[str, list[Path]]:
    """Line-aligned source/target files (the target is the source reversed): train 40, validation 10."""
    words = ["red", "cat", "sat", "on", "a", "big", "mat", "today", "then", "ran"]
    out = {}
    for split, rows in {"train": range(40), "validation": range(40, 50)}.items():
        sources = [" ".join(words[(i + k) % 10] for k in range(2 + i % 4)) for i in rows]
        src, tgt = tmp_path / f"{split}.src", tmp_path / f"{split}.tgt"
        src.write_text("".join(s + "\n" for s in sources), encoding="utf-8")
        tgt.write_text("".join(" ".join(reversed(s.split())) + "\n" for s in sources), encoding="utf-8")
        out[split] = [src, tgt]
    return out


class WandbRecords:
    """What an offline W&B run recorded, read back with wandb's own tooling (`wandb leet inspect`)."""

    executable = Path(sys.executable).parent / "wandb"

    def inspect(self, offline_run: Path, *options: str) -> str:
        result = subprocess.run(
            [str(self.executable), "leet", "inspect", *options, "--json", str(offline_run)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def summary(self, offline_run: Path) -> dict:
        """Run id, state, exit code, project, tags, config and summary metrics."""
        return json.loads(self.inspect(offline_run, "--summary"))

    def run_record(self, offline_run: Path) -> dict:
        """The `run` record of the transaction log (it carries group and tags)."""
        for line in self.inspect(offline_run).splitlines():
            record = json.loads(line)
            if record.get("type") == "run":
                return record["run"]
        raise AssertionError(f"no run record in {offline_run}")

    @staticmethod
    def offline_runs(run_dir: Path) -> list[Path]:
        return sorted((run_dir / "wandb").glob("offline-run-*"))


@pytest.fixture
def wandb_records() -> WandbRecords:
    return WandbRecords()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RayCluster:
    """Addresses of a running Ray head: ``gcs`` for ``ray.init``, ``dashboard`` for the Jobs API."""

    gcs: str
    dashboard: str


@pytest.fixture
def ray_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RayCluster]:
    """A one-node Ray cluster on loopback, started with `ray start` (token auth on, Ray's default; the
    token lives in this test's HOME; usage stats off) and stopped afterwards."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)  # left behind by any earlier ray.init here
    temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths must stay short
    ray = Path(sys.executable).parent / "ray"
    gcs, dashboard = _free_port(), _free_port()
    started = subprocess.run(
        [str(ray), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={gcs}",
         "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}", "--include-dashboard=true",
         "--num-cpus=2", "--object-store-memory=100000000", "--disable-usage-stats", f"--temp-dir={temp}"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert started.returncode == 0, f"ray start failed:\n{started.stdout[-2000:]}\n{started.stderr[-3000:]}"
    try:
        yield RayCluster(gcs=f"127.0.0.1:{gcs}", dashboard=f"http://127.0.0.1:{dashboard}")
    finally:
        subprocess.run([str(ray), "stop", "--force"], capture_output=True, timeout=300)
        shutil.rmtree(temp, ignore_errors=True)


FAKE_WANDB_API_KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"  # 40 hex digits, the shape of a real key


@pytest.fixture
def wandb_api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """A W&B API key in this process's environment (fake, but shaped like one), for checks that it
    never shows in clear text."""
    monkeypatch.setenv("WANDB_API_KEY", FAKE_WANDB_API_KEY)
    return FAKE_WANDB_API_KEY
