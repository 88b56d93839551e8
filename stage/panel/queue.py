"""The moderated panel's record: the audience's questions, and everything
decided and said about them, in an append-only audit log (JSON lines).

The log itself (stage/panel/audit.py) is chained, so an edit shows. The
question queue is stored nowhere else: it is what the log says,
replayed when the server starts, so after a restart the queue and the log
are exactly what they were. A torn last line (the power went mid-write) is
skipped, never fatal.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict, deque
from dataclasses import asdict, dataclass

from stage.core.errors import FiresideError
from stage.panel.audit import AuditLog
from stage.think.guardrails import EmptyQuestion, require_question

MAX_QUESTION = 300  # characters
MAX_NAME = 60

STATUSES = ("pending", "approved", "rejected", "asked", "answered")


class PanelError(FiresideError, ValueError):
    """A request the panel cannot take (the message says why)."""


class TooMany(PanelError):
    """A client asking faster than the limit allows."""


@dataclass
class Question:
    id: str
    text: str
    name: str  # "" for anonymous
    status: str = "pending"
    to: str | None = None  # a panelist's id, "all", or None (not yet addressed)
    order: float = 0.0  # the queue is sorted by this
    submitted: str = ""  # ISO time
    edited: bool = False
    asked: str = ""  # ISO time it was last asked
    outcome: str = ""  # how its last answer ended: answered, stopped (cut: it may be asked again)
    original: str = ""  # the asker's own words, where they were translated into English for the panel


class QuestionQueue:
    """The audience's questions, from submission to answer; every change is logged first."""

    def __init__(self, log: AuditLog, panelists: list[str]):
        self.log = log
        self.panelists = list(panelists)
        self.questions: dict[str, Question] = {}
        for record in log.records():
            self._apply(record)

    # -- what the audience does -------------------------------------------------
    @staticmethod
    def check(text: str, name: str = "") -> tuple[str, str]:
        """The question and name as they will be queued; a :class:`PanelError` says what is wrong."""
        text, name = " ".join(str(text).split()), " ".join(str(name or "").split())
        try:
            require_question(text)
        except EmptyQuestion as err:
            raise PanelError(str(err)) from None
        if len(text) > MAX_QUESTION:
            raise PanelError(f"a question is at most {MAX_QUESTION} characters ({len(text)} given)")
        if len(name) > MAX_NAME:
            raise PanelError(f"a name is at most {MAX_NAME} characters")
        return text, name

    def submit(self, text: str, name: str = "", client: str = "", original: str = "") -> Question:
        """Queue an audience question (``original``: the asker's words, when ``text`` is their
        translation); ``client`` (as the log should keep it: hashed, unless configured) is logged."""
        text, name = self.check(text, name)
        order = max((q.order for q in self.questions.values()), default=0.0) + 1.0
        record = self.log.write(
            "question", id=uuid.uuid4().hex[:10], text=text, name=name, client=client, order=order, original=original
        )
        return self._apply(record)

    # -- what the moderator does ------------------------------------------------
    def approve(self, qid: str, to: str | None = None) -> Question:
        self._check_to(to)
        return self._change(qid, "approved", to=to)

    def reject(self, qid: str) -> Question:
        return self._change(qid, "rejected")

    def edit(self, qid: str, text: str) -> Question:
        text = " ".join(str(text).split())
        if not any(c.isalnum() for c in text) or len(text) > MAX_QUESTION:
            raise PanelError(f"an edited question has 1 to {MAX_QUESTION} characters, a word among them")
        self.get(qid)
        return self._apply(self.log.write("edited", id=qid, text=text))

    def assign(self, qid: str, to: str) -> Question:
        self._check_to(to)
        self.get(qid)
        return self._apply(self.log.write("assigned", id=qid, to=to))

    def move(self, qid: str, position: int) -> Question:
        """Put a question at ``position`` (0 first) among those still open."""
        question = self.get(qid)
        others = [q for q in self.open() if q.id != qid]
        position = max(0, min(int(position), len(others)))
        before = others[position - 1].order if position > 0 else (others[0].order - 2 if others else 0.0)
        after = others[position].order if position < len(others) else before + 2
        return self._apply(self.log.write("moved", id=question.id, order=(before + after) / 2))

    def mark(self, qid: str, status: str, **details) -> Question:
        """``asked`` or ``answered`` (with what was said: details go to the log)."""
        return self._change(qid, status, **details)

    # -- reading ------------------------------------------------------------------
    def get(self, qid: str) -> Question:
        try:
            return self.questions[qid]
        except KeyError:
            raise PanelError(f"no question {qid!r}") from None

    def open(self) -> list[Question]:
        """Pending and approved questions, in queue order."""
        return sorted(
            (q for q in self.questions.values() if q.status in ("pending", "approved")), key=lambda q: q.order
        )

    def listing(self) -> list[dict]:
        return [asdict(q) for q in sorted(self.questions.values(), key=lambda q: q.order)]

    # -- the log is the truth ---------------------------------------------------------
    def _change(self, qid: str, status: str, **details) -> Question:
        if status not in STATUSES:
            raise PanelError(f"unknown status {status!r}")
        self.get(qid)
        return self._apply(self.log.write("status", id=qid, status=status, **details))

    def _check_to(self, to: str | None) -> None:
        if to is not None and to != "all" and to not in self.panelists:
            raise PanelError(f"{to!r} is not on the panel: use {', '.join(self.panelists)} or all")

    def _apply(self, record: dict) -> Question | None:
        event, qid = record.get("event"), record.get("id")
        if event == "question":
            question = Question(
                qid,
                record["text"],
                record.get("name", ""),
                order=float(record.get("order", 0)),
                submitted=record.get("at", ""),
                original=record.get("original", ""),
            )
            self.questions[qid] = question
            return question
        question = self.questions.get(qid)
        if question is None:
            return None  # the log's other records (answers, controls) are not about the queue
        if event == "status":
            question.status = record["status"]
            if record.get("to") is not None:
                question.to = record["to"]
            if question.status == "asked":
                question.asked, question.outcome = record.get("at", ""), ""
            question.outcome = record.get("outcome", question.outcome)
        elif event == "edited":
            question.text, question.edited = record["text"], True
        elif event == "assigned":
            question.to = record["to"]
        elif event == "moved":
            question.order = float(record["order"])
        return question


class RateLimit:
    """At most ``count`` requests per ``seconds`` from one client."""

    def __init__(self, count: int = 3, seconds: float = 60.0):
        self.count, self.seconds = count, seconds
        self._seen: dict[str, deque] = defaultdict(deque)
        self._lock = threading.Lock()

    def check(self, client: str) -> None:
        """A :class:`TooMany` if ``client`` is at its limit (nothing is counted: see ``took``)."""
        now = time.monotonic()
        with self._lock:
            seen = self._seen[client]
            while seen and seen[0] <= now - self.seconds:
                seen.popleft()
            if len(seen) >= self.count:
                wait = seen[0] + self.seconds - now
                raise TooMany(f"at most {self.count} questions every {self.seconds:g} s: try again in {wait:.0f} s")

    def took(self, client: str) -> None:
        """A request of ``client``'s was taken: it counts from now."""
        with self._lock:
            self._seen[client].append(time.monotonic())
