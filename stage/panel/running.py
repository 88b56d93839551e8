"""The run-of-show as the evening goes: the moderator says when each segment
begins, and the console shows each one's slot against the time it took (or
has taken so far), over or under, on the stage's clock."""

from __future__ import annotations

from stage.core.clock import Clock
from stage.panel.audit import AuditLog
from stage.panel.queue import PanelError
from stage.panel.show import Show


class RunOfShow:
    def __init__(self, show: Show, clock: Clock, audit: AuditLog):
        self.show, self.clock, self.audit = show, clock, audit
        self.began: dict[int, float] = {}  # segment index -> when it began (stage clock)
        self.current: int | None = None

    def begin(self, index: int) -> None:
        """Segment ``index`` begins now (the one before it ends)."""
        if not 0 <= index < len(self.show.segments):
            raise PanelError(f"the run-of-show has segments 0 to {len(self.show.segments) - 1}")
        self.began[index] = self.clock.now()
        self.current = index
        self.audit.write("segment", index=index, summary=self.show.segments[index].summary)

    def state(self) -> dict:
        """Each segment: its slot, when it began and how long it took (the
        current one: so far), and by how much it is over (negative: under)."""
        now = self.clock.now()
        starts = sorted(self.began.values())
        segments = []
        for index, segment in enumerate(self.show.segments):
            began = self.began.get(index)
            took = None
            if began is not None:
                ended = next((t for t in starts if t > began), now)
                took = round(ended - began, 1)
            segments.append(
                {
                    "index": index,
                    "summary": segment.summary,
                    "slot": segment.slot,
                    "took": took,
                    "over": None if took is None else round(took - segment.slot, 1),
                }
            )
        return {"clock": round(now, 1), "current": self.current, "planned": self.show.planned, "segments": segments}
