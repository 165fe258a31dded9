"""The options every inference verb shares (``Runtime``: device, precision, threads, batch size,
backend, declared once in ``inference.options``), what each does once the loader applies it, and the
verbs defaulting to the decoding settings their checkpoint was evaluated with.

Checkpoints are written by hand from tasks with random weights (as ``tests/test_old_checkpoints.py``
does): the outputs here only need comparing with the same model run directly, not to be good."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from seqlab.cli import main
from seqlab.data import CharTokenizer, WordTokenizer
from seqlab.data.modules.batching import pad
from seqlab.data.modules.classification import collate_texts, encode_text
from seqlab.data.modules.labelling import collate_sentences, encode_sentence
from seqlab.data.modules.speech_features import FeatureSettings
from seqlab.data.modules.transduction import detokenize_target
from seqlab.data.tokenizers.speech_alphabet import Alphabet
from seqlab.inference.loader import load_for_verb
from seqlab.inference.options import Runtime
from seqlab.inference.precision import autocast, with_precision
from seqlab.inference.transcribe import Transcriber
from seqlab.nn import AcousticConfig, ClassifierConfig, RecurrentLMConfig, Seq2SeqConfig, TaggerConfig
from seqlab.nn import generate as sample
from seqlab.nn.recurrent import cpu_bf16_lstm_works
from seqlab.nn.search import beam_search, greedy_search
from seqlab.tasks import (
    ClassificationTask,
    GenerationTask,
    LabellingTask,
    SpeechRecognitionTask,
    TransductionTask,
)
from tests.data.speech_helpers import write_wav

VERBS = ("generate", "predict", "decode", "transcribe")
RUNTIME_FLAGS = ("--device", "--precision", "--threads", "--batch_size", "--backend")
WORDS = ["cat", "reading", "a", "tea"]


def g2p_checkpoint(path: Path, **evaluated: object) -> Path:
    """A TransductionTask checkpoint (random weights, character tokenizers) whose run was evaluated
    with ``evaluated`` (``eval_beam_size``, ``length_penalty``, ...)."""
    source = CharTokenizer().fit(WORDS)
    target = CharTokenizer().fit(["K AE T", "R IY D IH NG", "AH", "T IY"])
    torch.manual_seed(0)
    net = Seq2SeqConfig(embedding_size=8, hidden_size=12, attention="additive")
    task = TransductionTask(source.vocab_size, target.vocab_size + 3, net, **evaluated)  # + BOS/EOS/PAD
    state = {"tokenizer": source.state_dict(), "target_tokenizer": target.state_dict(), "joint": False}
    torch.save(
        _checkpoint(task, "seqlab.tasks.transduction.TransductionTask", "TransductionData", state), path
    )
    return path


def ctc_checkpoint(path: Path, **evaluated: object) -> Path:
    """A SpeechRecognitionTask checkpoint (random weights, 16 mel bins, letters a-c and space)."""
    alphabet, features = Alphabet.fit(["ab c", "cab"]), FeatureSettings(num_mel_bins=16)
    torch.manual_seed(0)
    net = AcousticConfig(cell="lstm", hidden_size=16, num_layers=1, dropout=0.0)
    task = SpeechRecognitionTask(alphabet.size, 16, net, **evaluated)
    state = {"tokenizer": alphabet.state_dict(), "features": features.state_dict()}
    torch.save(_checkpoint(task, "seqlab.tasks.speech.SpeechRecognitionTask", "SpeechData", state), path)
    return path


def _checkpoint(task: torch.nn.Module, dotted: str, data_class: str, state: dict) -> dict:
    return {
        "state_dict": task.state_dict(),
        "hyper_parameters": dict(task.hparams),  # type: ignore[arg-type]
        "seqlab": {"task_class": dotted, "nonfinite_skipped": 0},
        data_class: state,
    }


def run_verb(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[str, str]:
    """stdout and stderr of ``seqlab ARGS``."""
    capsys.readouterr()
    main(list(args))
    captured = capsys.readouterr()
    return captured.out, captured.err


def error_line(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """The one line a refused command prints (exit status 2, no traceback)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        main(list(args))
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_offers_the_runtime_options(verb: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Each verb's --help lists every Runtime flag exactly once (one declaration, shared); tried on
    all four verbs, so a verb left on its own option list fails."""
    with pytest.raises(SystemExit):
        main([verb, "--help"])
    text = capsys.readouterr().out
    for flag in RUNTIME_FLAGS:
        assert len(re.findall(rf"^  {flag} ", text, re.MULTILINE)) == 1, (verb, flag)  # described once


def test_bad_runtime_values_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """A precision not offered, and zero threads, are refused before anything loads, naming the flag."""
    line = error_line(capsys, "decode", "--ckpt_path", "x.ckpt", "--input", "w.txt", "--precision", "fp16")
    assert "--precision" in line and "fp16" in line
    line = error_line(capsys, "predict", "--ckpt_path", "x.ckpt", "--input", "w.txt", "--threads", "0")
    assert "--threads" in line and "got 0" in line


@pytest.mark.parametrize(
    ("verb", "flag", "value"),
    [
        ("decode", "--beam_size", "0"),  # ran greedy, quietly
        ("decode", "--n_best", "0"),  # ran, quietly
        ("decode", "--max_len", "-1"),  # a traceback from the search
        ("decode", "--max_len_ratio", "0"),  # a traceback from the search
        ("decode", "--top_p", "1.5"),  # sampled, quietly
        ("decode", "--temperature", "-1"),  # a traceback from the sampler
        ("generate", "--temperature", "-1"),  # a traceback from the sampler
        ("generate", "--top_k", "0"),
        ("generate", "--num_samples", "0"),
        ("transcribe", "--beam_size", "-3"),  # ran greedy, quietly
        ("transcribe", "--prune", "0.5"),  # a log-probability above 0 prunes nothing
    ],
)
def test_search_values_out_of_range_are_one_line(
    capsys: pytest.CaptureFixture[str], verb: str, flag: str, value: str
) -> None:
    """A search or sampling value outside its range is refused before anything loads, naming the flag,
    the value and what was expected (what each did before is noted beside it)."""
    inputs = {"generate": [], "decode": ["--input", "w.txt"], "transcribe": ["--input", "a.wav"]}[verb]
    line = error_line(capsys, verb, "--ckpt_path", "x.ckpt", *inputs, flag, value)
    assert line.startswith(f"seqlab: error: {flag}: expected "), line
    assert float(line.rsplit(" got ", 1)[1]) == float(value), line


def test_decode_defaults_to_the_evaluated_search(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A checkpoint evaluated with beam 3, length penalty 0.6 and max length 6 decodes with them when
    no flag says otherwise, says so on stderr in one line, and a flag overrides one of them; tried
    against the task's own beam and greedy searches with those settings, scores included."""
    ckpt = g2p_checkpoint(tmp_path / "g2p.ckpt", eval_beam_size=3, length_penalty=0.6, max_decode_length=6)
    words = tmp_path / "words.txt"
    words.write_text("\n".join(WORDS) + "\n", encoding="utf-8")
    trained = load_for_verb(ckpt, "decode", Runtime(device="cpu"))
    task, source, target = trained.task, trained.tokenizer, trained.target_tokenizer
    assert isinstance(task, TransductionTask) and source is not None and target is not None
    ids = [trained.encode(w, "test") for w in WORDS]
    src, lengths = pad(ids), torch.tensor([len(i) for i in ids])
    with torch.inference_mode():
        beams = beam_search(task.model, src, lengths, 3, 1, length_penalty=0.6, max_len=6)
        greedy = greedy_search(task.model, src, lengths, max_len=6)

    out, err = run_verb(capsys, "decode", "--ckpt_path", str(ckpt), "--input", str(words), "--scores", "true")
    assert err.strip() == (
        "seqlab decode: as the checkpoint was evaluated: beam_size 3, length_penalty 0.6, max_len 6, "
        "max_len_ratio null (flags override)"
    )
    expected = [
        f"{n}\t{h[0].score:.4f}\t{detokenize_target(target, h[0].tokens)}" for n, h in enumerate(beams, 1)
    ]
    assert out.splitlines() == expected

    out, err = run_verb(
        capsys,
        "decode",
        "--ckpt_path",
        str(ckpt),
        "--input",
        str(words),
        "--scores",
        "true",
        "--beam_size",
        "1",
    )
    assert err.startswith(
        "seqlab decode: beam_size 1 (given); as the checkpoint was evaluated: length_penalty"
    )
    expected = [f"{n}\t{h.score:.4f}\t{detokenize_target(target, h.tokens)}" for n, h in enumerate(greedy, 1)]
    assert out.splitlines() == expected


def test_transcribe_defaults_to_the_evaluated_beam_and_word_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A recognizer evaluated with beam 4 and a word list transcribes with both unless told otherwise
    (tried against a Transcriber given them directly); ``--beam_size 1`` drops the word list too."""
    word_list = tmp_path / "words.txt"
    word_list.write_text("cab\nab\n", encoding="utf-8")
    ckpt = ctc_checkpoint(tmp_path / "ctc.ckpt", eval_beam_size=4, word_list=str(word_list))
    audio = [str(write_wav(tmp_path / f"{n}.wav", 0.3 + 0.2 * n, hz=300.0 * (n + 1))) for n in range(3)]
    direct = Transcriber.from_checkpoint(ckpt, beam_size=4)
    direct.scorer = direct.task.word_list_scorer(direct.alphabet)
    with torch.inference_mode():
        expected = [f"{a}\t{t}" for a, t in zip(audio, direct(audio), strict=True)]

    out, err = run_verb(capsys, "transcribe", "--ckpt_path", str(ckpt), "--input", *audio, "--device", "cpu")
    assert err.strip() == (
        f"seqlab transcribe: as the checkpoint was evaluated: beam_size 4, word_list {word_list}, "
        "word_list_penalty -6.0 (flags override)"
    )
    assert out.splitlines() == expected

    out, err = run_verb(capsys, "transcribe", "--ckpt_path", str(ckpt), "--input", *audio, "--beam_size", "1")
    assert err.strip() == "seqlab transcribe: beam_size 1 (given)"
    greedy = Transcriber.from_checkpoint(ckpt)
    with torch.inference_mode():
        assert out.splitlines() == [f"{a}\t{t}" for a, t in zip(audio, greedy(audio), strict=True)]


def test_int8_quantizes_linear_and_lstm_and_stays_close(tmp_path: Path) -> None:
    """``--precision int8`` leaves no float Linear or LSTM in the model and its step log-probabilities
    stay within 0.1 of fp32's (random weights, a batch of mixed lengths)."""
    ckpt = g2p_checkpoint(tmp_path / "g2p.ckpt")
    fp32 = load_for_verb(ckpt, "decode", Runtime(device="cpu"))
    int8 = load_for_verb(ckpt, "decode", Runtime(device="cpu", precision="int8"))
    float_layers = (torch.nn.Linear, torch.nn.LSTM)
    assert not [m for m in int8.task.modules() if type(m) in float_layers]
    assert [m for m in fp32.task.modules() if type(m) in float_layers]
    src, lengths = torch.tensor([[1, 2, 3, 4], [2, 3, 0, 0]]), torch.tensor([4, 2])
    tokens = torch.full((2,), fp32.task.model.bos_id)
    with fp32.running(), int8.running():
        want, _ = fp32.task.model.step(tokens, fp32.task.model.start(src, lengths))
        got, _ = int8.task.model.step(tokens, int8.task.model.start(src, lengths))
    torch.testing.assert_close(got, want, atol=0.1, rtol=0.0)


def test_bf16_runs_in_autocast_and_threads_are_set(tmp_path: Path) -> None:
    """``--precision bf16`` computes the model's matmuls in bfloat16 inside ``running()`` (fp32 does
    not), and ``--threads`` sets torch's thread count."""
    ckpt = g2p_checkpoint(tmp_path / "g2p.ckpt")
    before = torch.get_num_threads()
    try:
        bf16 = load_for_verb(ckpt, "decode", Runtime(device="cpu", precision="bf16", threads=1))
        assert torch.get_num_threads() == 1
        fp32 = load_for_verb(ckpt, "decode", Runtime(device="cpu"))
    finally:
        torch.set_num_threads(before)
    x = torch.randn(2, 8)
    with bf16.running():
        assert bf16.task.model.source_embedding.weight.dtype == torch.float32  # weights stay fp32
        assert torch.nn.functional.linear(x, torch.randn(3, 8)).dtype == torch.bfloat16
    with fp32.running():
        assert torch.nn.functional.linear(x, torch.randn(3, 8)).dtype == torch.float32


def test_refused_runtimes_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A checkpoint with --backend onnxruntime (which runs export folders) and int8 on a GPU device
    are refused in one line before the model is built."""
    ckpt = g2p_checkpoint(tmp_path / "g2p.ckpt")
    words = tmp_path / "words.txt"
    words.write_text("cat\n", encoding="utf-8")
    base = ("decode", "--ckpt_path", str(ckpt), "--input", str(words))
    line = error_line(capsys, *base, "--backend", "onnxruntime")
    assert "--backend onnxruntime runs an export folder" in line and "seqlab export --ckpt_path" in line
    line = error_line(capsys, *base, "--precision", "int8", "--device", "cuda")
    assert "--precision int8 runs on the CPU only" in line


def test_a_device_this_machine_lacks_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--device names a device torch cannot use here: one line, not torch's "Torch not compiled with
    CUDA enabled" assertion from inside the model's `.to()` (which it was on this CPU-only torch)."""
    import torch

    ckpt = g2p_checkpoint(tmp_path / "g2p.ckpt")
    words = tmp_path / "words.txt"
    words.write_text("cat\n", encoding="utf-8")
    base = ("decode", "--ckpt_path", str(ckpt), "--input", str(words))
    for name in ("gpu", "mps"):
        line = error_line(capsys, *base, "--device", name)
        assert line.endswith(f"--device: expected auto, cpu, cuda or cuda:N, got {name!r}"), line
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    line = error_line(capsys, *base, "--device", f"cuda:{count}")
    lacks = "no CUDA GPU is visible here" if count == 0 else f"this machine has {count} CUDA GPU(s)"
    assert f"--device cuda:{count}: {lacks}" in line, line


def test_batch_size_does_not_change_decoded_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The shared --batch_size reaches decode: one line per batch gives the same lines as one batch
    of all (tried with beam 3, where padding inside a batch would show if it leaked)."""
    ckpt = g2p_checkpoint(tmp_path / "g2p.ckpt", eval_beam_size=3)
    words = tmp_path / "words.txt"
    words.write_text("\n".join(WORDS) + "\n", encoding="utf-8")
    args = ("decode", "--ckpt_path", str(ckpt), "--input", str(words), "--scores", "true")
    one, _ = run_verb(capsys, *args, "--batch_size", "1")
    everything, _ = run_verb(capsys, *args)
    assert one == everything and len(one.splitlines()) == len(WORDS)


def _run_every_kind(precision: str) -> dict[str, torch.Tensor]:
    """One output of a task of every kind (random weights, batches of mixed lengths), its model made
    ready for ``precision`` and run in its context as the verbs do (``inference.precision``)."""
    torch.manual_seed(0)
    words, chars = WordTokenizer().fit(WORDS), CharTokenizer().fit(WORDS)
    tagger_net = TaggerConfig(
        word_embedding_size=8, char_embedding_size=4, char_hidden_size=4, hidden_size=8, crf=True
    )
    tasks = {
        "classification": ClassificationTask(
            chars.vocab_size, ["x", "y"], ClassifierConfig(embedding_size=8, hidden_size=8)
        ),
        "tagging": LabellingTask(words.vocab_size, ["B", "I", "O"], chars.vocab_size, tagger_net),
        "language model": GenerationTask(
            vocab_size=chars.vocab_size, net=RecurrentLMConfig(cell="lstm", embedding_size=8, hidden_size=8)
        ),
        "speech recognition": SpeechRecognitionTask(
            5, 16, AcousticConfig(cell="lstm", hidden_size=16, num_layers=1)
        ),
        "encoder-decoder": TransductionTask(
            chars.vocab_size, 9, Seq2SeqConfig(embedding_size=8, hidden_size=12)
        ),
    }
    texts = collate_texts([(encode_text(chars, w, "t"), None, w) for w in WORDS])
    sentences = collate_sentences(
        [(*encode_sentence(words, chars, [w, "cat"], 8), None, [w, "cat"]) for w in WORDS]
    )
    src, lengths = texts["ids"], texts["lengths"]
    out = {}
    for kind, task in tasks.items():
        task = with_precision(task.eval(), precision)  # type: ignore[arg-type]
        with torch.inference_mode(), autocast(precision, "cpu"):  # type: ignore[arg-type]
            if kind == "classification":
                out[kind] = task.probabilities(texts).float()
            elif kind == "tagging":
                out[kind] = torch.tensor([[len(t) for t in tags] for tags in task.tag(sentences)])
            elif kind == "language model":
                out[kind] = sample(task, src[:, :2], 4, 0.0)
            elif kind == "speech recognition":
                log_probs, frames = task(torch.randn(3, 20, 16), torch.tensor([20, 7, 13]))
                out[kind] = log_probs.float().exp().sum(-1)[0, : frames[0]]  # probabilities sum to 1
            else:
                out[kind] = beam_search(task.model, src, lengths, 3, 1, max_len=5)[0][0].score * torch.ones(1)
    return out


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_every_kind_runs_at_every_precision(precision: str) -> None:
    """bf16 autocast and int8 quantization run a task of each kind (classifier, CRF tagger, language
    model, CTC recognizer, encoder-decoder beam search) and stay near fp32: probabilities within 0.05,
    the same number of tags per sentence, CTC frame probabilities summing to 1, finite beam scores."""
    want, got = _run_every_kind("fp32"), _run_every_kind(precision)
    torch.testing.assert_close(got["classification"], want["classification"], atol=0.05, rtol=0.0)
    assert torch.equal(got["tagging"], want["tagging"])
    assert got["language model"].shape == want["language model"].shape == (len(WORDS), 4)
    torch.testing.assert_close(
        got["speech recognition"], torch.ones_like(got["speech recognition"]), atol=0.02, rtol=0.0
    )
    assert torch.isfinite(got["encoder-decoder"]).all()


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_precisions_print_no_library_warnings(
    precision: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], recwarn: pytest.WarningsRecorder
) -> None:
    """``seqlab decode --precision bf16|int8`` shows seqlab's own lines only: no warning from torch's
    quantized LSTM or the bf16 LSTM fallback (tried on an LSTM model, which raises both), and, where
    this CPU lacks a bf16 LSTM kernel, one line saying so in inference terms."""
    ckpt = g2p_checkpoint(tmp_path / "g2p.ckpt")
    words = tmp_path / "words.txt"
    words.write_text("\n".join(WORDS) + "\n", encoding="utf-8")
    out, err = run_verb(
        capsys, "decode", "--ckpt_path", str(ckpt), "--input", str(words), "--precision", precision
    )
    assert len(out.splitlines()) == len(WORDS)
    assert not [w for w in recwarn if "quantize" in str(w.message) or "bf16 LSTM" in str(w.message)]
    assert "Warning" not in err
    note = "no bf16 LSTM kernel, so the LSTM layers run in float32"
    assert (note in err) == (precision == "bf16" and not cpu_bf16_lstm_works())
