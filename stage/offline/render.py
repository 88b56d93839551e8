"""The rehearsal's second pass: the stage video, drawn as the plan settles.

Frame *n* shows the stage at ``n / fps`` on the show clock: every
panelist's face (their renderer follows their phonemes), the speaker
highlighted, the caption of the moment. An encoder thread writes the MP4
(x264 works without the GIL), so the next frame is drawn while this one is
encoded; a second of the mix is written beside each second of frames.
"""

from __future__ import annotations

import math
import os
import queue
import threading
from pathlib import Path
from typing import Callable

from avatar.composite import StageCompositor
from avatar.render import Renderer
from avatar.rigs import load_rig
from avatar.visemes import MouthCurve
from stage.core.events import AudioChunk, Frame
from stage.offline.plan import Plan
from stage.offline.recording import Mp4Writer
from stage.think.persona import PersonaCard
from stage.timeline.mixer import RATE as AUDIO_RATE


def render_video(
    plan: Plan,
    out: Path,
    cards: dict[str, PersonaCard],
    fps: int = 25,
    size: tuple[int, int] = (1280, 720),
    on_frames: Callable[[int, int | None], None] | None = None,
    both: bool = False,
) -> int:
    """Draw the stage composite into ``out`` (MP4) as the plan settles; the
    frame count. ``both``: the captions' translation under them too."""
    show = plan.show
    compositor = StageCompositor(
        show.title, [(cards[p].name, cards[p].title) for p in show.panelists], *size, moderator=show.moderator.name
    )
    renderers = {
        pid: Renderer(load_rig(cards[pid].avatar, compositor.tile), fps=fps, seed=seat + 1)
        for seat, pid in enumerate(show.panelists)
    }
    known = dict.fromkeys(show.panelists, 0)  # phonemes already handed to each renderer
    seats = {pid: i for i, pid in enumerate(show.panelists)}
    part = out.with_name(f".{out.name}.part")
    n, count = 0, None
    try:
        with _Encoder(Mp4Writer(part, size, fps, AUDIO_RATE, preset="veryfast")) as encoder:
            while count is None or n < count:
                # frames whose mouths are settled: a frame looks a little ahead of its time
                plan.wait_beyond(n / fps + MouthCurve.AHEAD + 0.5)
                if plan.finished:
                    count = math.ceil(plan.duration * fps - 1e-9)
                for pid, renderer in renderers.items():
                    # the planner may add phonemes meanwhile: hand over up to a count read once
                    settled = len(plan.phonemes[pid])
                    renderer.add_speech(plan.phonemes[pid][known[pid] : settled])
                    known[pid] = settled
                last = count if plan.finished else math.floor((plan.ready_until - MouthCurve.AHEAD) * fps) - 1
                while n < last:
                    t = n / fps
                    caption, second = plan.caption_at(t), plan.translated_at(t) if both else None
                    rgb = compositor.compose(
                        [r.frame(n).rgb for r in renderers.values()],
                        seats.get(plan.speaker_at(t)),
                        (caption.speaker, caption.text, second.text if second else "") if caption else None,
                    )
                    encoder.frame(Frame(rgb, t))
                    n += 1
                    if n % fps == 0 or n == count:  # a second of sound at a time, beside its frames
                        encoder.audio(plan, round(n * AUDIO_RATE / fps))
                    if on_frames:
                        on_frames(n, count)
        os.replace(part, out)
    finally:
        part.unlink(missing_ok=True)
    return n


class _Encoder:
    """Encodes and writes on a thread of its own (x264 works without the
    GIL), so the next frame is drawn while this one is encoded."""

    def __init__(self, writer: Mp4Writer):
        self.writer = writer
        self._queue: queue.Queue = queue.Queue(maxsize=8)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="rehearsal-encoder", daemon=True)
        self._thread.start()

    def frame(self, frame: Frame) -> None:
        self._put(("frame", frame))

    def audio(self, plan: Plan, until: int) -> None:
        self._put(("audio", plan, until))

    def _put(self, item) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(item)

    def _run(self) -> None:
        try:
            while (item := self._queue.get()) is not None:
                if self._error is not None:
                    continue  # drain: the renderer learns of the error at its next put
                if item[0] == "frame":
                    self.writer.write_frame(item[1])
                else:
                    _, plan, until = item
                    start = self.writer.samples_written
                    self.writer.write_audio(AudioChunk(plan.audio(start, until), AUDIO_RATE, start / AUDIO_RATE))
        except BaseException as err:  # noqa: BLE001 - handed to the renderer
            self._error = err
            while self._queue.get() is not None:
                pass

    def __enter__(self) -> "_Encoder":
        return self

    def __exit__(self, *exc) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is None:
            self.writer.close()
        if self._error is not None and exc[0] is None:
            raise self._error
