"""What every benchmark shares: records, percentiles, a server in a child process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def record(name: str, value: float, unit: str) -> dict:
    return {"name": name, "value": round(float(value), 4), "unit": unit}


def failure(name: str, reason: BaseException | str, required: bool = False) -> dict:
    """A figure that could not be measured: a record with no value, and why.
    ``required``: without it the bench has failed (``fireside bench`` exits 1)."""
    why = str(reason) or type(reason).__name__
    return {"name": name, "value": None, "unit": "failed", "error": why.splitlines()[0][:300], "required": required}


def speech_end(audio: np.ndarray, rate: int) -> float:
    """Where the sound of ``audio`` ends (s): its last 10 ms above the room's hum."""
    frame = rate // 100
    loud = [i for i in range(0, len(audio) - frame, frame) if np.abs(audio[i : i + frame]).max() > 0.02]
    return (loud[-1] + frame) / rate if loud else 0.0


def speech48(engine, text: str) -> np.ndarray:
    """``text`` said by ``engine``, as a caller's microphone sends it: int16 mono at 48 kHz."""
    from stage.core.audio import Resampler

    pcm = np.concatenate([p.audio.pcm for p in engine.synthesize(text)])
    resample = Resampler(engine.sample_rate, target=48000)
    return (np.concatenate([resample(pcm), resample.flush()]) * 32767).astype(np.int16)


def speech16(engine, text: str) -> np.ndarray:
    """``text`` said by ``engine``, as the listener hears it: float32 mono at 16 kHz."""
    from stage.core.audio import to_16k_mono

    pcm = np.concatenate([p.audio.pcm for p in engine.synthesize(text)]).astype(np.float32) / 32768
    return to_16k_mono(pcm, engine.sample_rate)


def one_core() -> None:
    cv2.setNumThreads(1)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


async def first_sound(client, moment: float, seconds: float = 20.0) -> float | None:
    """When a caller (or stage viewer) first heard sound after ``moment`` (arrival
    time, as it recorded it), waiting up to ``seconds``; None if nothing came."""
    deadline = moment + seconds
    while client.first_sound_after(moment) is None and time.perf_counter() < deadline:
        await asyncio.sleep(0.02)
    return client.first_sound_after(moment)


def start_server(config_text: str, *serve_args: str, port: int = 8765):
    """``fireside serve`` in a child process, once it answers: (process, url)."""
    folder = Path(tempfile.mkdtemp(prefix="fireside-bench-"))
    (folder / "fireside.yaml").write_text(config_text.replace("FOLDER", str(folder)))
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stage.tools.cli",
            "--config",
            str(folder / "fireside.yaml"),
            "serve",
            "--port",
            str(port),
            *serve_args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # warming its models takes a while, longer on a busy machine; a server that dies fails at once
    answering(server, f"{url}/status", 600, "the server did not start")
    return server, url


def answering(process: subprocess.Popen, url: str, seconds: float, failure: str) -> None:
    """Until ``url`` answers; if it does not within ``seconds`` (or ``process`` ends), ``failure``."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError(failure) from None
            time.sleep(0.3)
