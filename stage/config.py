"""The one configuration model, loaded from YAML and validated at load.

Every part of Fireside (the command line, the server, the tests) reads its
settings from a :class:`FiresideConfig`. A bad file fails at load with the
file, the field and the reason.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from voices.catalog import VoiceEntry

CONFIG_ENV = "FIRESIDE_CONFIG"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VoiceSettings(Section):
    default: str = "joe"
    # extra voices, such as any Piper .onnx voice on disk
    catalog: list[VoiceEntry] = []


class AvatarSettings(Section):
    # "stylized", or "photo:PATH" for a talking portrait
    rig: str = "stylized"
    size: int = Field(default=512, ge=128, le=1024, multiple_of=16)
    fps: int = Field(default=25, ge=10, le=60)

    @field_validator("rig")
    @classmethod
    def _known_rig(cls, rig: str) -> str:
        if rig != "stylized" and not rig.startswith("photo:"):
            raise ValueError("use 'stylized' or 'photo:PATH'")
        return rig


class ClipSettings(Section):
    # idle time before the first word and after the last, in seconds
    lead_in: float = Field(default=0.4, ge=0, le=10)
    tail: float = Field(default=0.6, ge=0, le=10)


class FiresideConfig(Section):
    voices: VoiceSettings = VoiceSettings()
    avatar: AvatarSettings = AvatarSettings()
    clip: ClipSettings = ClipSettings()


class ConfigError(ValueError):
    """A config file that cannot be used; the message names file, field and reason."""


def load_config(path: Path | str | None = None) -> FiresideConfig:
    """The config from ``path``, else from $FIRESIDE_CONFIG, else the defaults."""
    path = path or os.environ.get(CONFIG_ENV)
    if not path:
        return FiresideConfig()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: not valid YAML: {getattr(err, 'problem', None) or err}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, not {type(data).__name__}")
    try:
        return FiresideConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError("\n".join(f"{path}: {_field(e['loc'])}: {e['msg']}" for e in err.errors())) from None


def _field(loc: tuple) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"
