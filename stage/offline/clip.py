"""Text in, a lip-synced talking avatar out, as an MP4 (``fireside say``).

The same flow the live engine uses: speech is made piece by piece, each
piece is placed on the session clock, and frames are rendered as soon as
the speech under them is known.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from avatar.render import Renderer
from avatar.rigs import Rig
from stage.core.errors import FiresideError
from stage.offline.recording import Mp4Writer
from stage.session.cast import Cast
from stage.timeline.placing import Timeline
from voices.speech import SpeechError


@dataclass
class ClipReport:
    path: Path
    duration: float  # seconds of video
    speech: float  # seconds of speech in it
    frames: int
    elapsed: float  # seconds it took to make


class OutputError(FiresideError, ValueError):
    pass


def check_output(path: Path) -> Path:
    """Fail early, before any work, on a path that cannot be written."""
    path = Path(path)
    if path.suffix.lower() != ".mp4":
        raise OutputError(f"{path}: the output must be an .mp4 file")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{path}: the folder {parent} does not exist")
    if path.is_dir():
        raise OutputError(f"{path}: cannot write there (it is a folder)")
    probe = _part_file(path)
    try:  # the only sure test of writability is writing
        probe.open("wb").close()
        probe.unlink()
    except OSError as err:
        raise OutputError(f"{path}: cannot write there ({err.strerror})") from None
    return path


def _part_file(path: Path) -> Path:
    """Where a clip is written until it is whole."""
    return path.with_name(f".{path.name}.part")


def render_clip(
    text: str,
    out: Path,
    cast: Cast,
    voice: str | None = None,
    avatar: str | None = None,
    on_progress: Callable[[float], None] | None = None,
    rig: Rig | None = None,
    at_least: float = 0.0,
) -> ClipReport:
    """Speak ``text`` with ``voice`` through the rig ``avatar`` (the config's
    defaults where not given), or through ``rig`` itself, into the MP4
    ``out``, at least ``at_least`` seconds long (the face at rest after it)."""
    started = time.perf_counter()
    if not text.strip():
        raise SpeechError("there is no text to speak")
    out = check_output(out)
    config = cast.config
    engine = cast.voices.engine(cast.voices.get(voice or config.voices.default).id)
    rig = rig or cast.rig(avatar or config.avatar.rig)
    fps = config.avatar.fps
    renderer = Renderer(rig, fps=fps)
    timeline = Timeline(config.clip.lead_in)
    tmp = _part_file(out)
    try:
        with Mp4Writer(tmp, rig.size, fps, engine.sample_rate) as writer:
            for piece in engine.synthesize(text):
                placed = timeline.place(piece).speech
                renderer.add_speech(placed.phonemes)
                writer.write_audio(placed.audio)
                for frame in renderer.frames_until(timeline.end):
                    writer.write_frame(frame)
                if on_progress:
                    on_progress(timeline.end)
            speech = timeline.end - config.clip.lead_in
            count = math.ceil(max(timeline.end + config.clip.tail, at_least) * fps)
            for frame in renderer.frames_to_count(count):
                writer.write_frame(frame)
            writer.pad_audio_to(count / fps)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return ClipReport(out, count / fps, speech, count, time.perf_counter() - started)
