"""Captions' second line, in another language: the stage's (the show's
translation) and a call's (the language its caller chose).

A clause is translated as soon as it is thought, while it is still being
voiced: by the time its words are heard, its translation is often ready.
A clause may be heard as several captions (a voice says a long sentence in
pieces); its line is published once its last piece's caption has been
shown, never before, and in the captions' order. One translation runs at a
time, in order, on the translator's low-priority model; a line not ready
``seconds`` after its caption is dropped (the English stands alone), and a
line whose answer was stopped is never translated. Each line's delay after
its caption is kept for the figures (``latencies``, ``dropped``).

With nothing to say, the translator works through what may be said (the
panelists' knowledge, approved answers and holding lines: ``warm``), each
kept on disk (``translation.cache``), so those lines are ready at once.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Callable

from stage.core.clock import Clock
from stage.core.wire import CaptionMessage, Message, TranslationMessage
from stage.think.translation import TranslationError, Translator

log = logging.getLogger("fireside.translation")


@dataclass(eq=False)
class _Line:
    text: str
    done: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    shown: float | None = None  # when its (last piece's) caption was shown (the stage's clock)
    wanted: bool = True  # False: its answer was stopped before its words were heard
    unheard: str = ""  # what of it no caption has shown yet
    since: int | None = None  # its first piece's caption (seq)

    def __post_init__(self) -> None:
        self.text = " ".join(self.text.split())
        self.unheard = self.text

    def hear(self, words: str) -> bool:
        """A caption of (a piece of) it was shown: is it all heard now?"""
        self.unheard = self.unheard[self.unheard.index(words) + len(words) :].strip()
        return not any(c.isalnum() for c in self.unheard)


class Translations:
    """Second lines for captions (none without a translator), each ``publish``-ed after its caption."""

    def __init__(
        self, translator: Translator | None, publish: Callable[[Message], object], clock: Clock, seconds: float = 6.0
    ):
        self.translator, self.publish, self.clock, self.seconds = translator, publish, clock, seconds
        self.latencies: list[float] = []  # seconds from each caption to its line
        self.dropped = 0  # lines later than ``seconds``, or failed
        self.warmed = 0  # what may be said, translated ahead so far
        self._queue: asyncio.Queue[_Line] = asyncio.Queue()
        self._waiting: list[_Line] = []  # prepared, their captions not yet shown
        self._ahead: list[str] = []  # what may be said, translated when there is nothing else (``warm``)
        self._worker: asyncio.Task | None = None
        self._published: asyncio.Task | None = None  # the last line's publishing: lines go out in order

    @property
    def language(self) -> str | None:
        return self.translator.language.tag if self.translator else None

    @property
    def unwarmed(self) -> int:
        """How many of what may be said are still to translate ahead."""
        return len(self._ahead)

    def warm(self, texts: list[str]) -> None:
        """Translate these, each when nothing else waits (into the translator's
        cache, where it keeps one): what the panelists may say."""
        if self.translator is not None:
            self._ahead = list(dict.fromkeys(" ".join(t.split()) for t in texts))[::-1]

    def start(self) -> None:
        """Begin work now (warming), not at the first caption; in the event loop."""
        if self.translator is not None and self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work())

    def prepare(self, text: str) -> None:
        """Start translating what is about to be said."""
        if self.translator is not None:
            self._waiting.append(self._enqueue(text))

    def add(self, caption: Message) -> None:
        """A caption was shown: its clause's line follows when ready, once the
        clause is all heard (prepared, or translated now)."""
        if self.translator is None or not isinstance(caption, CaptionMessage):
            return
        words = " ".join(caption.text.split())
        line = next((w for w in self._waiting if words in w.unheard), None)
        if line is None:  # not thought as a clause (the moderator's words): translated now
            line = self._enqueue(words)
        if line.since is None:
            line.since = caption.seq
        if line in self._waiting:
            if not line.hear(words):
                return  # its line comes with its last piece
            self._waiting.remove(line)
        line.shown = self.clock.now()
        self._published = asyncio.get_running_loop().create_task(self._publish(caption, line, self._published))

    def forget(self) -> None:
        """The answer was stopped: what it had still to say is not translated."""
        for line in self._waiting:
            line.wanted = False
        self._waiting = []

    def _enqueue(self, text: str) -> _Line:
        self.start()
        line = _Line(text)
        self._queue.put_nowait(line)
        return line

    async def _work(self) -> None:
        while True:
            line = await self._next()
            late = line.shown is not None and self.clock.now() > line.shown + self.seconds
            if not line.wanted or late:
                line.done.set_result(None)
                continue
            try:
                translation = await self.translator.translate(line.text)
            except TranslationError as err:
                log.warning("no translation for %r: %s", line.text[:40], err)
                translation = None
            if not line.done.done():
                line.done.set_result(translation)

    async def _next(self) -> _Line:
        """The next line to translate; until one comes, what may be said, one
        at a time. A line that comes stops the translation ahead (the model is
        the line's at once), which is tried again later."""
        while self._ahead and self._queue.empty():
            text = self._ahead.pop()
            ahead = asyncio.ensure_future(self.translator.translate(text))
            coming = asyncio.ensure_future(self._queue.get())
            await asyncio.wait({ahead, coming}, return_when=asyncio.FIRST_COMPLETED)
            if not ahead.done():
                ahead.cancel()
                self._ahead.append(text)
            elif (err := ahead.exception()) is None:
                self.warmed += 1
            elif isinstance(err, TranslationError):
                log.debug("not translated ahead: %s", err)
            else:
                raise err
            if coming.done():
                return coming.result()
            coming.cancel()
        return await self._queue.get()

    async def _publish(self, caption: CaptionMessage, line: _Line, before: asyncio.Task | None) -> None:
        if before is not None:
            await asyncio.wait([before])  # the lines before this one first
        left = line.shown + self.seconds - self.clock.now()
        try:
            translation = await asyncio.wait_for(asyncio.shield(line.done), max(0.0, left))
        except asyncio.TimeoutError:
            translation, line.wanted = None, False  # not translated now, if not started
        if translation is None:
            self.dropped += 1
            log.info("a %s line was dropped: not ready %.0f s after its caption", self.language, self.seconds)
            return
        self.latencies.append(self.clock.now() - line.shown)
        self.publish(
            TranslationMessage(
                of=caption.seq,
                since=line.since,
                answer=caption.answer,
                panelist=caption.panelist,
                language=self.language,
                text=translation.text,
            )
        )

    def close(self) -> None:
        for task in (self._worker, self._published):
            if task is not None:
                task.cancel()
