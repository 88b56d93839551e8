"""What a panelist's session says, relayed to the stage: its messages to
every viewer (marked as the panelist's), what it is about to say and every
guardrail decision to the console at once, and all of it to the audit log
(an answer's record names its sources per sentence, as rehearsal's report does)."""

from __future__ import annotations

from dataclasses import asdict

from stage.core.events import AnswerEnd, Clause, GuardrailDecision
from stage.core.wire import CaptionMessage, ClauseMessage, DecisionMessage, GuardrailMessage, Message
from stage.panel.audit import AuditLog, cited
from stage.panel.feed import Feed
from stage.session.translating import Translations


class Relay:
    def __init__(self, pid: str, name: str, feed: Feed, audit: AuditLog, translations: Translations):
        self.pid, self.name = pid, name
        self.feed, self.audit, self.translations = feed, audit, translations
        self.clauses: list[Clause] = []  # the answer in progress, for its record

    def forget(self) -> None:
        """The answer in progress was stopped: its clauses are no answer's."""
        self.clauses = []
        self.translations.forget()

    def send(self, message: Message) -> None:
        """A wire message of the session's: published as the panelist's."""
        message = message.model_copy(update={"panelist": self.pid, "name": self.name})
        if isinstance(message, CaptionMessage):
            self.audit.write(
                "said", panelist=self.pid, text=message.text, sources=message.sources or [], kind=message.kind
            )
        # a guardrail's notice quotes what it refused: the console's, never the projector's
        published = self.feed.publish(message, viewers=not isinstance(message, GuardrailMessage))
        if isinstance(message, CaptionMessage):
            self.translations.add(published)

    def observe(self, event) -> None:
        """Every event of the session's, as it happens: the console sees
        decisions and sources at once, before the words are heard."""
        if isinstance(event, GuardrailDecision) and event.action != "allow":
            self.audit.write("guardrail", panelist=self.pid, **asdict(event))
            self.feed.publish(DecisionMessage(panelist=self.pid, **asdict(event)), viewers=False)
        elif isinstance(event, Clause):
            self.clauses.append(event)
            self.translations.prepare(event.text)  # translated while it is voiced
            clause = ClauseMessage(
                panelist=self.pid,
                text=event.text,
                sources=list(event.sources),
                titles=list(event.titles),
                kind=event.kind,
            )
            self.feed.publish(clause, viewers=False)
        elif isinstance(event, AnswerEnd):
            self.audit.write(
                "answer",
                panelist=self.pid,
                outcome=event.outcome,
                sources=list(event.sources),
                titles=list(event.titles),
                cited=cited(self.clauses),  # each sentence with its sources, as rehearsal's report has them
            )
            self.clauses = []
