"""The live panel on stage: the panelists, one clock, one voice at a time.

Each panelist is a :class:`~stage.session.CallSession` without a
microphone, all on the stage's clock. ``ask`` puts a question to one
panelist or to all (who answer in order, one after the other); ``stop``,
``hold`` and ``say`` work mid-answer. What the stage shows goes to every
viewer: each panelist's frames are drawn once for all of them, the voices
are mixed once, and the captions are sent as their words are heard.
Everything said, every source and guardrail decision goes to the audit log.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Callable

import numpy as np

from stage.events import AnswerEnd, Clause, GuardrailDecision, Transcript, TurnEnded
from stage.listen import Listener, ListenSettings
from stage.panel import AuditLog
from stage.session import CallSession
from stage.show import ALL, Show

log = logging.getLogger("fireside.onstage")

PACKET = 960  # 20 ms at 48 kHz
FEED = 500  # messages kept for the console's live transcript


class Stage:
    """The panelists on one clock, the moderator's controls, and what every viewer sees and hears."""

    def __init__(self, show: Show, sessions: dict[str, CallSession], audit: AuditLog,
                 translator: "Translator | None" = None):
        self.show = show
        self.translator = translator
        self.t0 = time.monotonic()
        self.sessions = sessions
        self.audit = audit
        self.viewers: list[Callable[[dict], None]] = []
        self.feed: list[dict] = []  # what the console shows: captions, decisions, outcomes, numbered
        self._published = 0
        self._flow: asyncio.Task | None = None
        self.selected = next(iter(sessions))  # who the moderator's unaddressed words go to
        self._frames: dict[str, tuple[int, object]] = {}
        self._packets: dict[int, np.ndarray] = {}
        for pid, session in sessions.items():
            session.t0 = self.t0  # one clock for the whole stage
            session.send = self._sender(pid)
            session.observer = self._observer(pid)

    def now(self) -> float:
        return time.monotonic() - self.t0

    @property
    def speaking(self) -> str | None:
        return next((pid for pid, s in self.sessions.items() if s.speaking), None)

    # -- the moderator's controls ----------------------------------------------------
    def ask(self, question: str, to: str, qid: str | None = None,
            done: Callable[[str], None] | None = None) -> asyncio.Task:
        """Put ``question`` to a panelist or to all (in order); what was in
        progress stops. ``done(outcome)`` is called when the last answer ends."""
        order = list(self.sessions) if to == ALL else [to]
        self.stop(log_it=False)
        self.audit.write("ask", id=qid, question=question, to=to)
        self.publish({"type": "asked", "question": question, "to": to, "id": qid})
        self._flow = asyncio.get_running_loop().create_task(self._answer_in_turn(question, order, done))
        return self._flow

    async def _answer_in_turn(self, question: str, order: list[str], done) -> None:
        outcome = "answered"
        try:
            for pid in order:
                session = self.sessions[pid]
                await session.ask(question)
                while session.speaking:  # one voice at a time: the next waits for this one's last word
                    await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            outcome = "stopped"
            raise
        finally:
            if done is not None:
                done(outcome)

    def stop(self, log_it: bool = True) -> None:
        """Silence now: the answer in progress and those waiting their turn."""
        if self._flow is not None and not self._flow.done():
            self._flow.cancel()
        for session in self.sessions.values():
            session.stop_speaking()
        if log_it:
            self.audit.write("stop")
            self.publish({"type": "stopped"})

    def hold(self, pid: str | None = None) -> asyncio.Task:
        """The speaking panelist (or ``pid``) says a holding line, then idles."""
        pid = pid or self.speaking or next(iter(self.sessions))
        self.stop(log_it=False)
        self.audit.write("hold", panelist=pid)
        return self.sessions[pid].hold()

    def say(self, pid: str, text: str) -> asyncio.Task:
        """The moderator's words, spoken verbatim by a panelist."""
        self.stop(log_it=False)
        self.audit.write("say", panelist=pid, text=text)
        return self.sessions[pid].say(text)

    # -- what viewers get ----------------------------------------------------------------
    def frame(self, pid: str, index: int):
        """Frame ``index`` of a panelist, drawn once however many viewers there are."""
        cached = self._frames.get(pid)
        if cached is not None and cached[0] == index:
            return cached[1]
        frame = self.sessions[pid].renderer.frame(index)
        self._frames[pid] = (index, frame)
        return frame

    def audio(self, start: int) -> np.ndarray:
        """The 20 ms of every panelist's voice from sample ``start`` (48 kHz), mixed once."""
        packet = self._packets.get(start)
        if packet is None:
            mix = np.zeros(PACKET, np.int32)
            for session in self.sessions.values():
                mix += session.playback.read(start, PACKET)
            packet = np.clip(mix, -32768, 32767).astype(np.int16)
            self._packets[start] = packet
            for old in [k for k in self._packets if k < start - 50 * PACKET]:
                del self._packets[old]
        return packet

    # -- what the panelists say ---------------------------------------------------------------
    def _sender(self, pid: str) -> Callable[[dict], None]:
        name = self.sessions[pid].thinker.card.name

        def send(message: dict) -> None:
            message = {**message, "panelist": pid, "name": name}
            if message.get("type") == "caption":
                self.audit.write("said", panelist=pid, text=message["text"], sources=message.get("sources", []),
                                 kind=message.get("kind"))
            published = self.publish(message)
            if message.get("type") == "caption" and self.translator is not None:
                asyncio.get_running_loop().create_task(self._translate(published))
        return send

    async def _translate(self, caption: dict) -> None:
        text = await self.translator.translate(caption["text"])
        if text:
            self.publish({"type": "translation", "of": caption["seq"], "panelist": caption.get("panelist"),
                          "language": self.translator.language, "text": text})

    def _observer(self, pid: str) -> Callable[[object], None]:
        def observe(event) -> None:
            # the console sees decisions and sources at once, before the words are heard
            if isinstance(event, GuardrailDecision) and event.action != "allow":
                self.audit.write("guardrail", panelist=pid, **asdict(event))
                self.publish({"type": "decision", "panelist": pid, **asdict(event)}, viewers=False)
            elif isinstance(event, Clause):
                self.publish({"type": "clause", "panelist": pid, "text": event.text, "sources": list(event.sources),
                              "titles": list(event.titles), "kind": event.kind}, viewers=False)
            elif isinstance(event, AnswerEnd):
                self.audit.write("answer", panelist=pid, outcome=event.outcome, sources=list(event.sources),
                                 titles=list(event.titles))
        return observe

    def publish(self, message: dict, viewers: bool = True) -> dict:
        """A message for the console's feed and (unless ``viewers`` is False) every stage viewer."""
        self._published += 1
        message = {**message, "seq": self._published, "at": round(self.now(), 3)}
        self.feed.append(message)
        del self.feed[:-FEED]
        if viewers:
            for send in list(self.viewers):
                try:
                    send(message)
                except Exception:  # noqa: BLE001 - one viewer's broken channel must not stop the others
                    log.exception("a stage viewer's channel failed")
        return message

    async def close(self) -> None:
        self.stop(log_it=False)
        for session in self.sessions.values():
            await session.close()



class Translator:
    """Captions into a second language, by a model that can (as configured)."""

    def __init__(self, settings):
        from stage.llm import connect

        self.language, self.seconds = settings.language, settings.seconds
        self.model = connect(settings.backend, model=settings.model, api_key_env=settings.api_key_env,
                             stall_seconds=settings.seconds)

    async def translate(self, text: str) -> str | None:
        """The translation, or None when the model fails or is too slow (the
        caption stands alone then: a missing line is better than a late one)."""
        messages = [{"role": "system", "content": f"Translate the user's words into {self.language}. "
                                                  "Reply with the translation only."},
                    {"role": "user", "content": text}]

        async def collect() -> str:
            parts = [delta async for delta in self.model.stream(messages, max_tokens=160, temperature=0.0)]
            return " ".join("".join(parts).split())

        try:
            return await asyncio.wait_for(collect(), self.seconds) or None
        except Exception as err:  # noqa: BLE001 - a model error, a timeout: no second line this time
            log.warning("no translation for %r: %s", text[:40], err)
            return None


class ModeratorEar:
    """The moderator's microphone: their words are captioned as they speak,
    and a finished question goes to the panelist it names ("Ada, what do
    you ..."), to all ("everyone", "panel"), or else to the one selected."""

    _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="moderator")
    EVERYONE = ("everyone", "everybody", "panel", "panelists", "all of you", "both of you")
    NAME_MATCH = 75  # how alike (0-100) a heard word and a panelist's name must be

    def __init__(self, stage: Stage, settings: ListenSettings):
        self.stage, self.settings = stage, settings
        self.id = "moderator"
        self.listener: Listener | None = None
        self.closed = False
        self.name = stage.show.moderator.name

    async def hear(self, samples: np.ndarray, sample_rate: int, channels: int) -> None:
        if self.closed:
            return
        if self.listener is None:
            self.listener = Listener(self.settings, sample_rate, channels, start=self.stage.now(), live=True)
        events = await asyncio.get_running_loop().run_in_executor(self._pool, self.listener.feed, samples)
        for event in events:
            if isinstance(event, Transcript):
                caption = self.stage.publish({"type": "caption", "panelist": "moderator", "name": self.name,
                                              "text": event.text, "final": event.final, "kind": "moderator"})
                if event.final and self.stage.translator is not None:
                    asyncio.get_running_loop().create_task(self.stage._translate(caption))
            elif isinstance(event, TurnEnded):
                to = self.addressee(event.text)
                self.stage.audit.write("moderator", text=event.text, to=to)
                self.stage.ask(event.text, to)

    def addressee(self, text: str) -> str:
        """Who the words are for: a panelist named near their start or end
        (matched loosely: the recogniser may hear "Radi" for "Ravi"), all,
        or else the panelist selected in the console."""
        from rapidfuzz import fuzz

        words = re.findall(r"[\w']+", text.lower())
        near = [w for w in words[:3] + words[-2:] if len(w) >= 3]
        best, score = None, 0.0
        for pid, session in self.stage.sessions.items():
            for name in {pid, session.thinker.card.name.split()[0].lower()}:
                for word in near:
                    ratio = fuzz.ratio(word, name)
                    if ratio > score:
                        best, score = pid, ratio
        if score >= self.NAME_MATCH:
            return best
        if any(re.search(rf"\b{word}\b", text.lower()) for word in self.EVERYONE):
            return ALL
        return self.stage.selected

    async def close(self) -> None:
        self.closed = True
