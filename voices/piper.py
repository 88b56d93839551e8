"""Piper neural voices, with phoneme timings aligned to the samples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import onnxruntime

from stage.core.events import AudioChunk, Speech
from voices.speech import spans_from_timings, speakable_pieces


class PiperEngine:
    """One loaded Piper voice (``.onnx`` plus its ``.onnx.json``)."""

    def __init__(self, model: Path, config: Path | None = None, speaking_rate: float = 1.0):
        from piper import PiperConfig, PiperVoice, SynthesisConfig

        config = config or Path(f"{model}.json")
        # as PiperVoice.load does, with threads that sleep rather than spin
        # while they wait: the cores are shared with a live call's listening,
        # thinking and video, and a spinning thread there costs more than it saves
        options = onnxruntime.SessionOptions()
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = onnxruntime.InferenceSession(
            _with_alignments(model), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._voice = PiperVoice(session=session, config=PiperConfig.from_dict(json.loads(config.read_text("utf-8"))))
        # no noise in the phonemes' lengths: the same words always take the same
        # time (a rehearsal's timings hold on the day); the voice keeps its texture
        self._syn_config = SynthesisConfig(length_scale=1.0 / speaking_rate, noise_w_scale=0.0)
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


def _with_alignments(model: Path) -> bytes | str:
    """The voice's model, patched in memory (when it can be) so that each
    chunk carries the number of samples spoken for each phoneme."""
    import onnx
    from piper.patch_voice_with_alignment import add_alignment_output

    graph = onnx.load(str(model))
    try:
        add_alignment_output(graph)
    except ValueError:  # already patched, or no tensor to patch: as it is
        return str(model)
    return graph.SerializeToString()
