"""Piper neural voices, with phoneme timings aligned to the samples."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from stage.events import AudioChunk, Speech
from voices.speech import speakable_pieces, spans_from_timings


class PiperEngine:
    """One loaded Piper voice (``.onnx`` plus its ``.onnx.json``)."""

    def __init__(self, model: Path, config: Path | None = None, speaking_rate: float = 1.0):
        from piper import PiperVoice, SynthesisConfig

        config = config or Path(f"{model}.json")
        # include_alignments patches the model in memory so that each chunk
        # carries the number of samples spoken for each phoneme.
        self._voice = PiperVoice.load(model, config_path=config, include_alignments=True)
        self._syn_config = SynthesisConfig(length_scale=1.0 / speaking_rate)
        self.sample_rate: int = self._voice.config.sample_rate

    def synthesize(self, text: str) -> Iterator[Speech]:
        for piece in speakable_pieces(text):
            for chunk in self._voice.synthesize(piece, self._syn_config, include_alignments=True):
                sr = chunk.sample_rate
                if chunk.phoneme_alignments:
                    timings = [(a.phoneme, int(a.num_samples) / sr) for a in chunk.phoneme_alignments]
                else:  # a voice whose model could not be patched: spread evenly
                    share = len(chunk.audio_int16_array) / sr / max(1, len(chunk.phonemes))
                    timings = [(p, share) for p in chunk.phonemes]
                yield Speech(piece, AudioChunk(chunk.audio_int16_array, sr), spans_from_timings(timings))
