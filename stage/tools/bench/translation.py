"""``fireside bench translate``: captions into Hong Kong Traditional Chinese,
against the references written by hand (``tests/translation_reference.yaml``).

For each bundled model (0.5B, 1.5B), the model untended (a one-line prompt,
no glossary, no script conversion) beside Fireside's translator: chrF
(character n-grams, as sacrebleu computes it), sentences left with English
words, sentences with characters of the wrong script, glossary terms
missed, seconds per caption (p50, p95) and the model's memory. Then the
configured model on a live stage (``prompts/shows/hong-kong.yaml`` served,
a real aiortc viewer): each Chinese line's delay after its English caption,
and the lines dropped as late.
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import time
from pathlib import Path

import aiohttp
import yaml

from stage.core.config import FiresideConfig
from stage.core.paths import PROJECT, PROMPTS, QWEN, SHOWS
from stage.tools.bench.common import percentile, record, start_server
from stage.tools.bench.live import answer_ended
from stage.tools.call_client import StageViewer
from stage.transport.webrtc import restrict_ice

REFERENCES = PROJECT / "tests" / "translation_reference.yaml"
GLOSSARY = PROMPTS / "glossaries" / "hong-kong.yaml"
LANGUAGE = "zh-Hant-HK"


def references(path: Path = REFERENCES) -> list[dict]:
    return yaml.safe_load(path.read_text("utf-8"))


def wrong_script(text: str) -> bool:
    """Has the text a Simplified character where Traditional is written?"""
    from stage.think.translation import simplified

    return bool(simplified(text))


def score(outputs: list[str], refs: list[str]) -> float:
    from sacrebleu.metrics import CHRF

    return CHRF().corpus_score(outputs, [refs]).score


def bench_translate(config: FiresideConfig, quick: bool = False) -> list[dict]:
    from stage.think.translation import Glossary, TranslationError, Translator

    refs = references()[: 16 if quick else None]
    glossary = Glossary.load(GLOSSARY)
    records = []
    for size in QWEN:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        settings = config.translation.model_copy(update={"backend": "embedded", "model": size, "cache": False})
        translator = Translator(settings, LANGUAGE, glossary)
        translator.translate_now("Good evening.")  # loaded, its prompt evaluated
        memory = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        for plain in (True, False):
            outs, seconds, left, missed = [], [], 0, 0
            for ref in refs:
                try:
                    done = translator.translate_now(ref["en"], plain=plain)
                except TranslationError:
                    outs.append("")
                    continue
                outs.append(done.text)
                seconds.append(done.seconds * 1000)
                left += bool(done.english_left)
                missed += len(glossary.missing(ref["en"], done.text))
                print(f"{size} {'plain' if plain else 'fireside'} {done.seconds:4.1f}s {ref['en']}\n    {done.text}")
            kind = f"translate.{size}.{'plain' if plain else 'fireside'}"
            records += [
                record(f"{kind}.chrf", score(outs, [r[LANGUAGE] for r in refs]), f"chrF on {len(refs)} sentences"),
                record(f"{kind}.english_left", left, "sentences with English words left"),
                record(f"{kind}.wrong_script", sum(map(wrong_script, outs)), "sentences with Simplified characters"),
                record(f"{kind}.glossary_missed", missed, "glossary terms missing"),
                record(f"{kind}.p50", percentile(seconds, 0.5), "ms per caption, alone"),
                record(f"{kind}.p95", percentile(seconds, 0.95), "ms"),
            ]
        records.append(record(f"translate.{size}.memory", memory, "MB (peak resident, the model loaded)"))
    records.append(
        record("translate.mean_words", statistics.mean(len(r["en"].split()) for r in refs), "words a caption")
    )
    rounds = 2 if quick else 6
    return records + on_stage(config, rounds, warmed=False) + on_stage(config, rounds, warmed=True)


STAGE_QUESTIONS = [  # asked of the Hong Kong show's panelists, from their knowledge
    ("ada", "When did FPS launch?"),
    ("mei", "What is a tokenised deposit?"),
    ("ada", "Why are cross-border payments slow?"),
    ("mei", "What is a stablecoin?"),
    ("ada", "What is the e-HKD?"),
    ("mei", "What is settlement finality?"),
]
TOKEN = "bench-token-0000"


def on_stage(config: FiresideConfig, rounds: int, warmed: bool) -> list[dict]:
    """The stage's Chinese lines while the panel runs: each one's delay after
    its English caption. Cold: nothing cached, every line translated on the
    day. Warmed: what the panelists may say translated ahead first (kept in
    the translation cache, so only a first run waits for it)."""
    restrict_ice(["127.0.0.1"])
    settings = config.translation
    server, url = start_server(
        f"panel:\n  token: {TOKEN}\n  folder: FOLDER/panel\ncall:\n  ice_addresses: [127.0.0.1]\n"
        f"translation:\n  model: {settings.model}\n  threads: {settings.threads}\n  seconds: {settings.seconds}\n"
        f"  cache: {str(warmed).lower()}\n  warm: {str(warmed).lower()}\n",
        "--show",
        str(SHOWS / "hong-kong.yaml"),
        port=8767,
    )
    try:
        delays, dropped = asyncio.run(_lines_on_stage(url, rounds, settings.seconds, warmed))
    finally:
        server.terminate()
        server.wait(20)
    name = f"translate.stage.{settings.model}.{'warmed' if warmed else 'cold'}"
    return [
        record(f"{name}.p50", percentile(delays, 0.5) * 1000 if delays else -1, "ms (Chinese line after its caption)"),
        record(f"{name}.p95", percentile(delays, 0.95) * 1000 if delays else -1, "ms"),
        record(f"{name}.lines", len(delays), "lines shown"),
        record(f"{name}.dropped", dropped, f"lines dropped (not ready {settings.seconds:g} s after their caption)"),
    ]


async def _warmed(http: aiohttp.ClientSession, url: str) -> None:
    """Wait while the stage translates ahead, a line of progress a minute."""
    said = 0.0
    while True:
        async with http.get(f"{url}/stage/panel") as response:
            left = (await response.json())["translated"]["unwarmed"]
        if not left:
            return
        if time.monotonic() - said > 60:
            print(f"translating ahead: {left} clauses to go", flush=True)
            said = time.monotonic()
        await asyncio.sleep(5)


async def _lines_on_stage(url: str, rounds: int, seconds: float, warmed: bool) -> tuple[list[float], int]:
    viewer = StageViewer(url, 2)
    await viewer.connect()
    await asyncio.sleep(2.0)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        if warmed:
            await _warmed(http, url)
        for pid, question in STAGE_QUESTIONS[:rounds]:
            asked = time.perf_counter()
            async with http.post(f"{url}/console/ask", json={"text": question, "to": pid}) as response:
                await response.read()
            await answer_ended(viewer, asked, 120)
            await asyncio.sleep(seconds + 1.0)  # the last lines, or their deadline
        await viewer.close()
        async with http.get(f"{url}/stage/panel") as response:
            dropped = (await response.json())["translated"]["dropped"]
    shown = {m["seq"]: t for t, m in viewer.messages if m.get("type") == "caption"}
    delays = [t - shown[m["of"]] for t, m in viewer.messages if m.get("type") == "translation"]
    return delays, dropped
