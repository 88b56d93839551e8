"""The avatar speaking: answers voiced onto the session clock, heard through
the mixer, seen through the renderer, captioned as their words are heard,
and cut at once on a barge-in or the moderator's stop.

One answer plays at a time; a new one stops the last. A draft answer is
thought and voiced while the person's silence is confirmed, and plays only
when ``go`` is called. Speech over the avatar pauses it (``pause``): the
rest of its words are kept, and ``resume`` plays them from where they
stopped, captions included, unless ``stop`` drops them.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass
from typing import Callable

from avatar.render import Renderer
from stage.core.clock import Clock
from stage.core.events import (
    AnswerEnd,
    Clause,
    GuardrailDecision,
    Speech,
    SpeechPaused,
    SpeechPlaced,
    SpeechResumed,
    SpeechStopped,
)
from stage.core.runtime import Runtime
from stage.core.wire import (
    AnswerEndMessage,
    CaptionMessage,
    GuardrailMessage,
    Message,
    PausedMessage,
    ResumedMessage,
    StoppedMessage,
    TurnMetrics,
)
from stage.session.schedule import Due, Schedule
from stage.timeline.mixer import RATE, Mixer
from stage.timeline.placing import Timeline
from stage.timeline.voicing import Voiced, voice_answer
from voices.speech import SpeechEngine

log = logging.getLogger("fireside.session")

LEAD = 0.005  # seconds between a piece being ready and it starting to play


@dataclass
class _Held:
    """A paused answer: where it stopped, the speech left to say, the messages left to send."""

    at: float
    rest: list[Speech]
    due: list[Due]


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
        self.holding: Callable[[], str] | None = None  # the line said instead when the voice fails mid-answer
        self.timeline = Timeline()
        self.timings: dict[str, float] = {}  # where the time goes after the person stops (session clock)
        self._task: asyncio.Task | None = None
        self._go = asyncio.Event()
        self._answers = 0  # answers started: a caption's "answer" says which one its words belong to
        # captions and notices, sent when their words are heard (looked up late: a session may join the stage)
        self.schedule = Schedule(
            lambda: self.clock.now(), lambda message: self.send(message), lambda: self.timeline.end
        )
        self._placed: list[Speech] = []  # the current answer's speech, on the clock
        self._held: _Held | None = None  # a paused answer

    @property
    def speaking(self) -> bool:
        return self.mixer.end(self.voice_id) / RATE > self.clock.now()

    @property
    def paused(self) -> bool:
        return self._held is not None

    @property
    def busy(self) -> bool:
        """An answer is being thought or voiced."""
        return self._task is not None and not self._task.done()

    def start(self, events, limit: float, draft: bool = False) -> asyncio.Task:
        """Voice and play an answer's events in place of whatever was being said."""
        self.stop()
        self._go, self._placed = asyncio.Event(), []
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
            holding=self.holding,
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
        metrics = turn_metrics(self.timings, event.timings)
        if metrics:
            log.info("%s: turn metrics %s", self.voice_id, metrics)
        return AnswerEndMessage(
            outcome=event.outcome,
            sources=list(event.sources),
            titles=list(event.titles),
            timings=event.timings,
            after_speech_end=after,
            metrics=metrics,
        )

    def _earliest(self) -> float:
        """The first instant not yet sent (the transport reads 20 ms at a time)."""
        return max(self.clock.now() + LEAD, self.mixer.read_to / RATE)

    def _play(self, voiced: Voiced, answer: int) -> None:
        self.timings.setdefault("first_audio_scheduled", self.clock.now())
        speech, clause, placed = voiced.placed.speech, voiced.clause, voiced.placed.caption
        self.timings.setdefault("first_audio", speech.audio.pts)
        self._place(speech)
        # the timeline's caption, as rehearsal's: its words, from when they are heard to when they end
        caption = CaptionMessage(
            speaker=self.voice_id,
            text=placed.text,
            sources=list(clause.sources),
            titles=list(clause.titles),
            kind=clause.kind,
            answer=answer,
            start=placed.start,
            end=placed.end,
        )
        self.schedule.at(placed.start, caption, unless_cut=True)  # shown when its words are heard, not before

    def _place(self, speech: Speech) -> None:
        """Speech heard and seen where it sits on the clock."""
        self.mixer.add(speech.audio, self.voice_id)
        self.renderer.add_speech(speech.phonemes)
        self.heard(speech.audio)
        self.record(SpeechPlaced(speech.text, speech.audio.pts, speech.audio.end))
        now = self.clock.now()
        self._placed = [s for s in self._placed if s.audio.end > now] + [speech]

    def _after_speech(self, message: Message) -> None:
        """A notice about the answer, shown after the words already placed."""
        self.schedule.at(max(self.clock.now(), self.timeline.end), message)

    def pause(self) -> None:
        """Silence now and the mouth at rest, keeping the rest of the answer
        (its speech, its captions, the notices after it) for ``resume``."""
        if not self.speaking or self._held is not None:
            return
        at = self.clock.now() + 0.02
        self._go.clear()  # nothing more is placed while paused
        later = self.schedule.take_from(at)
        self._held = _Held(at, [s.after(at) for s in self._placed if s.audio.end > at], later)
        self._placed = []
        self.mixer.cut(round(at * RATE), self.voice_id)
        self.renderer.face.cut(at)
        self.record(SpeechPaused(at))
        self.send(PausedMessage(at=at))

    def resume(self) -> None:
        """Go on where ``pause`` stopped: the same words, the same captions, later."""
        held, self._held = self._held, None
        if held is None:
            return
        at = self._earliest()
        shift = at - held.at
        for speech in held.rest:
            self._place(speech.at(speech.audio.pts + shift))
        self.timeline.delay(shift)
        for due in held.due:
            self.schedule.at(due.when + shift, _later(due.message, shift), due.unless_cut)
        self._go.set()
        self.record(SpeechResumed(at))
        self.send(ResumedMessage(at=at))

    def stop(self) -> None:
        """Silence now, the mouth at rest, the answer dropped, its unheard words unshown."""
        if self.busy:
            self._task.cancel()
        self.schedule.clear()
        self._placed = []
        held, self._held = self._held, None
        if held is not None:  # paused: silent since then
            self.timeline.cut(held.at)
            self.record(SpeechStopped(held.at))
            self.send(StoppedMessage(at=held.at))
        elif self.speaking:
            at = self.clock.now() + 0.02
            self.mixer.cut(round(at * RATE), self.voice_id)
            self.renderer.face.cut(at)
            self.timeline.cut(at)
            self.record(SpeechStopped(at))
            self.send(StoppedMessage(at=at))


def _later(message: Message, by: float) -> Message:
    """A message timed to words that now play ``by`` seconds later."""
    if isinstance(message, CaptionMessage) and message.start is not None:
        return message.model_copy(update={"start": message.start + by, "end": message.end + by})
    return message


def turn_metrics(timings: dict[str, float], thinker: dict[str, float]) -> TurnMetrics | None:
    """A call's turn in LiveKit's metric names (seconds): from the end of the
    person's speech to the turn's end (``end_of_turn_delay``), to its words
    (``transcription_delay``) and to the avatar's first audio
    (``e2e_latency``); the model's first token after its request
    (``llm_ttft``); the voice's first audio after its first clause
    (``tts_ttfb``). None where the person's speech was not timed (a typed question)."""
    if "speech_end" not in timings:
        return None
    end = timings["speech_end"]

    def seconds(value: float | None) -> float | None:
        return None if value is None else round(max(0.0, value), 3)

    ttft = None
    if "first_token_ms" in thinker and "request_ms" in thinker:
        ttft = (thinker["first_token_ms"] - thinker["request_ms"]) / 1000
    return TurnMetrics(
        end_of_turn_delay=seconds(timings.get("turn_ended", end) - end),
        transcription_delay=seconds(timings.get("transcribed", end) - end),
        llm_ttft=seconds(ttft),
        tts_ttfb=seconds(timings["first_voiced"] - timings["first_clause"])
        if "first_voiced" in timings and "first_clause" in timings
        else None,
        e2e_latency=seconds(timings["first_audio"] - end) if "first_audio" in timings else None,
    )
