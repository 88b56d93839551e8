"""Voice activity with Silero VAD: its ONNX file (from the ``silero-vad``
package) run by onnxruntime, 32 ms at a time, with no torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stage.core.paths import package_dir

FRAME = 512  # samples at 16 kHz: 32 ms
CONTEXT = 64


def silero_onnx() -> Path:
    return package_dir("silero_vad", "pip install --no-deps silero-vad==6.2.3") / "data" / "silero_vad.onnx"


class SileroVad:
    """Speech probability of each 32 ms frame of 16 kHz mono audio."""

    _session = None  # one ONNX session per process, shared by every listener

    def __init__(self):
        if SileroVad._session is None:
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.inter_op_num_threads = options.intra_op_num_threads = 1
            SileroVad._session = onnxruntime.InferenceSession(
                str(silero_onnx()), sess_options=options, providers=["CPUExecutionProvider"]
            )
        self.reset()

    def reset(self) -> None:
        self._state = np.zeros((2, 1, 128), np.float32)
        self._context = np.zeros((1, CONTEXT), np.float32)

    def __call__(self, frame: np.ndarray) -> float:
        x = np.concatenate([self._context, frame.reshape(1, FRAME).astype(np.float32)], axis=1)
        prob, self._state = self._session.run(None, {"input": x, "state": self._state, "sr": np.array(16000, np.int64)})
        self._context = x[:, -CONTEXT:]
        return float(prob.reshape(-1)[0])
