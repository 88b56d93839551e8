"""A long call (``fireside bench soak --minutes N``): a server in a child
process, one held aiortc caller asking a question every 20 s, and what
drifts or grows meanwhile:

- the audio/video offset at the caller (the mouth opening minus the voice
  heard, as ``bench call`` measures it), in the first and the last minute;
- the server's RSS and open file descriptors, sampled every few seconds
  (a record per minute), and their growth after the warm-up (5 minutes, or a third of a shorter run);
- the video frames the caller never got (gaps in the frames' timestamps),
  per minute.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

import numpy as np

from avatar.rigs.stylized import MOUTH_INSIDE, StylizedRig
from stage.core.config import FiresideConfig
from stage.tools.bench.answers import THINK_QUESTIONS
from stage.tools.bench.common import first_sound, percentile, record, speech48, speech_end, start_server
from stage.tools.call_client import CallClient
from stage.transport.webrtc import restrict_ice
from voices.catalog import VoiceCatalog

log = logging.getLogger("fireside.bench")

EVERY = 20.0  # seconds between questions
SAMPLE = 5.0  # seconds between samples of the server's memory and descriptors
FPS = 25
WARMUP = 300.0  # seconds before memory is compared


def bench_soak(config: FiresideConfig, quick: bool = False, minutes: float | None = None) -> list[dict]:
    """A call held for ``minutes`` (30 by default; 2 with ``quick``)."""
    minutes = minutes or (2.0 if quick else 30.0)
    restrict_ice(["127.0.0.1"])
    server, url = start_server("call:\n  ice_addresses: [127.0.0.1]\n", port=8768)
    try:
        return asyncio.run(_soak(config, url, server, minutes))
    finally:
        server.terminate()
        server.wait(20)


def usage(pid: int) -> tuple[float, int]:
    """A process's resident memory (MB) and open file descriptors."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return rss_kb / 1024, len(os.listdir(f"/proc/{pid}/fd"))


async def _soak(config: FiresideConfig, url: str, server, minutes: float) -> list[dict]:
    engine = VoiceCatalog(config.voices.catalog).engine(config.voices.default)

    questions = [speech48(engine, q) for pid, q in THINK_QUESTIONS if pid == "ada"]
    x0, y0, x1, y1 = StylizedRig.mouth_box_at(config.avatar.size)
    inside = np.array(MOUTH_INSIDE, np.float32)

    client = CallClient(url, "ada")
    await client.connect()
    while not client.frames:  # the call is up when its video comes
        if server.poll() is not None:
            raise RuntimeError("the server died before the call started")
        await asyncio.sleep(0.1)
    started = time.perf_counter()
    samples: list[tuple[float, float, int]] = []  # (seconds in, RSS MB, descriptors)

    async def sample() -> None:
        while server.poll() is None:
            samples.append((time.perf_counter() - started, *usage(server.pid)))
            await asyncio.sleep(SAMPLE)

    sampler = asyncio.create_task(sample())
    turns: list[tuple[float, float | None, float | None]] = []  # (seconds in, voice-to-voice, A/V offset)
    n = 0
    while (due := n * EVERY) < minutes * 60 and server.poll() is None:
        await asyncio.sleep(max(0.0, started + due - time.perf_counter()))
        question = questions[n % len(questions)]
        n += 1
        count = len(client.microphone.ended_at)
        client.microphone.say(question)
        while len(client.microphone.ended_at) == count:
            await asyncio.sleep(0.05)
        end = client.microphone.ended_at[-1] - (len(question) / 48000 - speech_end(question / 32768, 48000))
        client.keep_frames = True  # the frames of the answer's start, to see the mouth open
        heard = await first_sound(client, end, seconds=EVERY - 2)
        if heard is None:
            client.keep_frames = False
            turns.append((end - started, None, None))
            continue
        await asyncio.sleep(1.5)
        client.keep_frames = False
        opened = next(
            (
                t
                for t, _, rgb in client.frames
                if t > heard - 0.5
                and rgb is not None
                and (np.abs(rgb[y0:y1, x0:x1].astype(np.float32) - inside).sum(2) < 60).sum() > 40
            ),
            None,
        )
        client.frames[:] = [(t, pts, None) for t, pts, _ in client.frames]  # the pictures are not kept
        turns.append((end - started, heard - end, None if opened is None else opened - heard))
        log.info("soak: %.0f s in, question %d heard after %.2f s", end - started, n, heard - end)
    sampler.cancel()
    frames = list(client.frames)
    await client.close()
    if server.poll() is not None:
        raise RuntimeError(f"the server died {time.perf_counter() - started:.0f} s into the soak")
    return _figures(minutes, started, turns, samples, frames)


def _figures(minutes, started, turns, samples, frames) -> list[dict]:
    last = minutes * 60 - 60
    first_offsets = [o * 1000 for t, _, o in turns if o is not None and t < 60]
    last_offsets = [o * 1000 for t, _, o in turns if o is not None and t >= last]
    latencies = [v * 1000 for _, v, _ in turns if v is not None]
    # the warm-up: every question asked once and more (first answers load and fill
    # caches; over 30 minutes RSS grew 20% in the first 4, then 1% in 25): 5
    # minutes, or a third of a shorter run
    warmup = min(WARMUP, minutes * 60 / 3)
    warm = [(rss, fds) for t, rss, fds in samples if t >= warmup] or [(rss, fds) for _, rss, fds in samples]
    rss0, fds0 = warm[0]
    rss_end, fds_end = samples[-1][1], samples[-1][2]
    # frames the caller never got: gaps in the timestamps of those it did
    pts = np.array([p for _, p, _ in frames])
    arrived = np.array([t - started for t, _, _ in frames])
    missing = np.maximum(0, np.round(np.diff(pts) * FPS) - 1) if len(pts) > 1 else np.zeros(0)
    minute = (arrived[1:] // 60).astype(int) if len(pts) > 1 else np.zeros(0, int)
    whole_minutes = int(minutes)
    records = [
        record("soak.minutes", minutes, "minutes"),
        record("soak.questions", len(turns), "questions (one every 20 s)"),
        record("soak.answered", len(latencies), "questions answered (voice heard)"),
        record("soak.voice_to_voice.p50", percentile(latencies or [float("nan")], 0.5), "ms"),
        record("soak.av_offset.first_minute", _median(first_offsets), "ms (mouth opens minus voice heard)"),
        record("soak.av_offset.last_minute", _median(last_offsets), "ms"),
        record("soak.av_offset.drift", _median(last_offsets) - _median(first_offsets), "ms (last minute less first)"),
        record("soak.rss.after_warmup", rss0, "MB"),
        record("soak.rss.end", rss_end, "MB"),
        record("soak.rss.growth", 100 * (rss_end - rss0) / rss0, f"% after the warm-up ({warmup:.0f} s)"),
        record("soak.fds.after_warmup", fds0, "descriptors"),
        record("soak.fds.end", fds_end, "descriptors"),
        record("soak.dropped_frames.total", float(missing.sum()), "frames"),
        record("soak.dropped_frames.first_minute", float(missing[minute == 0].sum()), "frames"),
        record("soak.dropped_frames.last_minute", float(missing[minute == max(0, whole_minutes - 1)].sum()), "frames"),
    ]
    for m in range(whole_minutes + 1):  # over time: the last sample in each minute
        at = [(rss, fds) for t, rss, fds in samples if t < (m + 1) * 60 and t >= m * 60]
        if at:
            records += [
                record(f"soak.minute_{m:02d}.rss", at[-1][0], "MB"),
                record(f"soak.minute_{m:02d}.fds", at[-1][1], "descriptors"),
            ]
    return records


def _median(values: list[float]) -> float:
    return float(np.median(values)) if values else float("nan")
