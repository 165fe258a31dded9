"""Trained tasks from checkpoints, for the verbs that run them (``generate``, ``predict``, ``decode``,
``transcribe``): which task a checkpoint holds, whether the verb runs it, its weights and its data state;
:func:`load_for_verb` gives a verb all it needs in one call (:class:`Trained`: the task on its device
at its precision, its tokenizers or alphabet, and its data pipeline's encode step).

Reading the file is the engine's (:func:`seqlab.engine.checkpoints.read_checkpoint`); this module sits
above the tasks because it builds them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from seqlab.data.modules.classification import encode_text
from seqlab.data.modules.labelling import encode_sentence
from seqlab.data.modules.speech_features import FeatureSettings, features_for_files
from seqlab.data.modules.transduction import detokenize_target, encode_source
from seqlab.data.tokenizers.base import Tokenizer
from seqlab.data.tokenizers.speech_alphabet import Alphabet
from seqlab.data.tokenizers.state import tokenizer_from_state
from seqlab.engine.checkpoints import CheckpointError, checkpoint_data_state, read_checkpoint, recorded_task
from seqlab.engine.compatibility import fold_legacy_hparams
from seqlab.engine.errors import SettingError
from seqlab.engine.task_data import TaskData
from seqlab.inference.export.bundle import ExportError
from seqlab.inference.export.runtime import backend_for, exported_task, open_export
from seqlab.inference.kinds import check_verb, task_kinds
from seqlab.inference.options import Precision, Runtime, TrainedModel, usable_device
from seqlab.inference.precision import (
    check_precision,
    precision_note,
    precision_running,
    set_threads,
    with_precision,
)
from seqlab.tasks.base import SeqTask


def task_class(checkpoint: dict[str, Any], path: str | Path = "the checkpoint") -> type[SeqTask]:
    """The task class recorded in a seqlab checkpoint (``path`` only names the file in errors)."""
    dotted = recorded_task(checkpoint)
    if not dotted:
        raise CheckpointError(f"{path} is not a seqlab checkpoint: it records no task class")
    module, _, name = dotted.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        raise CheckpointError(
            f"{path} holds a {dotted}, which this version of seqlab does not have"
        ) from None
    if not (isinstance(cls, type) and issubclass(cls, SeqTask)):
        raise CheckpointError(f"{path} names {dotted!r}, which is not a seqlab task")
    return cls


def load_trained(
    path: str | Path, device: str | torch.device = "cpu", verb: str | None = None
) -> tuple[SeqTask, dict[str, Any]]:
    """The trained task (in eval mode, on ``device``) and its run's data state (tokenizers, labels,
    features). With ``verb``, a checkpoint of a task that ``seqlab <verb>`` does not run is refused
    before its weights are built."""
    checkpoint = read_checkpoint(path)
    cls = task_class(checkpoint, path)
    if verb is not None:
        check_verb(cls, path, verb)
    state = checkpoint_data_state(checkpoint, path)
    _check_vocabulary(checkpoint, state, cls, path)
    try:
        task = _rebuild(cls, checkpoint)
    except (TypeError, RuntimeError, SettingError) as err:  # another version's arguments, other shapes
        if isinstance(err, RuntimeError) and "state_dict" not in str(err):
            raise
        detail = " ".join(line.strip() for line in str(err).strip().splitlines()[:2])
        raise CheckpointError(
            f"{path} does not fit seqlab's {cls.__name__} (another seqlab version, or a damaged file): "
            f"{detail}"
        ) from None
    task.data = _task_data(state)
    task.eval()
    return task.to(device), state


def _task_data(state: dict[str, Any]) -> TaskData:
    """What the run's DataModule handed the task (see :mod:`seqlab.engine.task_data`), rebuilt from
    the data state in the checkpoint (label counts are the training split's: not kept)."""
    tokenizer = state["tokenizer"]
    if tokenizer.get("type") == "speech_alphabet":
        from seqlab.data.tokenizers.speech_alphabet import Alphabet

        alphabet = Alphabet.from_state(tokenizer)
        return TaskData(alphabet=alphabet, detokenize=alphabet.detokenize)
    source = tokenizer_from_state(tokenizer)
    data = TaskData(
        token_strings=source.token_strings, char_level=source.kind == "char", detokenize=source.detokenize
    )
    if isinstance(state.get("target_tokenizer"), dict):  # an encoder-decoder's two sides
        data.detokenize = functools.partial(
            detokenize_target, tokenizer_from_state(state["target_tokenizer"])
        )
        data.detokenize_source = source.detokenize
    return data


def _rebuild(cls: type[SeqTask], checkpoint: dict[str, Any]) -> SeqTask:
    """What Lightning's ``load_from_checkpoint`` does, on the checkpoint already read, with the
    hyperparameters of checkpoints from before ``net`` (``hidden_size`` at the top level) folded in."""
    hparams = fold_legacy_hparams(checkpoint.get("hyper_parameters") or {}, cls)
    task = cls(**{k: v for k, v in hparams.items() if not k.startswith("_")})
    task.on_load_checkpoint(checkpoint)
    task.load_state_dict(checkpoint["state_dict"], strict=task.strict_loading)
    return task


def _check_vocabulary(
    checkpoint: dict[str, Any], state: dict[str, Any], cls: type[SeqTask], path: str | Path
) -> None:
    """The model's vocabulary must be its tokenizer's: a mismatch would fail later as an index error
    deep in a forward pass, or quietly decode the wrong tokens."""
    hparams = checkpoint.get("hyper_parameters") or {}
    size = hparams.get("vocab_size", hparams.get("source_vocab_size"))
    if not isinstance(size, int):
        return
    tokenizer = state["tokenizer"]
    if tokenizer.get("type") == "speech_alphabet":
        from seqlab.data.tokenizers.speech_alphabet import Alphabet

        found = Alphabet.from_state(tokenizer).size
    else:
        found = tokenizer_from_state(tokenizer).vocab_size
    if found != size:
        raise CheckpointError(
            f"{path} is inconsistent: its {cls.__name__} has a vocabulary of {size} tokens, "
            f"its tokenizer one of {found}"
        )


def load_task(
    path: str | Path, device: str | torch.device = "cpu", verb: str | None = None
) -> tuple[SeqTask, Tokenizer]:
    """The trained task (in eval mode, on ``device``) and its tokenizer."""
    task, state = load_trained(path, device, verb)
    return task, tokenizer_from_state(state["tokenizer"])


@dataclasses.dataclass
class Trained:
    """What a verb needs of a trained model, from one read of its checkpoint.

    Attributes:
        path: the checkpoint file, or the export folder.
        task: the task, in eval mode, on its device, at its precision.
        kind: what the task is (``kinds.task_kinds``: ``language model``, ``classification``, ...).
        data_state: the run's data state as the checkpoint keeps it.
        precision: what :meth:`running` computes in.
        tokenizer: the input side's tokenizer (text, words, or an encoder-decoder's source); ``None``
            for speech.
        target_tokenizer: an encoder-decoder's target side.
        chars: a tagger's character tokenizer, if it has character features.
        alphabet: a speech recognizer's alphabet.
        features: a speech recognizer's feature settings.
        encode: the data pipeline's encode step for this kind, as training encoded its inputs:
            a language model's ``text -> ids``; a classifier's ``(text, where) -> ids`` (cut to the
            run's ``max_length``); a tagger's ``tokens -> (word ids, character ids)``; an
            encoder-decoder's ``(source line, where) -> ids``; a recognizer's ``audio paths -> features``.
    """

    path: Path
    task: Any  # a SeqTask; for an export folder, the object running its graphs in the task's place
    kind: str
    data_state: dict[str, Any]
    precision: Precision
    encode: Callable[..., Any]
    tokenizer: Tokenizer | None = None
    target_tokenizer: Tokenizer | None = None
    chars: Tokenizer | None = None
    alphabet: Alphabet | None = None
    features: FeatureSettings | None = None

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Inference mode, in the precision asked for (bf16: autocast on the task's device)."""
        with precision_running(self.precision, self.task.device):
            yield


def model_path(model: TrainedModel, verb: str, runtime: Runtime) -> Path:
    """What ``model`` names for ``seqlab <verb>``: an export folder (``--ckpt_path DIR`` written by
    ``seqlab export``), else the checkpoint file (a file, a run directory, or ``last`` + run name).
    Refused in one line: an export of a kind another verb runs, ``--backend onnxruntime`` with a
    checkpoint."""
    bundle = open_export(model.ckpt_path, runtime.backend, verb)
    return bundle.folder if bundle is not None else model.checkpoint(verb)


def load_for_verb(path: str | Path, verb: str, runtime: Runtime) -> Trained:
    """The trained model at ``path`` (a checkpoint, or an export folder from :func:`model_path`) ready
    for ``seqlab <verb>`` under ``runtime``: torch's threads set, the task built on ``runtime``'s
    device at its precision (an export: the object running its graphs in the task's place), its
    tokenizers and encode step. Refused, in one line each: another kind's checkpoint (naming the verb
    that runs it), a checkpoint with ``--backend onnxruntime`` (which runs export folders), a
    precision the device cannot run."""
    if Path(path).is_dir():
        return _load_export(Path(path), verb, runtime)
    open_export(str(path), runtime.backend, verb)  # refuses --backend onnxruntime with a checkpoint
    device = runtime.torch_device()
    check_precision(runtime.precision, device)
    device = usable_device(device)  # after the precision, which also names a GPU device wrong for int8
    set_threads(runtime.threads)
    task, state = load_trained(path, device, verb)
    kind = next(kind for base, kind, _ in task_kinds() if isinstance(task, base))
    if (note := precision_note(task, runtime.precision, device)) is not None:
        print(f"seqlab {verb}: {note}", file=sys.stderr)
    task = with_precision(task, runtime.precision)
    return Trained(Path(path), task, kind, state, runtime.precision, **_data_pipeline(kind, state, path))


def _load_export(folder: Path, verb: str, runtime: Runtime) -> Trained:
    """An export folder as a :class:`Trained`: its graphs on the CPU, as exported (float32)."""
    bundle = open_export(str(folder), runtime.backend, verb)
    assert bundle is not None  # a folder is read as an export, or refused
    if runtime.precision != "fp32":
        raise ExportError(
            f"--precision {runtime.precision} applies to checkpoints; {folder} runs as exported (fp32)"
        )
    if runtime.device not in ("auto", "cpu"):
        raise ExportError(f"--device {runtime.device}: {folder}'s graphs run on the CPU (--device cpu)")
    set_threads(runtime.threads)
    task = exported_task(bundle, backend_for(bundle, runtime.backend))
    state = bundle.data_state
    return Trained(folder, task, bundle.kind, state, "fp32", **_data_pipeline(bundle.kind, state, folder))


def _data_pipeline(kind: str, state: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """A :class:`Trained`'s tokenizers (or alphabet and features) and encode step, from the data state
    of a task of ``kind``."""
    if kind == "speech recognition":
        if "features" not in state:
            raise CheckpointError(f"{path} holds no feature settings (was it written by SpeechData?)")
        features = FeatureSettings.from_state(state["features"])
        return {
            "alphabet": Alphabet.from_state(state["tokenizer"]),
            "features": features,
            "encode": functools.partial(features_for_files, settings=features),
        }
    tokenizer = tokenizer_from_state(state["tokenizer"])
    if kind == "language model":
        return {"tokenizer": tokenizer, "encode": tokenizer.encode}
    if kind == "classification":
        return {
            "tokenizer": tokenizer,
            "encode": functools.partial(_encode_text, tokenizer, state.get("max_length")),
        }
    if kind == "tagging":
        chars = tokenizer_from_state(state["chars"]) if state.get("chars") else None
        encode = functools.partial(_encode_tokens, tokenizer, chars, state["max_word_length"])
        return {"tokenizer": tokenizer, "chars": chars, "encode": encode}
    target = tokenizer_from_state(state["target_tokenizer"])  # an encoder-decoder
    return {
        "tokenizer": tokenizer,
        "target_tokenizer": target,
        "encode": functools.partial(encode_source, tokenizer),
    }


def _encode_text(tokenizer: Tokenizer, max_length: int | None, text: str, where: str) -> Any:
    """A classifier's input as training encoded it: token ids, cut to the run's ``max_length``."""
    return encode_text(tokenizer, text, where)[:max_length]


def _encode_tokens(words: Any, chars: Any, max_word_length: int, tokens: list[str]) -> Any:
    """A tagger's input as training encoded it: word ids and (with character features) character ids."""
    return encode_sentence(words, chars, tokens, max_word_length)
