"""A WebRTC caller made with aiortc: it speaks recorded audio into a call
and records what comes back (audio, video, captions) with arrival times.
``fireside bench call`` and the tests call the server with it."""

from __future__ import annotations

import asyncio
import json
import time
from fractions import Fraction

import aiohttp
import numpy as np
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame

RATE = 48000
PACKET = 960


class ScriptedMicrophone(MediaStreamTrack):
    """Plays queued utterances in real time, silence between them; notes
    when each one ends (the moment the caller stops speaking)."""

    kind = "audio"

    def __init__(self):
        super().__init__()
        self._queue: list[np.ndarray] = []
        self._current: np.ndarray | None = None
        self._offset = 0
        self._sample = 0
        self._t0: float | None = None
        self.ended_at: list[float] = []  # wall time (perf_counter) of each utterance's last sample

    def say(self, pcm48: np.ndarray) -> None:
        """Queue speech: int16 mono samples at 48 kHz."""
        self._queue.append(pcm48.astype(np.int16))

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._t0 is None:
            self._t0 = time.perf_counter()
        wait = self._t0 + self._sample / RATE - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        out = np.zeros(PACKET, np.int16)
        if self._current is None and self._queue:
            self._current, self._offset = self._queue.pop(0), 0
        if self._current is not None:
            part = self._current[self._offset : self._offset + PACKET]
            out[: len(part)] = part
            self._offset += PACKET
            if self._offset >= len(self._current):
                self._current = None
                self.ended_at.append(time.perf_counter())
        frame = AudioFrame.from_ndarray(out.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = RATE, self._sample, Fraction(1, RATE)
        self._sample += PACKET
        return frame


async def _arrivals(track):
    """A received track's frames, with their arrival times, until it ends."""
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        yield time.perf_counter(), frame


class CallClient:
    def __init__(
        self, base_url: str, persona: str, video: bool = True, keep_frames: bool = False, captions: str | None = None
    ):
        self.base_url, self.persona, self.video, self.keep_frames = base_url, persona, video, keep_frames
        self.language = captions  # the captions' second language, if any
        self.microphone = ScriptedMicrophone()
        self.pc = RTCPeerConnection()
        self.session: str | None = None
        self.messages: list[tuple[float, dict]] = []
        self.audio: list[tuple[float, float, float]] = []  # (arrival, pts seconds, rms)
        self.frames: list[tuple[float, float, np.ndarray | None]] = []  # (arrival, pts seconds, rgb)
        self._tasks: list[asyncio.Task] = []

    async def connect(self) -> None:
        channel = self.pc.createDataChannel("captions")

        @channel.on("message")
        def on_message(message: str) -> None:
            self.messages.append((time.perf_counter(), json.loads(message)))

        self.pc.addTrack(self.microphone)
        if self.video:
            self.pc.addTransceiver("video", direction="recvonly")

        @self.pc.on("track")
        def on_track(track) -> None:
            self._tasks.append(asyncio.ensure_future(self._receive(track)))

        await self.pc.setLocalDescription(await self.pc.createOffer())
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{self.base_url}/offer",
                json={
                    "sdp": self.pc.localDescription.sdp,
                    "type": "offer",
                    "persona": self.persona,
                    "captions": self.language,
                },
            ) as response:
                answer = await response.json()
                if response.status != 200:
                    raise RuntimeError(f"offer refused: {response.status} {answer}")
        self.session = answer["session"]
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type=answer["type"]))

    async def _receive(self, track) -> None:
        async for now, frame in _arrivals(track):
            pts = float(frame.pts * frame.time_base)
            if track.kind == "audio":
                samples = frame.to_ndarray().astype(np.float32).reshape(-1)
                self.audio.append((now, pts, float(np.sqrt(np.mean(samples**2)))))
            else:
                self.frames.append((now, pts, frame.to_ndarray(format="rgb24") if self.keep_frames else None))

    def first_sound_after(self, moment: float, level: float = 300.0) -> float | None:
        """Arrival time of the first loud audio packet after ``moment``."""
        return next((t for t, _, rms in self.audio if t > moment and rms > level), None)

    def captions(self, speaker: str | None = None) -> list[dict]:
        return [
            m
            for _, m in self.messages
            if m.get("type") == "caption" and (speaker is None or (m["speaker"] == "person") == (speaker == "person"))
        ]

    async def close(self) -> None:
        await self.pc.close()
        for task in self._tasks:
            task.cancel()


class StageViewer:
    """A viewer of the panel's stage (``/stage/offer``): a video per
    panelist, their voices mixed, and the captions, with arrival times."""

    def __init__(self, base_url: str, panelists: int):
        self.base_url, self.panelists = base_url, panelists
        self.pc = RTCPeerConnection()
        self.messages: list[tuple[float, dict]] = []
        self.audio: list[tuple[float, float, float]] = []  # (arrival, pts seconds, rms)
        self.frames: dict[int, list[tuple[float, np.ndarray]]] = {}  # seat -> (arrival, rgb), a few a second
        self._tasks: list[asyncio.Task] = []

    async def connect(self) -> None:
        channel = self.pc.createDataChannel("captions")
        channel.on("message", lambda message: self.messages.append((time.perf_counter(), json.loads(message))))
        transceivers = [self.pc.addTransceiver("video", direction="recvonly") for _ in range(self.panelists)]
        self.pc.addTransceiver("audio", direction="recvonly")

        @self.pc.on("track")
        def on_track(track) -> None:
            seat = next((i for i, t in enumerate(transceivers) if t.receiver.track is track), None)
            self._tasks.append(asyncio.ensure_future(self._receive(track, seat)))

        await self.pc.setLocalDescription(await self.pc.createOffer())
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{self.base_url}/stage/offer", json={"sdp": self.pc.localDescription.sdp, "type": "offer"}
            ) as response:
                answer = await response.json()
                if response.status != 200:
                    raise RuntimeError(f"offer refused: {response.status} {answer}")
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type=answer["type"]))

    async def _receive(self, track, seat: int | None) -> None:
        count = 0
        async for now, frame in _arrivals(track):
            if track.kind == "audio":
                samples = frame.to_ndarray().astype(np.float32).reshape(-1)
                self.audio.append((now, float(frame.pts * frame.time_base), float(np.sqrt(np.mean(samples**2)))))
            else:
                count += 1
                if count % 5 == 0:  # five frames a second are enough to look at
                    self.frames.setdefault(seat, []).append((now, frame.to_ndarray(format="rgb24")))

    def first_sound_after(self, moment: float, level: float = 300.0) -> float | None:
        return next((t for t, _, rms in self.audio if t > moment and rms > level), None)

    def last_sound(self, level: float = 300.0) -> float | None:
        return next((t for t, _, rms in reversed(self.audio) if rms > level), None)

    def captions(self) -> list[dict]:
        return [m for _, m in self.messages if m.get("type") == "caption"]

    async def close(self) -> None:
        await self.pc.close()
        for task in self._tasks:
            task.cancel()
