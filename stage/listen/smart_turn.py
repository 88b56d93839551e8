"""Whether a person has finished their turn, from how it sounds: Smart Turn
v3.2, Daily's open end-of-turn model (BSD-2-Clause).

Its ONNX file ships inside the ``pipecat-ai`` package, installed without
its dependencies and never imported: the file is run here with onnxruntime,
on Whisper log-mel features of the turn's last 8 s of 16 kHz audio (zero
padded in front), made by faster-whisper's feature extractor, as pipecat's
own ``LocalSmartTurnAnalyzerV3`` makes them (waveform normalised to zero
mean and unit variance, 80 mels, 10 ms hops, the last frame dropped).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from stage.core.audio import RATE
from stage.core.paths import package_dir

WINDOW = 8 * RATE  # the model hears the turn's last 8 s
MODEL = "smart-turn-v3.2-cpu.onnx"


def smart_turn_onnx() -> Path:
    folder = package_dir("pipecat", "pip install --no-deps pipecat-ai==1.14.0")
    return folder / "audio" / "turn" / "smart_turn" / "data" / MODEL


class SmartTurn:
    """The probability that a turn is complete, given its audio so far
    (16 kHz mono float32, the pause after it included)."""

    _session = None  # one ONNX session per process, shared by every listener
    _features = None
    _loading = threading.Lock()

    def __init__(self):
        with SmartTurn._loading:
            if SmartTurn._session is None:
                import onnxruntime
                from faster_whisper.feature_extractor import FeatureExtractor

                options = onnxruntime.SessionOptions()
                options.inter_op_num_threads = options.intra_op_num_threads = 1
                options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
                SmartTurn._session = onnxruntime.InferenceSession(
                    str(smart_turn_onnx()), sess_options=options, providers=["CPUExecutionProvider"]
                )
                SmartTurn._features = FeatureExtractor(feature_size=80, sampling_rate=RATE, chunk_length=8)
        self.compute: list[float] = []  # seconds taken by each call

    def __call__(self, audio: np.ndarray) -> float:
        started = time.perf_counter()
        x = np.asarray(audio, np.float32)[-WINDOW:]
        x = np.pad(x, (WINDOW - len(x), 0))
        x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
        mel = SmartTurn._features(x, padding=0)[:, :800]
        (probability,) = SmartTurn._session.run(None, {"input_features": mel[None].astype(np.float32)})
        self.compute.append(time.perf_counter() - started)
        return float(np.asarray(probability).reshape(-1)[0])
