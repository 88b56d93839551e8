"""Rehearsal: a run-of-show rendered without a microphone (``fireside rehearse``).

Two passes that run side by side. The planner goes through the segments
in order: the moderator's lines are voiced (or read from WAV and
transcribed), questions are answered by the personas' thinkers exactly as
on stage (guardrails, sources, time limits), and every piece of speech is
placed on one show clock. The renderer (stage/offline/render.py) follows
it, drawing the stage composite for every frame whose speech is settled,
while an encoder thread writes the MP4; then the captions and the report
are written (stage/offline/report.py).

The show clock is the rehearsal's own, not the computer's (a ``ShowClock``):
the turns are ordered by the live stage's ``Panel`` (stage/panel/order.py),
so an answer starts ``RESPONSE_GAP`` after its question whatever the
thinking took (that time is reported, not shown), and the next panelist
``BETWEEN_SPEAKERS`` after the last word, as on stage. Piper's timings are
steady, the model is greedy, and a line said before is said the same way
again (espeak-ng's timing drifts by a few milliseconds with its history),
so the same show gives the same words at the same times on every run.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from stage.core.audio import RATE as LISTEN_RATE
from stage.core.audio import read_wav
from stage.core.clock import ShowClock
from stage.core.config import FiresideConfig
from stage.core.events import AnswerEnd, AudioChunk, Caption, Clause, GuardrailDecision
from stage.listen.asr import transcribe
from stage.offline.clip import OutputError
from stage.offline.plan import Plan, SegmentTiming, Turn
from stage.offline.render import render_video
from stage.offline.report import report, write_captions, write_report
from stage.panel.audit import cited
from stage.panel.order import AFTER_SEGMENT, Panel
from stage.panel.show import Segment, Show, ShowError
from stage.session.cast import Cast
from stage.think.persona import PersonaCard
from stage.think.thinker import Thinker
from stage.think.translation import TranslationError, Translator
from stage.timeline.cues import cues, held
from stage.timeline.placing import Timeline
from stage.timeline.voicing import Voiced, voice_answer, voice_now
from voices.speech import SpeechEngine

log = logging.getLogger("fireside.rehearsal")

LEAD_IN = 0.5  # seconds of the stage before the first words
MODERATOR = "moderator"


class Rehearsal:
    """A show with its cast: the panelists' thinkers and voices, and the moderator's voice."""

    def __init__(self, show: Show, cards: dict[str, PersonaCard], config: FiresideConfig, backend: str | None = None):
        self.show, self.config = show, config
        if show.event:
            config = config.model_copy(update={"personas": config.personas.model_copy(update={"event": show.event})})
        self.cards = {pid: cards[pid] for pid in show.panelists}
        cast = Cast(config, self.cards)  # the same cast a live show takes its panelists from
        self.thinkers: dict[str, Thinker] = {pid: cast.thinker(pid, backend) for pid in self.cards}
        self.voices: dict[str, SpeechEngine] = {pid: cast.voices.engine(card.voice) for pid, card in self.cards.items()}
        self.voices[MODERATOR] = cast.voices.engine(show.moderator.voice)
        self.translator = None  # the captions' second language, where the show has one
        if show.translation is not None:
            glossary = show.glossary([card.name for card in self.cards.values()])
            self.translator = Translator(config.translation, show.translation.to, glossary)

    # -- the first pass: words and speech on the show clock ----------------------
    def plan(self, on_segment: Callable[[int], None] | None = None) -> Plan:
        """The whole plan, made now."""
        plan = self.new_plan()
        self.fill(plan, on_segment)
        return plan

    def new_plan(self) -> Plan:
        language = self.translator.language.tag if self.translator else None
        return Plan(self.show, phonemes={pid: [] for pid in self.show.panelists}, language=language)

    def fill(self, plan: Plan, on_segment: Callable[[int], None] | None = None) -> None:
        """Plan the show into ``plan``, segment by segment (a renderer may follow)."""
        try:
            asyncio.run(self._plan(plan, on_segment))
        except BaseException as err:
            plan.advance(plan.ready_until, finished=True, error=err)
            raise
        plan.advance(plan.duration, finished=True)

    async def _plan(self, plan: Plan, on_segment) -> None:
        started = time.perf_counter()
        for thinker in self.thinkers.values():
            thinker.warm()  # each persona's prompt, evaluated (or loaded) before its first answer is timed
        clock = ShowClock(LEAD_IN)  # moved only as speech is placed: thinking takes no time on it
        panel = Panel(clock)  # the live stage's order and gaps
        for index, segment in enumerate(self.show.segments):
            start = 0.0 if index == 0 else clock.now()
            if segment.kind == "line":
                turn = Turn(index, segment.by, self.cards[segment.by].name, "line")
                said = await self._speak(plan, turn, [Clause(segment.line, (), "scripted")], clock.now())
                await clock.sleep_until(said)
            else:
                kind = "question" if segment.kind == "ask" else "moderator"
                question, asked = await self._moderator(plan, index, segment, kind, clock.now())
                await clock.sleep_until(asked)
                if segment.kind == "ask":

                    async def answer(pid: str, index=index, segment=segment, question=question) -> float:
                        return await self._answer(plan, index, segment, pid, question, clock.now())

                    await panel.in_turn(self.show.addressed(segment), answer, asked_at=asked)
            await clock.sleep_until(clock.now() + AFTER_SEGMENT)
            plan.segments.append(SegmentTiming(index, segment.kind, segment.summary, segment.slot, start, clock.now()))
            plan.advance(clock.now())
            if on_segment:
                on_segment(index)
        plan.thinking_seconds = time.perf_counter() - started

    async def _moderator(self, plan: Plan, index: int, segment: Segment, kind: str, clock: float) -> tuple[str, float]:
        """The moderator's words, voiced or from their WAV: (the words, the clock after them)."""
        turn = Turn(index, MODERATOR, self.show.moderator.name, kind)
        if segment.wav is None:
            return segment.text, await self._speak(plan, turn, [Clause(segment.text, (), "scripted")], clock)
        path = self.show.wav_path(segment)
        try:
            audio = read_wav(path)
        except Exception as err:  # noqa: BLE001 - PyAV's errors vary by what is wrong with the file
            raise ShowError(f"{path}: cannot read the moderator's audio: {err}") from None
        words = transcribe(audio, self.config.listen.model, self.config.listen.language).text
        if not words:
            raise ShowError(f"{path}: no words were heard in the moderator's audio")
        chunk = AudioChunk((np.clip(audio, -1, 1) * 32767).astype(np.int16), LISTEN_RATE, clock)
        turn.text, turn.start, turn.end = words, clock, chunk.end
        plan.mixer.add(chunk)
        await self._caption(plan, [Caption(turn.name, words, clock, chunk.end)])
        plan.turns.append(turn)
        plan.advance(chunk.end)
        return words, chunk.end

    async def _answer(self, plan: Plan, index: int, segment: Segment, pid: str, question: str, clock: float) -> float:
        card = self.cards[pid]
        turn = Turn(index, pid, card.name, "answer")
        if segment.answer is not None:
            turn.outcome = "scripted"
            return await self._speak(plan, turn, [Clause(segment.answer, (), "scripted")], clock)
        started = time.perf_counter()
        clauses: list[Clause] = []
        voiced: list[Voiced] = []
        async for event in voice_answer(
            self.thinkers[pid].answer(question),
            self.voices[pid],
            Timeline(clock),
            speaker=card.name,
            limit=card.max_answer_seconds,
        ):
            if isinstance(event, Voiced):
                if turn.first_audio_ms is None:
                    turn.first_audio_ms = round((time.perf_counter() - started) * 1000, 1)
                voiced.append(event)
            elif isinstance(event, Clause):
                clauses.append(event)
            elif isinstance(event, GuardrailDecision) and event.action != "allow":
                turn.guardrails.append(asdict(event))
            elif isinstance(event, AnswerEnd):
                turn.outcome = event.outcome
                if event.outcome != "cut at the time limit":  # what is said so far stands, with its sources
                    turn.sources, turn.titles = list(event.sources), list(event.titles)
        return await self._speak(plan, turn, clauses, clock, voiced)

    async def _speak(
        self, plan: Plan, turn: Turn, clauses: list[Clause], clock: float, voiced: list[Voiced] | None = None
    ) -> float:
        """Put a turn's clauses on the plan from ``clock`` (voicing them unless
        ``voiced`` already did); the clock after them."""
        if voiced is None:
            timeline = Timeline(clock)
            voiced = [v for c in clauses for v in voice_now(c, self.voices[turn.speaker], timeline, turn.name)]
        turn.start = clock
        for piece in voiced:
            plan.mixer.add(piece.placed.speech.audio)
            if turn.speaker != MODERATOR:
                plan.phonemes[turn.speaker] += piece.placed.speech.phonemes
            clock = piece.placed.end
        await self._caption(plan, [piece.placed.caption for piece in voiced])
        turn.end = clock
        turn.text = " ".join(c.text for c in clauses)
        if not turn.sources:
            turn.sources = list(dict.fromkeys(s for c in clauses for s in c.sources))
        turn.cited = cited(clauses)
        plan.turns.append(turn)
        plan.advance(clock)
        return clock

    async def _caption(self, plan: Plan, said: list[Caption]) -> None:
        """A turn's captions as subtitles running on across its pieces, the
        first naming who speaks; and the same in the second language, each
        piece translated (a piece the model fails on has no second line)."""
        plan.captions += held(cues(said))
        if self.translator is None:
            return
        translated = []
        for caption in said:
            try:
                done = await self.translator.translate(caption.text)
            except TranslationError as err:
                log.warning("no translation for %r: %s", caption.text[:40], err)
                continue
            translated.append(replace(caption, text=done.text))
        plan.translated += held(cues(translated, chinese=self.translator.language.chinese))


def _quietly(fill, plan: Plan, on_segment) -> None:
    """The planner's thread: its error reaches the renderer through the plan."""
    try:
        fill(plan, on_segment)
    except BaseException:  # noqa: BLE001 - raised again by plan.wait_beyond
        pass


def check_folder(folder: Path) -> Path:
    """The output folder, made if need be; fail early if it cannot be written."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder}: not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".fireside-probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise OutputError(f"{folder}: cannot write there ({err.strerror})") from None
    return folder


# -- the whole job -------------------------------------------------------------------
@dataclass
class Outputs:
    plan: Plan
    folder: Path
    files: list[Path]
    report: dict
    seconds: float  # wall time, planning and rendering


def rehearse(
    show: Show,
    cards: dict[str, PersonaCard],
    config: FiresideConfig,
    folder: Path,
    backend: str | None = None,
    video: bool = True,
    on_segment: Callable[[int], None] | None = None,
    on_frames: Callable[[int, int], None] | None = None,
    both: bool = False,
) -> Outputs:
    """Plan the show, render it, and write the video, captions and report into
    ``folder``; ``both``: the video shows the captions' translation too."""
    started = time.perf_counter()
    folder = check_folder(folder)
    rehearsal = Rehearsal(show, cards, config, backend)
    plan = rehearsal.new_plan()
    files = []
    if video:  # the planner runs ahead on a thread; the renderer follows it here
        planner = threading.Thread(target=_quietly, args=(rehearsal.fill, plan, on_segment), name="rehearsal-planner")
        planner.start()
        try:
            render_video(plan, folder / "rehearsal.mp4", cards, config.avatar.fps, on_frames=on_frames, both=both)
        finally:
            planner.join()
        files.append(folder / "rehearsal.mp4")
    else:
        rehearsal.fill(plan, on_segment)
    files += write_captions(plan, folder)
    seconds = time.perf_counter() - started
    data = report(plan, seconds if video else None)
    files += write_report(data, folder)
    return Outputs(plan, folder, files, data, seconds)
