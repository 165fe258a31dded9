"""End-to-end: `seqlab predict` with a classifier and a tagger from real (tiny) fits, on text, CSV,
JSON Lines, standard input, CoNLL and CoNLL-U files."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch

from seqlab.cli import main
from seqlab.data.formats.conll import read_conll, read_conllu
from seqlab.data.modules.classification import collate_texts
from seqlab.data.modules.labelling import collate_sentences, encode_sentence
from seqlab.data.tokenizers.state import tokenizer_from_state
from seqlab.engine.checkpoints import checkpoint_data_state, read_checkpoint
from seqlab.inference.loader import load_task

TINY = [
    "--trainer.max_steps=4",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
    "--trainer.log_every_n_steps=1",
    "--run.wandb.mode=disabled",
    "--model.net.hidden_size=16",
]
MAX_LENGTH = 12
CLASSIFIER_TRAIN = [
    ("a joy to watch", "pos"),
    ("dull and slow", "neg"),
    ("it was fine i guess", "neutral"),
    ("wonderful and warm", "pos"),
    ("a waste of time", "neg"),
    ("neither good nor bad", "neutral"),
] * 3
TEXTS = ["a joy", "what a waste of a whole evening", "fine, i guess", "ok"]

TAGGER_TRAIN = "".join(
    "\n".join(
        "\t".join([str(i), form, "_", upos, "_", "_", "0", "root", "_", "_"])
        for i, (form, upos) in enumerate(sentence, 1)
    )
    + "\n\n"
    for sentence in [
        [("the", "DET"), ("cat", "NOUN"), ("sleeps", "VERB")],
        [("a", "DET"), ("dog", "NOUN"), ("runs", "VERB"), (".", "PUNCT")],
        [("dogs", "NOUN"), ("bark", "VERB"), (".", "PUNCT")],
    ]
    * 3
)
SENTENCES = ["the dog sleeps .", "cats   run", "a cat"]  # the second has unknown words and extra spaces

_trained: dict[str, Path] = {}


def fit(name: str, args: list[str]) -> Path:
    """Train once per module (in the directory of the first test that needs it) and return the
    absolute path of the run's last checkpoint."""
    if name not in _trained:
        main(["fit", f"--run.name={name}", *args, *TINY])  # --model before --model.x
        _trained[name] = Path(f"runs/{name}/version_0/checkpoints/last.ckpt").resolve()
    return _trained[name]


@pytest.fixture
def classifier() -> Path:
    train = Path("clf_train.tsv").resolve()
    train.write_text("sentence\tlabel\n" + "".join(f"{t}\t{lab}\n" for t, lab in CLASSIFIER_TRAIN))
    return fit(
        "clf",
        [
            "--model=seqlab.tasks.ClassificationTask",
            "--model.net.embedding_size=8",
            "--data=seqlab.data.ClassificationData",
            "--data.source=seqlab.data.ClassificationFiles",
            f"--data.source.train={train}",
            f"--data.source.validation={train}",
            f"--data.max_length={MAX_LENGTH}",
            "--data.batch_size=4",
        ],
    )


@pytest.fixture
def tagger() -> Path:
    train = Path("tag_train.conllu").resolve()
    train.write_text(TAGGER_TRAIN)
    return fit(
        "tagger",
        [
            "--model=seqlab.tasks.LabellingTask",
            "--model.net.word_embedding_size=8",
            "--model.net.char_embedding_size=4",
            "--model.net.char_hidden_size=4",
            "--data=seqlab.data.LabellingData",
            "--data.source=seqlab.data.LabelledFiles",
            f"--data.source.train={train}",
            f"--data.source.validation={train}",
            "--data.batch_size=3",
        ],
    )


def predict(capsys, ckpt: Path, *args: str) -> str:
    """stdout of `seqlab predict --ckpt_path CKPT ...`."""
    capsys.readouterr()
    main(["predict", "--ckpt_path", str(ckpt), *args])
    return capsys.readouterr().out


def predict_error(capsys, ckpt: Path, *args: str) -> str:
    """The `seqlab: error:` line of a `seqlab predict` that must fail with exit code 2."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(["predict", "--ckpt_path", str(ckpt), *args])
    assert info.value.code == 2
    err = capsys.readouterr().err.splitlines()
    lines = [line for line in err if line.startswith(("seqlab: error:", "seqlab predict: error:"))]
    assert len(lines) == 1, lines
    return lines[0]


def write(name: str, content: str) -> Path:
    path = Path(name)
    path.write_text(content, encoding="utf-8")
    return path


# --- classifier ------------------------------------------------------------------------------------


def expected_classes(ckpt: Path, texts: list[str]) -> list[tuple[str, float]]:
    """(label, probability) from the task's own ``probabilities``, one text at a time."""
    task, _ = load_task(ckpt)
    state = checkpoint_data_state(read_checkpoint(ckpt))
    tokenizer = tokenizer_from_state(state["tokenizer"])
    assert state["max_length"] == MAX_LENGTH
    out = []
    with torch.inference_mode():
        for text in texts:
            batch = collate_texts([(tokenizer.encode(text)[:MAX_LENGTH], None, text)])
            probs = task.probabilities(batch)[0]
            out.append((task.labels[int(probs.argmax())], float(probs.max())))
    return out


def parse_classes(out: str) -> list[tuple[str, float]]:
    assert out.endswith("\n")
    rows = [line.split("\t") for line in out[:-1].split("\n")]
    assert all(len(row) == 2 for row in rows), rows
    return [(label, float(prob)) for label, prob in rows]


def test_classifier_on_a_text_file(classifier, capsys) -> None:
    """One `label<TAB>probability` line per input line, in input order, labels from training,
    probabilities the task's own (texts cut to max_length as in training); --output gets the same."""
    write("input.txt", "".join(t + "\n" for t in TEXTS))
    out = predict(capsys, classifier, "--input", "input.txt")
    rows = parse_classes(out)
    assert len(rows) == len(TEXTS)
    for (label, prob), (want_label, want_prob) in zip(rows, expected_classes(classifier, TEXTS), strict=True):
        assert label in {"neg", "neutral", "pos"}
        assert 1 / 3 - 1e-4 <= prob <= 1
        assert label == want_label
        assert prob == pytest.approx(want_prob, abs=1e-4)

    assert predict(capsys, classifier, "--input", "input.txt", "--output", "out/pred.tsv") == ""
    assert Path("out/pred.tsv").read_text(encoding="utf-8") == out
    assert not list(Path("out").glob("*.partial"))


def test_classifier_on_csv_column_jsonl_and_stdin(classifier, capsys, monkeypatch) -> None:
    """A CSV's named text column, a JSON Lines file's `text` and standard input give exactly the
    predictions of the same texts in a text file."""
    write("input.txt", "".join(t + "\n" for t in TEXTS))
    reference = predict(capsys, classifier, "--input", "input.txt")

    quoted = "".join(f'{i},"{t}",{len(t)}\n' for i, t in enumerate(TEXTS))
    write("input.csv", "id,review,chars\n" + quoted)
    assert predict(capsys, classifier, "--input", "input.csv", "--column", "review") == reference
    line = predict_error(capsys, classifier, "--input", "input.csv")
    assert "input.csv" in line and "no text column" in line

    write("input.jsonl", "".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(TEXTS)))
    assert predict(capsys, classifier, "--input", "input.jsonl") == reference

    monkeypatch.setattr("sys.stdin", io.StringIO("".join(t + "\n" for t in TEXTS)))
    assert predict(capsys, classifier, "--input", "-") == reference
    # an error in standard input names it as <stdin> (it named a temporary file's path)
    monkeypatch.setattr("sys.stdin", io.StringIO(TEXTS[0] + "\n\n"))
    assert predict_error(capsys, classifier, "--input", "-").endswith(
        "<stdin>:2: blank line; expected one text per line"
    )


def test_classifier_output_must_not_overwrite_input(classifier, capsys) -> None:
    content = "".join(t + "\n" for t in TEXTS)
    write("input.txt", content)
    line = predict_error(
        capsys, classifier, "--input", "input.txt", "--output", str(Path("input.txt").resolve())
    )
    assert "is the input being read; choose another path" in line
    assert Path("input.txt").read_text(encoding="utf-8") == content
    assert sorted(p.name for p in Path(".").glob("input.txt*")) == ["input.txt"]


def test_missing_input_file_is_named(classifier, tagger, capsys) -> None:
    for ckpt, name in ((classifier, "nowhere.txt"), (tagger, "nowhere.conllu"), (tagger, "nowhere.txt")):
        line = predict_error(capsys, ckpt, "--input", name)
        assert name in line and "no such file" in line
        assert not Path(name).exists()


# --- tagger ----------------------------------------------------------------------------------------


def expected_tags(ckpt: Path, sentences: list[list[str]]) -> list[list[str]]:
    """The task's own ``tag`` on each sentence alone."""
    task, _ = load_task(ckpt)
    state = checkpoint_data_state(read_checkpoint(ckpt))
    words, chars = tokenizer_from_state(state["tokenizer"]), tokenizer_from_state(state["chars"])
    out = []
    with torch.inference_mode():
        for tokens in sentences:
            word_ids, char_ids = encode_sentence(words, chars, tokens, state["max_word_length"])
            out += task.tag(collate_sentences([(word_ids, char_ids, None, tokens)]))
    return out


def test_tagger_on_raw_text(tagger, capsys) -> None:
    """token<TAB>tag lines, a blank line after each sentence, every token kept, the task's own tags."""
    write("input.txt", "\n".join(SENTENCES) + "\n\n")
    out = predict(capsys, tagger, "--input", "input.txt")
    assert out.endswith("\n\n")
    blocks = out[:-2].split("\n\n")
    assert len(blocks) == len(SENTENCES)
    got_tokens, got_tags = [], []
    for block in blocks:
        rows = [line.split("\t") for line in block.split("\n")]
        assert all(len(row) == 2 for row in rows)
        got_tokens.append([token for token, _ in rows])
        got_tags.append([tag for _, tag in rows])
    tokens = [s.split() for s in SENTENCES]
    assert got_tokens == tokens
    assert all(set(tags) <= {"DET", "NOUN", "PUNCT", "VERB"} for tags in got_tags)
    assert got_tags == expected_tags(tagger, tokens)

    assert predict(capsys, tagger, "--input", "input.txt", "--output", "tags.conll") == ""
    assert Path("tags.conll").read_text(encoding="utf-8") == out


def test_tagger_checkpoint_from_before_the_rename_still_predicts(tagger, capsys) -> None:
    """A checkpoint written when the labelling DataModule was ``TaggingData`` holds its state under that
    name (see ``RENAMED_DATA_MODULES``): ``seqlab predict`` reads it as before."""
    checkpoint = torch.load(tagger, weights_only=True)
    checkpoint["TaggingData"] = checkpoint.pop("LabellingData")
    old = Path("old_tagger.ckpt").resolve()
    torch.save(checkpoint, old)
    write("input.txt", "\n".join(SENTENCES) + "\n\n")
    assert predict(capsys, old, "--input", "input.txt") == predict(capsys, tagger, "--input", "input.txt")


def test_tagger_on_stdin_is_raw_text(tagger, capsys, monkeypatch) -> None:
    write("input.txt", "\n".join(SENTENCES) + "\n")
    reference = predict(capsys, tagger, "--input", "input.txt")
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(SENTENCES) + "\n"))
    assert predict(capsys, tagger, "--input", "-") == reference


def test_tagger_on_conll_keeps_columns_and_replaces_the_tag(tagger, capsys) -> None:
    content = "-DOCSTART- -X- O\n\nthe DT O\ndog NN O\nsleeps VBZ O\n\ncats NNS O\nrun VBP O\n"
    write("input.conll", content)
    out = predict(capsys, tagger, "--input", "input.conll")
    written = read_conll(write("out.conll", out))
    original = read_conll("input.conll")
    assert [s.tokens for s in written] == [s.tokens for s in original]
    for before, after in zip(original, written, strict=True):
        assert before.source is not None and after.source is not None
        for row in before.token_rows or []:
            assert after.source[row].split("\t")[:-1] == before.source[row].split()[:-1]
    assert [s.tags for s in written] == expected_tags(tagger, [s.tokens for s in original])

    assert [len(s.source or []) for s in written] == [3, 2]

    write("tokens.conll", "the\ndog\n\ncats\nrun\n")
    token_only = predict(capsys, tagger, "--input", "tokens.conll")
    tags = expected_tags(tagger, [["the", "dog"], ["cats", "run"]])
    assert token_only == f"the\t{tags[0][0]}\ndog\t{tags[0][1]}\n\ncats\t{tags[1][0]}\nrun\t{tags[1][1]}\n\n"


CONLLU_INPUT = (
    "# sent_id = 1\n"
    "# text = the dog's bark\n"
    "1\tthe\tthe\t_\tDT\t_\t2\tdet\t_\t_\n"
    "2-3\tdog's\t_\t_\t_\t_\t_\t_\t_\t_\n"
    "2\tdog\tdog\t_\tNN\t_\t4\tnmod\t_\t_\n"
    "3\t's\t's\t_\tPOS\t_\t2\tcase\t_\t_\n"
    "4\tbark\tbark\t_\tNN\t_\t0\troot\t_\tSpaceAfter=No\n"
    "\n"
    "# sent_id = 2\n"
    "1\tcats\tcat\t_\tNNS\tNumber=Plur\t2\tnsubj\t_\t_\n"
    "1.1\tsleep\tsleep\t_\t_\t_\t_\t_\t0:root\t_\n"
    "2\trun\trun\t_\tVBP\t_\t0\troot\t_\t_\n"
    "\n"
)


def changed_column(before: str, after: str, column: int) -> list[str]:
    """The values of ``column`` in the word lines of ``after``, checking that nothing else differs
    from ``before`` (comments, ranges, empty nodes, other columns)."""
    old_lines, new_lines = before.split("\n"), after.split("\n")
    assert len(new_lines) == len(old_lines)
    values = []
    for old, new in zip(old_lines, new_lines, strict=True):
        old_fields, new_fields = old.split("\t"), new.split("\t")
        if len(old_fields) == 10 and old_fields[0].isdigit():
            assert len(new_fields) == 10
            assert old_fields[:column] == new_fields[:column]
            assert old_fields[column + 1 :] == new_fields[column + 1 :]
            values.append(new_fields[column])
        else:
            assert new == old
    return values


def test_tagger_on_conllu_changes_only_upos(tagger, capsys) -> None:
    """Comments, the multiword token, the empty node and every column but UPOS come back byte for
    byte; UPOS holds the task's own tags for the syntactic words (XPOS with --tag_field xpos)."""
    write("input.conllu", CONLLU_INPUT)
    out = predict(capsys, tagger, "--input", "input.conllu")
    upos = changed_column(CONLLU_INPUT, out, 3)
    sentences = read_conllu("input.conllu", require_tags=False)
    tokens = [s.tokens for s in sentences]
    assert tokens == [["the", "dog", "'s", "bark"], ["cats", "run"]]
    assert upos == [tag for tags in expected_tags(tagger, tokens) for tag in tags]

    assert predict(capsys, tagger, "--input", "input.conllu", "--output", "tagged.conllu") == ""
    assert Path("tagged.conllu").read_text(encoding="utf-8") == out

    xpos = predict(capsys, tagger, "--input", "input.conllu", "--tag_field", "xpos")
    assert changed_column(CONLLU_INPUT, xpos, 4) == upos


def test_tagger_output_must_not_overwrite_input(tagger, capsys) -> None:
    write("input.conllu", CONLLU_INPUT)
    line = predict_error(capsys, tagger, "--input", "input.conllu", "--output", "./input.conllu")
    assert "is the input being read; choose another path" in line
    assert Path("input.conllu").read_text(encoding="utf-8") == CONLLU_INPUT


def test_tagger_refuses_classifier_formats(tagger, capsys) -> None:
    write("input.csv", "text\nthe dog\n")
    line = predict_error(capsys, tagger, "--input", "input.csv", "--format", "csv")
    assert "input.csv" in line and "not csv" in line
