"""The live panel on stage: the panelists, one clock, one voice at a time.

Each panelist is a :class:`~stage.session.call.CallSession` without a
microphone, joined to the stage's clock and mixer. ``ask`` puts a question
to one panelist or to all (who answer in order, one after the other);
``stop``, ``hold`` and ``say`` work mid-answer. What the stage shows goes to
every viewer, through its ports (``output``, ``voices``): a transport reads
each once, however many watch, and the captions are sent as their words
are heard.
Everything said, every source and guardrail decision goes to the audit log.
"""

from __future__ import annotations

import asyncio
from typing import Callable

from stage.core.clock import Clock
from stage.core.runtime import Runtime
from stage.core.wire import AskedMessage, Message, StoppedMessage
from stage.panel.audit import AuditLog
from stage.panel.feed import Feed
from stage.panel.order import Panel
from stage.panel.relay import Relay
from stage.panel.show import ALL, Show
from stage.session.call import CallSession
from stage.session.ports import AvatarOutput
from stage.session.translating import Translations
from stage.think.guardrails import check_question
from stage.think.translation import Translator
from stage.timeline.mixer import Mixer


class Stage:
    """The panelists on one clock, the moderator's controls, and what every viewer sees and hears."""

    def __init__(
        self,
        show: Show,
        sessions: dict[str, CallSession],
        audit: AuditLog,
        translator: Translator | None = None,
        *,
        runtime: Runtime,
        seconds: float = 6.0,
    ):
        self.show, self.sessions, self.audit = show, sessions, audit
        self.runtime = runtime
        self.clock, self.mixer = Clock(), Mixer()
        self.panel = Panel(self.clock)
        self.relays: dict[str, Relay] = {}
        self.feed = Feed(self.clock)
        self.translations = Translations(translator, self.feed.publish, self.clock, seconds)
        self.selected = next(iter(sessions))  # who the moderator's unaddressed words go to
        self._flow: asyncio.Task | None = None
        for pid, session in sessions.items():
            session.join(self.clock, self.mixer)  # one clock and one mix for the whole stage
            relay = self.relays[pid] = Relay(pid, session.thinker.card.name, self.feed, self.audit, self.translations)
            session.send, session.observer = relay.send, relay.observe

    def now(self) -> float:
        return self.clock.now()

    @property
    def viewers(self) -> list[Callable[[Message], None]]:
        return self.feed.viewers

    @property
    def speaking(self) -> str | None:
        return next((pid for pid, s in self.sessions.items() if s.speaking), None)

    # -- the moderator's controls ----------------------------------------------------
    def ask(
        self,
        question: str,
        to: str,
        qid: str | None = None,
        done: Callable[[str], None] | None = None,
        *,
        by: str = "moderator",
        asker: str | None = None,
        original: str | None = None,
        said_until: float | None = None,
    ) -> asyncio.Task:
        """Put ``question`` to a panelist or to all (in order); what was in
        progress stops. ``done(outcome)`` is called when the last answer ends.
        ``by`` says who put it (the audience, with the ``asker``'s name; the
        moderator, typed; their microphone): the stage shows it as theirs, and
        never shows a question the guardrail refuses. ``said_until``: when a
        spoken question's last word was said (its answers' latency counts from there).
        ``original``: the asker's own words, where ``question`` translates them."""
        order = list(self.sessions) if to == ALL else [to]
        self.stop(log_it=False)
        checks = [check_question(question, self.sessions[pid].thinker.card) for pid in order]
        refused = next((check.rule for check in checks if check.action == "block"), None)
        self.audit.write("ask", id=qid, question=question, to=to, by=by, refused=refused)
        message = AskedMessage(
            question=question, to=to, id=qid, by=by, asker=asker, refused=refused, original=original or None
        )
        self.publish(message, viewers=refused is None and by != "microphone")
        flow = self._answer_in_turn(question, order, done, self.now() if said_until is None else said_until)
        self._flow = asyncio.get_running_loop().create_task(flow)
        return self._flow

    async def _answer_in_turn(self, question: str, order: list[str], done, said_until: float) -> None:
        async def answer(pid: str) -> float:
            session = self.sessions[pid]
            # its latency, as a call's (answer_end's metrics): from the question's last word, or from its turn
            now = self.now()
            since = said_until if pid == order[0] else now
            session.speaker.timings = {"speech_end": since, "transcribed": now, "turn_ended": now}
            await session.ask(question)
            return session.speaker.timeline.end  # where its words end on the stage's clock

        outcome = "answered"
        try:
            await self.panel.in_turn(order, answer)  # one voice at a time, as rehearsed
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
        for pid, session in self.sessions.items():
            session.stop_speaking()
            self.relays[pid].forget()
        if log_it:
            self.audit.write("stop")
            self.publish(StoppedMessage())

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
    def output(self, pid: str) -> AvatarOutput:
        """A panelist's face and own voice, on the stage's clock."""
        return self.sessions[pid].output

    def voices(self) -> AvatarOutput:
        """The panelists' voices mixed, on the stage's clock (no face)."""
        return AvatarOutput(now=self.now, audio=self.mixer.read, runtime=self.runtime)

    def publish(self, message: Message, viewers: bool = True) -> Message:
        """A message for the console's feed and (unless ``viewers`` is False) every stage viewer."""
        return self.feed.publish(message, viewers)

    def translate(self, caption: Message) -> None:
        """A caption's second line, published after it when ready (if there is a translator)."""
        self.translations.add(caption)

    async def close(self) -> None:
        self.stop(log_it=False)
        self.translations.close()
        for session in self.sessions.values():
            await session.close()
