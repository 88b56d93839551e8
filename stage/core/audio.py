"""Input audio of any sample rate, channel count and sample format becomes
clean 16 kHz mono float32, the rate voice activity and Whisper work at."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

RATE = 16000


def sanitize(samples: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1]: integers scaled, NaN and infinities zeroed, clipped."""
    x = np.asarray(samples)
    if np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float32) / float(np.iinfo(x.dtype).max)
    x = np.nan_to_num(x.astype(np.float32, copy=False), nan=0.0, posinf=1.0, neginf=-1.0)
    return np.clip(x, -1.0, 1.0)


class Resampler:
    """Streams of (samples, channels) at any rate to mono at ``target`` Hz
    (16 kHz unless told), keeping the resampler's state between chunks
    (swresample, through PyAV)."""

    def __init__(self, sample_rate: int, channels: int = 1, target: int = RATE):
        if sample_rate <= 0 or channels <= 0:
            raise ValueError(f"bad audio format: {sample_rate} Hz, {channels} channels")
        self.sample_rate, self.channels, self.target = sample_rate, channels, target
        self._resampler = av.AudioResampler(format="flt", layout="mono", rate=target)
        self._pts = 0

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """``samples``: (n,) mono or (n, channels) interleaved frames."""
        x = sanitize(samples)
        if x.ndim == 1:
            x = x.reshape(-1, self.channels) if self.channels > 1 else x[:, None]
        if x.shape[1] != self.channels:
            raise ValueError(f"expected {self.channels} channels, got {x.shape[1]}")
        if self.sample_rate == self.target and self.channels == 1:
            return x[:, 0].copy()
        layout = "mono" if self.channels == 1 else "stereo" if self.channels == 2 else f"{self.channels}c"
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x.reshape(1, -1)), format="flt", layout=layout)
        frame.sample_rate = self.sample_rate
        frame.pts, frame.time_base = self._pts, Fraction(1, self.sample_rate)
        self._pts += x.shape[0]
        return self._collect(self._resampler.resample(frame))

    def flush(self) -> np.ndarray:
        if self.sample_rate == self.target and self.channels == 1:
            return np.zeros(0, np.float32)
        return self._collect(self._resampler.resample(None))

    @staticmethod
    def _collect(frames) -> np.ndarray:
        parts = [f.to_ndarray().reshape(-1) for f in frames]
        return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)


def to_16k_mono(samples: np.ndarray, sample_rate: int, channels: int = 1) -> np.ndarray:
    resampler = Resampler(sample_rate, channels)
    return np.concatenate([resampler(samples), resampler.flush()])


def read_wav(path) -> np.ndarray:
    """Any audio file PyAV can decode, as 16 kHz mono float32."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise ValueError(f"{path}: no audio in it")
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        parts = []
        for frame in container.decode(audio=0):
            parts += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
        parts += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return sanitize(np.concatenate(parts)) if parts else np.zeros(0, np.float32)
