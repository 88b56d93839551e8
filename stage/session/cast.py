"""The cast: every persona a process can put on, built once.

A persona needs its card, its voice, its face (a rig), its knowledge and a
model to think with; calls, LiveKit rooms, the stage and rehearsal take
them from here, with the threads they run on (the runtime). Knowledge
is the costly part (reading and indexing documents): each persona's is
built once, on first use or by ``warm``, and shared read-only by all its
sessions, where it used to be built again for every call, on the event
loop. A session still gets a thinker of its own (a thinker counts its
turns). A clip (``fireside say``) takes its voice and rig from here too.
"""

from __future__ import annotations

import threading
from functools import cached_property, lru_cache
from pathlib import Path

from avatar.rigs import Rig, load_rig
from stage.core.config import FiresideConfig
from stage.core.runtime import Runtime
from stage.listen.sentence_end import SentenceEnd
from stage.listen.smart_turn import SmartTurn
from stage.session.call import CallSession
from stage.think.knowledge import Knowledge
from stage.think.persona import PersonaCard, load_personas
from stage.think.thinker import Thinker, thinker_for
from voices.catalog import VoiceCatalog
from voices.speech import remembered, speakable_pieces


class Cast:
    """The personas of one process: ``session(persona)``, ``thinker(persona)``, ``warm()``."""

    def __init__(
        self, config: FiresideConfig, cards: dict[str, PersonaCard] | None = None, runtime: Runtime | None = None
    ):
        self.config = config
        if cards is not None:
            self.cards = cards  # else read on first use (a clip needs no persona)
        self.voices = VoiceCatalog(config.voices.catalog)
        self._runtime = runtime
        self._knowledge: dict[str, Knowledge] = {}
        self._building = threading.Lock()  # sessions may be made on several threads
        self._starting = threading.Lock()  # (not the same lock: building knowledge takes seconds)
        self.rig = lru_cache(maxsize=8)(self._rig)

    @cached_property
    def cards(self) -> dict[str, PersonaCard]:
        """The persona cards, by id."""
        folder = self.config.personas.folder
        return load_personas(Path(folder) if folder else None, self.voices.entries)

    @property
    def runtime(self) -> Runtime:
        """The thread pools its sessions share (made when the first session needs them)."""
        with self._starting:
            if self._runtime is None:
                self._runtime = Runtime(self.config.threads)
            return self._runtime

    def _rig(self, spec: str) -> Rig:
        return load_rig(spec, self.config.avatar.size)

    def still(self, persona: str) -> bytes:
        """The persona's face at rest, as PNG bytes (the call page shows it before a call)."""
        import cv2

        from avatar.face import FaceState

        rgb = self.rig(self.cards[persona].avatar).draw(FaceState())
        return cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1].tobytes()

    def knowledge(self, persona: str, progress: bool = False) -> Knowledge:
        """The persona's knowledge, built on first use and shared from then on."""
        with self._building:
            found = self._knowledge.get(persona)
            if found is None:
                found = self._knowledge[persona] = Knowledge(self.cards[persona], progress)
            return found

    def thinker(self, persona: str, backend: str | None = None) -> Thinker:
        """A new thinker for the persona, on its shared knowledge."""
        card = self.cards[persona]
        return thinker_for(card, self.config, backend, knowledge=self.knowledge(persona))

    def session(self, persona: str, stage: bool = False) -> CallSession:
        """A new conversation with the persona: its thinker, voice and face (in a
        call, its ``call_voice`` where the card names one; on ``stage``, its voice)."""
        card = self.cards[persona]
        return CallSession(
            card.id,
            self.thinker(persona),
            self.voices.engine(card.voice if stage else card.call_voice or card.voice),
            self.rig(card.avatar),
            self.config.avatar.fps,
            self.config.listen,
            runtime=self.runtime,
        )

    def warm(self, *personas: str) -> None:
        """Load voices, rigs, knowledge and models, and evaluate the prompt, of
        ``personas`` (or every persona) before the first call."""
        for card in self.cards.values():
            if personas and card.id not in personas:
                continue
            for voice in {self.voices.engine(v) for v in (card.voice, card.call_voice) if v}:
                # said often, and where a fast answer matters most: made now, once
                for line in card.holding_lines:
                    remembered(voice, line)
                for approved in card.approved_answers:
                    for piece in speakable_pieces(approved.answer):  # as the thinker says it
                        remembered(voice, piece)
            self.rig(card.avatar)
            self.thinker(card.id).warm()
        if self.config.listen.end_of_turn == "model":
            # the end-of-turn models, one per process for every listener: loaded now, not
            # on the first call's loop (joining and loading the text model takes seconds,
            # and a room's loop blocked that long fell seconds behind for good)
            SentenceEnd()
            SmartTurn()

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()
