"""The avatar speaking: answers voiced onto the session clock, heard through
the mixer, seen through the renderer, captioned as their words are heard,
and cut at once on a barge-in or the moderator's stop.

One answer plays at a time; a new one stops the last. A draft answer is
thought and voiced while the person's silence is confirmed, and plays only
when ``go`` is called.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Callable

from avatar.render import Renderer
from stage.core.clock import Clock
from stage.core.events import AnswerEnd, Clause, GuardrailDecision
from stage.core.runtime import Runtime
from stage.core.wire import AnswerEndMessage, CaptionMessage, GuardrailMessage, Message, StoppedMessage
from stage.timeline.mixer import RATE, Mixer
from stage.timeline.placing import Timeline
from stage.timeline.voicing import Voiced, voice_answer
from voices.speech import SpeechEngine

LEAD = 0.005  # seconds between a piece being ready and it starting to play


class Speaking:
    """One persona's voice and face on a clock."""

    def __init__(
        self,
        voice_id: str,
        voice: SpeechEngine,
        renderer: Renderer,
        clock: Clock,
        mixer: Mixer,
        runtime: Runtime,
        record: Callable[[object], None],
    ):
        self.voice_id, self.voice, self.renderer = voice_id, voice, renderer
        self.clock, self.mixer, self.runtime = clock, mixer, runtime
        self.record = record  # every event, as it happens (the session's log and observer)
        self.send: Callable[[Message], None] = lambda message: None
        self.heard: Callable[[object], None] = lambda audio: None  # the avatar's own voice, for echo-aware listening
        self.timeline = Timeline()
        self.timings: dict[str, float] = {}  # where the time goes after the person stops (session clock)
        self._task: asyncio.Task | None = None
        self._go = asyncio.Event()
        self._answers = 0  # answers started: a caption's "answer" says which one its words belong to
        self._due: list[tuple[float, asyncio.TimerHandle]] = []  # messages timed to words not yet heard

    @property
    def speaking(self) -> bool:
        return self.mixer.end(self.voice_id) / RATE > self.clock.now()

    @property
    def busy(self) -> bool:
        """An answer is being thought or voiced."""
        return self._task is not None and not self._task.done()

    def start(self, events, limit: float, draft: bool = False) -> asyncio.Task:
        """Voice and play an answer's events in place of whatever was being said."""
        self.stop()
        self._go = asyncio.Event()
        if not draft:
            self._go.set()
        self._answers += 1
        self._task = asyncio.get_running_loop().create_task(self._play_answer(events, limit, self._answers))
        return self._task

    def go(self) -> None:
        """The draft's turn is confirmed: it may speak now."""
        self._go.set()

    def drop(self) -> None:
        """The answer being prepared is not wanted (the person went on speaking)."""
        if self._task is not None:
            self._task.cancel()

    async def _play_answer(self, events, limit: float, number: int) -> None:
        answer = voice_answer(
            events,
            self.voice,
            self.timeline,
            speaker=self.voice_id,
            limit=limit,
            ready=self._go,
            earliest=self._earliest,
            pool=self.runtime.speech,
            on_voiced=lambda piece: self.timings.setdefault("first_voiced", self.clock.now()),
        )
        async for event in answer:
            if isinstance(event, Voiced):
                self._play(event, number)
                continue
            self.record(event)
            if isinstance(event, Clause):
                self.timings.setdefault("first_clause", self.clock.now())
            elif isinstance(event, GuardrailDecision) and event.action != "allow":
                self._after_speech(GuardrailMessage(**asdict(event)))
            elif isinstance(event, AnswerEnd):
                self._after_speech(self._ended(event))

    def _ended(self, event: AnswerEnd) -> AnswerEndMessage:
        if event.outcome == "cut at the time limit":
            return AnswerEndMessage(outcome=event.outcome, sources=list(event.sources))
        after = {
            k: round(v - self.timings.get("speech_end", 0.0), 3) for k, v in self.timings.items() if k != "speech_end"
        }
        return AnswerEndMessage(
            outcome=event.outcome,
            sources=list(event.sources),
            titles=list(event.titles),
            timings=event.timings,
            after_speech_end=after,
        )

    def _earliest(self) -> float:
        """The first instant not yet sent (the transport reads 20 ms at a time)."""
        return max(self.clock.now() + LEAD, self.mixer.read_to / RATE)

    def _play(self, voiced: Voiced, answer: int) -> None:
        self.timings.setdefault("first_audio_scheduled", self.clock.now())
        speech, clause = voiced.placed.speech, voiced.clause
        self.mixer.add(speech.audio, self.voice_id)
        self.renderer.add_speech(speech.phonemes)
        self.heard(speech.audio)
        self.record(("speech", speech.audio.pts, speech.audio.end, speech.text))
        start = speech.audio.pts
        caption = CaptionMessage(
            speaker=self.voice_id,
            text=speech.text,
            sources=list(clause.sources),
            titles=list(clause.titles),
            kind=clause.kind,
            answer=answer,
            start=start,
            end=speech.audio.end,
        )
        self._at(start, caption, unless_cut=True)  # the caption shows when its words are heard, not before

    def _after_speech(self, message: Message) -> None:
        """A notice about the answer, shown after the words already placed."""
        self._at(max(self.clock.now(), self.timeline.end), message)

    def _at(self, when: float, message: Message, unless_cut: bool = False) -> None:
        loop = asyncio.get_running_loop()

        def send() -> None:
            if not unless_cut or when < self.timeline.end:
                self.send(message)

        handle = loop.call_at(loop.time() + max(0.0, when - self.clock.now()), send)
        self._due = [(t, h) for t, h in self._due if t > self.clock.now()] + [(when, handle)]

    def stop(self) -> None:
        """Silence now, the mouth at rest, the answer dropped, its unheard words unshown."""
        if self.busy:
            self._task.cancel()
        for _, handle in self._due:
            handle.cancel()
        self._due = []
        if self.speaking:
            at = self.clock.now() + 0.02
            self.mixer.cut(round(at * RATE), self.voice_id)
            self.renderer.face.cut(at)
            self.timeline.cut(at)
            self.record(("stopped", at))
            self.send(StoppedMessage(at=at))
