"""espeak-ng through its C library: the fallback for languages without a
Piper voice (Mandarin ``cmn``, Cantonese ``yue``, ...).

Phoneme timings come from the library's event callback (``--pho`` needs
MBROLA, which Debian does not ship).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from pathlib import Path
from typing import Iterator

import numpy as np

from stage.core.errors import FiresideError
from stage.core.events import AudioChunk, Speech
from voices.speech import spans_from_timings, speakable_pieces

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_PHONEME_IPA = 0x0002
_EVENT_LIST_TERMINATED = 0
_EVENT_END = 5
_EVENT_PHONEME = 7
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE = 1
_DEFAULT_WORDS_PER_MINUTE = 175


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # milliseconds
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


class EspeakUnavailable(FiresideError, RuntimeError):
    pass


def _system_library() -> Path:
    """Debian's libespeak-ng, by its full path. By its bare name (``libespeak-ng.so.1``)
    the loader would hand back any library of that name already loaded, such as the
    copy Kokoro's phonemizer brings (espeakng-loader), whose data path is not set:
    espeak-ng then ends the process looking for its data where that copy was built."""
    name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
    for folder in (
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib64",
        "/usr/lib",
        "/usr/local/lib",
    ):
        if (Path(folder) / name).exists():
            return (Path(folder) / name).resolve()
    return Path(name)


class _Library:
    """The process-wide espeak-ng library: one voice at a time, so one lock."""

    def __init__(self) -> None:
        path = _system_library()
        try:
            self.lib = ctypes.CDLL(str(path))
        except OSError as err:
            raise EspeakUnavailable(
                f"espeak-ng's library is missing ({err}); install it: apt-get install espeak-ng"
            ) from err
        self.lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        self.lock = threading.Lock()
        data = path.parent if (path.parent / "espeak-ng-data").is_dir() else None  # else its built-in place
        self.sample_rate = self.lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS,
            0,
            str(data).encode() if data else None,
            _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_PHONEME_IPA,
        )
        if self.sample_rate <= 0:
            raise EspeakUnavailable("espeak-ng failed to initialise (is espeak-ng-data installed?)")
        self._samples: list[np.ndarray] = []
        self._phonemes: list[tuple[str, int]] = []  # (IPA, start in ms)
        self._end_ms = 0
        self._callback = _CALLBACK(self._on_synth)  # kept alive as long as the library
        self.lib.espeak_SetSynthCallback(self._callback)

    def _on_synth(self, wav, count, events) -> int:
        if count > 0:
            self._samples.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            event = events[i]
            if event.type == _EVENT_PHONEME:
                symbol = event.id.string.decode("utf-8", "replace")
                if not symbol.startswith("("):  # "(en)": a language switch, not a sound
                    self._phonemes.append((symbol, event.audio_position))
            elif event.type == _EVENT_END:
                self._end_ms = max(self._end_ms, event.audio_position)
            i += 1
        return 0

    def speak(self, voice: str, words_per_minute: int, text: str) -> tuple[np.ndarray, list[tuple[str, float]]]:
        """Synthesize one piece: its samples and ``(phoneme, seconds)`` timings."""
        with self.lock:
            if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise EspeakUnavailable(f"espeak-ng has no voice {voice!r}")
            self.lib.espeak_SetParameter(_PARAM_RATE, words_per_minute, 0)
            self._samples, self._phonemes, self._end_ms = [], [], 0
            data = text.encode("utf-8")
            self.lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            self.lib.espeak_Synchronize()
            pcm = np.concatenate(self._samples) if self._samples else np.zeros(0, np.int16)
            events = list(self._phonemes)
        total = len(pcm) / self.sample_rate
        timings: list[tuple[str, float]] = []
        starts = [ms / 1000 for _, ms in events] + [total]
        if events and starts[0] > 0:
            timings.append(("^", starts[0]))  # leading silence
        for (symbol, _), start, end in zip(events, starts, starts[1:]):
            timings.append((symbol, max(0.0, end - start)))
        return pcm.astype(np.int16), timings


_library: _Library | None = None


def _shared_library() -> _Library:
    global _library
    if _library is None:
        _library = _Library()
    return _library


class EspeakEngine:
    """An espeak-ng voice, such as ``en-us``, ``cmn`` or ``yue``."""

    opening_words = None  # fast enough to start with a whole sentence

    def __init__(self, voice: str, speaking_rate: float = 1.0):
        self._lib = _shared_library()
        self.voice = voice
        self.words_per_minute = int(_DEFAULT_WORDS_PER_MINUTE * speaking_rate)
        self.sample_rate: int = self._lib.sample_rate
        self._lib.speak(voice, self.words_per_minute, "")  # fail now on an unknown voice

    def synthesize(self, text: str) -> Iterator[Speech]:
        for piece in speakable_pieces(text):
            pcm, timings = self._lib.speak(self.voice, self.words_per_minute, piece)
            yield Speech(piece, AudioChunk(pcm, self.sample_rate), spans_from_timings(timings))
