"""Tiny data of each config's own kind and the overrides that make any config train for seconds.

The same recipe as ``tests/test_configs.py::tiny_args`` and the fixtures of ``tests/conftest.py``
(built-in sources shrunk, file sources pointed at tiny files of their format, tiny model), written as
plain functions: the tests package needs pytest, and ``../shared/data`` does not travel to the GPU
machine. Keep the two in step when a config with a new data source is added.
"""

from __future__ import annotations

import importlib
import inspect
import sysconfig
from pathlib import Path

import yaml

from seqlab.engine.compatibility import net_fields

_ANIMALS = ["cat", "dog", "horse", "owl", "fox"]
_THINGS = ["table", "lamp", "car", "book", "door"]
_WORDS = ["red", "cat", "sat", "on", "a", "big", "mat", "today", "then", "ran"]


def python_source(characters: int) -> str:
    """Real text for tiny language-model runs: the start of a few standard-library modules."""
    root = Path(sysconfig.get_paths()["stdlib"])
    names = ("argparse.py", "json/decoder.py", "textwrap.py", "string.py", "fractions.py")
    return "".join((root / name).read_text(encoding="utf-8") for name in names)[:characters]


def text_files(folder: Path) -> dict[str, Path]:
    """train/validation/test text files, ~40k/6k/6k characters."""
    text = python_source(52_000)
    parts = {"train": text[:40_000], "validation": text[40_000:46_000], "test": text[46_000:]}
    return {split: _write(folder / f"{split}.txt", part) for split, part in parts.items()}


def _sentence(i: int) -> tuple[str, str]:
    animal = i % 2 == 0
    noun = (_ANIMALS if animal else _THINGS)[i % 5]
    words = ["the", noun, "is", ["big", "small", "red", "old"][i % 4]] + ["here"] * (i % 3)
    return " ".join(words), "animal" if animal else "thing"


def tsv_files(folder: Path) -> dict[str, Path]:
    """GLUE-style ``sentence<TAB>label`` files: train 40 rows, validation 12."""
    out = {}
    for split, rows in {"train": range(40), "validation": range(40, 52)}.items():
        lines = ["sentence\tlabel", *("\t".join(_sentence(i)) for i in rows)]
        out[split] = _write(folder / f"{split}.tsv", "\n".join(lines) + "\n")
    return out


def _conll_sentence(i: int) -> list[tuple[str, str]]:
    names = [["Ada", "Lovelace"], ["Paris"], ["Alan", "Turing"], ["Rome"]]
    name = names[i % 4]
    kind = "LOC" if len(name) == 1 else "PER"
    tagged = [(w, ("B-" if j == 0 else "I-") + kind) for j, w in enumerate(name)]
    return [("we", "O"), ("met", "O"), *tagged, ("there" if i % 2 else "today", "O")]


def conll_files(folder: Path) -> dict[str, Path]:
    """CoNLL-2003-style ``token POS tag`` files with BIO tags: train 24 sentences, validation 8."""
    out = {}
    for split, rows in {"train": range(24), "validation": range(24, 32)}.items():
        blocks = ["-DOCSTART- -X- O\n"]
        blocks += ["".join(f"{w} X {t}\n" for w, t in _conll_sentence(i)) for i in rows]
        out[split] = _write(folder / f"{split}.conll", "\n".join(blocks))
    return out


def conllu_files(folder: Path) -> dict[str, Path]:
    """Universal Dependencies CoNLL-U files (comments, a multiword token): train 12, validation 4."""
    sentence = (
        "# sent_id = {n}\n# text = Vamos al mercado.\n"
        "1\tVamos\tir\tVERB\tV\t_\t0\troot\t_\t_\n"
        "2-3\tal\t_\t_\t_\t_\t_\t_\t_\t_\n"
        "2\ta\ta\tADP\tP\t_\t4\tcase\t_\t_\n"
        "3\tel\tel\tDET\tD\t_\t4\tdet\t_\t_\n"
        "4\tmercado\tmercado\tNOUN\tN\t_\t1\tobl\t_\t_\n"
        "5\t.\t.\tPUNCT\tF\t_\t1\tpunct\t_\t_\n\n"
    )
    counts = {"train": 12, "validation": 4}
    return {
        split: _write(folder / f"{split}.conllu", "".join(sentence.format(n=i) for i in range(count)))
        for split, count in counts.items()
    }


def parallel_files(folder: Path) -> dict[str, list[Path]]:
    """Line-aligned source/target files (the target is the source reversed): train 40, validation 10."""
    out = {}
    for split, rows in {"train": range(40), "validation": range(40, 50)}.items():
        sources = [" ".join(_WORDS[(i + k) % 10] for k in range(2 + i % 4)) for i in rows]
        src = _write(folder / f"{split}.src", "".join(s + "\n" for s in sources))
        tgt = _write(folder / f"{split}.tgt", "".join(" ".join(s.split()[::-1]) + "\n" for s in sources))
        out[split] = [src, tgt]
    return out


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def trainer_args(steps: int) -> list[str]:
    """``steps`` training steps, a validation of two batches every ``steps // 2``, nothing sent to W&B."""
    return [
        f"--trainer.max_steps={steps}",
        f"--trainer.val_check_interval={max(1, steps // 2)}",
        "--trainer.limit_val_batches=2",
        "--trainer.log_every_n_steps=1",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        "--run.wandb.mode=disabled",
    ]


LM_ARGS = [
    "--data.batch_size=4",
    "--data.seq_len=16",
    "--model.net.hidden_size=32",
    "--model.net.embedding_size=16",
]
ENCODER_ARGS = [
    "--data.batch_size=4",
    "--model.net.hidden_size=16",
    "--model.net.embedding_size=8",
    "--model.net.word_embedding_size=8",
    "--model.net.char_embedding_size=4",
    "--model.net.char_hidden_size=4",
]


def source_args(config: Path, folder: Path) -> list[str]:
    """The data overrides of ``config``: its own kind of tiny data, written into ``folder``."""
    data = yaml.safe_load(config.read_text())["data"]
    if data["class_path"].rsplit(".", 1)[-1] == "LanguageModelData":
        files = text_files(folder)
        return ["--data.corpus=seqlab.data.TextFiles"] + [f"--data.corpus.{s}={p}" for s, p in files.items()]
    source = data["init_args"]["source"]
    kind = source["class_path"].rsplit(".", 1)[-1]
    if kind == "ClassificationFiles":
        return [f"--data.source.{split}={path}" for split, path in tsv_files(folder).items()]
    if kind == "LabelledFiles":
        conllu = source.get("init_args", {}).get("format") == "conllu"
        files = conllu_files(folder) if conllu else conll_files(folder)
        return [f"--data.source.{split}={path}" for split, path in files.items()]
    if kind == "ParallelFiles":
        pairs = parallel_files(folder)
        return [f"--data.source.{split}=[{src},{tgt}]" for split, (src, tgt) in pairs.items()]
    builtin = {
        "WordLanguages": ["--data.source.words_per_language=150"],
        "CmudictStress": ["--data.source.max_words=400"],
        "CmudictG2P": ["--data.source.max_words=400"],
        "BuiltinSpeech": ["--data.source.sizes=[24,8,0]", "--data.source.workers=1"],
    }
    if kind not in builtin:
        raise ValueError(f"{config.name}: no tiny data for source {kind}; add it to gpu_check/tiny.py")
    return builtin[kind]


def accepted(config: Path, args: list[str]) -> list[str]:
    """``args`` without the ``--model.X`` (and ``--model.net.X``) overrides that the config's model class
    does not take."""
    module, _, name = yaml.safe_load(config.read_text())["model"]["class_path"].rpartition(".")
    task = getattr(importlib.import_module(module), name)
    known = set(inspect.signature(task).parameters) | {f"net.{field}" for field in net_fields(task)}
    return [a for a in args if not a.startswith("--model.") or a[len("--model.") :].split("=")[0] in known]


def tiny_args(config: Path, folder: Path, steps: int) -> list[str]:
    """Every override that turns ``config`` into a tiny run of ``steps`` steps on data in ``folder``."""
    is_lm = yaml.safe_load(config.read_text())["data"]["class_path"].endswith("LanguageModelData")
    model = LM_ARGS if is_lm else ENCODER_ARGS
    return accepted(config, [*source_args(config, folder), *model, *trainer_args(steps)])
