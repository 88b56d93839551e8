"""Captions into a second language, by a model that can (as configured)."""

from __future__ import annotations

import asyncio
import logging

from stage.core.config import TranslationSettings
from stage.core.wire import Message, TranslationMessage
from stage.panel.feed import Feed
from stage.think.llm import connect

log = logging.getLogger("fireside.panel")


class Translator:
    def __init__(self, settings: TranslationSettings):
        self.language, self.seconds = settings.language, settings.seconds
        self.model = connect(
            settings.backend, model=settings.model, api_key_env=settings.api_key_env, stall_seconds=settings.seconds
        )

    async def translate(self, text: str) -> str | None:
        """The translation, or None when the model fails or is too slow (the
        caption stands alone then: a missing line is better than a late one)."""
        messages = [
            {
                "role": "system",
                "content": f"Translate the user's words into {self.language}. Reply with the translation only.",
            },
            {"role": "user", "content": text},
        ]

        async def collect() -> str:
            parts = [delta async for delta in self.model.stream(messages, max_tokens=160, temperature=0.0)]
            return " ".join("".join(parts).split())

        try:
            return await asyncio.wait_for(collect(), self.seconds) or None
        except Exception as err:  # noqa: BLE001 - a model error, a timeout: no second line this time
            log.warning("no translation for %r: %s", text[:40], err)
            return None


class Translations:
    """Second lines for the stage's captions, published as each is ready (with a translator)."""

    def __init__(self, translator: Translator | None, feed: Feed):
        self.translator, self.feed = translator, feed
        self._tasks: set[asyncio.Task] = set()  # translations under way

    def add(self, caption: Message) -> None:
        if self.translator is not None:
            task = asyncio.get_running_loop().create_task(self._translate(caption))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _translate(self, caption: Message) -> None:
        text = await self.translator.translate(caption.text)
        if text:
            self.feed.publish(
                TranslationMessage(
                    of=caption.seq, panelist=caption.panelist, language=self.translator.language, text=text
                )
            )

    def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
