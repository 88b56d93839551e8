"""One conversation: a person and a persona. It listens, thinks and speaks on
its own clock, and knows no transport.

Its ports: ``hear`` takes the person's audio (audio in); the mixer and the
renderer hold the avatar's voice and face on the session clock (audio and
video out, read by the transport at its own pace); ``send`` is set by the
transport for the wire messages (data out); ``observer`` sees every event as
it happens (the panel's console). The same session runs in a browser call,
on stage (on the stage's clock and mixer, see ``join``) and, later, in a
LiveKit room.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Callable

import numpy as np

from avatar.render import Renderer
from avatar.rigs import Rig
from stage.core.clock import Clock
from stage.core.config import ListenSettings
from stage.core.events import (
    AnswerEnd,
    Clause,
    FalseInterruption,
    Interrupted,
    Transcript,
    TurnEnded,
    TurnPending,
    TurnResumed,
)
from stage.core.runtime import Runtime
from stage.core.wire import CaptionMessage, Message
from stage.listen.listener import Listener
from stage.session.ports import AvatarOutput
from stage.session.speaking import Speaking
from stage.session.translating import Translations
from stage.think.thinker import Thinker
from stage.think.translation import Translator
from stage.timeline.mixer import Mixer
from voices.speech import SpeechEngine

log = logging.getLogger("fireside.session")


class CallSession:
    """A person and one persona: microphone in; voice, face and captions out."""

    def __init__(
        self,
        persona_id: str,
        thinker: Thinker,
        voice: SpeechEngine,
        rig: Rig,
        fps: int = 25,
        listen: ListenSettings | None = None,
        *,
        runtime: Runtime,
    ):
        self.id = uuid.uuid4().hex[:12]
        self.persona_id = persona_id
        self.thinker, self.voice = thinker, voice
        self.runtime = runtime
        self.clock = Clock()
        self.renderer = Renderer(rig, fps=fps, seed=hash(self.id) & 0xFFFF)
        self.listen_settings = listen or ListenSettings()
        self.listener: Listener | None = None
        self.observer: Callable[[object], None] | None = None  # sees every event at once (the panel's console)
        self.time_limit = thinker.card.max_answer_seconds  # seconds of speech an answer may take
        self.events: list[tuple[float, object]] = []  # what happened, when (for tests and benchmarks)
        self.speaker = Speaking(persona_id, voice, self.renderer, self.clock, Mixer(), self.runtime, self._record)
        self.speaker.heard = lambda audio: self.listener and self.listener.add_playback(audio)
        self.speaker.holding = lambda: self.thinker.card.holding_line(self.thinker.turn)
        self._draft: str | None = None  # the question a draft answer is being prepared for
        self._listening = asyncio.Lock()
        self._send: Callable[[Message], None] = lambda message: None  # the transport's
        self.translations: Translations | None = None  # the captions' second line, where the caller chose one
        self.closed = False

    def join(self, clock: Clock, mixer: Mixer) -> None:
        """Speak on a shared clock, into a shared mixer (the stage's), from now on."""
        self.clock = self.speaker.clock = clock
        self.speaker.mixer = mixer

    # -- the ports ------------------------------------------------------------
    def now(self) -> float:
        return self.clock.now()

    @property
    def playback(self) -> Mixer:
        return self.speaker.mixer

    @property
    def output(self) -> AvatarOutput:
        """Its face and voice, for a transport to read (on the stage: its own voice in the stage's mix)."""
        mixer, voice = self.speaker.mixer, self.persona_id
        return AvatarOutput(
            now=self.now,
            audio=lambda start, count: mixer.read(start, count, voice),
            runtime=self.runtime,
            frame=self.renderer.frame,
            fps=self.renderer.fps,
            size=self.renderer.size,
        )

    @property
    def send(self) -> Callable[[Message], None]:
        return self.speaker.send

    @send.setter
    def send(self, send: Callable[[Message], None]) -> None:
        self._send = send

        def sending(message: Message) -> None:
            send(message)
            if self.translations is not None and isinstance(message, CaptionMessage):
                if message.speaker == self.persona_id:
                    self.translations.add(message)

        self.speaker.send = sending

    def translate_captions(self, translator: Translator, seconds: float) -> None:
        """Send each of the avatar's captions in ``translator``'s language too, after it (a line
        not ready ``seconds`` after its caption is dropped)."""
        self.translations = Translations(translator, lambda message: self._send(message), self.clock, seconds)

    @property
    def speaking(self) -> bool:
        return self.speaker.speaking

    @property
    def timings(self) -> dict[str, float]:
        return self.speaker.timings

    # -- listening -------------------------------------------------------
    async def hear(self, samples: np.ndarray, sample_rate: int, channels: int) -> None:
        """Microphone audio, in order, as it arrives."""
        if self.closed:
            return
        async with self._listening:
            if self.listener is None:
                self.listener = Listener(
                    self.listen_settings,
                    sample_rate,
                    channels,
                    start=self.now(),
                    live=True,
                    partials=self.runtime.partials,
                )
            self.listener.avatar_speaking = self.speaking
            events = await self.runtime.run(self.runtime.listen, self.listener.feed, samples)
        for event in events:
            self._record(event)
            self._time(event)
            if isinstance(event, Interrupted):
                self.speaker.pause()  # until it is clear whether they take the turn
            elif isinstance(event, FalseInterruption):
                self.speaker.resume()  # a cough, an "mm-hm": the answer goes on
            elif isinstance(event, Transcript):
                self.send(CaptionMessage(speaker="person", text=event.text, final=event.final))
            elif isinstance(event, TurnPending) and not self.speaker.paused:
                # prepared while the silence confirms the turn; not over a paused
                # answer, which a draft would drop before the turn is sure
                self.ask(event.text, draft=True)
            elif isinstance(event, TurnResumed):
                self._drop_draft()
            elif isinstance(event, TurnEnded):
                self._turn_ended(event.text)

    def _time(self, event) -> None:
        """Where the time goes after the person stops speaking (session clock)."""
        if isinstance(event, TurnPending):
            self.speaker.timings = {"speech_end": event.end, "turn_pending": self.now(), "transcribed": self.now()}
        elif isinstance(event, TurnEnded):
            if self.timings.get("speech_end") != event.end or self._draft != event.text:
                self.speaker.timings = {"speech_end": event.end, "transcribed": self.now()}
            self.timings["turn_ended"] = self.now()

    def _turn_ended(self, text: str) -> None:
        if self._draft == text and self.speaker.busy:
            self._draft = None
            self.speaker.go()  # the prepared answer may speak now
        else:
            log.info("session %s: the turn ended on other words than the draft's (%r, %r)", self.id, self._draft, text)
            self.ask(text)

    def _drop_draft(self) -> None:
        if self._draft is not None:
            self.speaker.drop()
        self._draft = None

    # -- thinking and speaking ---------------------------------------------
    def ask(self, question: str, draft: bool = False) -> asyncio.Task:
        """Answer a question, stopping any answer in progress. A draft answer
        is thought and voiced, but plays only once the turn is confirmed."""
        self._draft = question if draft else None
        return self.speaker.start(self.thinker.answer(question), self.time_limit, draft=draft)

    def say(self, text: str, kind: str = "scripted") -> asyncio.Task:
        """Speak ``text`` verbatim (a moderator's line, a holding line), stopping
        any answer in progress."""

        async def said():
            yield Clause(text, (), kind)
            yield AnswerEnd(kind)

        self._draft = None
        return self.speaker.start(said(), self.time_limit)

    def hold(self) -> asyncio.Task:
        """Stop, speak a holding line, then idle."""
        self.thinker.turn += 1
        return self.say(self.thinker.card.holding_line(self.thinker.turn), kind="holding")

    def stop_speaking(self) -> None:
        """Barge-in or the moderator's stop: silence now, mouth at rest, answer dropped."""
        self.speaker.stop()
        if self.translations is not None:
            self.translations.forget()

    def _record(self, event) -> None:
        self.events.append((self.now(), event))
        del self.events[:-500]
        if self.translations is not None and isinstance(event, Clause):
            self.translations.prepare(event.text)  # translated while it is voiced
        if self.observer is not None:
            self.observer(event)

    async def close(self) -> None:
        self.closed = True
        self.stop_speaking()
        if self.translations is not None:
            self.translations.close()
