"""What the moderator sees beside an audience question before asking it:
whom its words address, and what will happen when it is asked (refused by
the guardrail, held for want of knowledge, or answered, and from what),
judged by the panelists' own thinkers without answering."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass

from stage.panel.address import addressee
from stage.think.thinker import Thinker

OUTCOMES = {"block": "refused", "hold": "held", "allow": "fine"}


@dataclass(frozen=True)
class Verdict:
    outcome: str  # refused, held or fine
    rule: str  # prompt-injection, off-limits, no-grounding, approved, grounded
    reason: str  # as the console shows it
    panelist: str | None  # whom it was judged for
    suggested: str | None  # whom to ask: the panelist (or all) its words name, else one who can answer

    def wire(self) -> dict:
        return asdict(self)


class Triage:
    """Verdicts on questions, each judged once for its words and addressee."""

    def __init__(self, thinkers: dict[str, Thinker]):
        self.thinkers = thinkers
        self._known: dict[tuple[str, str | None], Verdict] = {}
        self._lock = threading.Lock()

    def known(self, text: str, to: str | None) -> Verdict | None:
        with self._lock:
            return self._known.get((text, to))

    def judge(self, text: str, to: str | None = None) -> Verdict:
        """The verdict for ``text`` put to ``to`` (a panelist, all, or not yet
        addressed). Retrieval takes tens of ms: call it off the event loop."""
        found = self.known(text, to)
        if found is not None:
            return found
        names = {pid: thinker.card.name for pid, thinker in self.thinkers.items()}
        named = addressee(text, names)
        target = to or named
        asked = [target] if target in self.thinkers else list(self.thinkers)
        decisions = {pid: self.thinkers[pid].foresee(text) for pid in asked}
        # refused if any would refuse it (an injection is refused by all); else answered if anyone can
        pid, decision = next(
            ((p, d) for p, d in decisions.items() if d.action == "block"),
            next(((p, d) for p, d in decisions.items() if d.action == "allow"), next(iter(decisions.items()))),
        )
        suggested = named or (pid if decision.action == "allow" else None)
        judged = pid if len(asked) == 1 or decision.action != "hold" else None  # None: held by every panelist
        reason = decision.reason if judged else "nothing in any panelist's knowledge is about the question"
        verdict = Verdict(OUTCOMES[decision.action], decision.rule, reason, judged, suggested)
        with self._lock:
            self._known[(text, to)] = verdict
        return verdict
