"""Writing frames and audio to an MP4 (H.264 video, AAC audio) with PyAV."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from stage.core.events import AudioChunk, Frame


class Mp4Writer:
    """Frames and audio in, in time order; timestamps come from the events."""

    AUDIO_RATE = 48000  # AAC pads its last 1024-sample frame: at 48 kHz that is at most 21 ms

    def __init__(self, path: Path, size: int | tuple[int, int], fps: int, sample_rate: int, preset: str = "veryfast"):
        """``size``: a square's side, or (width, height)."""
        self.path = Path(path)
        # the index first (faststart): a phone plays the file while it downloads
        self.container = av.open(str(self.path), mode="w", format="mp4", options={"movflags": "+faststart"})
        self.video = self.container.add_stream("libx264", rate=fps)
        self.video.width, self.video.height = (size, size) if isinstance(size, int) else size
        self.video.pix_fmt = "yuv420p"
        self.video.options = {"preset": preset, "crf": "20"}
        self.video.codec_context.time_base = Fraction(1, fps)
        self.audio = self.container.add_stream("aac", rate=self.AUDIO_RATE, layout="mono")
        self.audio.codec_context.time_base = Fraction(1, self.AUDIO_RATE)
        self.resampler = av.AudioResampler(format="fltp", layout="mono", rate=self.AUDIO_RATE)
        self.fps = fps
        self.sample_rate = sample_rate
        self.samples_written = 0

    def write_frame(self, frame: Frame) -> None:
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame.rgb), format="rgb24")
        vf.pts = round(frame.pts * self.fps)
        vf.time_base = Fraction(1, self.fps)
        self.container.mux(self.video.encode(vf))

    def write_audio(self, chunk: AudioChunk) -> None:
        if chunk.sample_rate != self.sample_rate:
            raise ValueError(f"audio at {chunk.sample_rate} Hz in a {self.sample_rate} Hz recording")
        start = round(chunk.pts * self.sample_rate)
        if start > self.samples_written:  # a gap on the clock is silence
            self._write_pcm(np.zeros(start - self.samples_written, np.int16))
        self._write_pcm(chunk.pcm)

    def pad_audio_to(self, seconds: float) -> None:
        missing = round(seconds * self.sample_rate) - self.samples_written
        if missing > 0:
            self._write_pcm(np.zeros(missing, np.int16))

    def _write_pcm(self, pcm: np.ndarray) -> None:
        af = av.AudioFrame.from_ndarray(pcm.astype(np.int16).reshape(1, -1), format="s16", layout="mono")
        af.sample_rate = self.sample_rate
        af.pts = self.samples_written
        af.time_base = Fraction(1, self.sample_rate)
        self.samples_written += len(pcm)
        for out in self.resampler.resample(af):
            self.container.mux(self.audio.encode(out))

    def close(self) -> None:
        for out in self.resampler.resample(None):
            self.container.mux(self.audio.encode(out))
        self.container.mux(self.video.encode(None))
        self.container.mux(self.audio.encode(None))
        self.container.close()

    def __enter__(self) -> "Mp4Writer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
