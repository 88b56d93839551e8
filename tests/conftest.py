"""Shared, expensive things are made once per test session: the Piper voice,
the rigs, the portrait's landmarks (in a cache of this session's own)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# a cache of this test session's own, so landmarking really runs once here
os.environ["FIRESIDE_CACHE"] = tempfile.mkdtemp(prefix="fireside-test-cache-")
os.environ.pop("FIRESIDE_CONFIG", None)

from stage.config import FiresideConfig  # noqa: E402
from stage.events import PhonemeSpan  # noqa: E402
from voices.catalog import VoiceCatalog  # noqa: E402


@pytest.fixture(scope="session")
def config() -> FiresideConfig:
    return FiresideConfig()


@pytest.fixture(scope="session")
def catalog() -> VoiceCatalog:
    return VoiceCatalog()


@pytest.fixture(scope="session")
def joe(catalog):
    return catalog.engine("joe")


def speak(engine, text: str, start: float = 0.0) -> tuple[list[PhonemeSpan], float]:
    """All phonemes of ``text`` placed on one clock, and where speech ends."""
    phonemes, clock = [], start
    for piece in engine.synthesize(text):
        placed = piece.at(clock)
        phonemes += placed.phonemes
        clock = placed.audio.end
    return phonemes, clock


@pytest.fixture(scope="session")
def portrait() -> Path:
    from avatar.rigs.photo import sample_portrait

    return sample_portrait()


@pytest.fixture(scope="session")
def stylized_rig():
    from avatar.rigs.stylized import StylizedRig

    return StylizedRig(512)


@pytest.fixture(scope="session")
def photo_rig(portrait):
    from avatar.rigs.photo import PhotoRig

    return PhotoRig(portrait, 512)
