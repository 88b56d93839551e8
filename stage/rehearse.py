"""Rehearsal: a run-of-show rendered without a microphone (``fireside rehearse``).

Two passes that run side by side. The planner goes through the segments
in order: the moderator's lines are voiced (or read from WAV and
transcribed), questions are answered by the personas' thinkers exactly as
on stage (guardrails, sources, time limits), and every piece of speech is
placed on one show clock. The renderer follows it, drawing the stage
composite for every frame whose speech is settled, while an encoder thread
writes the MP4; then the captions and the report are written.

The show clock is the rehearsal's own, not the computer's: an answer starts
``RESPONSE_GAP`` after its question whatever the thinking took (that time is
reported, not shown). Piper's timings are steady, the model is greedy, and a
line said before is said the same way again (espeak-ng's timing drifts by a
few milliseconds with its history), so the same show gives the same words
at the same times on every run.
"""

from __future__ import annotations

import asyncio
import math
import os
import queue
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from avatar.composite import StageCompositor
from avatar.render import Renderer
from avatar.rigs import load_rig
from avatar.visemes import MouthCurve
from stage.asr import transcribe
from stage.audio_in import RATE as LISTEN_RATE
from stage.audio_in import Resampler, read_wav
from stage.config import FiresideConfig
from stage.events import AnswerEnd, AudioChunk, Caption, Clause, Frame, GuardrailDecision, PhonemeSpan
from stage.persona import PersonaCard
from stage.recording import Mp4Writer
from stage.say import OutputError
from stage.show import Segment, Show, ShowError
from stage.think import Thinker, thinker_for
from stage.timeline import Placed, Timeline
from voices.catalog import VoiceCatalog
from voices.speech import SpeechEngine, remembered

LEAD_IN = 0.5  # seconds of the stage before the first words
RESPONSE_GAP = 0.6  # from a question to its answer (a live call's is about this)
BETWEEN_SPEAKERS = 0.5  # one panelist's answer to the next's
AFTER_SEGMENT = 0.8  # the pause that closes a segment
CAPTION_WORDS = 14  # a longer piece of speech is captioned in parts
AUDIO_RATE = 48000
MODERATOR = "moderator"


@dataclass
class Turn:
    """One person speaking once: a moderator's line, a question, an answer."""

    segment: int
    speaker: str  # a panelist's id, or "moderator"
    name: str
    kind: str  # "moderator" | "question" | "answer" | "line"
    text: str = ""
    start: float = 0.0
    end: float = 0.0
    sources: list[str] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)  # the sources as a person reads them
    # what was said, sentence by sentence, with the titles of the sources each came from
    cited: list[dict] = field(default_factory=list)
    guardrails: list[dict] = field(default_factory=list)  # every decision other than allow
    outcome: str = "spoken"  # answers: answered | approved | held | trimmed | cut at the time limit
    first_audio_ms: float | None = None  # answers: thinking and voicing before the first words

    @property
    def speaking(self) -> float:
        return self.end - self.start


@dataclass
class SegmentTiming:
    index: int
    kind: str
    summary: str
    slot: float
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def overrun(self) -> float:
        return self.duration - self.slot


@dataclass
class Plan:
    """The whole show on its clock: who says what, when, with what audio.

    It is filled in show order by the planner while the renderer reads it:
    everything before ``ready_until`` is settled."""

    show: Show
    turns: list[Turn] = field(default_factory=list)
    segments: list[SegmentTiming] = field(default_factory=list)
    captions: list[Caption] = field(default_factory=list)
    phonemes: dict[str, list[PhonemeSpan]] = field(default_factory=dict)  # by panelist
    thinking_seconds: float = 0.0  # wall time of the planning pass
    ready_until: float = 0.0
    finished: bool = False
    error: BaseException | None = None
    _mix: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    _changed: threading.Condition = field(default_factory=threading.Condition)

    @property
    def duration(self) -> float:
        return self.segments[-1].end if self.segments else 0.0

    def speaker_at(self, t: float) -> str | None:
        return next((turn.speaker for turn in self.turns if turn.start <= t < turn.end), None)

    def caption_at(self, t: float) -> Caption | None:
        return next((c for c in self.captions if c.start <= t < c.end), None)

    # -- written by the planner ---------------------------------------------------
    def add_audio(self, chunk: AudioChunk) -> None:
        """Mix a voice in at its place on the show clock (48 kHz)."""
        resample = Resampler(chunk.sample_rate, target=AUDIO_RATE)
        pcm = np.concatenate([resample(chunk.pcm.astype(np.float32) / 32768), resample.flush()])
        start = round(chunk.pts * AUDIO_RATE)
        with self._changed:
            if len(self._mix) < start + len(pcm):
                self._mix = np.concatenate([self._mix, np.zeros(start + len(pcm) - len(self._mix), np.float32)])
            self._mix[start:start + len(pcm)] += pcm

    def advance(self, t: float, finished: bool = False, error: BaseException | None = None) -> None:
        with self._changed:
            self.ready_until, self.finished, self.error = max(self.ready_until, t), finished, error
            self._changed.notify_all()

    # -- read by the renderer -------------------------------------------------------
    def wait_beyond(self, t: float) -> None:
        """Until the plan is settled past ``t``, or finished."""
        with self._changed:
            self._changed.wait_for(lambda: self.finished or self.ready_until > t)
        if self.error is not None:
            raise self.error

    def audio(self, start: int, stop: int) -> np.ndarray:
        """Samples ``start`` to ``stop`` (48 kHz) of the mix, as int16."""
        with self._changed:
            part = self._mix[start:stop]
        part = np.pad(part, (0, stop - start - len(part)))
        return (np.clip(part, -1, 1) * 32767).astype(np.int16)


class Rehearsal:
    """A show with its cast: the panelists' thinkers and voices, and the moderator's voice."""

    def __init__(self, show: Show, cards: dict[str, PersonaCard], config: FiresideConfig,
                 backend: str | None = None):
        self.show, self.config = show, config
        if show.event:
            config = config.model_copy(update={"personas": config.personas.model_copy(update={"event": show.event})})
        catalog = VoiceCatalog(config.voices.catalog)
        self.cards = {pid: cards[pid] for pid in show.panelists}
        self.thinkers: dict[str, Thinker] = {pid: thinker_for(card, config, backend) for pid, card in self.cards.items()}
        self.voices: dict[str, SpeechEngine] = {pid: catalog.engine(card.voice) for pid, card in self.cards.items()}
        self.voices[MODERATOR] = catalog.engine(show.moderator.voice)

    # -- the first pass: words and speech on the show clock ----------------------
    def plan(self, on_segment: Callable[[int], None] | None = None) -> Plan:
        """The whole plan, made now."""
        plan = self.new_plan()
        self.fill(plan, on_segment)
        return plan

    def new_plan(self) -> Plan:
        return Plan(self.show, phonemes={pid: [] for pid in self.show.panelists})

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
        clock = LEAD_IN
        for index, segment in enumerate(self.show.segments):
            start = 0.0 if index == 0 else clock
            if segment.kind == "line":
                clock = self._speak(plan, Turn(index, segment.by, self.cards[segment.by].name, "line"),
                                    [Clause(segment.line, (), "scripted")], clock)
            else:
                kind = "question" if segment.kind == "ask" else "moderator"
                question, clock = self._moderator(plan, index, segment, kind, clock)
                if segment.kind == "ask":
                    for n, pid in enumerate(self.show.addressed(segment)):
                        clock += RESPONSE_GAP if n == 0 else BETWEEN_SPEAKERS
                        clock = await self._answer(plan, index, segment, pid, question, clock)
            clock += AFTER_SEGMENT
            plan.segments.append(SegmentTiming(index, segment.kind, _summary(segment, self.show), segment.slot,
                                               start, clock))
            plan.advance(clock)
            if on_segment:
                on_segment(index)
        plan.thinking_seconds = time.perf_counter() - started

    def _moderator(self, plan: Plan, index: int, segment: Segment, kind: str, clock: float) -> tuple[str, float]:
        """The moderator's words, voiced or from their WAV: (the words, the clock after them)."""
        turn = Turn(index, MODERATOR, self.show.moderator.name, kind)
        if segment.wav is None:
            return segment.text, self._speak(plan, turn, [Clause(segment.text, (), "scripted")], clock)
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
        plan.add_audio(chunk)
        plan.captions += _cues(Caption(turn.name, words, clock, chunk.end))
        plan.turns.append(turn)
        plan.advance(chunk.end)
        return words, chunk.end

    async def _answer(self, plan: Plan, index: int, segment: Segment, pid: str, question: str, clock: float) -> float:
        card = self.cards[pid]
        turn = Turn(index, pid, card.name, "answer")
        if segment.answer is not None:
            turn.outcome = "scripted"
            return self._speak(plan, turn, [Clause(segment.answer, (), "scripted")], clock)
        started = time.perf_counter()
        timeline = Timeline(clock)
        timeline.begin(card.max_answer_seconds)
        clauses: list[Clause] = []
        voiced: list[list[Placed]] = []
        async for event in self.thinkers[pid].answer(question):
            if isinstance(event, GuardrailDecision) and event.action != "allow":
                turn.guardrails.append(asdict(event))
            elif isinstance(event, Clause):
                pieces = [timeline.place(p, card.name, event.sources) for p in remembered(self.voices[pid], event.text)]
                if turn.first_audio_ms is None:
                    turn.first_audio_ms = round((time.perf_counter() - started) * 1000, 1)
                clauses.append(event)
                voiced.append(pieces)
                if timeline.over_limit:
                    turn.outcome = "cut at the time limit"
                    break  # the persona's time is up: what is said so far stands
            elif isinstance(event, AnswerEnd):
                turn.outcome = event.outcome
                turn.sources, turn.titles = list(event.sources), list(event.titles)
        return self._speak(plan, turn, clauses, clock, voiced)

    def _speak(self, plan: Plan, turn: Turn, clauses: list[Clause], clock: float,
               voiced: list[list[Placed]] | None = None) -> float:
        """Put a turn's clauses on the plan from ``clock`` (voicing them unless
        ``voiced`` already did); the clock after them."""
        if voiced is None:
            timeline, voice = Timeline(clock), self.voices[turn.speaker]
            voiced = [[timeline.place(p, turn.name, c.sources) for p in remembered(voice, c.text)] for c in clauses]
        turn.start = clock
        for pieces in voiced:
            for piece in pieces:
                plan.add_audio(piece.speech.audio)
                if turn.speaker != MODERATOR:
                    plan.phonemes[turn.speaker] += piece.speech.phonemes
                plan.captions += _cues(piece.caption)
                clock = piece.end
        turn.end = clock
        turn.text = " ".join(c.text for c in clauses)
        if not turn.sources:
            turn.sources = list(dict.fromkeys(s for c in clauses for s in c.sources))
        for clause in clauses:  # the clauses of one source's sentence read as one line
            if turn.cited and turn.cited[-1]["titles"] == list(clause.titles) and clause.titles:
                turn.cited[-1]["text"] += " " + clause.text
            elif clause.titles:
                turn.cited.append({"text": clause.text, "titles": list(clause.titles)})
        plan.turns.append(turn)
        plan.advance(clock)
        return clock


def _quietly(fill, plan: Plan, on_segment) -> None:
    """The planner's thread: its error reaches the renderer through the plan."""
    try:
        fill(plan, on_segment)
    except BaseException:  # noqa: BLE001 - raised again by plan.wait_beyond
        pass


def _cues(caption: Caption) -> list[Caption]:
    """A caption as cues of at most CAPTION_WORDS words, each timed by its share of the words."""
    words = caption.text.split()
    parts = max(1, math.ceil(len(words) / CAPTION_WORDS))
    size = math.ceil(len(words) / parts)
    chunks = [words[i:i + size] for i in range(0, len(words), size)]
    cues, t = [], caption.start
    for chunk in chunks:
        share = (caption.end - caption.start) * len(chunk) / len(words)
        cues.append(replace(caption, text=" ".join(chunk), start=t, end=t + share))
        t += share
    return cues


def _summary(segment: Segment, show: Show) -> str:
    if segment.kind == "line":
        return f"{segment.by}: {segment.line}"
    words = segment.text or f"(recorded: {Path(segment.wav).name})"
    return f"to {segment.to}: {words}" if segment.kind == "ask" else f"moderator: {words}"


# -- the second pass: the stage video -------------------------------------------
def render_video(plan: Plan, out: Path, cards: dict[str, PersonaCard], fps: int = 25,
                 size: tuple[int, int] = (1280, 720), on_frames: Callable[[int, int | None], None] | None = None) -> int:
    """Draw the stage composite into ``out`` (MP4) as the plan settles; the frame count."""
    show = plan.show
    compositor = StageCompositor(show.title, [(cards[p].name, cards[p].title) for p in show.panelists], *size,
                                 moderator=show.moderator.name)
    renderers = {pid: Renderer(load_rig(cards[pid].avatar, compositor.tile), fps=fps, seed=seat + 1)
                 for seat, pid in enumerate(show.panelists)}
    known = dict.fromkeys(show.panelists, 0)  # phonemes already handed to each renderer
    seats = {pid: i for i, pid in enumerate(show.panelists)}
    part = out.with_name(f".{out.name}.part")
    n, count = 0, None
    try:
        with _Encoder(Mp4Writer(part, size, fps, AUDIO_RATE, preset="veryfast")) as encoder:
            while count is None or n < count:
                # frames whose mouths are settled: a frame looks a little ahead of its time
                plan.wait_beyond(n / fps + MouthCurve.AHEAD + 0.5)
                if plan.finished:
                    count = math.ceil(plan.duration * fps - 1e-9)
                for pid, renderer in renderers.items():
                    renderer.add_speech(plan.phonemes[pid][known[pid]:])
                    known[pid] = len(plan.phonemes[pid])
                last = count if plan.finished else math.floor((plan.ready_until - MouthCurve.AHEAD) * fps) - 1
                while n < last:
                    t = n / fps
                    caption = plan.caption_at(t)
                    rgb = compositor.compose([r.frame(n).rgb for r in renderers.values()],
                                             seats.get(plan.speaker_at(t)),
                                             (caption.speaker, caption.text) if caption else None)
                    encoder.frame(Frame(rgb, t))
                    n += 1
                    if n % fps == 0 or n == count:  # a second of sound at a time, beside its frames
                        encoder.audio(plan, round(n * AUDIO_RATE / fps))
                    if on_frames:
                        on_frames(n, count)
        os.replace(part, out)
    finally:
        part.unlink(missing_ok=True)
    return n


class _Encoder:
    """Encodes and writes on a thread of its own (x264 works without the
    GIL), so the next frame is drawn while this one is encoded."""

    def __init__(self, writer: Mp4Writer):
        self.writer = writer
        self._queue: queue.Queue = queue.Queue(maxsize=8)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="rehearsal-encoder", daemon=True)
        self._thread.start()

    def frame(self, frame: Frame) -> None:
        self._put(("frame", frame))

    def audio(self, plan: Plan, until: int) -> None:
        self._put(("audio", plan, until))

    def _put(self, item) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(item)

    def _run(self) -> None:
        try:
            while (item := self._queue.get()) is not None:
                if self._error is not None:
                    continue  # drain: the renderer learns of the error at its next put
                if item[0] == "frame":
                    self.writer.write_frame(item[1])
                else:
                    _, plan, until = item
                    start = self.writer.samples_written
                    self.writer.write_audio(AudioChunk(plan.audio(start, until), AUDIO_RATE, start / AUDIO_RATE))
        except BaseException as err:  # noqa: BLE001 - handed to the renderer
            self._error = err
            while self._queue.get() is not None:
                pass

    def __enter__(self) -> "_Encoder":
        return self

    def __exit__(self, *exc) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is None:
            self.writer.close()
        if self._error is not None and exc[0] is None:
            raise self._error


# -- captions and the report ------------------------------------------------------
def write_captions(plan: Plan, folder: Path) -> tuple[Path, Path]:
    import pysubs2

    subs = pysubs2.SSAFile()
    for cue in plan.captions:
        subs.append(pysubs2.SSAEvent(start=round(cue.start * 1000), end=round(cue.end * 1000),
                                     text=f"{cue.speaker}: {cue.text}"))
    srt, vtt = folder / "captions.srt", folder / "captions.vtt"
    subs.save(str(srt), format_="srt")
    subs.save(str(vtt), format_="vtt")
    return srt, vtt


def report(plan: Plan, rendered_seconds: float | None = None) -> dict:
    """Per turn: the words, sources, guardrail decisions, time to first
    audio, speaking time; per segment: the slot and the overrun; a summary."""
    show = plan.show
    answers = [t for t in plan.turns if t.kind == "answer"]
    firsts = sorted(t.first_audio_ms for t in answers if t.first_audio_ms is not None)
    over = [s for s in plan.segments if s.overrun > 0.5]
    summary = {
        "title": show.title,
        "planned_seconds": round(show.planned, 2),
        "duration_seconds": round(plan.duration, 2),
        "overrun_seconds": round(plan.duration - show.planned, 2),
        "segments": len(plan.segments),
        "segments_over_slot": [s.index for s in over],
        "answers": len(answers),
        "answers_held_or_trimmed": sum(t.outcome in ("held", "trimmed", "cut at the time limit") for t in answers),
        "guardrail_flags": sum(len(t.guardrails) for t in plan.turns),
        "first_audio_ms_p50": firsts[len(firsts) // 2] if firsts else None,
        "thinking_seconds": round(plan.thinking_seconds, 2),
    }
    if rendered_seconds is not None:
        summary["render_seconds"] = round(rendered_seconds, 2)
        summary["real_time_multiple"] = round(plan.duration / rendered_seconds, 2) if rendered_seconds else None
    return {
        "summary": summary,
        "segments": [{**asdict(s), "duration": round(s.duration, 3), "overrun": round(s.overrun, 3),
                      "start": round(s.start, 3), "end": round(s.end, 3)} for s in plan.segments],
        "turns": [{**asdict(t), "start": round(t.start, 3), "end": round(t.end, 3),
                   "speaking_seconds": round(t.speaking, 3)} for t in plan.turns],
    }


def write_report(data: dict, folder: Path) -> tuple[Path, Path]:
    import json

    import jinja2

    path_json, path_html = folder / "report.json", folder / "report.html"
    path_json.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    env = jinja2.Environment(loader=jinja2.PackageLoader("stage", "web"), autoescape=True)
    env.filters["clock"] = clock_text
    path_html.write_text(env.get_template("report.html.j2").render(**data), encoding="utf-8")
    return path_json, path_html


def clock_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    return f"{sign}{int(seconds // 60)}:{seconds % 60:04.1f}"


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


def rehearse(show: Show, cards: dict[str, PersonaCard], config: FiresideConfig, folder: Path,
             backend: str | None = None, video: bool = True,
             on_segment: Callable[[int], None] | None = None,
             on_frames: Callable[[int, int], None] | None = None) -> Outputs:
    """Plan the show, render it, and write the video, captions and report into ``folder``."""
    started = time.perf_counter()
    folder = check_folder(folder)
    rehearsal = Rehearsal(show, cards, config, backend)
    plan = rehearsal.new_plan()
    files = []
    if video:  # the planner runs ahead on a thread; the renderer follows it here
        planner = threading.Thread(target=_quietly, args=(rehearsal.fill, plan, on_segment), name="rehearsal-planner")
        planner.start()
        try:
            render_video(plan, folder / "rehearsal.mp4", cards, config.avatar.fps, on_frames=on_frames)
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
