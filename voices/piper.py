"""Piper neural voices, with phoneme timings aligned to the samples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import numpy as np
import onnxruntime

from stage.core.events import AudioChunk, Speech
from voices.speech import spans_from_timings, speakable_pieces


class PiperEngine:
    """One loaded Piper voice (``.onnx`` plus its ``.onnx.json``)."""

    opening_words = None  # fast enough to start with a whole sentence

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
        # time (a rehearsal's timings hold on the day); the voice keeps its
        # texture, from noise drawn once (see _fixed_noise)
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


def _with_alignments(model: Path) -> bytes:
    """The voice's model, patched in memory: each chunk carries the number
    of samples spoken for each phoneme (when it can be patched), and its
    noise is drawn once (``_fixed_noise``)."""
    import onnx
    from piper.patch_voice_with_alignment import add_alignment_output

    graph = onnx.load(str(model))
    try:
        add_alignment_output(graph)
    except ValueError:  # already patched, or no tensor to patch: as it is
        pass
    _fixed_noise(graph)
    return graph.SerializeToString()


NOISE_SHAPE = (1, 256, 8192)  # channels and frames (95 s at 22,050 Hz) a voice's noise may need
# of seeds 0, 3, 4, 6, 7 and 11, the one whose speech Whisper tiny.en heard
# best (60 sentences from the knowledge files: 2.4% word errors; the others 4.8-9.5%)
NOISE_SEED = 6


def _fixed_noise(graph) -> None:
    """The same words, the same speech: a VITS voice draws Gaussian noise
    for each sentence (``RandomNormalLike``), so the same text sounds a
    little different, and is heard a little differently by a recognizer,
    each time. Each such node becomes a slice, of its input's shape, of
    noise drawn once with a fixed seed."""
    from onnx import helper, numpy_helper

    noise = np.random.default_rng(NOISE_SEED).standard_normal(NOISE_SHAPE).astype(np.float32)
    graph.graph.initializer.append(numpy_helper.from_array(noise, "fireside_noise"))
    graph.graph.initializer.append(numpy_helper.from_array(np.zeros(3, np.int64), "fireside_noise_start"))
    nodes = []
    for node in graph.graph.node:
        if node.op_type == "RandomNormalLike":
            shape = f"{node.name}_fireside_shape"
            nodes.append(helper.make_node("Shape", [node.input[0]], [shape]))
            node = helper.make_node("Slice", ["fireside_noise", "fireside_noise_start", shape], [node.output[0]])
        nodes.append(node)
    del graph.graph.node[:]
    graph.graph.node.extend(nodes)
