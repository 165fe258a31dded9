"""eSpeak NG speech synthesis without root: the ``espeakng-loader`` wheel ships ``libespeak-ng.so`` and
its voice data, driven here through ctypes.

eSpeak NG keeps state in static variables from one utterance to the next (pitch flutter, noise
generators) that even ``espeak_Terminate`` does not reset, so a waveform depends on everything the
process synthesized before. Deterministic corpora therefore synthesize a fixed list of utterances in
a fresh process, in a fixed order, after ``espeak_ng_SetRandSeed``: then the bytes repeat exactly.
Load it only in such a worker process (see ``builtin_speech``), never in a long-lived one.
"""

from __future__ import annotations

import ctypes
import re

import numpy as np

from seqlab.data.errors import DataError

_OUTPUT_SYNCHRONOUS, _POS_CHARACTER, _CHARS_UTF8 = 2, 1, 1
_RATE, _PITCH = 1, 3
_IPA = 0x02
_STRESS = re.compile("[ˈˌ]")
LOADED = False  # set once an engine exists in this process (forked workers would inherit its state)
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class ESpeak:
    """One eSpeak NG engine in this process: ``synthesize`` text to int16 samples, ``phonemes`` of text.

    Args:
        seed: seed of eSpeak's own random numbers (noise sources of some voices).
    """

    def __init__(self, seed: int = 0) -> None:
        try:
            import espeakng_loader
        except ImportError:
            raise DataError(
                "the built-in speech corpus needs eSpeak NG: pip install espeakng-loader"
            ) from None
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        self.sample_rate = lib.espeak_Initialize(
            _OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0
        )
        if self.sample_rate <= 0:
            raise DataError(f"eSpeak NG failed to initialise (code {self.sample_rate})")
        self._chunks: list[np.ndarray] = []
        self._callback = _CALLBACK(self._collect)  # kept referenced: C holds the pointer
        lib.espeak_SetSynthCallback(self._callback)
        lib.espeak_ng_SetRandSeed(seed)
        self.lib = lib
        global LOADED
        LOADED = True

    def _collect(self, wave: ctypes.Array, count: int, _events: int) -> int:
        if wave and count > 0:
            self._chunks.append(np.ctypeslib.as_array(wave, shape=(count,)).copy())
        return 0  # continue

    def set_voice(self, voice: str, rate: int, pitch: int) -> None:
        """Voice name (``en-us``, ``en-gb-scotland+f2``), rate in words per minute, pitch 0-100."""
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise DataError(f"eSpeak NG has no voice {voice!r}")
        self.lib.espeak_SetParameter(_RATE, rate, 0)
        self.lib.espeak_SetParameter(_PITCH, pitch, 0)

    def synthesize(self, text: str) -> np.ndarray:
        """int16 samples at ``self.sample_rate`` in the current voice."""
        self._chunks.clear()
        data = text.encode()
        status = self.lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if status != 0:
            raise DataError(f"eSpeak NG could not synthesize {text!r} (code {status})")
        return np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)

    def phonemes(self, text: str) -> str:
        """IPA phonemes in the current voice's accent, separated by spaces, words by `` | ``, without
        stress marks (``forty two`` in en-us -> ``f ɔːɹ ɾ i | t uː``)."""
        pointer = ctypes.c_char_p(text.encode())
        clauses = []
        while pointer.value:
            out = self.lib.espeak_TextToPhonemes(ctypes.byref(pointer), _CHARS_UTF8, _IPA | (ord("_") << 8))
            if out:
                clauses.append(out.decode())
        words = [_STRESS.sub("", w) for clause in clauses for w in clause.split()]
        return " | ".join(" ".join(p for p in w.split("_") if p) for w in words if w.strip("_"))
