"""The worker threads, owned in one place.

A live server runs many sessions on one event loop; their blocking work
(listening, voicing, drawing frames) goes to a few shared thread pools,
sized from the config (``threads``) for the machine. Nothing else holds a
pool: a session, a stage or a track is handed the runtime it runs on (a
process's ``Cast`` makes it).
"""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

from stage.core.config import ThreadSettings

T = TypeVar("T")


class Runtime:
    """The thread pools: ``listen``, ``partials``, ``speech`` and ``render``."""

    def __init__(self, threads: ThreadSettings | None = None):
        threads = threads or ThreadSettings()
        self.listen = ThreadPoolExecutor(threads.listen, thread_name_prefix="listen")
        self.partials = ThreadPoolExecutor(threads.partials, thread_name_prefix="partial")
        self.speech = ThreadPoolExecutor(threads.speech, thread_name_prefix="speak")
        self.render = ThreadPoolExecutor(threads.render, thread_name_prefix="render")

    async def run(self, pool: ThreadPoolExecutor, work: Callable[..., T], *args) -> T:
        """``work(*args)`` on ``pool``, awaited from the event loop."""
        return await asyncio.get_running_loop().run_in_executor(pool, functools.partial(work, *args))

    def close(self) -> None:
        for pool in (self.listen, self.partials, self.speech, self.render):
            pool.shutdown(wait=False, cancel_futures=True)
