"""One conversation: it owns the session clock and wires listen, think,
speak and show together. Transports (aiortc now) only move its audio,
frames and captions; the same session could run in a LiveKit room.

Time: ``now()`` is seconds since the session began. The avatar's voice is
scheduled on that clock in ``playback``; its mouth follows the same
phonemes in ``renderer``; a caption is sent when its words start playing.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import AsyncIterator, Callable

import numpy as np

from avatar.render import Renderer
from avatar.rigs import Rig
from stage.audio_in import Resampler
from stage.events import (AnswerEnd, Clause, GuardrailDecision, Interrupted, Speech, Transcript, TurnEnded,
                          TurnPending, TurnResumed)
from stage.listen import Listener, ListenSettings
from stage.think import Thinker
from stage.timeline import Timeline
from voices.speech import SpeechEngine, SpeechError, remembered

log = logging.getLogger("fireside.session")

OUT_RATE = 48000  # what WebRTC carries (Opus)
LEAD = 0.005  # seconds between a clause being ready and it starting to play


class PlaybackBuffer:
    """The avatar's voice on the session clock, as 48 kHz mono int16."""

    def __init__(self):
        self._chunks: list[tuple[int, np.ndarray]] = []  # (first sample index, samples)
        self.read_to = 0  # samples before this one have been sent: too late to change

    def schedule(self, start: int, pcm: np.ndarray) -> None:
        self._chunks.append((start, pcm))

    @property
    def end(self) -> int:
        return max((s + len(p) for s, p in self._chunks), default=0)

    def read(self, start: int, count: int) -> np.ndarray:
        out = np.zeros(count, np.int32)
        stop = start + count
        self.read_to = max(self.read_to, stop)
        for first, pcm in self._chunks:
            a, b = max(start, first), min(stop, first + len(pcm))
            if b > a:
                out[a - start:b - start] += pcm[a - first:b - first]
        # what has been read will not be read again
        self._chunks = [(s, p) for s, p in self._chunks if s + len(p) > stop]
        return np.clip(out, -32768, 32767).astype(np.int16)

    def cut(self, at: int) -> None:
        self._chunks = [(s, p[: max(0, at - s)]) for s, p in self._chunks if s < at]


class CallSession:
    """A person and one persona: microphone in; voice, face and captions out."""

    _listen_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="listen")
    _speech_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="speak")

    def __init__(self, persona_id: str, thinker: Thinker, voice: SpeechEngine, rig: Rig, fps: int = 25,
                 listen: ListenSettings | None = None):
        self.id = uuid.uuid4().hex[:12]
        self.persona_id = persona_id
        self.thinker, self.voice = thinker, voice
        self.renderer = Renderer(rig, fps=fps, seed=hash(self.id) & 0xFFFF)
        self.playback = PlaybackBuffer()
        self.listen_settings = listen or ListenSettings()
        self.listener: Listener | None = None
        self.t0 = time.monotonic()
        self.send: Callable[[dict], None] = lambda message: None  # set by the transport
        self.observer: Callable[[object], None] | None = None  # sees every event at once (the panel's console)
        self.time_limit = thinker.card.max_answer_seconds  # seconds of speech an answer may take
        self.speech = Timeline()  # the avatar's voice on the session clock
        self.events: list[tuple[float, object]] = []  # what happened, when (for tests and benchmarks)
        self._answer: asyncio.Task | None = None
        self._answers = 0  # answers started: a caption's "answer" says which one its words belong to
        self._draft: str | None = None  # the question a draft answer is being prepared for
        self.timeline: dict[str, float] = {}
        self._go = asyncio.Event()
        self._to_48k = Resampler(voice.sample_rate, target=OUT_RATE)
        self._captions_due: list[tuple[float, asyncio.TimerHandle]] = []  # captions timed to words not yet heard
        self._listening = asyncio.Lock()
        self.closed = False

    def now(self) -> float:
        return time.monotonic() - self.t0

    @property
    def speaking(self) -> bool:
        return self.playback.end / OUT_RATE > self.now()

    # -- listening -------------------------------------------------------
    async def hear(self, samples: np.ndarray, sample_rate: int, channels: int) -> None:
        """Microphone audio, in order, as it arrives."""
        if self.closed:
            return
        async with self._listening:
            if self.listener is None:
                self.listener = Listener(self.listen_settings, sample_rate, channels, start=self.now(), live=True)
            self.listener.avatar_speaking = self.speaking
            loop = asyncio.get_running_loop()
            events = await loop.run_in_executor(self._listen_pool, self.listener.feed, samples)
        for event in events:
            self._record(event)
            # where the time goes after the person stops speaking (session clock)
            if isinstance(event, TurnPending):
                self.timeline = {"speech_end": event.end, "turn_pending": self.now()}
            elif isinstance(event, TurnEnded):
                if self.timeline.get("speech_end") != event.end:
                    self.timeline = {"speech_end": event.end}
                self.timeline["turn_ended"] = self.now()
            if isinstance(event, Interrupted):
                self.stop_speaking()
            elif isinstance(event, Transcript):
                self.send({"type": "caption", "speaker": "person", "text": event.text, "final": event.final})
            elif isinstance(event, TurnPending):
                self.ask(event.text, draft=True)  # prepared while the silence confirms the turn
            elif isinstance(event, TurnResumed):
                self._drop_draft()
            elif isinstance(event, TurnEnded):
                if self._draft == event.text and self._answer is not None and not self._answer.done():
                    self._draft = None
                    self._go.set()  # the prepared answer may speak now
                else:
                    log.info("session %s: the turn ended on other words than the draft's (%r, %r)",
                             self.id, self._draft, event.text)
                    self.ask(event.text)

    # -- thinking and speaking ---------------------------------------------
    def ask(self, question: str, draft: bool = False) -> asyncio.Task:
        """Answer a question, stopping any answer in progress. A draft answer
        is thought and voiced, but plays only once the turn is confirmed."""
        return self._start(self.thinker.answer(question), draft=question if draft else None)

    def say(self, text: str, kind: str = "scripted") -> asyncio.Task:
        """Speak ``text`` verbatim (a moderator's line, a holding line), stopping
        any answer in progress."""
        async def said():
            yield Clause(text, (), kind)
            yield AnswerEnd(kind)

        return self._start(said())

    def _start(self, events, draft: str | None = None) -> asyncio.Task:
        """Speak an answer's events in place of whatever was being said."""
        self.stop_speaking()
        self._draft = draft
        self._go = asyncio.Event()
        if draft is None:
            self._go.set()
        self._answers += 1
        self._answer = asyncio.get_running_loop().create_task(self._speak_answer(events, self._go, self._answers))
        return self._answer

    def hold(self) -> asyncio.Task:
        """Stop, speak a holding line, then idle."""
        self.thinker.turn += 1
        return self.say(self.thinker.card.holding_line(self.thinker.turn), kind="holding")

    def _drop_draft(self) -> None:
        if self._draft is not None and self._answer is not None:
            self._answer.cancel()
        self._draft = None

    async def _speak_answer(self, answer, go: asyncio.Event, number: int) -> None:
        """Voice and play an answer's events as they come; the persona's time
        limit ends it after the clause that crosses it."""
        loop = asyncio.get_running_loop()
        self.speech.begin(self.time_limit)
        try:
            async for event in answer:
                self._record(event)
                # a draft is thought and voiced at once, but says nothing until its turn is confirmed
                if isinstance(event, GuardrailDecision):
                    if event.action != "allow":
                        await go.wait()
                        self._send_after_speech({"type": "guardrail", **asdict(event)}, loop)
                elif isinstance(event, Clause):
                    self.timeline.setdefault("first_clause", self.now())
                    async for piece in self._voiced(event, loop):
                        self.timeline.setdefault("first_voiced", self.now())
                        await go.wait()
                        self._play(piece, event, loop, number)
                    if self.speech.over_limit:
                        self._record(AnswerEnd("cut at the time limit"))
                        self._send_after_speech({"type": "answer_end", "outcome": "cut at the time limit",
                                                 "sources": list(event.sources), "timings": {}}, loop)
                        return
                elif isinstance(event, AnswerEnd):
                    await go.wait()
                    timeline = {k: round(v - self.timeline.get("speech_end", 0.0), 3)
                                for k, v in self.timeline.items() if k != "speech_end"}
                    self._send_after_speech({"type": "answer_end", "outcome": event.outcome,
                                             "sources": list(event.sources), "titles": list(event.titles),
                                             "timings": event.timings,
                                             "after_speech_end": timeline}, loop)
        finally:
            await answer.aclose()

    async def _voiced(self, clause: Clause, loop) -> AsyncIterator[Speech]:
        """The clause's speech, piece by piece as each is made (a long
        sentence is not waited for whole); fixed lines come ready-made."""
        try:
            if clause.kind in ("holding", "approved"):
                for piece in await loop.run_in_executor(self._speech_pool, remembered, self.voice, clause.text):
                    yield piece
                return
            pieces = self.voice.synthesize(clause.text)
            while (piece := await loop.run_in_executor(self._speech_pool, next, pieces, None)) is not None:
                yield piece
        except SpeechError as err:
            log.warning("session %s: cannot say %r: %s", self.id, clause.text, err)

    def _play(self, piece: Speech, clause: Clause, loop, answer: int) -> None:
        self.timeline.setdefault("first_audio_scheduled", self.now())
        # the first instant not yet sent (the transport reads 20 ms at a time)
        placed = self.speech.place(piece, self.persona_id, clause.sources,
                                   earliest=max(self.now() + LEAD, self.playback.read_to / OUT_RATE)).speech
        start = placed.audio.pts
        pcm = (self._to_48k(placed.audio.pcm) * 32767).astype(np.int16)
        self.playback.schedule(round(start * OUT_RATE), pcm)
        self.renderer.add_speech(placed.phonemes)
        if self.listener is not None:
            self.listener.add_playback(placed.audio)
        self._record(("speech", start, placed.audio.end, piece.text))
        message = {"type": "caption", "speaker": self.persona_id, "text": piece.text, "final": True,
                   "sources": list(clause.sources), "titles": list(clause.titles), "kind": clause.kind,
                   "answer": answer, "start": start, "end": placed.audio.end}
        # the caption shows when its words are heard, not before
        handle = loop.call_at(loop.time() + (start - self.now()), self._send_if_not_cut, message, start)
        self._captions_due = [(t, h) for t, h in self._captions_due if t > self.now()] + [(start, handle)]

    def _send_after_speech(self, message: dict, loop) -> None:
        """A notice about the answer, shown after the words already scheduled."""
        delay = max(0.0, self.speech.end - self.now())
        handle = loop.call_at(loop.time() + delay, lambda: None if self.closed else self.send(message))
        self._captions_due.append((self.now() + delay, handle))

    def _send_if_not_cut(self, message: dict, start: float) -> None:
        if start < self.speech.end and not self.closed:
            self.send(message)

    def stop_speaking(self) -> None:
        """Barge-in or the moderator's stop: silence now, mouth at rest, answer dropped."""
        if self._answer is not None and not self._answer.done():
            self._answer.cancel()
        for start, handle in self._captions_due:  # words that will not be heard are not shown
            handle.cancel()
        self._captions_due = []
        if self.speaking:
            at = self.now() + 0.02
            self.playback.cut(round(at * OUT_RATE))
            self.renderer.face.cut(at)
            self.speech.cut(at)
            self._record(("stopped", at))
            self.send({"type": "stopped", "at": at})

    def _record(self, event) -> None:
        self.events.append((self.now(), event))
        del self.events[:-500]
        if self.observer is not None:
            self.observer(event)

    async def close(self) -> None:
        self.closed = True
        self.stop_speaking()
